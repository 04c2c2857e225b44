"""On-disk cache of simulated recordings, keyed by a hash of their configuration.

Layout: ``$CCNN_CACHE/simulations/<key>/`` holds one ``.npy`` per recording key (large
arrays can be memory-mapped) and ``manifest.json`` with the BLAKE2 checksum and size of
each file. An entry is written into a temporary folder and renamed into place, so a
crash never leaves a half-written entry; an entry whose files do not match their
checksums (truncated, corrupted) is regenerated, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccnn._io import cache_dir
from ccnn.data.activity.recording import LARGE_KEYS, Recording

__all__ = ["cache_dir", "cached_recording", "config_key", "ensure_cached", "load_folder"]

CACHE_FORMAT = 1
#: Recordings larger than this (bytes of activity + derivative + stimulus) are memory-mapped.
MMAP_THRESHOLD = 1 << 30


def config_key(config: dict[str, Any]) -> str:
    """A stable hash of a JSON-serialisable configuration (key order does not matter)."""
    text = json.dumps({"format": CACHE_FORMAT, **config}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _checksum(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


def _entry_is_valid(folder: Path) -> bool:
    manifest = folder / "manifest.json"
    if not manifest.exists():
        return False
    try:
        files = json.loads(manifest.read_text())["files"]
        return all(
            (folder / name).stat().st_size == meta["size"] and _checksum(folder / name) == meta["checksum"]
            for name, meta in files.items()
        )
    except (OSError, KeyError, ValueError):
        return False


def ensure_cached(config: dict[str, Any], build: Callable[[], Recording]) -> Path:
    """The cache folder of ``config``: checked against its checksums, or built and stored.

    Reads no array into memory beyond what checksumming streams through, so it suits
    :meth:`~lightning.LightningDataModule.prepare_data`, which should only put data in place.
    """
    folder = cache_dir() / "simulations" / config_key(config)
    if folder.exists() and not _entry_is_valid(folder):
        warnings.warn(
            f"cache entry {folder} is incomplete or fails its checksum; regenerating it", stacklevel=2
        )
        shutil.rmtree(folder, ignore_errors=True)
    if not folder.exists():
        recording = build()
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            recording.save_dir(tmp)
            files = {f.name: {"size": f.stat().st_size, "checksum": _checksum(f)} for f in tmp.glob("*.npy")}
            (tmp / "manifest.json").write_text(
                json.dumps({"config": config, "files": files}, indent=1, default=str)
            )
            try:
                os.replace(tmp, folder)
            except OSError:  # another process stored the same entry first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


def cached_recording(
    config: dict[str, Any], build: Callable[[], Recording], *, mmap: bool | None = None
) -> tuple[Recording, Path]:
    """Return the recording for ``config`` from the cache, building and storing it if needed.

    Args:
        config: the JSON-serialisable arguments that determine the recording.
        build: makes the recording on a cache miss.
        mmap: memory-map the large arrays; by default when they exceed :data:`MMAP_THRESHOLD`.
    Returns:
        (recording, its cache folder).
    """
    folder = ensure_cached(config, build)
    return load_folder(folder, mmap=mmap), folder


def load_folder(
    folder: Path, *, mmap: bool | None = None, allow_short: bool = False, expected_neurons: int | None = None
) -> Recording:
    """Read a folder of ``.npy`` files; ``mmap=None`` maps the [T, N] arrays when together they
    exceed :data:`MMAP_THRESHOLD` bytes, and reads them into memory otherwise."""
    if mmap is None:
        large = sum(
            (folder / f"{key}.npy").stat().st_size for key in LARGE_KEYS if (folder / f"{key}.npy").exists()
        )
        mmap = large > MMAP_THRESHOLD
    return Recording.load_dir(folder, mmap=mmap, allow_short=allow_short, expected_neurons=expected_neurons)
