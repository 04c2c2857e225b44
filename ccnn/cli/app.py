"""The LightningCLI of ``train.py``: links, defaults, run directories and callbacks (see ``ccnn.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info

from ccnn._io import write_new
from ccnn.callbacks import EpochSeed, EvaluationWriter, RunSummary
from ccnn.cli.errors import reported_errors
from ccnn.cli.parser import DEFAULT_LOGGER, CCNNArgumentParser, import_class, resolve_defaults
from ccnn.cli.runs import RunPlan, plan_run

__all__ = ["CCNNCLI", "DEFAULT_LOGGER", "LINKED_ATTRIBUTES", "main"]

#: Datamodule attributes copied into the model's arguments of the same name, when both exist.
LINKED_ATTRIBUTES = ("n_neurons", "n_nodes", "n_regions", "n_inputs", "n_classes", "input_positions")


class LoggedSaveConfigCallback(SaveConfigCallback):
    """Saves the run's config into the run directory under a free name and logs it.

    The config saved is the one the run used, with ``null`` where a path derives from
    ``default_root_dir`` (checkpoints, the logger's folder), so that it can be re-run into
    another folder; ``--trainer.default_root_dir`` then moves everything.
    """

    def __init__(self, *args: Any, saved_config: Namespace | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "save_to_log_dir": False})
        self.saved_config = saved_config

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        config = self.saved_config if self.saved_config is not None else self.config
        text = self.parser.dump(config, skip_none=False, skip_check=True)
        target = Path(trainer.default_root_dir) / self.config_filename
        write_new(target, lambda handle: handle.write(text.encode()))
        for logger in trainer.loggers:
            logger.log_hyperparams({"config": yaml.safe_load(text)})


class CCNNCLI(LightningCLI):
    """LightningCLI with ccnn's links, defaults and run directories (``ccnn.cli``)."""

    plan: RunPlan | None = None

    def add_arguments_to_parser(self, parser) -> None:
        # Dataset properties are never typed twice; a link is skipped when the datamodule
        # does not have the attribute.
        for name in LINKED_ATTRIBUTES:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "trainer.logger": {"class_path": DEFAULT_LOGGER},
            }
        )

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        resolve_defaults(config)
        if subcommand:  # a command runs: choose its directory and checkpoint (ccnn.cli.runs)
            root = Path(config.trainer.get("default_root_dir") or _default_root(config.model))
            self.plan = plan_run(subcommand, root, config.get("ckpt_path"))
            # The saved config names the fit's own folder (so that --ckpt_path last resumes that
            # run); an evaluation's names the run it evaluated.
            self._saved_root = self.plan.directory if subcommand == "fit" else root
            config.trainer.default_root_dir = str(self.plan.directory)
            config.ckpt_path = self.plan.ckpt_path
            if subcommand == "fit" and self.plan.directory != root:
                rank_zero_info(f"{root} already holds a run: this run goes to {self.plan.directory}")
            elif self.plan.resumed:
                rank_zero_info(f"resuming the run in {root} from {self.plan.ckpt_path}")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = config.trainer.get("default_root_dir") or _default_root(config.model)
        config.trainer.default_root_dir = str(root)
        run = self._saved_root if self.plan is not None else root  # the run written or evaluated
        saved = config.clone()  # the run as configured, before the paths derived below
        saved.trainer.default_root_dir = str(run)
        logger = config.trainer.get("logger")
        # Loggers whose save_dir is left at null (or "runs") write into the run directory.
        if isinstance(logger, Namespace) and isinstance(logger.get("init_args"), Namespace):
            if logger.init_args.get("save_dir") in (None, "runs"):
                logger.init_args.save_dir = str(root)
        if config.checkpoint.dirpath is None:  # an evaluation's are those of the run it evaluates
            config.checkpoint.dirpath = str(Path(run) / "checkpoints")
        name = self.plan.config_name if self.plan is not None else "config.yaml"
        self.save_config_kwargs = {"config_filename": name, "saved_config": saved}

    def instantiate_trainer(self, **kwargs):
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        best = self._get(self.config_init, "checkpoint")
        given = config.get("callbacks") or []
        given = given if isinstance(given, list) else [given]
        callbacks: list[Callback] = [RunSummary(), EpochSeed(), EvaluationWriter()]
        if config.get("enable_checkpointing") is not False:
            callbacks.append(best)
            if best.save_last:
                # Lightning refreshes ``last.ckpt`` only when a best checkpoint is saved in the
                # same step; a second callback keeps the latest epoch, whatever the metric did.
                best.save_last = False
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


def _default_root(model: Any) -> Path:
    """``runs/<registry name>`` (or the class name) for a config that sets no default_root_dir."""
    from ccnn.models.registry import REGISTRY

    class_path = model.get("class_path") if isinstance(model, Namespace) else None
    if not class_path:
        return Path("runs")
    cls = import_class(class_path)
    names = [name for name in REGISTRY.names() if REGISTRY.builder(name) is cls]
    return Path("runs") / (names[0] if names else cls.__name__)


def main(args: list[str] | None = None, run: bool = True) -> CCNNCLI:
    """Entry point of ``train.py`` and ``ccnn-train``.

    From the command line (``args`` None), an input error prints one message and exits with
    status 1 (:func:`ccnn.cli.errors.reported_errors`); called with ``args`` from Python,
    exceptions propagate as usual.
    """

    def build() -> CCNNCLI:
        return CCNNCLI(
            L.LightningModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            parser_class=CCNNArgumentParser,
            save_config_callback=LoggedSaveConfigCallback,
            args=args,
            run=run,
        )

    if args is not None:
        return build()
    with reported_errors():
        return build()
