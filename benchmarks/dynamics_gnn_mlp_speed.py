"""The paper's route of the dynamics GNN (MLP φ and ψ) on the CPU: message paths and training loops.

    python benchmarks/dynamics_gnn_mlp_speed.py            # paths at N = 100, 300, 1000; loops at 100, 1000
    python benchmarks/dynamics_gnn_mlp_speed.py --sizes 100 --loop-sizes 100 --seconds 1 --json out.json
    python benchmarks/dynamics_gnn_mlp_speed.py --compile  # also time torch.compile on the CPU

1. Paths. One Adam step of the same MLP model (:class:`ccnn.nn.DynamicsNetwork`, ψ(x_j), the
   paper's MLPs of 3 × 64) on a batch of B frames, by the dense path (Σ_j W_ij ψ(x_j) as the
   matrix product ψ(x) Wᵀ: N evaluations of ψ per frame) and by the per-edge message-passing
   path (torch-geometric, one ψ evaluation per edge, the paper's implementation: N(N − 1) per
   frame). Both compute the same prediction (checked: the largest difference is printed). The
   per-edge path keeps activations for every (edge, frame): when they would exceed
   ``--memory-gb``, both paths are timed at the largest batch that fits (printed).
2. Loops. The full Lightning fit (``DynamicsGNN(functions="mlp", init="random")`` on a
   simulated recording, validation off) with the default loader engine (one Adam step per
   loader batch) against the resident engine (``engine="resident"``, ``--steps-per-batch`` Adam
   steps per trainer step), and the engine alone without Lightning (the ceiling). Adam steps
   per second from the start to the end of training (exports excluded).

Both sides of each ratio run in the same process, interleaved over ``--rounds`` rounds (the best
of each side is kept), so they share the machine's load; the load average is printed. The
speed target of the paper's route is on a GPU: ``benchmarks/dynamics_gnn_gpu.py``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ccnn.models.dynamics_gnn.training import ResidentEngine, dynamics_loss  # noqa: E402
from ccnn.nn.dynamics import DynamicsNetwork  # noqa: E402

#: The regularisers of the default DynamicsGNN (φ(0) and ψ's monotonicity, weight 1).
WEIGHTS = {"phi_zero": 1.0, "monotone": 1.0}


def timed_rate(step, seconds: float, min_steps: int = 3, warmup: int = 1) -> float:
    """Steps per second of ``step()`` over at least ``seconds`` and ``min_steps`` steps."""
    for _ in range(warmup):
        step()
    count, started = 0, time.perf_counter()
    while count < min_steps or time.perf_counter() - started < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - started)


def edge_memory_gb(n: int, batch: int, hidden: int = 64, layers: int = 3) -> float:
    """Peak memory of one per-edge step, from above: every (edge, frame) keeps ~2 float32
    activations of width ``hidden`` per layer for the backward (measured: 0.95 GB over the
    interpreter's at N = 300, B = 8, where this gives 1.1 GB)."""
    return n * (n - 1) * batch * hidden * 4 * (2 * layers) / 1e9


def adam_step(network: DynamicsNetwork, optimizer, x, target) -> None:
    _, terms = dynamics_loss(network, x, target, None, WEIGHTS)
    optimizer.zero_grad()
    sum(terms.values()).backward()
    optimizer.step()


def paths(sizes, batch: int, seconds: float, rounds: int, memory_gb: float) -> list[dict]:
    rows = []
    for n in sizes:
        torch.manual_seed(0)
        dense = DynamicsNetwork(n, functions="mlp", path="dense")
        edges = copy.deepcopy(dense)
        edges.path = "message_passing"
        b = batch
        while b > 1 and edge_memory_gb(n, b) > memory_gb:
            b //= 2
        x, target = torch.randn(b, n), torch.randn(b, n)
        with torch.no_grad():
            reference = dense(x)
            difference = float((edges(x) - reference).abs().max() / reference.abs().max())
        optimizers = {
            "dense": torch.optim.Adam(dense.parameters(), lr=1e-3),
            "message_passing": torch.optim.Adam(edges.parameters(), lr=1e-3),
        }
        networks = {"dense": dense, "message_passing": edges}
        best = {"dense": 0.0, "message_passing": 0.0}
        for _ in range(rounds):
            for name, network in networks.items():
                optimizer = optimizers[name]
                rate = timed_rate(
                    lambda net=network, opt=optimizer, x=x, t=target: adam_step(net, opt, x, t),
                    seconds if name == "dense" else min(seconds, 0.5),  # per-edge: a few steps
                    min_steps=3 if name == "dense" else 2,
                )
                best[name] = max(best[name], rate)
        row = {
            "n_neurons": n,
            "batch": b,
            "edges": n * (n - 1),
            "dense_it_s": best["dense"],
            "message_passing_it_s": best["message_passing"],
            "ratio": best["dense"] / best["message_passing"],
            "max_relative_difference": difference,
        }
        print(
            f"N {n:5d}  batch {b}  dense {row['dense_it_s']:9.1f} it/s  per-edge "
            f"{row['message_passing_it_s']:8.2f} it/s  ratio {row['ratio']:8.1f}x  "
            f"(same prediction: max rel. difference {difference:.1e})",
            flush=True,
        )
        rows.append(row)
    return rows


def loops(sizes, frames: int, steps: int, steps_per_batch: int, rounds: int, directory: Path) -> list[dict]:
    import lightning as L

    from ccnn.data import ActivityDataModule, simulate_assembly
    from ccnn.models import DynamicsGNN

    class Clock(L.Callback):
        def on_train_start(self, trainer, module):
            self.started = time.perf_counter()

        def on_train_end(self, trainer, module):
            self.seconds = time.perf_counter() - self.started

    rows = []
    for n in sizes:
        path = directory / f"n{n}.npz"
        simulate_assembly(n_neurons=n, n_frames=frames, seed=0, progress=False).save(path)
        best: dict[str, float] = {}

        def fit(engine: str, n: int = n, path: Path = path) -> float:
            L.seed_everything(0, verbose=False)
            k = steps_per_batch if engine == "resident" else 1
            model = DynamicsGNN(
                n, functions="mlp", init="random", engine=engine, steps_per_batch=k, output_dir=str(directory)
            )
            clock = Clock()
            trainer = L.Trainer(
                accelerator="cpu",
                max_steps=steps,
                max_epochs=-1,
                limit_val_batches=0,
                num_sanity_val_steps=0,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                callbacks=[clock],
            )
            model.on_fit_end = lambda: None  # time the loop, not the exports
            trainer.fit(model, ActivityDataModule(path, rollout_steps=10))
            return trainer.global_step / clock.seconds

        def engine_alone(n: int = n, path: Path = path) -> float:
            torch.manual_seed(0)
            model = DynamicsGNN(n, functions="mlp", init="random")
            datamodule = ActivityDataModule(path, rollout_steps=10)
            engine = ResidentEngine(
                model, datamodule.resident_training_frames(), batch_size=8, seed=0, compile_mode="off"
            )
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            engine.run(2, optimizer)
            started = time.perf_counter()
            done = 0
            while done < steps:
                engine.run(min(steps_per_batch, steps - done), optimizer)
                done += steps_per_batch
            return steps / (time.perf_counter() - started)

        for _ in range(rounds):
            for name, measure in (
                ("loader", lambda: fit("loader")),
                ("resident", lambda: fit("resident")),
                ("engine_alone", engine_alone),
            ):
                best[name] = max(best.get(name, 0.0), measure())
        row = {
            "n_neurons": n,
            "steps": steps,
            "steps_per_batch": steps_per_batch,
            "loader_it_s": best["loader"],
            "resident_it_s": best["resident"],
            "engine_alone_it_s": best["engine_alone"],
            "ratio": best["resident"] / best["loader"],
        }
        print(
            f"N {n:5d}  Lightning loop: loader engine {row['loader_it_s']:7.1f} it/s, resident engine "
            f"{row['resident_it_s']:7.1f} it/s ({row['ratio']:.2f}x); the engine alone "
            f"{row['engine_alone_it_s']:7.1f} it/s",
            flush=True,
        )
        rows.append(row)
    return rows


def compiled(n: int, batch: int, seconds: float) -> dict:
    """The eager loss against torch.compile (default mode) on the CPU, one Adam step each."""
    torch.manual_seed(0)
    network = DynamicsNetwork(n, functions="mlp")
    frames = {"x": torch.randn(1000, n), "target": torch.randn(1000, n)}

    class Module:  # what ResidentEngine reads of a DynamicsGNN
        stimulus_field = None

    module = Module()
    module.network = network
    from ccnn.models.dynamics_gnn.module import Schedule

    module.weights = {"phi_zero": Schedule(1.0), "monotone": Schedule(1.0), "l1": Schedule(0.0)}
    out = {"n_neurons": n, "batch": batch}
    for mode in ("off", "default"):
        engine = ResidentEngine(module, frames, batch_size=batch, seed=0, compile_mode=mode)
        engine.set_epoch(0)
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
        started = time.perf_counter()
        engine.run(3, optimizer)
        out[f"{mode}_first_steps_s"] = time.perf_counter() - started
        out[f"{mode}_it_s"] = timed_rate(lambda e=engine, o=optimizer: e.run(10, o), seconds) * 10
        out[f"{mode}_fell_back"] = engine.compile_mode != mode
    print(
        f"N {n:5d}  eager {out['off_it_s']:.1f} it/s; torch.compile (default) {out['default_it_s']:.1f} it/s "
        f"after {out['default_first_steps_s']:.0f} s of compilation",
        flush=True,
    )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 300, 1000])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per side and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory-gb", type=float, default=8.0, help="per-edge activations allowed")
    parser.add_argument("--loop-sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--loop-steps", type=int, default=500, help="Adam steps per loop fit")
    parser.add_argument("--loop-frames", type=int, default=10_000)
    parser.add_argument("--steps-per-batch", type=int, default=50)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (~30 s to compile)")
    # One thread by default: on a shared 2-core machine two OpenMP threads per process collapse
    # (spin-waits) as soon as another process runs; one thread gives rates that can be compared.
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    machine = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_before": os.getloadavg(),
    }
    load = machine["load_average_before"]
    print(f"{machine['cpus']} CPUs, {machine['torch_threads']} torch threads, load average {load}")
    result: dict = {"machine": machine}
    result["paths"] = paths(args.sizes, args.batch, args.seconds, args.rounds, args.memory_gb)
    with tempfile.TemporaryDirectory() as directory:
        result["loops"] = loops(
            args.loop_sizes,
            args.loop_frames,
            args.loop_steps,
            args.steps_per_batch,
            args.rounds,
            Path(directory),
        )
    if args.compile:
        result["compile"] = compiled(min(args.sizes or [100]), args.batch, args.seconds)
    machine["load_average_after"] = os.getloadavg()
    print(f"load average after: {machine['load_average_after']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
