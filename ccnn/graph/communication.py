r"""Communication on networks: communicability, search information and navigation, batched.

Orientation as everywhere in ccnn: ``adjacency[..., i, j]`` is the edge from node j to node i,
and every ``(N, N)`` result is indexed the same way: ``[i, j]`` is about messages **from j to
i**. Weights become lengths by the rule of :func:`~ccnn.graph.paths.shortest_paths`
(``length=``: ``"inverse"`` :math:`1/|w|`, ``"negative_log"`` :math:`-\log(|w|/\max|w|)`,
``"binary"`` 1).

* :func:`communicability`: all walks, longer ones discounted (Estrada & Hatano 2008; weighted:
  Crofts & Higham 2009).
* :func:`search_information`: the information a random walker needs to follow the shortest
  path (Goñi et al. 2014).
* :func:`navigation`: greedy routing towards the target in space (Seguin, van den Heuvel &
  Zalesky 2018).
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_nonnegative, check_real, describe
from ccnn.graph._adjacency import as_floating, check_adjacency, working_dtype
from ccnn.graph.betweenness import _CHUNK_ELEMENTS, _edge_list, _source_columns, _sweep_min, _tight
from ccnn.graph.paths import _lengths

__all__ = ["Navigation", "communicability", "navigation", "search_information"]


def communicability(adjacency: Any, *, normalize: bool = True, eps: float = 1e-12) -> Tensor:
    r"""Communicability of every pair, ``(N, N)`` or ``(B, N, N)``; ``[i, j]`` from j to i.

    With ``normalize=True`` (default), the weighted communicability of Crofts & Higham
    ("A weighted communicability measure applied to complex brain networks", J. R. Soc.
    Interface 2009),

    .. math:: G = \exp\!\big(S^{-1/2}\, |A|\, S^{-1/2}\big), \qquad S = \mathrm{diag}(s),\
              s_i = \max\big(\textstyle\sum_j |a_{ij}|,\ \epsilon\big),

    and with ``normalize=False`` that of Estrada & Hatano ("Communicability in complex
    networks", Phys. Rev. E 2008), :math:`G = \exp(|A|) = \sum_k |A|^k / k!`. :math:`G_{ij}`
    sums the walks from j to i of every length k, weighted by :math:`1/k!`.

    Magnitudes :math:`|a_{ij}|` are used (signed weights count by their size). The strength
    :math:`s_i` is the row sum, what node i receives (its in-strength for a directed graph,
    the strength for an undirected one), used on both sides of :math:`|A|`; it is clamped below
    at ``eps`` so that a node without input stays finite (its row of :math:`S^{-1/2}|A|S^{-1/2}`
    is then 0; in a directed graph its outgoing weights are scaled by :math:`\epsilon^{-1/2}`,
    so give such graphs a meaningful ``eps`` or use ``normalize=False``). Self-connections are
    kept (walks of length 1 from a node to itself) and the diagonal of G is returned.
    Differentiable (``torch.linalg.matrix_exp``), e.g. inside a training loss.

    Returns:
        the dtype of ``adjacency`` if floating point, else the default dtype; on its device.
    """
    adj = check_adjacency(adjacency)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected a bool, got {describe(normalize)}")
    magnitude = as_floating(adj).abs()
    if normalize:
        inv_sqrt_strength = magnitude.sum(-1).clamp(min=check_real(eps, "eps", positive=True)).rsqrt()
        magnitude = inv_sqrt_strength[..., :, None] * magnitude * inv_sqrt_strength[..., None, :]
    return torch.linalg.matrix_exp(magnitude)


def search_information(
    adjacency: Any, *, length: Literal["inverse", "negative_log", "binary"] = "inverse"
) -> Tensor:
    r"""Search information of every pair, ``(N, N)`` or ``(B, N, N)``; ``[i, j]`` from j to i.

    Goñi et al., "Resting-brain functional connectivity predicted by analytic measures of
    network communication", PNAS 2014: the bits a random walker needs to follow the shortest
    path :math:`\pi_{j \to i} = (j = u_0, u_1, \dots, u_h = i)` (by the ``length`` rule),

    .. math:: S_{ij} = -\log_2 \prod_{k=0}^{h-1} p(u_k \to u_{k+1}), \qquad
              p(u \to v) = \frac{w_{vu}}{\sum_x w_{xu}},

    where the walker at u takes each out-edge with probability proportional to its weight (the
    out-strength of u, a column sum, normalises; self-connections are ignored). When several
    shortest paths tie (lengths equal within a relative :math:`10^{-10}`), the most probable one
    (smallest :math:`S_{ij}`) is used. :math:`S_{ij} = \infty` where j cannot reach i, and
    :math:`S_{ii} = 0`. Weights must be non-negative.

    Computed for all sources of all graphs at once: Bellman–Ford sweeps over the edge list for
    the distances, then the same sweeps over the shortest-path edges with the costs
    :math:`-\log_2 p`.

    Returns:
        float64 if ``adjacency`` is float64, else the default dtype; on its device.
    """
    adj = check_adjacency(adjacency)
    check_nonnegative(adj, "adjacency")
    out_dtype = working_dtype(adj)
    lengths = _lengths(adj.to(torch.float64), length)
    n = lengths.shape[-1]
    graphs = lengths.reshape(-1, n, n)
    batch = graphs.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=graphs.device)
    edges = torch.isfinite(graphs) & off
    weights = adj.to(torch.float64).reshape(-1, n, n).masked_fill(~off, 0)
    head, tail, step = _edge_list(graphs, edges)
    out_strength = weights.sum(-2).reshape(-1)  # what node u sends, per node across the batch
    cost = -torch.log2(weights.reshape(-1, n)[head, tail % n] / out_strength[tail])[:, None]
    out = torch.empty(batch, n, n, dtype=torch.float64, device=graphs.device)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(1, head.numel(), batch * n)))
    work = torch.empty(head.numel(), chunk, dtype=torch.float64, device=graphs.device)
    other = torch.empty_like(work)
    for first in range(0, n, chunk):
        c = min(n, first + chunk) - first
        is_source = _source_columns(batch, n, first, c, graphs.device)
        dist = _sweep_min(is_source, head, tail, step, work[:, :c])
        tight = _tight(dist, head, tail, step, work[:, :c], other[:, :c])
        bits = _sweep_min(is_source, head, tail, torch.where(tight, cost, math.inf), work[:, :c])
        out[..., first : first + c] = bits.reshape(batch, n, c)
    return out.to(out_dtype).reshape(lengths.shape)


class Navigation(NamedTuple):
    """Result of :func:`navigation`; ``[..., i, j]`` is the route from j to i."""

    #: ``(..., N, N)`` bool: the greedy route reaches the target (True on the diagonal).
    success: Tensor
    #: ``(..., N, N)`` int64: edges on the route; -1 where it fails, 0 on the diagonal.
    hops: Tensor
    #: ``(..., N, N)``: sum of the edge lengths (``length`` rule) along the route; inf on failure.
    path_length: Tensor
    #: ``(..., N, N)``: sum of ``distances`` between consecutive nodes; inf on failure.
    distance_travelled: Tensor
    #: ``()`` or ``(B,)``: fraction of ordered pairs i != j whose route succeeds.
    success_ratio: Tensor


def navigation(
    adjacency: Any, distances: Any, *, length: Literal["inverse", "negative_log", "binary"] = "inverse"
) -> Navigation:
    r"""Greedy routing (navigation) between every pair of nodes, batched over graphs and pairs.

    Seguin, van den Heuvel & Zalesky, "Navigation of brain networks", PNAS 2018: a message
    for target t at node u moves to the out-neighbour v of u (edge u → v,
    ``adjacency[..., v, u] != 0``) closest to t, :math:`\arg\min_v d_{tv}` with
    :math:`d_{tv}` = ``distances[..., t, v]`` (e.g. Euclidean distances between region
    centroids), and directly to t when t is a neighbour. Ties go to the lowest node index.
    Navigation fails when the route would revisit a node (it then loops forever) or reaches a
    node without out-edges. Because the next hop depends only on (node, target), a route
    succeeds exactly when it reaches t within N - 1 hops, so all routes are followed at once
    by pointer doubling over the next-hop table (:math:`\lceil \log_2 N \rceil` gathers).

    ``path_length`` sums the edge lengths (``length`` rule, as
    :func:`~ccnn.graph.paths.shortest_paths`) along the route, so ``shortest_paths(A) /
    path_length`` is the navigation efficiency ratio; ``distance_travelled`` sums
    ``distances[..., v, u]`` over the hops u → v. The success ratio is the fraction of ordered
    pairs i ≠ j whose route succeeds (NaN for N = 1, which has no pairs).

    Args:
        adjacency: ``(N, N)`` or ``(B, N, N)``, ``[i, j]`` the edge from j to i.
        distances: ``(N, N)`` or ``(B, N, N)`` non-negative finite distances between nodes
            (``(N, N)`` is shared by every graph of a batch).
        length: how weights become lengths for ``path_length``.

    Returns:
        :class:`Navigation`; floats are float64 if ``adjacency`` is float64, else the default
        dtype.
    """
    adj = check_adjacency(adjacency)
    out_dtype = working_dtype(adj)
    lengths = _lengths(adj.to(torch.float64), length)
    n = lengths.shape[-1]
    dist = as_tensor(distances, "distances")
    if dist.dim() not in (2, 3) or dist.shape[-2:] != (n, n) or (dist.dim() == 3 and dist.shape != adj.shape):
        raise ValueError(
            f"distances: expected shape ({n}, {n}) or {tuple(adj.shape)} to match adjacency, "
            f"got {tuple(dist.shape)}"
        )
    if dist.is_complex():
        raise TypeError(f"distances: expected real values, got {describe(distances)}")
    check_finite(dist, "distances")
    check_nonnegative(dist, "distances")
    graphs = lengths.reshape(-1, n, n)
    batch = graphs.shape[0]
    dist = dist.to(device=graphs.device, dtype=torch.float64).expand(graphs.shape)
    off = ~torch.eye(n, dtype=torch.bool, device=graphs.device)
    nxt = _next_hops(torch.isfinite(graphs) & off, dist)  # (B, target, node)
    nodes = torch.arange(n, device=graphs.device)
    at_target = nodes[:, None] == nodes[None, :]
    # one step from u: edge u -> nxt (zero at the target, or when stuck at a dead end)
    moving = nxt != nodes
    step_length = torch.gather(graphs, -2, nxt)  # [b, t, u] = lengths[b, nxt[b, t, u], u]
    step_distance = torch.gather(dist, -2, nxt)
    path_length = torch.where(moving, step_length, 0.0)
    travelled = torch.where(moving, step_distance, 0.0)
    hops = moving.to(torch.int64)
    for _ in range(max(1, math.ceil(math.log2(n)))):  # after k rounds: 2^k steps from every node
        path_length = path_length + torch.gather(path_length, -1, nxt)
        travelled = travelled + torch.gather(travelled, -1, nxt)
        hops = hops + torch.gather(hops, -1, nxt)
        nxt = torch.gather(nxt, -1, nxt)
    success = (nxt == nodes[:, None]) | at_target  # arrived at the row's target
    inf = torch.tensor(math.inf, dtype=torch.float64, device=graphs.device)
    if n > 1:
        ratio = (success & ~at_target).flatten(1).sum(1) / (n * (n - 1))
    else:  # no pairs
        ratio = torch.full((batch,), math.nan, dtype=torch.float64, device=graphs.device)
    shape = lengths.shape
    return Navigation(
        success=success.reshape(shape),
        hops=torch.where(success, hops, -1).reshape(shape),
        path_length=torch.where(success, path_length, inf).to(out_dtype).reshape(shape),
        distance_travelled=torch.where(success, travelled, inf).to(out_dtype).reshape(shape),
        success_ratio=ratio.to(out_dtype).reshape(shape[:-2]),
    )


def _next_hops(edges: Tensor, dist: Tensor) -> Tensor:
    """``(B, N, N)`` int64: ``[b, t, u]`` the out-neighbour of u closest to target t (t itself
    when adjacent; lowest index on ties); u itself when u == t or u has no out-edges."""
    batch, n, _ = edges.shape
    b, head, tail = edges.nonzero(as_tuple=True)  # edge tail -> head
    nodes = batch * n
    gtail = b * n + tail
    # target t's distance to every node, as (B*N nodes, C targets) columns
    by_node = dist.transpose(-1, -2).reshape(nodes, n)  # [b*N + v, t] = dist[b, t, v]
    nxt = torch.empty(batch, n, n, dtype=torch.int64, device=edges.device)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(1, head.numel(), nodes)))
    for first in range(0, n, chunk):
        targets = torch.arange(first, min(n, first + chunk), device=edges.device)
        c = targets.numel()
        key = by_node[b * n + head, first : first + c]  # (E, C): distance from the edge's head to t
        key = key.masked_fill(head[:, None] == targets, -math.inf)  # the target itself first
        index = gtail[:, None].expand(-1, c)
        best = torch.full((nodes, c), math.inf, dtype=torch.float64, device=edges.device)
        best.scatter_reduce_(0, index, key, reduce="amin")
        chosen = torch.where(key == best[gtail], head[:, None], n)  # heads at the minimum
        choice = torch.full((nodes, c), n, dtype=torch.int64, device=edges.device)
        choice.scatter_reduce_(0, index, chosen, reduce="amin")
        own = torch.arange(n, device=edges.device).repeat(batch)[:, None]
        choice = torch.where((choice == n) | (own == targets), own, choice)
        nxt[:, first : first + c] = choice.reshape(batch, n, c).transpose(-1, -2)
    return nxt
