"""The task datamodules of the wiring-cost zoo: MNIST-1D (and its shuffled control), the
two-task module and delayed match-to-sample."""

import random
import re

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from ccnn import data
from ccnn.data import DelayedMatchDataModule, DigitsDataModule, MNIST1DDataModule, TwoTaskDataModule
from ccnn.data.tasks.mnist1d import generate_mnist1d

DIGITS = load_digits()


def tensors(module, split):
    return module._datasets[split].tensors


@pytest.fixture(scope="module")
def mnist1d():
    module = MNIST1DDataModule()
    module.setup()  # generates the 5000 signals once; the others take them from the cache
    return module


@pytest.fixture(scope="module")
def shuffled(mnist1d):
    module = data.get("mnist1d_shuffled", permutation_seed=3)
    module.setup()
    return module


@pytest.fixture(scope="module")
def two_task(mnist1d):
    module = TwoTaskDataModule()
    module.setup()
    return module


@pytest.fixture(scope="module")
def memory():
    module = DelayedMatchDataModule(n_train=2000, n_val=101, n_test=300)
    module.setup()
    return module


# --- MNIST-1D ---------------------------------------------------------------------------


def test_mnist1d_is_known_before_setup():
    module = MNIST1DDataModule()
    assert module.train_indices is None and module.permutation is None
    assert (module.n_inputs, module.n_classes) == (40, 10)
    positions = module.input_positions
    assert positions.shape == (40, 2) and positions.dtype == torch.float32
    torch.testing.assert_close(positions[7], torch.tensor([7 / 39, 0.5]))
    assert positions[0, 0] == 0 and positions[-1, 0] == 1 and (positions[:, 1] == 0.5).all()


def test_mnist1d_keeps_its_own_test_set_and_holds_out_a_stratified_validation_set(mnist1d):
    x_train, y_train, x_test, y_test = generate_mnist1d(5000, 42)
    train, val = mnist1d.train_indices, mnist1d.val_indices
    assert (len(train), len(val), len(mnist1d.test_indices)) == (3600, 400, 1000)
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(4000))
    overall = np.bincount(y_train, minlength=10)
    for indices in (train, val):
        expected = overall * len(indices) / 4000
        assert np.abs(np.bincount(y_train[indices], minlength=10) - expected).max() <= 1
    x, y = tensors(mnist1d, "val")
    np.testing.assert_array_equal(x.numpy(), x_train[val])
    np.testing.assert_array_equal(y.numpy(), y_train[val])
    x, y = tensors(mnist1d, "test")
    np.testing.assert_array_equal(x.numpy(), x_test)
    np.testing.assert_array_equal(y.numpy(), y_test)
    x, y = next(iter(mnist1d.train_dataloader()))
    assert x.shape == (100, 40) and x.dtype == torch.float32
    assert y.shape == (100,) and y.dtype == torch.long


def test_mnist1d_is_mnist1d_make_dataset_and_leaves_the_global_random_state_alone():
    from mnist1d.data import get_dataset_args, make_dataset

    # mnist1d seeds the global generators; the datamodule puts their states back.
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    module = MNIST1DDataModule(num_samples=500, data_seed=7)  # a size not cached yet
    module.setup()
    assert random.getstate() == python_state
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    args = get_dataset_args()
    args.num_samples, args.seed = 500, 7
    reference = make_dataset(args)
    x, y = tensors(module, "train")
    np.testing.assert_allclose(x.numpy(), reference["x"][module.train_indices], rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), reference["y"][module.train_indices])
    np.testing.assert_allclose(tensors(module, "test")[0].numpy(), reference["x_test"], rtol=1e-6)
    # Another generation seed gives other signals.
    other = MNIST1DDataModule(num_samples=500, data_seed=8)
    other.setup()
    assert not torch.equal(tensors(other, "test")[0], tensors(module, "test")[0])


def test_mnist1d_is_generated_once_per_process_and_read_only(mnist1d):
    assert generate_mnist1d(5000, 42) is generate_mnist1d(5000, 42)
    with pytest.raises(ValueError, match="read-only"):
        generate_mnist1d(5000, 42)[0][0, 0] = 1.0
    assert "x" not in mnist1d.hparams and set(mnist1d.hparams) >= {"shuffled", "seed", "data_seed"}


def test_mnist1d_split_is_deterministic_by_seed(mnist1d):
    again, other = MNIST1DDataModule(seed=0), MNIST1DDataModule(seed=1)
    again.setup()
    other.setup()
    np.testing.assert_array_equal(again.val_indices, mnist1d.val_indices)
    assert torch.equal(tensors(again, "train")[0], tensors(mnist1d, "train")[0])
    assert not np.array_equal(other.val_indices, mnist1d.val_indices)
    # setup is idempotent: the same data sets after a second call
    before = dict(mnist1d._datasets)
    mnist1d.setup("test")
    assert all(mnist1d._datasets[k] is v for k, v in before.items())


def test_shuffled_control_permutes_the_columns_of_the_same_samples(mnist1d, shuffled):
    permutation = shuffled.permutation
    assert shuffled.shuffled and not mnist1d.shuffled
    assert sorted(permutation.tolist()) == list(range(40))
    assert (permutation != torch.arange(40)).sum() > 30  # a real shuffle, not a near-identity
    for split in ("train", "val", "test"):
        x, y = tensors(mnist1d, split)
        x_shuffled, y_shuffled = tensors(shuffled, split)
        assert torch.equal(y_shuffled, y)
        assert torch.equal(x_shuffled, x[:, permutation])
    # The positions stay: input k is still said to sit at position k.
    assert torch.equal(shuffled.input_positions, mnist1d.input_positions)
    # One fixed permutation per permutation_seed.
    assert torch.equal(MNIST1DDataModule(shuffled=True, permutation_seed=3).permutation, permutation)
    assert not torch.equal(MNIST1DDataModule(shuffled=True, permutation_seed=4).permutation, permutation)
    with pytest.raises(ValueError, match=r"^shuffled: "):
        data.get("mnist1d_shuffled", shuffled=False)


# --- two tasks --------------------------------------------------------------------------


def test_digits_mnist1d_inputs_and_labels_come_from_their_sources(two_task, mnist1d):
    assert two_task.n_inputs == 104 and two_task.n_classes == [10, 10] and two_task.n_tasks == 2
    assert two_task.task_names == ["digits", "mnist1d"]
    digits = DigitsDataModule(seed=0)
    digits.setup()
    digit_splits = {"train": digits.train_indices, "val": digits.val_indices, "test": digits.test_indices}
    mean, std = tensors(mnist1d, "train")[0].mean(), tensors(mnist1d, "train")[0].std()
    for split in ("train", "val", "test"):
        x, y = tensors(two_task, split)
        pick = two_task.digit_indices[split]
        assert x.shape == (len(tensors(mnist1d, split)[1]), 104) and y.shape == (len(x), 2)
        assert y.dtype == torch.long
        # the first 64 inputs: a digit image of class y[:, 0], from the digits' split of that name
        np.testing.assert_allclose(x[:, :64].numpy(), DIGITS.data[pick] / 16)
        np.testing.assert_array_equal(y[:, 0].numpy(), DIGITS.target[pick])
        assert np.isin(pick, digit_splits[split]).all()
        # the last 40: the MNIST-1D signal of class y[:, 1], standardised by the training split
        x_signal, y_signal = tensors(mnist1d, split)
        torch.testing.assert_close(x[:, 64:], (x_signal - mean) / std)
        assert torch.equal(y[:, 1], y_signal)
        np.testing.assert_array_equal(two_task.mnist1d_indices[split], getattr(mnist1d, f"{split}_indices"))
    train_signals = tensors(two_task, "train")[0][:, 64:]
    assert abs(float(train_signals.mean())) < 1e-5 and float(train_signals.std()) == pytest.approx(
        1, rel=1e-5
    )
    # Every digit class appears with every MNIST-1D class (independent pairing).
    y = tensors(two_task, "train")[1]
    assert len(torch.unique(y[:, 0] * 10 + y[:, 1])) == 100


def test_digits_mnist1d_positions_put_the_two_inputs_in_separate_halves(two_task):
    positions = two_task.input_positions
    assert positions.shape == (104, 2) and positions.min() >= 0 and positions.max() <= 1
    digit, signal = positions[:64], positions[64:]
    # side by side along the first coordinate, task 0's input (the digit) first
    assert digit[:, 0].max() <= 0.4 and (signal[:, 0] == 1).all()
    torch.testing.assert_close(signal[:, 1], torch.arange(40) / 39)
    # the digit grid is square: pixel (r, c) at (0.4 r / 7, 0.3 + 0.4 c / 7)
    torch.testing.assert_close(digit[8 * 2 + 5], torch.tensor([0.4 * 2 / 7, 0.3 + 0.4 * 5 / 7]))


def test_digits_mnist1d_pairing_is_deterministic_by_seed(two_task):
    again, other = TwoTaskDataModule(seed=0), TwoTaskDataModule(seed=1)
    again.setup()
    other.setup()
    np.testing.assert_array_equal(again.digit_indices["train"], two_task.digit_indices["train"])
    assert not np.array_equal(other.digit_indices["train"], two_task.digit_indices["train"])


def test_parity_magnitude_labels_are_computed_from_the_digit():
    module = data.get("two_task", variant="parity_magnitude", batch_size=16)
    assert module.n_inputs == 64 and module.n_classes == [2, 2]
    assert module.task_names == ["parity", "magnitude"] and module.mnist1d_indices is None
    odd = {1: 1, 3: 1, 5: 1, 7: 1, 9: 1}
    digits = DigitsDataModule(seed=0)
    digits.setup()
    x, y = next(iter(module.train_dataloader()))
    assert x.shape == (16, 64) and y.shape == (16, 2) and y.dtype == torch.long
    for split in ("train", "val", "test"):
        x, y = tensors(module, split)
        index = module.digit_indices[split]
        np.testing.assert_array_equal(index, getattr(digits, f"{split}_indices"))
        np.testing.assert_allclose(x.numpy(), DIGITS.data[index] / 16)
        expected = [[odd.get(d, 0), int(d in (5, 6, 7, 8, 9))] for d in DIGITS.target[index]]
        np.testing.assert_array_equal(y.numpy(), expected)
    torch.testing.assert_close(module.input_positions, DigitsDataModule().input_positions)


# --- delayed match-to-sample --------------------------------------------------------------


def test_delayed_match_shapes_and_windows(memory):
    assert (memory.n_inputs, memory.n_classes, memory.seq_len) == (8, 2, 16)
    assert memory.input_positions is None
    assert memory.sample_window == (0, 3) and memory.test_window == (13, 16)
    x, y = next(iter(memory.train_dataloader()))
    assert x.shape == (64, 16, 8) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.long
    assert [len(tensors(memory, s)[1]) for s in ("train", "val", "test")] == [2000, 101, 300]


def test_delayed_match_label_is_sample_equals_test(memory):
    for split in ("train", "val", "test"):
        x, y = tensors(memory, split)
        sample = x[:, 0:3].sum(1).argmax(1)
        test = x[:, 13:16].sum(1).argmax(1)
        assert torch.equal(sample, memory.sample_stimuli[split])
        assert torch.equal(test, memory.test_stimuli[split])
        assert torch.equal(y, (sample == test).long())
        # exactly balanced: n // 2 matches
        assert int(y.sum()) == len(y) // 2
    # The delay holds noise only, of the stated standard deviation.
    delay = tensors(memory, "train")[0][:, 3:13]
    assert abs(delay.std().item() - 0.1) < 0.005 and abs(delay.mean().item()) < 0.005


def test_delayed_match_needs_memory(memory):
    x, y = tensors(memory, "train")
    sample, test = memory.sample_stimuli["train"], memory.test_stimuli["train"]
    # Non-matching tests are uniform on the 7 other stimuli ...
    offset = ((test - sample) % 8)[y == 0]
    counts = torch.bincount(offset, minlength=8)
    assert counts[0] == 0 and counts[1:].min() > 100  # about 1000 / 7 = 143 each
    # ... so the test stimulus alone says nothing about the label: a classifier of the last
    # step's input is at chance.
    x_test, y_test = tensors(memory, "test")
    readout = LogisticRegression().fit(x[:, -1].numpy(), y.numpy())
    assert readout.score(x_test[:, -1].numpy(), y_test.numpy()) <= 0.6
    # With the sample remembered, the answer is the overlap of the two windows.
    overlap = (x_test[:, 0:3].mean(1) * x_test[:, 13:16].mean(1)).sum(1)
    assert ((overlap > 0.5).long() == y_test).float().mean() == 1


def test_delayed_recall_labels_are_the_samples():
    module = DelayedMatchDataModule(rule="recall", n_train=200, n_val=10, n_test=10)
    assert module.n_classes == 8
    x, y = module.train_dataloader().dataset.tensors
    # the same trials as the match rule, labelled by the sample
    match = DelayedMatchDataModule(n_train=200, n_val=10, n_test=10)
    torch.testing.assert_close(x, match.train_dataloader().dataset.tensors[0])
    assert torch.equal(y, x[:, : module.stimulus_steps].sum(1).argmax(1))


def test_delayed_match_without_noise_is_one_hot_and_splits_differ():
    module = DelayedMatchDataModule(
        n_stimuli=4, stimulus_steps=2, delay_steps=1, noise=0.0, n_train=50, n_val=20, n_test=20
    )
    module.setup()
    x = tensors(module, "train")[0]
    assert x.shape == (50, 5, 4)
    assert torch.equal(x[:, 0], torch.nn.functional.one_hot(module.sample_stimuli["train"], 4).float())
    assert torch.equal(x[:, 0], x[:, 1]) and (x[:, 2] == 0).all() and torch.equal(x[:, 3], x[:, 4])
    assert not torch.equal(tensors(module, "val")[0], tensors(module, "test")[0])
    first, again, other = (DelayedMatchDataModule(n_train=50, n_val=20, n_test=20, seed=s) for s in (0, 0, 1))
    for module in (first, again, other):
        module.setup()
    assert torch.equal(tensors(again, "train")[0], tensors(first, "train")[0])
    assert torch.equal(tensors(again, "val")[1], tensors(first, "val")[1])
    assert not torch.equal(tensors(other, "train")[0], tensors(first, "train")[0])


# --- registry and bad input ---------------------------------------------------------------


def test_the_task_datamodules_are_registered():
    assert {"mnist1d", "mnist1d_shuffled", "two_task", "delayed_match", "digits"} <= set(
        data.list_datamodules()
    )
    assert isinstance(data.get("mnist1d"), MNIST1DDataModule)
    assert data.get("mnist1d_shuffled").shuffled
    assert isinstance(data.get("delayed_match"), DelayedMatchDataModule)
    module = data.get("two_task", variant="parity_magnitude")
    assert str(module) == repr(module) and repr(module).startswith("TwoTaskDataModule(variant='parity")


@pytest.mark.parametrize(
    ("builder", "kwargs", "name"),
    [
        (MNIST1DDataModule, {"val_fraction": 1.0}, "val_fraction"),
        (MNIST1DDataModule, {"batch_size": 0}, "batch_size"),
        (MNIST1DDataModule, {"num_samples": 5}, "num_samples"),
        (MNIST1DDataModule, {"shuffled": 1}, "shuffled"),
        (MNIST1DDataModule, {"data_seed": 2**32}, "data_seed"),
        (MNIST1DDataModule, {"permutation_seed": -1}, "permutation_seed"),
        (TwoTaskDataModule, {"variant": "xor"}, "variant"),
        (TwoTaskDataModule, {"test_fraction": 0}, "test_fraction"),
        (TwoTaskDataModule, {"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction + test_fraction"),
        (DelayedMatchDataModule, {"n_stimuli": 1}, "n_stimuli"),
        (DelayedMatchDataModule, {"rule": "compare"}, "rule"),
        (DelayedMatchDataModule, {"stimulus_steps": 0}, "stimulus_steps"),
        (DelayedMatchDataModule, {"delay_steps": -1}, "delay_steps"),
        (DelayedMatchDataModule, {"noise": -0.1}, "noise"),
        (DelayedMatchDataModule, {"n_val": 0}, "n_val"),
        (DelayedMatchDataModule, {"batch_size": 2.5}, "batch_size"),
    ],
)
def test_bad_arguments_name_themselves(builder, kwargs, name):
    with pytest.raises(ValueError, match="^" + re.escape(name) + ": expected"):
        builder(**kwargs)


def test_too_small_a_validation_split_is_refused():
    module = MNIST1DDataModule(num_samples=100, val_fraction=0.05)  # 4 of 80 signals
    with pytest.raises(ValueError, match=r"^val_fraction: expected at least 10"):
        module.setup()
