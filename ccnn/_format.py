"""Numbers and durations for messages: short, and never rounded into something they are not."""

from __future__ import annotations

import math

__all__ = ["format_duration", "format_metric"]


def format_metric(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, with more where fewer would round to a whole
    number it is not: an R² of 0.99997 prints as 0.99997, never as 1."""
    if not math.isfinite(value):
        return str(value)
    for precision in range(digits, 13):
        text = f"{value:.{precision}g}"
        if float(text) != round(float(text)) or value == round(value):
            return text
    return repr(value)


def format_duration(seconds: float) -> str:
    """0.42 s, 7.3 s, 42 s, 3 min 05 s, 1 h 02 min."""
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
