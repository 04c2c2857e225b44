r"""Neuron types from learned functions: hierarchical clustering of function profiles.

As in Allier et al. (2026), each neuron is described by its learned function sampled on a
grid, :math:`(\varphi(x_1, a_i), \dots, \varphi(x_G, a_i))` (and its ψ when ψ depends on the
sender), rather than by its latent vector, whose coordinates have no fixed scale. Profiles
are divided by their overall RMS so that distances are relative to a typical profile's size,
and clustered by average linkage (:func:`scipy.cluster.hierarchy.linkage`). The tree is
cut at a given relative distance ``threshold`` or, by default, in the widest gap between
successive merge heights (on a log scale): neurons of one type differ by fitting noise,
neurons of different types by far more, even when, as for φ = −c·x + s·tanh(x) over a
wide range of x, types differing in s differ by only a few percent of φ's size.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from torch import Tensor

from ccnn._validation import check_shape

__all__ = ["cluster_medians", "cluster_profiles"]


def _gap_threshold(heights: np.ndarray, min_separation: float) -> float:
    """Cut height in the largest ratio between successive merge heights above ``min_separation``."""
    heights = np.sort(heights)
    if heights[-1] <= min_separation:
        return float(heights[-1]) * 2 + 1e-300  # one cluster: nothing stands out
    floor = np.maximum(heights, 1e-12)
    ratios = floor[1:] / floor[:-1]
    ratios[heights[1:] <= min_separation] = 0
    k = int(np.argmax(ratios))
    return float(np.sqrt(floor[k] * floor[k + 1]))


def cluster_profiles(
    profiles: Tensor, threshold: float | None = None, min_separation: float = 1e-3
) -> Tensor:
    """Cluster labels 0..C-1 (ordered by first appearance) for (N, G) profiles.

    ``threshold``: relative distance at which to cut; ``None`` cuts in the widest gap of
    merge heights, counting only merges above ``min_separation`` as possible type
    boundaries (so that one type is not split by noise).

    Example:
        >>> grid = torch.linspace(-3, 3, 50)
        >>> profiles = torch.stack([grid, grid + 1e-4, torch.tanh(grid), torch.tanh(grid)])
        >>> cluster_profiles(profiles).tolist()
        [0, 0, 1, 1]
    """
    check_shape(profiles, (None, None), "profiles", meaning="(neurons, grid points)")
    if threshold is not None and not threshold > 0:
        raise ValueError(f"threshold: expected a positive relative distance or None, got {threshold}")
    values = profiles.detach().double().cpu()
    if values.shape[0] == 1:
        return torch.zeros(1, dtype=torch.long)
    scale = values.pow(2).mean().sqrt().clamp_min(1e-300)
    normalised = (values / scale / values.shape[1] ** 0.5).numpy()  # RMS distance per grid point
    tree = linkage(normalised, method="average")
    cut = _gap_threshold(tree[:, 2], min_separation) if threshold is None else threshold
    labels = fcluster(tree, t=cut, criterion="distance")
    _, first = np.unique(labels, return_index=True)
    order = {label: rank for rank, label in enumerate(labels[np.sort(first)])}
    return torch.tensor([order[label] for label in labels], dtype=torch.long)


def cluster_medians(values: Tensor, labels: Tensor) -> Tensor:
    """Replace each row of ``values`` by the median of its cluster (the paper's type snap)."""
    out = values.clone()
    for label in labels.unique():
        rows = labels == label
        out[rows] = values[rows].median(0).values
    return out
