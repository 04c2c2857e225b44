r"""Rich-club coefficient, unweighted, batched, optionally normalised by degree-preserving nulls.

Colizza, Flammini, Serrano & Vespignani 2006 ("Detecting rich-club ordering in complex
networks", Nature Physics). With :math:`N_{>k}` the number of nodes of degree greater than k
and :math:`E_{>k}` the number of edges among them,

.. math:: \phi(k) = \frac{2 E_{>k}}{N_{>k} (N_{>k} - 1)}

for an undirected graph (a symmetric matrix), as networkx's ``rich_club_coefficient``. For a
directed graph the degree is the total degree :math:`k^{in} + k^{out}` and the directed edges
among the rich nodes are counted against the :math:`N_{>k}(N_{>k}-1)` ordered pairs,
:math:`\phi(k) = E_{>k} / (N_{>k}(N_{>k}-1))` (the convention of the Brain Connectivity
Toolbox's directed rich club). An edge is a non-zero off-diagonal entry; weights are ignored.

The normalised coefficient divides by the mean over degree-preserving nulls
(:func:`~ccnn.graph.nulls.randomise_preserving_degree`), :math:`\rho(k) = \phi(k) /
\langle \phi_{null}(k) \rangle`; :math:`\rho > 1` marks rich-club ordering beyond what the
degrees alone produce.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ccnn._validation import check_int, describe
from ccnn.graph._adjacency import check_adjacency, working_dtype
from ccnn.graph.nulls import randomise_preserving_degree

__all__ = ["rich_club"]


def _coefficients(binary: Tensor, directed: bool, size: int, dtype: torch.dtype) -> Tensor:
    """phi(k) for k = 0..size-1 of a boolean batch ``(G, N, N)``, NaN where N_{>k} < 2."""
    deg = binary.sum(-1) + binary.sum(-2)  # total degree; twice the degree if undirected
    if not directed:
        deg = deg // 2
    # every edge (i, j) lies among the rich nodes of every k < min(k_i, k_j)
    g, i, j = binary.nonzero(as_tuple=True)
    low = torch.minimum(deg[g, i], deg[g, j]).clamp(max=size)
    per_min = torch.zeros(binary.shape[0] * (size + 1), dtype=torch.long, device=binary.device)
    per_min = per_min.scatter_add_(0, g * (size + 1) + low, torch.ones_like(low)).view(-1, size + 1)
    per_deg = torch.zeros_like(per_min).scatter_add_(1, deg.clamp(max=size), torch.ones_like(deg))

    def above(hist: Tensor) -> Tensor:  # [k] -> count of entries with value > k, k = 0..size-1
        return hist.flip(-1).cumsum(-1).flip(-1)[:, 1:]

    edges, nodes = above(per_min).to(dtype), above(per_deg).to(dtype)
    if not directed:
        edges = edges / 2  # each undirected edge is two entries of the matrix
    pairs = nodes * (nodes - 1) / (1 if directed else 2)
    phi = edges / pairs.clamp(min=1)
    return torch.where(nodes >= 2, phi, torch.full_like(phi, math.nan))


def rich_club(
    adjacency: Any,
    *,
    normalized: bool = False,
    n_nulls: int = 100,
    n_swaps: int | None = None,
    seed: int | None = 0,
    directed: bool | None = None,
) -> Tensor:
    r"""Rich-club coefficient :math:`\phi(k)` (module docstring), ``(K,)`` or ``(B, K)``.

    Args:
        adjacency: ``(N, N)`` or ``(B, N, N)``; edges are the non-zero off-diagonal entries.
        normalized: divide by the mean coefficient of ``n_nulls`` degree-preserving nulls
            (``n_swaps`` proposed swaps per edge, ``seed``: see
            :func:`~ccnn.graph.nulls.randomise_preserving_degree`).
        directed: total degree and ordered pairs (module docstring); default: directed unless
            the matrix is symmetric (a batch is directed if any of its graphs is not symmetric).

    Returns:
        ``phi[..., k]`` for k = 0..K-1, K = 1 + the largest degree in the batch. Entries where
        fewer than two nodes have degree > k (networkx leaves these k out) are NaN, so a batch
        is padded with NaN beyond each graph's own largest degree. Normalised: NaN there too,
        and NaN (or inf) where the nulls' mean is 0 (and :math:`\phi` is 0 or not).
    """
    adj = check_adjacency(adjacency)
    if not isinstance(normalized, bool):
        raise TypeError(f"normalized: expected True or False, got {describe(normalized)}")
    n = adj.shape[-1]
    binary = (adj != 0) & ~torch.eye(n, dtype=torch.bool, device=adj.device)
    symmetric = torch.equal(binary, binary.transpose(-1, -2))
    if directed is None:
        directed = not symmetric
    elif not directed and not symmetric:
        raise ValueError("directed: got False, but adjacency is not symmetric (expected a symmetric matrix)")
    dtype = working_dtype(adj)
    batch = binary.reshape(-1, n, n)
    deg = batch.sum(-1) + batch.sum(-2)
    size = int(deg.max()) // (1 if directed else 2) + 1
    phi = _coefficients(batch, directed, size, dtype)
    if normalized:
        k = check_int(n_nulls, "n_nulls", minimum=1)
        nulls = randomise_preserving_degree(batch, n_nulls=k, n_swaps=n_swaps, seed=seed, directed=directed)
        null_phi = _coefficients(nulls.reshape(-1, n, n), directed, size, dtype)
        phi = phi / null_phi.reshape(-1, k, size).mean(1)  # same degrees: NaN at the same k
    return phi.reshape(*adj.shape[:-2], size)
