"""LightningDataModules that serve frames of neural activity and their time derivatives."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from ccnn.data.activity import cache
from ccnn.data.activity.ground_truth import TrueDynamics
from ccnn.data.activity.recording import Recording
from ccnn.data.activity.simulation import BASELINE_TYPE_PARAMS

__all__ = ["ActivityDataModule", "SimulatedActivityDataModule", "TimeSplit"]


class TimeSplit:
    """Contiguous train / validation / test blocks of frame indices, separated by gaps.

    ``gap`` frames are dropped between blocks, so no validation or test frame is adjacent
    to a training frame (with finite-difference targets, frame t also reads frame t + 1).
    """

    def __init__(self, n_frames: int, val_fraction: float, test_fraction: float, gap: int) -> None:
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 <= value < 1:
                raise ValueError(f"{name}: expected a value in [0, 1), got {value}")
        if val_fraction + test_fraction >= 1:
            raise ValueError(
                f"val_fraction + test_fraction: expected < 1, got {val_fraction} + {test_fraction}"
            )
        if not (isinstance(gap, int) and not isinstance(gap, bool) and gap >= 1):
            raise ValueError(f"gap: expected an int >= 1 (blocks must not touch), got {gap!r}")
        n_val, n_test = round(val_fraction * n_frames), round(test_fraction * n_frames)
        n_train = n_frames - n_val - n_test - gap * ((n_val > 0) + (n_test > 0))
        if n_train < 1:
            raise ValueError(
                f"n_frames: {n_frames} frames leave no training frames with these fractions and gap"
            )
        self.train = np.arange(0, n_train)
        start = n_train + (gap if n_val else 0)
        self.val = np.arange(start, start + n_val)
        start = start + n_val + (gap if n_test else 0)
        self.test = np.arange(start, start + n_test)

    def __repr__(self) -> str:
        def span(block: np.ndarray) -> str:
            return f"[{block[0]}, {block[-1]}]" if len(block) else "[]"

        return f"TimeSplit(train={span(self.train)}, val={span(self.val)}, test={span(self.test)})"


class _FrameBatches(IterableDataset):
    """Batches of frames, built by vectorised indexing; a rank's shard of a shared permutation.

    Every rank draws the same permutation (seed + epoch) and takes every ``world``-th
    element from its own offset: the shards are disjoint and together cover the block.
    Each shard is cut to the same length so that every rank runs the same number of steps.
    The epoch is the trainer's when one is attached, so that a run resumed from a checkpoint
    sees the same order as an uninterrupted one.
    """

    def __init__(
        self, module: ActivityDataModule, frames: np.ndarray, *, shuffle: bool, rank: int, world: int
    ) -> None:
        self.module, self.frames, self.shuffle = module, frames, shuffle
        self.rank, self.world = rank, world
        self.epoch = 0

    def shard(self) -> np.ndarray:
        frames = self.frames
        if self.shuffle:
            epoch = getattr(getattr(self.module, "trainer", None), "current_epoch", None)
            epoch = self.epoch if epoch is None else epoch
            rng = np.random.default_rng((self.module.shuffle_seed, epoch))
            frames = frames[rng.permutation(len(frames))]
        per_rank = len(frames) // self.world
        return frames[self.rank :: self.world][:per_rank]

    def __len__(self) -> int:
        return math.ceil((len(self.frames) // self.world) / self.module.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        shard = self.shard()
        self.epoch += 1
        for start in range(0, len(shard), self.module.batch_size):
            yield self.module.batch(np.sort(shard[start : start + self.module.batch_size]))


def _evenly_spaced(block: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` entries of ``block`` evenly spaced over it, in order, without repeats."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    if len(block) <= n:
        return np.asarray(block, dtype=np.int64)
    picks = np.unique(np.linspace(0, len(block) - 1, n).round().astype(np.int64))
    return np.asarray(block, dtype=np.int64)[picks]


class ActivityDataModule(L.LightningDataModule):
    """Frames of a recording (``.npz``, see :class:`ccnn.data.Recording`) for learning dynamics.

    A batch is a dict with

    * ``frame`` [B] long: frame indices;
    * ``x`` [B, N]: the activity x_t;
    * ``target`` [B, N]: dx/dt at x_t, the recording's noise-free ``derivative`` when it
      has one, else the forward difference (x_{t+1} − x_t) / dt (with a warning);
    * ``stimulus`` [B, N]: Ω_t, when the recording has it;
    * ``positions`` [N, 2]: neuron positions, when the recording has them.

    Train / validation / test are contiguous time blocks separated by ``gap`` frames
    (:class:`TimeSplit`). Under DDP every rank reads a disjoint shard of each block. The
    test block also gives the start state and the true trajectory for rollouts
    (:meth:`rollout_reference`). The recording is read once per process in :meth:`setup`;
    a cache folder whose large arrays exceed :data:`ccnn.data.activity.cache.MMAP_THRESHOLD` bytes is
    memory-mapped rather than read (an ``.npz`` is always read).

    Args:
        path: the recording (``.npz`` or a cache folder).
        batch_size: frames per batch (the published dynamics GNN uses 8).
        val_fraction, test_fraction: shares of the frames in the validation and test blocks.
        gap: frames dropped between blocks.
        rollout_steps: length of the reference trajectory of :meth:`rollout_reference`.
        shuffle_seed: seed of the per-epoch shuffling of training frames.
        allow_short: accept recordings with fewer frames than neurons.
        expected_neurons: the number of neurons the recording must have; an activity saved
            as [N, T] then raises instead of training as T neurons
            (see :class:`ccnn.data.Recording`).

    The recording is read and checked (keys, shapes, the split) when it is first needed:
    under ``train.py`` that is when the model is built (its ``n_neurons`` comes from here),
    so a bad file fails before any logger or W&B run starts.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        batch_size: int = 8,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        gap: int = 10,
        rollout_steps: int = 1000,
        shuffle_seed: int = 0,
        allow_short: bool = False,
        expected_neurons: int | None = None,
    ) -> None:
        super().__init__()
        if not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1):
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        self.path = path
        self.batch_size = batch_size
        self.val_fraction, self.test_fraction, self.gap = val_fraction, test_fraction, gap
        self.rollout_steps = rollout_steps
        self.shuffle_seed = shuffle_seed
        self.allow_short = allow_short
        self.expected_neurons = expected_neurons
        self._recording: Recording | None = None
        self._positions: torch.Tensor | None = None
        self._split: TimeSplit | None = None

    # ------------------------------------------------------------------ the recording
    def load_recording(self) -> Recording:
        if self.path is None:
            raise ValueError("path: expected the path of a recording, got None")
        path = Path(self.path)
        checks = {"allow_short": self.allow_short, "expected_neurons": self.expected_neurons}
        if path.is_dir():  # a cache folder of .npy files
            return cache.load_folder(path, **checks)
        return Recording.load(path, **checks)

    @property
    def recording(self) -> Recording:
        """The recording, read and checked on first use, together with its split (:attr:`split`)."""
        if self._recording is None:
            recording = self.load_recording()
            self._split = self._time_split(recording)
            self._recording = recording
        return self._recording

    @property
    def n_neurons(self) -> int:
        return self.recording.n_neurons

    @property
    def dt(self) -> float:
        return self.recording.dt

    @property
    def has_positions(self) -> bool:
        return self.recording.has_positions

    @property
    def has_ground_truth(self) -> bool:
        return self.recording.has_ground_truth

    @property
    def uses_finite_differences(self) -> bool:
        return self.recording.derivative is None

    def prepare_data(self) -> None:
        # Read and check the file before Lightning starts the loggers (a W&B run included).
        _ = self.recording

    def setup(self, stage: str | None = None) -> None:
        """Read the recording and split its frames into blocks; once, whatever the stage."""
        _ = self.recording

    def _time_split(self, recording: Recording) -> TimeSplit:
        """The blocks of ``recording`` (:class:`TimeSplit`); warns, once per file, about what it lacks."""
        finite_differences = recording.derivative is None
        if finite_differences:
            warnings.warn(
                f"{self.path}: the recording has no 'derivative'; targets are forward differences "
                "(x[t+1] - x[t]) / dt",
                stacklevel=3,
            )
        split = TimeSplit(
            recording.n_frames - finite_differences, self.val_fraction, self.test_fraction, self.gap
        )
        if len(split.test) and len(split.test) <= self.rollout_steps:
            warnings.warn(
                f"rollout_steps: the test block has {len(split.test)} frames, fewer than "
                f"rollout_steps + 1 = {self.rollout_steps + 1}; rollouts will be shorter",
                stacklevel=3,
            )
        return split

    # ------------------------------------------------------------------ batches
    def batch(self, frames: np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        """The batch of the given frame indices (sorted indices read memory maps fastest)."""
        recording = self.recording
        frames = np.asarray(frames, dtype=np.int64)
        x = np.asarray(recording.activity[frames])
        if recording.derivative is not None:
            target = np.asarray(recording.derivative[frames])
        else:
            target = (np.asarray(recording.activity[frames + 1]) - x) / recording.dt
        batch = {
            "frame": torch.from_numpy(frames),
            "x": torch.from_numpy(x),
            "target": torch.from_numpy(target),
        }
        if recording.stimulus is not None:
            batch["stimulus"] = torch.from_numpy(np.asarray(recording.stimulus[frames]))
        if recording.positions is not None:
            if self._positions is None:  # made once, shared by every batch
                self._positions = torch.from_numpy(np.asarray(recording.positions))
            batch["positions"] = self._positions
        return batch

    def regression_frames(self, n: int) -> dict[str, torch.Tensor]:
        """The batch of up to ``n`` training frames evenly spaced over the training block (all
        of them when it has fewer): what a closed-form fit of the dynamics reads."""
        return self.batch(_evenly_spaced(self.split.train, n))

    def held_out_frames(self, n: int, block: Literal["test", "val"] = "test") -> dict[str, torch.Tensor]:
        """The batch of up to ``n`` frames evenly spaced over the test (or validation) block:
        what a held-out score reads (empty batch tensors when the block is empty)."""
        if block not in ("test", "val"):
            raise ValueError(f"block: expected 'test' or 'val', got {block!r}")
        return self.batch(_evenly_spaced(getattr(self.split, block), n))

    def resident_training_frames(
        self, device: str | torch.device | None = None, *, rank: int | None = None, world: int | None = None
    ) -> dict[str, torch.Tensor]:
        """This rank's shard of the training block as one batch on ``device``, for training that
        draws its batches there (:mod:`ccnn.models.dynamics_gnn.training`).

        Returns :meth:`batch` of the shard (``frame`` [T], ``x`` [T, N], ``target`` [T, N], and
        ``stimulus`` [T, N] / ``positions`` [N, 2] when the recording has them) moved to
        ``device`` (None: left on the CPU). The shard, as the loaders', is every ``world``-th
        training frame from offset ``rank``, cut to ``len(train) // world`` frames: disjoint
        across ranks, equal in length, spread over the whole block. ``rank`` and ``world``
        default to the attached trainer's (0 and 1 without one). It takes 2 (3 with a stimulus)
        × T × N × 4 bytes: 0.64 GB for the baseline (N = 1000, 8·10⁴ training frames) on one device.
        """
        default_rank, default_world = self._rank_world()
        world = default_world if world is None else world
        rank = default_rank if rank is None else rank
        if isinstance(world, bool) or not isinstance(world, int) or world < 1:
            raise ValueError(f"world: expected an int >= 1, got {world!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world:
            raise ValueError(f"rank: expected an int in [0, {world - 1}], got {rank!r}")
        train = self.split.train
        shard = train[rank::world][: len(train) // world]
        if not len(shard):
            raise ValueError(
                f"world: {world} ranks leave no training frame for each (the training block has {len(train)})"
            )
        return {name: value.to(device) for name, value in self.batch(shard).items()}

    def activity_range(self) -> tuple[float, float]:
        """(min, max) of the whole recording's activity."""
        activity = self.recording.activity
        return float(np.min(activity)), float(np.max(activity))

    def positions(self) -> torch.Tensor | None:
        """Neuron positions (N, 2) in [0, 1]² (NaN: no position), or None."""
        positions = self.recording.positions
        return None if positions is None else torch.from_numpy(np.asarray(positions))

    def ground_truth(self) -> TrueDynamics | None:
        """The simulator's equations with this recording's W, types and functions
        (:class:`ccnn.data.activity.ground_truth.TrueDynamics`), or None when the recording
        does not carry them."""
        recording = self.recording
        if recording.neuron_params is None or recording.connectivity is None:
            return None
        return TrueDynamics(recording)

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _loader(self, frames: np.ndarray, shuffle: bool) -> DataLoader:
        rank, world = self._rank_world()
        dataset = _FrameBatches(self, frames, shuffle=shuffle, rank=rank, world=world)
        # Batches are built in the main process: indexing in-memory arrays is cheaper than
        # shipping them from worker processes.
        return DataLoader(dataset, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.split.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.split.test, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The test block, in time order (as ``test``)."""
        return self._loader(self.split.test, shuffle=False)

    @property
    def split(self) -> TimeSplit:
        """The train / validation / test blocks (:class:`TimeSplit`), made on first use."""
        _ = self.recording
        assert self._split is not None
        return self._split

    def __repr__(self) -> str:
        # Never reads the file: jsonargparse and Lightning print datamodules in messages.
        return (
            f"{type(self).__name__}(path={self.path!r}, batch_size={self.batch_size}, "
            f"val_fraction={self.val_fraction}, test_fraction={self.test_fraction}, gap={self.gap})"
        )

    __str__ = __repr__

    def rollout_reference(
        self, steps: int | None = None, block: Literal["test", "val"] = "test"
    ) -> dict[str, torch.Tensor]:
        """Start state and true trajectory from the beginning of the test (or validation) block.

        Returns a dict with ``start_frame`` (0-d long), ``x0`` [N], ``trajectory``
        [S + 1, N] (``trajectory[0] == x0``) and, when present, ``stimulus`` [S + 1, N].
        """
        if block not in ("test", "val"):
            raise ValueError(f"block: expected 'test' or 'val', got {block!r}")
        frames = getattr(self.split, block)
        if not len(frames):
            fraction = "test_fraction" if block == "test" else "val_fraction"
            raise ValueError(f"{fraction}: the rollout reference needs a {block} block, got {fraction}=0")
        steps = self.rollout_steps if steps is None else steps
        start = int(frames[0])
        stop = min(start + steps + 1, int(frames[-1]) + 1)
        if stop - start < steps + 1:
            warnings.warn(
                f"steps: the {block} block has {len(frames)} frames, fewer than steps + 1 = {steps + 1}; "
                f"the reference trajectory is cut to {stop - start} frames",
                stacklevel=2,
            )
        recording = self.recording
        reference = {
            "start_frame": torch.tensor(start),
            "x0": torch.from_numpy(np.array(recording.activity[start])),
            "trajectory": torch.from_numpy(np.array(recording.activity[start:stop])),
        }
        if recording.stimulus is not None:
            reference["stimulus"] = torch.from_numpy(np.array(recording.stimulus[start:stop]))
        return reference


class SimulatedActivityDataModule(ActivityDataModule):
    """Simulates a neural assembly (:func:`ccnn.data.simulate_assembly`), caches it, serves it.

    The simulation runs once, in :meth:`prepare_data` (one process per node), and lands in
    the cache (``$CCNN_CACHE``); :meth:`setup` reads it from there in every process.
    Simulation arguments are those of :func:`ccnn.data.simulate_assembly` (defaults: the
    published baseline); the loader arguments are those of :class:`ActivityDataModule`.
    """

    def __init__(
        self,
        *,
        n_neurons: int = 1000,
        n_frames: int = 100_000,
        dt: float = 0.01,
        warmup: int = 1000,
        type_params: Sequence[Sequence[float]] = BASELINE_TYPE_PARAMS,
        ff: float = 1.0,
        transfer: Literal["tanh", "transmitters", "neuron_neuron"] = "tanh",
        gamma: Sequence[float] | None = None,
        noise: float = 0.0,
        stimulus: Literal["procedural"] | None = None,
        stimulus_grid: int = 32,
        steps_per_movie_frame: int | None = None,
        seed: int = 0,
        device: str = "cpu",
        use_cache: bool = True,
        **loader_args: Any,
    ) -> None:
        super().__init__(None, **loader_args)
        self.simulation = {
            "n_neurons": n_neurons, "n_frames": n_frames, "dt": dt, "warmup": warmup,
            "type_params": [[float(v) for v in row] for row in type_params], "ff": ff,
            "transfer": transfer, "gamma": None if gamma is None else [float(v) for v in gamma],
            "noise": noise, "stimulus": stimulus, "stimulus_grid": stimulus_grid,
            "steps_per_movie_frame": steps_per_movie_frame, "seed": seed,
        }  # fmt: skip
        self.device, self.use_cache = device, use_cache
        self.path = "<simulated>"

    def prepare_data(self) -> None:
        # Put the simulation in the cache; reading it is setup()'s job, in every process.
        if self.use_cache:
            from ccnn.data.activity.simulate import simulation_builder

            cache.ensure_cached(self.simulation, simulation_builder(self.simulation, self.device))

    def load_recording(self) -> Recording:
        from ccnn.data.activity.simulate import simulate_from_config

        return simulate_from_config(self.simulation, device=self.device, use_cache=self.use_cache)

    # Known from the arguments, without simulating: configs can link them into models.
    @property
    def n_neurons(self) -> int:
        return self.simulation["n_neurons"]

    @property
    def dt(self) -> float:
        return self.simulation["dt"]

    @property
    def has_positions(self) -> bool:
        return self.simulation["stimulus"] is not None

    @property
    def has_ground_truth(self) -> bool:
        return True
