r"""Functions as sparse combinations of named terms: a fast, readable alternative to MLPs.

A :class:`FunctionLibrary` is a list of candidate terms :math:`\{b_k(x)\}` such as
``x``, ``tanh(x)``, ``tanh(x/4)`` or ``sin(x)``. A :class:`LibraryFunction` is

.. math:: f(x, c) = \sum_k \theta_k(c)\, b_k(x), \qquad \theta(c) = A c + \theta_0

with a condition :math:`c` (e.g. a neuron's latent vector) that sets the coefficients
linearly, or fixed coefficients when there is no condition. It is a drop-in replacement
for the φ / ψ MLPs of :class:`ccnn.nn.DynamicsNetwork` (same input layout: x first, then
the condition) that is exact when the true function lies in the span of the library (the
idea of sparse identification of nonlinear dynamics, SINDy: Brunton, Proctor & Kutz,
PNAS 2016), cheap to evaluate, and prints as a formula.

Term grammar: ``1``, ``x``, ``x^2``, ``x^3``, or ``f(x)`` / ``f(x/s)`` with ``f`` one of
``tanh``, ``sin``, ``cos``, ``sigmoid``, ``relu``, ``gauss`` (``exp(-u²)``) and ``s > 0``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["DEFAULT_PHI_TERMS", "DEFAULT_PSI_TERMS", "FunctionLibrary", "LibraryFunction"]

#: Default library of φ: a leak and saturating self-excitations of four widths.
DEFAULT_PHI_TERMS: tuple[str, ...] = ("x", "tanh(x)", "tanh(x/2)", "tanh(x/4)", "tanh(x/8)")
#: Default library of ψ: saturating transfer functions of four widths and a linear term. No
#: constant: a constant ψ would be indistinguishable from an offset of φ.
DEFAULT_PSI_TERMS: tuple[str, ...] = ("tanh(x)", "tanh(x/2)", "tanh(x/4)", "tanh(x/8)", "x")

_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "sin": torch.sin,
    "cos": torch.cos,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "gauss": lambda u: torch.exp(-u * u),
}
_POWERS: dict[str, Callable[[Tensor], Tensor]] = {
    "1": torch.ones_like,
    "x": lambda x: x,
    "x^2": lambda x: x * x,
    "x^3": lambda x: x * x * x,
}
_TERM = re.compile(r"^(?P<f>[a-z]+)\(x(?:/(?P<s>[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?))?\)$")


def _parse(term: str) -> Callable[[Tensor], Tensor]:
    if not isinstance(term, str):
        raise TypeError(f"terms: expected strings such as 'tanh(x/2)', got {term!r}")
    name = term.replace(" ", "")
    if name in _POWERS:
        return _POWERS[name]
    match = _TERM.match(name)
    if match is None or match["f"] not in _UNARY:
        raise ValueError(
            f"terms: cannot read {term!r}; expected 1, x, x^2, x^3 or f(x) / f(x/s) with f in "
            f"{sorted(_UNARY)}"
        )
    func, scale = _UNARY[match["f"]], float(match["s"] or 1.0)
    if scale <= 0:
        raise ValueError(f"terms: the scale s in {term!r} must be > 0")
    return func if scale == 1.0 else (lambda x: func(x / scale))


class FunctionLibrary:
    """A named list of candidate terms, evaluated together: x (...) → (..., K).

    Example:
        >>> lib = FunctionLibrary(["x", "tanh(x/2)"])
        >>> lib(torch.tensor([0.0, 2.0])).round(decimals=3)
        tensor([[0.0000, 0.0000],
                [2.0000, 0.7620]])
        >>> lib.format(torch.tensor([-1.0, 2.0]))
        '-1 x + 2 tanh(x/2)'
    """

    def __init__(self, terms: Sequence[str]) -> None:
        terms = list(terms)
        if not terms:
            raise ValueError("terms: expected at least one term, got an empty list")
        if len(set(terms)) != len(terms):
            raise ValueError(f"terms: expected distinct terms, got {terms}")
        self.terms = terms
        self._funcs = [_parse(t) for t in terms]

    def __len__(self) -> int:
        return len(self.terms)

    def __call__(self, x: Tensor) -> Tensor:
        return torch.stack([f(x) for f in self._funcs], -1)

    def format(self, coefficients: Tensor | Sequence[float], precision: int = 3, tol: float = 0.0) -> str:
        """A readable formula; terms with ``|coefficient| <= tol`` are left out."""
        parts = []
        for term, value in zip(self.terms, torch.as_tensor(coefficients).tolist(), strict=True):
            if abs(value) <= tol:
                continue
            number = f"{value:.{precision}g}"
            parts.append(number if term == "1" else f"{number} {term}")
        return " + ".join(parts).replace("+ -", "- ") if parts else "0"

    def __repr__(self) -> str:
        return f"FunctionLibrary({self.terms})"


class LibraryFunction(nn.Module):
    r"""f(x, c) = Σ_k θ_k(c) b_k(x) with θ(c) = A c + θ₀ (see the module docstring).

    Args:
        terms: the library, e.g. ``["x", "tanh(x)"]``.
        condition_dim: size of the condition c (0: fixed coefficients θ₀).

    Shapes:
        input (..., 1 + condition_dim), x first → (..., 1), like a one-output MLP.
    """

    def __init__(self, terms: Sequence[str], condition_dim: int = 0) -> None:
        super().__init__()
        self.library = FunctionLibrary(terms)
        self.condition_dim = condition_dim
        k = len(self.library)
        self.offset = nn.Parameter(torch.empty(k))
        self.condition_map = nn.Linear(condition_dim, k, bias=False) if condition_dim else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.offset, std=1.0 / len(self.library))
        if self.condition_map is not None:
            nn.init.normal_(self.condition_map.weight, std=0.1 / len(self.library))

    def coefficients(self, condition: Tensor | None = None) -> Tensor:
        """θ(c): (..., condition_dim) → (..., K); (K,) without a condition."""
        if self.condition_map is None or condition is None:
            return self.offset
        return self.offset + self.condition_map(condition)

    def forward(self, inputs: Tensor) -> Tensor:
        x = inputs[..., 0]
        theta = self.coefficients(inputs[..., 1:] if self.condition_map is not None else None)
        return (self.library(x) * theta).sum(-1, keepdim=True)

    def extra_repr(self) -> str:
        return f"terms={self.library.terms}, condition_dim={self.condition_dim}"
