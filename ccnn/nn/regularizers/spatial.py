"""Wiring cost with learnable unit positions (spatial networks)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ccnn.nn.connectome_linear import ConnectomeLinear
from ccnn.nn.regularizers._base import WiringCost


def pairwise_distances(positions: Tensor) -> Tensor:
    """Euclidean distances with a zero, gradient-safe diagonal.

    ``sqrt`` has an infinite derivative at 0, so the diagonal is replaced before the root
    rather than masked after it (which would still send NaN gradients back).
    """
    squared = (positions[:, None, :] - positions[None, :, :]).pow(2).sum(-1)
    eye = torch.eye(positions.shape[0], dtype=torch.bool, device=positions.device)
    return torch.where(eye, 1.0, squared).sqrt().masked_fill(eye, 0.0)


class SpatialWiringCost(WiringCost):
    r"""Learnable unit positions with a transport and a proximity term (Wołczyk et al. 2019).

    .. math::
        \mathcal{L} = \beta \, \frac{1}{n^2} \sum_{ij} |W_{ij}| \, \|p_i - p_j\|
        \;+\; \alpha \, \frac{1}{n(n-1)} \sum_{i \ne j} e^{-\|p_i - p_j\|}

    The transport term pulls strongly connected units together; the proximity term keeps
    units from collapsing onto one point. Optimise :attr:`positions` jointly with the
    network (they are a parameter of this module, so include it in the optimiser).

    Args:
        n_units: number of units (the weight must be (n_units, n_units)).
        dim: dimension of the space.
        transport_weight: :math:`\beta`.
        proximity_weight: :math:`\alpha`.
        generator: for the initial positions, uniform in :math:`[0, 1]^{dim}`.

    Shapes:
        weight (n_units, n_units) → scalar; :attr:`positions` (n_units, dim).
    """

    needs_distances = False

    def __init__(
        self,
        n_units: int,
        dim: int = 2,
        *,
        transport_weight: float = 1.0,
        proximity_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not (isinstance(n_units, int) and n_units >= 2):
            raise ValueError(f"n_units: expected an int >= 2, got {n_units!r}")
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"dim: expected a positive int, got {dim!r}")
        if transport_weight < 0 or proximity_weight < 0:
            raise ValueError(
                "transport_weight, proximity_weight: expected non-negative values, "
                f"got {transport_weight}, {proximity_weight}"
            )
        self.n_units, self.dim = n_units, dim
        self.transport_weight, self.proximity_weight = float(transport_weight), float(proximity_weight)
        self.positions = nn.Parameter(torch.rand(n_units, dim, generator=generator))

    def accepts(self, layer: ConnectomeLinear) -> bool:
        return layer.in_features == layer.out_features == self.n_units

    def layer_cost(self, weight: Tensor, distances: Tensor | None) -> Tensor:
        n = self.n_units
        if weight.shape != (n, n):
            raise ValueError(
                f"weight: expected shape ({n}, {n}) (n_units, n_units), got {tuple(weight.shape)}"
            )
        dist = pairwise_distances(self.positions.to(weight.dtype))
        transport = (weight.abs() * dist).mean()
        off_diagonal = ~torch.eye(n, dtype=torch.bool, device=dist.device)
        proximity = torch.exp(-dist[off_diagonal]).mean()
        return self.transport_weight * transport + self.proximity_weight * proximity

    def extra_repr(self) -> str:
        return (
            f"n_units={self.n_units}, dim={self.dim}, transport_weight={self.transport_weight:g}, "
            f"proximity_weight={self.proximity_weight:g}"
        )
