"""Communicability-weighted wiring cost of spatially embedded RNNs (seRNN)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ccnn.graph.communication import communicability
from ccnn.nn.connectome_linear import ConnectomeLinear
from ccnn.nn.regularizers._base import Metric, WiringCost


def weighted_communicability(weight: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Weighted communicability :math:`C = \exp(S^{-1/2} |W| S^{-1/2})` with a zero diagonal.

    :math:`S = \mathrm{diag}(s)`, :math:`s_i = \sum_j |W_{ij}|` the strength of unit
    :math:`i` (Crofts & Higham, J. R. Soc. Interface 2009). :math:`C_{ij}` counts walks of every
    length from :math:`j` to :math:`i`, longer walks discounted by :math:`1/k!`. ``eps``
    keeps units without connections finite. This is
    :func:`ccnn.graph.communication.communicability` with the diagonal set to 0.
    """
    off_diagonal = 1 - torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device)
    return communicability(weight, eps=eps) * off_diagonal


class CommunicabilityWiringCost(WiringCost):
    r"""Wiring cost of spatially embedded RNNs (Achterberg, Akarca et al., Nat. Mach. Intell. 2023).

    .. math::
        \mathcal{L} = \sum_{ij} |W_{ij}| \, D_{ij} \, C_{ij}, \qquad
        C = \exp\!\big(S^{-1/2} |W| S^{-1/2}\big),\ \mathrm{diag}(C) = 0

    Long connections cost more, and more so between units that already communicate well
    through other paths, which prunes redundant long-range wiring and yields sparse,
    modular, small-world networks at a suitable weight λ (0.05–0.5 in the paper).

    Args:
        distances: (n, n) distances, needed when called on a weight tensor.
        detach_communicability: treat :math:`C` as a constant in the backward pass (cheaper,
            the gradient is then :math:`\mathrm{sign}(W) D C`).
        metric: distance between attached unit positions when called on a module.

    Shapes:
        weight (n, n) (recurrent, square) → scalar.
    """

    def __init__(
        self, distances: Any = None, *, detach_communicability: bool = False, metric: Metric = "euclidean"
    ) -> None:
        super().__init__(distances, metric=metric)
        if self.distances is not None and self.distances.shape[0] != self.distances.shape[1]:
            raise ValueError(
                f"distances: expected a square (n, n) matrix, got shape {tuple(self.distances.shape)}"
            )
        self.detach_communicability = detach_communicability

    def accepts(self, layer: ConnectomeLinear) -> bool:
        return layer.has_positions and layer.in_features == layer.out_features

    def layer_cost(self, weight: Tensor, distances: Tensor | None) -> Tensor:
        assert distances is not None
        if weight.shape[0] != weight.shape[1]:
            raise ValueError(
                f"weight: expected a square (n, n) recurrent matrix, got shape {tuple(weight.shape)}"
            )
        communicability = weighted_communicability(weight.detach() if self.detach_communicability else weight)
        return (weight.abs() * distances.to(weight.dtype) * communicability).sum()

    def extra_repr(self) -> str:
        return f"detach_communicability={self.detach_communicability}, metric={self.metric}"
