r"""Exact resume: every epoch draws its randomness from (seed, epoch) alone.

A run resumed from a checkpoint restores weights, optimiser and loop counters, but not the
random number generators, whose state depends on everything the killed process drew. The
shuffling of a ``DataLoader``, dropout masks and augmentations then differ from an
uninterrupted run (measured before this callback: weights off by up to 0.06 on the digits
classifier, and another best epoch). At the start of each training epoch :class:`EpochSeed`

* gives every training ``DataLoader`` a generator of its own, and its ``RandomSampler`` one
  too, both seeded from :math:`(s, e)`, the run's seed and the epoch index: the order of the
  epoch no longer depends on the global generator (Lightning creates an epoch's iterator
  before or after the epoch-start hooks depending on whether the run was restarted, and the
  iterator draws its base seed from the global generator when the loader has none);
* reseeds torch (every device), NumPy's global generator and ``random`` from :math:`(s, e)`.

So epoch :math:`e` draws the same numbers whether or not the process was restarted before it.
The checkpoints that ``train.py`` writes are taken at epoch ends, so a run killed mid-epoch
and resumed is bit-identical to an uninterrupted one (``tests/test_resume.py`` kills runs of
every registered model with SIGKILL). Not covered: randomness inside ``DataLoader`` worker
processes beyond their seeds, and iterable datasets that draw from the global generator
while being prefetched.

The seed is ``seed_everything``'s (``PL_GLOBAL_SEED``) when set, else the process's torch
seed at the start of ``fit``; it is saved in the checkpoint and restored with it. Every DDP
rank gets the same seeds, as with ``seed_everything`` (``DistributedSampler`` shuffles by
(seed, epoch) already).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, RandomSampler

__all__ = ["EpochSeed", "epoch_seed"]


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for ``stream`` in epoch ``epoch`` of a run seeded ``seed`` (NumPy's
    SeedSequence mixing, so nearby seeds and epochs give unrelated streams)."""
    low, high = np.random.SeedSequence([seed % 2**63, epoch, stream]).generate_state(2)
    return ((int(high) << 32) | int(low)) & (2**63 - 1)


def _loaders(iterables: Any) -> list[DataLoader]:
    if isinstance(iterables, DataLoader):
        return [iterables]
    if isinstance(iterables, Mapping):
        iterables = list(iterables.values())
    if isinstance(iterables, list | tuple):
        return [loader for item in iterables for loader in _loaders(item)]
    return []


class EpochSeed(Callback):
    """Seeds every epoch's shuffling and random draws from (seed, epoch) (module docstring).

    Args:
        seed: the run's seed; None: ``PL_GLOBAL_SEED`` or torch's initial seed (at ``fit``).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    @property
    def state_key(self) -> str:
        return "EpochSeed"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.seed is None:
            given = os.environ.get("PL_GLOBAL_SEED")
            self.seed = int(given) if given is not None else torch.initial_seed()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed, epoch = self.seed if self.seed is not None else 0, trainer.current_epoch
        for loader in _loaders(trainer.train_dataloader):
            # Iterators made after this point draw their base seed from here, not the global stream.
            loader.generator = torch.Generator().manual_seed(epoch_seed(seed, epoch, 1))
            if isinstance(loader.sampler, RandomSampler):  # draws its order at the first batch
                loader.sampler.generator = torch.Generator().manual_seed(epoch_seed(seed, epoch, 2))
        global_seed = epoch_seed(seed, epoch)
        torch.manual_seed(global_seed)  # every device too
        np.random.seed(global_seed % 2**32)  # noqa: NPY002 - the legacy global generator is what user code draws from
        random.seed(global_seed)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seed = state_dict.get("seed", self.seed)
