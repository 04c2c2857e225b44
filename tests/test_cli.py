"""train.py: W&B offline by default, checkpoints, resuming, config fragments."""

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import yaml
from wandb_records import exit_code, offline_run

from ccnn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def dynamics_args(recording, root, *extra):
    return [
        "--config",
        str(ROOT / "configs/dynamics_gnn.yaml"),
        "--data",
        "ccnn.data.ActivityDataModule",
        "--data.path",
        str(recording),
        "--trainer.limit_train_batches",
        "5",
        "--trainer.limit_val_batches",
        "2",
        "--trainer.default_root_dir",
        str(root),
        *extra,
    ]


def run_train(args, env_overrides, tmp_path, returncode=0):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "CCNN_TRACEBACK"))}
    env.update(HOME=str(tmp_path), **env_overrides)  # no ~/.netrc: W&B has no API key
    result = subprocess.run(
        [sys.executable, "train.py", "fit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == returncode, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.slow
def test_default_logger_is_wandb_offline_without_an_api_key(small_recording, tmp_path):
    root = tmp_path / "run"
    output = run_train(dynamics_args(small_recording, root), {}, tmp_path)
    assert output.count("wandb sync") == 1  # told once how to upload
    (run,) = (root / "wandb").glob("offline-run-*")
    summary, config = offline_run(run)
    exported = json.loads((root / "metrics.json").read_text())
    assert summary["val/connectivity_r2"] == pytest.approx(exported["connectivity_r2"], rel=1e-6)
    assert summary["dynamics/count"] == 4  # the model's figures, as images
    assert len(list((run / "files" / "media" / "images").glob("*.png"))) == 4
    # the per-type table: one row per recovered type (3 in the small assembly)
    (table,) = (run / "files" / "media" / "table").glob("types_*.table.json")
    rows = json.loads(table.read_text())["data"]
    assert [row[0] for row in rows] == [0, 1, 2] and sum(row[1] for row in rows) == 100
    assert all("tanh(x)" in row[2] for row in rows)
    assert config["config"]["model"]["class_path"] == "ccnn.models.DynamicsGNN"
    assert config["config"]["seed_everything"] == 0
    # best and last checkpoints; the seed lands in the saved config
    checkpoints = {p.name for p in (root / "checkpoints").glob("*.ckpt")}
    assert "last.ckpt" in checkpoints and len(checkpoints) == 2
    assert yaml.safe_load((root / "config.yaml").read_text())["seed_everything"] == 0
    assert "fit done in" in output and f"checkpoints {root / 'checkpoints'}" in output


@pytest.mark.slow
def test_wandb_disabled_and_csv_fragment_write_no_wandb_run(small_recording, tmp_path):
    disabled = tmp_path / "disabled"
    run_train(dynamics_args(small_recording, disabled), {"WANDB_MODE": "disabled"}, tmp_path)
    assert not list(disabled.rglob("offline-run-*")) and (disabled / "metrics.json").exists()
    csv = tmp_path / "csv"
    run_train(
        dynamics_args(small_recording, csv, "--config", str(ROOT / "configs/logger/csv.yaml")), {}, tmp_path
    )
    assert not (csv / "wandb").exists()
    (metrics_csv,) = csv.rglob("metrics.csv")
    assert "val/derivative_r2" in metrics_csv.read_text().splitlines()[0]


class Crash(RuntimeError):
    pass


class StopAtEpoch(L.Callback):
    """Simulates a crash at the start of an epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise Crash


def cli_fit(recording, root, *extra, callback=None, ckpt_path=None):
    args = dynamics_args(
        recording,
        root,
        "--trainer.logger",
        "false",
        "--trainer.max_epochs",
        "3",
        "--trainer.enable_progress_bar",
        "false",
        "--model.init_args.init",
        "random",
        "--model.init_args.lr_weight",
        "1e-3",
        "--model.init_args.lr_functions",
        "1e-3",
        "--model.init_args.lr_latents",
        "1e-3",
        "--model.init_args.rollout_steps",
        "50",
        "--model.init_args.rollout_horizons",
        "[10, 20]",
        "--data.init_args.rollout_steps",
        "50",
        *extra,
    )
    cli = main(args, run=False)
    if callback is not None:
        cli.trainer.callbacks.append(callback)
    cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt_path)
    return cli


@pytest.mark.slow
def test_resuming_from_last_matches_an_uninterrupted_run(small_recording, tmp_path):
    reference = cli_fit(small_recording, tmp_path / "reference")
    interrupted = tmp_path / "interrupted"
    with pytest.raises(Crash):
        cli_fit(small_recording, interrupted, callback=StopAtEpoch(2))
    assert (interrupted / "checkpoints" / "last.ckpt").exists()
    resumed = cli_fit(small_recording, interrupted, ckpt_path="last")
    assert resumed.trainer.current_epoch == reference.trainer.current_epoch == 3
    for (name, expected), actual in zip(
        reference.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(actual, expected, msg=name)
    # and training did move the weights: the comparison is not between two untouched models
    start = cli_fit(small_recording, tmp_path / "short", "--trainer.max_epochs", "1")
    assert not torch.equal(start.model.network.weight, reference.model.network.weight)
    for key in ("val/derivative_r2", "val/loss"):
        assert resumed.trainer.callback_metrics[key] == pytest.approx(
            float(reference.trainer.callback_metrics[key]), rel=1e-6
        )


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(small_recording, tmp_path):
    # Same start (the closed-form regression runs identically on every rank), then a few
    # refinement steps: DDP shards the frames and syncs the torchmetrics states, so the final
    # metrics equal one process's up to the tiny steps taken on different batches.
    results = {}
    for name, extra in {
        "one": ["--trainer.devices", "1"],
        "two": ["--config", str(ROOT / "configs/trainer/ddp.yaml"), "--trainer.devices", "2"],
    }.items():
        root = tmp_path / name
        run_train(
            dynamics_args(small_recording, root, "--trainer.accelerator", "cpu", *extra),
            {"WANDB_MODE": "disabled"},
            tmp_path,
        )
        results[name] = json.loads((root / "metrics.json").read_text())
    one, two = results["one"], results["two"]
    assert two["type_accuracy"] == one["type_accuracy"] == 1.0
    for key in ("connectivity_r2", "connectivity_slope", "rollout_r2@400", "psi_error"):
        assert abs(two[key] - one[key]) < 1e-4, (key, one[key], two[key])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["text", "empty"])
def test_a_bad_recording_gives_one_clean_error_and_starts_no_run(tmp_path, case):
    path = tmp_path / f"{case}.npz"
    if case == "text":
        path.write_text("frame,neuron\n1,2\n")
        extra, expected = [], f"error: {path}: not a readable .npz recording: the file is not a zip archive"
    else:
        np.savez(path, activity=np.zeros((0, 20), np.float32), dt=0.01)
        extra, expected = ["--data.init_args.allow_short", "true"], "an empty recording"
    root = tmp_path / "run"
    output = run_train([*dynamics_args(path, root), *extra], {}, tmp_path, returncode=1)
    assert expected in output
    assert "Traceback" not in output and "allow_pickle" not in output
    lines = output.strip().splitlines()
    assert lines[-2].startswith("error: ") and "CCNN_TRACEBACK=1" in lines[-1]  # the message, then where
    assert not root.exists()  # failed before any logger (or W&B run) started


@pytest.mark.slow
def test_a_run_that_fails_after_wandb_started_is_finished_as_failed(small_recording, tmp_path):
    root = tmp_path / "run"
    args = dynamics_args(small_recording, root, "--model.init_args.learn_stimulus", "true")
    output = run_train(args, {}, tmp_path, returncode=1)
    assert "error: learn_stimulus: Ω* needs neuron positions" in output and "Traceback" not in output
    (run,) = (root / "wandb").glob("offline-run-*")
    assert exit_code(run) == 1  # closed and marked failed, not left open


def test_data_warnings_are_given_once(small_recording, tmp_path, recwarn):
    data = dict(np.load(small_recording))
    no_derivative = tmp_path / "no_derivative.npz"
    np.savez(no_derivative, **{k: v for k, v in data.items() if k != "derivative"})
    main(["fit", *dynamics_args(no_derivative, tmp_path / "run", "--trainer.logger=false",
                                "--trainer.enable_progress_bar=false")])  # fmt: skip
    said = [str(w.message) for w in recwarn if "no 'derivative'" in str(w.message)]
    assert len(said) == 1, said
