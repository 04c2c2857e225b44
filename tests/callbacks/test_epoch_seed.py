"""EpochSeed: each epoch's random stream depends on (seed, epoch) only."""

import random
from types import SimpleNamespace

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from ccnn.callbacks import EpochSeed, epoch_seed


def draw(loader: DataLoader) -> tuple:
    order = [int(i) for batch in loader for i in batch]
    return order, float(torch.rand(())), float(np.random.rand()), random.random()  # noqa: NPY002


def test_an_epoch_draws_the_same_whatever_came_before():
    loader = DataLoader(torch.arange(20), batch_size=5, shuffle=True)
    callback = EpochSeed(seed=7)
    trainer = SimpleNamespace(current_epoch=3, train_dataloader=loader)
    callback.on_train_epoch_start(trainer, None)
    first = draw(loader)
    torch.rand(100), np.random.rand(5), random.random()  # noqa: NPY002 - other work in between
    callback.on_train_epoch_start(trainer, None)
    assert draw(loader) == first
    assert isinstance(loader.sampler, RandomSampler) and sorted(first[0]) == list(range(20))
    trainer.current_epoch = 4  # another epoch: another order and other numbers
    callback.on_train_epoch_start(trainer, None)
    other = draw(loader)
    assert other[0] != first[0] and other[1:] != first[1:]


def test_seeds_differ_across_seeds_epochs_and_streams_and_restore_from_state():
    seeds = {epoch_seed(s, e, k) for s in range(3) for e in range(3) for k in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**63 for s in seeds)
    restored = EpochSeed()
    restored.load_state_dict(EpochSeed(seed=123).state_dict())
    assert restored.seed == 123
