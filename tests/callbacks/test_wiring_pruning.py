"""WiringPruning: removes the highest-|w|·d connections of ConnectomeLinear layers on a cubic schedule."""

import warnings

import lightning as L
import pytest
import torch
from conftest import QUIET
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ccnn.callbacks import WiringPruning
from ccnn.callbacks.wiring_pruning import pruning_scores, select_for_pruning
from ccnn.nn import ConnectomeLinear

FULL = lambda n_out, n_in: torch.ones(n_out, n_in, dtype=torch.bool)  # noqa: E731


class TinyMLP(L.LightningModule):
    """6 inputs → 10 hidden → 4 → 3; the first two layers have positions, the last has none."""

    def __init__(self, backend: str = "dense", positions: bool = True) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        p_in, p_hid, p_out = (torch.rand(n, 2, generator=gen) for n in (6, 10, 4))
        self.hidden = ConnectomeLinear(6, 10, FULL(10, 6), backend=backend)
        self.out = ConnectomeLinear(10, 4, FULL(4, 10))
        self.head = ConnectomeLinear(4, 3, FULL(3, 4))
        if positions:
            self.hidden.attach_positions(p_in, p_hid)
            self.out.attach_positions(p_hid, p_out)

    def forward(self, x):
        return self.head(torch.relu(self.out(torch.relu(self.hidden(x)))))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


def loader() -> DataLoader:  # 8 batches of 8: 24 optimiser steps in 3 epochs
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(64, 6, generator=g), torch.randint(0, 3, (64,), generator=g)), 8
    )


def fit(model, callback, **trainer) -> L.Trainer:
    L.seed_everything(0, verbose=False)
    run = L.Trainer(callbacks=[callback], **{**QUIET, "max_epochs": 3, **trainer})
    run.fit(model, loader())
    return run


@pytest.fixture
def recorded(monkeypatch):
    """Every prune_ call: (layer, effective weight and mask before, remove)."""
    calls = []
    original = ConnectomeLinear.prune_

    def spy(layer, remove, optimizer=None):
        calls.append((layer, layer.weight.detach().clone(), layer.mask.clone(), remove.clone()))
        return original(layer, remove, optimizer)

    monkeypatch.setattr(ConnectomeLinear, "prune_", spy)
    return calls


def cubic(n0, nf, q):
    return round(nf + (n0 - nf) * (1 - q) ** 3)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_wiring_cost_pruning_follows_the_schedule_to_the_target(recorded, backend):
    model = TinyMLP(backend=backend)
    callback = WiringPruning(target_density=0.25, start=0.2, end=0.6, every_n_steps=3)
    with pytest.warns(UserWarning, match="skipping head has no positions") as caught:
        trainer = fit(model, callback)
    assert sum("skipping head" in str(w.message) for w in caught) == 1  # warned once
    # T = 24 steps: t0 = round(4.8) = 5, t1 = round(14.4) = 14; pruning after steps 8, 11, 14.
    assert callback._schedule == (5, 14)
    for layer, n0, nf in ((model.hidden, 60, 15), (model.out, 40, 10)):
        calls = [c for c in recorded if c[0] is layer]
        kept = [int((mask & ~remove).sum()) for _, _, mask, remove in calls]
        assert kept == [cubic(n0, nf, 3 / 9), cubic(n0, nf, 6 / 9), nf]
        assert layer.num_connections == nf  # the target, exactly
        distances = torch.cdist(layer.out_positions, layer.in_positions)
        for _, weight, mask, remove in calls:  # the highest |w|·d of the mask went, by hand
            assert torch.all(mask[remove])
            cost = weight.abs() * distances
            assert cost[remove].min() > cost[mask & ~remove].max()
        # After the last pruning (step 14 of 24) training went on; pruned weights stayed 0.
        last_weight, last_kept = calls[-1][1], calls[-1][2] & ~calls[-1][3]
        assert torch.equal(layer.mask, last_kept)
        assert torch.all(layer.weight.detach()[~last_kept] == 0)
        assert not torch.allclose(layer.weight.detach()[last_kept], last_weight[last_kept])
    assert model.head.num_connections == 12  # skipped
    assert trainer.callback_metrics["pruning/density"].item() == pytest.approx(25 / 100)
    assert trainer.callback_metrics["pruning/hidden/density"].item() == pytest.approx(15 / 60)
    state = callback.state_dict()
    assert state["initial"] == {"hidden": 60, "out": 40} and state["done"]
    restored = WiringPruning(target_density=0.25)
    restored.load_state_dict(state)
    assert restored.state_dict() == state


def test_magnitude_pruning_needs_no_positions_and_removes_the_smallest(recorded):
    model = TinyMLP(positions=False)
    callback = WiringPruning(target_density=0.5, criterion="magnitude", start=0.0, end=0.1, modules=["head"])
    fit(model, callback, max_epochs=1)  # T = 8: t0 = 0, t1 = 1: everything at step 1
    assert [c[0] for c in recorded] == [model.head]
    _, weight, mask, remove = recorded[0]
    assert int(remove.sum()) == 6 and model.head.num_connections == 6
    assert weight.abs()[remove].max() < weight.abs()[mask & ~remove].min()
    assert model.hidden.num_connections == 60


def test_scores_by_hand():
    weight = torch.tensor([[1.0, -2.0], [0.0, 0.5]])
    distances = torch.tensor([[3.0, 1.0], [2.0, 4.0]])
    torch.testing.assert_close(
        pruning_scores(weight, distances, "wiring_cost"), torch.tensor([[3.0, 2.0], [0.0, 2.0]])
    )
    torch.testing.assert_close(pruning_scores(weight, None, "magnitude"), -weight.abs())
    expected = torch.tensor([[3.0, 0.5], [float("inf"), 8.0]])
    torch.testing.assert_close(pruning_scores(weight, distances, "length_per_weight"), expected)


def test_selection_protects_min_per_row_and_breaks_ties_by_index():
    mask = torch.tensor([[True, True, True], [True, False, True]])
    scores = torch.tensor([[5.0, 4.0, 3.0], [9.0, 0.0, 8.0]])
    top3 = select_for_pruning(mask, scores, 3)
    assert top3.tolist() == [[True, False, False], [True, False, True]]
    # Keep at least one input per unit: row 1 keeps its lower-scored connection (8).
    protected = select_for_pruning(mask, scores, 3, min_per_row=1)
    assert protected.tolist() == [[True, True, False], [True, False, False]]
    # More than the candidates asked for: all candidates, no more.
    assert int(select_for_pruning(mask, scores, 10, min_per_row=2).sum()) == 1
    ties = select_for_pruning(mask, torch.ones(2, 3), 2)
    assert ties.tolist() == [[True, True, False], [False, False, False]]


def test_min_per_row_keeps_every_unit_connected():
    model = TinyMLP()
    callback = WiringPruning(target_density=0.05, start=0.0, end=0.5, every_n_steps=4, min_per_row=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(model, callback, max_epochs=1)
    assert int(model.hidden.in_degree().min()) == 2 and model.hidden.num_connections == 20
    assert int(model.out.in_degree().min()) == 2 and model.out.num_connections == 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"criterion": "distance"}, "criterion: expected one of"),
        ({"target_density": 0.0}, r"target_density: expected a float in \(0, 1\)"),
        ({"target_density": 1.0}, r"target_density: expected a float in \(0, 1\)"),
        ({"start": 0.5, "end": 0.5}, "start: expected a value below end=0.5"),
        ({"start": -0.1}, r"start: expected a float in \[0, 1\)"),
        ({"end": 1.5}, r"end: expected a float in \(0, 1\]"),
        ({"every_n_steps": 0}, "every_n_steps: expected an int >= 1"),
        ({"min_per_row": -1}, "min_per_row: expected an int >= 0"),
        ({"prefix": ""}, "prefix: expected a non-empty string"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WiringPruning(**kwargs)


def test_a_model_without_a_qualifying_layer_raises_at_fit_start():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"pl_module: WiringPruning.*with positions; TinyMLP has none"):
            fit(TinyMLP(positions=False), WiringPruning())
        with pytest.raises(ValueError, match="modules: 'decoder' selects no ConnectomeLinear"):
            fit(TinyMLP(), WiringPruning(modules=["decoder"]))


DDP_SCRIPT = """
import os, sys
import lightning as L
import torch
from test_wiring_pruning import TinyMLP, loader
from ccnn.callbacks import WiringPruning

if __name__ == "__main__":
    L.seed_everything(0)
    model = TinyMLP()
    trainer = L.Trainer(
        max_epochs=3, accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[WiringPruning(target_density=0.25, start=0.2, end=0.6, every_n_steps=2)],
    )
    trainer.fit(model, loader())
    torch.save({"hidden": model.hidden.mask, "out": model.out.mask,
                "density": trainer.callback_metrics["pruning/density"]},
               os.path.join(sys.argv[1], f"rank{trainer.global_rank}.pt"))
"""


@pytest.mark.slow
def test_two_process_ddp_prunes_the_same_connections_on_every_rank(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = tmp_path / "ddp_wiring_pruning.py"
    script.write_text(DDP_SCRIPT)
    path = os.pathsep.join([str(root / "tests/callbacks"), str(root / "tests")])
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert torch.equal(ranks[0]["hidden"], ranks[1]["hidden"]) and torch.equal(
        ranks[0]["out"], ranks[1]["out"]
    )
    assert int(ranks[0]["hidden"].sum()) == 15 and int(ranks[0]["out"].sum()) == 10
    assert float(ranks[0]["density"]) == pytest.approx(0.25) == float(ranks[1]["density"])
