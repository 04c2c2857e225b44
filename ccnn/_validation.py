"""Input checks shared across ccnn.

Every check raises one ``ValueError`` (or ``TypeError``) that names the argument, the
expected shape or range and the value received, so that a user sees at once what to fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_tensor",
    "check_choice",
    "check_finite",
    "check_int",
    "check_nonnegative",
    "check_probability",
    "check_real",
    "check_shape",
    "describe",
    "resolve_generator",
]


def describe(value: Any) -> str:
    """Short description of a received value for error messages."""
    if isinstance(value, Tensor | np.ndarray):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def as_tensor(value: Any, name: str, *, dtype: torch.dtype | None = None) -> Tensor:
    """Convert a tensor, NumPy array or nested sequence to a tensor, or raise ``TypeError``."""
    if isinstance(value, Tensor):
        return value.to(dtype) if dtype is not None else value
    if isinstance(value, np.ndarray | Sequence) and not isinstance(value, str):
        try:
            return torch.as_tensor(np.asarray(value), dtype=dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}: expected a numeric tensor or array, got {describe(value)}") from err
    raise TypeError(f"{name}: expected a tensor or array, got {describe(value)}")


def check_shape(tensor: Tensor, shape: Sequence[int | None], name: str, *, meaning: str = "") -> None:
    """Check ``tensor.shape`` against ``shape``; ``None`` entries match any size."""
    ok = tensor.dim() == len(shape) and all(
        e is None or e == s for e, s in zip(shape, tensor.shape, strict=False)
    )
    if not ok:
        entries = ["any" if e is None else str(e) for e in shape]
        expected = "(" + ", ".join(entries) + ("," if len(entries) == 1 else "") + ")"
        hint = f" {meaning}" if meaning else ""
        raise ValueError(f"{name}: expected shape {expected}{hint}, got {tuple(tensor.shape)}")


def check_finite(tensor: Tensor, name: str) -> None:
    """Raise if ``tensor`` holds NaN or inf, saying how many and where the first one is."""
    if tensor.is_floating_point() or tensor.is_complex():
        if tensor.numel() and bool(torch.isfinite(tensor.sum())):  # one pass when all is well
            return  # (a non-finite sum may still be an overflow of finite values: look closer)
        bad = ~torch.isfinite(tensor)
        count = int(bad.sum())
        if count:
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"{name}: expected finite values, got {count} NaN/inf entries (first at index {first})"
            )


def check_nonnegative(tensor: Tensor, name: str) -> None:
    """Raise if any entry is negative."""
    neg = tensor < 0
    if bool(neg.any()):
        first = tuple(int(i) for i in neg.nonzero()[0])
        raise ValueError(
            f"{name}: expected non-negative values, got {int(neg.sum())} negative entries "
            f"(first {float(tensor[first]):.4g} at index {first})"
        )


def check_probability(value: float, name: str, *, allow_zero: bool = True) -> float:
    """Check that ``value`` is a probability: in [0, 1], or (0, 1] with ``allow_zero=False``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: expected a float, got {describe(value)}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}: expected a value in {interval}, got {value}")
    return float(value)


def resolve_generator(
    generator: torch.Generator | None, seed: int | None, name: str = "generator"
) -> torch.Generator:
    """One random stream from either ``generator=`` or ``seed=`` (not both).

    With neither, a fresh generator is seeded from torch's global RNG, so that
    ``torch.manual_seed`` still makes a run reproducible.
    """
    if generator is not None and seed is not None:
        raise ValueError(f"{name}: pass either generator= or seed=, not both (got both)")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"{name}: expected a torch.Generator, got {describe(generator)}")
        return generator
    gen = torch.Generator()
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {describe(seed)}")
    gen.manual_seed(seed)
    return gen


def check_int(value: Any, name: str, *, minimum: int, meaning: str = "") -> int:
    """``value`` as an int >= ``minimum`` (bools rejected), else one ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}{meaning}, got {describe(value)}")
    return int(value)


def check_real(value: Any, name: str, *, positive: bool) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0, else one ValueError naming ``name``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        expected = "a finite float > 0" if positive else "a finite float >= 0"
        raise ValueError(f"{name}: expected {expected}, got {describe(value)}")
    return float(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``, else one ValueError naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {describe(value)}")
    return value


def check_names(value: Any, name: str) -> list[str] | None:
    """None, or a string or sequence of strings as a list; else one TypeError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name}: expected a list of submodule names, got {describe(value)}")
    return list(value)
