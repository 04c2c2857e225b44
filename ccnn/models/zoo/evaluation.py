r"""Network metrics of trained zoo models: density, wiring cost, modularity, small-worldness and
task specialisation.

The zoo compares how much structure a wiring cost carves into a trained network (issue 18).
The metrics here read the network's **effective** weights (mask, Dale sign and scale applied;
``model.weight_matrices()``), in the ccnn orientation: ``W[i, j]`` is the connection from unit
j (presynaptic, input) to unit i (postsynaptic, output), as in :attr:`torch.nn.Linear.weight`.

* :func:`weight_density` -- the fraction of possible connections whose :math:`|w|` exceeds
  ``threshold`` times the layer's largest :math:`|w|`.
* :func:`wiring_cost` -- :math:`\sum |w|\, d`, the total wiring length weighted by strength
  (the cost of spatially embedded networks: Achterberg, Akarca, Strouse, Duncan & Astle 2023,
  "Spatially embedded recurrent neural networks reveal widespread links between structural
  and functional neuroscience findings", Nature Machine Intelligence; Liu, Gan & Tegmark 2023,
  "Seeing is believing: brain-inspired modular training for mechanistic interpretability").
* :func:`layered_adjacency` -- one graph of all units of a feed-forward chain (or of a
  recurrent matrix), the input of the two graph metrics below.
* :func:`modularity_q` -- Newman's :math:`Q` of the Louvain partition
  (:func:`ccnn.graph.louvain`, :func:`ccnn.graph.modularity`).
* :func:`small_worldness` -- Humphries & Gurney's :math:`\sigma` against degree-preserving
  nulls (:func:`ccnn.graph.small_world_sigma`).
* :func:`task_specialisation` -- for models with one head per task, the fraction of hidden
  units whose single-unit ablation hurts exactly one task.

Every function detaches its inputs, accepts them on any device and returns Python floats
(the specialisation's per-unit tensors come back on the CPU). Bad input raises one
``ValueError`` (``TypeError`` for a wrong type) whose message starts with the argument name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_int, check_nonnegative, check_real, describe
from ccnn.graph._adjacency import check_adjacency, working_dtype
from ccnn.graph.communities import louvain, modularity
from ccnn.graph.paths import shortest_paths
from ccnn.graph.small_world import DEFAULT_NULLS, small_world_sigma

__all__ = [
    "DEFAULT_DROP",
    "DEFAULT_THRESHOLD",
    "SpecialisationResult",
    "layered_adjacency",
    "modularity_q",
    "small_worldness",
    "task_specialisation",
    "weight_density",
    "wiring_cost",
]

#: Default relative threshold: a connection is present when :math:`|w| > 10^{-2} \max |w|`.
DEFAULT_THRESHOLD = 1e-2
#: Default accuracy drop (a fraction: 0.05 is 5 points) above which an ablation hurts a task.
DEFAULT_DROP = 0.05


# ----------------------------------------------------------------------------- input checks


def _check_threshold(threshold: Any) -> float:
    """``threshold`` as a float in [0, 1), else one ValueError naming it."""
    value = check_real(threshold, "threshold", positive=False)
    if value >= 1:
        raise ValueError(f"threshold: expected a value in [0, 1), got {describe(threshold)}")
    return value


def _matrix(value: Any, name: str) -> Tensor:
    """``value`` as a detached, finite, non-empty real 2-D tensor."""
    if value is None:
        raise ValueError(f"{name}: expected a 2-D tensor, got None")
    matrix = as_tensor(value, name)
    if matrix.is_complex() or matrix.dtype == torch.bool:
        raise TypeError(f"{name}: expected a real (float or int) tensor, got {describe(value)}")
    if matrix.dim() != 2 or matrix.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D tensor (rows × columns), got {describe(value)}")
    check_finite(matrix, name)
    return matrix.detach()


def _matrices(values: Any, name: str) -> list[Tensor]:
    """A tensor or a non-empty list / tuple of tensors as a list of checked 2-D tensors."""
    if isinstance(values, Tensor):
        return [_matrix(values, name)]
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) == 0:
        raise TypeError(
            f"{name}: expected a 2-D tensor or a non-empty list of 2-D tensors, got {describe(values)}"
        )
    return [_matrix(v, f"{name}[{k}]") for k, v in enumerate(values)]


def _float_dtype(tensors: Sequence[Tensor]) -> torch.dtype:
    """float64 when any input is float64, else the default dtype."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.get_default_dtype()


# ------------------------------------------------------------------------ weights and wiring


def weight_density(weights: Tensor | Sequence[Tensor], threshold: float = DEFAULT_THRESHOLD) -> float:
    r"""Fraction of all possible connections that are present, over all layers.

    A connection of layer :math:`\ell` (weight matrix :math:`W^{(\ell)}`, shape
    :math:`h_\ell \times n_\ell`) is present when :math:`|w| > \theta \max |W^{(\ell)}|`
    (:math:`\theta` = ``threshold``, relative to **that layer's** largest magnitude, so a
    layer of small weights is not pruned away by a layer of large ones). The density is the
    number of present connections of all layers over the number of possible ones (every
    entry of every matrix, diagonal included):

    .. math::
        \rho = \frac{\sum_\ell \#\{(i, j) : |W^{(\ell)}_{ij}| > \theta \max |W^{(\ell)}|\}}
                    {\sum_\ell h_\ell\, n_\ell},

    i.e. the mean of the per-layer densities weighted by layer size. A layer whose weights
    are all 0 counts as fully absent. ``threshold=0`` counts the non-zero weights (the density
    of a hard mask).

    Args:
        weights: one 2-D tensor or a list of them (any shapes, any devices).
        threshold: :math:`\theta \in [0, 1)`, default :data:`DEFAULT_THRESHOLD` (``1e-2``).

    Example:
        >>> weight_density(torch.tensor([[1.0, 0.0], [0.5, 0.001]]))
        0.5
        >>> weight_density([torch.ones(2, 3), torch.zeros(1, 2)])  # 6 of 8
        0.75
    """
    layers = _matrices(weights, "weights")
    theta = _check_threshold(threshold)
    present = 0
    possible = 0
    for w in layers:
        magnitude = w.abs()
        present += int((magnitude > theta * magnitude.max()).sum())
        possible += w.numel()
    return present / possible


def wiring_cost(
    weights: Tensor | Sequence[Tensor], distances: Tensor | Sequence[Tensor | None] | None
) -> float:
    r"""Total wiring cost :math:`\sum_\ell \sum_{ij} |W^{(\ell)}_{ij}|\, D^{(\ell)}_{ij}`.

    :math:`D^{(\ell)}_{ij}` is the distance between the units that connection :math:`(i, j)`
    of layer :math:`\ell` joins (postsynaptic unit i, presynaptic unit j), the cost of
    spatially embedded networks (Achterberg et al. 2023; Liu, Gan & Tegmark 2023). The cost
    is in (weight × distance) units: compare models whose positions live in the same space.

    Args:
        weights: one 2-D tensor or a list of them.
        distances: a matching tensor or list (same length, each the shape of its weight,
            non-negative, finite). A layer without positions has no distances (``None`` in
            ``model.weight_matrices()``): its entry raises a ``ValueError`` naming it, since a
            cost that silently leaves layers out would not compare across models.

    Example:
        >>> wiring_cost(torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 0.5]]))
        4.0
    """
    layers = _matrices(weights, "weights")
    if distances is None:
        raise ValueError("distances: expected a tensor or a list of tensors of distances, got None")
    if isinstance(distances, Tensor):
        distances = [distances]
    if not isinstance(distances, Sequence) or isinstance(distances, str):
        raise TypeError(f"distances: expected a tensor or a list of tensors, got {describe(distances)}")
    if len(distances) != len(layers):
        raise ValueError(
            f"distances: expected one distance matrix per weight matrix ({len(layers)}), got {len(distances)}"
        )
    total = 0.0
    for k, (w, d) in enumerate(zip(layers, distances, strict=True)):
        name = f"distances[{k}]"
        if d is None:
            raise ValueError(
                f"{name}: expected a {tuple(w.shape)} tensor of distances, got None "
                f"(layer {k} has no unit positions, so its wiring cost is undefined)"
            )
        dist = _matrix(d, name)
        if dist.shape != w.shape:
            raise ValueError(
                f"{name}: expected the shape of weights[{k}], {tuple(w.shape)}, got {tuple(dist.shape)}"
            )
        check_nonnegative(dist, name)
        dtype = _float_dtype([w, dist])
        total += float((w.to(dtype).abs() * dist.to(w.device, dtype)).sum())
    return total


# --------------------------------------------------------------------------------- graphs


def layered_adjacency(
    weights: Tensor | Sequence[Tensor], heads: Tensor | Sequence[Tensor] | None = None
) -> Tensor:
    r"""One adjacency :math:`A` ``(N, N)`` over all units of a network, :math:`A_{ij}` the
    magnitude of the connection from unit j to unit i (0 where there is none).

    **Feed-forward chain** (a list, ``[W_1, W_2, ..., W_L]``, :math:`W_\ell` of shape
    :math:`h_\ell \times h_{\ell-1}` with :math:`h_0 = n_{in}`): the units are the inputs
    first, then each layer in order, then each head's units, and

    .. math::
        A = \begin{pmatrix}
            0 & & & \\
            |W_1| & 0 & & \\
            & |W_2| & 0 & \\
            & & \ddots & \ddots
        \end{pmatrix},

    block :math:`(\ell, \ell - 1)` holding :math:`|W_\ell|`; :math:`N = n_{in} + \sum_\ell
    h_\ell + \sum_k c_k`. ``heads``: readout matrices :math:`c_k \times h_L` that all read the
    last layer (a two-task model has two heads), appended in order; ``heads=None`` adds none
    (then the last matrix of ``weights`` may itself be the readout).

    **Recurrent matrix** (a single square **tensor**, not a list, e.g. an RNN's
    :math:`W_{rec}`, ``N × N``): :math:`A = |W_{rec}|` with a zero diagonal (self-connections
    are no edges of the graph); heads, if given, read these N units and are appended after
    them. Pass ``[W]`` to read a square matrix as one feed-forward layer instead.

    Returns:
        ``(N, N)`` on the device of the first weight, float64 if any input is float64 else the
        default dtype, detached. Layers keep their own scales: a relative threshold applied
        later (:func:`modularity_q`, :func:`small_worldness`) is relative to the whole
        matrix's largest entry.

    Example:
        >>> layered_adjacency([torch.tensor([[1.0, -2.0]])], heads=[torch.tensor([[3.0]])])
        tensor([[0., 0., 0., 0.],
                [0., 0., 0., 0.],
                [1., 2., 0., 0.],
                [0., 0., 3., 0.]])
    """
    recurrent = isinstance(weights, Tensor) and weights.dim() == 2 and weights.shape[0] == weights.shape[1]
    layers = _matrices(weights, "weights")
    readouts = [] if heads is None else _matrices(heads, "heads")
    for k in range(1, len(layers)):
        if layers[k].shape[1] != layers[k - 1].shape[0]:
            raise ValueError(
                f"weights[{k}]: expected {layers[k - 1].shape[0]} columns (the units of weights[{k - 1}], "
                f"shape {tuple(layers[k - 1].shape)}), got shape {tuple(layers[k].shape)}"
            )
    last = layers[-1].shape[0]
    for k, head in enumerate(readouts):
        if head.shape[1] != last:
            raise ValueError(
                f"heads[{k}]: expected {last} columns (the units of the last layer), "
                f"got shape {tuple(head.shape)}"
            )
    device = layers[0].device
    dtype = _float_dtype(layers + readouts)
    sizes = ([] if recurrent else [layers[0].shape[1]]) + [w.shape[0] for w in layers]
    sizes += [h.shape[0] for h in readouts]
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    adj = torch.zeros(starts[-1], starts[-1], dtype=dtype, device=device)
    if recurrent:
        n = layers[0].shape[0]
        adj[:n, :n] = layers[0].to(device, dtype).abs().fill_diagonal_(0)
        last_block = 0
    else:
        for k, w in enumerate(layers):  # block k + 1 receives from block k
            adj[starts[k + 1] : starts[k + 2], starts[k] : starts[k + 1]] = w.to(device, dtype).abs()
        last_block = len(layers)
    for k, head in enumerate(readouts):
        block = last_block + 1 + k
        adj[starts[block] : starts[block + 1], starts[last_block] : starts[last_block + 1]] = head.to(
            device, dtype
        ).abs()
    return adj


def _pruned(adjacency: Any, threshold: Any) -> Tensor:
    """``|A|`` of one graph, zero diagonal, entries not above ``threshold · max`` set to 0."""
    adj = check_adjacency(adjacency)
    if adj.dim() != 2:
        raise ValueError(f"adjacency: expected one graph, shape (N, N), got shape {tuple(adj.shape)}")
    theta = _check_threshold(threshold)
    n = adj.shape[0]
    adj = adj.detach().to(working_dtype(adj)).abs()
    adj = adj.masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    return torch.where(adj > theta * adj.max(), adj, torch.zeros_like(adj))


def modularity_q(
    adjacency: Any,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    *,
    return_partition: bool = False,
) -> float | tuple[float, Tensor]:
    r"""Newman's modularity :math:`Q` of the Louvain partition of a network's units.

    1. :math:`|A|`, diagonal removed, entries :math:`\le \theta \max |A|` set to 0
       (:math:`\theta` = ``threshold``, relative to the largest entry of the whole matrix).
    2. Symmetrised, :math:`S = (|A| + |A|^\top) / 2` (weights kept: weighted modularity).
    3. Units without any remaining connection are dropped: a pruned unit would be a
       singleton community adding nothing to :math:`Q` (its rows and columns are zero), and
       it should not count as a module.
    4. Communities by Louvain (Blondel et al. 2008, :func:`ccnn.graph.louvain`, seeded) and
       (Newman 2006, :func:`ccnn.graph.modularity`)

       .. math::
           Q = \frac{1}{2m} \sum_{ij} \Big[S_{ij} - \frac{k_i k_j}{2m}\Big] \delta(c_i, c_j),
           \qquad k_i = \sum_j S_{ij},\ 2m = \sum_{ij} S_{ij}.

    :math:`Q` is at most :math:`1 - 1/K` for K communities (0.5 for two equal disconnected
    cliques); a network that is one module has :math:`Q = 0`.

    Args:
        adjacency: ``(N, N)`` (e.g. :func:`layered_adjacency`); signs are dropped.
        threshold: :math:`\theta \in [0, 1)`, default ``1e-2``; ``0`` keeps every non-zero.
        seed: Louvain's seed (the same weights give the same partition).
        return_partition: also return the labels, ``(N,)`` int64 on the input's device:
            communities 0..K-1 of the kept units, -1 for dropped (isolated) units.

    Returns:
        :math:`Q` as a float, NaN when no connection survives the pruning; with
        ``return_partition``, ``(Q, labels)``.

    Example:
        >>> two_cliques = torch.block_diag(torch.ones(4, 4), torch.ones(4, 4))
        >>> modularity_q(two_cliques)
        0.5
    """
    adj = _pruned(adjacency, threshold)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {describe(seed)}")
    if not isinstance(return_partition, bool):
        raise TypeError(f"return_partition: expected True or False, got {describe(return_partition)}")
    sym = (adj + adj.T) / 2
    kept = (sym != 0).any(1)
    labels = torch.full((sym.shape[0],), -1, dtype=torch.long, device=sym.device)
    if not bool(kept.any()):
        q = float("nan")
    else:
        sub = sym[kept][:, kept]
        communities = louvain(sub, seed=seed)
        q = float(modularity(sub, communities))
        labels[kept] = communities
    return (q, labels) if return_partition else q


def small_worldness(
    adjacency: Any, threshold: float = DEFAULT_THRESHOLD, n_nulls: int = DEFAULT_NULLS, seed: int = 0
) -> float:
    r"""Small-worldness :math:`\sigma` (Humphries & Gurney 2008) of a network's binary graph.

    .. math::
        \sigma = \frac{C / C_{null}}{L / L_{null}},

    with :math:`C` the mean clustering coefficient and :math:`L` the characteristic path
    length (hops) of the graph, :math:`C_{null}, L_{null}` their means over ``n_nulls``
    degree-preserving nulls (Maslov–Sneppen swaps; :func:`ccnn.graph.small_world_sigma`,
    :func:`ccnn.graph.randomise_preserving_degree`). :math:`\sigma > 1`: more clustered than
    its nulls at a similar path length (a small world); :math:`\sigma \approx 1` for a random
    graph.

    The graph: :math:`|A| > \theta \max |A|` (``threshold`` :math:`\theta`, diagonal ignored),
    made undirected (an edge where either direction is present), its isolated units dropped,
    and reduced to its **largest connected component** (path lengths between components are
    undefined; as Humphries & Gurney, who measure the giant component).

    Returns:
        :math:`\sigma` as a float, or **NaN** (not an error) when it is undefined: the
        component has no triangle (:math:`C = 0`; every layered feed-forward graph of
        :func:`layered_adjacency`, whose edges only join consecutive layers, is such a graph:
        small-worldness is a measure of recurrent networks), fewer than 4 units, or nulls
        without a triangle (:math:`C_{null} = 0`). Cost: one Floyd–Warshall per null
        (:math:`O(N^3)`).

    Example:
        >>> small_worldness(layered_adjacency([torch.ones(3, 4), torch.ones(2, 3)]))  # no triangles
        nan
    """
    adj = _pruned(adjacency, threshold)
    k = check_int(n_nulls, "n_nulls", minimum=1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {describe(seed)}")
    binary = (adj != 0) | (adj != 0).T
    linked = binary.any(1)
    binary = binary[linked][:, linked]
    if binary.shape[0] < 4:
        return float("nan")
    graph = binary.to(adj.dtype)
    reachable = torch.isfinite(shortest_paths(graph, length="binary"))
    component = reachable[int(reachable.sum(1).argmax())]
    graph = graph[component][:, component]
    if graph.shape[0] < 4 or float(torch.trace(graph @ graph @ graph)) == 0:
        return float("nan")
    sigma = float(small_world_sigma(graph, n_nulls=k, seed=seed))
    return sigma if math.isfinite(sigma) else float("nan")


# ------------------------------------------------------------------------ specialisation


class SpecialisationResult(NamedTuple):
    """What :func:`task_specialisation` measured.

    Attributes:
        fraction: specialised units / ``n_units``.
        drops: ``(n_units, n_tasks)`` float64 (CPU), baseline accuracy minus the accuracy with
            that unit ablated, as a fraction (0.05 = 5 points; negative when ablation helps).
        baseline: ``(n_tasks,)`` float64 (CPU), the accuracies of the intact network.
        specialised_task: ``(n_units,)`` int64 (CPU), the index of the one task a unit's
            ablation hurts, -1 when it hurts none or several.
    """

    fraction: float
    drops: Tensor
    baseline: Tensor
    specialised_task: Tensor


def _as_logits(output: Any) -> tuple[Tensor, ...]:
    if isinstance(output, Tensor):
        output = (output,)
    if not isinstance(output, tuple | list) or not all(isinstance(o, Tensor) for o in output):
        raise TypeError(
            f"forward: expected it to return a logits tensor or a tuple of them, got {describe(output)}"
        )
    return tuple(output)


def task_specialisation(
    forward: Callable[[Tensor, Tensor], Any],
    x: Tensor,
    y: Tensor,
    n_units: int,
    drop: float = DEFAULT_DROP,
    batch_size: int | None = None,
) -> SpecialisationResult:
    r"""Fraction of hidden units whose ablation hurts exactly one task.

    Each hidden unit u is ablated alone (``unit_gain`` all ones but a 0 at u, which silences
    the unit's activity) and each task t's accuracy on ``(x, y)`` is compared with the intact
    network's:

    .. math::
        \Delta_{ut} = \mathrm{acc}_t(\mathbf 1) - \mathrm{acc}_t(\mathbf 1 - e_u),

    (single-unit lesions, the usual probe of functional specialisation; cf. Yang, Joglekar,
    Song, Newsome & Wang 2019, "Task representations in neural networks trained to perform
    many cognitive tasks", Nature Neuroscience, who lesion clusters of units). Task t is
    **hurt** by u when :math:`\Delta_{ut} > \delta` (``drop``); u is **specialised** when
    exactly one task is hurt (for two tasks: one drops by more than :math:`\delta`, the other
    by at most :math:`\delta`). With one task, every unit that hurts it counts. The result's
    ``fraction`` is the number of specialised units over ``n_units``.

    Accuracies are counted exactly (correct samples), and a drop of exactly :math:`\delta`
    does not hurt (the rounding of :math:`\delta \cdot B` in floating point is tolerated).

    Args:
        forward: ``forward(x, unit_gain)`` returning one logits tensor ``(B, C)`` (one task)
            or a tuple of them, one per task (``(B, C_t)``); ``unit_gain`` is ``(n_units,)``
            on ``x``'s device, in ``x``'s dtype if floating. Called under
            :func:`torch.no_grad`, ``n_units + 1`` times per batch; the caller sets the
            module's mode (``model.eval()``).
        x: inputs, ``(B, ...)`` (any trailing shape: ``(B, T, n)`` for sequences).
        y: integer labels, ``(B,)`` for one task or ``(B, n_tasks)``, column t for task t.
        n_units: the number of hidden units (``model.n_hidden_units``).
        drop: :math:`\delta \in (0, 1)`, default 0.05 (5 points).
        batch_size: samples per ``forward`` call; ``None``: all of ``x`` at once.

    Example:
        >>> def forward(x, gain):  # unit 0 carries task 0, unit 1 task 1, unit 2 nothing
        ...     h = x * gain
        ...     return torch.stack([h[:, 0], -h[:, 0]], 1), torch.stack([h[:, 1], -h[:, 1]], 1)
        >>> x = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, 1.0]])
        >>> result = task_specialisation(forward, x, torch.tensor([[0, 0], [1, 1]]), n_units=3)
        >>> result.fraction, result.specialised_task.tolist()
        (0.6666666666666666, [0, 1, -1])
    """
    if not callable(forward):
        raise TypeError(f"forward: expected a callable forward(x, unit_gain), got {describe(forward)}")
    if not isinstance(x, Tensor) or x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"x: expected a tensor of shape (B, ...) with B >= 1 samples, got {describe(x)}")
    labels = as_tensor(y, "y")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"y: expected integer labels, got {describe(y)}")
    n = x.shape[0]
    if labels.dim() not in (1, 2) or labels.shape[0] != n or labels.numel() == 0:
        raise ValueError(
            f"y: expected labels of shape ({n},) or ({n}, n_tasks), one row per sample of x, "
            f"got {describe(y)}"
        )
    labels = labels.reshape(n, -1).long()
    units = check_int(n_units, "n_units", minimum=1)
    delta = check_real(drop, "drop", positive=True)
    if delta >= 1:
        raise ValueError(f"drop: expected a value in (0, 1), got {describe(drop)}")
    step = n if batch_size is None else check_int(batch_size, "batch_size", minimum=1)

    gain_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    # gains[0]: the intact network; gains[1 + u]: unit u ablated
    gains = torch.cat([torch.ones(1, units), 1 - torch.eye(units)]).to(x.device, gain_dtype)
    n_tasks = labels.shape[1]
    correct = torch.zeros(units + 1, n_tasks, dtype=torch.long)
    with torch.no_grad():
        for start in range(0, n, step):
            xb = x[start : start + step]
            yb = labels[start : start + step].to(x.device)
            for g in range(units + 1):
                logits = _as_logits(forward(xb, gains[g]))
                if g == 0 and start == 0:
                    _check_logits(logits, labels, xb.shape[0])
                hits = [(out.argmax(-1) == yb[:, t]).sum() for t, out in enumerate(logits)]
                correct[g] += torch.stack(hits).cpu()
    lost = correct[0] - correct[1:]  # (n_units, n_tasks), in samples
    hurt = lost > delta * n * (1 + 1e-9)
    specialised = hurt.sum(1) == 1
    task = torch.where(specialised, hurt.long().argmax(1), torch.full((units,), -1, dtype=torch.long))
    return SpecialisationResult(
        fraction=int(specialised.sum()) / units,
        drops=lost.to(torch.float64) / n,
        baseline=correct[0].to(torch.float64) / n,
        specialised_task=task,
    )


def _check_logits(logits: tuple[Tensor, ...], labels: Tensor, batch: int) -> None:
    """One logits tensor ``(B, C_t)`` per label column, every label in ``[0, C_t)``."""
    if len(logits) != labels.shape[1]:
        raise ValueError(
            f"y: expected one label column per task output of forward ({len(logits)}), "
            f"got {labels.shape[1]} (shape {tuple(labels.shape)})"
        )
    for t, out in enumerate(logits):
        if out.dim() != 2 or out.shape[0] != batch:
            raise ValueError(
                f"forward: expected logits of shape ({batch}, C) for task {t}, got {describe(out)}"
            )
        column = labels[:, t]
        if int(column.min()) < 0 or int(column.max()) >= out.shape[1]:
            raise ValueError(
                f"y: expected labels of task {t} in [0, {out.shape[1]}) (its number of classes), "
                f"got values in [{int(column.min())}, {int(column.max())}]"
            )
