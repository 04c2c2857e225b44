"""The paper's route of the dynamics GNN on one GPU: Adam steps per second and the metrics over time.

    python benchmarks/dynamics_gnn_gpu.py --minutes 9.5 --json gpu.json    # one H100 / H200: the baseline
    python benchmarks/dynamics_gnn_gpu.py --device cpu --n-neurons 50 --frames 2000 --minutes 0.2  # smoke

1. Simulates the published baseline on the device (``simulate_assembly(device=...)``: N = 1000,
   4 types, 10⁵ frames of dt 0.01, seed 0) and saves it as an ``.npz`` in ``--workdir``.
2. Calibrates: for each ``--modes`` entry (``compile_step`` of the resident engine; default
   "off", "reduce-overhead", "cuda-graph" on CUDA, "off" elsewhere), the engine alone (``ResidentEngine`` of
   :mod:`ccnn.models.dynamics_gnn.training` with the model's Adam) from the same start on the
   same batches: compilation seconds, Adam steps per second, the mean loss of the first k steps
   (equal across modes up to rounding: the same arithmetic), and the host synchronisations
   counted by ``torch.cuda.set_sync_debug_mode`` over k steps (0 expected). The training uses
   the fastest mode whose loss agrees with the eager one.
3. Trains ``DynamicsGNN(functions="mlp", init="random", engine="resident")`` (the paper's route;
   ``configs/dynamics_gnn/paper.yaml``) with Lightning, in the fastest calibrated mode (or
   ``--compile``), until the time is spent. Every ``--eval-seconds`` of training it pauses
   the clock and prints the Adam steps so far, the rate, the training loss, W R² and slope,
   type accuracy and ARI, the held-out derivative R² and the rollout R² (``model.evaluate``).
4. Prints the summary (the steady rate, when W R² ≥ 0.99 and type accuracy ≥ 0.99 were first
   both reached) and writes ``--json`` after every evaluation, so a run cut short still leaves
   its numbers. The model's exports (metrics.json, figures) go to ``--workdir``/run.

``--minutes`` is the budget of the whole script (simulation, compilation, evaluations and
exports included); under a 10-minute job limit use 9.5. Needs torch, lightning,
torch-geometric and torchmetrics (and ccnn); no jsonargparse, W&B or nilearn.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402

from ccnn.data import ActivityDataModule, simulate_assembly  # noqa: E402
from ccnn.data.activity.datamodule import TimeSplit  # noqa: E402
from ccnn.data.activity.simulation import BASELINE_TYPE_PARAMS  # noqa: E402
from ccnn.models import DynamicsGNN  # noqa: E402
from ccnn.models.dynamics_gnn.training import ResidentEngine, sampler_seed  # noqa: E402

#: The targets of issue 17 for the paper's route on the baseline.
TARGETS = {"connectivity_r2": 0.99, "type_accuracy": 0.99}
SHOWN = (
    ("connectivity_r2", "W R²"),
    ("connectivity_slope", "slope"),
    ("type_accuracy", "types"),
    ("type_ari", "ARI"),
    ("derivative_r2", "deriv. R²"),
)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paper_model(n: int, args, mode: str, rollout: tuple[int, int], output_dir: Path) -> DynamicsGNN:
    return DynamicsGNN(
        n,
        functions="mlp",
        init="random",
        engine="resident",
        steps_per_batch=args.steps_per_batch,
        compile_step=mode,
        rollout_steps=rollout[1],
        rollout_horizons=rollout,
        output_dir=str(output_dir),
    )


def count_syncs(engine: ResidentEngine, optimizer, steps: int, device: torch.device) -> int | None:
    """Host synchronisations during ``steps`` Adam steps (CUDA's sync debug mode), or None off CUDA."""
    if device.type != "cuda":
        return None
    synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            engine.run(steps, optimizer)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    synchronize(device)
    return sum("synchroniz" in str(w.message) for w in caught)


def calibrate(modes, args, datamodule, device, rollout, seconds: float) -> list[dict]:
    """Each compile mode of the engine alone, from the same start on the same batches."""
    rows = []
    frames = datamodule.resident_training_frames(device)
    for mode in modes:
        torch.manual_seed(args.seed)
        model = paper_model(datamodule.n_neurons, args, mode, rollout, Path(args.workdir)).to(device)
        optimizer = model.configure_optimizers()
        engine = ResidentEngine(
            model, frames, batch_size=args.batch_size, seed=sampler_seed(args.seed, 0), compile_mode=mode
        )
        engine.set_epoch(0)
        k = args.steps_per_batch
        row: dict = {"mode": mode}
        try:
            started = time.perf_counter()
            first = engine.run(k, optimizer)
            first_loss = float(first[0])  # a sync: the first k steps, compilation included
            row["first_steps_seconds"] = time.perf_counter() - started
            row["first_loss"] = first_loss
            engine.run(k, optimizer)  # CUDA graphs are recorded on the first replays
            synchronize(device)
            count, started = 0, time.perf_counter()
            while count == 0 or time.perf_counter() - started < seconds:
                engine.run(k, optimizer)
                count += k
            synchronize(device)
            row["it_s"] = count / (time.perf_counter() - started)
            row["syncs_per_k_steps"] = count_syncs(engine, optimizer, k, device)
            row["ran_as"] = engine.compile_mode  # differs from mode after a fallback
        except Exception as error:  # a mode that fails is reported, the others still run
            row["error"] = (
                f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300] if str(error) else ''}"
            )
        syncs = row.get("syncs_per_k_steps")
        print(
            f"  compile {mode!r:18} "
            + (
                f"{row['it_s']:9.0f} Adam steps/s, first {k} steps {row['first_steps_seconds']:6.1f} s "
                f"(mean loss {row['first_loss']:.6g}), host syncs per {k} steps: "
                f"{'n/a' if syncs is None else syncs}"
                + (f", ran as {row['ran_as']!r}" if row["ran_as"] != mode else "")
                if "error" not in row
                else f"failed: {row['error']}"
            ),
            flush=True,
        )
        rows.append(row)
        del engine, model, optimizer
        gc.collect()  # the engine's compiled loss and graph sit in reference cycles
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def best_mode(rows: list[dict], rtol: float = 1e-3) -> str:
    """The fastest mode that ran as asked and whose first-k mean loss is the eager one's (the
    same batches from the same start: a mode that computes something else is left out)."""
    reference = next((r["first_loss"] for r in rows if r["mode"] == "off" and "error" not in r), None)
    working = [
        r
        for r in rows
        if "error" not in r
        and r["ran_as"] == r["mode"]
        and (reference is None or abs(r["first_loss"] - reference) <= rtol * abs(reference))
    ]
    for r in rows:
        r["agrees_with_eager"] = r in working
    return max(working, key=lambda r: r["it_s"])["mode"] if working else "off"


class Monitor(L.Callback):
    """Pauses the clock every ``interval`` seconds of training to evaluate; stops at the deadline."""

    def __init__(self, datamodule, device, interval: float, deadline: float, report) -> None:
        self.datamodule, self.device, self.interval, self.deadline = datamodule, device, interval, deadline
        self.report = report
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.first_batch: tuple[float, int] | None = None
        # seconds kept for the last evaluation and the exports (figures of N² weights, symbolic
        # fits); grows with the measured evaluation time
        self.reserve = min(20.0, 0.1 * (deadline - time.perf_counter()))

    def on_train_start(self, trainer, module) -> None:
        synchronize(self.device)
        self.mark = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self.first_batch is None:  # the engine's set-up and compilation are in this one
            synchronize(self.device)
            now = time.perf_counter()
            self.first_batch = (self.train_seconds + now - self.mark, trainer.global_step)
        last = now + self.reserve >= self.deadline
        if now - self.mark < self.interval and not last:
            return
        synchronize(self.device)
        self.train_seconds += time.perf_counter() - self.mark
        self.evaluate(trainer, module)
        if time.perf_counter() + self.reserve >= self.deadline:
            trainer.should_stop = True
        self.mark = time.perf_counter()

    def evaluate(self, trainer, module) -> None:
        started = time.perf_counter()
        metrics = module.evaluate(self.datamodule)["metrics"]
        seconds = time.perf_counter() - started
        self.reserve = max(self.reserve, 3 * seconds)
        steps = trainer.global_step
        previous = self.history[-1] if self.history else {"train_seconds": 0.0, "steps": 0}
        window = (steps - previous["steps"]) / max(self.train_seconds - previous["train_seconds"], 1e-9)
        first_seconds, first_steps = self.first_batch or (0.0, 0)
        steady = (steps - first_steps) / max(self.train_seconds - first_seconds, 1e-9)
        loss = trainer.callback_metrics.get("train/loss")
        entry = {
            "train_seconds": self.train_seconds,
            "wall_seconds": time.perf_counter() - self.report["started"],
            "steps": steps,
            "it_s_window": window,
            "it_s_steady": steady,
            "loss": None if loss is None else float(loss),
            "evaluation_seconds": seconds,
            **{k: v for k, v in metrics.items() if v is None or isinstance(v, int | float)},
        }
        self.history.append(entry)
        shown = "  ".join(
            f"{label} {metrics[key]:.3f}" for key, label in SHOWN if metrics.get(key) is not None
        )
        rollout = [k for k in metrics if k.startswith("rollout_r2@")]
        if rollout:
            shown += "  " + "  ".join(
                f"{k.replace('rollout_r2', 'rollout R²')} {metrics[k]:.3f}" for k in rollout
            )
        loss_text = "n/a" if entry["loss"] is None else f"{entry['loss']:.3e}"
        print(
            f"[train {self.train_seconds:7.1f} s] step {steps:>10,}  {window:8.0f} it/s "
            f"(steady {steady:8.0f})  loss {loss_text}  {shown}",
            flush=True,
        )
        self.report["history"] = self.history
        self.report["write"]()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="budget of the whole script")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n-neurons", type=int, default=1000)
    parser.add_argument("--types", type=int, default=4, help="the first types of the baseline (<= 4)")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--steps-per-batch", type=int, default=None, help="Adam steps per trainer step (CUDA 200, else 20)"
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch (0: torch's default)")
    parser.add_argument(
        "--modes",
        default=None,
        help="comma-separated compile modes to calibrate (CUDA: off,reduce-overhead,cuda-graph; else off)",
    )
    parser.add_argument("--calibrate-seconds", type=float, default=5.0)
    parser.add_argument(
        "--compile", default="best", help="the training's compile_step ('best': the fastest calibrated)"
    )
    parser.add_argument(
        "--eval-seconds", type=float, default=30.0, help="training seconds between evaluations"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="recording and exports (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    budget = 60.0 * args.minutes
    deadline = started + budget
    device = torch.device(args.device)
    if args.steps_per_batch is None:
        args.steps_per_batch = 200 if device.type == "cuda" else 20
    if args.threads > 0:
        # one thread: on a shared CPU, OpenMP threads of several processes spin against each other
        torch.set_num_threads(args.threads)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here (use --device cpu for a smoke test)")
    if not 1 <= args.types <= len(BASELINE_TYPE_PARAMS):
        parser.error(f"--types: expected 1 to {len(BASELINE_TYPE_PARAMS)}, got {args.types}")
    temporary = None
    if args.workdir is None:
        temporary = tempfile.TemporaryDirectory()
        args.workdir = Path(temporary.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "started": started,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": {
            "torch": torch.__version__,
            "lightning": L.__version__,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "cpu_threads": torch.get_num_threads(),
        },
    }

    def write() -> None:
        if args.json is not None:
            out = {k: v for k, v in report.items() if k not in ("write", "started")}
            args.json.write_text(json.dumps(out, indent=2, default=str))

    report["write"] = write
    print(f"{report['environment']}; budget {budget:.0f} s", flush=True)

    # 1. the recording
    t = time.perf_counter()
    recording = simulate_assembly(
        n_neurons=args.n_neurons,
        n_frames=args.frames,
        type_params=BASELINE_TYPE_PARAMS[: args.types],
        seed=args.seed,
        device=str(device),
        progress=False,
    )
    synchronize(device)
    simulated = time.perf_counter() - t
    path = recording.save(args.workdir / "recording.npz")
    del recording
    test_frames = len(TimeSplit(args.frames, 0.1, 0.1, 10).test)
    steps = min(1000, test_frames - 1)
    rollout = (round(0.4 * steps), round(0.8 * steps))  # (400, 800) on the baseline
    datamodule = ActivityDataModule(path, batch_size=args.batch_size, rollout_steps=steps)
    datamodule.setup("fit")
    report["simulation_seconds"] = simulated
    print(
        f"simulated N = {args.n_neurons}, {args.types} types, {args.frames} frames on {device} in "
        f"{simulated:.1f} s (saved in {time.perf_counter() - t - simulated:.1f} s); rollout horizons "
        f"{rollout}",
        flush=True,
    )

    # 2. calibration
    modes = (
        args.modes.split(",")
        if args.modes
        else (["off", "reduce-overhead", "cuda-graph"] if device.type == "cuda" else ["off"])
    )
    seconds = min(args.calibrate_seconds, 0.05 * budget)
    print(f"calibration: {args.steps_per_batch} Adam steps per call, {seconds:.1f} s per mode", flush=True)
    t = time.perf_counter()
    report["calibration"] = calibrate(modes, args, datamodule, device, rollout, seconds)
    report["calibration_seconds"] = time.perf_counter() - t
    write()
    mode = args.compile
    if mode == "best":
        mode = best_mode(report["calibration"])
    report["mode"] = mode

    # 3. training
    remaining = deadline - time.perf_counter()
    interval = min(args.eval_seconds, max(remaining / 4, 1.0))
    print(
        f"calibration took {report['calibration_seconds']:.0f} s; training the paper's route, compile_step "
        f"{mode!r}, evaluations every {interval:.0f} s of training, {remaining:.0f} s left",
        flush=True,
    )
    L.seed_everything(args.seed, verbose=False)
    model = paper_model(args.n_neurons, args, mode, rollout, args.workdir / "run")
    monitor = Monitor(datamodule, device, interval, deadline, report)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision="32-true",
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[monitor],
    )
    trainer.fit(model, datamodule)
    report["exports_seconds"] = time.perf_counter() - monitor.mark  # on_fit_end: metrics.json, figures

    # 4. summary
    history = monitor.history
    reached = next(
        (h for h in history if all((h.get(k) or -math.inf) >= v for k, v in TARGETS.items())), None
    )
    final = history[-1] if history else {}
    report["summary"] = {
        "steps": trainer.global_step,
        "train_seconds": monitor.train_seconds,
        "first_trainer_step_seconds": monitor.first_batch[0] if monitor.first_batch else None,
        "it_s_steady": final.get("it_s_steady"),
        "targets": TARGETS,
        "targets_reached_at_train_seconds": None if reached is None else reached["train_seconds"],
        "targets_reached_at_steps": None if reached is None else reached["steps"],
        "final": {k: final.get(k) for k, _ in SHOWN},
        "wall_seconds": time.perf_counter() - started,
    }
    summary = report["summary"]
    print(
        f"done: {summary['steps']:,} Adam steps in {summary['train_seconds']:.0f} s of training, steady "
        f"{summary['it_s_steady'] or 0:.0f} it/s (compile_step {mode!r}); targets "
        + (
            f"reached after {reached['train_seconds']:.0f} s ({reached['steps']:,} steps)"
            if reached
            else "not reached"
        )
        + f"; wall {summary['wall_seconds']:.0f} s",
        flush=True,
    )
    write()
    if temporary is not None:
        temporary.cleanup()
    return {k: v for k, v in report.items() if k != "write"}


if __name__ == "__main__":
    main()
