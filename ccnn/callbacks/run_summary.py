"""One line at the end of ``fit``: how long it took, the key metrics, and where everything went."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

from ccnn._format import format_duration, format_metric

__all__ = ["RunSummary", "logged_scalars"]


def logged_scalars(trainer: L.Trainer, prefixes: tuple[str, ...]) -> dict[str, float]:
    """The scalar metrics the trainer holds under any of ``prefixes`` (e.g. ``("val/",)``)."""
    return {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith(prefixes) and value.numel() == 1
    }


class RunSummary(Callback):
    """Prints one line at the end of ``fit``: time, key metrics, and where everything went.

    The metrics are the model's ``summary_metrics`` (or the first five ``val/`` / ``test/``
    ones), printed by :func:`format_metric`.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = logged_scalars(trainer, ("val/", "test/"))
        keys = [k for k in getattr(pl_module, "summary_metrics", ()) if k in metrics] or sorted(metrics)[:5]
        elapsed = time.perf_counter() - getattr(self, "_started", time.perf_counter())
        parts = [f"fit done in {format_duration(elapsed)}"]
        parts += [f"{key} {format_metric(metrics[key])}" for key in keys]
        parts.append(f"run directory {trainer.log_dir}")  # on every rank: a collective
        checkpoint = trainer.checkpoint_callback
        if isinstance(checkpoint, ModelCheckpoint) and checkpoint.dirpath:
            parts.append(f"checkpoints {checkpoint.dirpath} (best, last)")
        exports = getattr(pl_module, "output_directory", None)
        if callable(exports):
            parts.append(f"exports {exports()}")
        self._line = " | ".join(parts)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # After the model's own on_fit_end (which writes the exports): the last word.
        line = getattr(self, "_line", None)
        if stage == "fit" and line:
            rank_zero_info(line)
            self._line = None
