"""scikit-learn's bundled 8×8 handwritten digits as a LightningDataModule (offline, no download).

1797 grey-level images of the digits 0–9 (UCI optdigits test set), flattened row by row to
64 pixels and scaled from [0, 16] to [0, 1]. The split is stratified by class and fixed by
``seed``. Pixel ``k = 8 r + c`` (row ``r``, column ``c``) sits at position
``(r / 7, c / 7)`` in the unit square, so a model can wire its first layer retinotopically.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import TensorDataset

from ccnn._validation import describe
from ccnn.data.tasks._tensor_splits import TensorSplits
from ccnn.nn.masks import grid_positions

__all__ = ["DigitsDataModule"]

_SIDE = 8  # the images are 8 × 8
_N_CLASSES = 10


class DigitsDataModule(TensorSplits, L.LightningDataModule):
    """Stratified train / validation / test splits of the 8×8 digits.

    The fractions are of the whole data set (1797 images): ``round(test_fraction · 1797)``
    test images are drawn first, then ``round(val_fraction · 1797)`` validation images from
    the rest; both draws are stratified by class (:func:`sklearn.model_selection.train_test_split`
    with ``stratify``), so every split keeps the class proportions, and seeded, so the same
    ``seed`` always gives the same split (on every DDP rank, which matters: each rank builds
    its own split and Lightning's ``DistributedSampler`` then shards it).

    ``n_inputs``, ``n_classes`` and ``input_positions`` are known right after construction
    (``train.py`` copies them into the model); the data are loaded in :meth:`setup`.

    Args:
        batch_size: images per batch (per process under DDP).
        val_fraction: fraction of all images held out for validation, in (0, 1).
        test_fraction: fraction of all images held out for testing, in (0, 1).
        seed: seeds the split.
        num_workers: DataLoader worker processes (0: load in the main process, the fastest
            choice for a data set this small).

    Attributes:
        n_inputs: 64 pixels.
        n_classes: 10 digits.
        input_positions: (64, 2) float tensor, pixel positions on a grid in [0, 1]².
        train_indices, val_indices, test_indices: indices into ``load_digits()`` of each
            split, set by :meth:`setup`.

    Example:
        >>> data = DigitsDataModule(batch_size=32)
        >>> data.n_inputs, data.n_classes, tuple(data.input_positions.shape)
        (64, 10, (64, 2))
        >>> data.setup()
        >>> len(data.train_indices), len(data.val_indices), len(data.test_indices)
        (1258, 180, 359)
    """

    def __init__(
        self,
        *,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        _check_int(batch_size, "batch_size", minimum=1)
        _check_int(num_workers, "num_workers", minimum=0)
        _check_int(seed, "seed", minimum=0)
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                raise ValueError(f"{name}: expected a fraction in (0, 1), got {describe(value)}")
        if val_fraction + test_fraction >= 1:
            raise ValueError(
                "val_fraction + test_fraction: expected a sum < 1 (some images must be left to train "
                f"on), got {val_fraction} + {test_fraction}"
            )
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self.seed = seed
        self.num_workers = num_workers
        self.n_inputs = _SIDE * _SIDE
        self.n_classes = _N_CLASSES
        self.input_positions = grid_positions(_SIDE * _SIDE)
        self.train_indices: np.ndarray | None = None
        self.val_indices: np.ndarray | None = None
        self.test_indices: np.ndarray | None = None
        self._datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Load the images (a small CSV inside scikit-learn) and split them; idempotent."""
        if self._datasets:
            return
        # Imported here: scikit-learn costs about a second to import and only this module needs it.
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.long)
        n_total = len(labels)
        n_test = round(self.test_fraction * n_total)
        n_val = round(self.val_fraction * n_total)
        for name, count in (("test_fraction", n_test), ("val_fraction", n_val)):
            # A stratified split needs at least one image of every class on each side.
            if count < self.n_classes:
                raise ValueError(
                    f"{name}: expected at least {self.n_classes} of the {n_total} images (one per "
                    f"class, for a stratified split), got {count}"
                )
        index = np.arange(n_total)
        target = digits.target
        # Integer sizes (not fractions) make the counts independent of sklearn's rounding rule.
        rest, test = train_test_split(index, test_size=n_test, stratify=target, random_state=self.seed)
        train, val = train_test_split(rest, test_size=n_val, stratify=target[rest], random_state=self.seed)
        self.train_indices, self.val_indices, self.test_indices = np.sort(train), np.sort(val), np.sort(test)
        splits = {"train": self.train_indices, "val": self.val_indices, "test": self.test_indices}
        for split, idx in splits.items():
            rows = torch.as_tensor(idx)
            self._datasets[split] = TensorDataset(images[rows], labels[rows])

    def __repr__(self) -> str:
        return (
            f"DigitsDataModule(batch_size={self.batch_size}, val_fraction={self.val_fraction}, "
            f"test_fraction={self.test_fraction}, seed={self.seed})"
        )


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {describe(value)}")
