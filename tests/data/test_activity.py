"""Tests of ccnn.data.activity: time splits, batches, shuffling, sharding (also under DDP), rollouts."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ccnn.data.activity.cache
from ccnn.data import Recording, simulate_assembly
from ccnn.data.activity.cache import cached_recording
from ccnn.data.activity.datamodule import (
    ActivityDataModule,
    SimulatedActivityDataModule,
    TimeSplit,
    _FrameBatches,
)

DT = 0.01


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    """Every test gets its own cache folder; nothing touches ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CCNN_CACHE", str(folder))
    return folder


def random_recording(
    n_frames: int = 200,
    n_neurons: int = 6,
    *,
    derivative: bool = True,
    stimulus: bool = False,
    positions: bool = False,
    seed: int = 0,
) -> Recording:
    rng = np.random.default_rng(seed)
    fields = {}
    if derivative:
        fields["derivative"] = rng.normal(size=(n_frames, n_neurons)).astype(np.float32)
    if stimulus:
        fields["stimulus"] = rng.uniform(size=(n_frames, n_neurons)).astype(np.float32)
    if positions:
        pos = rng.uniform(size=(n_neurons, 2)).astype(np.float32)
        pos[-2:] = np.nan
        fields["positions"] = pos
    activity = rng.normal(size=(n_frames, n_neurons)).astype(np.float32)
    return Recording(activity=activity, dt=DT, **fields)


def saved(recording: Recording, folder: Path, name: str = "rec.npz") -> Path:
    return recording.save(folder / name)


def frames_of(loader) -> list[np.ndarray]:
    return [batch["frame"].numpy() for batch in loader]


@pytest.fixture(scope="module")
def simulated_path(tmp_path_factory) -> Path:
    recording = simulate_assembly(
        n_neurons=32, n_frames=400, warmup=10, stimulus="procedural", stimulus_grid=4, progress=False
    )
    return recording.save(tmp_path_factory.mktemp("sim") / "sim.npz")


# ---------------------------------------------------------------------------------------- TimeSplit
@pytest.mark.parametrize(
    ("n_frames", "val", "test", "gap"),
    [(1000, 0.1, 0.1, 10), (997, 0.15, 0.05, 3), (50, 0.2, 0.2, 1), (333, 0.25, 0.3, 7)],
)
def test_time_split_blocks_are_contiguous_ordered_and_separated(n_frames, val, test, gap):
    split = TimeSplit(n_frames, val, test, gap)
    n_val, n_test = round(val * n_frames), round(test * n_frames)
    assert len(split.val) == n_val
    assert len(split.test) == n_test
    assert len(split.train) == n_frames - n_val - n_test - 2 * gap
    np.testing.assert_array_equal(split.train, np.arange(len(split.train)))
    for block in (split.val, split.test):
        np.testing.assert_array_equal(np.diff(block), np.ones(len(block) - 1))
    # exactly `gap` frames dropped between consecutive blocks; the last block ends at the last frame
    assert split.val[0] - split.train[-1] - 1 == gap
    assert split.test[0] - split.val[-1] - 1 == gap
    assert split.test[-1] == n_frames - 1
    # no evaluation frame touches a training frame
    assert split.val.min() - split.train.max() > 1
    assert split.test.min() - split.train.max() > 1
    blocks = [set(split.train.tolist()), set(split.val.tolist()), set(split.test.tolist())]
    assert not (blocks[0] & blocks[1]) and not (blocks[0] & blocks[2]) and not (blocks[1] & blocks[2])


def test_time_split_empty_blocks_have_no_gap():
    no_val = TimeSplit(100, 0.0, 0.2, 5)
    assert len(no_val.val) == 0
    assert len(no_val.train) == 100 - 20 - 5
    assert no_val.test[0] - no_val.train[-1] - 1 == 5
    assert no_val.test[-1] == 99

    no_test = TimeSplit(100, 0.2, 0.0, 5)
    assert len(no_test.test) == 0
    assert len(no_test.train) == 100 - 20 - 5
    assert no_test.val[-1] == 99

    neither = TimeSplit(100, 0.0, 0.0, 5)
    np.testing.assert_array_equal(neither.train, np.arange(100))
    assert len(neither.val) == 0 and len(neither.test) == 0
    assert "val=[]" in repr(neither)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((100, -0.1, 0.1, 1), "val_fraction"),
        ((100, 1.0, 0.0, 1), "val_fraction"),
        ((100, math.nan, 0.1, 1), "val_fraction"),
        ((100, 0.1, 1.5, 1), "test_fraction"),
        ((100, 0.1, -0.01, 1), "test_fraction"),
        ((100, 0.5, 0.5, 1), r"val_fraction \+ test_fraction"),
        ((100, 0.1, 0.1, 0), "gap"),
        ((100, 0.1, 0.1, -3), "gap"),
        ((100, 0.1, 0.1, 1.5), "gap"),
        ((100, 0.1, 0.1, True), "gap"),
        ((10, 0.2, 0.2, 3), "n_frames"),
        ((0, 0.0, 0.0, 1), "n_frames"),
    ],
)
def test_time_split_rejects_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        TimeSplit(*args)


# ---------------------------------------------------------------------------------------- batches
def test_batches_match_the_recording(simulated_path):
    recording = Recording.load(simulated_path)
    assert recording.stimulus is not None and recording.derivative is not None
    assert np.isnan(recording.positions).any() and not np.isnan(recording.positions).all()
    dm = ActivityDataModule(simulated_path, batch_size=7, gap=5, rollout_steps=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup("fit")
    assert not any("derivative" in str(w.message) for w in caught)
    assert not dm.uses_finite_differences
    assert dm.n_neurons == 32 and dm.dt == pytest.approx(recording.dt) and dm.has_positions

    seen = []
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        for batch in loader:
            frames = batch["frame"].numpy()
            seen.append(frames)
            assert batch["frame"].dtype == torch.long
            for key in ("x", "target", "stimulus", "positions"):
                assert batch[key].dtype == torch.float32, key
            np.testing.assert_array_equal(batch["x"].numpy(), recording.activity[frames])
            np.testing.assert_array_equal(batch["target"].numpy(), recording.derivative[frames])
            np.testing.assert_array_equal(batch["stimulus"].numpy(), recording.stimulus[frames])
            np.testing.assert_array_equal(batch["positions"].numpy(), recording.positions)  # NaN == NaN here
            assert batch["x"].shape == (len(frames), 32)
            assert batch["positions"].shape == (32, 2)
    split = dm.split
    np.testing.assert_array_equal(
        np.sort(np.concatenate(seen)), np.concatenate([split.train, split.val, split.test])
    )


def test_batch_without_stimulus_or_positions_has_only_the_core_keys(tmp_path):
    dm = ActivityDataModule(saved(random_recording(), tmp_path))
    batch = dm.batch([3, 1, 4])  # usable before setup()
    assert set(batch) == {"frame", "x", "target"}
    np.testing.assert_array_equal(batch["frame"].numpy(), [3, 1, 4])
    np.testing.assert_array_equal(batch["x"].numpy(), dm.recording.activity[[3, 1, 4]])


def test_batch_before_setup_includes_positions(tmp_path):
    recording = random_recording(positions=True, stimulus=True)
    dm = ActivityDataModule(saved(recording, tmp_path))
    batch = dm.batch(np.array([0, 5]))
    np.testing.assert_array_equal(batch["positions"].numpy(), recording.positions)
    np.testing.assert_array_equal(batch["stimulus"].numpy(), recording.stimulus[[0, 5]])


def test_finite_difference_targets(tmp_path):
    recording = random_recording(n_frames=60, derivative=False)
    dm = ActivityDataModule(saved(recording, tmp_path), batch_size=4, val_fraction=0.0, test_fraction=0.0)
    with pytest.warns(UserWarning, match="derivative"):  # said once, when the file is first read
        assert dm.uses_finite_differences
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not again: setup and a second setup are silent
        dm.setup()
        dm.setup("fit")
    # the last frame has no successor and is never served
    np.testing.assert_array_equal(dm.split.train, np.arange(59))
    activity = recording.activity.astype(np.float64)
    served = []
    for batch in dm.train_dataloader():
        frames = batch["frame"].numpy()
        served.append(frames)
        assert batch["target"].dtype == torch.float32
        expected = (activity[frames + 1] - activity[frames]) / DT
        np.testing.assert_allclose(batch["target"].numpy(), expected, rtol=1e-5, atol=1e-4)
    served = np.concatenate(served)
    assert served.max() == 58
    np.testing.assert_array_equal(np.sort(served), np.arange(59))


def test_finite_difference_split_uses_one_frame_less(tmp_path):
    recording = random_recording(n_frames=201, derivative=False)
    dm = ActivityDataModule(
        saved(recording, tmp_path), val_fraction=0.1, test_fraction=0.1, gap=4, rollout_steps=5
    )
    with pytest.warns(UserWarning, match="derivative"):
        dm.setup()
    expected = TimeSplit(200, 0.1, 0.1, 4)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(dm.split, name), getattr(expected, name))
    assert dm.split.test[-1] == 199  # frame 200 is only read as the successor of 199


# ---------------------------------------------------------------------------------------- loaders
def make_dm(path, **kwargs) -> ActivityDataModule:
    args = {"batch_size": 8, "val_fraction": 0.1, "test_fraction": 0.1, "gap": 3, "rollout_steps": 5}
    dm = ActivityDataModule(path, **{**args, **kwargs})
    dm.setup()
    return dm


def test_training_loader_covers_every_frame_once_and_reshuffles(tmp_path):
    path = saved(random_recording(n_frames=203), tmp_path)
    dm = make_dm(path)
    train = dm.split.train
    loader = dm.train_dataloader()
    epochs = []
    for _ in range(2):
        batches = frames_of(loader)
        assert len(batches) == len(loader) == math.ceil(len(train) / 8)
        assert all(len(b) == 8 for b in batches[:-1]) and 1 <= len(batches[-1]) <= 8
        assert all(np.all(np.diff(b) > 0) for b in batches)  # sorted within a batch
        order = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(order), train)  # every frame exactly once
        epochs.append(order)
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[0], train)  # actually shuffled

    fresh = make_dm(path)
    np.testing.assert_array_equal(np.concatenate(frames_of(fresh.train_dataloader())), epochs[0])
    other_seed = make_dm(path, shuffle_seed=1)
    assert not np.array_equal(np.concatenate(frames_of(other_seed.train_dataloader())), epochs[0])


def test_val_and_test_loaders_are_sequential(tmp_path):
    dm = make_dm(saved(random_recording(n_frames=300), tmp_path), batch_size=7)
    for loader, block in ((dm.val_dataloader(), dm.split.val), (dm.test_dataloader(), dm.split.test)):
        for _ in range(2):  # the same every epoch
            batches = frames_of(loader)
            assert len(batches) == len(loader) == math.ceil(len(block) / 7)
            np.testing.assert_array_equal(np.concatenate(batches), block)


def test_loaders_call_setup_when_needed(tmp_path):
    dm = ActivityDataModule(saved(random_recording(), tmp_path), batch_size=16, rollout_steps=5)
    assert dm._recording is None and dm._split is None  # nothing read at construction
    order = np.concatenate(frames_of(dm.train_dataloader()))
    assert dm._split is not None
    np.testing.assert_array_equal(np.sort(order), dm.split.train)
    # ``split`` itself reads the file and splits it on first use
    fresh = ActivityDataModule(saved(random_recording(), tmp_path), batch_size=16, rollout_steps=5)
    np.testing.assert_array_equal(fresh.split.train, dm.split.train)


@pytest.mark.parametrize("n_block", [99, 100, 101, 7])
@pytest.mark.parametrize("world", [2, 3, 4])
def test_shards_are_disjoint_equal_and_cover_the_block(tmp_path, n_block, world):
    dm = make_dm(saved(random_recording(n_frames=250), tmp_path), batch_size=5)
    block = np.arange(100, 100 + n_block)
    for epoch in (0, 1):
        datasets = [_FrameBatches(dm, block, shuffle=True, rank=r, world=world) for r in range(world)]
        for dataset in datasets:
            dataset.epoch = epoch
        shards = [d.shard() for d in datasets]
        assert all(len(s) == n_block // world for s in shards)
        for i in range(world):
            assert set(shards[i]) <= set(block)
            assert len(set(shards[i])) == len(shards[i])
            for j in range(i + 1, world):
                assert not set(shards[i]) & set(shards[j])
        union = set(np.concatenate(shards).tolist())
        assert len(set(block.tolist()) - union) < world
        # what the loader of each rank serves is its shard, in as many batches as len() says
        for dataset, shard in zip(datasets, shards, strict=True):
            batches = [b["frame"].numpy() for b in dataset]
            assert len(batches) == len(dataset) == math.ceil(len(shard) / 5)
            served = np.concatenate(batches) if batches else np.empty(0, np.int64)
            np.testing.assert_array_equal(np.sort(served), np.sort(shard))
    # a shard changes between epochs
    first = _FrameBatches(dm, block, shuffle=True, rank=0, world=world)
    second = _FrameBatches(dm, block, shuffle=True, rank=0, world=world)
    second.epoch = 1
    if n_block // world > 3:
        assert not np.array_equal(first.shard(), second.shard())


def test_unshuffled_shards_interleave(tmp_path):
    dm = make_dm(saved(random_recording(), tmp_path))
    block = np.arange(20, 31)  # 11 frames, 3 ranks: 3 each, one frame left out
    shards = [_FrameBatches(dm, block, shuffle=False, rank=r, world=3).shard() for r in range(3)]
    np.testing.assert_array_equal(shards[0], [20, 23, 26])
    np.testing.assert_array_equal(shards[1], [21, 24, 27])
    np.testing.assert_array_equal(shards[2], [22, 25, 28])


def test_loaders_take_rank_and_world_from_the_trainer(tmp_path):
    dm = make_dm(saved(random_recording(n_frames=200), tmp_path))
    frames = {}
    for rank in (0, 1):
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        loader = dm.train_dataloader()
        assert (loader.dataset.rank, loader.dataset.world) == (rank, 2)
        frames[rank] = np.concatenate(frames_of(loader))
    assert len(frames[0]) == len(frames[1]) == len(dm.split.train) // 2
    assert not set(frames[0]) & set(frames[1])


# ---------------------------------------------------------------------------------------- DDP
DDP_SCRIPT = """
import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ccnn.data import ActivityDataModule


class Recorder(L.LightningModule):
    def __init__(self, out):
        super().__init__()
        self.out = out
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append(batch["frame"].detach().cpu())
        return (batch["x"].mean() - self.weight) ** 2

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):
        frames = torch.cat(self.seen).numpy() if self.seen else np.empty(0, np.int64)
        np.save(self.out / f"rank{self.global_rank}.npy", frames)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    dm = ActivityDataModule(out / "rec.npz", batch_size=4, val_fraction=0.1, test_fraction=0.1, gap=2,
                            rollout_steps=5)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(Recorder(out), datamodule=dm)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_ranks_see_disjoint_shards(tmp_path, cache_env):
    recording = random_recording(n_frames=125, n_neurons=4)
    saved(recording, tmp_path)
    script = tmp_path / "ddp_script.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "CCNN_CACHE": str(cache_env),
        "OMP_NUM_THREADS": "1",
    }
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "CUDA_VISIBLE_DEVICES"):
        env.pop(key, None)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    files = [tmp_path / f"rank{r}.npy" for r in (0, 1)]
    assert all(f.exists() for f in files), result.stderr[-5000:]
    ranks = [np.load(f) for f in files]

    train = TimeSplit(125, 0.1, 0.1, 2).train
    assert len(train) % 2 == 1  # an odd block: one frame is left out
    assert len(ranks[0]) == len(ranks[1]) == len(train) // 2
    for frames in ranks:
        assert len(set(frames.tolist())) == len(frames)  # no frame twice within a rank
    assert not set(ranks[0].tolist()) & set(ranks[1].tolist())
    union = set(ranks[0].tolist()) | set(ranks[1].tolist())
    assert union <= set(train.tolist())
    assert len(set(train.tolist()) - union) <= 1


# ---------------------------------------------------------------------------------------- rollouts
def test_rollout_reference(tmp_path):
    recording = random_recording(n_frames=200, stimulus=True)
    dm = make_dm(saved(recording, tmp_path), test_fraction=0.2, rollout_steps=10)
    start = int(dm.split.test[0])
    ref = dm.rollout_reference()
    assert int(ref["start_frame"]) == start
    np.testing.assert_array_equal(ref["x0"].numpy(), recording.activity[start])
    assert ref["trajectory"].shape == (11, 6)
    np.testing.assert_array_equal(ref["trajectory"][0].numpy(), ref["x0"].numpy())
    np.testing.assert_array_equal(ref["trajectory"].numpy(), recording.activity[start : start + 11])
    np.testing.assert_array_equal(ref["stimulus"].numpy(), recording.stimulus[start : start + 11])
    shorter = dm.rollout_reference(steps=3)
    np.testing.assert_array_equal(shorter["trajectory"].numpy(), recording.activity[start : start + 4])
    assert shorter["stimulus"].shape == (4, 6)


def test_rollout_reference_without_stimulus(tmp_path):
    recording = random_recording(n_frames=100)
    dm = make_dm(saved(recording, tmp_path), rollout_steps=4)
    ref = dm.rollout_reference()
    assert "stimulus" not in ref
    assert ref["trajectory"].shape == (5, 6)


def test_rollout_reference_is_clipped_to_the_test_block(tmp_path):
    recording = random_recording(n_frames=200)
    dm = ActivityDataModule(saved(recording, tmp_path), test_fraction=0.1, gap=3, rollout_steps=100)
    with pytest.warns(UserWarning, match="rollout_steps"):
        dm.setup()
    test = dm.split.test
    assert len(test) == 20
    with pytest.warns(UserWarning, match="steps"):
        ref = dm.rollout_reference()
    np.testing.assert_array_equal(ref["trajectory"].numpy(), recording.activity[test[0] : test[-1] + 1])
    with pytest.warns(UserWarning, match="steps"):
        ref = dm.rollout_reference(steps=20)  # 21 frames asked, 20 available
    assert len(ref["trajectory"]) == 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(dm.rollout_reference(steps=19)["trajectory"]) == 20  # fits exactly


def test_rollout_reference_needs_a_test_block(tmp_path):
    dm = make_dm(saved(random_recording(), tmp_path), test_fraction=0.0)
    with pytest.raises(ValueError, match="test_fraction"):
        dm.rollout_reference()


# ---------------------------------------------------------------------------------------- simulated
SIM_ARGS = {"n_neurons": 32, "n_frames": 300, "warmup": 10, "dt": 0.02, "stimulus": "procedural",
            "stimulus_grid": 4}  # fmt: skip


def cache_entries(cache_env: Path) -> list[Path]:
    folder = cache_env / "simulations"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_simulated_datamodule(cache_env):
    dm = SimulatedActivityDataModule(**SIM_ARGS, batch_size=16, gap=3, rollout_steps=5)
    # known from the arguments, without simulating
    assert dm.n_neurons == 32
    assert dm.dt == 0.02
    assert dm.has_positions and dm.has_ground_truth
    assert cache_entries(cache_env) == []
    assert dm._recording is None

    dm.prepare_data()
    entries = cache_entries(cache_env)
    assert len(entries) == 1 and (entries[0] / "manifest.json").exists()
    dm.setup("fit")
    assert cache_entries(cache_env) == entries
    cached = Recording.load_dir(entries[0])
    assert cached.n_frames == 300 and cached.n_neurons == 32 and cached.dt == pytest.approx(0.02)
    direct = simulate_assembly(**SIM_ARGS, progress=False)
    np.testing.assert_allclose(cached.activity, direct.activity, rtol=1e-5, atol=1e-6)
    for batch in dm.train_dataloader():
        frames = batch["frame"].numpy()
        np.testing.assert_array_equal(batch["x"].numpy(), cached.activity[frames])
        np.testing.assert_array_equal(batch["target"].numpy(), cached.derivative[frames])
        np.testing.assert_array_equal(batch["stimulus"].numpy(), cached.stimulus[frames])
        np.testing.assert_array_equal(batch["positions"].numpy(), cached.positions)

    again = SimulatedActivityDataModule(**SIM_ARGS, batch_size=16, gap=3, rollout_steps=5)
    again.prepare_data()
    again.setup("fit")
    assert cache_entries(cache_env) == entries
    np.testing.assert_array_equal(again.recording.activity, cached.activity)

    other = SimulatedActivityDataModule(**{**SIM_ARGS, "stimulus": None}, batch_size=16)
    assert not other.has_positions and other.has_ground_truth
    assert cache_entries(cache_env) == entries


# ---------------------------------------------------------------------------------------- memory maps
def test_memory_mapped_cache_entry(cache_env, monkeypatch):
    recording = random_recording(n_frames=150, stimulus=True, positions=True)
    builds = []

    def build():
        builds.append(1)
        return recording

    mapped, folder = cached_recording({"test": "mmap"}, build, mmap=True)
    assert folder.parent == cache_env / "simulations"
    assert isinstance(mapped.activity, np.memmap)
    assert isinstance(mapped.derivative, np.memmap)
    np.testing.assert_array_equal(mapped.activity, recording.activity)

    monkeypatch.setattr(ccnn.data.activity.cache, "MMAP_THRESHOLD", 0)
    again, same = cached_recording({"test": "mmap"}, build)
    assert same == folder and len(builds) == 1
    assert isinstance(again.activity, np.memmap)

    dm = make_dm(folder, batch_size=9)
    assert isinstance(dm.recording.activity, np.memmap)
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        for batch in loader:
            frames = batch["frame"].numpy()
            np.testing.assert_array_equal(batch["x"].numpy(), recording.activity[frames])
            np.testing.assert_array_equal(batch["target"].numpy(), recording.derivative[frames])
            np.testing.assert_array_equal(batch["stimulus"].numpy(), recording.stimulus[frames])
            np.testing.assert_array_equal(batch["positions"].numpy(), recording.positions)
    ref = dm.rollout_reference()
    start = int(dm.split.test[0])
    np.testing.assert_array_equal(ref["trajectory"].numpy(), recording.activity[start : start + 6])

    monkeypatch.setattr(ccnn.data.activity.cache, "MMAP_THRESHOLD", 1 << 30)
    read = make_dm(folder)
    assert not isinstance(read.recording.activity, np.memmap)


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("batch_size", [0, -2, 2.5, True, "8"])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        ActivityDataModule("unused.npz", batch_size=batch_size)


def test_missing_path():
    dm = ActivityDataModule()
    with pytest.raises(ValueError, match="path"):
        dm.setup()
    with pytest.raises(ValueError, match="path"):
        ActivityDataModule("/nonexistent/recording.npz").setup()


def test_bad_split_arguments_name_the_argument(tmp_path):
    path = saved(random_recording(), tmp_path)
    with pytest.raises(ValueError, match="val_fraction"):
        ActivityDataModule(path, val_fraction=1.2).setup()
    with pytest.raises(ValueError, match="gap"):
        ActivityDataModule(path, gap=0).setup()
