"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one.

:func:`write_new` goes further for run outputs: it never replaces a file at all, and takes
the next free numbered name instead (``config.yaml``, ``config-2.yaml``, ...).
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


@contextmanager
def atomic_write(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a binary handle on a temporary file next to ``path``; rename it over ``path`` on success.

    The temporary file gets the usual umask-based permissions (unlike ``mkstemp``'s 0600)
    and is synced before the rename; on any error it is removed and ``path`` is untouched.
    Writing through the handle also stops NumPy from appending ``.npz`` to the name.
    With ``overwrite=False`` the file is linked into place, which fails with
    ``FileExistsError`` (and leaves the existing file alone) when ``path`` exists, even if
    another process created it a moment ago.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _link_no_clobber(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # atomic, and refuses an existing name
    except OSError as err:
        if err.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        # No hard links on this file system: check, then rename (a narrow race remains).
        if path.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def numbered(path: str | os.PathLike, number: int) -> Path:
    """``path`` itself for 1, else the number before the last suffix: ``config.validate-2.yaml``."""
    path = Path(path)
    return path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")


def write_new(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file under ``path`` or, when that exists, the first free :func:`numbered` name.

    Existing files are never replaced (run directories keep every command's outputs);
    the write itself is atomic. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        candidate = numbered(path, number)
        if not candidate.exists():
            try:
                with atomic_write(candidate, overwrite=False) as handle:
                    write(handle)
                return candidate
            except FileExistsError:
                pass  # taken between the check and the link: try the next number
        number += 1


def write_new_json(path: str | os.PathLike, value: Any) -> Path:
    """``value`` as indented JSON under ``path`` (or the first free numbered name): :func:`write_new`."""
    text = json.dumps(value, indent=2)
    return write_new(path, lambda handle: handle.write(text.encode()))


def cache_dir() -> Path:
    """ccnn's cache folder: ``$CCNN_CACHE``, or ``~/.cache/ccnn`` (simulations, package data)."""
    return Path(os.environ.get("CCNN_CACHE") or Path.home() / ".cache" / "ccnn")
