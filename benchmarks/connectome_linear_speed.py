"""Forward + backward speed of ConnectomeLinear against nn.Linear, measured in one run.

Targets (issue "Foundation"), CPU, batch 256, 4096 × 4096, the input requiring a gradient
(a hidden layer):

* dense backend with a full mask: at most 1.10 × the time of ``nn.Linear``;
* sparse backend at 1 % density: at least 10 × faster than ``nn.Linear``; at 5 %: faster;
* the crossover density, where the sparse backend stops beating ``nn.Linear``, sets
  ``ccnn.nn.connectome_linear.AUTO_SPARSE_MAX_DENSITY``.

Also shown for context: the dense backend with a partial mask (the cost of masking), and
``torch.nn.utils.prune.custom_from_mask`` (the usual way to mask a layer in PyTorch).

Usage::

    python benchmarks/connectome_linear_speed.py [--size 4096] [--batch 256] [--repeats 7]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings

import torch
import torch.nn.utils.prune
from torch import nn

from ccnn.nn import ConnectomeLinear, masks

warnings.filterwarnings("ignore", message="Sparse")


def fwd_bwd_seconds(layer: nn.Module, x: torch.Tensor, grad_out: torch.Tensor) -> float:
    layer.zero_grad(set_to_none=True)
    x.grad = None
    start = time.perf_counter()
    layer(x).backward(grad_out)
    return time.perf_counter() - start


def compare(layer: nn.Module, baseline: nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds of (layer, baseline), measured interleaved so that both see the same
    machine load (on shared CPUs nn.Linear alone varies by 1.5x between runs)."""
    grad_out = torch.randn(x.shape[0], layer.out_features)
    for _ in range(2):  # warm-up
        fwd_bwd_seconds(layer, x, grad_out)
        fwd_bwd_seconds(baseline, x, grad_out)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(fwd_bwd_seconds(layer, x, grad_out))
        theirs.append(fwd_bwd_seconds(baseline, x, grad_out))
    return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--densities", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]
    )
    args = parser.parse_args()
    n, batch = args.size, args.batch
    torch.manual_seed(0)
    x = torch.randn(batch, n, requires_grad=True)
    linear = nn.Linear(n, n)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n}x{n}, batch {batch}, fwd+bwd")
    print("each row: median of interleaved runs of the layer and nn.Linear\n")
    print(f"{'layer':<44}{'density':>8}{'ms':>9}{'nn.Linear ms':>14}{'time ratio':>12}{'speed-up':>10}")
    results: dict[str, tuple[float, float, float]] = {}

    def row(name: str, density: float, layer: nn.Module) -> None:
        ours, base = compare(layer, linear, x, args.repeats)
        results[name] = (density, ours, base)
        timings = f"{ours * 1e3:>9.1f}{base * 1e3:>14.1f}{ours / base:>12.3f}{base / ours:>9.1f}x"
        print(f"{name:<44}{density:>8.3f}{timings}")

    row(
        "ConnectomeLinear dense, full mask",
        1.0,
        ConnectomeLinear(n, n, torch.ones(n, n, dtype=torch.bool), backend="dense"),
    )
    row(
        "ConnectomeLinear dense, 50% mask",
        0.5,
        ConnectomeLinear(n, n, masks.erdos_renyi(n, n, 0.5, seed=0), backend="dense"),
    )
    for density in args.densities:
        mask = masks.erdos_renyi(n, n, density, seed=0)
        row(f"sparse {density:.1%}", density, ConnectomeLinear(n, n, mask, backend="sparse"))
        if density in (0.01, 0.05):
            row(f"dense {density:.0%}", density, ConnectomeLinear(n, n, mask, backend="dense"))
            pruned = nn.Linear(n, n)
            torch.nn.utils.prune.custom_from_mask(pruned, "weight", mask)
            row(f"nn.Linear + prune.custom_from_mask {density:.0%}", density, pruned)

    # Crossover: interpolate the time ratio of the sparse backend to 1.
    sparse = sorted(
        (d, ours / base) for name, (d, ours, base) in results.items() if name.startswith("sparse")
    )
    crossover = None
    for (d0, r0), (d1, r1) in itertools.pairwise(sparse):
        if r0 < 1 <= r1:
            crossover = d0 + (d1 - d0) * (1 - r0) / (r1 - r0)
    from ccnn.nn.connectome_linear import AUTO_SPARSE_MAX_DENSITY

    where = f"{crossover:.1%}" if crossover is not None else "outside the measured densities"
    print(f"\ncrossover density (sparse as fast as nn.Linear): {where}")
    print(f"'auto' picks sparse at density <= {AUTO_SPARSE_MAX_DENSITY:.0%}")

    def ratio(name: str) -> float:
        _, ours, base = results[name]
        return ours / base

    print("\ntargets:")
    print(
        f"  dense full mask / nn.Linear = {ratio('ConnectomeLinear dense, full mask'):.3f} (target <= 1.10)"
    )
    for density, target in ((0.01, ">= 10x"), (0.05, "> 1x")):
        name = f"sparse {density:.1%}"
        if name in results:
            print(f"  sparse {density:.0%} speed-up = {1 / ratio(name):.1f}x (target {target})")


if __name__ == "__main__":
    main()
