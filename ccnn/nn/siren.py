r"""SIREN: a coordinate network with sine activations (Sitzmann et al., NeurIPS 2020).

.. math:: h_1 = \sin(\omega_0 (W_1 u + b_1)),\quad h_{l+1} = \sin(\omega_0 (W_{l+1} h_l + b_{l+1})),
    \quad f(u) = W_{L+1} h_L + b_{L+1}

The dynamics GNN uses it as the hidden external stimulus :math:`\Omega^*_i(t) = f(x_i, y_i, t)`
of neurons with positions (Allier et al. 2026: 5 sine layers of 128 units, ω₀ = 30).
Initialisation follows Sitzmann et al.: first layer U(−1/n, 1/n), later layers
U(−√(6/n)/ω₀, √(6/n)/ω₀) for fan-in n, which keeps activations well spread at any depth.

Shapes: (..., in_features) → (..., out_features).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

__all__ = ["SIREN"]


class SIREN(nn.Module):
    """Sine-activated MLP (see the module docstring).

    Args:
        in_features, out_features: sizes of the coordinates and of the output.
        hidden: width of each sine layer.
        layers: number of sine layers.
        omega0: frequency factor ω₀.
        output_bias: initial bias of the final linear layer (e.g. 1 for a multiplicative
            stimulus that starts at Ω = 1).
    """

    def __init__(
        self,
        in_features: int = 3,
        out_features: int = 1,
        *,
        hidden: int = 128,
        layers: int = 5,
        omega0: float = 30.0,
        output_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError(f"layers, hidden: expected positive ints, got {layers}, {hidden}")
        self.omega0, self.output_bias = omega0, output_bias
        sizes = [in_features, *([hidden] * layers)]
        self.sine_layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.output = nn.Linear(hidden, out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for index, layer in enumerate(self.sine_layers):
            fan_in = layer.in_features
            bound = 1 / fan_in if index == 0 else math.sqrt(6 / fan_in) / self.omega0
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.uniform_(layer.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        bound = math.sqrt(6 / self.output.in_features) / self.omega0
        nn.init.uniform_(self.output.weight, -bound, bound)
        nn.init.constant_(self.output.bias, self.output_bias)

    def forward(self, coordinates: Tensor) -> Tensor:
        h = coordinates
        for layer in self.sine_layers:
            h = torch.sin(self.omega0 * layer(h))
        return self.output(h)

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}, layers={len(self.sine_layers)}"
