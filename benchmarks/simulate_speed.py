"""Speed of the neural-assembly simulator against the floor of one matrix-vector product.

Targets (issue "Simulated neural assemblies"), N = 1000, 10⁵ frames, CPU:

* time per frame ≤ 1.3 × the time of ``W @ x`` alone;
* a straightforward per-step loop (``x = x + dt·(−c x + s tanh x + g W @ tanh x)``,
  storing every frame) for comparison;
* with 8 batched trials, time per trial-frame ≤ 0.5 × that of one trial.

The frames are split over rounds; each round times all four back to back and the ratios
are taken within rounds (paired), then their median, so that slow phases of a shared
machine hit every variant alike. On a GPU it also prints frames/s
at N = 1000 and 8000.

Usage::

    python benchmarks/simulate_speed.py [--neurons 1000] [--frames 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ccnn.data import simulate_assembly, simulate_assembly_trials
from ccnn.data.activity.simulation import BASELINE_TYPE_PARAMS, lorentz_connectivity


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
    warmup = 1000  # integrated, so counted in the time per step
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
    parser.add_argument("--frames", type=int, default=100_000, help="frames in all, split over the rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    n, per_round = args.neurons, args.frames // args.rounds
    weights = lorentz_connectivity(n, seed=0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, N = {n}, "
        f"{args.rounds} rounds of {per_round} frames ({args.rounds * per_round} in all)"
    )
    names = ("W @ x", "naive loop", "simulate_assembly", f"{args.trials} trials")
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        # Within a round the variants run back to back: their ratios are paired.
        times["W @ x"].append(matvec_seconds_per_step(weights, per_round))
        times["naive loop"].append(naive_seconds_per_step(weights, per_round))
        times["simulate_assembly"].append(simulator_seconds_per_step(n, per_round, 1))
        times[names[3]].append(simulator_seconds_per_step(n, per_round // args.trials, args.trials))

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    print(f"\n{'':<20}{'µs / frame':>12}{'/ (W @ x)':>12}")
    for name in names:
        unit = "per trial-frame" if "trials" in name else ""
        print(f"{name:<20}{statistics.median(times[name]) * 1e6:>12.1f}{ratio(name, 'W @ x'):>12.3f}  {unit}")
    print("(medians over rounds; ratios are medians of the per-round ratios)")
    print("\ntargets:")
    print(f"  simulate_assembly / (W @ x) = {ratio('simulate_assembly', 'W @ x'):.3f} (target <= 1.3)")
    print(f"  naive loop / (W @ x) = {ratio('naive loop', 'W @ x'):.3f} (reference, about 1.9 expected)")
    trials = ratio(names[3], "simulate_assembly")
    print(f"  {args.trials} trials per trial-frame / one trial = {trials:.3f} (target <= 0.5)")

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
