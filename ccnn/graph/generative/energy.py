r"""The energy of a generative network model: how far synthetic networks are from a target.

Betzel et al. ("Generative models of the human connectome", NeuroImage 2016) compare a
synthetic network with the observed one by four distributions: node degree, node clustering
coefficient, node betweenness centrality and edge length (the distance D of each edge). The
energy is the largest of their two-sample Kolmogorov–Smirnov statistics,

.. math:: E = \max(KS_k,\, KS_c,\, KS_b,\, KS_e), \qquad
          KS = \sup_x |F_{\text{synthetic}}(x) - F_{\text{target}}(x)|,

with F the empirical cumulative distribution functions; E = 0 when all four distributions are
equal, 1 at worst. Akarca et al. (Nat. Commun. 2021) use the same energy.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, describe
from ccnn.graph.betweenness import betweenness
from ccnn.graph.generative.rules import F64, check_binary_graph, check_distances
from ccnn.graph.metrics import clustering, degree

__all__ = ["KS_STATISTICS", "generative_energy", "ks_statistic"]

#: The four distributions of the energy, in the order of ``generative_energy(components=True)``.
KS_STATISTICS = ("degree", "clustering", "betweenness", "edge_length")


def _samples(values: Any, mask: Any, name: str) -> tuple[Tensor, Tensor]:
    tensor = as_tensor(values, name)
    if tensor.is_complex() or tensor.dim() < 1:
        raise ValueError(f"{name}: expected real samples of shape (..., n), got {describe(values)}")
    check_finite(tensor, name)
    if mask is None:
        return tensor.to(F64), torch.ones(tensor.shape, dtype=torch.bool, device=tensor.device)
    keep = as_tensor(mask, f"{name}_mask").to(device=tensor.device, dtype=torch.bool)
    try:
        tensor, keep = torch.broadcast_tensors(tensor, keep)
    except RuntimeError as err:
        raise ValueError(
            f"{name}_mask: expected a mask of the shape of {name} {tuple(tensor.shape)}, "
            f"got {tuple(keep.shape)}"
        ) from err
    return tensor.to(F64), keep


def ks_statistic(x: Any, y: Any, *, x_mask: Any = None, y_mask: Any = None) -> Tensor:
    r"""Two-sample Kolmogorov–Smirnov statistic :math:`\sup_z |F_x(z) - F_y(z)|`, batched.

    The empirical CDFs are evaluated at every sample of both sets (right-continuous, so ties
    count as in :func:`scipy.stats.ks_2samp`).

    Args:
        x: ``(..., n)`` samples; leading dimensions are a batch, broadcast with ``y``'s.
        y: ``(..., m)`` samples.
        x_mask, y_mask: optional bool masks of ``x`` / ``y``'s shape: only True entries are
            samples (samples of different sizes in one batch).

    Returns:
        ``(...)`` float64; NaN where a sample is empty.
    """
    x, x_keep = _samples(x, x_mask, "x")
    y, y_keep = _samples(y, y_mask, "y")
    batch = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    x, x_keep = x.expand(*batch, x.shape[-1]), x_keep.expand(*batch, x.shape[-1])
    y, y_keep = y.expand(*batch, y.shape[-1]), y_keep.expand(*batch, y.shape[-1])
    # padding sorts last as +inf and is never <= a sample
    xs = x.masked_fill(~x_keep, math.inf).sort(-1).values.contiguous()
    ys = y.to(x.device).masked_fill(~y_keep.to(x.device), math.inf).sort(-1).values.contiguous()
    n_x = x_keep.sum(-1, keepdim=True).to(F64)
    n_y = y_keep.to(x.device).sum(-1, keepdim=True).to(F64)
    points = torch.cat([xs, ys], -1)
    cdf_x = torch.searchsorted(xs, points, right=True) / n_x.clamp(min=1)
    cdf_y = torch.searchsorted(ys, points, right=True) / n_y.clamp(min=1)
    gap = torch.where(torch.isfinite(points), (cdf_x - cdf_y).abs(), 0).amax(-1)
    return torch.where((n_x[..., 0] > 0) & (n_y[..., 0] > 0), gap, math.nan)


def generative_energy(synthetic: Any, target: Any, distances: Any, *, components: bool = False) -> Tensor:
    r"""Energy of synthetic networks against a target (module docstring; Betzel et al. 2016).

    Degree, binary clustering (:func:`~ccnn.graph.clustering` with ``weighted=False``; 0 for
    nodes of degree < 2) and binary betweenness (:func:`~ccnn.graph.betweenness.betweenness`,
    ``length="binary"``) per node; edge length: the ``distances`` of the edges (each undirected
    edge once).

    Args:
        synthetic: ``(N, N)`` or ``(P, N, N)`` symmetric graphs (non-zero = edge).
        target: ``(N, N)`` symmetric graph (non-zero = edge; weights are ignored).
        distances: ``(N, N)`` symmetric distances between the nodes.
        components: return the four KS statistics instead of their maximum.

    Returns:
        ``()`` or ``(P,)`` float64 energies in [0, 1], or with ``components=True``
        ``(4,)`` / ``(P, 4)`` in the order of :data:`KS_STATISTICS`. A graph with no edges
        has an empty edge-length sample: NaN.
    """
    dist = as_tensor(distances, "distances")
    check_distances(dist)
    n = dist.shape[-1]
    device = dist.device
    graphs = check_binary_graph(synthetic, "synthetic", n, device)
    observed = check_binary_graph(target, "target", n, device)
    if observed.dim() != 2:
        raise ValueError(f"target: expected one graph (N, N), got shape {tuple(observed.shape)}")
    both = torch.cat([graphs.reshape(-1, n, n), observed[None]]).to(F64)
    k = degree(both, "undirected")
    c = clustering(both, directed=False, weighted=False)
    b = betweenness(both, length="binary")
    upper = torch.ones(n, n, dtype=torch.bool, device=device).triu(1)
    lengths = dist.to(F64)[upper]
    edge_mask = both[:, upper] != 0
    statistics = torch.stack(
        [
            ks_statistic(k[:-1], k[-1]),
            ks_statistic(c[:-1], c[-1]),
            ks_statistic(b[:-1], b[-1]),
            ks_statistic(lengths, lengths, x_mask=edge_mask[:-1], y_mask=edge_mask[-1]),
        ],
        -1,
    )
    out = statistics if components else statistics.amax(-1)
    return out.reshape((*graphs.shape[:-2], *out.shape[1:]))
