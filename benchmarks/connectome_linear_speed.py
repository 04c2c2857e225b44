"""Forward + backward speed of ConnectomeLinear against nn.Linear, measured in one run.

Rows: the dense backend with a full and a 50 % mask, and the sparse backend at each density
of ``--densities`` (default 0.1 %, 1 %, 5 %, 10 %: the grid of issue 20), each beside
``nn.Linear`` of the same size, timed interleaved (so that both see the same machine load),
with the input requiring a gradient (a hidden layer). Each sparse row shows the **arithmetic
limit**, dense multiply-adds over sparse ones = 1 / density, next to the measured speed-up.
At 1 % and 5 % the dense backend with the same mask and ``torch.nn.utils.prune`` are shown
too (the usual way to mask a layer in PyTorch).

Devices: the CPU at ``--size`` × ``--size``, batch ``--batch``; with a CUDA device, also the
GPU at the same size and at ``--gpu-size`` / ``--gpu-batch`` (16384, 1024: the sizes of the
issue's GPU targets). Targets (issue 20): CPU, 4096², batch 256: ≥ 10× at 1 %, ≥ 30× at
0.1 %; GPU: ≥ 20× at 16384², batch 1024, 1 %; not slower than dense at 4096², batch 256, 1 %.

Usage::

    python benchmarks/connectome_linear_speed.py [--size 4096] [--batch 256] [--repeats 7]
        [--densities 0.001 0.01 0.05 0.1] [--no-gpu] [--layouts]

``--layouts`` also times the forward product in every sparse layout and route torch offers on
the CPU (CSR, COO, column-major operands, dense @ sparse, an edge-list gather / scatter), the
measurements behind the backend's choice of CSR with a contiguous (in, batch) operand.
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fwd_bwd_seconds(layer: nn.Module, x: torch.Tensor, grad_out: torch.Tensor) -> float:
    layer.zero_grad(set_to_none=True)
    x.grad = None
    _sync(x.device)
    start = time.perf_counter()
    layer(x).backward(grad_out)
    _sync(x.device)
    return time.perf_counter() - start


def compare(layer: nn.Module, baseline: nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds of (layer, baseline), measured interleaved so that both see the same
    machine load (on shared CPUs nn.Linear alone varies by 1.5x between runs)."""
    grad_out = torch.randn(x.shape[0], layer.out_features, device=x.device)
    for _ in range(2):  # warm-up
        fwd_bwd_seconds(layer, x, grad_out)
        fwd_bwd_seconds(baseline, x, grad_out)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(fwd_bwd_seconds(layer, x, grad_out))
        theirs.append(fwd_bwd_seconds(baseline, x, grad_out))
    return statistics.median(ours), statistics.median(theirs)


def table(device: torch.device, n: int, batch: int, densities: list[float], repeats: int) -> dict[str, tuple]:
    """Print and return ``{row name: (density, ours s, nn.Linear s)}`` for one device and size."""
    torch.manual_seed(0)
    x = torch.randn(batch, n, device=device, requires_grad=True)
    linear = nn.Linear(n, n, device=device)
    where = (
        f"{torch.get_num_threads()} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
    )
    print(f"\n{device.type.upper()} ({where}), {n}x{n}, batch {batch}, forward + backward")
    print(f"{'layer':<40}{'density':>8}{'ms':>9}{'nn.Linear ms':>14}{'speed-up':>10}{'arith. limit':>14}")
    results: dict[str, tuple] = {}

    def row(name: str, density: float, layer: nn.Module, limit: bool = False) -> None:
        ours, base = compare(layer.to(device), linear, x, repeats)
        results[name] = (density, ours, base)
        bound = f"{1 / density:>13.0f}x" if limit else f"{'':>14}"
        print(f"{name:<40}{density:>8.3f}{ours * 1e3:>9.2f}{base * 1e3:>14.2f}{base / ours:>9.1f}x{bound}")

    row(
        "dense backend, full mask",
        1.0,
        ConnectomeLinear(n, n, torch.ones(n, n, dtype=torch.bool), backend="dense"),
    )
    row(
        "dense backend, 50% mask",
        0.5,
        ConnectomeLinear(n, n, masks.erdos_renyi(n, n, 0.5, seed=0), backend="dense"),
    )
    for density in densities:
        mask = masks.erdos_renyi(n, n, density, seed=0)
        row(f"sparse {density:.1%}", density, ConnectomeLinear(n, n, mask, backend="sparse"), limit=True)
        if density in (0.01, 0.05):
            row(f"dense backend {density:.0%}", density, ConnectomeLinear(n, n, mask, backend="dense"))
            pruned = nn.Linear(n, n)
            torch.nn.utils.prune.custom_from_mask(pruned, "weight", mask)
            row(f"nn.Linear + prune.custom_from_mask {density:.0%}", density, pruned)
    sparse = sorted(
        (d, ours / base) for name, (d, ours, base) in results.items() if name.startswith("sparse")
    )
    crossover = None
    for (d0, r0), (d1, r1) in itertools.pairwise(sparse):
        if r0 < 1 <= r1:  # interpolate the time ratio of the sparse backend to 1
            crossover = d0 + (d1 - d0) * (1 - r0) / (r1 - r0)
    found = f"{crossover:.1%}" if crossover is not None else "outside the measured densities"
    print(f"crossover density (sparse as fast as nn.Linear): {found}")
    return results


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def layouts(n: int, batch: int, density: float, repeats: int) -> None:
    """The sparse product ``W @ x`` (forward only, CPU) in each layout torch offers, to show why
    the sparse backend uses CSR with a contiguous (in, batch) operand."""
    mask = masks.erdos_renyi(n, n, density, seed=0)
    rows, cols = mask.nonzero(as_tuple=True)
    values = torch.randn(rows.numel())
    x = torch.randn(batch, n)
    x_t = x.t().contiguous()
    csr = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce().to_sparse_csr()
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce()

    def column_major() -> torch.Tensor:  # MKL on column-major operands: no transposes needed
        out = torch.empty(batch, n).t()
        return torch.addmm(out, csr, x.t(), beta=0.0, out=out)

    candidates = {
        "CSR @ contiguous (in, batch) [used]": lambda: torch.sparse.mm(csr, x_t),
        "CSR @ (in, batch), incl. the transpose of x": lambda: torch.sparse.mm(csr, x.t().contiguous()),
        "CSR @ column-major x, column-major out": column_major,
        "COO @ contiguous (in, batch)": lambda: torch.sparse.mm(coo, x_t),
        "x @ CSRᵀ (dense @ sparse)": lambda: x @ csr.t(),
        "gather + index_add over the edge list": lambda: torch.zeros(n, batch).index_add_(
            0, rows, x_t.index_select(0, cols) * values[:, None]
        ),
    }
    print(f"\nlayouts: W @ x at {n}x{n}, {density:.1%}, batch {batch}, forward only (CPU)")
    for name, fn in candidates.items():
        print(f"  {name:<48}{median_ms(fn, repeats):>9.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--gpu-size", type=int, default=16384)
    parser.add_argument("--gpu-batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--densities", type=float, nargs="+", default=[0.001, 0.01, 0.05, 0.1])
    parser.add_argument("--no-gpu", action="store_true", help="CPU rows only")
    parser.add_argument("--layouts", action="store_true", help="also time W @ x in each sparse layout")
    args = parser.parse_args()
    print(f"torch {torch.__version__}; each row: median of interleaved runs of the layer and nn.Linear")
    from ccnn.nn.connectome_linear import AUTO_SPARSE_MAX_DENSITY

    speedups: list[tuple[str, float, str]] = []
    cpu = table(torch.device("cpu"), args.size, args.batch, args.densities, args.repeats)
    for density, target in ((0.01, ">= 10x"), (0.001, ">= 30x")):
        name = f"sparse {density:.1%}"
        if name in cpu:
            speedups.append((f"CPU {args.size}², {name}", cpu[name][2] / cpu[name][1], target))
    if args.layouts:
        layouts(args.size, args.batch, 0.01, args.repeats)
    if torch.cuda.is_available() and not args.no_gpu:
        gpu = torch.device("cuda")
        small = table(gpu, args.size, args.batch, args.densities, args.repeats)
        large = table(gpu, args.gpu_size, args.gpu_batch, args.densities, args.repeats)
        for label, rows, target in (
            (f"GPU {args.size}²", small, ">= 1x"),
            (f"GPU {args.gpu_size}²", large, ">= 20x"),
        ):
            if "sparse 1.0%" in rows:
                speedups.append(
                    (f"{label}, sparse 1.0%", rows["sparse 1.0%"][2] / rows["sparse 1.0%"][1], target)
                )
    print(f"\n'auto' picks sparse on the CPU at density <= {AUTO_SPARSE_MAX_DENSITY:.0%}")
    full = cpu["dense backend, full mask"]
    print("targets:")
    print(f"  CPU dense backend, full mask: {full[1] / full[2]:.3f} x nn.Linear's time (target <= 1.10)")
    for label, speedup, target in speedups:
        print(f"  {label}: {speedup:.1f}x faster than nn.Linear (target {target})")


if __name__ == "__main__":
    main()
