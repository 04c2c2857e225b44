"""The zoo's models: forward contract, costs against hand calculations, invariances, errors."""

import itertools
import json

import lightning as L
import numpy as np
import pytest
import scipy.linalg
import torch
from torch.utils.data import DataLoader, TensorDataset

from ccnn.graph import degree
from ccnn.models.zoo import BIMTMLP, ConnectomeReservoir, DaleMLP, LayeredMLP, SeRNN, SpatialNet
from ccnn.nn.masks import grid_positions

TWO_TASKS = [3, 2]
QUIET = {"accelerator": "cpu", "enable_checkpointing": False, "enable_progress_bar": False}
QUIET["enable_model_summary"] = False


def small(cls, **kwargs):
    defaults = {"n_inputs": 16, "n_classes": 3, "hidden": [8, 6], "input_positions": grid_positions(16)}
    return cls(**{**defaults, **kwargs})


@pytest.mark.parametrize("cls", [LayeredMLP, BIMTMLP, SpatialNet, DaleMLP])
def test_mlp_heads_and_unit_gain(cls):
    torch.manual_seed(0)
    model = small(cls, n_classes=TWO_TASKS)
    x = torch.rand(5, 16)
    logits = model(x)
    assert [t.shape for t in logits] == [(5, 3), (5, 2)]
    assert model.n_hidden_units == 14
    # every hidden unit silenced: the logits are the readout's bias alone
    silent = torch.cat(model(x, torch.zeros(14)), -1)
    readout = model.layers[-1]
    torch.testing.assert_close(silent, readout.bias.expand(5, -1))
    # gain 1 is the identity
    torch.testing.assert_close(torch.cat(model(x, torch.ones(14)), -1), torch.cat(logits, -1))


def test_unit_positions_follow_the_inputs():
    line = torch.stack([torch.linspace(0, 1, 10), torch.full((10,), 0.5)], 1)
    model = LayeredMLP(n_inputs=10, n_classes=[2, 2], hidden=[5], input_positions=line)
    hidden, readout = model.unit_positions[1], model.unit_positions[2]
    torch.testing.assert_close(hidden[:, 0], torch.linspace(0, 1, 5))
    assert (hidden[:, 1] == 0.5).all()
    # readout units on a line along the first coordinate, task 0's first
    torch.testing.assert_close(readout[:, 0], torch.linspace(0, 1, 4))


def test_mlp_own_cost_is_the_mean_distance_cost_by_hand():
    model = small(LayeredMLP, hidden=[4])
    expected = 0.0
    for layer, (a, b) in zip(model.layers, itertools.pairwise(model.unit_positions), strict=True):
        d = torch.cdist(b, a)
        expected += float((layer.weight.abs() * d).mean())
    assert float(model.own_cost()) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("cls", [LayeredMLP, BIMTMLP, SeRNN])
def test_l1_control_costs_the_same_as_the_own_cost_at_uniform_weights(cls):
    model = SeRNN(n_inputs=4, n_classes=2, grid=[3, 2, 2]) if cls is SeRNN else small(cls)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(0.3)
    assert float(model.l1_cost()) == pytest.approx(float(model.own_cost()), rel=1e-5)
    with torch.no_grad():  # and not otherwise: the own cost sees where the weights are
        for parameter in model.parameters():
            parameter.copy_(torch.rand_like(parameter))
    assert float(model.l1_cost()) != pytest.approx(float(model.own_cost()), rel=1e-3)


def test_bimt_cost_by_hand_and_swaps_keep_the_function():
    torch.manual_seed(1)
    model = small(BIMTMLP, hidden=[8, 6])
    layer = model.layers[0]
    d = torch.cdist(model.unit_positions[1], model.unit_positions[0], p=1)
    first = float((layer.weight.abs() * (2 * d + 0.5)).mean())
    rest = sum(
        float((w.abs() * f).mean())
        for (w, _), f in zip(model.weight_matrices()[1:], model.cost_factors()[1:], strict=True)
    )
    assert float(model.own_cost()) == pytest.approx(first + rest, rel=1e-6)
    x = torch.rand(7, 16)
    before_out, before_cost = model(x), float(model.own_cost())
    assert model.swap() > 0  # random weights: some placement is cheaper
    torch.testing.assert_close(model(x), before_out, atol=1e-5, rtol=1e-5)
    assert float(model.own_cost()) < before_cost


def test_spatial_net_learns_positions_and_proximity_by_hand():
    model = small(SpatialNet, hidden=[2], n_classes=2, proximity_weight=1.0)
    with torch.no_grad():
        for parameter in model.layers.parameters():
            parameter.zero_()
        model.positions[0].copy_(torch.tensor([[0.0, 0.0], [0.3, 0.4]]))  # 0.5 apart
        model.positions[1].copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0]]))  # coincide
    # zero weights: no transport; proximity = e^{-0.5} + e^{0}
    assert float(model.own_cost()) == pytest.approx(np.exp(-0.5) + 1.0, rel=1e-5)
    model.own_cost().backward()
    assert model.positions[0].grad.abs().sum() > 0


def test_sernn_cost_against_scipy_expm():
    torch.manual_seed(0)
    model = SeRNN(n_inputs=3, n_classes=2, grid=[2, 2, 2])
    w = model.cell.recurrent.weight.detach().double().abs().numpy()
    s = w.sum(1)
    c = scipy.linalg.expm(np.diag(s**-0.5) @ w @ np.diag(s**-0.5))
    np.fill_diagonal(c, 0)
    positions = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], float)
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    assert float(model.own_cost()) == pytest.approx(float((w * d * c).sum()), rel=1e-5)
    assert model.n_hidden_units == 8 and SeRNN(n_inputs=3, n_classes=2).n_hidden_units == 100


def test_sequence_inputs_and_flat_inputs_cut_into_steps():
    torch.manual_seed(0)
    model = SeRNN(n_inputs=12, n_classes=2, grid=[2, 2, 1], seq_len=4)
    x = torch.rand(3, 12)
    same = SeRNN(n_inputs=3, n_classes=2, grid=[2, 2, 1])
    same.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(x), same(x.reshape(3, 4, 3)))
    with pytest.raises(ValueError, match="x: expected sequences"):
        same(x)


def test_reservoir_is_the_pruned_connectome_and_its_null_keeps_degrees():
    real = ConnectomeReservoir(n_inputs=4, n_classes=2, connectome="hcp", density=0.1)
    null = ConnectomeReservoir(n_inputs=4, n_classes=2, connectome="hcp", density=0.1, rewired=True)
    a, b = real.cell.recurrent.mask, null.cell.recurrent.mask
    assert a.sum() == b.sum() and not torch.equal(a, b)
    torch.testing.assert_close(degree(a.float(), "in"), degree(b.float(), "in"))
    for model in (real, null):
        radius = torch.linalg.eigvals(model.cell.recurrent.weight.double()).abs().max()
        assert float(radius) == pytest.approx(0.95, rel=1e-4)
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trainable == {"readout.weight", "readout.bias"}
    assert real.regularization() is None


def test_dale_variants_keep_their_signs_through_training():
    torch.manual_seed(0)
    for variant in ("dann", "colei"):
        model = small(DaleMLP, variant=variant)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        signs_before = (
            [torch.sign(layer.weight.detach()) for layer in model.layers] if variant == "colei" else None
        )
        for _ in range(3):
            optimizer.zero_grad()
            (model(torch.rand(4, 16)).sum() + model.own_cost()).backward()
            optimizer.step()
        for index, layer in enumerate(model.layers):
            if variant == "dann":
                assert (
                    min(
                        float(layer.weight_ee.min()),
                        float(layer.weight_ie.min()),
                        float(layer.weight_ei.min()),
                    )
                    >= 0
                )
            else:
                after = torch.sign(layer.weight.detach())
                assert ((after == signs_before[index]) | (after == 0)).all()


def test_two_task_data_needs_two_heads():
    model = small(LayeredMLP, n_classes=3)
    with pytest.raises(ValueError, match="n_classes: the data pose 2 task"):
        model.training_step((torch.rand(4, 16), torch.zeros(4, 2, dtype=torch.long)), 0)


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (LayeredMLP, {"regularizer": "l2"}, "regularizer"),
        (LayeredMLP, {"input_positions": torch.rand(15, 2)}, "input_positions"),
        (LayeredMLP, {"n_classes": [3, 1]}, "n_classes"),
        (LayeredMLP, {"density_threshold": 1.0}, "density_threshold"),
        (LayeredMLP, {"metric": "cosine"}, "metric"),
        (DaleMLP, {"excitatory_fraction": 1.0, "variant": "colei"}, "excitatory_fraction"),
        (DaleMLP, {"variant": "dale"}, "variant"),
        (BIMTMLP, {"wiring_schedule": [[0.5, 10], [0.25, 100]]}, "wiring_schedule"),
    ],
)
def test_bad_arguments_name_themselves(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        small(cls, **kwargs)


def test_bad_recurrent_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"^grid: expected"):
        SeRNN(n_inputs=3, n_classes=2, grid=[2, 0])
    with pytest.raises(ValueError, match=r"^density: expected"):
        ConnectomeReservoir(n_inputs=3, n_classes=2, density=0.0)
    with pytest.raises(ValueError, match=r"^seq_len: expected"):
        SeRNN(n_inputs=10, n_classes=2, grid=[2, 2, 1], seq_len=3)


class TwoTaskData(L.LightningDataModule):
    """Task 0 reads inputs 0-7, task 1 inputs 8-15 (the threshold of a sum)."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(256, 16, generator=generator)
        y = torch.stack([(x[:, :8].sum(1) > 4).long(), (x[:, 8:].sum(1) > 4).long()], 1)
        self.dataset = TensorDataset(x, y)

    def train_dataloader(self):
        return DataLoader(self.dataset, batch_size=64, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.dataset, batch_size=128)

    test_dataloader = val_dataloader


def test_fit_and_test_log_and_export_the_network_metrics(tmp_path):
    torch.manual_seed(0)
    model = small(BIMTMLP, n_classes=[2, 2], swap_every=2, lr=0.02, wiring_weight=1e-4)
    trainer = L.Trainer(**QUIET, logger=L.pytorch.loggers.CSVLogger(tmp_path), max_epochs=8)
    trainer.fit(model, TwoTaskData())
    assert model.swaps > 0
    assert {"wiring/density", "wiring/cost", "wiring/weight", "val/acc", "val/acc_1"} <= set(
        trainer.callback_metrics
    )
    trainer.test(model, TwoTaskData(), verbose=False)
    metrics = model.test_metrics
    assert {"acc", "acc_0", "acc_1", "density", "cost", "modularity", "specialisation"} <= set(metrics)
    assert metrics["acc"] > 0.6 and 0 <= metrics["specialisation"] <= 1
    written = json.loads((tmp_path / "lightning_logs" / "version_0" / "zoo_metrics.json").read_text())
    assert written["modularity"] == pytest.approx(metrics["modularity"])
    assert written["small_worldness"] is None  # a layered feed-forward graph has no triangles


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (BIMTMLP, {"n_inputs": 16, "n_classes": [2, 3], "hidden": [4], "wiring_weight": 0.5}),
        (SpatialNet, {"n_inputs": 16, "n_classes": 3, "hidden": [4]}),
        (DaleMLP, {"n_inputs": 16, "n_classes": 3, "hidden": [4], "variant": "colei"}),
        (SeRNN, {"n_inputs": 3, "n_classes": 2, "grid": [2, 2, 1], "lr": 0.1}),
        (ConnectomeReservoir, {"n_inputs": 3, "n_classes": 2, "density": 0.05, "rewired": True}),
    ],
)
def test_hyperparameters_rebuild_the_model(cls, kwargs):
    """What a checkpoint stores (hparams + state_dict) rebuilds the same network."""
    torch.manual_seed(0)
    model = cls(**kwargs)
    again = cls(**model.hparams)
    again.load_state_dict(model.state_dict())
    x = torch.rand(2, 5, 3) if cls in (SeRNN, ConnectomeReservoir) else torch.rand(2, 16)
    first, second = model.task_logits(x), again.task_logits(x)
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b)
    assert again.wiring_weight == model.wiring_weight


DDP_SCRIPT = """
import json, os, sys
import lightning as L
import torch
from test_zoo_models import TwoTaskData, small
from ccnn.models.zoo import BIMTMLP

if __name__ == "__main__":
    torch.set_num_threads(1)
    L.seed_everything(0)
    model = small(BIMTMLP, n_classes=[2, 2], swap_every=2, lr=0.02, wiring_weight=1e-4)
    trainer = L.Trainer(
        max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        logger=L.pytorch.loggers.CSVLogger(sys.argv[1]),
    )
    trainer.fit(model, TwoTaskData())
    trainer.test(model, TwoTaskData(), verbose=False)
    with open(os.path.join(sys.argv[1], f"rank{trainer.global_rank}.json"), "w") as handle:
        json.dump(model.test_metrics, handle)
"""


@pytest.mark.slow
def test_two_process_ddp_fit_and_test_agree_on_every_rank(tmp_path):
    """Under DDP every rank ablates on the whole test set, so the metrics (and the conditional
    logging of NaN ones) agree across ranks: no collective is left waiting."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    script = tmp_path / "ddp_zoo.py"
    script.write_text(DDP_SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(here), str(here.parents[2])]),
        "WANDB_MODE": "disabled",
    }
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1] and "specialisation" in ranks[0]
    assert len(list(tmp_path.rglob("zoo_metrics.json"))) == 1  # written once, by rank 0
