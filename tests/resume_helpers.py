"""Callbacks that fault a training run on purpose, for the kill-and-resume tests (importable by
``train.py`` subprocesses through ``PYTHONPATH=tests``)."""

import os
import signal

import lightning as L


class KillAtBatch(L.Callback):
    """SIGKILLs its own process (no cleanup, no exception handlers) at a batch of an epoch."""

    def __init__(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
