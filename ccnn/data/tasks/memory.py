r"""Delayed match-to-sample, a working-memory task for recurrent networks (generated, offline).

The classic task of working-memory physiology (e.g. Miller, Erickson & Desimone 1996, J.
Neurosci.), and a memory task of the kind seRNN was trained on (Achterberg et al. 2023, Nat.
Mach. Intell., whose one-choice inference task also holds a cue across a delay): a sample
stimulus is shown, taken away for a delay, then a test stimulus is shown, and the network
answers whether the test matches the sample. With stimulus steps
:math:`S`, delay steps :math:`D` and :math:`K` stimuli on one-hot channels, a trial has
:math:`T = 2S + D` steps and input

.. math::

    x_{t, k} = \mathbb{1}[t < S]\,\mathbb{1}[k = s]
        + \mathbb{1}[t \ge S + D]\,\mathbb{1}[k = u] + \sigma\,\varepsilon_{t, k},
    \qquad \varepsilon_{t, k} \sim \mathcal N(0, 1),

with sample :math:`s` uniform on the :math:`K` stimuli, test :math:`u = s` in exactly half the
trials (label 1) and uniform on the other :math:`K - 1` stimuli otherwise (label 0). The test
stimulus alone is then uniform whatever the label, so a network that forgets the sample
cannot beat chance (50 %): only memory across the delay solves the task.

``rule="recall"`` asks instead for the sample itself (:math:`K` classes, chance :math:`1/K`)
after the same delay, with the test stimulus as a distractor: a pure memory readout, which a
linear readout of a fixed recurrent network (a reservoir) can learn, whereas "match" also
needs the sample and test to be combined nonlinearly.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import TensorDataset

from ccnn._validation import check_choice, check_int, check_real
from ccnn.data.tasks._tensor_splits import TensorSplits

__all__ = ["DelayedMatchDataModule"]

_SPLITS = ("train", "val", "test")
RULES = ("match", "recall")


class DelayedMatchDataModule(TensorSplits, L.LightningDataModule):
    r"""Delayed match-to-sample trials; batches ``(x, y)``, x (B, T, n_stimuli), y (B,) long.

    The label is read at the last step: 1 when the test stimulus equals the sample, 0 otherwise,
    in exactly ``n // 2`` (rounded down) matching trials of each split, in random order (with
    ``rule="recall"``: the sample's index, the trials otherwise the same). Each
    split is generated from its own stream, seeded by ``(seed, split number)``, so the splits
    differ and the same ``seed`` gives the same trials on every DDP rank.

    Args:
        n_stimuli: stimuli, one input channel each (at least 2).
        stimulus_steps: steps each of the sample and the test stimulus is shown.
        delay_steps: steps between them with no stimulus (0: the test follows at once).
        rule: ``"match"`` (is the test the sample?) or ``"recall"`` (which was the sample?).
        noise: standard deviation of the Gaussian noise on every channel and step (>= 0).
        n_train, n_val, n_test: trials in each split.
        batch_size: trials per batch (per process under DDP).
        seed: seeds the trials.
        num_workers: DataLoader worker processes.

    Attributes:
        n_inputs: ``n_stimuli``.
        n_classes: 2 (non-match, match), or ``n_stimuli`` with ``rule="recall"``.
        seq_len: ``T = 2 · stimulus_steps + delay_steps``.
        input_positions: None (the channels have no place).
        sample_window, test_window: ``(start, stop)`` steps of the two stimuli.
        sample_stimuli, test_stimuli: split → (n,) long tensor of each trial's stimuli, set by
            :meth:`setup`.

    Example:
        >>> data = DelayedMatchDataModule(n_train=100, n_val=10, n_test=10, batch_size=4)
        >>> data.n_inputs, data.n_classes, data.seq_len, data.input_positions
        (8, 2, 16, None)
        >>> x, y = next(iter(data.train_dataloader()))
        >>> tuple(x.shape), x.dtype, tuple(y.shape), y.dtype
        ((4, 16, 8), torch.float32, (4,), torch.int64)
        >>> int(data.train_dataloader().dataset.tensors[1].sum())  # matching trials
        50
    """

    def __init__(
        self,
        *,
        n_stimuli: int = 8,
        stimulus_steps: int = 3,
        delay_steps: int = 10,
        rule: str = "match",
        noise: float = 0.1,
        n_train: int = 4000,
        n_val: int = 500,
        n_test: int = 1000,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_int(n_stimuli, "n_stimuli", minimum=2, meaning=" (a non-match needs another stimulus)")
        check_int(stimulus_steps, "stimulus_steps", minimum=1)
        check_int(delay_steps, "delay_steps", minimum=0)
        check_real(noise, "noise", positive=False)
        check_choice(rule, "rule", RULES)
        for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            check_int(value, name, minimum=1)
        check_int(batch_size, "batch_size", minimum=1)
        check_int(seed, "seed", minimum=0)
        check_int(num_workers, "num_workers", minimum=0)
        self.save_hyperparameters()
        self.n_stimuli = n_stimuli
        self.stimulus_steps = stimulus_steps
        self.delay_steps = delay_steps
        self.noise = float(noise)
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.n_inputs = n_stimuli
        self.rule = rule
        self.n_classes = 2 if rule == "match" else n_stimuli
        self.seq_len = 2 * stimulus_steps + delay_steps
        self.input_positions = None
        self.sample_window = (0, stimulus_steps)
        self.test_window = (stimulus_steps + delay_steps, self.seq_len)
        self.sample_stimuli: dict[str, torch.Tensor] | None = None
        self.test_stimuli: dict[str, torch.Tensor] | None = None
        self._datasets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Generate the trials of every split; idempotent."""
        if self._datasets:
            return
        self.sample_stimuli, self.test_stimuli = {}, {}
        for number, split in enumerate(_SPLITS):
            x, y, sample, test = self._trials(self.sizes[split], np.random.default_rng([self.seed, number]))
            self._datasets[split] = TensorDataset(x, y)
            self.sample_stimuli[split], self.test_stimuli[split] = sample, test

    def _trials(
        self, n: int, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.n_stimuli
        match = rng.permutation(np.arange(n) < n // 2).astype(np.int64)  # exactly n // 2 matches
        sample = rng.integers(0, k, size=n)
        # A non-match is a uniform draw from the k - 1 other stimuli.
        test = np.where(match == 1, sample, (sample + rng.integers(1, k, size=n)) % k)
        x = self.noise * rng.standard_normal((n, self.seq_len, k), dtype=np.float32)
        trial = np.arange(n)[:, None]
        x[trial, np.arange(*self.sample_window)[None, :], sample[:, None]] += 1.0
        x[trial, np.arange(*self.test_window)[None, :], test[:, None]] += 1.0
        return (
            torch.from_numpy(x),
            torch.from_numpy(match if self.rule == "match" else sample),
            torch.from_numpy(sample),
            torch.from_numpy(test),
        )

    def __repr__(self) -> str:
        return (
            f"DelayedMatchDataModule(n_stimuli={self.n_stimuli}, stimulus_steps={self.stimulus_steps}, "
            f"delay_steps={self.delay_steps}, rule={self.rule!r}, noise={self.noise}, "
            f"n_train={self.sizes['train']}, "
            f"n_val={self.sizes['val']}, n_test={self.sizes['test']}, batch_size={self.batch_size}, "
            f"seed={self.seed})"
        )
