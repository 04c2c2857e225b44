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

- ``seed_everything: 0`` (saved in the run's ``config.yaml``), and every training epoch
  reseeded from (seed, epoch) so that a resumed run equals an uninterrupted one
  (:class:`ccnn.callbacks.EpochSeed`);
- the logger :class:`ccnn.loggers.WandbLogger` (offline when W&B cannot log in without a
  prompt) writing into the run directory; the full resolved config is logged;
- ``checkpoint``: a ``ModelCheckpoint`` keeping the best (by the model's ``monitor``) and
  the last checkpoint in ``<run directory>/checkpoints``;
- run directories that never overwrite one another (:mod:`ccnn.cli.runs`): a new ``fit``
  takes ``default_root_dir`` if it is empty, else ``<default_root_dir>-2``, ...;
  ``fit --ckpt_path last`` resumes the run in ``default_root_dir``; ``validate`` / ``test`` /
  ``predict --ckpt_path last|best`` evaluate it, each in a folder of its own inside the run
  (``<run>/predict``, ...) with ``metrics.json`` / ``predictions.npz``
  (:class:`ccnn.callbacks.EvaluationWriter`);
- a rich progress bar, a one-line summary at the end of ``fit``, and input errors as one
  message (:mod:`ccnn.cli.errors`), misspelled options with a suggestion (:mod:`ccnn.cli.parser`).
"""

from ccnn.callbacks import RunSummary
from ccnn.cli.app import CCNNCLI, DEFAULT_LOGGER, LINKED_ATTRIBUTES, main

__all__ = ["CCNNCLI", "DEFAULT_LOGGER", "LINKED_ATTRIBUTES", "RunSummary", "main"]
