"""Dynamics GNN targets: from a saved recording to metrics.json, timed, against the published numbers.

    python benchmarks/dynamics_gnn_baseline.py                      # the baseline (N = 1000)
    python benchmarks/dynamics_gnn_baseline.py --variant noise      # any of VARIANTS
    python benchmarks/dynamics_gnn_baseline.py --scaling 1000 2000 4000

Each variant simulates its recording once (configs/simulation/<name>.yaml, into
--recordings), then times ``train.py fit`` with configs/dynamics_gnn.yaml (+ the variant's
configs/dynamics_gnn/<name>.yaml) on it as an ActivityDataModule, and prints each metric
beside its target and the published value. ``--scaling`` times the closed-form regression
alone on synthetic states at several N (cost ∝ frames · (K·N)²), to extrapolate to N = 8000.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
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


def fit(variant: str, path: Path, out: Path) -> tuple[dict, float]:
    configs = ["--config", "configs/dynamics_gnn.yaml"]
    if variant != "baseline":
        configs += ["--config", f"configs/dynamics_gnn/{variant}.yaml"]
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
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - start


def scaling(sizes: list[int], frames: int) -> None:
    from ccnn.models.dynamics_gnn.solvers.library_regression import regress_dynamics
    from ccnn.nn.function_library import DEFAULT_PHI_TERMS, DEFAULT_PSI_TERMS

    print(f"closed-form regression on {frames} frames, K = {len(DEFAULT_PSI_TERMS)} ψ terms")
    previous = None
    for n in sizes:
        x = 5 * torch.randn(frames, n)
        y = -x + torch.tanh(x) + torch.tanh(x) @ (torch.randn(n, n) / n**0.7).T
        start = time.perf_counter()
        regress_dynamics(x, y, phi_terms=DEFAULT_PHI_TERMS, psi_terms=DEFAULT_PSI_TERMS)
        seconds = time.perf_counter() - start
        ratio = "" if previous is None else f"  ×{seconds / previous[1]:.2f} for N ×{n / previous[0]:.0f}"
        print(f"N = {n:5d}: {seconds:7.1f} s{ratio}")
        previous = (n, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="baseline", choices=sorted(TARGETS))
    parser.add_argument("--recordings", type=Path, default=Path("runs/recordings"))
    parser.add_argument("--scaling", type=int, nargs="*")
    parser.add_argument("--scaling-frames", type=int, default=5000)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    if args.scaling:
        scaling(args.scaling, args.scaling_frames)
        return
    path = recording(args.variant, args.recordings)
    metrics, seconds = fit(args.variant, path, Path("runs/benchmarks") / args.variant)
    print(
        f"\n{args.variant}: recording → metrics.json in {seconds:.1f} s (target ≤ 300 s); "
        f"closed-form start {metrics.get('start/regression_seconds', float('nan')):.1f} s"
    )
    print(f"{'metric':28s} {'ours':>10s} {'target':>8s} {'published':>10s}")
    for name, value in sorted(metrics.items()):
        target, published = TARGETS[args.variant].get(name, (None, None))
        flag = "" if target is None else ("  met" if value >= target else "  NOT met")
        print(
            f"{name:28s} {value:10.5f} {target if target is not None else '':>8} "
            f"{published if published is not None else '':>10}{flag}"
        )


if __name__ == "__main__":
    main()
