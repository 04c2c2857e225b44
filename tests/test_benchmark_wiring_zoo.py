"""benchmarks/wiring_zoo.py: the cells it plans, one real cell end to end, the table and figures."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo():
    spec = importlib.util.spec_from_file_location("wiring_zoo", ROOT / "benchmarks" / "wiring_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cells_cover_every_model_regulariser_and_task(zoo):
    cells = zoo.cells(list(zoo.MODELS), list(zoo.TASKS), seeds=2, sweep=False)
    keys = {(c["model"], c["task"], c["regularizer"]) for c in cells}
    for model in ("bimt_mlp", "spatial_net", "dann_mlp", "colei_mlp", "sernn"):
        for task in zoo.TASKS:
            assert {(model, task, reg) for reg in ("own", "l1", "none")} <= keys
    # memory tasks for the recurrent models only; one head for connectome_mlp
    assert ("sernn", "delayed_recall", "own") in keys and ("bimt_mlp", "delayed_match", "own") not in keys
    assert not any(m == "connectome_mlp" and t == "two_task" for m, t, _ in keys)
    assert len(cells) == 2 * len(keys) and len({zoo.cell_id(c) for c in cells}) == len(cells)
    targets = zoo.cells(list(zoo.MODELS), list(zoo.TASKS), seeds=1, sweep=False, targets=True)
    assert {(c["model"], c["task"]) for c in targets} == zoo.TARGETS


def test_one_cell_runs_and_the_report_summarises_it(zoo, tmp_path, monkeypatch):
    monkeypatch.setitem(zoo.EPOCHS, zoo.RECALL, 1)
    monkeypatch.setitem(zoo.RNN_EPOCHS, zoo.RECALL, 1)
    monkeypatch.setattr(zoo, "_datamodule", _small_memory)
    cell = {
        "model": "reservoir_hcp",
        "task": zoo.RECALL,
        "regularizer": "none",
        "seed": 0,
        "wiring_weight": None,
    }
    row = _in_process(zoo.run_cell, cell, 1)
    assert 0 <= row["acc"] <= 1 and row["density"] == pytest.approx(0.1, abs=1e-3)
    assert math.isfinite(row["modularity"]) and math.isfinite(row["small_worldness"])
    rows = [row, {**row, "seed": 1, "acc": row["acc"] + 0.1}]
    rows.append({**row, "model": "sernn", "task": zoo.MEMORY, "regularizer": "own", "wiring_weight": 0.01})
    summary = zoo.report(tmp_path, rows)
    entry = summary[zoo.RECALL]["reservoir_hcp"]["none"]
    assert entry["seeds"] == 2 and entry["acc_mean"] == pytest.approx(row["acc"] + 0.05)
    assert "0.01" in summary["sernn_sweep"]
    assert "| reservoir_hcp | none | 2 |" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "accuracy_vs_cost.png").stat().st_size > 0 and (tmp_path / "q_vs_lambda.png").exists()
    json.loads((tmp_path / "summary.json").read_text())


def _small_memory(task, seed):
    from ccnn.data import DelayedMatchDataModule

    return DelayedMatchDataModule(rule="recall", n_train=64, n_val=16, n_test=32, seed=seed)


def _in_process(run_cell, cell, threads):
    """run_cell is made for worker processes: it sets torch's thread count, warning filters and
    log levels for good. Here they are put back, or later tests in this process would run with
    one thread (and, e.g., resume bit for bit differently from a subprocess with two)."""
    import logging
    import warnings

    import torch

    before = torch.get_num_threads()
    levels = {name: logging.getLogger(name).level for name in ("lightning", "lightning.pytorch")}
    try:
        with warnings.catch_warnings():
            return run_cell(cell, threads)
    finally:
        torch.set_num_threads(before)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
