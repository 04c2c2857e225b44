"""A ConnectomeRNN on the whole fly optic lobe (flyvis_fib25): time per step, forward + backward.

    python benchmarks/flyvis_rnn_speed.py [--extent 15] [--batch 4] [--steps 10] [--device cpu|cuda]

The recurrent layer is the neuron-level flyvis connectome (``load_connectome("flyvis_fib25")``:
45,669 neurons, 1,513,231 connections at extent 15) as a sparse :class:`ccnn.nn.ConnectomeLinear`
with the per-connection signs and one shared strength per edge type (``share_by``, flyvis'
parameter tying). Reported: milliseconds per time step (forward and backward through the
unrolled sequence, divided by the number of steps), and the dense equivalent. A dense
N × N recurrent matrix at extent 15 needs 8.3 GB (float32) plus as much for its gradient, so
it is timed only where ``N ≤ --dense-max`` (default 12,000); above that, the dense time is
*extrapolated* from ``nn.Linear``'s measured throughput at ``--dense-max`` (FLOPs scale as N²),
and the row says so. The arithmetic limit is N² / connections (dense multiply-adds over
sparse ones).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_step(rnn: torch.nn.Module, inputs: torch.Tensor, repeats: int) -> float:
    """Median over ``repeats`` of one forward + backward through the sequence, per step."""
    device = inputs.device
    times = []
    for repeat in range(repeats + 1):  # the first is a warm-up
        rnn.zero_grad(set_to_none=True)
        _sync(device)
        start = time.perf_counter()
        outputs, _ = rnn(inputs)
        outputs.square().mean().backward()
        _sync(device)
        if repeat:
            times.append(time.perf_counter() - start)
    return statistics.median(times) / inputs.shape[0]


def dense_linear_seconds(n: int, batch: int, steps: int, device: torch.device, repeats: int) -> float:
    """Forward + backward of ``steps`` dense n × n products (the dense recurrent part), per step."""
    layer = torch.nn.Linear(n, n, bias=False, device=device)
    x = torch.randn(steps, batch, n, device=device, requires_grad=True)
    times = []
    for repeat in range(repeats + 1):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        _sync(device)
        start = time.perf_counter()
        layer(x).square().mean().backward()
        _sync(device)
        if repeat:
            times.append(time.perf_counter() - start)
    return statistics.median(times) / steps


def main(argv: list[str] | None = None) -> None:
    from ccnn.data import load_connectome
    from ccnn.nn import ConnectomeRNN

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extent", type=int, default=15)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-max", type=int, default=12_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    start = time.perf_counter()
    connectome = load_connectome("flyvis_fib25", extent=args.extent)
    n, edges = connectome.num_nodes, connectome.num_edges
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rnn = ConnectomeRNN(
        8, n, connectome, sign=connectome.edge_attr_matrix("sign"),
        share_by=connectome.edge_attrs["edge_type"], nonlinearity="relu", tau=5.0, bias=True,
    ).to(device)  # fmt: skip
    build_seconds = time.perf_counter() - start
    recurrent = rnn.cell.recurrent
    inputs = torch.randn(args.steps, args.batch, 8, device=device)
    sparse = seconds_per_step(rnn, inputs, args.repeats)

    dense_n = min(n, args.dense_max)
    dense = dense_linear_seconds(dense_n, args.batch, args.steps, device, args.repeats)
    extrapolated = dense_n < n
    dense_full = dense * (n / dense_n) ** 2
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads")
    print(
        f"flyvis_fib25 extent {args.extent}: {n:,} neurons, {edges:,} connections "
        f"(density {edges / n**2:.3%})"
    )
    print(f"load {load_seconds:.1f} s, layer build {build_seconds:.1f} s; {recurrent.extra_repr()}")
    print(f"batch {args.batch}, {args.steps} steps, forward + backward through time, per step:")
    print(f"  ConnectomeRNN (sparse, shared by edge type): {sparse * 1e3:9.2f} ms")
    how = f"extrapolated from nn.Linear at N = {dense_n:,} (N² scaling)" if extrapolated else "measured"
    print(f"  dense N × N recurrent product:              {dense_full * 1e3:9.2f} ms ({how})")
    print(f"  speed-up {dense_full / sparse:.1f}x; arithmetic limit N² / connections = {n * n / edges:.0f}x")
    if extrapolated:
        print(
            f"  (a dense recurrent matrix would need {n * n * 4 / 1e9:.1f} GB, and as much for its gradient)"
        )


if __name__ == "__main__":
    main()
