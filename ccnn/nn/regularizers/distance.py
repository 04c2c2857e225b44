"""Distance-weighted L1 wiring cost."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from ccnn.nn.regularizers._base import Metric, WiringCost


class DistanceWiringCost(WiringCost):
    r"""Wiring cost that grows with connection strength and length.

    .. math::
        \mathcal{L} = \sum_{ij} |W_{ij}|^p \, (D_{ij} + \ell_0)

    with :math:`D` the distance between postsynaptic unit :math:`i` and presynaptic unit
    :math:`j`. With ``metric="manhattan"``, ``p=1``, ``offset`` :math:`= \ell_0/A` and
    ``reduction="mean"`` (weight :math:`\lambda A`) it is the BIMT cost
    :math:`\lambda\,\mathrm{mean}(|W_{ij}|(A\|x_i - x_j\|_1 + \ell_0))` of Liu, Gan & Tegmark,
    "Seeing is believing: brain-inspired modular training" (2023).

    Args:
        distances: (n_out, n_in) distances, needed when called on a weight tensor.
        p: exponent of :math:`|W|` (1: L1, 2: squared).
        offset: constant :math:`\ell_0` added to every distance (a cost per connection).
        normalize: divide distances by their maximum, making the cost unit-free.
        reduction: ``"sum"`` or ``"mean"`` over the entries.
        metric: distance between attached unit positions when called on a module.

    Shapes:
        weight (n_out, n_in) → scalar.
    """

    def __init__(
        self,
        distances: Any = None,
        *,
        p: float = 1.0,
        offset: float = 0.0,
        normalize: bool = False,
        reduction: Literal["sum", "mean"] = "sum",
        metric: Metric = "euclidean",
    ) -> None:
        super().__init__(distances, metric=metric)
        if not p > 0:
            raise ValueError(f"p: expected a positive exponent, got {p}")
        if not offset >= 0:
            raise ValueError(f"offset: expected a non-negative value, got {offset}")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")
        self.p, self.offset, self.normalize, self.reduction = float(p), float(offset), normalize, reduction

    def layer_cost(self, weight: Tensor, distances: Tensor | None) -> Tensor:
        assert distances is not None
        distances = distances.to(weight.dtype)
        if self.normalize:
            distances = distances / distances.max().clamp(min=1e-12)
        magnitude = weight.abs() if self.p == 1 else weight.abs().pow(self.p)
        cost = magnitude * (distances + self.offset)
        return cost.sum() if self.reduction == "sum" else cost.mean()

    def extra_repr(self) -> str:
        return (
            f"p={self.p:g}, offset={self.offset:g}, normalize={self.normalize}, "
            f"reduction={self.reduction}, metric={self.metric}"
        )
