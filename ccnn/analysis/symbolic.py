r"""Symbolic regression of learned functions, offline: best sparse subsets of a term library.

Given samples :math:`(x_g, f(x_g))` of a learned φ or ψ, find the fewest terms
:math:`b_k` of a library (:class:`~ccnn.nn.function_library.FunctionLibrary`) such that
:math:`f \approx \sum_{k \in S} \theta_k b_k`: every subset of up to ``max_terms`` terms
is fitted by least squares (a few hundred tiny fits), which, unlike thresholded
regression, cannot be misled by nearly collinear terms such as ``tanh(x)`` and
``tanh(x/2)``. A formula grows by one term only while that divides the residual by at
least ``min_gain`` (so a small but real term such as s·tanh(x) beside a large −c·x is
kept, and fitting noise is not), and stops once 1 − R² < ``tol``. On the published
baseline this returns −c·x + s·tanh(x) per type and tanh(x) (Allier et al. 2026 used
PySR, which needs Julia and the network; it is available here as ``backend="pysr"`` when
installed).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ccnn._validation import check_shape
from ccnn.nn.function_library import FunctionLibrary

__all__ = ["SYMBOLIC_TERMS", "SymbolicFit", "symbolic_regression"]

#: Default candidate terms.
SYMBOLIC_TERMS: tuple[str, ...] = (
    "1", "x", "x^2", "x^3", "tanh(x)", "tanh(x/2)", "tanh(x/4)", "tanh(x/8)", "sin(x)", "gauss(x)",
    "sigmoid(x)",
)  # fmt: skip


@dataclass
class SymbolicFit:
    """A sparse formula: ``coefficients`` maps term → value; ``r2`` on the samples."""

    formula: str
    coefficients: dict[str, float]
    r2: float

    def to_dict(self) -> dict:
        return {"formula": self.formula, "coefficients": self.coefficients, "r2": self.r2}


def _fit(design: Tensor, y: Tensor) -> tuple[Tensor, float]:
    coef = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    return coef, float((y - design @ coef).pow(2).sum())


def symbolic_regression(
    x: Tensor,
    y: Tensor,
    *,
    terms: Sequence[str] = SYMBOLIC_TERMS,
    max_terms: int = 3,
    tol: float = 1e-10,
    min_gain: float = 100.0,
    precision: int = 3,
    backend: str = "subsets",
) -> SymbolicFit:
    """The sparsest formula in ``terms`` that explains y(x) (see the module docstring).

    ``r2`` of the result says how good the returned formula is.

    Example:
        >>> x = torch.linspace(-10, 10, 200, dtype=torch.float64)
        >>> symbolic_regression(x, -x + 2 * torch.tanh(x)).formula
        '-1 x + 2 tanh(x)'
    """
    x, y = torch.as_tensor(x).double().flatten(), torch.as_tensor(y).double().flatten()
    check_shape(y, (x.numel(),), "y", meaning="one value per sample of x")
    if backend == "pysr":
        return _pysr(x, y, precision)
    if backend != "subsets":
        raise ValueError(f"backend: expected 'subsets' or 'pysr', got {backend!r}")
    if max_terms < 1:
        raise ValueError(f"max_terms: expected a positive int, got {max_terms}")
    library = FunctionLibrary(terms)
    design = library(x)
    total = float((y - y.mean()).pow(2).sum()) if len(set(y.tolist())) > 1 else float(y.pow(2).sum())
    total = max(total, 1e-300)
    chosen: tuple[float, tuple[int, ...], Tensor] | None = None
    for size in range(1, min(max_terms, len(library)) + 1):
        best = min(
            (
                (*_fit(design[:, list(subset)], y)[::-1], subset)
                for subset in itertools.combinations(range(len(library)), size)
            ),
            key=lambda item: item[0],
        )
        sse, coef, subset = best
        if chosen is not None and sse > chosen[0] / min_gain:
            break
        chosen = (sse, subset, coef)
        if sse / total < tol:
            break
    assert chosen is not None
    sse, subset, coef = chosen
    full = torch.zeros(len(library), dtype=torch.float64)
    full[list(subset)] = coef
    rounded = [float(f"{v:.{precision}g}") for v in full.tolist()]
    return SymbolicFit(
        formula=library.format(rounded, precision=precision),
        coefficients={library.terms[k]: rounded[k] for k in subset},
        r2=1 - sse / total,
    )


def _pysr(x: Tensor, y: Tensor, precision: int) -> SymbolicFit:  # pragma: no cover - optional
    try:
        from pysr import PySRRegressor
    except ImportError as error:
        raise ValueError("backend: 'pysr' needs the optional package pysr (pip install pysr)") from error
    model = PySRRegressor(
        niterations=40, binary_operators=["+", "*", "/"], unary_operators=["tanh", "exp", "sin"], verbosity=0
    )
    model.fit(x.numpy()[:, None], y.numpy())
    predicted = torch.as_tensor(model.predict(x.numpy()[:, None]), dtype=torch.float64)
    r2 = 1 - float((y - predicted).pow(2).sum() / (y - y.mean()).pow(2).sum().clamp_min(1e-300))
    return SymbolicFit(formula=str(model.sympy()), coefficients={}, r2=r2)
