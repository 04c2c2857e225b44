r"""MNIST-1D (Greydanus & Kobak 2024) as a LightningDataModule: generated offline, no download.

MNIST-1D is a procedural 1-D analogue of MNIST: ten fixed 12-point templates (one per digit
class) are padded, translated, scaled, sheared, corrupted with correlated and i.i.d. noise and
resampled to 40 points, then the whole set is centred and scaled to unit standard deviation.
The ``mnist1d`` package (Apache-2.0) generates it with ``make_dataset`` in about a second;
this module never calls its ``get_dataset``, which downloads.

Published test accuracies on its 4000 / 1000 train / test split (Greydanus & Kobak, "Scaling
down deep learning with MNIST-1D", ICML 2024): logistic regression 32 %, MLP 68 %, CNN 94 %,
GRU 91 %. A CNN wins because a signal's class lives in *local* shapes; the **shuffled**
control applies one fixed permutation :math:`\pi` of the 40 positions to every sample,

.. math::

    \tilde x_{n, k} = x_{n, \pi(k)},

which an MLP (blind to input order) does not notice, while a model that relies on which inputs
are neighbours (a CNN, or a layer wired by distance between input positions) does.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import TensorDataset

from ccnn._validation import check_int, describe
from ccnn.data.tasks._tensor_splits import TensorSplits

__all__ = ["MNIST1DDataModule", "mnist1d_shuffled"]

_LENGTH = 40  # samples per signal (mnist1d's final_seq_length)
_N_CLASSES = 10
_SPLITS = ("train", "val", "test")


class MNIST1DDataModule(TensorSplits, L.LightningDataModule):
    r"""MNIST-1D's train / validation / test splits, optionally with the shuffled control.

    The data come from ``mnist1d.data.make_dataset`` with its default arguments but for
    ``num_samples`` and ``seed`` (here ``data_seed``). Its own split is kept (the first 80 %
    of the generated samples train, the rest test; 4000 / 1000 for the default 5000 samples),
    so that test accuracies compare with the published ones; ``round(val_fraction · 4000)``
    training samples are held out for validation, stratified by class and seeded by ``seed``
    (the same split on every DDP rank). The generated arrays are cached per
    ``(num_samples, data_seed)`` in the process, so building many datamodules (a benchmark's
    seeds and variants) generates once; mnist1d seeds Python's and NumPy's global random
    generators, whose states are restored afterwards.

    With ``shuffled=True``, the columns of every split are permuted by one fixed permutation
    drawn from ``permutation_seed`` (input ``k`` is the original sample ``permutation[k]``),
    while ``input_positions`` stay where they were: the model is told that input ``k`` sits at
    position ``k``, which is no longer true of the signal.

    Args:
        batch_size: signals per batch (per process under DDP).
        val_fraction: fraction of mnist1d's training set held out for validation, in (0, 1).
        shuffled: apply the fixed permutation of the 40 positions (the shuffled control).
        permutation_seed: seeds the permutation.
        seed: seeds the validation split.
        num_samples: mnist1d's ``num_samples`` (signals generated in all, ``num_samples // 10``
            per class; 80 % of them train).
        data_seed: mnist1d's ``seed`` (the generated signals).
        num_workers: DataLoader worker processes (0: the fastest choice for this small set).

    Attributes:
        n_inputs: 40 samples per signal.
        n_classes: 10.
        input_positions: (40, 2) float tensor; sample ``t`` sits at ``(t / 39, 0.5)``, a line
            through the middle of the unit square (unchanged by ``shuffled``).
        permutation: (40,) long tensor of the shuffled control, or None.
        train_indices, val_indices: indices into mnist1d's training set, set by :meth:`setup`.
        test_indices: indices into mnist1d's test set (all of it), set by :meth:`setup`.

    Example:
        >>> data = MNIST1DDataModule(shuffled=True)
        >>> data.n_inputs, data.n_classes, tuple(data.input_positions.shape)
        (40, 10, (40, 2))
        >>> data.setup()  # generates the 5000 signals (about a second)
        >>> len(data.train_indices), len(data.val_indices), len(data.test_indices)
        (3600, 400, 1000)
        >>> x, y = next(iter(data.train_dataloader()))
        >>> tuple(x.shape), x.dtype, tuple(y.shape), y.dtype
        ((100, 40), torch.float32, (100,), torch.int64)
    """

    def __init__(
        self,
        *,
        batch_size: int = 100,
        val_fraction: float = 0.1,
        shuffled: bool = False,
        permutation_seed: int = 0,
        seed: int = 0,
        num_samples: int = 5000,
        data_seed: int = 42,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_int(batch_size, "batch_size", minimum=1)
        check_fraction(val_fraction, "val_fraction")
        if not isinstance(shuffled, bool):
            raise ValueError(f"shuffled: expected a bool, got {describe(shuffled)}")
        check_int(permutation_seed, "permutation_seed", minimum=0)
        check_int(seed, "seed", minimum=0)
        check_int(num_samples, "num_samples", minimum=_N_CLASSES, meaning=" (at least one signal per class)")
        check_int(data_seed, "data_seed", minimum=0)
        if data_seed >= 2**32:  # mnist1d seeds NumPy's legacy generator
            raise ValueError(f"data_seed: expected an int < 2**32, got {describe(data_seed)}")
        check_int(num_workers, "num_workers", minimum=0)
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.val_fraction = float(val_fraction)
        self.shuffled = shuffled
        self.permutation_seed = permutation_seed
        self.seed = seed
        self.num_samples = num_samples
        self.data_seed = data_seed
        self.num_workers = num_workers
        self.n_inputs = _LENGTH
        self.n_classes = _N_CLASSES
        self.input_positions = line_positions(_LENGTH, at=0.5)
        order = np.random.default_rng(permutation_seed).permutation(_LENGTH)
        self.permutation: torch.Tensor | None = torch.as_tensor(order) if shuffled else None
        self.train_indices: np.ndarray | None = None
        self.val_indices: np.ndarray | None = None
        self.test_indices: np.ndarray | None = None
        self._datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Generate (or take from the cache) the signals and split them; idempotent."""
        if self._datasets:
            return
        splits = mnist1d_splits(self.num_samples, self.data_seed, self.val_fraction, self.seed)
        self.train_indices, self.val_indices, self.test_indices = (splits[s][2] for s in _SPLITS)
        for split in _SPLITS:
            x, y, _ = splits[split]
            if self.permutation is not None:
                x = x[:, self.permutation]
            self._datasets[split] = TensorDataset(x, y)

    def __repr__(self) -> str:
        return (
            f"MNIST1DDataModule(batch_size={self.batch_size}, val_fraction={self.val_fraction}, "
            f"shuffled={self.shuffled}, permutation_seed={self.permutation_seed}, seed={self.seed}, "
            f"num_samples={self.num_samples}, data_seed={self.data_seed})"
        )


def mnist1d_shuffled(**kwargs: Any) -> MNIST1DDataModule:
    """MNIST-1D's shuffled control: :class:`MNIST1DDataModule` with ``shuffled=True``.

    Takes the other keyword arguments of :class:`MNIST1DDataModule` (registered as
    ``mnist1d_shuffled``).

    Example:
        >>> mnist1d_shuffled(permutation_seed=3).permutation.shape
        torch.Size([40])
    """
    if "shuffled" in kwargs:
        raise ValueError(f"shuffled: mnist1d_shuffled is always shuffled, got {describe(kwargs['shuffled'])}")
    return MNIST1DDataModule(shuffled=True, **kwargs)


def line_positions(n: int, *, at: float) -> torch.Tensor:
    """(n, 2) positions ``(t / (n - 1), at)``: ``n`` points evenly along a line of the unit square."""
    t = torch.arange(n, dtype=torch.float32) / (n - 1)
    return torch.stack([t, torch.full_like(t, at)], 1)


def check_fraction(value: Any, name: str) -> float:
    """``value`` as a float in the open interval (0, 1), else one ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name}: expected a fraction in (0, 1), got {describe(value)}")
    return float(value)


@functools.lru_cache(maxsize=4)
def generate_mnist1d(num_samples: int, data_seed: int) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)`` from ``mnist1d.data.make_dataset``, read-only.

    Cached per arguments; the global random states that mnist1d seeds are restored.
    """
    # Imported here: mnist1d imports matplotlib.pyplot (most of a second).
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, data_seed
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002 (mnist1d's)
    try:
        data = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    arrays = (
        data["x"].astype(np.float32),
        data["y"].astype(np.int64),
        data["x_test"].astype(np.float32),
        data["y_test"].astype(np.int64),
    )
    for array in arrays:
        array.setflags(write=False)  # shared by every datamodule of this process
    return arrays


def mnist1d_splits(
    num_samples: int, data_seed: int, val_fraction: float, seed: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    """split → ``(x, y, indices)``: train / val from mnist1d's training set (stratified, seeded
    by ``seed``, ``indices`` into it, sorted) and test = mnist1d's test set."""
    from sklearn.model_selection import train_test_split

    x_train, y_train, x_test, y_test = generate_mnist1d(num_samples, data_seed)
    n_train = len(y_train)
    n_val = round(val_fraction * n_train)
    # A stratified split needs at least one signal of every class on each side.
    if min(n_val, n_train - n_val) < _N_CLASSES:
        raise ValueError(
            f"val_fraction: expected at least {_N_CLASSES} of the {n_train} training signals on each "
            f"side (one per class, for a stratified split), got {n_val} for validation"
        )
    train, val = train_test_split(np.arange(n_train), test_size=n_val, stratify=y_train, random_state=seed)
    train, val = np.sort(train), np.sort(val)
    return {
        "train": (torch.tensor(x_train[train]), torch.tensor(y_train[train]), train),
        "val": (torch.tensor(x_train[val]), torch.tensor(y_train[val]), val),
        "test": (torch.tensor(x_test), torch.tensor(y_test), np.arange(len(y_test))),
    }
