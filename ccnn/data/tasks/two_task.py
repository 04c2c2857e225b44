r"""Two tasks posed on one input, for the modularity question (a LightningDataModule, offline).

A network trained on two tasks at once whose wiring is penalised by length may split into two
sub-networks, one per task (Wołczyk et al. 2019, "Biologically-inspired spatial neural
networks"; Liu, Gan & Tegmark 2023, BIMT, whose two-task examples split into modules). Two
variants:

* ``"digits_mnist1d"``: an 8×8 digit (scikit-learn's digits, scaled to [0, 1]) side by side
  with an MNIST-1D signal (standardised); task 0 reads the digit, task 1 the signal.
  The two inputs are independent, so the ideal network is two disjoint sub-networks, each
  wired to its own half of the input plane.
* ``"parity_magnitude"``: one 8×8 digit :math:`d`, task 0 its parity
  :math:`\mathbb{1}[d \text{ odd}]` and task 1 its magnitude :math:`\mathbb{1}[d \ge 5]`;
  both tasks read the same pixels, so sharing is possible and modules have to split deeper.

Alone, each task is the familiar one: on this module's test splits a logistic regression
fitted to the whole input reaches 97 % on the digits task and 31 % on the MNIST-1D task of
``digits_mnist1d`` (MNIST-1D published: logistic 32 %, MLP 68 %, CNN 94 %; Greydanus & Kobak
2024), and 91 % (parity) and 90 % (magnitude) on ``parity_magnitude`` (scikit-learn's
``LogisticRegression``, default seed 0).
"""

from __future__ import annotations

import functools

import lightning as L
import numpy as np
import torch
from torch.utils.data import TensorDataset

from ccnn._validation import check_choice, check_int
from ccnn.data.tasks._tensor_splits import TensorSplits
from ccnn.data.tasks.digits import DigitsDataModule
from ccnn.data.tasks.mnist1d import check_fraction, line_positions, mnist1d_splits
from ccnn.nn.masks import grid_positions

__all__ = ["TwoTaskDataModule"]

VARIANTS = ("digits_mnist1d", "parity_magnitude")
_SPLITS = ("train", "val", "test")
_N_PIXELS = 64
_N_SAMPLES = 40  # MNIST-1D signal length


class TwoTaskDataModule(TensorSplits, L.LightningDataModule):
    r"""Two classification tasks on one input; batches ``(x, y)`` with ``y[:, k]`` task ``k``'s label.

    **digits_mnist1d** (default). ``x`` is the 64 pixels of a digit image followed by the 40
    samples of an MNIST-1D signal (104 inputs); ``y[:, 0]`` is the digit's class and
    ``y[:, 1]`` the signal's class. The MNIST-1D signals define the data set and its splits
    (as :class:`~ccnn.data.tasks.mnist1d.MNIST1DDataModule`: mnist1d's own 4000 / 1000
    train / test split, ``round(val_fraction · 4000)`` training signals held out, stratified
    and seeded by ``seed``), standardised by the mean :math:`m` and standard deviation
    :math:`s` of all training values, :math:`(x - m) / s` (one affine map for all samples: the
    signal keeps a unit scale next to the pixels; squeezed into [0, 1] by its extremes it
    carried too little of the gradient, and a dense MLP learnt the MNIST-1D task to 24 %
    against 65 % alone). The digit images are split as in
    :class:`~ccnn.data.tasks.digits.DigitsDataModule` (``val_fraction``, ``test_fraction``,
    ``seed``) and each signal is paired with an image drawn uniformly, with replacement, from
    the digit split of the same name (seeded), so no image crosses splits and the two labels
    are independent. Positions: pixel ``(r, c)`` at ``(0.4 r / 7, 0.3 + 0.4 c / 7)`` (a square
    grid in the strip whose first coordinate is in [0, 0.4]) and MNIST-1D sample ``t`` at
    ``(1, t / 39)`` (a line along the opposite edge): the two inputs lie side by side along
    the first coordinate, task 0's input first, in separate halves of the unit square (the
    zoo's models put their readout units on a line along that coordinate, in task order).

    **parity_magnitude**. ``x`` is the 64 pixels of a digit :math:`d` (the digits split as in
    :class:`~ccnn.data.tasks.digits.DigitsDataModule`), ``y[:, 0] = d mod 2`` (odd = 1) and
    ``y[:, 1] = 1[d ≥ 5]``; positions are the digits' 8×8 grid.

    Args:
        variant: ``"digits_mnist1d"`` or ``"parity_magnitude"``.
        batch_size: samples per batch (per process under DDP).
        val_fraction: fraction held out for validation, in (0, 1): of the digit images, and
            (digits_mnist1d) of mnist1d's training set.
        test_fraction: fraction of the digit images held out for testing, in (0, 1) (the
            MNIST-1D test set is mnist1d's own).
        seed: seeds the splits and the pairing.
        num_samples: mnist1d's ``num_samples`` (digits_mnist1d only).
        data_seed: mnist1d's ``seed`` (digits_mnist1d only).
        num_workers: DataLoader worker processes.

    Attributes:
        n_inputs: 104 (digits_mnist1d) or 64 (parity_magnitude).
        n_classes: ``[10, 10]`` or ``[2, 2]``, one per task.
        n_tasks: 2.
        task_names: ``["digits", "mnist1d"]`` or ``["parity", "magnitude"]``.
        input_positions: (n_inputs, 2) float tensor in [0, 1]².
        digit_indices: split → index into ``load_digits()`` of each sample's image, set by
            :meth:`setup`.
        mnist1d_indices: split → index of each sample's signal into mnist1d's training set
            (train, val) or test set (test); None for parity_magnitude. Set by :meth:`setup`.

    Example:
        >>> data = TwoTaskDataModule(variant="parity_magnitude", batch_size=8)
        >>> data.n_inputs, data.n_classes, data.task_names
        (64, [2, 2], ['parity', 'magnitude'])
        >>> x, y = next(iter(data.test_dataloader()))
        >>> tuple(x.shape), tuple(y.shape), y.dtype
        ((8, 64), (8, 2), torch.int64)
        >>> TwoTaskDataModule().n_inputs  # digits_mnist1d: 64 pixels + 40 samples
        104
    """

    def __init__(
        self,
        *,
        variant: str = "digits_mnist1d",
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        num_samples: int = 5000,
        data_seed: int = 42,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_choice(variant, "variant", VARIANTS)
        check_int(batch_size, "batch_size", minimum=1)
        check_fraction(val_fraction, "val_fraction")
        check_fraction(test_fraction, "test_fraction")
        check_int(seed, "seed", minimum=0)
        check_int(num_samples, "num_samples", minimum=10, meaning=" (at least one signal per class)")
        check_int(data_seed, "data_seed", minimum=0)
        check_int(num_workers, "num_workers", minimum=0)
        self.save_hyperparameters()
        # The digits' split, with its own checks (val_fraction + test_fraction < 1).
        self._digits = DigitsDataModule(
            val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, num_workers=num_workers
        )
        self.variant = variant
        self.batch_size = batch_size
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.seed = seed
        self.num_samples = num_samples
        self.data_seed = data_seed
        self.num_workers = num_workers
        self.n_tasks = 2
        grid = grid_positions(_N_PIXELS)
        if variant == "digits_mnist1d":
            self.n_inputs = _N_PIXELS + _N_SAMPLES
            self.n_classes = [10, 10]
            self.task_names = ["digits", "mnist1d"]
            digit_grid = torch.stack([0.4 * grid[:, 0], 0.3 + 0.4 * grid[:, 1]], 1)
            self.input_positions = torch.cat([digit_grid, line_positions(_N_SAMPLES, at=1.0).flip(1)])
        else:
            self.n_inputs = _N_PIXELS
            self.n_classes = [2, 2]
            self.task_names = ["parity", "magnitude"]
            self.input_positions = grid
        self.digit_indices: dict[str, np.ndarray] | None = None
        self.mnist1d_indices: dict[str, np.ndarray] | None = None
        self._datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Load, split and pair the inputs; idempotent."""
        if self._datasets:
            return
        self._digits.setup()
        digit_splits = {
            "train": self._digits.train_indices,
            "val": self._digits.val_indices,
            "test": self._digits.test_indices,
        }
        images, labels = _digits()
        if self.variant == "parity_magnitude":
            self.digit_indices = digit_splits
            for split, idx in digit_splits.items():
                rows = torch.as_tensor(idx)
                digit = labels[rows]
                y = torch.stack([digit % 2, (digit >= 5).long()], 1)
                self._datasets[split] = TensorDataset(images[rows], y)
            return
        signals = mnist1d_splits(self.num_samples, self.data_seed, self.val_fraction, self.seed)
        mean, std = signals["train"][0].mean(), signals["train"][0].std()
        self.digit_indices, self.mnist1d_indices = {}, {}
        for number, split in enumerate(_SPLITS):
            x_signal, y_signal, signal_idx = signals[split]
            # One stream per split, so a split's pairing does not depend on the others' sizes.
            rng = np.random.default_rng([self.seed, number])
            pick = rng.choice(digit_splits[split], size=len(y_signal), replace=True)
            rows = torch.as_tensor(pick)
            x = torch.cat([images[rows], (x_signal - mean) / std], 1)
            y = torch.stack([labels[rows], y_signal], 1)
            self._datasets[split] = TensorDataset(x, y)
            self.digit_indices[split], self.mnist1d_indices[split] = pick, signal_idx

    def __repr__(self) -> str:
        mnist1d = (
            f", num_samples={self.num_samples}, data_seed={self.data_seed}"
            if self.variant == "digits_mnist1d"
            else ""
        )
        return (
            f"TwoTaskDataModule(variant={self.variant!r}, batch_size={self.batch_size}, "
            f"val_fraction={self.val_fraction}, test_fraction={self.test_fraction}, "
            f"seed={self.seed}{mnist1d})"
        )


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits: images (1797, 64) scaled to [0, 1] and labels (1797,) long."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    return images, torch.tensor(digits.target, dtype=torch.long)
