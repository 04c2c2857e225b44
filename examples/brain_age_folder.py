r"""Brain age from a folder of connectomes: cross-validated ConnectomeGNN regression, bias-corrected gap.

The folder holds one matrix per subject (``sub-001.csv``, ``sub-002_dwi.npy``, ...; any
format :func:`ccnn.data.load_connectome_cohort` reads) and a ``participants.tsv`` (or
``.csv``) with a ``participant_id`` column and an ``age`` column. Without ``--folder`` the
example writes a synthetic cohort whose ageing edges weaken linearly with age
(:mod:`ccnn.data.connectomes.synthetic_age`) into ``<out_dir>/synthetic_cohort`` and uses it.

For every fold k of a k-fold cross-validation (:class:`ccnn.data.ConnectomeDataModule`,
``task="regression"``):

1. :class:`ccnn.models.ConnectomeGNN` (``task="regression"``, MSE loss) is trained on the
   fold's training subjects (its inner validation subjects give ``val/loss``, ``val/mae`` and
   ``val/r2`` per epoch);
2. it predicts the age of the training subjects (training and validation split) and of the
   held-out test fold;
3. the age-bias correction :class:`ccnn.analysis.brain_age.BrainAgeBiasCorrection` is fitted
   on the **training** subjects' predictions only, gap = a + b · age, and applied to the test
   fold: corrected gap = (predicted − age) − (a + b · age).

Writes ``predictions.csv`` (one row per subject, from the fold that held it out: age,
predicted age, gap, corrected gap, fold) and ``summary.json`` (MAE, R², Pearson r of the
out-of-fold predictions, the gap's correlation with age before and after the correction, and
per-fold numbers).

Usage::

    python examples/brain_age_folder.py --config examples/brain_age_folder.yaml \
        [--folder path/to/cohort] [--epochs 150] [--out_dir runs/x]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from jsonargparse import CLI
from torch_geometric.data import Batch

from ccnn._io import atomic_write
from ccnn.analysis.brain_age import BrainAgeBiasCorrection, brain_age_report
from ccnn.data import ConnectomeDataModule
from ccnn.data.connectomes.synthetic_age import synthetic_age_cohort, write_folder
from ccnn.models import ConnectomeGNN


def predict_ages(model: ConnectomeGNN, datamodule: ConnectomeDataModule, subjects: np.ndarray) -> np.ndarray:
    """The model's predicted ages for the cohort positions ``subjects``, in eval mode."""
    model.eval()
    with torch.no_grad():
        batch = Batch.from_data_list([datamodule.graphs[i] for i in subjects])
        return model(batch).squeeze(-1).double().numpy()


def fit_fold(
    datamodule: ConnectomeDataModule,
    *,
    epochs: int,
    conv: str = "gcn",
    hidden: int = 32,
    layers: int = 1,
    dropout: float = 0.0,
    lr: float = 0.1,
    seed: int = 0,
) -> tuple[ConnectomeGNN, dict[str, float]]:
    """Train ConnectomeGNN (regression) on one fold of ``datamodule``; returns it and its test metrics."""
    L.seed_everything(seed, verbose=False)
    model = ConnectomeGNN(
        n_inputs=datamodule.n_inputs, task="regression", conv=conv, hidden=hidden, layers=layers,
        dropout=dropout, lr=lr,
    )  # fmt: skip
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
    )  # fmt: skip
    trainer.fit(model, datamodule)
    (metrics,) = trainer.test(model, datamodule, verbose=False)
    return model, {key: float(value) for key, value in metrics.items()}


def brain_age_example(
    folder: str | None = None,
    target: str = "age",
    transforms: list[str] | None = None,
    node_features: str = "profile",
    n_folds: int = 4,
    epochs: int = 150,
    conv: str = "gcn",
    hidden: int = 32,
    layers: int = 1,
    dropout: float = 0.0,
    lr: float = 0.1,
    batch_size: int = 16,
    seed: int = 0,
    threads: int | None = 1,
    out_dir: str = "runs/example_brain_age",
) -> dict:
    """Cross-validated brain age on a folder cohort; writes ``predictions.csv`` and ``summary.json``.

    Args:
        folder: a folder cohort (per-subject matrices + participants table); None writes and
            uses the synthetic ageing cohort (60 subjects, 20 regions, ages 8–80).
        target: the participants column with the chronological age.
        transforms: connectome transforms (e.g. ``[log1p, normalise:max]`` for streamline counts).
        node_features: ConnectomeDataModule node features (``profile``: each region's row).
        n_folds: folds of the cross-validation; every subject is predicted once, out of fold.
        epochs: training epochs per fold. Ages are regressed in years, not standardised, so the
            head's output has to grow to the mean age: keep ``lr`` high or ``epochs`` many.
        conv, hidden, layers, dropout, lr: ConnectomeGNN's arguments.
        batch_size: graphs per batch.
        seed: seeds the synthetic cohort, the folds and the training.
        threads: torch CPU threads (one is fastest for graphs of a few dozen regions, and
            avoids stalls on a busy machine); None keeps torch's setting.
        out_dir: where the synthetic cohort, ``predictions.csv`` and ``summary.json`` go.
    """
    started = time.perf_counter()
    if threads is not None:
        torch.set_num_threads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if folder is None:
        folder = str(write_folder(synthetic_age_cohort(seed=seed), out / "synthetic_cohort"))
    rows, folds = [], []
    for fold in range(n_folds):
        datamodule = ConnectomeDataModule(
            folder, target=target, task="regression", transforms=transforms, node_features=node_features,
            n_folds=n_folds, fold=fold, batch_size=batch_size, seed=seed,
        )  # fmt: skip
        model, metrics = fit_fold(
            datamodule, epochs=epochs, conv=conv, hidden=hidden, layers=layers, dropout=dropout, lr=lr,
            seed=seed + fold,
        )  # fmt: skip
        ages = np.asarray(datamodule.targets, dtype=np.float64)
        training = np.concatenate([datamodule.split["train"], datamodule.split["val"]])
        test = datamodule.split["test"]
        # The bias correction sees only the training subjects' predictions and ages.
        correction = BrainAgeBiasCorrection().fit(predict_ages(model, datamodule, training), ages[training])
        predicted = predict_ages(model, datamodule, test)
        corrected = correction.transform(predicted, ages[test])
        for position, value, gap in zip(test, predicted, corrected, strict=True):
            rows.append({
                "participant_id": datamodule.cohort.subjects[position], "age": ages[position],
                "predicted_age": value, "gap": value - ages[position], "corrected_gap": gap, "fold": fold,
            })  # fmt: skip
        folds.append({
            "fold": fold, "test_mae": metrics["test/mae"], "test_r2": metrics["test/r2"],
            "bias_intercept": correction.intercept, "bias_slope": correction.slope,
        })  # fmt: skip
        print(f"fold {fold}: test MAE {metrics['test/mae']:.2f}, R² {metrics['test/r2']:.3f}, "
              f"training gap = {correction.intercept:.2f} + {correction.slope:.3f} · age")  # fmt: skip
    table = pd.DataFrame(rows).sort_values("participant_id")
    report = brain_age_report(table["predicted_age"].to_numpy(), table["age"].to_numpy())
    corrected_gap = table["corrected_gap"].to_numpy()
    summary = {
        **{key: report[key] for key in ("mae", "r2", "pearson_r", "mean_gap", "gap_age_correlation")},
        "corrected_gap_age_correlation": float(np.corrcoef(corrected_gap, table["age"])[0, 1]),
        "corrected_mean_gap": float(corrected_gap.mean()),
        "subjects": len(table), "folder": str(folder), "folds": folds,
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    with atomic_write(out / "predictions.csv") as handle:
        handle.write(table.to_csv(index=False).encode())
    with atomic_write(out / "summary.json") as handle:
        handle.write(json.dumps(summary, indent=2).encode())
    print(
        f"out of fold ({len(table)} subjects): MAE {summary['mae']:.2f} years, R² {summary['r2']:.3f}, "
        f"r {summary['pearson_r']:.3f}; corr(gap, age) {summary['gap_age_correlation']:.3f} → "
        f"{summary['corrected_gap_age_correlation']:.3f} after the correction ({summary['seconds']} s)"
    )
    return summary


if __name__ == "__main__":
    CLI(brain_age_example, as_positional=False)
