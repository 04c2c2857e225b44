"""Plain L1 sparsity penalty."""

from __future__ import annotations

from torch import Tensor

from ccnn.nn.regularizers._base import WiringCost


class L1(WiringCost):
    r"""Sparsity penalty :math:`\sum_{ij} |W_{ij}|` (no spatial term).

    Called on a module, it sums over all of its :class:`ConnectomeLinear` layers.

    Shapes:
        weight (n_out, n_in) → scalar.
    """

    needs_distances = False

    def __init__(self) -> None:
        super().__init__()

    def layer_cost(self, weight: Tensor, distances: Tensor | None) -> Tensor:
        return weight.abs().sum()
