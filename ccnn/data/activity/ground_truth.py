r"""The equations of the simulated neural assemblies: one definition, for the simulator and for
evaluation.

The simulator (:func:`ccnn.data.simulate_assembly`) integrates

.. math::
    \dot x_i = -c_i x_i + s_i\, f(x_i) + g_i\, \Omega_i(t) \sum_j W_{ij}\, \psi_{ij}(x_j)

with a saturating self-excitation ``f`` (``phi_function``, ``tanh(x)`` in the paper) and the
transfer function ψ built on ``h`` (``psi_function``, ``tanh(x)`` in the paper): ``h(x_j)``
(transfer ``"tanh"``), ``h(x_j / γ_j)`` (``"transmitters"``) or ``h(x_j / γ_i) − θ_j x_j`` with
θ_j = ln(γ_j) / 50 (``"neuron_neuron"``). ``f`` and ``h`` are terms of the
:class:`~ccnn.nn.function_library.FunctionLibrary` grammar (``"softsign(x/3)"``,
``"rectified_tanh(x)"``, …). A recording stores (g, s, c) per neuron, W, the types and the
transfer spec (``{"name", "gamma", "phi_function", "psi_function"}``), from which
:class:`TrueDynamics` rebuilds the equations.

For evaluation: the learned model absorbs g into W and ψ is identifiable only up to scale, so
learned W is compared with the *effective* connectivity g_i W_ij s_ij, where s_ij is the
plateau of the true ψ over the activity range (:func:`psi_plateau`), the same normalisation the
learned ψ gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ccnn.data.activity.recording import Recording
from ccnn.nn.function_library import FunctionLibrary

__all__ = ["DEFAULT_FUNCTION", "AssemblyEquations", "TrueDynamics", "psi_plateau", "saturating_function"]

#: The paper's saturating function, for φ's self-excitation and for ψ.
DEFAULT_FUNCTION = "tanh(x)"


def psi_plateau(low: Tensor, high: Tensor) -> Tensor:
    """Scale of ψ from its values at the ends of the activity range: (ψ(high) − ψ(low)) / 2.

    A ψ normalised by this scale rises by 2 across the range: a plateau of ±1 for a
    saturating odd function such as tanh.
    """
    return (high - low) / 2


def saturating_function(term: str, name: str = "function") -> Callable[[Tensor], Tensor]:
    """The one-argument function of a library term, e.g. ``"softsign(x/3)"`` → x ↦ softsign(x/3)."""
    if not isinstance(term, str):
        raise TypeError(f"{name}: expected a term such as 'tanh(x)' or 'softsign(x/3)', got {term!r}")
    try:
        library = FunctionLibrary([term])
    except ValueError as error:
        raise ValueError(f"{name}: {str(error).removeprefix('terms: ')}") from None
    if library.has_splines:
        raise ValueError(f"{name}: expected a named term such as 'tanh(x/2)', got the spline term {term!r}")
    return lambda x: library(x)[..., 0]


class AssemblyEquations:
    """The right-hand side of the assembly (module docstring) for given parameters.

    Args:
        weight: W (N, N), ``W[i, j]`` from j onto i.
        neuron_params: (g, s, c) per neuron (N, 3).
        transfer: the transfer spec (``{"name": "tanh"}`` by default).
        types: type index per neuron (N,); needed for γ of the transfer variants.

    Tensors keep the dtype and device they are given in; :meth:`derivative` casts them to
    the state's when they differ.
    """

    def __init__(
        self,
        weight: Tensor,
        neuron_params: Tensor,
        transfer: dict[str, Any] | None = None,
        types: Tensor | None = None,
    ) -> None:
        self.gain, self.self_excitation, self.leak = neuron_params.unbind(1)
        self.weight = weight
        self.types = types
        self._folded: dict[tuple[torch.device, torch.dtype], Tensor] = {}
        self.transfer = transfer or {"name": "tanh"}
        self.phi_function = self.transfer.get("phi_function", DEFAULT_FUNCTION)
        self.psi_function = self.transfer.get("psi_function", DEFAULT_FUNCTION)
        self.f = saturating_function(self.phi_function, "phi_function")
        self.h = saturating_function(self.psi_function, "psi_function")
        gamma = self.transfer.get("gamma")
        if gamma is not None and types is not None:
            self.gamma = torch.tensor(gamma, dtype=weight.dtype, device=weight.device)[types]
        else:
            self.gamma = torch.ones(len(self.gain), dtype=weight.dtype, device=weight.device)

    @property
    def n_neurons(self) -> int:
        return len(self.gain)

    @property
    def name(self) -> str:
        return self.transfer["name"]

    def phi(self, x: Tensor) -> Tensor:
        """φ_i on a grid: x (G,) → (N, G)."""
        x = x.to(self.leak.dtype)
        return -self.leak[:, None] * x + self.self_excitation[:, None] * self.f(x)

    def psi(self, x: Tensor) -> Tensor:
        """ψ on a grid: (G,) shared for ``tanh``, (N, G) per sender for ``transmitters``,
        (N, N, G) per (receiver, sender) for ``neuron_neuron``."""
        x = x.to(self.gamma.dtype)
        if self.name == "tanh":
            return self.h(x)
        if self.name == "transmitters":
            return self.h(x / self.gamma[:, None])
        theta = torch.log(self.gamma) / 50
        return self.h(x / self.gamma[:, None, None]) - theta[None, :, None] * x

    def messages(self, x: Tensor, weight: Tensor) -> Tensor:
        """Σ_j W_ij ψ_ij(x_j) for states x (..., N) and W (N, N) in x's dtype and device."""
        if self.name == "tanh":
            return self.h(x) @ weight.T
        gamma = self.gamma.to(x.device, x.dtype)
        if self.name == "transmitters":
            return self.h(x / gamma) @ weight.T
        # neuron_neuron: ψ depends on the receiver's γ; one block of receivers per γ
        leak = torch.log(gamma) / 50 * x
        messages = torch.zeros_like(x)
        for value in gamma.unique():
            rows = gamma == value
            messages[..., rows] = (self.h(x / value) - leak) @ weight[rows].T
        return messages

    def derivative(self, x: Tensor, stimulus: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
        """The noise-free right-hand side dx/dt for states x (..., N).

        ``stimulus`` Ω multiplies the incoming messages (shape broadcastable to x); ``weight``
        replaces W (a lesioned copy, say). Computed in x's dtype and on its device.
        """

        def put(t: Tensor) -> Tensor:
            return t.to(x.device, x.dtype)

        if weight is None:  # g folded into W once per dtype and device (the simulator's every step)
            key = (x.device, x.dtype)
            if key not in self._folded:
                self._folded[key] = put(self.gain)[:, None] * put(self.weight)
            folded = self._folded[key]
        else:
            folded = put(self.gain)[:, None] * put(weight)
        messages = self.messages(x, folded)
        if stimulus is not None:
            messages = messages * stimulus
        return -put(self.leak) * x + put(self.self_excitation) * self.f(x) + messages

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
        values = self.psi(torch.tensor(x_range, dtype=self.gamma.dtype, device=self.gamma.device))
        return psi_plateau(values[..., 0], values[..., 1])

    def __repr__(self) -> str:
        functions = ""
        if (self.phi_function, self.psi_function) != (DEFAULT_FUNCTION, DEFAULT_FUNCTION):
            functions = f", phi_function={self.phi_function!r}, psi_function={self.psi_function!r}"
        return f"{type(self).__name__}(n_neurons={self.n_neurons}, transfer={self.name!r}{functions})"


class TrueDynamics(AssemblyEquations):
    """The equations of a simulated recording, in float64 on the CPU (it needs
    ``neuron_params`` and ``connectivity``)."""

    def __init__(self, recording: Recording) -> None:
        if recording.neuron_params is None or recording.connectivity is None:
            raise ValueError("recording: expected ground truth ('neuron_params', 'connectivity'), got none")
        super().__init__(
            torch.as_tensor(recording.connectivity, dtype=torch.float64),
            torch.as_tensor(recording.neuron_params, dtype=torch.float64),
            recording.transfer,
            None if recording.types is None else torch.as_tensor(recording.types).long(),
        )
