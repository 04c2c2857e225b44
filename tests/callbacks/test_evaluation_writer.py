"""predictions.npz of every registered model, as `train.py predict` writes it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ccnn.cli import main
from ccnn.data import ActivityDataModule
from ccnn.models import DynamicsGNN

ROOT = Path(__file__).resolve().parents[2]
QUIET = [
    "--trainer.logger=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


def fit_then_predict(args: list[str], root: Path) -> dict[str, np.ndarray]:
    main(["fit", *args, *QUIET, f"--trainer.default_root_dir={root}"])
    main(["predict", *args, *QUIET, f"--trainer.default_root_dir={root}", "--ckpt_path=last"])
    with np.load(root / "predict" / "predictions.npz") as data:
        return dict(data)


def test_dynamics_gnn_predicts_derivatives_and_a_rollout(small_recording, tmp_path):
    args = [
        "--config", str(ROOT / "configs/dynamics_gnn.yaml"), "--data=ccnn.data.ActivityDataModule",
        f"--data.path={small_recording}", "--data.init_args.rollout_steps=50", "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
        "--model.init_args.rollout_steps=50", "--model.init_args.rollout_horizons=[10, 20]",
    ]  # fmt: skip
    predictions = fit_then_predict(args, tmp_path / "run")
    datamodule = ActivityDataModule(small_recording, rollout_steps=50)
    test = datamodule.split.test
    np.testing.assert_array_equal(predictions["frame"], test)  # every test frame, in time order
    model = DynamicsGNN.load_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    batch = datamodule.batch(test[:16])
    with torch.no_grad():
        expected = model(batch["x"]).numpy()
    np.testing.assert_allclose(predictions["derivative"][:16], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predictions["target"][:16], batch["target"].numpy())
    assert predictions["rollout"].shape == predictions["rollout_recorded"].shape == (51, 100)
    assert int(predictions["rollout_start_frame"]) == test[0]
    np.testing.assert_array_equal(predictions["rollout_recorded"][0], predictions["rollout"][0])  # same start


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_connectome_gnn_predicts_probabilities_or_values(tiny_cohort_folder, tmp_path, task):
    target = "group" if task == "classification" else "age"
    args = [
        "--config", str(ROOT / "configs/connectome_gnn_mice.yaml"), "--trainer.max_epochs=2",
        f"--data.init_args.dataset={tiny_cohort_folder}", f"--data.init_args.target={target}",
        f"--data.init_args.task={task}", f"--model.init_args.task={task}", "--data.init_args.n_folds=3",
        "--data.init_args.val_fraction=0.25", "--checkpoint.monitor=null",
    ]  # fmt: skip
    predictions = fit_then_predict(args, tmp_path / task)
    n_test = 4  # 12 subjects, 3 folds
    np.testing.assert_array_equal(predictions["index"], np.arange(n_test))
    if task == "classification":
        assert predictions["probabilities"].shape == (n_test, 2)
        np.testing.assert_allclose(predictions["probabilities"].sum(1), 1, rtol=1e-5)
        assert set(predictions["target"]) <= {0, 1}
    else:
        assert predictions["predictions"].shape == (n_test,) and "probabilities" not in predictions
        assert np.all((predictions["target"] >= 20) & (predictions["target"] < 32))  # the ages
