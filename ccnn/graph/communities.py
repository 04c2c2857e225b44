r"""Modularity of a partition, batched.

Newman 2006 ("Modularity and community structure in networks") for undirected graphs and its
directed form by Leicht & Newman 2008 ("Community structure in directed networks"). With
:math:`M = \sum_{ij} w_{ij}` (self-connections removed), in- and out-strengths
:math:`s^{in}_i = \sum_j w_{ij}` and :math:`s^{out}_j = \sum_i w_{ij}`, and resolution
:math:`\gamma`,

.. math::
    Q = \frac{1}{M} \sum_{ij} \Big[w_{ij} - \gamma\,\frac{s^{in}_i\, s^{out}_j}{M}\Big]\,
        \delta(c_i, c_j).

For a symmetric matrix :math:`M = 2m` and :math:`s^{in} = s^{out} = k`, which is Newman's
undirected :math:`Q`: one formula serves both (networkx's ``community.modularity``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_real
from ccnn.graph._adjacency import check_adjacency

__all__ = ["modularity"]


def modularity(adjacency: Any, communities: Any, *, resolution: float = 1.0) -> Tensor:
    """Modularity :math:`Q` of ``communities`` (an ``(N,)`` or ``(B, N)`` integer label tensor)
    on ``adjacency`` ``(N, N)`` or ``(B, N, N)`` (module docstring); ``()`` or ``(B,)``."""
    adj = check_adjacency(adjacency)
    adj = adj.to(torch.float64 if adj.dtype == torch.float64 else torch.get_default_dtype())
    n = adj.shape[-1]
    adj = adj.masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    check_real(resolution, "resolution", positive=True)
    labels = as_tensor(communities, "communities")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"communities: expected integer labels, got dtype {labels.dtype}")
    if (
        labels.shape[-1:] != (n,)
        or labels.dim() > adj.dim() - 1
        or (labels.dim() == 2 and adj.dim() == 3 and labels.shape[0] != adj.shape[0])
    ):
        raise ValueError(
            f"communities: expected one label per node, shape ({n},) or (B, {n}), got {tuple(labels.shape)}"
        )
    labels = labels.to(adj.device).long()
    labels = labels - labels.min()
    one_hot = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).to(adj.dtype)  # (..., N, K)
    if one_hot.dim() < adj.dim():
        one_hot = one_hot.expand(*adj.shape[:-2], n, one_hot.shape[-1])
    total = adj.sum((-1, -2))
    within = (one_hot.transpose(-1, -2) @ adj @ one_hot).diagonal(dim1=-2, dim2=-1).sum(-1)
    s_in = (adj.sum(-1, keepdim=True) * one_hot).sum(-2)  # (..., K)
    s_out = (adj.sum(-2)[..., None] * one_hot).sum(-2)
    expected = (s_in * s_out).sum(-1) / torch.where(total != 0, total, torch.ones_like(total))
    q = (within - resolution * expected) / torch.where(total != 0, total, torch.ones_like(total))
    return torch.where(total != 0, q, torch.zeros_like(q))
