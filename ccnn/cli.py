"""The training command line: a LightningCLI over every LightningModule and datamodule.

``python train.py fit --config configs/dynamics_gnn.yaml`` (or ``ccnn-train fit ...``)
builds the ``model`` and ``data`` named by ``class_path`` in the YAML (any
``LightningModule`` / ``LightningDataModule``, e.g. ``ccnn.models.DynamicsGNN`` and
``ccnn.data.ActivityDataModule``), links dataset properties (number of neurons, inputs,
classes, input positions) from the datamodule into the model, and runs ``fit`` /
``validate`` / ``test`` / ``predict``. Configs compose with repeated ``--config``; any key
can be overridden on the command line, e.g. ``--data.path rec.npz`` or
``--trainer.max_epochs 5``.

Defaults that every run gets:

- ``seed_everything: 0`` (saved in the run's ``config.yaml``);
- the logger :class:`ccnn.loggers.WandbLogger` (offline when W&B cannot log in without a
  prompt) writing under ``trainer.default_root_dir``; the full resolved config is logged;
- ``checkpoint``: a ``ModelCheckpoint`` keeping the best (by the model's ``monitor``) and
  the last checkpoint in ``<default_root_dir>/checkpoints``, so that
  ``fit --ckpt_path last`` resumes the latest run of a config;
- a rich progress bar and a one-line summary at the end of ``fit``.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import lightning as L
import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info

__all__ = ["CCNNCLI", "RunSummary", "main"]

#: Datamodule attributes copied into the model's arguments of the same name, when both exist.
LINKED_ATTRIBUTES = ("n_neurons", "n_inputs", "n_classes", "input_positions")
DEFAULT_LOGGER = {"class_path": "ccnn.loggers.WandbLogger"}


class LoggedSaveConfigCallback(SaveConfigCallback):
    """Writes ``config.yaml`` to the run directory and logs the full resolved config."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False, skip_check=True))
        for logger in trainer.loggers:
            logger.log_hyperparams({"config": config})


class RunSummary(Callback):
    """Prints one line at the end of ``fit``: time, key metrics, and where everything went."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if name.startswith(("val/", "test/")) and value.numel() == 1
        }
        keys = [k for k in getattr(pl_module, "summary_metrics", ()) if k in metrics] or sorted(metrics)[:5]
        parts = [f"fit done in {time.perf_counter() - getattr(self, '_started', time.perf_counter()):.0f} s"]
        parts += [f"{key} {metrics[key]:.4g}" for key in keys]
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


class CCNNCLI(LightningCLI):
    """LightningCLI with ccnn's links and defaults (module docstring)."""

    def add_arguments_to_parser(self, parser) -> None:
        # Dataset properties are never typed twice; a link is skipped when the datamodule
        # does not have the attribute.
        for name in LINKED_ATTRIBUTES:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.save_top_k": 1})

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = config.trainer.get("default_root_dir") or "runs"
        logger = config.trainer.get("logger")
        if logger is None or logger is True:
            config.trainer.logger = logger = Namespace(**DEFAULT_LOGGER, init_args=Namespace())
        # Loggers whose save_dir is left at "runs" write into the config's own run directory.
        if getattr(logger, "get", None) is not None and logger.get("init_args") is not None:
            if logger.init_args.get("save_dir") in (None, "runs"):
                logger.init_args.save_dir = str(root)
        checkpoint = config.checkpoint
        self._keep_last, checkpoint.save_last = bool(checkpoint.save_last), False  # see instantiate_trainer
        if checkpoint.dirpath is None:
            checkpoint.dirpath = str(Path(root) / "checkpoints")
        if checkpoint.monitor is None:
            monitor = getattr(_import(config.model.class_path), "monitor", None)
            if monitor is not None:
                checkpoint.monitor, checkpoint.mode = monitor

    def instantiate_trainer(self, **kwargs):
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        best = self._get(self.config_init, "checkpoint")
        given = config.get("callbacks") or []
        given = given if isinstance(given, list) else [given]
        callbacks: list[Callback] = [RunSummary()]
        if config.get("enable_checkpointing") is not False:
            callbacks.append(best)
            if self._keep_last:
                # Lightning refreshes ``last.ckpt`` only when a best checkpoint is saved in the
                # same step; a second callback keeps the latest epoch, whatever the metric did.
                callbacks.append(
                    ModelCheckpoint(
                        dirpath=best.dirpath,
                        filename=ModelCheckpoint.CHECKPOINT_NAME_LAST,
                        save_top_k=1,
                        enable_version_counter=False,
                    )
                )
        has_bar = any(isinstance(callback, ProgressBar) for callback in given)
        if config.get("enable_progress_bar") is not False and not has_bar:
            callbacks.append(RichProgressBar())
        return self._instantiate_trainer(config, callbacks)


def _import(class_path: str):
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def main(args: list[str] | None = None, run: bool = True) -> CCNNCLI:
    """Entry point of ``train.py`` and ``ccnn-train``."""
    return CCNNCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_callback=LoggedSaveConfigCallback,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )
