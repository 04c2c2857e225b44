"""Kill a training run with SIGKILL mid-epoch, resume it with ``--ckpt_path last``: the result
must equal an uninterrupted run bit for bit, for every registered model (and its datamodule)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ccnn.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUIET = [
    "--trainer.logger=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


def kill_and_resume(args: list[str], tmp_path: Path, *, epoch: int, batch: int) -> tuple[dict, dict]:
    """Last checkpoints of an uninterrupted run and of one killed at (epoch, batch), then resumed."""
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    main(["fit", *args, *QUIET, f"--trainer.default_root_dir={reference}"])
    killer = json.dumps(
        [{"class_path": "resume_helpers.KillAtBatch", "init_args": {"epoch": epoch, "batch": batch}}]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "WANDB_MODE": "disabled"}
    killed = subprocess.run(
        [sys.executable, "train.py", "fit", *args, *QUIET, f"--trainer.default_root_dir={resumed}",
         f"--trainer.callbacks={killer}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    interrupted = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert interrupted["epoch"] == epoch - 1  # the kill came before epoch `epoch` was saved
    main(["fit", *args, *QUIET, f"--trainer.default_root_dir={resumed}", "--ckpt_path=last"])
    assert (resumed / "config.resume.yaml").exists() and not (tmp_path / "resumed-2").exists()
    return (
        torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True),
        torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True),
    )


def assert_identical(reference: dict, resumed: dict) -> None:
    assert resumed["epoch"] == reference["epoch"] and resumed["global_step"] == reference["global_step"]
    assert reference["state_dict"].keys() == resumed["state_dict"].keys()
    for name, value in reference["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name
    for ref_state, res_state in zip(reference["optimizer_states"], resumed["optimizer_states"], strict=True):
        for key, moments in ref_state["state"].items():
            for moment, value in moments.items():
                assert torch.equal(res_state["state"][key][moment], value), (key, moment)
    # the best checkpoint is the same epoch with the same score
    best = {k: v for k, v in reference["callbacks"].items() if "monitor" in k and "'monitor': None" not in k}
    for key, state in best.items():
        other = resumed["callbacks"][key]
        assert Path(other["best_model_path"]).name == Path(state["best_model_path"]).name
        assert torch.equal(other["best_model_score"], state["best_model_score"])


@pytest.mark.slow
def test_classifier_on_digits_resumes_exactly(tmp_path):
    args = ["--config", str(ROOT / "configs/connectome_mlp_digits.yaml"), "--trainer.max_epochs=4"]
    reference, resumed = kill_and_resume(args, tmp_path, epoch=2, batch=5)
    assert_identical(reference, resumed)


@pytest.mark.slow
def test_connectome_gnn_with_dropout_resumes_exactly(tiny_cohort_folder, tmp_path):
    args = [
        "--config", str(ROOT / "configs/connectome_gnn_mice.yaml"), "--trainer.max_epochs=5",
        f"--data.init_args.dataset={tiny_cohort_folder}", "--data.init_args.target=group",
        "--data.init_args.n_folds=3", "--data.init_args.val_fraction=0.25", "--data.init_args.batch_size=2",
        "--model.init_args.dropout=0.5",
    ]  # fmt: skip
    reference, resumed = kill_and_resume(args, tmp_path, epoch=3, batch=1)
    assert_identical(reference, resumed)


@pytest.mark.slow
def test_dynamics_gnn_resumes_exactly(small_recording, tmp_path):
    args = [
        "--config", str(ROOT / "configs/dynamics_gnn.yaml"), "--data=ccnn.data.ActivityDataModule",
        f"--data.path={small_recording}", "--data.init_args.rollout_steps=50", "--trainer.max_epochs=3",
        "--trainer.limit_train_batches=6", "--trainer.limit_val_batches=2", "--model.init_args.init=random",
        "--model.init_args.lr_weight=1e-3", "--model.init_args.lr_functions=1e-3",
        "--model.init_args.lr_latents=1e-3",
        "--model.init_args.rollout_steps=50", "--model.init_args.rollout_horizons=[10, 20]",
    ]  # fmt: skip
    reference, resumed = kill_and_resume(args, tmp_path, epoch=2, batch=3)
    assert_identical(reference, resumed)
