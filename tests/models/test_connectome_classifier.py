import math
import re
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import QUIET
from scipy.stats import pearsonr

from ccnn.data import DigitsDataModule
from ccnn.models import ConnectomeClassifier, get, list_models
from ccnn.nn import ConnectomeLinear

ROOT = Path(__file__).resolve().parents[2]


class RecordWiringWeight(L.Callback):
    """The wiring weight that each training step put into its loss."""

    def __init__(self) -> None:
        self.weights: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.weights.append(pl_module.last_wiring_weight)


@pytest.fixture(scope="module")
def trained():
    """Four epochs on digits (a few seconds), then the test set."""
    L.seed_everything(0)
    datamodule = DigitsDataModule()
    model = ConnectomeClassifier(
        n_inputs=64, n_classes=10, input_positions=datamodule.input_positions, backend="dense"
    )
    layer = model.masked_layers[0]
    before = {"mask": layer.mask.clone(), "raw": layer.raw_weight.detach().clone()}
    trainer = L.Trainer(max_epochs=4, **QUIET)
    trainer.fit(model, datamodule)
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    test_metrics = trainer.test(model, datamodule, verbose=False)[0]
    return model, fit_metrics, test_metrics, before


def test_a_few_epochs_on_digits_beat_chance_clearly(trained):
    _, fit_metrics, test_metrics, _ = trained
    assert test_metrics["test/acc"] >= 0.8  # chance is 0.1
    assert test_metrics["test/f1"] >= 0.8
    assert fit_metrics["val/acc"] >= 0.8


def test_masked_weights_stay_zero_after_training(trained):
    model, _, _, before = trained
    layer = model.masked_layers[0]
    assert torch.equal(layer.mask, before["mask"])
    outside = ~layer.mask
    assert outside.any() and layer.mask.any()
    assert torch.count_nonzero(layer.raw_weight.detach()[outside]) == 0
    assert torch.count_nonzero(layer.weight.detach()[outside]) == 0
    # ...while the connections that exist did learn.
    assert not torch.equal(layer.raw_weight.detach()[layer.mask], before["raw"][layer.mask])


def test_wiring_metrics_are_logged_and_consistent(trained):
    model, fit_metrics, _, _ = trained
    assert fit_metrics["wiring/cost"] == pytest.approx(float(model.wiring_cost_value().detach()), rel=1e-5)
    assert fit_metrics["wiring/weight"] == pytest.approx(1e-3)
    assert fit_metrics["wiring/weight_distance_corr"] == pytest.approx(model.weight_distance_correlation())
    layer = model.masked_layers[0]
    assert fit_metrics["wiring/mask_density"] == pytest.approx(layer.density)
    # Effective density counts surviving weights among all pairs: at most the mask's density.
    magnitude = layer.weight.detach().abs()
    expected = float((magnitude > 1e-3 * magnitude.max()).float().mean())
    assert fit_metrics["wiring/density"] == pytest.approx(expected)
    assert 0 < fit_metrics["wiring/density"] <= layer.density


def test_weight_distance_correlation_equals_scipy_pearsonr(trained):
    model, _, _, _ = trained
    layer = model.masked_layers[0]
    mask = layer.mask
    magnitude = layer.weight.detach().abs()[mask].double().numpy()
    distance = torch.cdist(layer.out_positions, layer.in_positions)[mask].double().numpy()
    expected = pearsonr(magnitude, distance).statistic
    assert model.weight_distance_correlation() == pytest.approx(expected, abs=1e-5)


def test_schedule_sets_the_weight_of_each_step():
    model = ConnectomeClassifier(
        n_inputs=64, n_classes=10, wiring_weight=0.01, wiring_schedule=[[0.25, 10], [0.5, 100]]
    )
    # By hand, 8 steps: fraction step/8 reaches 0.25 at step 2 (×10) and 0.5 at step 4 (×100).
    assert model.wiring_weight_at(0.0) == pytest.approx(0.01)
    assert model.wiring_weight_at(0.2499) == pytest.approx(0.01)
    assert model.wiring_weight_at(0.25) == pytest.approx(0.1)
    assert model.wiring_weight_at(0.75) == pytest.approx(1.0)
    record = RecordWiringWeight()
    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=4, limit_val_batches=1, num_sanity_val_steps=0,
        callbacks=[record], **QUIET,
    )  # fmt: skip
    trainer.fit(model, DigitsDataModule())
    assert trainer.estimated_stepping_batches == 8
    assert record.weights == pytest.approx([0.01, 0.01, 0.1, 0.1, 1.0, 1.0, 1.0, 1.0])
    assert float(trainer.callback_metrics["wiring/weight"]) == pytest.approx(1.0)


def test_training_loss_adds_the_weighted_wiring_cost():
    torch.manual_seed(0)
    model = ConnectomeClassifier(n_inputs=64, n_classes=10, wiring_weight=0.5)
    x, y = torch.rand(8, 64), torch.arange(8)
    with pytest.warns(UserWarning, match="self.trainer"):  # self.log without a trainer
        loss = model.training_step((x, y), 0)
    expected = F.cross_entropy(model(x), y) + 0.5 * model.wiring_cost_value()
    torch.testing.assert_close(loss, expected)
    assert model.wiring_cost_value() > 0


def test_registry_builds_the_model_and_rebuilding_draws_the_same_masks():
    assert "connectome_mlp" in list_models()
    model = get("connectome_mlp", n_inputs=64, n_classes=10)
    assert isinstance(model, ConnectomeClassifier)
    assert model(torch.rand(5, 64)).shape == (5, 10)
    again = ConnectomeClassifier(**model.hparams)  # what load_from_checkpoint does
    assert torch.equal(again.masked_layers[0].mask, model.masked_layers[0].mask)
    other = ConnectomeClassifier(**{**model.hparams, "mask_seed": 1})
    assert not torch.equal(other.masked_layers[0].mask, model.masked_layers[0].mask)


def test_mask_is_distance_dependent():
    model = ConnectomeClassifier(n_inputs=64, n_classes=10, mask_kwargs={"scale": 0.1})
    layer = model.masked_layers[0]
    distance = layer.distances()
    near, far = distance < 0.1, distance > 0.5
    # p = exp(-d / 0.1): about 0.6 or more below 0.1 apart, under 0.007 beyond 0.5.
    assert layer.mask[near].float().mean() > 0.5
    assert layer.mask[far].float().mean() < 0.02


def test_other_masks_costs_and_inputs_without_a_grid():
    positions = torch.rand(50, 2, generator=torch.Generator().manual_seed(0))
    model = ConnectomeClassifier(n_inputs=50, n_classes=3, hidden=[16, 16], input_positions=positions)
    assert torch.equal(model.masked_layers[0].in_positions, positions)
    assert model(torch.rand(2, 50)).shape == (2, 3)
    er = ConnectomeClassifier(
        n_inputs=50,
        n_classes=3,
        hidden=[20],
        mask="erdos_renyi",
        mask_kwargs={"density": 0.5},
        wiring_cost="l1",
    )
    assert er.masked_layers[0].num_connections == 500
    assert float(er.wiring_cost_value().detach()) == pytest.approx(
        float(er.masked_layers[0].weight.abs().sum())
    )
    assert math.isnan(er.weight_distance_correlation())  # no input positions: nothing to correlate
    ws = ConnectomeClassifier(
        n_inputs=64, n_classes=10, hidden=[64], mask="watts_strogatz", wiring_cost="none"
    )
    assert int(ws.masked_layers[0].mask.sum()) == 64 * 8
    assert float(ws.wiring_cost_value()) == 0


@pytest.mark.parametrize("cost", ["communicability", "spatial", "distance"])
def test_recurrent_layer_with_square_wiring_costs(cost):
    torch.manual_seed(0)
    model = ConnectomeClassifier(n_inputs=64, n_classes=10, hidden=[36], recurrent=True, wiring_cost=cost)
    recurrent = model.masked_layers[0]
    assert recurrent.in_features == recurrent.out_features == 36
    assert not recurrent.mask.diagonal().any()  # no self-loops in the recurrent mask
    assert model(torch.rand(4, 64)).shape == (4, 10)
    cost_value = model.wiring_cost_value()
    assert torch.isfinite(cost_value) and cost_value > 0
    cost_value.backward()
    assert recurrent.raw_weight.grad.abs().sum() > 0
    optimised = {id(p) for group in model.configure_optimizers().param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in model.parameters())  # including learnable positions


def test_weight_distance_figure_is_written(trained, tmp_path):
    model, _, _, _ = trained
    path = model.save_weight_distance_figure(tmp_path / "figure.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_builds_the_model_and_datamodule():
    config = yaml.safe_load((ROOT / "configs" / "connectome_mlp_digits.yaml").read_text())
    assert config["model"]["class_path"] == "ccnn.models.ConnectomeClassifier"
    assert config["data"]["class_path"] == "ccnn.data.DigitsDataModule"
    assert "n_inputs" not in config["model"]["init_args"]  # the CLI links it from the data
    datamodule = DigitsDataModule(**config["data"]["init_args"])
    model = ConnectomeClassifier(
        n_inputs=datamodule.n_inputs, n_classes=datamodule.n_classes, **config["model"]["init_args"]
    )
    assert model.schedule == [(0.25, 10.0), (0.5, 100.0)]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_inputs": 0}, "n_inputs"),
        ({"n_classes": 1}, "n_classes"),
        ({"hidden": []}, "hidden"),
        ({"hidden": [144, 0]}, "hidden"),
        ({"mask": "random"}, "mask"),
        ({"mask_kwargs": {"radius": 0.1}}, "mask_kwargs"),
        ({"mask_kwargs": {"scale": -1.0}}, "mask_kwargs"),
        ({"mask": "watts_strogatz"}, "mask"),  # 64 inputs → 144 units is not square
        ({"backend": "gpu"}, "backend"),
        ({"wiring_cost": "l2"}, "wiring_cost"),
        ({"wiring_cost": "communicability"}, "wiring_cost"),  # no square layer in this MLP
        ({"wiring_weight": -1.0}, "wiring_weight"),
        ({"wiring_schedule": [[0.5, 10], [0.25, 100]]}, "wiring_schedule"),
        ({"wiring_schedule": [[1.5, 10]]}, "wiring_schedule"),
        ({"wiring_schedule": [[0.5]]}, "wiring_schedule"),
        ({"wiring_schedule": [[0.5, -1]]}, "wiring_schedule"),
        ({"wiring_kwargs": {"p": 0}}, "wiring_kwargs"),
        ({"lr": 0.0}, "lr"),
        ({"input_positions": torch.rand(64, 3)}, "input_positions"),
        ({"n_inputs": 50}, "input_positions"),  # no grid for 50 inputs, and none given
        ({"recurrent": True, "hidden": [16, 16]}, "hidden"),
        ({"recurrent": True, "seq_len": 7}, "seq_len"),
        ({"seq_len": 8}, "seq_len"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    arguments = {"n_inputs": 64, "n_classes": 10, **kwargs}
    with pytest.raises(ValueError, match="^" + re.escape(name) + ": ") as info:
        ConnectomeClassifier(**arguments)
    assert "expected" in str(info.value) and "got" in str(info.value)


def test_masked_layers_are_connectome_linear():
    model = ConnectomeClassifier(n_inputs=64, n_classes=10, hidden=[16, 9])
    assert [type(m) for m in model.masked_layers] == [ConnectomeLinear, ConnectomeLinear]
    assert [m.out_features for m in model.masked_layers] == [16, 9]
