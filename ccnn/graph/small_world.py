r"""Small-worldness against random and lattice references: sigma, omega and the propensity.

All three compare the clustering :math:`C` (the mean over nodes of
:func:`~ccnn.graph.metrics.clustering`) and the characteristic path length :math:`L`
(:func:`~ccnn.graph.paths.characteristic_path_length`) of a graph with those of reference
graphs. By default both are **binary** (unweighted clustering, hop counts); only
:func:`small_world_propensity` has a weighted variant. On a disconnected graph :math:`L` is the
mean over the connected ordered pairs only (unreachable pairs are left out), as
``characteristic_path_length`` defines it. Directed graphs (a non-symmetric matrix) use the
directed clustering of Fagiolo and directed paths; the references then keep in- and
out-degrees (a batch is directed if any of its graphs is not symmetric).

* :func:`small_world_sigma` -- Humphries & Gurney 2008 ("Network 'small-world-ness': a
  quantitative method for determining canonical network equivalence", PLoS ONE):
  :math:`\sigma = (C / C_{rand}) / (L / L_{rand})`; small-world when :math:`\sigma > 1`.
* :func:`small_world_omega` -- Telesford, Joyce, Hayasaka, Burdette & Laurienti 2011 ("The
  ubiquity of small-world networks", Brain Connectivity):
  :math:`\omega = L_{rand} / L - C / C_{latt}`, from -1 (lattice) through 0 (small world)
  to +1 (random).
* :func:`small_world_propensity` -- Muldoon, Bridgeford & Bassett 2016 ("Small-world
  propensity and weighted brain networks", Scientific Reports):
  :math:`\phi = 1 - \sqrt{(\Delta_C^2 + \Delta_L^2) / 2}` with
  :math:`\Delta_C = (C_{latt} - C) / (C_{latt} - C_{rand})` and
  :math:`\Delta_L = (L - L_{rand}) / (L_{latt} - L_{rand})`, each clipped to [0, 1]; near 1
  for a small world, near :math:`1 - 1/\sqrt 2 \approx 0.29` for a lattice or a random graph.

:math:`C_{rand}, L_{rand}` are means over ``n_nulls`` degree-preserving nulls
(:func:`~ccnn.graph.nulls.randomise_preserving_degree`). All functions take ``(N, N)`` or
``(B, N, N)`` and return ``()`` or ``(B,)``. The nulls of a batch come from one random stream,
so graph b of a batch gets other nulls than a call on graph b alone: the results agree up to
the sampling error of the nulls. Each null costs one all-pairs shortest-path computation
(Floyd–Warshall, :math:`O(N^3)`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ccnn._validation import check_int, check_nonnegative, describe
from ccnn.graph._adjacency import check_adjacency, working_dtype
from ccnn.graph.metrics import clustering
from ccnn.graph.nulls import latticise, randomise_preserving_degree
from ccnn.graph.paths import characteristic_path_length

__all__ = ["ring_lattice", "small_world_omega", "small_world_propensity", "small_world_sigma"]

#: Default number of nulls (and latticised copies) per graph.
DEFAULT_NULLS = 20


def _prepare(adjacency: Any, n_nulls: int, weighted: bool = False) -> tuple[Tensor, int]:
    adj = check_adjacency(adjacency)
    k = check_int(n_nulls, "n_nulls", minimum=1)
    dtype = working_dtype(adj)
    n = adj.shape[-1]
    off = adj.to(dtype).masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    if weighted:
        check_nonnegative(off, "adjacency")
        return off, k
    return (off != 0).to(dtype), k


def _c_and_l(graphs: Tensor, weighted: bool = False) -> tuple[Tensor, Tensor]:
    """Mean clustering and characteristic path length of ``(..., N, N)``, each ``(...)``."""
    n = graphs.shape[-1]
    flat = graphs.reshape(-1, n, n)
    directed = not torch.equal(flat, flat.transpose(-1, -2))
    c = clustering(flat, directed=directed, weighted=weighted).mean(-1)
    path = characteristic_path_length(flat, length="inverse" if weighted else "binary")
    return c.reshape(graphs.shape[:-2]), path.reshape(graphs.shape[:-2])


def _random_reference(adj: Tensor, k: int, n_swaps: int | None, seed: int | None, weighted: bool = False):
    nulls = randomise_preserving_degree(adj, n_nulls=k, n_swaps=n_swaps, seed=seed)
    c, path = _c_and_l(nulls, weighted)
    return c.mean(-1), path.nanmean(-1)


def small_world_sigma(
    adjacency: Any, *, n_nulls: int = DEFAULT_NULLS, n_swaps: int | None = None, seed: int | None = 0
) -> Tensor:
    r""":math:`\sigma = (C / C_{rand}) / (L / L_{rand})` (Humphries & Gurney 2008; module
    docstring), binary, against ``n_nulls`` degree-preserving nulls (``n_swaps``, ``seed``: see
    :func:`~ccnn.graph.nulls.randomise_preserving_degree`). inf when the nulls have no
    triangles but the graph has, NaN when neither has (or no pair is connected)."""
    adj, k = _prepare(adjacency, n_nulls)
    c, path = _c_and_l(adj)
    c_rand, path_rand = _random_reference(adj, k, n_swaps, seed)
    return (c / c_rand) / (path / path_rand)


def small_world_omega(
    adjacency: Any,
    *,
    n_nulls: int = DEFAULT_NULLS,
    n_swaps: int | None = None,
    n_lattice_swaps: int | None = None,
    seed: int | None = 0,
) -> Tensor:
    r""":math:`\omega = L_{rand} / L - C / C_{latt}` (Telesford et al. 2011; module docstring),
    binary.

    :math:`L_{rand}`: mean over ``n_nulls`` degree-preserving nulls. :math:`C_{latt}`: mean
    clustering of ``n_nulls`` latticised copies (:func:`~ccnn.graph.nulls.latticise`,
    Sporns & Zwi 2004: degree-preserving swaps toward a ring lattice in the node order,
    ``n_lattice_swaps`` proposals per edge), floored at :math:`C` (as networkx's ``omega``: a
    lattice reference less clustered than the graph itself would make :math:`\omega < -1`).
    NaN when the graph has no triangles and no pair is connected.
    """
    adj, k = _prepare(adjacency, n_nulls)
    c, path = _c_and_l(adj)
    _, path_rand = _random_reference(adj, k, n_swaps, seed)
    lattices = latticise(adj, n_nulls=k, n_swaps=n_lattice_swaps, seed=None if seed is None else seed + 1)
    c_latt = torch.maximum(_c_and_l(lattices)[0].mean(-1), c)
    ratio = torch.where(c_latt > 0, c / torch.where(c_latt > 0, c_latt, 1), torch.zeros_like(c))
    return path_rand / path - ratio


def ring_lattice(adjacency: Any) -> Tensor:
    r"""The ring lattice of Muldoon et al. 2016 with the nodes, edges and weights of
    ``adjacency``: its non-zero off-diagonal weights, largest first, are placed on the node
    pairs in order of ring distance :math:`\min(|i - j|, N - |i - j|)` from the diagonal
    (within a distance, by node index; a symmetric input gives a symmetric lattice, placing
    each weight on both triangles). ``(N, N)`` or ``(B, N, N)``, the input's dtype; a binary
    input gives the binary ring lattice with as many edges (Watts & Strogatz's ring when the
    number of edges is a multiple of N). Weights must be non-negative."""
    adj = check_adjacency(adjacency)
    check_nonnegative(adj, "adjacency")
    n = adj.shape[-1]
    batch = adj.reshape(-1, n, n).masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    directed = not torch.equal(batch, batch.transpose(-1, -2))
    nodes = torch.arange(n, device=adj.device)
    i, j = nodes[:, None].expand(n, n), nodes[None, :].expand(n, n)
    offset = (j - i) % n
    distance = torch.minimum(offset, n - offset)
    if directed:  # ordered pairs: for each distance, node by node, j = i + d before j = i - d
        keep = offset != 0
        order_key = distance * (2 * n) + 2 * i + (offset != distance).long()
    else:  # one entry per unordered pair: j = i + d, and for d = N / 2 only i < N / 2
        keep = (offset != 0) & ((offset < n - offset) | ((offset == n - offset) & (i < n // 2)))
        order_key = distance * n + i
    rows, cols = i[keep], j[keep]
    order = order_key[keep].argsort(stable=True)
    rows, cols = rows[order], cols[order]
    source = batch if directed else batch.triu(1)
    ranked = source.flatten(1).sort(dim=1, descending=True, stable=True).values[:, : rows.numel()]
    lattice = torch.zeros_like(batch)
    lattice[:, rows, cols] = ranked
    if not directed:
        lattice[:, cols, rows] = ranked
    return lattice.reshape(adj.shape)


def _clipped_ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den clipped to [0, 1]; where den <= 0 (the references do not bracket), its limit
    as den -> 0+: 0 if num <= 0, else 1."""
    limit = (num > 0).to(num.dtype)
    return torch.where(den > 0, (num / torch.where(den > 0, den, 1)).clamp(0, 1), limit)


def small_world_propensity(
    adjacency: Any,
    *,
    weighted: bool = False,
    n_nulls: int = DEFAULT_NULLS,
    n_swaps: int | None = None,
    seed: int | None = 0,
) -> Tensor:
    r"""Small-world propensity :math:`\phi` (Muldoon, Bridgeford & Bassett 2016; module
    docstring), ``()`` or ``(B,)``, in [0, 1].

    * Lattice reference: :func:`ring_lattice`, the graph's edges (``weighted``: its weights,
      largest nearest the diagonal) on a ring lattice, as in the paper.
    * Random reference: the mean over ``n_nulls`` degree-preserving nulls (weights travel with
      their edges). The paper's random reference keeps the number of edges and the weights;
      this one keeps the degrees as well, like :func:`small_world_sigma` and
      :func:`small_world_omega`.
    * ``weighted=False`` (default): binary clustering and hop counts. ``weighted=True``: the
      paper's weighted variant, Onnela's weighted clustering (weights scaled by the largest)
      and path lengths :math:`1 / w`; weights must be non-negative.

    Where a reference pair does not bracket (:math:`C_{latt} \le C_{rand}` or
    :math:`L_{latt} \le L_{rand}`, e.g. very dense graphs), :math:`\Delta` takes its limit:
    0 if the graph is on the small-world side, else 1.
    """
    if not isinstance(weighted, bool):
        raise TypeError(f"weighted: expected True or False, got {describe(weighted)}")
    adj, k = _prepare(adjacency, n_nulls, weighted)
    c, path = _c_and_l(adj, weighted)
    c_rand, path_rand = _random_reference(adj, k, n_swaps, seed, weighted)
    c_latt, path_latt = _c_and_l(ring_lattice(adj), weighted)
    delta_c = _clipped_ratio(c_latt - c, c_latt - c_rand)
    delta_l = _clipped_ratio(path - path_rand, path_latt - path_rand)
    return 1 - ((delta_c**2 + delta_l**2) / 2).sqrt()
