"""benchmarks/clinical_prediction.py on a tiny synthetic cohort: every model gets
the documented JSON fields, a planted diagnosis effect is found, and a missing label column
raises one ValueError naming ``target``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def tiny_cohort(n_subjects=20, n=5):
    """Signed symmetric matrices; ADHD adds 1.5 to edge (0, 1); sex and age are noise."""
    from ccnn.data import Connectome, ConnectomeCohort

    rng = np.random.default_rng(0)
    diagnosis = np.where(np.arange(n_subjects) % 2, "ADHD", "control")
    subjects = []
    for label in diagnosis:
        weights = rng.normal(scale=0.3, size=(n, n))
        weights = (weights + weights.T) / 2
        weights[0, 1] = weights[1, 0] = weights[0, 1] + 1.5 * (label == "ADHD")
        np.fill_diagonal(weights, 0)
        subjects.append(Connectome(weights))
    participants = pd.DataFrame(
        {"diagnosis": diagnosis, "sex": rng.permutation(np.where(np.arange(n_subjects) % 2, "M", "F")),
         "age": rng.uniform(8, 18, n_subjects)},
        index=pd.Index([f"s{i}" for i in range(n_subjects)]),
    )  # fmt: skip
    return ConnectomeCohort("tiny", subjects, participants)


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        "clinical_prediction", ROOT / "benchmarks" / "clinical_prediction.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_every_model_and_target_gets_the_documented_fields(monkeypatch):
    bench = load_benchmark()
    monkeypatch.setitem(bench.GNN, "epochs", 5)
    monkeypatch.setitem(bench.GNN, "hidden", 4)
    for grid in ("GNN_WEIGHT_DECAY", "LOGISTIC_C", "RIDGE_ALPHA", "AGE_ALPHA"):  # one point each: fast
        monkeypatch.setattr(bench, grid, getattr(bench, grid)[1:2])
    options = {"repeats": 2, "permutations": 2, "gnn_permutations": 1, "outer_folds": 2, "inner_folds": 2}
    result = bench.run(tiny_cohort(), targets=["diagnosis"], **options)
    assert set(result) == {"targets", "age", "verdict", "settings"}
    for target in ["diagnosis"]:
        entry = result["targets"][target]
        assert set(entry["models"]) == set(bench.MODELS)
        for row in entry["models"].values():
            assert {"mean", "std", "repeat_scores", "fold_scores", "best_params", "seconds"} <= set(row)
            assert len(row["repeat_scores"]) == 2 and len(row["best_params"][0]) == 2
        assert {"model", "observed", "p_value", "n_permutations", "null"} <= set(entry["permutation"])
    assert result["targets"]["diagnosis"]["positive_class"] == "control"  # sorted: ADHD < control
    assert result["targets"]["diagnosis"]["models"]["edge_logistic"]["mean"] > 0.8
    assert result["age"]["metric"] == "r2" and "mae" in result["age"]
    assert "edge_logistic" in result["verdict"]
    assert result["settings"]["subjects"] == 20
    json.dumps(result)  # serialisable as the --json output
    assert "| edge_logistic |" in bench.table(result)


def test_a_cohort_without_the_label_raises_naming_target():
    bench = load_benchmark()
    with pytest.raises(ValueError, match=r"^target:"):
        bench.run(tiny_cohort(), targets=["handedness"], models=["edge_logistic"], repeats=1, permutations=1)
