"""benchmarks/link_prediction.py on a tiny budget: every model is scored on the same splits, the
JSON has the documented layout, and a symmetric embedding scores exactly 0.5 against reversed
negatives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def herm():
    from ccnn.data import load_connectome

    try:
        return load_connectome("celegans_herm")
    except RuntimeError as error:  # no package and no index
        pytest.skip(f"celegans_herm unreachable: {error}")


@pytest.mark.slow
def test_the_benchmark_writes_the_documented_json(herm, tmp_path):
    out = tmp_path / "out.json"
    argv = [sys.executable, str(ROOT / "benchmarks" / "link_prediction.py"),
        "--connectome", "celegans_herm", "--dims", "2", "4", "--splits", "2", "--epochs", "20",
        "--negatives", "reversed", "--models", "gae_directed", "spectral_directed", "spectral_symmetric",
        "--workers", "1", "--json", str(out), "--workdir", str(tmp_path / "runs"),
    ]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "spectral_symmetric" in run.stdout  # the printed table
    result = json.loads(out.read_text())
    for model in ("gae_directed", "spectral_directed", "spectral_symmetric"):
        assert set(result[model]) == {"2", "4"}
        assert set(result[model]["2"]) == {"auroc_mean", "auroc_std", "ap_mean", "ap_std"}
        assert 0 <= result[model]["4"]["auroc_mean"] <= 1
    # an undirected embedding cannot tell an edge from its reverse
    assert result["spectral_symmetric"]["2"]["auroc_mean"] == pytest.approx(0.5)
    assert result["spectral_directed"]["2"]["auroc_mean"] > 0.6
    assert set(result["cell_type_knn"]) == {"gae_directed", "spectral_directed", "spectral_symmetric"}
    assert result["settings"]["negatives"] == "reversed"
    assert (tmp_path / "out.png").stat().st_size > 10_000
