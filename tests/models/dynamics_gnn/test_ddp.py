"""The dynamics GNN's paper route under DDP: 2 CPU processes (gloo) against one process."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_training import replay, tiny_model

from ccnn.data import ActivityDataModule, simulate_assembly
from ccnn.models import Schedule

ROOT = Path(__file__).resolve().parents[3]

DDP_SCRIPT = """
import os, sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, sys.argv[2])
from test_training import tiny_model
from ccnn.data import ActivityDataModule

out = Path(sys.argv[1])
torch.set_num_threads(1)
L.seed_everything(0, verbose=False)
model = tiny_model(out / "run", engine="resident", steps_per_batch=5, compile_step="off")
if os.environ.get("LOCAL_RANK", "0") == "0":
    torch.save(model.state_dict(), out / "start.pt")
# one validation batch: the end-of-fit export then reuses the validation's evaluation, which ran
# on both ranks (an evaluation on rank 0 alone would wait for rank 1 in torchmetrics' sync)
trainer = L.Trainer(
    accelerator="cpu", devices=2, strategy="ddp", precision="64-true", max_epochs=1, limit_train_batches=4,
    limit_val_batches=1, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
    enable_progress_bar=False, enable_model_summary=False,
)
trainer.fit(model, ActivityDataModule(out / "rec.npz", rollout_steps=20))
result = {"state": model.network.state_dict(), "steps": trainer.global_step}
torch.save(result, out / f"rank{trainer.global_rank}.pt")
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "CCNN_TRACEBACK"))}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "CUDA_VISIBLE_DEVICES"):
        env.pop(key, None)
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1", **extra)
    return env


@pytest.mark.slow
def test_two_ranks_step_as_one_process_on_their_concatenated_batches(tmp_path):
    # Each rank draws batches of 8 from its own shard; DDP averages the gradients at every Adam
    # step, which is the gradient of the loss on the 16 frames of both batches. Replaying that
    # by hand in one process (float64) gives the DDP parameters: the sharding, the per-rank
    # sampling and the all-reduce of every step are all checked.
    simulate_assembly(n_neurons=20, n_frames=600, warmup=100, seed=3, progress=False).save(
        tmp_path / "rec.npz"
    )
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(Path(__file__).parent)],
        cwd=tmp_path,
        env=clean_env(),
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 4 * 5
    for name, value in ranks[0]["state"].items():
        torch.testing.assert_close(ranks[1]["state"][name], value, rtol=0, atol=0, msg=name)  # replicas agree
    start = tiny_model(tmp_path / "replay", engine="resident", steps_per_batch=5).double()
    start.load_state_dict(torch.load(tmp_path / "start.pt"))
    datamodule = ActivityDataModule(tmp_path / "rec.npz", rollout_steps=20)
    expected, _ = replay(
        start, datamodule, epochs=1, batches=4, k=5, l1=Schedule(0.0), rank_world=((0, 2), (1, 2))
    )
    for name, value in expected.network.state_dict().items():
        torch.testing.assert_close(ranks[0]["state"][name], value, rtol=1e-9, atol=1e-12, msg=name)
    # and not the steps of one rank alone: its own batches give other parameters
    alone, _ = replay(start, datamodule, epochs=1, batches=4, k=5, l1=Schedule(0.0), rank_world=((0, 2),))
    assert not torch.allclose(alone.network.weight, expected.network.weight, rtol=1e-6, atol=1e-9)


#: |2 processes − 1 process| allowed. Measured (1 / 2 processes) at 2000 steps: W R² 0.922 / 0.943,
#: derivative R² 0.975 / 0.982, rollout R² at 100 steps 0.972 / 0.982; at 3000 steps 0.965 / 0.976,
#: 0.987 / 0.991, 0.980 / 0.984. Types are left out: at this stage of training the clusters of
#: φ profiles are not settled (type accuracy 0.97 / 0.47 at 2000 steps, 0.47 / 0.50 at 3000).
TOLERANCES = {"connectivity_r2": 0.05, "derivative_r2": 0.05, "rollout_r2@100": 0.1}


def run_train(recording, root, tmp_path, *extra):
    args = [
        *("--config", str(ROOT / "configs/dynamics_gnn.yaml")),
        *("--config", str(ROOT / "configs/dynamics_gnn/paper.yaml")),
        *("--data", "ccnn.data.ActivityDataModule", "--data.path", str(recording)),
        *("--data.init_args.rollout_steps", "300", "--model.init_args.rollout_steps", "300"),
        *("--model.init_args.rollout_horizons", "[100, 200]", "--model.init_args.steps_per_batch", "50"),
        *("--trainer.max_epochs", "1", "--trainer.limit_val_batches", "2"),
        *("--trainer.limit_train_batches", "40"),  # × 50 = 2000 Adam steps
        *("--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(root)),
        *extra,
    ]
    result = subprocess.run(
        [sys.executable, "train.py", "fit", *args],
        cwd=ROOT,
        env=clean_env(HOME=str(tmp_path), WANDB_MODE="disabled"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((root / "metrics.json").read_text())


@pytest.mark.slow
def test_paper_config_under_ddp_gives_the_metrics_of_one_process(tmp_path):
    # configs/dynamics_gnn/paper.yaml, 2000 Adam steps on N = 30, 4 types: one process against
    # configs/trainer/ddp.yaml on 2 processes (gloo). The ranks draw other batches (and their
    # averaged gradient is that of batch 16), so the runs differ by sampling noise only.
    recording = tmp_path / "n30.npz"
    simulate_assembly(n_neurons=30, n_frames=4000, seed=2, progress=False).save(recording)
    one = run_train(recording, tmp_path / "one", tmp_path)
    two = run_train(recording, tmp_path / "two", tmp_path, "--config", str(ROOT / "configs/trainer/ddp.yaml"))
    assert one["connectivity_r2"] > 0.6 and two["connectivity_r2"] > 0.6  # both learned W
    for key, tolerance in TOLERANCES.items():
        assert abs(two[key] - one[key]) < tolerance, (key, one[key], two[key])
