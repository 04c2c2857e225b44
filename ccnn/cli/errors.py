"""Errors of a ``train.py`` run as one clean message instead of pages of traceback.

Bad input raises ``ValueError`` / ``TypeError`` (ccnn names the argument, the expected and
the received value) or Lightning's ``MisconfigurationException``. Reached through
jsonargparse and Lightning, such an error used to arrive under ~16 frames of their
internals; :func:`reported_errors` prints the message first, where it was raised, and how
to see everything (``CCNN_TRACEBACK=1``), then exits with status 1. Other exceptions
(a CUDA error, a bug) keep their full traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning.fabric.utilities.exceptions import MisconfigurationException

__all__ = ["TRACEBACK_VARIABLE", "reported_errors"]

#: Set (to anything but "" or "0") to get the full traceback of an input error.
TRACEBACK_VARIABLE = "CCNN_TRACEBACK"
INPUT_ERRORS = (ValueError, TypeError, MisconfigurationException)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn input errors into ``error: <message>`` on stderr and exit status 1 (module docstring)."""
    try:
        yield
    except INPUT_ERRORS as error:
        if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
            raise
        sys.stderr.write(describe_error(error) + "\n")
        raise SystemExit(1) from None


def describe_error(error: BaseException) -> str:
    """``error: <message>`` and, indented below it, where it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames:
        frame = frames[-1]
        where = f"{_short(frame.filename)}:{frame.lineno} ({frame.name})"
    message = str(error).strip() or type(error).__name__
    return (
        f"error: {message}\n"
        f"  ({type(error).__name__} raised in {where}; {TRACEBACK_VARIABLE}=1 shows the full traceback)"
    )


def _short(filename: str) -> str:
    """A path relative to the ccnn checkout or site-packages, for a readable location."""
    path = Path(filename)
    for anchor in ("ccnn", "site-packages"):
        if anchor in path.parts[:-1]:
            index = len(path.parts) - 1 - path.parts[::-1].index(anchor)
            return str(Path(*path.parts[index + (anchor == "site-packages") :]))
    return str(path)
