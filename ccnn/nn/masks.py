"""Connectivity masks for connectome-constrained layers.

Each function here returns a boolean adjacency matrix ``mask`` of shape ``(n_out, n_in)``
on the CPU. The convention is that of :attr:`torch.nn.Linear.weight`: row ``i`` is the
postsynaptic (output) unit and column ``j`` the presynaptic (input) unit, so
``mask[i, j]`` is ``True`` when unit ``j`` projects onto unit ``i``. A mask is meant to be
multiplied into a weight matrix, ``weight * mask``, so that absent synapses stay zero.

The generators cover the usual null models and priors of connectomics:

* :func:`erdos_renyi` -- a fixed number of connections placed uniformly at random;
* :func:`watts_strogatz` -- an undirected small-world graph;
* :func:`distance_dependent` -- connection probability decaying with distance;
* :func:`modular` -- a directed stochastic block model;
* :func:`expand_regions` -- a region-level connectome broadcast to units.

Every random function takes keyword-only ``generator=`` or ``seed=`` (not both). The same
seed always gives the same mask, and ``seed=s`` is equivalent to
``generator=torch.Generator().manual_seed(s)``. With neither, the draw is seeded from
torch's global RNG, so ``torch.manual_seed`` still makes a run reproducible.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import (
    as_tensor,
    check_finite,
    check_probability,
    check_shape,
    describe,
    resolve_generator,
)

__all__ = [
    "density",
    "distance_dependent",
    "erdos_renyi",
    "expand_regions",
    "grid_positions",
    "modular",
    "tile_positions",
    "watts_strogatz",
]

ArrayLike = Tensor | np.ndarray | Sequence[Any]


# ---------------------------------------------------------------------------------------
# Private checks
# ---------------------------------------------------------------------------------------


def _check_int(value: Any, name: str, *, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise."""
    # bool is an int subclass, but ``erdos_renyi(True, 3, ...)`` is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def _check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a ``float`` if it is finite and strictly positive, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {describe(value)}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite value > 0, got {value}")
    return float(value)


def _check_square(n_out: int, n_in: int, what: str) -> None:
    if n_out != n_in:
        raise ValueError(
            f"self_loops: {what} needs a square mask (n_out == n_in), got shape ({n_out}, {n_in})"
        )


def _check_regions(regions: Any, name: str, n_regions: int) -> Tensor:
    """Validate a 1-D vector of region indices in ``[0, n_regions)``; return it as int64."""
    idx = as_tensor(regions, name)
    if idx.numel() == 0:
        # ``np.asarray([])`` is float64; an empty index list is still a valid (empty) list.
        idx = idx.to(torch.int64)
    check_shape(idx, (None,), name, meaning="(one region index per unit)")
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"{name}: expected integer region indices, got {describe(regions)}")
    idx = idx.to(device="cpu", dtype=torch.int64)
    bad = (idx < 0) | (idx >= n_regions)
    if bool(bad.any()):
        pos = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name}: expected region indices in [0, {n_regions - 1}] (the connectome has "
            f"{n_regions} regions along this axis), got {int(idx[pos])} at position {pos} "
            f"({int(bad.sum())} out-of-range entries in total)"
        )
    return idx


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def density(mask: ArrayLike) -> float:
    r"""Fraction of nonzero entries of a mask.

    .. math::
        \rho = \frac{|\{(i, j) : M_{ij} \neq 0\}|}{n_\text{out} \, n_\text{in}}

    Parameters
    ----------
    mask : Tensor or array-like of any shape
        Boolean or numeric mask; must have at least one entry.

    Returns
    -------
    float
        The density :math:`\rho \in [0, 1]`.

    Examples
    --------
    >>> density(torch.tensor([[True, False], [False, False]]))
    0.25
    """
    tensor = as_tensor(mask, "mask")
    if tensor.numel() == 0:
        raise ValueError(f"mask: expected at least one entry, got shape {tuple(tensor.shape)}")
    return int(torch.count_nonzero(tensor)) / tensor.numel()


def erdos_renyi(
    n_out: int,
    n_in: int,
    density: float,
    *,
    self_loops: bool = True,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    r"""Random mask with a fixed number of connections (the :math:`G(n, M)` model).

    Exactly

    .. math::
        M = \max\bigl(1, \operatorname{round}(\rho \, N_\text{allowed})\bigr)

    connections are placed uniformly at random, without replacement, among the
    :math:`N_\text{allowed}` allowed positions: all :math:`n_\text{out} n_\text{in}`
    entries, or the :math:`n (n - 1)` off-diagonal ones when ``self_loops=False``. Every
    set of :math:`M` positions is equally likely. Unlike the :math:`G(n, p)` model, the
    realised density does not fluctuate from draw to draw.

    Parameters
    ----------
    n_out : int
        Number of output (postsynaptic) units, the number of rows; ``>= 1``.
    n_in : int
        Number of input (presynaptic) units, the number of columns; ``>= 1``.
    density : float
        Target fraction :math:`\rho` of allowed positions to connect, in ``(0, 1]``.
    self_loops : bool, default True
        If ``False`` the diagonal stays empty; requires ``n_out == n_in >= 2``.
    generator : torch.Generator, optional
        Source of randomness. Keyword-only; do not combine with ``seed``.
    seed : int, optional
        Seed for a fresh generator. Keyword-only; do not combine with ``generator``.

    Returns
    -------
    Tensor
        Boolean mask of shape ``(n_out, n_in)`` with exactly :math:`M` ``True`` entries.

    Examples
    --------
    >>> mask = erdos_renyi(4, 6, 0.5, seed=0)
    >>> mask.shape, mask.dtype, int(mask.sum())
    (torch.Size([4, 6]), torch.bool, 12)
    >>> bool(erdos_renyi(5, 5, 1.0, self_loops=False, seed=0).diagonal().any())
    False
    """
    n_out = _check_int(n_out, "n_out", minimum=1)
    n_in = _check_int(n_in, "n_in", minimum=1)
    rho = check_probability(density, "density", allow_zero=False)
    if not self_loops:
        _check_square(n_out, n_in, "self_loops=False")
        if n_out < 2:
            raise ValueError(
                "self_loops: self_loops=False needs n_out == n_in >= 2 (a 1x1 mask has no "
                f"off-diagonal position to connect), got shape ({n_out}, {n_in})"
            )
    gen = resolve_generator(generator, seed)

    n_allowed = n_out * n_in if self_loops else n_out * (n_out - 1)
    n_edges = max(1, round(rho * n_allowed))
    # A random permutation prefix is a uniform sample of positions without replacement.
    flat = torch.randperm(n_allowed, generator=gen)[:n_edges]

    mask = torch.zeros(n_out, n_in, dtype=torch.bool)
    if self_loops:
        mask.view(-1)[flat] = True
    else:
        # Enumerate the off-diagonal entries row by row: row i owns n - 1 slots, and slot c
        # is column c, shifted by one past the diagonal.
        rows = flat // (n_out - 1)
        cols = flat % (n_out - 1)
        cols = cols + (cols >= rows).long()
        mask[rows, cols] = True
    return mask


def watts_strogatz(
    n: int,
    k: int,
    p: float,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    r"""Undirected small-world mask (Watts & Strogatz, 1998).

    Start from a ring lattice where node :math:`i` is linked to its :math:`k` nearest
    neighbours, :math:`i \pm 1, \dots, i \pm k/2 \pmod n`, then rewire the far end of each
    edge with probability :math:`p` to a uniformly chosen node, avoiding self loops and
    duplicate edges. The graph keeps exactly :math:`n k / 2` undirected edges. ``p = 0``
    gives the lattice (high clustering, long paths), ``p = 1`` a nearly random graph
    (low clustering, short paths); small :math:`p` gives both high clustering and short
    paths.

    The graph is built by :func:`networkx.watts_strogatz_graph`, seeded with an integer
    drawn from ``generator``; the result is symmetric with an empty diagonal.

    Parameters
    ----------
    n : int
        Number of units; ``>= 3``.
    k : int
        Degree of the initial ring lattice; even, with ``2 <= k < n``.
    p : float
        Rewiring probability, in ``[0, 1]``.
    generator : torch.Generator, optional
        Source of randomness. Keyword-only; do not combine with ``seed``.
    seed : int, optional
        Seed for a fresh generator. Keyword-only; do not combine with ``generator``.

    Returns
    -------
    Tensor
        Symmetric boolean mask of shape ``(n, n)`` with ``n * k`` ``True`` entries.

    Examples
    --------
    >>> mask = watts_strogatz(10, 4, 0.0, seed=0)
    >>> mask[0].nonzero().flatten().tolist()
    [1, 2, 8, 9]
    >>> bool((mask == mask.T).all()), int(mask.sum())
    (True, 40)
    """
    n = _check_int(n, "n", minimum=3)
    k = _check_int(k, "k", minimum=2)
    # networkx silently uses k - 1 for odd k and a complete graph for k >= n.
    if k % 2 or k >= n:
        raise ValueError(f"k: expected an even int with 2 <= k < n = {n}, got {k}")
    p = check_probability(p, "p")
    gen = resolve_generator(generator, seed)

    # Imported here so that ``import ccnn`` does not pay for networkx.
    import networkx as nx

    nx_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    graph = nx.watts_strogatz_graph(n, k, p, seed=nx_seed)
    edges = torch.as_tensor(np.asarray(list(graph.edges()), dtype=np.int64).reshape(-1, 2))
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[edges[:, 0], edges[:, 1]] = True
    mask[edges[:, 1], edges[:, 0]] = True
    return mask


def grid_positions(n: int) -> Tensor:
    """Positions of ``n`` units on a near-square grid in [0, 1]², as (row, column) pairs.

    The grid has ``ceil(√n)`` columns and as many rows as needed, filled row by row; for a
    perfect square it is the regular ``√n × √n`` grid (the pixel layout of a flattened
    square image). A single row or column sits at 0.5.
    """
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    index = torch.arange(n)
    r, c = index // cols, index % cols
    y = r / (rows - 1) if rows > 1 else torch.full((n,), 0.5)
    x = c / (cols - 1) if cols > 1 else torch.full((n,), 0.5)
    return torch.stack([y, x], 1).float()


def tile_positions(n: int, like: ArrayLike) -> Tensor:
    """Positions of ``n`` units that tile the extent of other units' positions ``like``.

    Along every dimension in which ``like`` varies, the units are spread evenly over its
    range (a line of ``n`` units when only one dimension varies, a :func:`grid_positions`
    grid scaled to the bounding box when two or more do, filling the first two varying
    dimensions; further varying dimensions take their minimum); along constant dimensions
    they take that constant. Hidden units of a layer fed by a 1-D signal on a line thus lie on
    the same line, and those fed by an image tile the image, so that distance-dependent
    wiring stays local in the input's own geometry.

    Args:
        n: number of units.
        like: (m, d) positions (e.g. the inputs').
    Returns:
        (n, d) float tensor.

    Example:
        >>> tile_positions(3, [[0.0, 0.5], [1.0, 0.5]])
        tensor([[0.0000, 0.5000],
                [0.5000, 0.5000],
                [1.0000, 0.5000]])
    """
    _check_int(n, "n", minimum=1)
    ref = as_tensor(like, "like", dtype=torch.float32)
    check_shape(ref, (None, None), "like", meaning="(units, dim)")
    check_finite(ref, "like")
    if ref.shape[0] == 0:
        raise ValueError(f"like: expected at least one position, got shape {tuple(ref.shape)}")
    low, high = ref.min(0).values, ref.max(0).values
    varying = (high - low > 0).nonzero().flatten().tolist()
    out = low.expand(n, -1).clone()
    if len(varying) == 1:
        (dim,) = varying
        out[:, dim] = (
            torch.linspace(float(low[dim]), float(high[dim]), n) if n > 1 else (low[dim] + high[dim]) / 2
        )
    elif len(varying) >= 2:
        a, b = varying[:2]
        grid = grid_positions(n)
        out[:, a] = low[a] + grid[:, 0] * (high[a] - low[a])
        out[:, b] = low[b] + grid[:, 1] * (high[b] - low[b])
    return out


def distance_dependent(
    coords_out: ArrayLike,
    coords_in: ArrayLike,
    scale: float,
    *,
    p_max: float = 1.0,
    self_loops: bool = True,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    r"""Random mask whose connection probability decays exponentially with distance.

    Each entry is drawn independently,

    .. math::
        M_{ij} \sim \operatorname{Bernoulli}\bigl(p_\text{max}\, e^{-d_{ij} / \lambda}\bigr),
        \qquad d_{ij} = \lVert x^\text{out}_i - x^\text{in}_j \rVert_2 ,

    with :math:`\lambda` = ``scale`` the length constant, so that nearby units are more
    likely to be connected than distant ones.

    Parameters
    ----------
    coords_out : Tensor or array-like of shape (n_out, dim)
        Positions of the output (postsynaptic) units; finite.
    coords_in : Tensor or array-like of shape (n_in, dim)
        Positions of the input (presynaptic) units; finite, same ``dim``.
    scale : float
        Length constant :math:`\lambda > 0`, in the units of the coordinates.
    p_max : float, default 1.0
        Connection probability at zero distance, in ``(0, 1]``.
    self_loops : bool, default True
        If ``False`` the diagonal is set to ``False``; requires ``n_out == n_in``.
    generator : torch.Generator, optional
        Source of randomness. Keyword-only; do not combine with ``seed``.
    seed : int, optional
        Seed for a fresh generator. Keyword-only; do not combine with ``generator``.

    Returns
    -------
    Tensor
        Boolean mask of shape ``(n_out, n_in)``.

    Examples
    --------
    >>> xy = torch.rand(100, 2, generator=torch.Generator().manual_seed(0))
    >>> mask = distance_dependent(xy, xy, scale=0.2, p_max=0.9, self_loops=False, seed=0)
    >>> mask.shape, bool(mask.diagonal().any())
    (torch.Size([100, 100]), False)
    """
    x_out = as_tensor(coords_out, "coords_out")
    x_in = as_tensor(coords_in, "coords_in")
    check_shape(x_out, (None, None), "coords_out", meaning="(n_out, dim)")
    check_shape(x_in, (None, x_out.shape[1]), "coords_in", meaning="(n_in, dim) with dim of coords_out")
    for tensor, name in ((x_out, "coords_out"), (x_in, "coords_in")):
        if tensor.shape[0] == 0 or tensor.shape[1] == 0:
            raise ValueError(
                f"{name}: expected at least one unit and one dimension, got shape {tuple(tensor.shape)}"
            )
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"{name}: expected real coordinates, got {describe(tensor)}")
        check_finite(tensor, name)
    scale = _check_positive(scale, "scale")
    p_max = check_probability(p_max, "p_max", allow_zero=False)
    n_out, n_in = x_out.shape[0], x_in.shape[0]
    if not self_loops:
        _check_square(n_out, n_in, "self_loops=False")
    gen = resolve_generator(generator, seed)

    x_out = x_out.to(device="cpu", dtype=torch.float64)
    x_in = x_in.to(device="cpu", dtype=torch.float64)
    # The matmul shortcut of cdist loses precision (d_ii can come out nonzero); pay for
    # the exact computation, which is still O(n_out * n_in * dim).
    dist = torch.cdist(x_out, x_in, compute_mode="donot_use_mm_for_euclid_dist")
    prob = p_max * torch.exp(-dist / scale)
    mask = torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) < prob
    if not self_loops:
        mask.fill_diagonal_(False)
    return mask


def modular(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    *,
    self_loops: bool = False,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    r"""Directed stochastic block model: dense within modules, sparse between them.

    Units are split into contiguous modules of the given ``sizes``, in order, with module
    label :math:`c(i)`. Each ordered pair is drawn independently,

    .. math::
        M_{ij} \sim \operatorname{Bernoulli}(p_{ij}), \qquad
        p_{ij} = \begin{cases} p_\text{in} & c(i) = c(j) \\
                               p_\text{out} & c(i) \neq c(j) \end{cases}

    so :math:`M_{ij}` and :math:`M_{ji}` are independent (the graph is directed).

    Parameters
    ----------
    sizes : sequence of int
        Number of units in each module, all ``>= 1``; ``n = sum(sizes)``.
    p_in : float
        Connection probability within a module, in ``[0, 1]``.
    p_out : float
        Connection probability between modules, in ``[0, 1]``.
    self_loops : bool, default False
        If ``False`` the diagonal is empty; if ``True`` diagonal entries are drawn with
        probability ``p_in`` like any other within-module pair.
    generator : torch.Generator, optional
        Source of randomness. Keyword-only; do not combine with ``seed``.
    seed : int, optional
        Seed for a fresh generator. Keyword-only; do not combine with ``generator``.

    Returns
    -------
    Tensor
        Boolean mask of shape ``(n, n)``.

    Examples
    --------
    >>> mask = modular([3, 2], p_in=1.0, p_out=0.0, self_loops=True, seed=0)
    >>> mask.int()
    tensor([[1, 1, 1, 0, 0],
            [1, 1, 1, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 0, 0, 1, 1],
            [0, 0, 0, 1, 1]], dtype=torch.int32)
    """
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence | np.ndarray | Tensor):
        raise TypeError(f"sizes: expected a sequence of ints, got {describe(sizes)}")
    sizes_list = list(sizes.tolist() if isinstance(sizes, np.ndarray | Tensor) else sizes)
    if not sizes_list:
        raise ValueError("sizes: expected at least one module size, got an empty sequence")
    sizes_list = [_check_int(s, f"sizes[{i}]", minimum=1) for i, s in enumerate(sizes_list)]
    p_in = check_probability(p_in, "p_in")
    p_out = check_probability(p_out, "p_out")
    gen = resolve_generator(generator, seed)

    n = sum(sizes_list)
    labels = torch.repeat_interleave(torch.arange(len(sizes_list)), torch.tensor(sizes_list))
    same = labels[:, None] == labels[None, :]
    # Build in float64 directly: a float32 detour would round p_in / p_out.
    prob = torch.where(
        same, torch.tensor(p_in, dtype=torch.float64), torch.tensor(p_out, dtype=torch.float64)
    )
    mask = torch.rand(n, n, generator=gen, dtype=torch.float64) < prob
    if not self_loops:
        mask.fill_diagonal_(False)
    return mask


def expand_regions(
    region_mask: Any,
    out_regions: ArrayLike,
    in_regions: ArrayLike,
    *,
    unit_density: float | None = None,
    weighted: bool = False,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    r"""Broadcast a region-level connectome to a unit-level mask.

    With :math:`r^\text{out}_u` the region of output unit :math:`u` and
    :math:`r^\text{in}_v` that of input unit :math:`v`,

    .. math::
        M_{uv} = \bigl[\, W_{r^\text{out}_u,\, r^\text{in}_v} \neq 0 \,\bigr],

    i.e. two units may connect exactly when their regions do. This is deterministic and
    computed in one advanced-indexing step. With ``unit_density`` :math:`q`, each
    connection of :math:`M` is then kept independently with probability :math:`q`,
    :math:`M'_{uv} = M_{uv} \, B_{uv}` with :math:`B_{uv} \sim \operatorname{Bernoulli}(q)`;
    this never adds a connection.

    Parameters
    ----------
    region_mask : Tensor, array-like, or object with a ``weights`` attribute
        Region connectome :math:`W` of shape ``(R_out, R_in)``, boolean or weighted, with
        the same row = target, column = source convention; finite. An object such as
        :class:`ccnn.data.Connectome` is read through its ``weights`` attribute.
    out_regions : Tensor or array-like of int, shape (n_out,)
        Region index in ``[0, R_out)`` of each output unit.
    in_regions : Tensor or array-like of int, shape (n_in,)
        Region index in ``[0, R_in)`` of each input unit.
    unit_density : float, optional
        Probability in ``(0, 1]`` of keeping each unit-level connection. ``None`` (the
        default) keeps them all and draws no random numbers.
    weighted : bool, default False
        If ``True`` return the region weight :math:`W_{r^\text{out}_u, r^\text{in}_v}` of
        each kept connection (0 elsewhere) instead of a boolean mask. The dtype is float64
        if ``region_mask`` is float64 and float32 otherwise.
    generator : torch.Generator, optional
        Source of randomness, used only with ``unit_density``. Keyword-only; do not
        combine with ``seed``.
    seed : int, optional
        Seed for a fresh generator, used only with ``unit_density``. Keyword-only; do not
        combine with ``generator``.

    Returns
    -------
    Tensor
        Mask of shape ``(n_out, n_in)``: boolean, or float with ``weighted=True``.

    Examples
    --------
    >>> regions = torch.tensor([[1, 0], [1, 1]])   # region 0 <- region 0; 1 <- 0 and 1
    >>> expand_regions(regions, [0, 1, 1], [0, 0, 1]).int()
    tensor([[1, 1, 0],
            [1, 1, 1],
            [1, 1, 1]], dtype=torch.int32)
    """
    # Duck typing keeps this module free of an import of ccnn.data.
    if not isinstance(region_mask, Tensor | np.ndarray) and hasattr(region_mask, "weights"):
        region_mask = region_mask.weights
    weights = as_tensor(region_mask, "region_mask")
    check_shape(weights, (None, None), "region_mask", meaning="(R_out, R_in)")
    if weights.is_complex():
        raise TypeError(f"region_mask: expected real or boolean values, got {describe(weights)}")
    check_finite(weights, "region_mask")
    weights = weights.cpu()
    n_reg_out, n_reg_in = weights.shape
    out_idx = _check_regions(out_regions, "out_regions", n_reg_out)
    in_idx = _check_regions(in_regions, "in_regions", n_reg_in)
    if unit_density is not None:
        unit_density = check_probability(unit_density, "unit_density", allow_zero=False)
        gen = resolve_generator(generator, seed)
    elif generator is not None or seed is not None:
        # Nothing is drawn, but a wrong or doubled generator/seed is still a caller's bug.
        resolve_generator(generator, seed)

    # One gather of shape (n_out, n_in): row u reads region row out_idx[u], and so on.
    unit_weights = weights[out_idx[:, None], in_idx[None, :]]
    mask = unit_weights != 0
    if unit_density is not None:
        keep = torch.rand(mask.shape, generator=gen, dtype=torch.float64) < unit_density
        mask &= keep
    if not weighted:
        return mask
    dtype = torch.float64 if weights.dtype == torch.float64 else torch.float32
    return torch.where(mask, unit_weights.to(dtype), torch.zeros((), dtype=dtype))
