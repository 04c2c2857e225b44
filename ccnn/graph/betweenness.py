r"""Node betweenness centrality, batched over graphs and over all sources at once.

Orientation as everywhere in ccnn: ``adjacency[..., i, j]`` is the edge from node j to node i.

The betweenness of node v (Freeman, "A set of measures of centrality based on betweenness",
Sociometry 1977) is the share of shortest paths between other nodes that pass through v,

.. math:: b_v = \sum_{s \ne v \ne t} \frac{\sigma_{st}(v)}{\sigma_{st}},

with :math:`\sigma_{st}` the number of shortest paths from s to t and :math:`\sigma_{st}(v)`
those through v. It is computed with Brandes' dependency recursion (Brandes, "A faster
algorithm for betweenness centrality", J. Math. Sociol. 2001),
:math:`\delta_s(u) = \sum_{v:\, u \in P_s(v)} \frac{\sigma_{su}}{\sigma_{sv}} (1 + \delta_s(v))`
and :math:`b_u = \sum_{s \ne u} \delta_s(u)`, for all sources of all graphs at once:

1. distances from every source: Bellman–Ford rounds over the edge list (one batched
   ``scatter_reduce`` per round, as many rounds as the longest shortest path has edges), or for
   ``length="binary"`` on denser graphs a level-synchronous breadth-first search with batched
   matrix products;
2. the shortest-path DAG of each source: edge u → v is on a shortest path from s when
   :math:`|d_{su} + \ell_{uv} - d_{sv}| \le 10^{-10}\, d_{sv}` (the relative tolerance that
   makes equal float sums over different paths ties; lengths are computed in float64);
3. :math:`\sigma` and :math:`\delta` by fixed-point sweeps over the DAG edges (exact after as
   many sweeps as the DAG is deep).

Sources are processed in chunks to bound memory.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from ccnn._validation import describe
from ccnn.graph._adjacency import check_adjacency, working_dtype
from ccnn.graph.paths import _lengths

__all__ = ["betweenness"]

#: Relative tolerance under which two path lengths count as equal (float64 lengths).
RTOL = 1e-10
# Elements per working tensor (float64) in one chunk of sources: bounds memory (~80 MB each).
_CHUNK_ELEMENTS = 10_000_000
# Binary graphs denser than this use the dense (matrix product) breadth-first search.
_DENSE_BFS_DENSITY = 0.005


def betweenness(
    adjacency: Any,
    *,
    length: Literal["inverse", "negative_log", "binary"] = "inverse",
    normalized: bool = False,
) -> Tensor:
    r"""Betweenness centrality of every node, ``(N,)`` or ``(B, N)``.

    .. math:: b_v = \sum_{s \ne v \ne t} \frac{\sigma_{st}(v)}{\sigma_{st}}

    (Freeman 1977, computed as Brandes 2001; see the module docstring). Paths follow the edges
    j → i of ``adjacency[..., i, j] != 0`` with lengths by the rule of
    :func:`~ccnn.graph.paths.shortest_paths` (``"inverse"``: :math:`1/|w|`; ``"negative_log"``:
    :math:`-\log(|w|/\max|w|)`; ``"binary"``: 1); self-connections are ignored.

    A graph whose adjacency is symmetric is undirected: each unordered pair {s, t} counts once
    (half the sum over ordered pairs), as networkx's ``betweenness_centrality`` on a ``Graph``;
    any other graph is directed (ordered pairs, as on a ``DiGraph``). ``normalized=True``
    divides by the :math:`(N-1)(N-2)` ordered pairs, the same value for both (no rescaling for
    :math:`N \le 2`, where every value is 0).

    Undefined cases: pairs with no path contribute 0 (disconnected graphs are fine; isolated
    nodes get 0). Path lengths equal within a relative :math:`10^{-10}` are ties. Zero-length
    edges (the heaviest edges under ``"negative_log"``) would make path counts infinite around
    zero-length cycles; among equally short paths, only those with the fewest zero-length edges
    then count as shortest.

    Args:
        adjacency: ``(N, N)`` or ``(B, N, N)``, ``[i, j]`` the edge from j to i.
        length: how weights become lengths.
        normalized: divide by the number of ordered pairs (s, t) excluding v.

    Returns:
        float64 if ``adjacency`` is float64, else the default dtype, on its device.
    """
    adj = check_adjacency(adjacency)
    if not isinstance(normalized, bool):
        raise TypeError(f"normalized: expected a bool, got {describe(normalized)}")
    out_dtype = working_dtype(adj)
    lengths = _lengths(adj.to(torch.float64), length)
    n = lengths.shape[-1]
    graphs = lengths.reshape(-1, n, n)
    off = ~torch.eye(n, dtype=torch.bool, device=graphs.device)
    edges = torch.isfinite(graphs) & off
    density = float(edges.sum()) / max(1, graphs.shape[0] * n * (n - 1))
    if length == "binary" and density >= _DENSE_BFS_DENSITY:
        raw = _dense_bfs_betweenness(edges)
    else:
        raw = _edge_betweenness(graphs, edges)
    symmetric = (graphs == graphs.transpose(-1, -2)).flatten(1).all(1)
    if normalized:
        scale = torch.full_like(symmetric, 1.0 / ((n - 1) * (n - 2)) if n > 2 else 1.0, dtype=raw.dtype)
    else:
        scale = torch.where(symmetric, 0.5, 1.0).to(raw.dtype)
    return (raw * scale[:, None]).to(out_dtype).reshape(lengths.shape[:-1])


def _edge_betweenness(graphs: Tensor, edges: Tensor) -> Tensor:
    """Raw betweenness (ordered pairs) of ``(B, N, N)`` float64 lengths, by edge-list sweeps."""
    batch, n, _ = graphs.shape
    head, tail, weight = _edge_list(graphs, edges)
    nodes = batch * n
    zero = (weight == 0) if bool((weight == 0).any()) else None
    out = torch.zeros(nodes, dtype=torch.float64, device=graphs.device)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // max(1, head.numel(), nodes)))
    # (edges, sources) buffers reused across sweeps: fresh large tensors cost page faults
    work = torch.empty(head.numel(), chunk, dtype=torch.float64, device=graphs.device)
    other = torch.empty_like(work)
    for first in range(0, n, chunk):
        # working tensors are (B*N nodes, C sources): gathers and reductions move whole rows
        c = min(n, first + chunk) - first
        is_source = _source_columns(batch, n, first, c, graphs.device)
        w_buf, o_buf = work[:, :c], other[:, :c]
        dist = _sweep_min(is_source, head, tail, weight, w_buf)
        tight = _tight(dist, head, tail, weight, w_buf, o_buf)
        if zero is not None:  # among equal lengths, fewest zero-length edges: no zero cycles
            step = torch.where(tight, zero.to(torch.float64), math.inf)
            count = _sweep_min(is_source, head, tail, step, w_buf)
            tight &= count[tail] + zero == count[head]
        # shortest-path DAG edges of every source, as (edge, source column) pairs
        edge, column = tight.nonzero(as_tuple=True)
        src = tail[edge] * c + column
        dst = head[edge] * c + column
        sigma, sweeps = _path_counts(is_source.reshape(-1).to(torch.float64), src, dst, n)
        coefficient = sigma[src] / sigma[dst]
        delta, new = torch.zeros_like(sigma), torch.empty_like(sigma)
        gathered = torch.empty_like(coefficient)
        for _ in range(sweeps):  # the DAG is no deeper than the sigma sweeps
            torch.index_select(delta, 0, dst, out=gathered)
            gathered.add_(1).mul_(coefficient)
            new.zero_().index_add_(0, src, gathered)
            delta, new = new, delta
        delta.masked_fill_(is_source.reshape(-1), 0)
        out += delta.reshape(nodes, c).sum(1)
    return out.reshape(batch, n)


def _edge_list(graphs: Tensor, edges: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Edges tail -> head of ``(B, N, N)`` graphs as node indices across the batch (b * N + node),
    with their ``(E, 1)`` lengths ``graphs[b, head, tail]``."""
    n = graphs.shape[-1]
    b, head, tail = edges.nonzero(as_tuple=True)
    return b * n + head, b * n + tail, graphs[b, head, tail][:, None]


def _source_columns(batch: int, n: int, first: int, c: int, device: torch.device) -> Tensor:
    """``(B*N, C)`` mask: column k marks node ``first + k`` of every graph."""
    is_source = torch.zeros(batch, n, c, dtype=torch.bool, device=device)
    is_source[:, torch.arange(first, first + c, device=device), torch.arange(c, device=device)] = True
    return is_source.reshape(batch * n, c)


def _sweep_min(is_source: Tensor, head: Tensor, tail: Tensor, step: Tensor, work: Tensor) -> Tensor:
    """Bellman–Ford rounds d_v <- min(d_v, d_u + l_uv) from each column's sources: ``(B*N, C)``
    distances, with ``step`` (E, 1) or (E, C) the edge lengths; ``work`` an (E, C) buffer."""
    dist = torch.full(is_source.shape, math.inf, dtype=torch.float64, device=is_source.device)
    dist[is_source] = 0
    new = torch.empty_like(dist)
    index = head[:, None].expand(work.shape)
    for _ in range(dist.shape[0] + 1):
        torch.index_select(dist, 0, tail, out=work)
        work.add_(step)
        new.copy_(dist).scatter_reduce_(0, index, work, reduce="amin")
        if torch.equal(new, dist):
            break
        dist, new = new, dist
    return dist


def _tight(dist: Tensor, head: Tensor, tail: Tensor, weight: Tensor, work: Tensor, other: Tensor) -> Tensor:
    """(E, C) mask of the edges on shortest paths: |d_tail + l - d_head| <= RTOL d_head."""
    torch.index_select(dist, 0, tail, out=work)
    work.add_(weight)
    torch.index_select(dist, 0, head, out=other)
    work.sub_(other).abs_()
    # unreachable heads have unreachable tails: inf - inf is NaN and compares False
    return work <= other.mul_(RTOL)


def _path_counts(start: Tensor, src: Tensor, dst: Tensor, limit: int) -> tuple[Tensor, int]:
    """Numbers of shortest paths (exact integers) by sweeps sigma <- start + sum over DAG edges,
    and the number of sweeps it took (the DAG depth + 1)."""
    sigma, new = start.clone(), torch.empty_like(start)
    gathered = torch.empty(src.shape, dtype=start.dtype, device=start.device)
    sweeps = 0
    while sweeps <= limit:
        torch.index_select(sigma, 0, src, out=gathered)
        new.copy_(start).index_add_(0, dst, gathered)
        sweeps += 1
        if torch.equal(new, sigma):
            break
        sigma, new = new, sigma
    return sigma, sweeps


def _dense_bfs_betweenness(edges: Tensor) -> Tensor:
    """Raw betweenness of binary ``(B, N, N)`` graphs: breadth-first levels by matrix products."""
    batch, n, _ = edges.shape
    adj = edges.to(torch.float64)  # adj[v, u]: edge u -> v
    adj_t = adj.transpose(-1, -2)
    out = torch.zeros(batch, n, dtype=torch.float64, device=edges.device)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // (batch * n)))
    # (B, N, C) buffers, column k for source first + k, reused across levels and chunks
    frontier, reach, sigma, delta = (
        torch.empty(batch, n, chunk, dtype=torch.float64, device=edges.device) for _ in range(4)
    )
    level = torch.empty(batch, n, chunk, dtype=torch.int32, device=edges.device)
    for first in range(0, n, chunk):
        c = min(n, first + chunk) - first
        sources = torch.arange(first, first + c, device=edges.device)
        columns = torch.arange(c, device=edges.device)
        f, r, s, d, lv = frontier[..., :c], reach[..., :c], sigma[..., :c], delta[..., :c], level[..., :c]
        f.zero_()[:, sources, columns] = 1
        s.copy_(f)
        lv.fill_(-1)[:, sources, columns] = 0
        depth = 0
        while True:  # level-synchronous BFS: numbers of shortest paths to the next level
            torch.matmul(adj, f, out=r)
            new = r.masked_fill_(lv >= 0, 0) > 0  # r: path counts to the unvisited nodes reached
            if not bool(new.any()):
                break
            depth += 1
            s.add_(r)
            lv.masked_fill_(new, depth)
            f, r = r, f
        d.zero_()
        for k in range(depth, 0, -1):  # dependencies, deepest level first
            torch.add(d, 1, out=f).div_(s).masked_fill_(lv != k, 0)  # (1 + delta_v) / sigma_v
            torch.matmul(adj_t, f, out=r)
            d.add_(r.mul_(s).masked_fill_(lv != k - 1, 0))
        d[:, sources, columns] = 0
        out += d.sum(-1)
    return out
