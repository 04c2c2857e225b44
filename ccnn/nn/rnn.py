"""Leaky rate-unit recurrent networks with connectome-constrained recurrent weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ccnn._validation import describe
from ccnn.nn.connectome_linear import Backend, ConnectomeLinear, Mode

__all__ = ["NONLINEARITIES", "ConnectomeRNN", "ConnectomeRNNCell"]

NONLINEARITIES: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "softplus": F.softplus,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}


class ConnectomeRNNCell(nn.Module):
    r"""One Euler step of a leaky rate network whose recurrent weights follow a connectome.

    .. math::
        h_{t+1} = (1 - \alpha)\, h_t + \alpha\, f\big(W_\text{rec} h_t + W_\text{in} x_t + b\big),
        \qquad \alpha = \Delta t / \tau

    the discretisation of :math:`\tau \dot h = -h + f(W_\text{rec} h + W_\text{in} x + b)`.
    :math:`W_\text{rec}` is a :class:`ConnectomeLinear` (mask, mode, Dale's-law sign and
    backend as there); :math:`W_\text{in}` is dense, or a :class:`ConnectomeLinear` when
    ``input_mask`` is given. With :math:`\alpha = 1` and ``f = tanh`` this is the Elman cell
    of :class:`torch.nn.RNNCell`.

    Args:
        input_size: number of input features.
        hidden_size: number of recurrent units.
        mask: (hidden_size, hidden_size) recurrent connectivity (bool / weighted / Connectome).
        input_mask: optional (hidden_size, input_size) input connectivity.
        nonlinearity: ``"tanh"``, ``"relu"``, ``"softplus"``, ``"sigmoid"``, ``"identity"``
            or any callable.
        tau: time constant of the units (same unit as ``dt``).
        dt: integration step; ``alpha = dt / tau`` must lie in (0, 1].
        mode, sign, backend, share_by: passed to the recurrent :class:`ConnectomeLinear` (a
            sparse ``mask``, e.g. a sparse :class:`~ccnn.data.Connectome`, is never densified on
            the sparse backend).
        bias: learn the bias :math:`b` (held by the recurrent layer).

    Shapes:
        input (batch, input_size), hidden (batch, hidden_size) → (batch, hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        mask: Any,
        *,
        input_mask: Any = None,
        nonlinearity: str | Callable[[Tensor], Tensor] = "tanh",
        tau: float = 1.0,
        dt: float = 1.0,
        mode: Mode = "hard",
        sign: Any = None,
        backend: Backend = "auto",
        bias: bool = True,
        share_by: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(nonlinearity, str):
            if nonlinearity not in NONLINEARITIES:
                raise ValueError(
                    f"nonlinearity: expected one of {sorted(NONLINEARITIES)} or a callable, "
                    f"got {nonlinearity!r}"
                )
            self.activation = NONLINEARITIES[nonlinearity]
        elif callable(nonlinearity):
            self.activation = nonlinearity
        else:
            raise TypeError(f"nonlinearity: expected a name or a callable, got {describe(nonlinearity)}")
        self.nonlinearity = (
            nonlinearity if isinstance(nonlinearity, str) else getattr(nonlinearity, "__name__", "custom")
        )
        if not (tau > 0 and dt > 0 and dt <= tau):
            raise ValueError(
                f"tau, dt: expected 0 < dt <= tau so that alpha = dt/tau is in (0, 1], got tau={tau}, dt={dt}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.alpha = dt / tau
        self.recurrent = ConnectomeLinear(
            hidden_size,
            hidden_size,
            mask,
            mode=mode,
            sign=sign,
            bias=bias,
            backend=backend,
            share_by=share_by,
        )
        if input_mask is None:
            self.input = nn.Linear(input_size, hidden_size, bias=False)
        else:
            self.input = ConnectomeLinear(input_size, hidden_size, input_mask, bias=False)

    def reset_parameters(self) -> None:
        self.recurrent.reset_parameters()
        self.input.reset_parameters()

    def forward(self, input: Tensor, hidden: Tensor | None = None) -> Tensor:
        if hidden is None:
            hidden = input.new_zeros(*input.shape[:-1], self.hidden_size)
        drive = self.recurrent(hidden) + self.input(input)
        return torch.lerp(hidden, self.activation(drive), self.alpha)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"nonlinearity={self.nonlinearity}, alpha={self.alpha:g}"
        )


class ConnectomeRNN(nn.Module):
    r"""Runs a :class:`ConnectomeRNNCell` over a sequence.

    Takes the same arguments as the cell, plus ``batch_first``.

    Shapes:
        input (T, batch, input_size) (or (batch, T, input_size) with ``batch_first``),
        optional initial hidden (batch, hidden_size) →
        (outputs (T, batch, hidden_size) or (batch, T, hidden_size), final hidden (batch, hidden_size)).
    """

    def __init__(
        self, input_size: int, hidden_size: int, mask: Any, *, batch_first: bool = False, **cell_kwargs: Any
    ) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.cell = ConnectomeRNNCell(input_size, hidden_size, mask, **cell_kwargs)

    def reset_parameters(self) -> None:
        self.cell.reset_parameters()

    def forward(self, input: Tensor, hidden: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if input.dim() != 3:
            layout = "(batch, T, input_size)" if self.batch_first else "(T, batch, input_size)"
            raise ValueError(f"input: expected shape {layout}, got {tuple(input.shape)}")
        steps = input.unbind(1 if self.batch_first else 0)
        outputs = []
        for x_t in steps:
            hidden = self.cell(x_t, hidden)
            outputs.append(hidden)
        return torch.stack(outputs, 1 if self.batch_first else 0), hidden
