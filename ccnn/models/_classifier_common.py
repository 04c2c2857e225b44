r"""Pieces shared by the classifiers of the zoo: argument checks and the wiring-cost schedule.

The schedule multiplies a base weight :math:`\lambda_0` by :math:`m_k` from the fraction
:math:`\phi_k` of training on (``[[phi_1, m_1], [phi_2, m_2], ...]``, :math:`m = 1` before
the first step); BIMT (Liu, Gan & Tegmark 2023) uses ``[[0.25, 10], [0.5, 100]]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import describe
from ccnn.nn.masks import grid_positions

__all__ = ["check_hidden", "check_positions", "check_schedule", "scheduled_weight", "training_progress"]


def check_hidden(hidden: Any) -> list[int]:
    """A non-empty list of positive layer sizes (an int is one layer)."""
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if isinstance(hidden, str) or not isinstance(hidden, Sequence) or len(hidden) == 0:
        raise ValueError(f"hidden: expected a non-empty list of positive ints, got {describe(hidden)}")
    for size in hidden:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"hidden: expected a non-empty list of positive ints, got {list(hidden)!r}")
    return [int(size) for size in hidden]


def check_schedule(schedule: Any) -> list[tuple[float, float]] | None:
    """``[[fraction, multiplier], ...]`` with fractions in [0, 1] strictly increasing and
    multipliers finite and ≥ 0, as tuples; None stays None."""
    if schedule is None:
        return None
    expected = (
        "wiring_schedule: expected a list of [fraction, multiplier] pairs, fractions in [0, 1] "
        "strictly increasing and multipliers finite and >= 0, e.g. [[0.25, 10], [0.5, 100]]"
    )
    if isinstance(schedule, str) or not isinstance(schedule, Sequence):
        raise ValueError(f"{expected}; got {describe(schedule)}")
    steps: list[tuple[float, float]] = []
    for step in schedule:
        if isinstance(step, str) or not isinstance(step, Sequence) or len(step) != 2:
            raise ValueError(f"{expected}; got the step {step!r}")
        fraction, factor = step
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in step)
        if not numbers or not (0 <= fraction <= 1) or not (math.isfinite(factor) and factor >= 0):
            raise ValueError(f"{expected}; got the step {list(step)!r}")
        if steps and fraction <= steps[-1][0]:
            raise ValueError(f"{expected}; got fraction {fraction} after {steps[-1][0]}")
        steps.append((float(fraction), float(factor)))
    return steps


def scheduled_weight(weight: float, schedule: Sequence[tuple[float, float]] | None, progress: float) -> float:
    """:math:`\\lambda_0` times the multiplier of the last step whose fraction is ≤ ``progress``."""
    multiplier = 1.0
    for fraction, factor in schedule or ():
        # The tolerance absorbs rounding in step / total (e.g. 7 / 10 vs 0.7).
        if progress >= fraction - 1e-9:
            multiplier = factor
    return weight * multiplier


def training_progress(module: Any) -> float:
    """``global_step / estimated_stepping_batches`` of a LightningModule's trainer (0 without one)."""
    if module._trainer is None:
        return 0.0
    total = module.trainer.estimated_stepping_batches
    if not math.isfinite(total) or total <= 0:
        return 0.0
    return module.trainer.global_step / total


def check_positions(
    positions: Any, n_inputs: int, name: str = "input_positions", *, dim: int | None = None
) -> Tensor | None:
    """(n_inputs, d) finite positions as float32 (any d ≥ 1, or exactly ``dim``); None → the square grid of
    :func:`~ccnn.nn.masks.grid_positions` when ``n_inputs`` is a perfect square, else None."""
    if positions is None:
        side = math.isqrt(n_inputs)
        return grid_positions(n_inputs) if side * side == n_inputs else None
    try:
        tensor = torch.as_tensor(
            positions.detach().cpu() if isinstance(positions, Tensor) else np.asarray(positions, dtype=float),
            dtype=torch.float32,
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name}: expected an (n_inputs, 2) = ({n_inputs}, 2) array, got {describe(positions)}"
        ) from err
    shape_ok = tensor.dim() == 2 and tensor.shape[0] == n_inputs and (dim is None or tensor.shape[1] == dim)
    if not shape_ok or not bool(torch.isfinite(tensor).all()):
        want = f"({n_inputs}, {dim})" if dim is not None else f"({n_inputs}, dim)"
        raise ValueError(
            f"{name}: expected finite values of shape (n_inputs, dim) = {want}, got {describe(tensor)}"
        )
    return tensor
