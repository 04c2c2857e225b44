"""Speed of ccnn.graph against the reference implementations, measured in one run.

Targets (issue 16), CPU, n = 1000 nodes (a random spatial graph at ~1 % density) and the
mice connectome's scale (332 regions, 66 % density): at least 10 × the reference for
average controllability (discrete and continuous), modal controllability, navigation,
betweenness, clustering and 100 degree-preserving nulls, with the same values; on a batch
of 32 graphs the per-graph cost well under the single-graph cost; a 1000-point generative
model grid on a 100-node target faster than bctpy's ``generative_model`` point by point.

References, each used only when installed: nctpy (MIT; the ``dev`` extra), networkx (a
ccnn dependency) and bctpy (GPL-3: called here when the user has it, never a dependency of
ccnn and never copied). A reference that is missing leaves its row's ratio empty.

Each row prints our seconds, the reference's seconds, the speed-up (reference / ours) and
the largest difference of the values (absolute, and relative to the largest reference
value). References slower than ``--reference-budget`` seconds on a first call are timed once.

Usage::

    python benchmarks/graph_speed.py [--n 1000] [--density 0.01] [--batch 32]
        [--grid 1000] [--parts spatial mice batch generative] [--skip name ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch

import ccnn.graph as cg
from ccnn.graph import generative

torch.set_default_dtype(torch.float64)

PARTS = ("spatial", "mice", "batch", "generative")


def optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception:  # a reference that is missing or broken on this numpy: no row ratio
        return None


def spatial_graph(n: int, density: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric weighted graph on random points of the unit cube, edge probability falling
    exponentially with distance, scaled to the wanted density; log-normal weights."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, 3))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    affinity = np.exp(-distances / 0.15)
    np.fill_diagonal(affinity, 0)
    scale = density * n * (n - 1) / affinity.sum()
    upper = np.triu(rng.random((n, n)) < np.minimum(1.0, scale * affinity), 1)
    weights = upper * rng.lognormal(0.0, 0.5, (n, n))
    weights = weights + weights.T
    # connect isolated nodes to their nearest neighbour, so that paths and controllability are defined
    for i in np.flatnonzero(weights.sum(1) == 0):
        j = np.argsort(distances[i])[1]
        weights[i, j] = weights[j, i] = 1.0
    return weights, distances


def mice_scale() -> tuple[np.ndarray, None] | None:
    try:
        from ccnn.data import load_connectome

        weights = load_connectome("mice").weights.double().numpy()
    except Exception:
        return None
    return weights / weights.max(), None


def seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds over ``repeats`` calls (after one warm-up call that also gives the value)."""
    start = time.perf_counter()
    value = fn()
    first = time.perf_counter() - start
    if repeats <= 1:
        return first, value
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def difference(ours: Any, theirs: Any) -> tuple[float, float]:
    a = np.asarray(ours, dtype=float)
    b = np.asarray(theirs, dtype=float)
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return math.inf, math.inf
    if not finite.any():
        return 0.0, 0.0
    gap = float(np.abs(a[finite] - b[finite]).max())
    return gap, gap / max(float(np.abs(b[finite]).max()), 1e-300)


class Table:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[dict[str, Any]] = []
        print(
            f"{'graph':<14}{'measure':<34}{'ours s':>10}{'reference':>22}{'ref s':>10}"
            f"{'speed-up':>10}{'max |diff|':>12}{'rel':>10}"
        )

    def row(
        self,
        graph: str,
        name: str,
        ours: Callable[[], Any],
        reference: tuple[str, Callable[[], Any]] | None,
        *,
        compare: Callable[[Any, Any], tuple[float, float]] = difference,
    ) -> None:
        if any(skip in name for skip in self.args.skip):
            return
        ours_s, ours_value = seconds(ours, self.args.repeats)
        ref_name, ref_s, gap, rel = "-", math.nan, math.nan, math.nan
        if reference is not None:
            ref_name, ref_fn = reference
            start = time.perf_counter()
            ref_value = ref_fn()
            ref_s = time.perf_counter() - start
            if ref_s < self.args.reference_budget and self.args.repeats > 1:
                ref_s, _ = seconds(ref_fn, self.args.repeats)
            gap, rel = compare(ours_value, ref_value)
        speedup = ref_s / ours_s if ours_s > 0 else math.nan
        self.rows.append(
            {
                "graph": graph,
                "measure": name,
                "ours_s": ours_s,
                "reference": ref_name,
                "reference_s": ref_s,
                "speedup": speedup,
                "max_abs_diff": gap,
                "max_rel_diff": rel,
            }
        )
        print(
            f"{graph:<14}{name:<34}{ours_s:>10.4f}{ref_name:>22}{ref_s:>10.3f}"
            f"{speedup:>9.1f}x{gap:>12.2e}{rel:>10.1e}",
            flush=True,
        )


def nx_graph(weights: np.ndarray, attribute: str, values: np.ndarray) -> nx.Graph:
    """networkx graph of a symmetric matrix, the edge attribute set from ``values``."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(weights)))
    rows, cols = np.nonzero(np.triu(weights, 1))
    graph.add_weighted_edges_from(zip(rows, cols, values[rows, cols], strict=True), weight=attribute)
    return graph


def lengths_of(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(weights > 0, 1.0 / weights, 0.0)


def graph_rows(table: Table, label: str, weights: np.ndarray, distances: np.ndarray | None) -> None:
    nct = optional("nctpy.metrics")
    nct_utils = optional("nctpy.utils")
    bct = optional("bct")
    a = torch.from_numpy(weights)

    def nct_ref(system: str, fn: Callable[..., Any]) -> tuple[str, Callable[[], Any]] | None:
        if nct is None:
            return None
        return "nctpy", lambda: fn(nct_utils.matrix_normalization(weights, system=system, c=1), system)

    table.row(
        label,
        "average controllability, discrete",
        lambda: cg.average_controllability(a, time="discrete"),
        nct_ref("discrete", lambda m, s: nct.ave_control(m, system=s)),
    )
    table.row(
        label,
        "average controllability, continuous",
        lambda: cg.average_controllability(a, time="continuous"),
        nct_ref("continuous", lambda m, s: nct.ave_control(m, system=s)),
    )
    table.row(
        label,
        "modal controllability",
        lambda: cg.modal_controllability(a),
        nct_ref("discrete", lambda m, s: nct.modal_control(m)),
    )
    graph = nx_graph(weights, "length", lengths_of(weights))
    table.row(
        label,
        "betweenness (inverse lengths)",
        lambda: cg.betweenness(a, length="inverse"),
        (
            "networkx",
            lambda: list(nx.betweenness_centrality(graph, weight="length", normalized=False).values()),
        ),
    )
    if bct is not None:
        # bctpy counts ordered pairs: twice networkx's undirected value
        table.row(
            label,
            "betweenness (inverse lengths)",
            lambda: 2 * cg.betweenness(a, length="inverse"),
            ("bctpy", lambda: bct.betweenness_wei(lengths_of(weights))),
        )
    weighted = nx_graph(weights, "weight", weights)
    table.row(
        label,
        "clustering (weighted, Onnela)",
        lambda: cg.clustering(a),
        ("networkx", lambda: list(nx.clustering(weighted, weight="weight").values())),
    )
    if distances is not None:
        d = torch.from_numpy(distances)

        def ours_navigation() -> np.ndarray:
            result = cg.navigation(a, d, length="inverse")
            return np.where(result.success.numpy(), result.path_length.numpy(), np.inf)

        def bct_navigation() -> np.ndarray:
            # bctpy: L[i, j] the length from i to j; its PL_wei has inf for failed routes
            _, _, pl_wei, _, _ = bct.navigation_wu(lengths_of(weights), distances)
            out = np.array(pl_wei, dtype=float).T
            np.fill_diagonal(out, 0.0)
            return out

        table.row(
            label,
            "navigation (path lengths)",
            ours_navigation,
            None if bct is None else ("bctpy", bct_navigation),
        )
    nulls = table.args.nulls
    if float(cg.density(a)) > 0.5:
        print(f"{label:<14}degree-preserving nulls skipped: a graph this dense admits few swaps")
        return

    def degrees_kept(ours: Any, theirs: Any) -> tuple[float, float]:
        kept = (torch.as_tensor(ours) != 0).sum(-1) - (a != 0).sum(-1)
        return float(kept.abs().max()), 0.0

    table.row(
        label,
        f"{nulls} degree-preserving nulls",
        lambda: cg.randomise_preserving_degree(a, n_nulls=nulls, seed=0),
        None
        if bct is None
        else ("bctpy randmio_und", lambda: [bct.randmio_und(weights, 10, seed=s)[0] for s in range(nulls)]),
        compare=degrees_kept,
    )


def batch_rows(table: Table, n: int, density: float, batch: int) -> None:
    """Per-graph seconds of a batch of ``batch`` graphs against one graph alone."""
    graphs = [spatial_graph(n, density, seed) for seed in range(batch)]
    single = torch.from_numpy(graphs[0][0])
    stacked = torch.stack([torch.from_numpy(w) for w, _ in graphs])
    distances = torch.stack([torch.from_numpy(d) for _, d in graphs])
    measures: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
        "average controllability, discrete": lambda a, d: cg.average_controllability(a, time="discrete"),
        "average controllability, continuous": lambda a, d: cg.average_controllability(a, time="continuous"),
        "modal controllability": lambda a, d: cg.modal_controllability(a),
        "betweenness (inverse lengths)": lambda a, d: cg.betweenness(a),
        "clustering (weighted, Onnela)": lambda a, d: cg.clustering(a),
        "navigation (path lengths)": lambda a, d: cg.navigation(a, d),
        "global efficiency": lambda a, d: cg.global_efficiency(a),
    }
    print(f"\nbatch of {batch} graphs, n = {n}: seconds per graph, batched against one graph alone")
    print(f"{'measure':<40}{'one graph s':>14}{'per graph in batch s':>24}{'ratio':>8}")
    for name, fn in measures.items():
        if any(skip in name for skip in table.args.skip):
            continue
        one, _ = seconds(lambda fn=fn: fn(single, distances[0]), table.args.repeats)
        many, _ = seconds(lambda fn=fn: fn(stacked, distances), max(1, table.args.repeats // 2))
        per_graph = many / batch
        table.rows.append(
            {"graph": f"batch {batch} x n={n}", "measure": name, "single_s": one, "per_graph_s": per_graph}
        )
        print(f"{name:<40}{one:>14.5f}{per_graph:>24.5f}{per_graph / one:>8.2f}", flush=True)


def generative_rows(table: Table, n: int, points: int, reference_points: int) -> None:
    """A ``points``-point (eta, gamma) grid of the matching rule on an n-node spatial target."""
    weights, distances = spatial_graph(n, 0.08, seed=1)
    target = torch.from_numpy((weights > 0).astype(float))
    d = torch.from_numpy(distances)
    n_edges = int(target.triu(1).sum())
    side = int(math.sqrt(points))
    eta = torch.linspace(-7, 0, side)
    gamma = torch.linspace(-1, 3, points // side)
    grid_eta, grid_gamma = torch.meshgrid(eta, gamma, indexing="ij")
    total = grid_eta.numel()
    print(f"\ngenerative models: matching rule, {total}-point grid, n = {n}, {n_edges} edges")

    def ours_generate() -> torch.Tensor:
        return generative.generate("matching", grid_eta.flatten(), grid_gamma.flatten(), d, n_edges, seed=0)

    ours_s, graphs = seconds(ours_generate, 1)
    start = time.perf_counter()
    generative.generative_energy(graphs, target, d)
    energy_s = time.perf_counter() - start
    bct = optional("bct")
    ref_s = math.nan
    extrapolated = False
    if bct is not None:
        k = min(reference_points, total)
        start = time.perf_counter()
        bct.generative_model(
            np.zeros((n, n)),
            distances,
            n_edges,
            eta=grid_eta.flatten()[:k].tolist(),
            gamma=grid_gamma.flatten()[:k].tolist(),
            model_type="matching",
            seed=0,
        )
        ref_s = (time.perf_counter() - start) * total / k
        extrapolated = k < total
    note = f" (bctpy timed on {reference_points} points, scaled to {total})" if extrapolated else ""
    print(
        f"ours: growth {ours_s:.2f} s + energies {energy_s:.2f} s; "
        f"bctpy generative_model: {ref_s:.1f} s{note}"
    )
    print(
        f"speed-up (growth): {ref_s / ours_s:.1f}x; "
        f"including our energies: {ref_s / (ours_s + energy_s):.1f}x"
    )
    table.rows.append(
        {
            "graph": f"generative n={n}",
            "measure": f"matching rule, {total}-point grid",
            "ours_s": ours_s,
            "ours_energy_s": energy_s,
            "reference": "bctpy generative_model",
            "reference_s": ref_s,
            "reference_extrapolated": extrapolated,
            "speedup": ref_s / ours_s,
            "speedup_with_energy": ref_s / (ours_s + energy_s),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="nodes of the random spatial graph")
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--nulls", type=int, default=100, help="degree-preserving nulls in one call")
    parser.add_argument("--batch", type=int, default=32, help="graphs in the batched rows")
    parser.add_argument(
        "--batch-n", type=int, nargs="+", default=[30, 100], help="nodes of each graph in the batched rows"
    )
    parser.add_argument("--grid", type=int, default=1000, help="points of the generative-model grid")
    parser.add_argument("--generative-n", type=int, default=100)
    parser.add_argument(
        "--reference-points",
        type=int,
        default=1000,
        help="grid points bctpy's generative_model is timed on (scaled to the grid when fewer)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reference-budget", type=float, default=5.0, help="seconds; slower references run once"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="which tables: the n-node spatial graph, the mice connectome, batches, generative models",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], help="skip measures whose name contains one of these"
    )
    parser.add_argument("--json", type=Path, help="write the rows here (atomically)")
    args = parser.parse_args()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, numpy {np.__version__}, "
        f"networkx {nx.__version__}; references missing: "
        f"{[m for m in ('nctpy', 'bct') if optional(m) is None] or 'none'}"
    )
    table = Table(args)
    if "spatial" in args.parts:
        weights, distances = spatial_graph(args.n, args.density)
        graph_rows(table, f"spatial {args.n}", weights, distances)
    mice = mice_scale() if "mice" in args.parts else None
    if mice is not None:
        graph_rows(table, "mice 332", *mice)
    if "batch" in args.parts:
        for n in args.batch_n:
            batch_rows(table, n, 0.1, args.batch)
    if "generative" in args.parts:
        generative_rows(table, args.generative_n, args.grid, args.reference_points)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=args.json.parent, delete=False, suffix=".tmp") as handle:
            json.dump(
                {"args": {k: str(v) for k, v in vars(args).items()}, "rows": table.rows}, handle, indent=1
            )
        os.replace(handle.name, args.json)


if __name__ == "__main__":
    main()
