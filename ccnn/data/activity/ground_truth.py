"""The true functions and connectivity of a simulated recording, for evaluation.

The simulator (:func:`ccnn.data.simulate_assembly`) integrates

    dx_i/dt = -c_i x_i + s_i tanh(x_i) + g_i Ω_i(t) Σ_j W_ij ψ_ij(x_j)

and stores (g, s, c) per neuron, W and the transfer function ψ in the recording. The
learned model absorbs g into W and ψ is identifiable only up to scale, so learned W is
compared with the *effective* connectivity g_i W_ij s_ij, where s_ij is the plateau of
the true ψ over the activity range (:func:`psi_plateau`), the same normalisation the
learned ψ gets.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ccnn.data.activity.recording import Recording

__all__ = ["TrueDynamics", "psi_plateau"]


def psi_plateau(low: Tensor, high: Tensor) -> Tensor:
    """Scale of ψ from its values at the ends of the activity range: (ψ(high) − ψ(low)) / 2.

    A ψ normalised by this scale rises by 2 across the range: a plateau of ±1 for a
    saturating odd function such as tanh.
    """
    return (high - low) / 2


class TrueDynamics:
    """φ, ψ and the effective W of a simulated recording (it needs ``neuron_params``)."""

    def __init__(self, recording: Recording) -> None:
        if recording.neuron_params is None or recording.connectivity is None:
            raise ValueError("recording: expected ground truth ('neuron_params', 'connectivity'), got none")
        params = torch.as_tensor(recording.neuron_params, dtype=torch.float64)
        self.gain, self.self_excitation, self.leak = params.unbind(1)
        self.weight = torch.as_tensor(recording.connectivity, dtype=torch.float64)
        self.types = None if recording.types is None else torch.as_tensor(recording.types).long()
        self.transfer = recording.transfer or {"name": "tanh"}
        gamma = self.transfer.get("gamma")
        if gamma is not None and self.types is not None:
            self.gamma = torch.tensor(gamma, dtype=torch.float64)[self.types]
        else:
            self.gamma = torch.ones(len(self.gain), dtype=torch.float64)

    @property
    def n_neurons(self) -> int:
        return len(self.gain)

    def phi(self, x: Tensor) -> Tensor:
        """φ_i on a grid: x (G,) → (N, G)."""
        x = x.double()
        return -self.leak[:, None] * x + self.self_excitation[:, None] * torch.tanh(x)

    def psi(self, x: Tensor) -> Tensor:
        """ψ on a grid: (G,) shared for ``tanh``, (N, G) per sender for ``transmitters``,
        (N, N, G) per (receiver, sender) for ``neuron_neuron``."""
        x = x.double()
        name = self.transfer["name"]
        if name == "tanh":
            return torch.tanh(x)
        if name == "transmitters":
            return torch.tanh(x / self.gamma[:, None])
        theta = torch.log(self.gamma) / 50
        return torch.tanh(x / self.gamma[:, None, None]) - theta[None, :, None] * x

    def derivative(self, x: Tensor, stimulus: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
        """The simulator's noise-free right-hand side dx/dt for states x (..., N).

        ``stimulus`` Ω multiplies the incoming messages (shape broadcastable to x); ``weight``
        replaces W (a lesioned copy, say). Computed in x's dtype and on its device.
        """

        def put(t: Tensor) -> Tensor:
            return t.to(x.device, x.dtype)

        weight = put(self.weight if weight is None else weight)
        weight = put(self.gain)[:, None] * weight
        gamma = put(self.gamma)
        name = self.transfer["name"]
        if name == "tanh":
            messages = torch.tanh(x) @ weight.T
        elif name == "transmitters":
            messages = torch.tanh(x / gamma) @ weight.T
        else:  # neuron_neuron: ψ depends on the receiver's γ; one block of receivers per γ
            leak = torch.log(gamma) / 50 * x
            messages = torch.zeros_like(x)
            for value in gamma.unique():
                rows = gamma == value
                messages[..., rows] = (torch.tanh(x / value) - leak) @ weight[rows].T
        if stimulus is not None:
            messages = messages * stimulus
        return -put(self.leak) * x + put(self.self_excitation) * torch.tanh(x) + messages

    def effective_connectivity(self, x_range: tuple[float, float]) -> Tensor:
        """g_i W_ij s_ij with s the plateau of the true ψ over ``x_range`` (module docstring)."""
        scale = self._plateau(x_range)
        if scale.dim() == 1:  # one ψ per sender: scales column j
            scale = scale.unsqueeze(0)
        return self.gain[:, None] * self.weight * scale

    def psi_normalised(self, x: Tensor, x_range: tuple[float, float]) -> Tensor:
        """ψ divided by its plateau over ``x_range``."""
        plateau = self._plateau(x_range)
        return self.psi(x) / (plateau.unsqueeze(-1) if plateau.dim() else plateau)

    def _plateau(self, x_range: tuple[float, float]) -> Tensor:
        values = self.psi(torch.tensor(x_range, dtype=torch.float64))
        return psi_plateau(values[..., 0], values[..., 1])

    def __repr__(self) -> str:
        return f"TrueDynamics(n_neurons={self.n_neurons}, transfer={self.transfer['name']!r})"
