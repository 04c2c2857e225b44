"""Dynamics GNN targets: from a saved recording to metrics.json, timed, against the published numbers.

    python benchmarks/dynamics_gnn_baseline.py                      # the baseline (N = 1000)
    python benchmarks/dynamics_gnn_baseline.py --variant noise      # any of VARIANTS
    python benchmarks/dynamics_gnn_baseline.py --variant n8000 --regression-only   # the start alone
    python benchmarks/dynamics_gnn_baseline.py --scaling 1000 2000 4000 --against d844276

Each variant simulates its recording once (configs/simulation/<name>.yaml, into
--recordings), then times ``train.py fit`` with configs/dynamics_gnn.yaml (+ the variant's
configs/dynamics_gnn/<name>.yaml) on it as an ActivityDataModule, and prints each metric
beside its target and the published value, with the wall time and the peak resident memory
of the training process. ``--regression-only`` times just the closed-form start (the
regression on the config's ``regression_frames`` training frames) on the recording, with its
peak memory (resident, or on the GPU with ``--device cuda``) and the connectivity R².

``--scaling`` times the closed-form regression alone on simulated recordings (σ = 1 process
noise, as the n8000 variant; ``--frames-per-neuron`` frames per neuron, 5 for n8000's
40 000 frames at N = 8000), one fresh process per N so that each peak memory is its own, and
extrapolates wall time and memory to N = 8000 (the arithmetic grows as N³ when the frames
grow with N). ``--against REV`` runs the solver of git revision REV on the same data in the
same run and prints ours beside it as ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOLVER = "ccnn/models/dynamics_gnn/solvers/library_regression.py"
# metric: (target, published)
TARGETS = {
    "baseline": {
        "connectivity_r2": (0.99, 1.0),
        "type_accuracy": (0.99, 1.0),
        "rollout_r2@400": (0.99, 0.987),
        "rollout_r2@800": (0.70, 0.625),
    },
    "sparse_ff005": {"connectivity_r2": (0.99, 1.0)},
    "noise": {"connectivity_r2": (0.99, 1.0)},
    "types32": {"type_accuracy": (0.99, 0.99), "connectivity_r2": (None, 1.0)},
    "transmitters": {"connectivity_r2": (0.99, 0.99)},
    "neuron_neuron": {"connectivity_r2": (None, 0.958)},
    "stimuli": {"connectivity_r2": (0.99, 0.993), "omega_r2": (0.95, None)},
    "n8000": {"connectivity_r2": (None, 0.998)},
}


def recording(variant: str, directory: Path) -> Path:
    path = directory / f"{variant}.npz"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "ccnn-simulate",
                "--config",
                str(ROOT / "configs" / "simulation" / f"{variant}.yaml"),
                "--out",
                str(path),
            ],
            check=True,
        )
    return path


def config_files(variant: str) -> list[Path]:
    files = [ROOT / "configs" / "dynamics_gnn.yaml"]
    if variant != "baseline":
        files.append(ROOT / "configs" / "dynamics_gnn" / f"{variant}.yaml")
    return files


def model_options(variant: str) -> dict:
    """The model's init_args after composing the variant's configs (later files win)."""
    options: dict = {}
    for path in config_files(variant):
        options.update(((yaml.safe_load(path.read_text()) or {}).get("model") or {}).get("init_args") or {})
    return options


def run_measured(command: list[str], **kwargs) -> tuple[float, int]:
    """Run ``command`` to completion; its wall time (s) and peak resident memory (bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)  # the rusage of this child alone
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return time.perf_counter() - start, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def fit(variant: str, path: Path, out: Path) -> tuple[dict, float, int]:
    configs = [arg for file in config_files(variant) for arg in ("--config", str(file.relative_to(ROOT)))]
    command = [
        sys.executable,
        "train.py",
        "fit",
        *configs,
        "--data",
        "ccnn.data.ActivityDataModule",
        "--data.path",
        str(path),
        "--model.init_args.output_dir",
        str(out),
    ]
    seconds, peak = run_measured(command, cwd=ROOT)
    return json.loads((out / "metrics.json").read_text()), seconds, peak


class PeakMemory:
    """Peak resident memory of this process from now on (VmHWM after resetting it), or the
    peak allocated CUDA memory. tracemalloc does not see torch's allocations."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            self.start = torch.cuda.memory_allocated(device)
            return
        self.start = _status("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        except OSError:
            pass

    def peak(self) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device)
        return _status("VmHWM")


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def r_squared(a: torch.Tensor, b: torch.Tensor) -> float:
    """Squared correlation over all entries (as the model's connectivity_r2)."""
    return float(
        np.corrcoef(a.double().cpu().flatten().numpy(), b.double().cpu().flatten().numpy())[0, 1] ** 2
    )


def load_solver(revision: str | None):
    """``regress_dynamics`` of this checkout, or of git revision ``revision`` (a baseline)."""
    if revision is None:
        from ccnn.models.dynamics_gnn.solvers import library_regression

        return library_regression
    source = subprocess.run(
        ["git", "show", f"{revision}:{SOLVER}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "previous_library_regression.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_library_regression", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def regression_options(variant: str) -> dict:
    from ccnn.nn.function_library import DEFAULT_PHI_TERMS, DEFAULT_PSI_TERMS

    options = model_options(variant)
    psi_terms = list(options.get("psi_terms", DEFAULT_PSI_TERMS))
    phi_terms = list(options.get("phi_terms", DEFAULT_PHI_TERMS))
    return {
        "phi_terms": [*psi_terms, *[t for t in phi_terms if t not in psi_terms]],
        "psi_terms": psi_terms,
        "per_sender_psi": options.get("psi_inputs", "x_j") != "x_j",
        "prune": float(options.get("prune", 0.05)),
    }


def regression_only(variant: str, path: Path, device: str, memory_limit: int | None) -> dict:
    """Time the closed-form start alone on the variant's recording (as the model runs it)."""
    from ccnn.data import ActivityDataModule

    frames = int(model_options(variant).get("regression_frames", 20_000))
    datamodule = ActivityDataModule(path)
    batch = datamodule.regression_frames(frames)
    x, y = batch["x"].to(device), batch["target"].to(device)
    solver = load_solver(None)
    memory = PeakMemory(torch.device(device))
    start = time.perf_counter()
    result = solver.regress_dynamics(x, y, memory_limit=memory_limit, **regression_options(variant))
    seconds = time.perf_counter() - start
    report = {
        "variant": variant,
        "n_neurons": x.shape[1],
        "frames": x.shape[0],
        "device": device,
        "wall_s": seconds,
        "peak_bytes": memory.peak(),
        "before_bytes": memory.start,
        "psi_source": result.psi_source,
        "rank1_residual": result.rank1_residual,
        "derivative_r2": result.derivative_r2,
    }
    truth = datamodule.ground_truth()
    if truth is not None:
        report["connectivity_r2"] = r_squared(result.weight, truth.effective_connectivity(result.x_range))
    return report


def simulated(n: int, frames: int, directory: Path) -> Path:
    """σ = 1 recording (the n8000 variant's noise) with ``frames`` evenly spaced frames out of
    2.5 times as many (as the model's regression_frames reads its training block)."""
    path = directory / f"scaling_{n}_{frames}.npz"
    if not path.exists():
        from ccnn.data import simulate_assembly
        from ccnn.data.activity.ground_truth import TrueDynamics

        directory.mkdir(parents=True, exist_ok=True)
        rec = simulate_assembly(n_neurons=n, n_frames=int(2.5 * frames), noise=1.0, seed=0, progress=False)
        keep = np.linspace(0, int(2.5 * frames) - 1, frames).round().astype(int)
        x, y = rec.activity[keep], rec.derivative[keep]
        truth = TrueDynamics(rec).effective_connectivity((float(x.min()), float(x.max()))).numpy()
        np.savez(path, x=x, y=y, truth=truth)
    return path


def scaling_point(path: Path, revision: str | None, device: str, memory_limit: int | None) -> dict:
    """One regression on a cached recording, in this (fresh) process."""
    from ccnn.nn.function_library import DEFAULT_PHI_TERMS, DEFAULT_PSI_TERMS

    data = np.load(path)
    x, y = torch.from_numpy(data["x"]).to(device), torch.from_numpy(data["y"]).to(device)
    solver = load_solver(revision)
    options = {"phi_terms": DEFAULT_PHI_TERMS, "psi_terms": DEFAULT_PSI_TERMS, "prune": 0.05}
    if revision is None:
        options["memory_limit"] = memory_limit
    memory = PeakMemory(torch.device(device))
    start = time.perf_counter()
    result = solver.regress_dynamics(x, y, **options)
    seconds = time.perf_counter() - start
    return {
        "n_neurons": x.shape[1],
        "frames": x.shape[0],
        "solver": revision or "ours",
        "wall_s": seconds,
        "peak_bytes": memory.peak(),
        "before_bytes": memory.start,
        "psi_source": getattr(result, "psi_source", "lifted"),
        "rank1_residual": result.rank1_residual,
        "connectivity_r2": r_squared(result.weight, torch.from_numpy(data["truth"])),
    }


def scaling(args: argparse.Namespace) -> list[dict]:
    rows = []
    for n in args.scaling:
        path = simulated(n, args.frames_per_neuron * n, args.recordings)
        for revision in [None, args.against] if args.against else [None]:
            command = [sys.executable, __file__, "--_point", str(path), "--device", args.device]
            command += ["--_revision", revision] if revision else []
            command += ["--memory-limit", str(args.memory_limit)] if args.memory_limit else []
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            row = json.loads(output.strip().splitlines()[-1])
            rows.append(row)
            solver_bytes = row["peak_bytes"] - row["before_bytes"]
            print(
                f"N = {n:5d}, T = {row['frames']:6d}, {row['solver']:>8s}: {row['wall_s']:7.1f} s, "
                f"peak {row['peak_bytes'] / 1e9:6.2f} GB (solver {solver_bytes / 1e9:5.2f} GB), "
                f"ψ from {row['psi_source']}, W R² {row['connectivity_r2']:.5f}",
                flush=True,
            )
        if args.against:
            ours, previous = rows[-2], rows[-1]
            extra = [(r["peak_bytes"] - r["before_bytes"]) for r in (ours, previous)]
            print(
                f"    ours / {args.against}: time ×{ours['wall_s'] / previous['wall_s']:.2f}, "
                f"solver memory ×{extra[0] / max(extra[1], 1):.2f}"
            )
    ours = [r for r in rows if r["solver"] == "ours"]
    if len(ours) >= 2:
        (n0, t0), (n1, t1) = ((r["n_neurons"], r["wall_s"]) for r in ours[-2:])
        m1 = ours[-1]["peak_bytes"] - ours[-1]["before_bytes"]
        exponent = math.log(t1 / t0) / math.log(n1 / n0)
        from ccnn.models.dynamics_gnn.solvers.library_regression import _lifted_bytes

        target = 8000
        k = 5
        estimate = _lifted_bytes(target, k, k, 0, k, 2048)
        data = 2 * 4 * target * args.frames_per_neuron * target
        measured, cubic = t1 * (target / n1) ** exponent, t1 * (target / n1) ** 3
        print(
            f"extrapolated to N = {target} (T = {args.frames_per_neuron * target}): time ∝ N^{exponent:.2f} "
            f"measured → {measured / 60:.0f} min (∝ N³: {cubic / 60:.0f} min); "
            f"solver memory ∝ N² → {m1 * (target / n1) ** 2 / 1e9:.1f} GB (estimate {estimate / 1e9:.1f} GB) "
            f"+ float32 data {data / 1e9:.1f} GB"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="baseline", choices=sorted(TARGETS))
    parser.add_argument("--recordings", type=Path, default=Path("runs/recordings"))
    parser.add_argument("--regression-only", action="store_true", help="time the closed-form start alone")
    parser.add_argument("--device", default="cpu", help="device of --regression-only and --scaling")
    parser.add_argument("--memory-limit", type=int, default=None, help="bytes for the regression")
    parser.add_argument("--scaling", type=int, nargs="*")
    parser.add_argument("--frames-per-neuron", type=int, default=5)
    parser.add_argument("--against", default=None, help="git revision whose solver --scaling also runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--_point", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_revision", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._point:
        print(json.dumps(scaling_point(args._point, args._revision, args.device, args.memory_limit)))
        return
    if args.scaling:
        rows = scaling(args)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        return
    path = recording(args.variant, args.recordings)
    if args.regression_only:
        report = regression_only(args.variant, path, args.device, args.memory_limit)
        print(
            f"\n{args.variant}: closed-form start on {report['frames']} frames, N = {report['n_neurons']}, "
            f"{args.device}: {report['wall_s']:.1f} s, peak memory {report['peak_bytes'] / 1e9:.2f} GB "
            f"(before {report['before_bytes'] / 1e9:.2f} GB), ψ from {report['psi_source']}"
        )
        if "connectivity_r2" in report:
            target, published = TARGETS[args.variant].get("connectivity_r2", (None, None))
            print(f"connectivity_r2 {report['connectivity_r2']:.5f} (target {target}, published {published})")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        return
    metrics, seconds, peak = fit(args.variant, path, Path("runs/benchmarks") / args.variant)
    start = metrics.get("start/regression_seconds", float("nan"))
    print(
        f"\n{args.variant}: recording → metrics.json in {seconds:.1f} s (target ≤ 300 s), peak memory "
        f"{peak / 1e9:.2f} GB; closed-form start {start:.1f} s"
    )
    print(f"{'metric':28s} {'ours':>10s} {'target':>8s} {'published':>10s}")
    for name, value in sorted(metrics.items()):
        if not isinstance(value, int | float):
            continue
        target, published = TARGETS[args.variant].get(name, (None, None))
        flag = "" if target is None else ("  met" if value >= target else "  NOT met")
        print(
            f"{name:28s} {value:10.5f} {target if target is not None else '':>8} "
            f"{published if published is not None else '':>10}{flag}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"wall_s": seconds, "peak_bytes": peak, "metrics": metrics}, indent=2)
        )


if __name__ == "__main__":
    main()
