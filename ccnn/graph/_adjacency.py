"""The one input check of ccnn.graph: a dense adjacency, one graph or a batch."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, describe

__all__ = ["as_floating", "check_adjacency", "working_dtype"]


def check_adjacency(adjacency: Any) -> Tensor:
    """``adjacency`` as a tensor: a square (N, N) or batched (B, N, N), finite, real, N >= 1."""
    adj = as_tensor(adjacency, "adjacency")
    if adj.is_complex():
        raise TypeError(f"adjacency: expected a real (float, int or bool) tensor, got {describe(adjacency)}")
    if adj.dim() not in (2, 3) or adj.shape[-1] != adj.shape[-2]:
        raise ValueError(
            f"adjacency: expected a square matrix of shape (N, N) or a batch (B, N, N), "
            f"got shape {tuple(adj.shape)}"
        )
    if adj.shape[-1] == 0:
        raise ValueError(f"adjacency: expected at least one node (N >= 1), got shape {tuple(adj.shape)}")
    check_finite(adj, "adjacency")
    return adj


def working_dtype(adjacency: Tensor) -> torch.dtype:
    """The dtype measures are computed and returned in: float64 stays float64, anything else
    (float32, ints, bools) uses the default dtype."""
    return torch.float64 if adjacency.dtype == torch.float64 else torch.get_default_dtype()


def as_floating(adjacency: Tensor) -> Tensor:
    """A floating-point tensor: float dtypes stay as they are, ints and bools take the default dtype."""
    return adjacency if adjacency.is_floating_point() else adjacency.to(torch.get_default_dtype())
