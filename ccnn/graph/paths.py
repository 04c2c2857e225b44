r"""Shortest paths and efficiency, batched (Floyd–Warshall in torch).

Orientation as everywhere in ccnn: ``adjacency[..., i, j]`` is the edge from node j to node i,
and so is ``distances[..., i, j]``: the length of the shortest path **from j to i**.

Weights become lengths by a stated rule (``length=``): ``"inverse"`` (:math:`\ell_{ij} =
1/|w_{ij}|`, strong connections are short: Rubinov & Sporns 2010), ``"negative_log"``
(:math:`-\log(|w_{ij}| / \max|w|)`, with the maximum weight mapped to length 0; Goñi et al.
2014), or ``"binary"`` (every edge has length 1, hop counts). Self-connections are ignored.

* :func:`shortest_paths`: all-pairs shortest path lengths, :math:`\infty` where j cannot reach i.
* :func:`characteristic_path_length` (Watts & Strogatz 1998): the mean of the finite
  off-diagonal distances.
* :func:`global_efficiency` (Latora & Marchiori 2001):
  :math:`E = \frac{1}{N(N-1)} \sum_{i \ne j} 1/d_{ij}` (unreachable pairs count 0).
* :func:`local_efficiency` (Latora & Marchiori 2001): per node, the global efficiency of the
  subgraph of its neighbours (the node removed), as networkx defines it for undirected graphs;
  the graph is symmetrised first and, by default, binarised.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from ccnn._validation import check_choice
from ccnn.graph._adjacency import check_adjacency, working_dtype

__all__ = ["LENGTHS", "characteristic_path_length", "global_efficiency", "local_efficiency", "shortest_paths"]

#: Values of ``length=``.
LENGTHS = ("inverse", "negative_log", "binary")


def _lengths(adjacency: Any, length: str) -> Tensor:
    check_choice(length, "length", LENGTHS)
    adj = check_adjacency(adjacency)
    adj = adj.abs().to(working_dtype(adj))
    n = adj.shape[-1]
    edge = adj != 0
    edge &= ~torch.eye(n, dtype=torch.bool, device=adj.device)
    if length == "binary":
        values = torch.ones_like(adj)
    elif length == "inverse":
        values = 1.0 / torch.where(edge, adj, torch.ones_like(adj))
    else:
        peak = adj.amax((-1, -2), keepdim=True).clamp(min=torch.finfo(adj.dtype).tiny)
        values = -torch.log(torch.where(edge, adj, peak) / peak)
    lengths = torch.where(edge, values, torch.full_like(adj, math.inf))
    return lengths.diagonal_scatter(
        torch.zeros(adj.shape[:-1], dtype=adj.dtype, device=adj.device), dim1=-2, dim2=-1
    )


def shortest_paths(
    adjacency: Any, *, length: Literal["inverse", "negative_log", "binary"] = "inverse"
) -> Tensor:
    """All-pairs shortest path lengths ``(N, N)`` or ``(B, N, N)``; ``[i, j]`` is from j to i.

    Floyd–Warshall: N rounds of :math:`d_{ij} \\leftarrow \\min(d_{ij}, d_{ik} + d_{kj})`, each
    one batched tensor operation (O(N³) work, O(N²) memory per graph).
    """
    distances = _lengths(adjacency, length)
    for k in range(distances.shape[-1]):
        # path j -> k -> i: d[i, k] (k to i) + d[k, j] (j to k)
        distances = torch.minimum(distances, distances[..., :, k, None] + distances[..., None, k, :])
    return distances


def _off_diagonal_mean(values: Tensor, keep: Tensor) -> Tensor:
    count = keep.sum((-1, -2))
    total = torch.where(keep, values, torch.zeros_like(values)).sum((-1, -2))
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


def characteristic_path_length(adjacency: Any, *, length: str = "inverse") -> Tensor:
    """Mean finite shortest-path length over ordered pairs i ≠ j, ``()`` or ``(B,)`` (NaN when
    no pair is connected)."""
    distances = shortest_paths(adjacency, length=length)
    n = distances.shape[-1]
    off = ~torch.eye(n, dtype=torch.bool, device=distances.device)
    return _off_diagonal_mean(distances, off & torch.isfinite(distances))


def global_efficiency(adjacency: Any, *, length: str = "inverse") -> Tensor:
    """Mean inverse shortest-path length over ordered pairs i ≠ j, ``()`` or ``(B,)``."""
    distances = shortest_paths(adjacency, length=length)
    n = distances.shape[-1]
    if n < 2:
        return torch.zeros(distances.shape[:-2], dtype=distances.dtype, device=distances.device)
    off = ~torch.eye(n, dtype=torch.bool, device=distances.device)
    inverse = torch.where(off, 1.0 / distances, torch.zeros_like(distances))  # 1/inf = 0
    return inverse.sum((-1, -2)) / (n * (n - 1))


def local_efficiency(adjacency: Any, *, weighted: bool = False, length: str = "inverse") -> Tensor:
    """Per node, the global efficiency of the subgraph induced by its neighbours in the
    symmetrised graph, ``(N,)`` or ``(B, N)``; nodes with fewer than two neighbours get 0.
    ``weighted=False`` (default) uses hop counts, as networkx's ``local_efficiency``."""
    adj = check_adjacency(adjacency)
    adj = adj.abs().to(working_dtype(adj))
    symmetric = torch.maximum(adj, adj.transpose(-1, -2))
    n = symmetric.shape[-1]
    symmetric = symmetric.masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    batch = symmetric.reshape(-1, n, n)
    out = torch.zeros(batch.shape[:2], dtype=symmetric.dtype, device=symmetric.device)
    for b, graph in enumerate(batch):
        neighbours = graph != 0
        for i in range(n):
            members = neighbours[i].nonzero().squeeze(-1)
            if members.numel() < 2:
                continue
            sub = graph[members][:, members]
            out[b, i] = global_efficiency(sub, length=length if weighted else "binary")
    return out.reshape(symmetric.shape[:-1])
