"""The training command line: a LightningCLI over every LightningModule and datamodule.

``python train.py fit --config configs/dynamics_gnn.yaml`` (or ``ccnn-train fit ...``)
builds the ``model`` and ``data`` named by ``class_path`` in the YAML (any
``LightningModule`` / ``LightningDataModule``, e.g. ``ccnn.models.DynamicsGNN`` and
``ccnn.data.ActivityDataModule``), links dataset properties such as the number of neurons
from the datamodule into the model, and runs ``fit`` / ``validate`` / ``test`` /
``predict``. Configs compose with repeated ``--config``; any key can be overridden on the
command line, e.g. ``--data ccnn.data.ActivityDataModule --data.path rec.npz`` or
``--trainer.max_epochs 5``.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.cli import LightningCLI

__all__ = ["CCNNCLI", "main"]


class CCNNCLI(LightningCLI):
    """LightningCLI with the links between ccnn datamodules and models."""

    def add_arguments_to_parser(self, parser) -> None:
        # The datamodule knows N (from the recording or the simulation arguments): never type it twice.
        parser.link_arguments("data.n_neurons", "model.init_args.n_neurons", apply_on="instantiate")


def main(args: list[str] | None = None, run: bool = True) -> CCNNCLI:
    """Entry point of ``train.py`` and ``ccnn-train``."""
    return CCNNCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
    )
