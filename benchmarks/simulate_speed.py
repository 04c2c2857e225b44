"""Speed of the neural-assembly simulator against the floor of one matrix-vector product.

Targets (issue "Simulated neural assemblies"), N = 1000, 10⁵ frames, CPU:

* time per frame ≤ 1.3 × the time of ``W @ x`` alone;
* a straightforward per-step loop (``x = x + dt·(−c x + s tanh x + g W @ tanh x)``,
  storing every frame) for comparison;
* with 8 batched trials, time per trial-frame ≤ 0.5 × that of one trial.

Each round times all four in turn; the medians over rounds are compared, so that slow
phases of a shared machine hit every variant alike. On a GPU it also prints frames/s
at N = 1000 and 8000.

Usage::

    python benchmarks/simulate_speed.py [--neurons 1000] [--frames 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ccnn.data import simulate_assembly, simulate_assembly_trials
from ccnn.data.simulation import BASELINE_TYPE_PARAMS, lorentz_connectivity


def matvec_seconds_per_step(weights: torch.Tensor, steps: int) -> float:
    x = torch.randn(weights.shape[0])
    start = time.perf_counter()
    for _ in range(steps):
        torch.mv(weights, x)
    return (time.perf_counter() - start) / steps


def naive_seconds_per_step(weights: torch.Tensor, steps: int, dt: float = 0.01) -> float:
    n = weights.shape[0]
    params = torch.tensor(BASELINE_TYPE_PARAMS)[torch.arange(n) * 4 // n]
    g, s, c = params.unbind(1)
    x = 5 * torch.randn(n)
    out = torch.empty(steps, n)
    start = time.perf_counter()
    for k in range(steps):
        x = x + dt * (-c * x + s * torch.tanh(x) + g * (weights @ torch.tanh(x)))
        out[k] = x
    return (time.perf_counter() - start) / steps


def simulator_seconds_per_step(n: int, frames: int, trials: int) -> float:
    warmup = 1000
    start = time.perf_counter()
    if trials == 1:
        simulate_assembly(n_neurons=n, n_frames=frames, warmup=warmup, progress=False)
    else:
        simulate_assembly_trials(trials, n_neurons=n, n_frames=frames, warmup=warmup, progress=False)
    return (time.perf_counter() - start) / ((frames + warmup) * trials)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument(
        "--trial-frames", type=int, default=20_000, help="frames per trial of the 8-trial run"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, frames = args.neurons, args.frames
    weights = lorentz_connectivity(n, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, N = {n}, {frames} frames per run")
    times: dict[str, list[float]] = {"W @ x": [], "naive loop": [], "simulate_assembly": [], "8 trials": []}
    for _ in range(args.rounds):
        times["W @ x"].append(matvec_seconds_per_step(weights, frames))
        times["naive loop"].append(naive_seconds_per_step(weights, frames))
        times["simulate_assembly"].append(simulator_seconds_per_step(n, frames, 1))
        times["8 trials"].append(simulator_seconds_per_step(n, args.trial_frames, 8))
    median = {name: statistics.median(values) for name, values in times.items()}
    floor = median["W @ x"]
    print(f"\n{'':<20}{'µs / frame':>12}{'/ (W @ x)':>12}")
    for name, seconds in median.items():
        label = "µs / trial-frame" if name == "8 trials" else ""
        print(f"{name:<20}{seconds * 1e6:>12.1f}{seconds / floor:>12.3f}  {label}")
    print("\ntargets:")
    print(f"  simulate_assembly / (W @ x) = {median['simulate_assembly'] / floor:.3f} (target <= 1.3)")
    print(f"  naive loop / (W @ x) = {median['naive loop'] / floor:.3f} (reference, about 1.9 expected)")
    ratio = median["8 trials"] / median["simulate_assembly"]
    print(f"  8 trials per trial-frame / one trial = {ratio:.3f} (target <= 0.5)")

    if torch.cuda.is_available():
        print(f"\nGPU: {torch.cuda.get_device_name()}")
        for size in (1000, 8000):
            simulate_assembly(
                n_neurons=size, n_frames=2000, warmup=10, device="cuda", progress=False
            )  # warm-up
            torch.cuda.synchronize()
            start = time.perf_counter()
            simulate_assembly(n_neurons=size, n_frames=20_000, warmup=0, device="cuda", progress=False)
            torch.cuda.synchronize()
            print(f"  N = {size}: {20_000 / (time.perf_counter() - start):,.0f} frames/s")


if __name__ == "__main__":
    main()
