"""Run directories: where a command writes, and which checkpoint ``last`` / ``best`` means.

Rules (README, "Where outputs go"):

* A new ``fit`` never writes into a folder that holds files: when ``default_root_dir`` is
  not empty, the run goes to ``<default_root_dir>-2`` (or ``-3``, ...), the first that is.
* ``fit --ckpt_path last`` continues the run in ``default_root_dir`` from its newest
  ``checkpoints/last*.ckpt``; with no checkpoint there, a new run starts (with a warning),
  so one command serves a first start and every requeue of a cluster job.
* ``validate`` / ``test`` / ``predict`` evaluate the run in ``default_root_dir``: ``last`` and
  ``best`` must name an existing checkpoint there, else the command fails before anything
  runs. Each evaluation writes into a folder of its own inside the run, ``<run>/validate``
  (then ``validate-2``, ...): its config, ``metrics.json`` or ``predictions.npz``, its logger.
* A resumed fit saves its config as ``config.resume.yaml``; files are written with
  :func:`ccnn._io.write_new`, which never replaces one. Nothing is overwritten.

The choice depends only on the files present before any process of the run writes, so
every DDP rank (Lightning's launcher, torchrun or SLURM) arrives at the same folder.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["RunPlan", "best_checkpoint", "check_checkpoint", "fresh_directory", "last_checkpoint", "plan_run"]

CHECKPOINTS = "checkpoints"
EVALUATIONS = ("validate", "test", "predict")


@dataclass(frozen=True)
class RunPlan:
    """Where a command writes and what it loads.

    Attributes:
        directory: where the command writes (becomes ``trainer.default_root_dir``): the run
            directory for ``fit``, a folder inside the evaluated run for the others.
        ckpt_path: the checkpoint file to load (``last`` / ``best`` resolved), or None.
        config_name: the file name the command's config is saved under (a free numbered
            variant is taken if it exists).
        resumed: a ``fit`` that continues the run in ``directory``.
    """

    directory: Path
    ckpt_path: str | None
    config_name: str
    resumed: bool = False


def holds_files(directory: Path) -> bool:
    return directory.is_dir() and any(directory.iterdir())


def fresh_directory(root: str | Path) -> Path:
    """``root`` when it is missing or empty, else the first empty or missing ``root-2``, ``root-3``..."""
    root = Path(root)
    number = 1
    while True:
        candidate = root if number == 1 else root.with_name(f"{root.name}-{number}")
        if not holds_files(candidate):
            return candidate
        number += 1


def _checkpoints(directory: Path) -> list[Path]:
    folder = directory / CHECKPOINTS
    return sorted(folder.glob("*.ckpt"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []


def last_checkpoint(directory: str | Path) -> Path | None:
    """The newest ``last*.ckpt`` in ``directory/checkpoints``, or None."""
    last = [p for p in _checkpoints(Path(directory)) if p.name.startswith("last")]
    return last[-1] if last else None


def best_checkpoint(directory: str | Path) -> Path | None:
    """The best checkpoint in ``directory/checkpoints``: the only non-``last`` one, or the best
    that the newest checkpoint's ``ModelCheckpoint`` state records, or the newest non-``last``."""
    checkpoints = _checkpoints(Path(directory))
    ranked = [p for p in checkpoints if not p.name.startswith("last")]
    if len(ranked) <= 1:
        return ranked[0] if ranked else None
    try:
        state = torch.load(checkpoints[-1], map_location="cpu", mmap=True, weights_only=True)
        for callback in state.get("callbacks", {}).values():
            best = callback.get("best_model_path") if isinstance(callback, dict) else None
            if best and Path(best).name in {p.name for p in ranked}:
                return next(p for p in ranked if p.name == Path(best).name)
    except Exception:  # an unreadable state only costs the ranking
        pass
    return ranked[-1]


def check_checkpoint(path: str | Path) -> Path:
    """``path`` if it is a readable checkpoint file, else one ``ValueError`` saying why."""
    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise ValueError(f"ckpt_path: expected a checkpoint file, got {str(path)!r} ({what})")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            legacy = handle.read(1) == b"\x80"  # torch.save's pre-1.6 pickle format
        if not legacy:
            raise ValueError(
                f"ckpt_path: {path} is not a readable checkpoint: not a torch checkpoint, or truncated "
                f"({path.stat().st_size} bytes)"
            )
    return path


def plan_run(subcommand: str, root: str | Path, ckpt_path: str | None) -> RunPlan:
    """The run directory and checkpoint of ``subcommand`` (module docstring)."""
    root = Path(root)
    if subcommand == "fit":
        return _plan_fit(root, ckpt_path)
    if subcommand not in EVALUATIONS:
        raise ValueError(f"subcommand: expected 'fit' or one of {EVALUATIONS}, got {subcommand!r}")
    if ckpt_path in ("last", "best"):
        found = last_checkpoint(root) if ckpt_path == "last" else best_checkpoint(root)
        if found is None:
            raise ValueError(
                f"ckpt_path: {ckpt_path!r} needs a checkpoint in {root / CHECKPOINTS}, but there is none; "
                f"train first (train.py fit with the same config), or pass a checkpoint file"
            )
        ckpt_path = str(check_checkpoint(found))
    elif ckpt_path is not None:
        ckpt_path = str(check_checkpoint(ckpt_path))
    else:
        warnings.warn(
            f"ckpt_path: none given, so {subcommand} runs the model's initial, untrained weights; "
            "pass --ckpt_path last (or best, or a file) to evaluate a trained run",
            UserWarning,
            stacklevel=2,
        )
    return RunPlan(fresh_directory(root / subcommand), ckpt_path, "config.yaml")


def _plan_fit(root: Path, ckpt_path: str | None) -> RunPlan:
    if ckpt_path == "hpc" or str(ckpt_path).startswith("registry"):  # Lightning resolves these
        return RunPlan(root, ckpt_path, "config.resume.yaml", resumed=True)
    if ckpt_path == "last":
        found = last_checkpoint(root)
        if found is not None:
            return RunPlan(root, str(check_checkpoint(found)), "config.resume.yaml", resumed=True)
        directory = fresh_directory(root)
        warnings.warn(
            f"ckpt_path: 'last' found no checkpoint in {root / CHECKPOINTS} to resume, so training starts "
            f"from scratch in {directory}",
            UserWarning,
            stacklevel=3,
        )
        return RunPlan(directory, None, "config.yaml")
    if ckpt_path is not None:
        checkpoint = check_checkpoint(ckpt_path).resolve()
        if checkpoint.parent == (root / CHECKPOINTS).resolve():  # continue that run in place
            return RunPlan(root, str(checkpoint), "config.resume.yaml", resumed=True)
        return RunPlan(fresh_directory(root), str(checkpoint), "config.yaml")
    return RunPlan(fresh_directory(root), None, "config.yaml")
