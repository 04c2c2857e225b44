"""The resident training engine of the dynamics GNN (ccnn.models.dynamics_gnn.training)."""

import contextlib
import copy
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from ccnn.data import ActivityDataModule, simulate_assembly
from ccnn.data.activity.datamodule import TimeSplit
from ccnn.models import DynamicsGNN, Schedule
from ccnn.models.dynamics_gnn import training
from ccnn.models.dynamics_gnn.training import FrameSampler, ResidentEngine, dynamics_loss, sampler_seed
from ccnn.nn.dynamics import DynamicsNetwork

ROOT = Path(__file__).resolve().parents[3]
QUIET = {
    "accelerator": "cpu",
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
    "limit_val_batches": 0,
}


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test here runs on one torch thread (conftest's ``one_thread``)."""


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory):
    """20 neurons, 4 types, 600 frames: fast to simulate and to train on."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    simulate_assembly(n_neurons=20, n_frames=600, warmup=100, seed=3, progress=False).save(path)
    return path


def tiny_model(out, **kwargs):
    options = {"functions": "mlp", "hidden": 16, "layers": 2, "init": "random", "output_dir": str(out)}
    return DynamicsGNN(20, **{**options, **kwargs})


# ------------------------------------------------------------------------------ the loss
def test_dynamics_loss_is_the_sum_of_its_weighted_terms():
    torch.manual_seed(0)
    network = DynamicsNetwork(6, functions="mlp", hidden=8, layers=1)
    x, target = torch.randn(4, 6), torch.randn(4, 6)
    with torch.no_grad():
        network.weight.fill_(0.5)  # |W| off the diagonal: 0.5 on 30 of 36 entries
    prediction, terms = dynamics_loss(network, x, target, None, {"phi_zero": 2.0, "l1": 3.0})
    assert list(terms) == ["derivative", "phi_zero", "l1"]  # monotone: absent weight, not computed
    torch.testing.assert_close(terms["derivative"], ((network(x) - target) ** 2).mean())
    a = network.latents
    phi0 = network.phi(torch.cat([torch.zeros(6, 1), a], 1)).abs().mean()
    torch.testing.assert_close(terms["phi_zero"], 2.0 * phi0)
    torch.testing.assert_close(terms["l1"], torch.tensor(3.0 * 0.5 * 30 / 36))
    torch.testing.assert_close(prediction, network(x))
    _, all_terms = dynamics_loss(network, x, target, None, {"phi_zero": 1, "monotone": 1, "l1": 1})
    assert list(all_terms) == list(training.LOSS_TERMS)


# ------------------------------------------------------------------------------ frames and sampling
def test_resident_frames_are_disjoint_equal_shards_of_the_training_block(tiny_recording):
    datamodule = ActivityDataModule(tiny_recording, rollout_steps=20)
    train = datamodule.split.train
    whole = datamodule.resident_training_frames()
    np.testing.assert_array_equal(whole["frame"].numpy(), train)
    expected = datamodule.batch(train)
    for key in ("x", "target"):
        torch.testing.assert_close(whole[key], expected[key], rtol=0, atol=0)
    shards = [datamodule.resident_training_frames("cpu", rank=r, world=3)["frame"].numpy() for r in range(3)]
    assert {len(s) for s in shards} == {len(train) // 3}
    union = np.concatenate(shards)
    assert len(set(union.tolist())) == len(union)  # disjoint
    assert set(union.tolist()) <= set(train.tolist())
    assert all(s.min() < len(train) // 10 and s.max() > len(train) * 9 // 10 for s in shards)  # spread
    with pytest.raises(ValueError, match=r"rank: expected an int in \[0, 1\], got 2"):
        datamodule.resident_training_frames(rank=2, world=2)
    with pytest.raises(ValueError, match="world: expected an int >= 1, got 0"):
        datamodule.resident_training_frames(rank=0, world=0)


def test_frame_sampler_draws_uniformly_from_the_given_frames_and_repeats_by_seed():
    frames = {"x": torch.arange(10.0)[:, None].expand(10, 3), "target": -torch.arange(10.0)[:, None]}
    sampler = FrameSampler(frames, 4, seed=5)
    draws = sampler.draw(2500)
    assert draws["x"].shape == (2500, 4, 3) and draws["target"].shape == (2500, 4, 1)
    torch.testing.assert_close(draws["target"][..., 0], -draws["x"][..., 0])  # rows stay together
    counts = torch.bincount(draws["x"][..., 0].long().flatten(), minlength=10)
    assert counts.sum() == 10_000 and counts.min() > 850 and counts.max() < 1150  # 1000 ± ~5 σ
    again = FrameSampler(frames, 4, seed=5).draw(2500)
    torch.testing.assert_close(again["x"], draws["x"])
    other = FrameSampler(frames, 4, seed=6).draw(2500)
    assert not torch.equal(other["x"], draws["x"])
    assert sampler_seed(0, 0) != sampler_seed(0, 1) and sampler_seed(0, 1) == sampler_seed(0, 1)
    with pytest.raises(ValueError, match="frames: 'target' has 9 frames"):
        FrameSampler({"x": torch.zeros(10, 2), "target": torch.zeros(9, 2)}, 4, seed=0)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got int 0"):
        FrameSampler(frames, 0, seed=0)


# ------------------------------------------------------------------------------ the engine
def replay(model, datamodule, epochs, batches, k, l1, rank_world=((0, 1),), seed=0):
    """Adam steps written out by hand on the batches the engine draws: ranks' batches are
    concatenated (DDP averages their gradients: the gradient of the mean over both)."""
    model = copy.deepcopy(model)
    optimizer = model.configure_optimizers()
    samplers = [
        FrameSampler(datamodule.resident_training_frames(rank=r, world=w), 8, sampler_seed(seed, r))
        for r, w in rank_world
    ]
    losses = []
    for epoch in range(epochs):
        weights = {"phi_zero": 1.0, "monotone": 1.0, "l1": l1.at(epoch)}
        for _ in range(batches):
            draws = [s.draw(k) for s in samplers]
            for step in range(k):
                x = torch.cat([d["x"][step] for d in draws]).to(model.dtype)
                target = torch.cat([d["target"][step] for d in draws]).to(model.dtype)
                _, terms = dynamics_loss(model.network, x, target, None, weights)
                loss = sum(terms.values())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
    return model, losses


def test_resident_engine_takes_the_adam_steps_of_a_hand_written_loop(tiny_recording, tmp_path):
    L.seed_everything(0, verbose=False)
    l1 = Schedule(1e-2, start_epoch=1)  # off in epoch 0, on in epoch 1: the weights follow epochs
    model = tiny_model(tmp_path, engine="resident", steps_per_batch=5, l1_weight=l1, compile_step="off")
    start = copy.deepcopy(model).double()
    trainer = L.Trainer(max_epochs=2, limit_train_batches=3, precision="64-true", **QUIET)
    datamodule = ActivityDataModule(tiny_recording, rollout_steps=20)
    trainer.fit(model, datamodule)
    assert trainer.global_step == 2 * 3 * 5  # global_step counts Adam steps
    expected, losses = replay(start, datamodule, epochs=2, batches=3, k=5, l1=l1)
    for (name, value), reference in zip(
        model.network.state_dict().items(), expected.network.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(value, reference, rtol=1e-9, atol=1e-12, msg=name)
    # logged once per trainer step: the means over its k = 5 Adam steps
    assert float(trainer.callback_metrics["train/loss"]) == pytest.approx(np.mean(losses[-5:]), rel=1e-9)
    assert {"train/derivative", "train/phi_zero", "train/monotone", "train/l1"} <= set(
        trainer.callback_metrics
    )
    assert not model.automatic_optimization
    assert model._resident_engine.steps == 30
    assert copy.deepcopy(model)._resident_engine is None  # a copy builds its own engine


def test_bad_engine_options_raise_naming_the_argument(tiny_recording, tmp_path):
    for options, message in (
        ({"engine": "gpu"}, "engine: expected one of ('loader', 'resident'), got str 'gpu'"),
        ({"engine": "resident", "steps_per_batch": 0}, "steps_per_batch: expected an int >= 1, got int 0"),
        ({"engine": "resident", "compile_step": "max"}, "compile_step: expected one of"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            tiny_model(tmp_path, **options).configure_optimizers()
    trainer = L.Trainer(max_steps=1, gradient_clip_val=1.0, **QUIET)
    with pytest.raises(ValueError, match="engine: the resident engine does not clip gradients"):
        trainer.fit(
            tiny_model(tmp_path, engine="resident"), ActivityDataModule(tiny_recording, rollout_steps=20)
        )


def engine_and_optimizer(model, datamodule, mode):
    engine = ResidentEngine(
        model, datamodule.resident_training_frames(), batch_size=8, seed=1, compile_mode=mode
    )
    engine.set_epoch(0)
    return engine, model.configure_optimizers()


def test_a_failing_compilation_warns_and_trains_eagerly(tiny_recording, tmp_path, monkeypatch):
    datamodule = ActivityDataModule(tiny_recording, rollout_steps=20)
    torch.manual_seed(0)
    eager_model = tiny_model(tmp_path)
    model = copy.deepcopy(eager_model)
    engine, optimizer = engine_and_optimizer(eager_model, datamodule, "off")
    expected = engine.run(6, optimizer)

    def broken(function, **options):
        def fails(*args):
            raise RuntimeError("inductor: no compiler\nsecond line")

        return fails

    monkeypatch.setattr(torch, "compile", broken)
    engine, optimizer = engine_and_optimizer(model, datamodule, "default")
    warning = r"compile_step: 'default' failed \(RuntimeError: inductor: no compiler\); .* with 'off'"
    with pytest.warns(RuntimeWarning, match=warning):
        means = engine.run(6, optimizer)
    assert engine.compile_mode == "off"
    torch.testing.assert_close(means, expected)
    for value, reference in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(value, reference)


def test_compile_modes_resolve_by_device_and_capturability():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    resolve = training._resolve_mode
    assert resolve("auto", cpu) == "off" and resolve("auto", cuda) == "reduce-overhead"
    assert resolve("reduce-overhead", cpu) == resolve("cuda-graph", cpu) == "default"
    assert resolve("cuda-graph", cuda) == "cuda-graph"
    assert resolve("cuda-graph", cuda, capturable=False) == "reduce-overhead"  # DDP, loss scaling


class EagerGraphs:
    """A CPU stand-in for the CUDA graph: a "replay" runs the captured body eagerly and writes
    the gradients into the buffers that were there at capture, as a replayed graph does."""

    captures = 0
    fail = False

    @staticmethod
    def side_stream():
        return contextlib.nullcontext()

    @classmethod
    def capture(cls, body, parameters):
        if cls.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        cls.captures += 1
        for p in parameters:
            p.grad = torch.zeros_like(p)  # the graph's gradient buffers

        def replay():
            buffers = [p.grad for p in parameters]
            for p in parameters:
                p.grad = None
            body()
            for p, buffer in zip(parameters, buffers, strict=True):
                buffer.copy_(p.grad)
                p.grad = buffer

        return replay


def test_whole_step_graph_takes_the_eager_steps_and_captures_again_when_gradients_are_dropped(
    tiny_recording, tmp_path, monkeypatch
):
    # The bookkeeping of compile_step="cuda-graph" (warm-up steps, the static batch index, the
    # running sums inside the graph, gradients kept in the graph's buffers), with the graph
    # replaced by an eager stand-in and the loss left uncompiled.
    monkeypatch.setattr(training, "_resolve_mode", lambda mode, device, capturable=True: mode)
    monkeypatch.setattr(torch, "compile", lambda function, **options: function)
    monkeypatch.setattr(ResidentEngine, "graphs", EagerGraphs)
    monkeypatch.setattr(EagerGraphs, "captures", 0)
    datamodule = ActivityDataModule(tiny_recording, rollout_steps=20)
    torch.manual_seed(0)
    eager_model = tiny_model(tmp_path)
    model = copy.deepcopy(eager_model)
    eager, eager_optimizer = engine_and_optimizer(eager_model, datamodule, "off")
    graph, optimizer = engine_and_optimizer(model, datamodule, "cuda-graph")
    for k in (5, 2, 4):  # 3 warm-up steps + 2 replays, then replays only
        torch.testing.assert_close(graph.run(k, optimizer), eager.run(k, eager_optimizer))
    assert EagerGraphs.captures == 1 and graph.compile_mode == "cuda-graph"
    optimizer.zero_grad(set_to_none=True)  # e.g. a callback: the buffers are gone, capture again
    torch.testing.assert_close(graph.run(4, optimizer), eager.run(4, eager_optimizer))
    assert EagerGraphs.captures == 2
    for value, reference in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(value, reference)
    monkeypatch.setattr(EagerGraphs, "fail", True)  # a capture that fails: warned, steps kept
    optimizer.zero_grad(set_to_none=True)
    with pytest.warns(RuntimeWarning, match=r"'cuda-graph' failed \(RuntimeError: operation not permitted"):
        torch.testing.assert_close(graph.run(5, optimizer), eager.run(5, eager_optimizer))
    assert graph.compile_mode == "reduce-overhead"
    for value, reference in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(value, reference)


@pytest.mark.slow
def test_compiled_loss_takes_the_same_steps_as_the_eager_one(tiny_recording, tmp_path):
    # torch.compile (inductor, C++ on the CPU; ~30 s to compile) against the eager loss
    datamodule = ActivityDataModule(tiny_recording, rollout_steps=20)
    torch.manual_seed(0)
    eager_model = tiny_model(tmp_path)
    model = copy.deepcopy(eager_model)
    eager, optimizer = engine_and_optimizer(eager_model, datamodule, "off")
    expected = torch.stack([eager.run(4, optimizer) for _ in range(3)])
    compiled, optimizer = engine_and_optimizer(model, datamodule, "reduce-overhead")  # CPU: "default"
    assert compiled.compile_mode == "default"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback
        means = torch.stack([compiled.run(4, optimizer) for _ in range(3)])
    torch.testing.assert_close(means, expected, rtol=1e-4, atol=1e-6)
    for value, reference in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["auto", "cuda-graph"])
def test_cuda_graphs_take_the_eager_steps_without_a_host_synchronisation(tiny_recording, tmp_path, mode):
    datamodule = ActivityDataModule(tiny_recording, rollout_steps=20)
    torch.manual_seed(0)
    eager_model = tiny_model(tmp_path).cuda()
    model = copy.deepcopy(eager_model)
    eager, optimizer = engine_and_optimizer(eager_model, datamodule, "off")
    expected = torch.stack([eager.run(10, optimizer) for _ in range(3)])
    graphs, graph_optimizer = engine_and_optimizer(model, datamodule, mode)
    resolved = {"auto": "reduce-overhead"}.get(mode, mode)
    assert graphs.compile_mode == resolved
    means = torch.stack([graphs.run(10, graph_optimizer) for _ in range(2)])
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # a host synchronisation raises
    try:
        means = torch.cat([means, graphs.run(10, graph_optimizer)[None]])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert graphs.compile_mode == resolved  # no fallback
    torch.testing.assert_close(means, expected, rtol=1e-4, atol=1e-6)
    for value, reference in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(value, reference, rtol=1e-3, atol=1e-5)


# ------------------------------------------------------------------------------ learning
@pytest.mark.slow
def test_the_papers_route_learns_the_connectivity(tmp_path):
    # N = 50, 4 types, 5000 frames; 3000 Adam steps from a random start (~10 s on one core):
    # the loss falls and W is largely recovered (0.88-0.91 measured at 2000 steps).
    path = tmp_path / "n50.npz"
    simulate_assembly(n_neurons=50, n_frames=5000, seed=0, progress=False).save(path)
    L.seed_everything(0, verbose=False)
    model = DynamicsGNN(
        50, functions="mlp", init="random", engine="resident", steps_per_batch=100, output_dir=str(tmp_path)
    )
    datamodule = ActivityDataModule(path, rollout_steps=300)
    datamodule.setup()
    batch = datamodule.batch(datamodule.split.train[::10])
    before = torch.nn.functional.mse_loss(model(batch["x"]), batch["target"]).item()
    trainer = L.Trainer(max_steps=3000, max_epochs=-1, **QUIET)
    trainer.fit(model, datamodule)
    after = torch.nn.functional.mse_loss(model(batch["x"]), batch["target"]).item()
    assert trainer.global_step == 3000
    assert after < 0.1 * before
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["connectivity_r2"] > 0.7


# ------------------------------------------------------------------------------ the GPU script
#: The brief's smoke settings of benchmarks/dynamics_gnn_gpu.py.
TINY = "--device cpu --n-neurons 50 --frames 2000 --minutes 0.2"


@pytest.mark.slow
def test_gpu_script_runs_on_the_cpu_with_tiny_settings(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "dynamics_gnn_gpu.py"),
            *TINY.split(),
            *("--json", str(out), "--workdir", str(tmp_path / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [row["mode"] for row in report["calibration"]] == ["off"]
    assert report["calibration"][0]["it_s"] > 0
    history = report["history"]
    assert len(history) >= 2 and history[-1]["steps"] > history[0]["steps"] > 0
    assert all(h["it_s_window"] > 0 and -1 <= h["connectivity_r2"] <= 1 for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    summary = report["summary"]
    assert summary["steps"] == history[-1]["steps"] and summary["it_s_steady"] > 0
    assert (tmp_path / "work" / "run" / "metrics.json").exists()
    assert "Adam steps/s" in result.stdout and "W R²" in result.stdout and "done:" in result.stdout
    assert len(TimeSplit(2000, 0.1, 0.1, 10).test) == 200  # the horizons the script derived
    assert "rollout horizons (80, 159)" in result.stdout
