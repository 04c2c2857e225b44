"""benchmarks/sc_to_fc.py on a tiny synthetic cohort: every model gets the documented JSON
fields, and the group-average template scores exactly the template's r (it is the template)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {
    "group_r",
    "individual_r_mean",
    "individual_r_std",
    "group_template_r_mean",
    "beats_template_fraction",
    "identifiability",
    "regional_r_mean",
}


def tiny_cohort(n_subjects=4, n=6):
    from ccnn.data import Connectome, ConnectomeCohort

    rng = np.random.default_rng(0)
    subjects = []
    for _ in range(n_subjects):
        weights = rng.uniform(0, 1, (n, n))
        weights = (weights + weights.T) / 2
        np.fill_diagonal(weights, 0)
        bold = rng.multivariate_normal(np.zeros(n), np.eye(n) + 0.5 * weights, 200).T
        subjects.append(Connectome(weights, node_attrs={"bold": bold}))
    return ConnectomeCohort(
        "tiny", subjects, pd.DataFrame(index=pd.Index([f"s{i}" for i in range(n_subjects)]))
    )


def load_benchmark():
    spec = importlib.util.spec_from_file_location("sc_to_fc", ROOT / "benchmarks" / "sc_to_fc.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_every_model_is_scored_with_the_documented_fields(tmp_path, monkeypatch):
    bench = load_benchmark()
    monkeypatch.setitem(bench.LINEAR, "steps", 5)
    result = bench.run(tiny_cohort(), list(bench.MODELS), gnn_epochs=2, fc_kind="correlation")
    for model in bench.MODELS:
        assert FIELDS <= set(result[model])
        assert -1 <= result[model]["individual_r_mean"] <= 1
    template = result["template"]
    assert template["individual_r_mean"] == pytest.approx(template["group_template_r_mean"])
    assert result["settings"]["subjects"] == 4
    json.dumps(result)  # serialisable as the --json output


def test_the_figure_is_drawn_from_the_group_means(tmp_path):
    import torch

    bench = load_benchmark()
    fc = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loso = {"predictions": {"log_sc": fc.flip(0)}, "empirical": fc, "coords": None}
    path = bench.draw_figure(loso, tmp_path / "sc_to_fc.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
