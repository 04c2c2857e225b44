import re
from collections import Counter

import numpy as np
import pytest
import torch
from lightning.pytorch.utilities.data import _update_dataloader
from sklearn.datasets import load_digits
from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler

from ccnn.data import DigitsDataModule
from ccnn.nn.masks import grid_positions

TARGET = load_digits().target


@pytest.fixture(scope="module")
def datamodule():
    module = DigitsDataModule()
    module.setup("fit")
    return module


def test_sizes_and_positions_are_known_before_setup():
    module = DigitsDataModule()
    assert module.train_indices is None  # nothing loaded yet
    assert (module.n_inputs, module.n_classes) == (64, 10)
    positions = module.input_positions
    assert positions.shape == (64, 2) and positions.dtype == torch.float32
    assert positions.min() == 0 and positions.max() == 1
    # Row-major pixels: pixel 8 r + c sits at (r / 7, c / 7), the model's default input grid.
    assert torch.allclose(positions[8 * 2 + 5], torch.tensor([2 / 7, 5 / 7]))
    torch.testing.assert_close(positions, grid_positions(64))


def test_split_sizes_are_disjoint_and_cover_the_data(datamodule):
    train, val, test = datamodule.train_indices, datamodule.val_indices, datamodule.test_indices
    assert (len(train), len(val), len(test)) == (1797 - 180 - 359, round(0.1 * 1797), round(0.2 * 1797))
    together = np.concatenate([train, val, test])
    assert len(np.unique(together)) == len(together) == 1797


def test_split_is_stratified(datamodule):
    overall = np.bincount(TARGET, minlength=10)
    for indices in (datamodule.train_indices, datamodule.val_indices, datamodule.test_indices):
        counts = np.bincount(TARGET[indices], minlength=10)
        expected = overall * len(indices) / len(TARGET)
        # Stratification keeps every class within one image of its proportional share.
        assert np.abs(counts - expected).max() <= 1, (counts, expected)


def test_split_is_deterministic_by_seed(datamodule):
    again = DigitsDataModule(seed=0)
    again.setup()
    other = DigitsDataModule(seed=1)
    other.setup()
    np.testing.assert_array_equal(again.test_indices, datamodule.test_indices)
    np.testing.assert_array_equal(again.val_indices, datamodule.val_indices)
    assert not np.array_equal(other.test_indices, datamodule.test_indices)


def test_batches_hold_scaled_pixels_and_labels(datamodule):
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == (64, 64) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.long
    images, labels = datamodule._datasets["test"].tensors
    assert images.min() == 0 and images.max() == 1
    np.testing.assert_allclose(images.numpy(), load_digits().data[datamodule.test_indices] / 16)
    np.testing.assert_array_equal(labels.numpy(), TARGET[datamodule.test_indices])
    assert isinstance(datamodule.train_dataloader().sampler, RandomSampler)
    assert isinstance(datamodule.val_dataloader().sampler, SequentialSampler)


def test_lightning_shards_the_training_set_across_ddp_ranks(datamodule):
    # What Lightning does under DDP: rebuild the loader around a DistributedSampler.
    loader = datamodule.train_dataloader()
    shards = []
    for rank in range(2):
        sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=rank, shuffle=True, seed=0)
        shard = _update_dataloader(loader, sampler)
        assert shard.batch_size == loader.batch_size
        shards.append(torch.cat([x for x, _ in shard]))
    # Two halves of the 1258 training images that together are exactly the training set
    # (1258 is even: no padding).
    assert len(shards[0]) == len(shards[1]) == 629
    served = Counter(map(tuple, torch.cat(shards).tolist()))
    assert served == Counter(map(tuple, loader.dataset.tensors[0].tolist()))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction + test_fraction"),
        ({"num_workers": -1}, "num_workers"),
        ({"seed": "0"}, "seed"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match="^" + re.escape(name) + ": expected"):
        DigitsDataModule(**kwargs)


def test_too_small_a_split_for_stratification_is_refused():
    module = DigitsDataModule(val_fraction=0.002)  # 4 images for 10 classes
    with pytest.raises(ValueError, match=r"^val_fraction: expected at least 10"):
        module.setup()
