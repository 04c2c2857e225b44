"""What ``validate``, ``test`` and ``predict`` produce, written into the run directory.

* ``validate`` / ``test``: ``metrics.json``, every metric the model logged for the stage
  plus the checkpoint that was evaluated.
* ``predict``: ``predictions.npz``, one array per key, rows in dataset order:

  - what ``predict_step`` returns: a tensor, stored under the model's ``prediction_name``
    (``"probabilities"`` for the classifiers; ``"predictions"`` by default), or a dict of
    tensors, stored under its own keys (the dynamics GNN: ``frame`` and ``derivative``);
  - ``target``: the batch's labels, when it carries them (``(x, y)`` tuples, PyG ``y``,
    or a dict's ``"target"``);
  - ``index``: each row's position in the predict dataset (map-style datasets);
  - whole-run arrays from the model's ``prediction_extras()``, when it has one (the
    dynamics GNN's rollout).

``train.py`` gives each evaluation a folder of its own (``<run>/predict``, ``<run>/predict-2``,
...); files are never replaced in any case (:func:`ccnn._io.write_new` takes a numbered name).
Under DDP the ranks' rows are gathered and rank 0 writes one file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from ccnn._format import format_duration, format_metric
from ccnn._io import write_new
from ccnn.callbacks.run_summary import logged_scalars

__all__ = ["EvaluationWriter"]


class EvaluationWriter(Callback):
    """Writes evaluation metrics and predictions into ``directory`` (module docstring).

    Args:
        directory: where the files go; None: the trainer's ``default_root_dir`` (the run
            directory under ``train.py``).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = directory

    def _directory(self, trainer: L.Trainer) -> Path:
        return Path(self.directory if self.directory is not None else trainer.default_root_dir)

    # ------------------------------------------------------------------ validate / test
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    on_test_start = on_validation_start

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":  # not the validation inside fit
            self._write_metrics(trainer, "validate", "val/")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_metrics(trainer, "test", "test/")

    def _write_metrics(self, trainer: L.Trainer, stage: str, prefix: str) -> None:
        if not trainer.is_global_zero:
            return
        metrics = logged_scalars(trainer, (prefix,))
        record = {"checkpoint": trainer.ckpt_path, "metrics": metrics}
        path = write_new(
            self._directory(trainer) / "metrics.json",
            lambda handle: handle.write(json.dumps(record, indent=2).encode()),
        )
        elapsed = time.perf_counter() - getattr(self, "_started", time.perf_counter())
        shown = " | ".join(f"{k} {format_metric(v)}" for k, v in sorted(metrics.items())[:6])
        rank_zero_info(
            f"{stage} done in {format_duration(elapsed)} | {shown} | checkpoint {trainer.ckpt_path} | "
            f"metrics {path}"
        )

    # ------------------------------------------------------------------ predict
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows: list[dict[str, np.ndarray]] = []

    def on_predict_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if isinstance(outputs, Tensor):
            outputs = {getattr(pl_module, "prediction_name", "predictions"): outputs}
        if not isinstance(outputs, Mapping):
            return  # nothing array-like to store
        rows = {key: _numpy(value) for key, value in outputs.items() if isinstance(value, Tensor)}
        count = len(next(iter(rows.values()))) if rows else 0
        target = _batch_target(batch)
        if target is not None and "target" not in rows and len(target) == count:
            rows["target"] = _numpy(target)
        indices = _batch_indices(trainer, batch_idx, dataloader_idx)
        if indices is not None and len(indices) == count:
            rows["index"] = np.asarray(indices, dtype=np.int64)
        self._rows.append(rows)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        arrays = _concatenate(getattr(self, "_rows", []))
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, arrays)
            arrays = _concatenate(gathered)
        order_key = "index" if "index" in arrays else "frame" if "frame" in arrays else None
        if order_key is not None:
            order = np.argsort(arrays[order_key], kind="stable")
            rows = len(order)
            arrays = {k: v[order] if len(v) == rows else v for k, v in arrays.items()}
        if not trainer.is_global_zero:
            return
        extras = getattr(pl_module, "prediction_extras", None)
        if callable(extras):
            arrays.update({k: _numpy(v) for k, v in extras().items()})
        if not arrays:
            return
        path = write_new(
            self._directory(trainer) / "predictions.npz", lambda handle: np.savez(handle, **arrays)
        )
        shapes = ", ".join(f"{key} {tuple(value.shape)}" for key, value in arrays.items())
        rank_zero_info(f"predict done: {shapes} | checkpoint {trainer.ckpt_path} | predictions {path}")


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _batch_target(batch: Any) -> Tensor | None:
    if isinstance(batch, list | tuple) and len(batch) >= 2 and isinstance(batch[1], Tensor):
        return batch[1]
    if isinstance(batch, Mapping):
        target = batch.get("target")
        return target if isinstance(target, Tensor) else None
    target = getattr(batch, "y", None)
    return target if isinstance(target, Tensor) else None


def _batch_indices(trainer: L.Trainer, batch_idx: int, dataloader_idx: int) -> list[int] | None:
    """Dataset indices of the batch, which Lightning records for map-style predict loaders."""
    loaders = trainer.predict_dataloaders
    loader = loaders[dataloader_idx] if isinstance(loaders, list | tuple) else loaders
    seen = getattr(getattr(loader, "batch_sampler", None), "seen_batch_indices", None)
    return seen[batch_idx] if seen is not None and batch_idx < len(seen) else None


def _concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [part for part in parts if part]
    keys = [key for key in parts[0] if all(key in part for part in parts)] if parts else []
    return {key: np.concatenate([part[key] for part in parts]) for key in keys}
