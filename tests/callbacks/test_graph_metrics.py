"""GraphMetricsCallback: graph metrics of the learned W, logged under graph/<module>/<metric>."""

import csv
import importlib
import inspect
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from conftest import QUIET
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import ccnn.graph as G
from ccnn.callbacks import GraphMetricsCallback
from ccnn.callbacks.graph_metrics import GRAPH_METRICS, learned_graphs
from ccnn.nn import ConnectomeLinear, ConnectomeRNN, masks

ROOT = Path(__file__).resolve().parents[2]
TRAINER = {**QUIET, "max_epochs": 2}
REC = "rnn.cell.recurrent"
PRESENT = ("density", "mean_strength", "mean_clustering", "global_efficiency", "characteristic_path_length")


class RecordingLogger(Logger):
    """Keeps every log_metrics call in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.append((step, dict(metrics)))

    def graph_rows(self) -> list[dict[str, float]]:
        return [m for _, m in self.rows if any(k.startswith("graph/") for k in m)]


class TinyRNN(L.LightningModule):
    """A ConnectomeRNN (8 units, masked input) and a readout, on random sequences."""

    def __init__(self, hidden: int = 8, sign: bool = False) -> None:
        super().__init__()
        mask = masks.erdos_renyi(hidden, hidden, 0.5, seed=0)
        dale = torch.where(torch.arange(hidden) < hidden - 2, 1.0, -1.0) if sign else None
        input_mask = masks.erdos_renyi(hidden, 3, 0.7, seed=1)
        self.rnn = ConnectomeRNN(3, hidden, mask, input_mask=input_mask, sign=dale, backend="dense")
        self.readout = nn.Linear(hidden, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out, _ = self.rnn(x.transpose(0, 1))
        return nn.functional.mse_loss(self.readout(out[-1]).squeeze(-1), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


class TwoSquareLayers(TinyRNN):
    """Adds a square feed-forward ConnectomeLinear ``square``; used with ``modules=``."""

    def __init__(self) -> None:
        super().__init__()
        self.square = ConnectomeLinear(8, 8, masks.erdos_renyi(8, 8, 0.6, seed=2))

    def training_step(self, batch, batch_idx):
        x, y = batch
        out, _ = self.rnn(x.transpose(0, 1))
        return nn.functional.mse_loss(self.readout(self.square(out[-1])).squeeze(-1), y)


class PlainLinear(TinyRNN):
    """No connectome layer at all."""

    def __init__(self) -> None:
        L.LightningModule.__init__(self)
        self.net = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self.net(batch[0][:, -1]).squeeze(-1), batch[1])
        self.log("train/loss", loss, on_step=False, on_epoch=True)  # the logger works; no graph keys
        return loss


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 5, 3, generator=g), torch.randn(16, generator=g))
    return DataLoader(data, batch_size=8)


def fit(model, callback, logger, **trainer) -> L.Trainer:
    L.seed_everything(0, verbose=False)
    options = {**TRAINER, "logger": logger, **trainer}
    run = L.Trainer(callbacks=[callback], **options)
    run.fit(model, loader())
    return run


def adjacency(weight: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """|W| with zero diagonal, pruned below threshold · max, written out independently."""
    a = weight.detach().abs().clone()
    a.fill_diagonal_(0)
    return torch.where(a >= threshold * a.max(), a, 0.0) if threshold else a


def expected(a: torch.Tensor) -> dict[str, float]:
    return {
        "density": float(G.density(a)),
        "mean_strength": float(G.strength(a).mean()),
        "mean_clustering": float(G.clustering(a).mean()),
        "global_efficiency": float(G.global_efficiency(a)),
        "characteristic_path_length": float(G.characteristic_path_length(a)),
    }


def test_logged_keys_and_values_equal_ccnn_graph_on_the_trained_weight(tmp_path):
    model = TinyRNN(sign=True)
    logger = CSVLogger(tmp_path, name="", version="")
    trainer = fit(model, GraphMetricsCallback(metrics=list(PRESENT)), logger)
    weight = model.rnn.cell.recurrent.weight
    assert (weight < 0).any() and (weight > 0).any()  # Dale's signs: the metrics see |W|
    want = expected(adjacency(weight))
    keys = {f"graph/{REC}/{name}" for name in PRESENT}  # the 8×3 input layer is not square: absent
    assert {k for k in trainer.callback_metrics if k.startswith("graph/")} == keys
    for name, value in want.items():
        assert float(trainer.callback_metrics[f"graph/{REC}/{name}"]) == pytest.approx(value, rel=1e-6)
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r[f"graph/{REC}/density"]]
    assert [int(r["epoch"]) for r in rows] == [0, 1]  # after each of the 2 epochs
    for name, value in want.items():  # the last row: the final weights
        assert float(rows[-1][f"graph/{REC}/{name}"]) == pytest.approx(value, rel=1e-5)
    assert 0 < want["density"] < 1 and want["mean_clustering"] > 0


def test_every_n_epochs_is_respected():
    logger = RecordingLogger()
    fit(TinyRNN(), GraphMetricsCallback(metrics=["density"], every_n_epochs=2), logger, max_epochs=5)
    rows = logger.graph_rows()
    assert [int(r["epoch"]) for r in rows] == [1, 3]  # after epochs 2 and 4 (1-based)
    assert all(set(r) == {f"graph/{REC}/density", "epoch"} for r in rows)


def test_threshold_prunes_before_the_metrics():
    model = TinyRNN()
    callback = GraphMetricsCallback(metrics=["density", "mean_clustering"], threshold=0.5)
    values = callback.compute(model)
    weight = model.rnn.cell.recurrent.weight
    a = adjacency(weight, 0.5)
    assert float(values[f"graph/{REC}/density"]) == pytest.approx(float(G.density(a)))
    assert float(values[f"graph/{REC}/density"]) < float(G.density(adjacency(weight)))
    assert float(values[f"graph/{REC}/mean_clustering"]) == pytest.approx(float(G.clustering(a).mean()))


def test_modules_restrict_the_graphs_and_an_unknown_one_raises_at_fit_start():
    model = TwoSquareLayers()
    assert set(learned_graphs(model)) == {REC, "square"}
    assert set(GraphMetricsCallback(metrics=["density"]).compute(model)) == {
        f"graph/{REC}/density",
        "graph/square/density",
    }
    only = GraphMetricsCallback(metrics=["density"], modules=["rnn"])  # a parent selects what is below
    assert set(only.compute(model)) == {f"graph/{REC}/density"}
    logger = RecordingLogger()
    fit(model, GraphMetricsCallback(metrics=["density"], modules=["square"]), logger, max_epochs=1)
    assert set(logger.graph_rows()[0]) == {"graph/square/density", "epoch"}
    listed = r"'rnn\.cell\.input' selects no .*\['rnn\.cell\.recurrent', 'square'\]"
    with pytest.raises(ValueError, match=listed):
        fit(TwoSquareLayers(), GraphMetricsCallback(modules=["rnn.cell", "rnn.cell.input"]), False)  # 8×3


def test_a_model_without_connectome_layers_logs_nothing_and_warns_once():
    logger = RecordingLogger()
    with pytest.warns(UserWarning, match="PlainLinear has no square ConnectomeLinear") as record:
        fit(PlainLinear(), GraphMetricsCallback(), logger)
    assert sum("GraphMetricsCallback" in str(w.message) for w in record) == 1
    assert logger.rows and not logger.graph_rows()


def test_bad_arguments_raise_at_construction():
    choices = r"metrics: expected one of \('density', .*'modularity'.*got str 'nope'"
    with pytest.raises(ValueError, match=choices):
        GraphMetricsCallback(metrics=["density", "nope"])
    with pytest.raises(ValueError, match=r"metrics: 'no\.such\.function' is neither one of"):
        GraphMetricsCallback(metrics=["no.such.function"])
    with pytest.raises(ValueError, match="metrics: expected a non-empty list"):
        GraphMetricsCallback(metrics=[])
    with pytest.raises(ValueError, match="two metrics would be logged as 'density'"):
        GraphMetricsCallback(metrics=["density", "ccnn.graph.density"])
    with pytest.raises(ValueError, match="every_n_epochs: expected an int >= 1"):
        GraphMetricsCallback(every_n_epochs=0)
    with pytest.raises(ValueError, match=r"threshold: expected a value in \[0, 1\]"):
        GraphMetricsCallback(threshold=1.5)


def spectral_radius(a):
    return torch.linalg.eigvals(a).abs().max()


def test_custom_metrics_as_callables_or_import_paths():
    model = TinyRNN()
    callback = GraphMetricsCallback(metrics=[spectral_radius, "torch.linalg.matrix_norm"])
    values = callback.compute(model)
    a = adjacency(model.rnn.cell.recurrent.weight)
    assert float(values[f"graph/{REC}/spectral_radius"]) == pytest.approx(float(spectral_radius(a)))
    assert float(values[f"graph/{REC}/matrix_norm"]) == pytest.approx(float(torch.linalg.matrix_norm(a)))


def test_a_metric_that_rejects_a_graph_is_skipped_with_one_warning_and_a_vector_raises():
    def picky(a):
        raise ValueError("adjacency: expected something else")

    callback = GraphMetricsCallback(metrics=["density", picky])
    with pytest.warns(UserWarning, match=r"picky of rnn\.cell\.recurrent skipped: adjacency: exp") as record:
        first = callback.compute(TinyRNN())
        callback.compute(TinyRNN())
    assert len([w for w in record if "picky" in str(w.message)]) == 1
    assert set(first) == {f"graph/{REC}/density"}
    with pytest.raises(ValueError, match="'per_node' must return one number per graph"):
        GraphMetricsCallback(metrics=[lambda_free_per_node]).compute(TinyRNN())


def lambda_free_per_node(a):
    return a.sum(0)


lambda_free_per_node.__name__ = "per_node"


def test_the_dynamics_gnn_connectivity_and_a_sparse_connectome_linear_are_found():
    from ccnn.nn import DynamicsNetwork

    holder = nn.Module()
    holder.network = DynamicsNetwork(6, functions="library")
    holder.layer = ConnectomeLinear(12, 12, masks.erdos_renyi(12, 12, 0.3, seed=3), backend="sparse")
    values = GraphMetricsCallback(metrics=["density", "global_efficiency"]).compute(holder)
    w = holder.network.connectivity()
    assert float(values["graph/network/density"]) == pytest.approx(float(G.density(adjacency(w))))
    assert float(values["graph/network/density"]) == pytest.approx(1.0)  # dense W, zero diagonal
    assert float(values["graph/network/global_efficiency"]) == pytest.approx(
        float(G.global_efficiency(adjacency(w)))
    )
    a = adjacency(holder.layer.weight)
    assert float(values["graph/layer/density"]) == pytest.approx(float(G.density(a)))


# The metrics whose ccnn.graph functions are written alongside this callback.
NEWER = {
    "modularity": ("ccnn.graph.communities", "louvain"),
    "small_world_propensity": ("ccnn.graph.small_world", "small_world_propensity"),
    "mean_communicability": ("ccnn.graph.communication", "communicability"),
}


def _available(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


@pytest.mark.parametrize("metric", sorted(NEWER))
def test_newer_metrics_match_their_function_or_raise_at_construction_until_it_exists(metric):
    assert metric in GRAPH_METRICS
    if not _available(*NEWER[metric]):
        with pytest.raises(ValueError, match=f"'{metric}' needs {'.'.join(NEWER[metric])}"):
            GraphMetricsCallback(metrics=[metric])
        pytest.skip(f"{'.'.join(NEWER[metric])} is not there yet")
    model = TinyRNN()
    value = float(GraphMetricsCallback(metrics=[metric]).compute(model)[f"graph/{REC}/{metric}"])
    a = adjacency(model.rnn.cell.recurrent.weight)
    function = getattr(importlib.import_module(NEWER[metric][0]), NEWER[metric][1])
    if metric == "modularity":
        want = G.modularity(a, function(a, seed=0))
    elif metric == "mean_communicability":
        c = function(a)
        want = c[~torch.eye(len(a), dtype=torch.bool)].mean()
    else:  # seeded where it takes a seed, as the callback calls it
        want = function(a, **({"seed": 0} if "seed" in inspect.signature(function).parameters else {}))
    assert value == pytest.approx(float(want), rel=1e-6, nan_ok=True)


def test_newer_metrics_call_their_functions_seeded_and_reduce_them(monkeypatch):
    """Stand-ins for the newer ccnn.graph functions: what the callback passes and logs."""
    import sys
    import types

    import ccnn.graph.communities

    seeds = []

    def louvain(a, resolution=1.0, seed=None):
        seeds.append(seed)
        return torch.arange(len(a)) % 2

    def small_world_propensity(a, n_nulls=10, seed=None):
        seeds.append(seed)
        return a.sum()

    def communicability(a):
        return torch.linalg.matrix_exp(a)

    monkeypatch.setattr(ccnn.graph.communities, "louvain", louvain, raising=False)
    for name, function in (("small_world", small_world_propensity), ("communication", communicability)):
        module = types.ModuleType(f"ccnn.graph.{name}")
        setattr(module, function.__name__, function)
        monkeypatch.setitem(sys.modules, f"ccnn.graph.{name}", module)
    model = TinyRNN()
    values = GraphMetricsCallback(metrics=sorted(NEWER)).compute(model)
    a = adjacency(model.rnn.cell.recurrent.weight)
    assert seeds == [0, 0]  # deterministic: the same weights give the same value on every rank
    assert float(values[f"graph/{REC}/modularity"]) == pytest.approx(
        float(G.modularity(a, torch.arange(8) % 2))
    )
    assert float(values[f"graph/{REC}/small_world_propensity"]) == pytest.approx(float(a.sum()))
    c = torch.linalg.matrix_exp(a)
    want = (c.sum() - c.diagonal().sum()) / (8 * 7)
    assert float(values[f"graph/{REC}/mean_communicability"]) == pytest.approx(float(want))


def test_the_config_fragment_builds_the_callback():
    from jsonargparse import ArgumentParser

    text = (ROOT / "configs/callbacks/graph_metrics.yaml").read_text()
    parser = ArgumentParser()
    parser.add_argument("--trainer.callbacks", type=list[Callback])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = parser.parse_object(yaml.safe_load(text))
    callbacks = parser.instantiate(config).trainer.callbacks
    assert len(callbacks) == 1 and isinstance(callbacks[0], GraphMetricsCallback)
    given = yaml.safe_load(text)["trainer"]["callbacks"][0]["init_args"]
    assert list(callbacks[0].metrics) == given["metrics"]


DDP_SCRIPT = """
import json, sys
import lightning as L
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import CSVLogger
from test_graph_metrics import TinyRNN, loader
from ccnn.callbacks import GraphMetricsCallback

if __name__ == "__main__":
    out = sys.argv[1]
    L.seed_everything(0)
    model = TinyRNN()
    # EarlyStopping reads the value on every rank: it must be there on every rank
    stop = EarlyStopping(monitor="graph/rnn.cell.recurrent/mean_clustering", mode="max", patience=100)
    trainer = L.Trainer(
        max_epochs=3, accelerator="cpu", devices=2, strategy="ddp", enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, logger=CSVLogger(out, name="", version=""),
        callbacks=[GraphMetricsCallback(metrics=["density", "mean_clustering"]), stop],
    )
    trainer.fit(model, loader())
    values = {k: float(v) for k, v in trainer.callback_metrics.items()}
    with open(f"{out}/rank{trainer.global_rank}.json", "w") as f:
        json.dump(values, f)
"""


@pytest.mark.slow
def test_two_process_ddp_logs_once_per_epoch_with_equal_values_on_every_rank(tmp_path):
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "ddp_graph_metrics.py"
    script.write_text(DDP_SCRIPT)
    path = os.pathsep.join([str(ROOT / "tests/callbacks"), str(ROOT / "tests")])
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled"}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sync_dist=True" not in result.stderr  # the advice is silenced for graph/ keys only
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1] and f"graph/{REC}/mean_clustering" in ranks[0]
    with open(tmp_path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r[f"graph/{REC}/density"]]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    key = f"graph/{REC}/mean_clustering"
    assert float(rows[-1][key]) == pytest.approx(ranks[0][key])
