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
``tanh``, ``sin``, ``cos``, ``sigmoid``, ``relu``, ``gauss`` (``exp(-u²)``), ``softsign``
(``u / (1 + |u|)``), ``rectified_tanh`` (``max(0, tanh u)``) and ``s > 0``; or ``sp1(x)``, ``sp2(x)``, …,
``sn1(x)``, … the columns of a cubic spline with a break at rest over knots given with the
library (:func:`rest_spline_basis`, :func:`spline_terms`): a general basis for functions that
no named term describes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "DEFAULT_PHI_TERMS",
    "DEFAULT_PSI_TERMS",
    "FunctionLibrary",
    "LibraryFunction",
    "rest_spline_basis",
    "spline_terms",
]

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
    "softsign": lambda u: u / (1 + u.abs()),
    "rectified_tanh": lambda u: torch.tanh(u).clamp_min(0),
}
_POWERS: dict[str, Callable[[Tensor], Tensor]] = {
    "1": torch.ones_like,
    "x": lambda x: x,
    "x^2": lambda x: x * x,
    "x^3": lambda x: x * x * x,
}
_TERM = re.compile(r"^(?P<f>[a-z_]+)\(x(?:/(?P<s>[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?))?\)$")
_SPLINE = re.compile(r"^s(?P<side>[pn])(?P<k>[1-9][0-9]*)\(x\)$")


def spline_terms(n_knots: int) -> list[str]:
    """Names of the columns of a :func:`rest_spline_basis` with ``n_knots`` knots per side:
    ``["sp1(x)", …, "sp{n_knots+2}(x)", "sn1(x)", …]`` (positive, then negative side)."""
    if isinstance(n_knots, bool) or not isinstance(n_knots, int) or n_knots < 1:
        raise ValueError(f"n_knots: expected an int >= 1, got {n_knots!r}")
    return [f"s{side}{k}(x)" for side in "pn" for k in range(1, n_knots + 3)]


def _nonzero(span: Tensor) -> Tensor:
    """``span`` with its zeros (repeated knots) replaced by 1: the terms they divide are masked
    out, and no 0/0 may reach autograd (a NaN gradient survives a mask)."""
    return torch.where(span > 0, span, torch.ones_like(span))


def _bsplines(u: Tensor, knots: Tensor, degree: int) -> Tensor:
    """B-splines of ``degree`` on the clamped knot vector ``knots`` (L,) at u (...) → (..., L − degree − 1),
    by the Cox–de Boor recursion (de Boor, *A Practical Guide to Splines*, 1978)."""
    left, right = knots[:-1], knots[1:]
    u1 = u.unsqueeze(-1)
    basis = ((u1 >= left) & (u1 < right)).to(u.dtype)
    last = int((right > left).nonzero().max())  # the last interval also holds its right end
    basis[..., last] = torch.where(u == knots[-1], torch.ones_like(u), basis[..., last])
    for d in range(1, degree + 1):
        n = basis.shape[-1] - 1
        rise, fall = knots[d : d + n] - knots[:n], knots[d + 1 : d + 1 + n] - knots[1 : 1 + n]
        up = (u1 - knots[:n]) / _nonzero(rise) * (rise > 0)
        down = (knots[d + 1 : d + 1 + n] - u1) / _nonzero(fall) * (fall > 0)
        basis = up * basis[..., :-1] + down * basis[..., 1:]
    return basis


def _side_basis(u: Tensor, knots: Tensor) -> Tensor:
    """Cubic B-splines on u >= 0 over 0 < κ_1 < … < κ_m (clamped at 0 and κ_m), without the one
    that is 1 at 0, continued linearly beyond κ_m: (...) → (..., m + 2)."""
    zero = knots.new_zeros(4)
    boundary = knots[-1:]
    vector = torch.cat([zero, knots[:-1], boundary.expand(4)])
    end = boundary.expand(1)
    # The slope of each B-spline at κ_m, from the degree-2 ones (the derivative formula).
    lower = _bsplines(end, vector, 2)[0]
    width = len(vector) - 1
    left_span, right_span = vector[3:width] - vector[: width - 3], vector[4:] - vector[1 : width - 2]
    slope = 3 * (
        lower[:-1] / _nonzero(left_span) * (left_span > 0)
        - lower[1:] / _nonzero(right_span) * (right_span > 0)
    )
    values = _bsplines(u.clamp(max=float(knots[-1])), vector, 3)
    values = values + (u - knots[-1]).clamp_min(0).unsqueeze(-1) * slope
    return values[..., 1:]


def rest_spline_basis(x: Tensor, knots: Tensor) -> Tensor:
    r"""A cubic spline basis with a break at rest (x = 0): (...) → (..., 2 (m + 2)).

    ``knots`` (2, m) holds the knots of the positive side, :math:`0 < \kappa^+_1 < \dots <
    \kappa^+_m`, and the magnitudes of the negative side's. On each side, with
    :math:`u = \max(\pm x, 0)`, the columns are the cubic B-splines on the knots
    :math:`0, \kappa_1, \dots, \kappa_m` (clamped at both ends; de Boor 1978) except the one
    that is 1 at 0, continued linearly beyond :math:`\kappa_m` (so a fitted function
    extrapolates linearly). Each side is its own spline and both vanish at 0, so a function of
    this basis is 0 at rest, continuous there, and may bend sharply there (a rectification, the
    |x| of softsign) while staying smooth elsewhere. B-splines are bounded by 1 and local, so the
    coefficients stay of the size of the function (the truncated-power basis needs large
    cancelling ones, which float32 cannot evaluate). With knots at quantiles of the data
    (Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, ch. 5) it
    describes any such function closely where the data are.
    """
    if knots.dim() != 2 or knots.shape[0] != 2 or knots.shape[1] < 1:
        raise ValueError(f"knots: expected shape (2, m) with m >= 1, got {tuple(knots.shape)}")
    knots = knots.to(x.device, x.dtype)
    return torch.cat([_side_basis(x.clamp_min(0), knots[0]), _side_basis((-x).clamp_min(0), knots[1])], -1)


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

    Args:
        terms: the terms (module docstring for the grammar).
        knots: the knots (2, m) of the spline terms ``sp1(x)``, … (needed when there are
            any; m >= k − 2 for a term ``spk(x)``). A call may pass others.

    Example:
        >>> lib = FunctionLibrary(["x", "tanh(x/2)"])
        >>> lib(torch.tensor([0.0, 2.0])).round(decimals=3)
        tensor([[0.0000, 0.0000],
                [2.0000, 0.7620]])
        >>> lib.format(torch.tensor([-1.0, 2.0]))
        '-1 x + 2 tanh(x/2)'
    """

    def __init__(self, terms: Sequence[str], knots: Tensor | Sequence[float] | None = None) -> None:
        terms = list(terms)
        if not terms:
            raise ValueError("terms: expected at least one term, got an empty list")
        if len(set(terms)) != len(terms):
            raise ValueError(f"terms: expected distinct terms, got {terms}")
        self.terms = terms
        # Spline terms are columns of one basis over the knots, evaluated together.
        self._funcs: list[Callable[[Tensor], Tensor] | int] = []
        spline = []
        for term in terms:
            match = _SPLINE.match(term.replace(" ", "")) if isinstance(term, str) else None
            if match:
                spline.append((match["side"], int(match["k"])))
                self._funcs.append(len(spline) - 1)
            else:
                self._funcs.append(_parse(term))
        # Column of each spline term in rest_spline_basis, once m (knots per side) is known.
        self._spline = spline
        self.n_knots = max(max(k for _, k in spline) - 2, 1) if spline else 0
        self.knots = None if knots is None else self._check_knots(torch.as_tensor(knots))

    def _check_knots(self, knots: Tensor) -> Tensor:
        if knots.dim() != 2 or knots.shape[0] != 2 or knots.shape[1] < self.n_knots:
            raise ValueError(
                f"knots: expected shape (2, m) with m >= {self.n_knots} knots per side for the terms "
                f"{self.terms}, got shape {tuple(knots.shape)}"
            )
        if not bool((knots > 0).all()) or not bool((knots[:, 1:] > knots[:, :-1]).all()):
            raise ValueError(
                f"knots: expected positive values increasing along each row, got {knots.tolist()}"
            )
        return knots

    @property
    def has_splines(self) -> bool:
        return self.n_knots > 0

    def __len__(self) -> int:
        return len(self.terms)

    def __call__(self, x: Tensor, knots: Tensor | None = None) -> Tensor:
        basis = None
        if self.n_knots:
            knots = self.knots if knots is None else self._check_knots(knots)
            if knots is None:
                raise ValueError(f"knots: the spline terms of {self.terms} need knots, got None")
            basis = rest_spline_basis(x, knots)
            m = knots.shape[1]
            index = [(0 if side == "p" else m + 2) + k - 1 for side, k in self._spline]
        return torch.stack([basis[..., index[f]] if isinstance(f, int) else f(x) for f in self._funcs], -1)

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
        terms: the library, e.g. ``["x", "tanh(x)"]``; spline terms (``ns1(x)``, …) get a
            buffer ``knots`` (2, m), to be set from the data (evenly spaced in (0, 1] until then).
        condition_dim: size of the condition c (0: fixed coefficients θ₀).

    Shapes:
        input (..., 1 + condition_dim), x first → (..., 1), like a one-output MLP.
    """

    def __init__(self, terms: Sequence[str], condition_dim: int = 0) -> None:
        super().__init__()
        self.library = FunctionLibrary(terms)
        self.condition_dim = condition_dim
        # Knots of the spline terms (set from data, e.g. by a closed-form fit); saved with the
        # state_dict and moved with the module.
        m = self.library.n_knots
        default = torch.linspace(1.0 / m, 1.0, m).expand(2, m).clone() if m else None
        self.register_buffer("knots", default)
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
        return (self.library(x, self.knots) * theta).sum(-1, keepdim=True)

    def extra_repr(self) -> str:
        knots = "" if self.knots is None else f", knots per side={self.knots.shape[1]}"
        return f"terms={self.library.terms}, condition_dim={self.condition_dim}{knots}"
