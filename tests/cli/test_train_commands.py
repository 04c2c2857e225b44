"""train.py as a user drives it: re-running saved configs, evaluating runs, printed and saved
configs, and bad options (in-process on the digits classifier: a run takes about a second)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from ccnn.cli import main
from ccnn.data import DigitsDataModule

ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(ROOT / "configs/connectome_mlp_digits.yaml")
CSV = str(ROOT / "configs/logger/csv.yaml")
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Content hash and modification time of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (hashlib.blake2b(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A finished 2-epoch fit of the digits classifier with the CSV logger."""
    root = tmp_path_factory.mktemp("runs") / "digits"
    main(["fit", "--config", DIGITS, "--config", CSV, "--trainer.max_epochs=2", *QUIET,
          f"--trainer.default_root_dir={root}"])  # fmt: skip
    return root


def test_a_saved_config_reruns_into_a_new_folder_and_leaves_the_old_one_alone(digits_run, tmp_path):
    before = fingerprint(digits_run)
    assert {"config.yaml", "checkpoints/last.ckpt", "metrics.csv", "weight_vs_distance.png"} <= set(before)
    new = tmp_path / "new"
    main(["fit", "--config", str(digits_run / "config.yaml"), f"--trainer.default_root_dir={new}", *QUIET])
    assert fingerprint(digits_run) == before  # not one file of the old run touched
    after = set(fingerprint(new))
    assert {"config.yaml", "checkpoints/last.ckpt", "metrics.csv", "weight_vs_distance.png"} <= after
    saved = yaml.safe_load((new / "config.yaml").read_text())
    assert saved["trainer"]["default_root_dir"] == str(new)
    # paths that follow default_root_dir are saved as null, so the config moves with it
    assert saved["checkpoint"]["dirpath"] is None
    assert saved["trainer"]["logger"]["init_args"]["save_dir"] in (None, "runs")


def test_a_second_fit_of_a_config_gets_a_folder_of_its_own(digits_run):
    sibling = digits_run.with_name("digits-2")
    before = fingerprint(digits_run)
    main(["fit", "--config", DIGITS, "--config", CSV, "--trainer.max_epochs=1", *QUIET,
          f"--trainer.default_root_dir={digits_run}"])  # fmt: skip
    assert fingerprint(digits_run) == before
    assert (sibling / "config.yaml").exists() and (sibling / "checkpoints" / "last.ckpt").exists()
    assert yaml.safe_load((sibling / "config.yaml").read_text())["trainer"]["default_root_dir"] == str(
        sibling
    )


def test_validate_test_and_predict_write_inside_the_run_and_overwrite_nothing(digits_run):
    before = fingerprint(digits_run)
    config = str(digits_run / "config.yaml")
    for command in ("validate", "test", "predict", "predict"):
        main([command, "--config", config, "--ckpt_path=last", *QUIET])
    after = fingerprint(digits_run)
    assert {k: v for k, v in after.items() if k in before} == before
    added = set(after) - set(before)
    assert {
        "validate/config.yaml",
        "validate/metrics.json",
        "validate/metrics.csv",
        "test/metrics.json",
    } <= added
    assert {"predict/predictions.npz", "predict-2/predictions.npz", "predict-2/config.yaml"} <= added
    # validate of the last checkpoint reproduces the last epoch's validation of the fit
    validate = json.loads((digits_run / "validate" / "metrics.json").read_text())
    fit_rows = (digits_run / "metrics.csv").read_text().splitlines()
    header = fit_rows[0].split(",")
    logged = [dict(zip(header, row.split(","), strict=True)) for row in fit_rows[1:]]
    last_val = [row for row in logged if row["val/acc"]][-1]
    assert validate["metrics"]["val/acc"] == pytest.approx(float(last_val["val/acc"]), abs=1e-6)
    assert validate["checkpoint"].endswith("last.ckpt")
    # an evaluation's saved config names the run it evaluated: it re-runs into validate-2/
    saved = yaml.safe_load((digits_run / "validate" / "config.yaml").read_text())
    assert saved["trainer"]["default_root_dir"] == str(digits_run)
    assert saved["ckpt_path"] == str(digits_run / "checkpoints" / "last.ckpt")
    # predictions: class probabilities of the test split, in its order, with the labels
    with np.load(digits_run / "predict" / "predictions.npz") as predictions:
        probabilities, target, index = (
            predictions["probabilities"],
            predictions["target"],
            predictions["index"],
        )
    data = DigitsDataModule()
    data.setup()
    assert probabilities.shape == (len(data.test_indices), 10)
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(index, np.arange(len(data.test_indices)))
    from sklearn.datasets import load_digits

    np.testing.assert_array_equal(target, load_digits().target[data.test_indices])
    test = json.loads((digits_run / "test" / "metrics.json").read_text())
    accuracy = float((probabilities.argmax(1) == target).mean())
    assert test["metrics"]["test/acc"] == pytest.approx(accuracy, abs=1e-6)


def test_validate_last_without_a_checkpoint_fails_and_writes_nothing(tmp_path):
    empty = tmp_path / "never_trained"
    with pytest.raises(
        ValueError, match=r"ckpt_path: 'last' needs a checkpoint in .*never_trained/checkpoints"
    ):
        main(
            [
                "validate",
                "--config",
                DIGITS,
                f"--trainer.default_root_dir={empty}",
                "--ckpt_path=last",
                *QUIET,
            ]
        )
    assert not empty.exists()


def printed_config(capsys, *args) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_print_config_shows_the_monitor_logger_and_last_checkpoint_the_run_uses(capsys, tmp_path):
    printed = printed_config(capsys, "--config", DIGITS)
    assert printed["checkpoint"]["monitor"] == "val/acc" and printed["checkpoint"]["mode"] == "max"
    assert printed["checkpoint"]["save_last"] is True
    assert printed["trainer"]["logger"]["class_path"] == "ccnn.loggers.WandbLogger"
    # a model whose metric depends on its arguments: regression has no accuracy
    gnn = ["--config", str(ROOT / "configs/connectome_gnn_mice.yaml"), "--checkpoint.monitor=null"]
    regression = printed_config(capsys, *gnn, "--model.init_args.task=regression")
    assert (regression["checkpoint"]["monitor"], regression["checkpoint"]["mode"]) == ("val/loss", "min")
    classification = printed_config(capsys, *gnn)
    assert (classification["checkpoint"]["monitor"], classification["checkpoint"]["mode"]) == (
        "val/acc",
        "max",
    )


def test_the_saved_config_says_what_the_run_did(digits_run):
    saved = yaml.safe_load((digits_run / "config.yaml").read_text())
    assert saved["checkpoint"]["monitor"] == "val/acc" and saved["checkpoint"]["mode"] == "max"
    assert saved["checkpoint"]["save_last"] is True and (digits_run / "checkpoints" / "last.ckpt").exists()
    assert saved["seed_everything"] == 0


@pytest.mark.parametrize(
    ("option", "suggestion"),
    [
        (["--trainer.max_epohcs", "3"], "did you mean --trainer.max_epochs?"),
        (["--checkpoint.monitr", "x"], "did you mean --checkpoint.monitor?"),
        (["--model.init_args.lrr", "0.1"], "did you mean --model.init_args.lr?"),
        (["--data.init_args.batch_sise", "3"], "did you mean --data.init_args.batch_size?"),
        (["--data", "ccnn.data.DigitsDataModul"], "did you mean ccnn.data.DigitsDataModule?"),
    ],
)
def test_a_misspelled_option_gets_a_short_error_with_a_suggestion(capsys, option, suggestion):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", DIGITS, *option])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and suggestion in err
    assert len(err.strip().splitlines()) <= 3  # not argparse's ~60 lines of usage


def test_a_misspelled_key_in_a_config_file_is_named_as_such(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  max_epohcs: 3\n")
    with pytest.raises(SystemExit):
        main(["fit", "--config", DIGITS, "--config", str(bad)])
    err = capsys.readouterr().err
    assert "unknown key (in a config file) trainer.max_epohcs; did you mean trainer.max_epochs?" in err


def test_a_config_without_a_root_gets_runs_slash_its_registry_name(tmp_path, monkeypatch):
    config = yaml.safe_load(Path(DIGITS).read_text())
    del config["trainer"]["default_root_dir"]
    path = tmp_path / "no_root.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="untrained weights"):  # evaluating without --ckpt_path
        main(["validate", "--config", str(path), "--trainer.logger=false", *QUIET])
    assert (tmp_path / "runs" / "connectome_mlp" / "validate" / "metrics.json").exists()


@pytest.mark.slow
def test_predictions_under_ddp_are_gathered_into_one_file_in_dataset_order(digits_run, tmp_path):
    import os
    import subprocess
    import sys

    config = str(digits_run / "config.yaml")
    main(["predict", "--config", config, "--ckpt_path=last", *QUIET])  # one process
    env = {**os.environ, "WANDB_MODE": "disabled"}
    result = subprocess.run(
        [sys.executable, "train.py", "predict", "--config", config, "--ckpt_path=last", *QUIET,
         "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    single, gathered = sorted(digits_run.glob("predict*/predictions.npz"))[-2:]
    with np.load(single) as one, np.load(gathered) as two:
        assert one.files == two.files
        for key in one.files:
            np.testing.assert_allclose(two[key], one[key], rtol=1e-6, atol=1e-7, err_msg=key)
