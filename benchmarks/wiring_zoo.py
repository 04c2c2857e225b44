"""The wiring-cost zoo side by side: every model × regulariser × task × seed, same metrics.

    python benchmarks/wiring_zoo.py --out runs/wiring_zoo --sweep         # the whole table
    python benchmarks/wiring_zoo.py --out runs/wiring_zoo --targets       # the issue's targets only
    python benchmarks/wiring_zoo.py --out runs/wiring_zoo --seeds 2 --models bimt_mlp sernn
    python benchmarks/wiring_zoo.py --out runs/wiring_zoo --report        # table + figures only

Each cell trains one model (Adam, the epochs of ``EPOCHS`` / ``RNN_EPOCHS``) on one task,
tests it, and appends one JSON line to ``<out>/results.jsonl`` (a rerun skips the cells
already there, so an interrupted run resumes). Models (``MODELS``): the distance-masked
``connectome_mlp`` (mask length constant twice the inputs' spacing, a mask per seed),
``bimt_mlp`` (its ``none`` row is the dense MLP), ``spatial_net``, ``dann_mlp`` (DANN and
ColumnEI), ``sernn``, the ``connectome_reservoir`` on ``hcp`` and on its degree-preserving
rewired null (paired: the same input weights per seed), and the wiring-cost pruning rows (a
dense MLP whose hidden layers :class:`ccnn.callbacks.WiringPruning` prunes to 5 % of their
connections, highest |w|·d first, the issue's rule, or highest d/|w|: long, weak ones
first). Regularisers: the model's own, ``l1`` (same strength, no space) and ``none``.
Tasks: ``mnist1d``, ``mnist1d_shuffled``, ``digits``, ``two_task`` (a digit and an MNIST-1D
signal side by side, two heads) and, for the recurrent models, ``delayed_match`` and
``delayed_recall`` (memory). Metrics: test accuracy (mean over tasks), weight density
(|w| > 1 % of its layer's largest), wiring cost Σ|w|·d, modularity Q (Louvain on |W|),
small-worldness σ (recurrent models) and the fraction of task-specialised hidden units
(two-task; of all units, and of those whose ablation costs some task > 5 points).
``--sweep`` adds the λ sweeps of ``SWEEPS`` (Q and accuracy against λ: seRNN on the memory
task, BIMT on the two-task set).

Writes ``<out>/table.md`` (mean ± std over seeds), ``<out>/summary.json``,
``<out>/accuracy_vs_cost.png`` and ``<out>/q_vs_lambda.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TASKS = ("mnist1d", "mnist1d_shuffled", "digits", "two_task")
MEMORY = "delayed_match"
RECALL = "delayed_recall"  # the same trials, labelled by the sample (pure memory)
MEMORY_TASKS = (MEMORY, RECALL)
REGULARIZERS = ("own", "l1", "none")
RECURRENT = ("sernn", "reservoir_hcp", "reservoir_hcp_null", "reservoir_celegans", "reservoir_celegans_null")
#: Run on the memory tasks only (a second connectome for the reservoir-vs-null question).
MEMORY_ONLY = ("reservoir_celegans", "reservoir_celegans_null")
BIMT_SCHEDULE = [[0.25, 10], [0.5, 100]]
#: Benchmark key -> (registry name, fixed model arguments, own wiring weight λ).
MODELS: dict[str, tuple[str, dict[str, Any], float]] = {
    "connectome_mlp": (
        "connectome_mlp",
        {"hidden": [256, 256], "wiring_schedule": [[0.25, 10], [0.5, 100]]},
        1e-4,
    ),
    "bimt_mlp": ("bimt_mlp", {"hidden": [256, 256]}, 1.0),
    "spatial_net": ("spatial_net", {"hidden": [256, 256], "wiring_schedule": BIMT_SCHEDULE}, 1.0),
    "dann_mlp": (
        "dann_mlp",
        {"hidden": [256, 256], "variant": "dann", "wiring_schedule": BIMT_SCHEDULE},
        1.0,
    ),
    "colei_mlp": (
        "dann_mlp",
        {"hidden": [256, 256], "variant": "colei", "wiring_schedule": BIMT_SCHEDULE},
        1.0,
    ),
    "pruned_mlp": ("bimt_mlp", {"hidden": [256, 256], "swap_every": 0, "wiring_schedule": None}, 0.0),
    "pruned_mlp_length_per_weight": (
        "bimt_mlp",
        {"hidden": [256, 256], "swap_every": 0, "wiring_schedule": None},
        0.0,
    ),
    "sernn": ("sernn", {}, 1e-3),
    # A faster readout (lr 0.02): only it learns, and 30 epochs at 3e-3 left it short.
    "reservoir_hcp": ("connectome_reservoir", {"connectome": "hcp", "density": 0.1, "lr": 0.02}, 0.0),
    "reservoir_hcp_null": (
        "connectome_reservoir",
        {"connectome": "hcp", "density": 0.1, "rewired": True, "lr": 0.02},
        0.0,
    ),
    # C. elegans (Cook 2019, 473 cells, chemical synapses, 2.2 % dense): every connection kept.
    "reservoir_celegans": (
        "connectome_reservoir",
        {"connectome": "celegans_herm", "density": 0.1, "lr": 0.02},
        0.0,
    ),
    "reservoir_celegans_null": (
        "connectome_reservoir",
        {"connectome": "celegans_herm", "density": 0.1, "rewired": True, "lr": 0.02},
        0.0,
    ),
}
EPOCHS = {"mnist1d": 40, "mnist1d_shuffled": 40, "digits": 40, "two_task": 40, MEMORY: 30, RECALL: 30}
#: The recurrent models unroll 8–40 steps per sample: fewer epochs on the flat tasks.
RNN_NAMES = ("sernn", "connectome_reservoir")
RNN_EPOCHS = {**EPOCHS, "mnist1d": 20, "mnist1d_shuffled": 20, "digits": 20, "two_task": 20}
#: The (model, task) pairs of the issue's targets; ``--targets`` runs only these.
TARGETS = {
    *(
        (m, t)
        for m in ("connectome_mlp", "bimt_mlp", "pruned_mlp", "pruned_mlp_length_per_weight")
        for t in ("mnist1d", "mnist1d_shuffled")
    ),
    *((m, "two_task") for m in ("bimt_mlp", "spatial_net")),
    *((m, t) for m in ("reservoir_hcp", "reservoir_hcp_null", *MEMORY_ONLY) for t in MEMORY_TASKS),
}
#: Steps of an input vector fed to the recurrent models one chunk per step.
SEQ_LEN = {"mnist1d": 40, "mnist1d_shuffled": 40, "digits": 8, "two_task": 8}
#: λ sweeps (the "sweet spot" curves): model -> (task, weights, seeds).
SWEEPS = {
    "sernn": (MEMORY, (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2), 5),
    "bimt_mlp": ("two_task", (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0), 3),
}
PRUNE_TO = 0.05


def cells(
    models: list[str], tasks: list[str], seeds: int, sweep: bool, targets: bool = False
) -> list[dict[str, Any]]:
    out = []
    for key in models:
        task_list = [*tasks, *MEMORY_TASKS] if key in RECURRENT else list(tasks)
        if key in MEMORY_ONLY:
            task_list = list(MEMORY_TASKS)
        for task in task_list:
            if key == "connectome_mlp" and task == "two_task":
                continue  # one head only
            if targets and (key, task) not in TARGETS:
                continue
            regs = REGULARIZERS
            if key.startswith("reservoir"):
                regs = ("none",)  # a frozen reservoir has nothing to regularise
            elif key.startswith("pruned_mlp"):
                regs = ("prune",)
            for reg in regs:
                for seed in range(seeds):
                    out.append(
                        {"model": key, "task": task, "regularizer": reg, "seed": seed, "wiring_weight": None}
                    )
    if sweep:
        for key, (task, weights, sweep_seeds) in SWEEPS.items():
            for lam in weights:
                for seed in range(min(seeds, sweep_seeds)):
                    cell = {
                        "model": key,
                        "task": task,
                        "regularizer": "own",
                        "seed": seed,
                        "wiring_weight": lam,
                    }
                    out.append(cell)
    return out


def cell_id(cell: dict[str, Any]) -> str:
    lam = "" if cell["wiring_weight"] is None else f"@{cell['wiring_weight']:g}"
    return f"{cell['model']}/{cell['task']}/{cell['regularizer']}{lam}/{cell['seed']}"


def _datamodule(task: str, seed: int) -> Any:
    from ccnn import data

    if task == "two_task":
        return data.get("two_task", variant="digits_mnist1d", seed=seed)
    if task == MEMORY:
        return data.get(MEMORY, seed=seed)
    if task == RECALL:
        return data.get(MEMORY, rule="recall", seed=seed)
    return data.get(task, seed=seed)


def _spacing(positions: Any) -> float:
    import torch

    distances = torch.cdist(positions, positions)
    distances.fill_diagonal_(math.inf)
    return float(distances.min(1).values.median())


def build(cell: dict[str, Any]) -> tuple[Any, Any, list[Any]]:
    """The model, datamodule and callbacks of one cell."""
    from ccnn import models
    from ccnn.callbacks import WiringPruning

    key, task, reg = cell["model"], cell["task"], cell["regularizer"]
    name, fixed, own_weight = MODELS[key]
    datamodule = _datamodule(task, cell["seed"])
    kwargs: dict[str, Any] = {**fixed, "n_inputs": datamodule.n_inputs, "n_classes": datamodule.n_classes}
    if datamodule.input_positions is not None:
        kwargs["input_positions"] = datamodule.input_positions
    weight = own_weight if cell["wiring_weight"] is None else cell["wiring_weight"]
    callbacks: list[Any] = []
    if key == "connectome_mlp":
        kwargs["mask_kwargs"] = {"scale": 2 * _spacing(datamodule.input_positions)}
        kwargs["mask_seed"] = cell["seed"]  # each seed draws its own wiring
        kwargs["wiring_cost"] = {"own": "distance", "l1": "l1", "none": "none"}[reg]
        kwargs["wiring_weight"] = weight
    elif key.startswith("pruned_mlp"):
        kwargs.update(regularizer="none", wiring_weight=0.0)
        criterion = "length_per_weight" if key.endswith("length_per_weight") else "wiring_cost"
        # The hidden layers only: the readout stays dense, as connectome_mlp's does.
        hidden = [f"layers.{i}" for i in range(len(fixed["hidden"]))]
        pruning = WiringPruning(
            target_density=PRUNE_TO, criterion=criterion, start=0.2, end=0.8, modules=hidden
        )
        callbacks.append(pruning)
    else:
        kwargs.update(regularizer=reg, wiring_weight=weight)
    if name in ("sernn", "connectome_reservoir") and task not in MEMORY_TASKS:
        kwargs["seq_len"] = SEQ_LEN[task]
    if name == "connectome_reservoir":
        kwargs["rewire_seed"] = cell["seed"]
    return models.get(name, **kwargs), datamodule, callbacks


def _classifier_metrics(model: Any, datamodule: Any) -> dict[str, float]:
    """The zoo's network metrics for a ConnectomeClassifier (masked layers + readout)."""
    from ccnn.models.zoo import evaluation

    layers = model.masked_layers
    weights = [layer.weight.detach() for layer in layers] + [model.net[-1].weight.detach()]
    scaled = [w / w.abs().max() for w in weights]
    return {
        "density": evaluation.weight_density(weights),
        "cost": evaluation.wiring_cost(
            [w.detach() for w in weights[:-1]], [layer.distances() for layer in layers]
        ),
        "modularity": evaluation.modularity_q(evaluation.layered_adjacency(scaled)),
        "small_worldness": math.nan,
        "mask_density": float(np.mean([layer.density for layer in layers])),
    }


def run_cell(cell: dict[str, Any], threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    import lightning as L

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    L.seed_everything(cell["seed"], verbose=False)
    model, datamodule, callbacks = build(cell)
    trainer = L.Trainer(
        max_epochs=(RNN_EPOCHS if MODELS[cell["model"]][0] in RNN_NAMES else EPOCHS)[cell["task"]],
        check_val_every_n_epoch=5,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        accelerator="cpu",
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule)
    fit_seconds = time.perf_counter() - start
    results = trainer.test(model, datamodule, verbose=False)[0]
    if hasattr(model, "test_metrics"):
        metrics = dict(model.test_metrics)
    else:
        metrics = _classifier_metrics(model, datamodule)
        metrics["acc"] = float(results["test/acc"])
    return {
        **cell,
        **{k: (float(v) if v is not None else math.nan) for k, v in metrics.items()},
        "fit_seconds": fit_seconds,
    }


# ---------------------------------------------------------------------- report
def _stats(rows: list[dict[str, Any]], key: str) -> tuple[float, float]:
    values = np.array([r.get(key, math.nan) for r in rows], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _fmt(mean: float, std: float, scale: float = 1.0, digits: int = 1) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


COLUMNS = (
    ("acc", 100, 1, "accuracy %"),
    ("density", 100, 1, "density %"),
    ("cost", 1, 1, "Σ|w|·d"),
    ("modularity", 1, 2, "Q"),
    ("small_worldness", 1, 2, "σ"),
    ("specialisation", 100, 0, "specialised %"),
    ("specialisation_active", 100, 0, "specialised of active %"),
)


def report(out: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["wiring_weight"] is None:
            groups[(row["task"], row["model"], row["regularizer"])].append(row)
    summary: dict[str, Any] = {}
    lines = []
    for task in (*TASKS, *MEMORY_TASKS):
        keys = [k for k in groups if k[0] == task]
        if not keys:
            continue
        lines += [
            f"\n**{task}**\n",
            "| model | regulariser | seeds | " + " | ".join(c[3] for c in COLUMNS) + " |",
            "|---|---|---|" + "---|" * len(COLUMNS),
        ]
        for key in sorted(keys, key=lambda k: (list(MODELS).index(k[1]), k[2])):
            group = groups[key]
            stats = {c[0]: _stats(group, c[0]) for c in COLUMNS}
            summary.setdefault(task, {}).setdefault(key[1], {})[key[2]] = {
                **{f"{k}_mean": v[0] for k, v in stats.items()},
                **{f"{k}_std": v[1] for k, v in stats.items()},
                "seeds": len(group),
            }
            cells_text = []
            for name, scale, digits, _ in COLUMNS:
                text = _fmt(*stats[name], scale=scale, digits=digits)
                finite = sum(math.isfinite(r.get(name, math.nan)) for r in group)
                # e.g. no unit of a dense network matters alone: say over how many seeds
                cells_text.append(text if finite in (0, len(group)) else f"{text} ({finite}/{len(group)})")
            lines.append(f"| {key[1]} | {key[2]} | {len(group)} | " + " | ".join(cells_text) + " |")
    sweeps: dict[str, dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["wiring_weight"] is not None:
            sweeps[row["model"]][row["wiring_weight"]].append(row)
    for key, sweep in sweeps.items():
        lines += [
            f"\n**{key} λ sweep, {SWEEPS[key][0]}**\n",
            "| λ | seeds | accuracy % | density % | Q | σ |",
            "|---|---|---|---|---|---|",
        ]
        for lam in sorted(sweep):
            group = sweep[lam]
            acc, dens, q, sw = (_stats(group, k) for k in ("acc", "density", "modularity", "small_worldness"))
            values = [_fmt(*acc, 100), _fmt(*dens, 100), _fmt(*q, 1, 2), _fmt(*sw, 1, 2)]
            lines.append(f"| {lam:g} | {len(group)} | " + " | ".join(values) + " |")
            summary.setdefault(f"{key}_sweep", {})[f"{lam:g}"] = {
                "acc_mean": acc[0],
                "acc_std": acc[1],
                "modularity_mean": q[0],
                "modularity_std": q[1],
                "density_mean": dens[0],
                "small_worldness_mean": sw[0],
                "seeds": len(group),
            }
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=True))
    _figures(out, groups, sweeps)
    return summary


def _figures(
    out: Path, groups: dict[tuple, list[dict[str, Any]]], sweeps: dict[str, dict[float, list[dict[str, Any]]]]
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = [t for t in (*TASKS, *MEMORY_TASKS) if any(k[0] == t for k in groups)]
    if tasks:
        from matplotlib import colormaps

        columns = min(3, len(tasks))
        rows = math.ceil(len(tasks) / columns)
        figure = Figure(figsize=(4.6 * columns + 2.5, 3.6 * rows), layout="constrained")
        FigureCanvasAgg(figure)
        grid = figure.subplots(rows, columns, squeeze=False).flatten()
        for unused in grid[len(tasks) :]:
            unused.set_visible(False)
        axes = grid[: len(tasks)]
        palette = colormaps["tab20"]
        # tab20's dark shades first (one hue per model), its light ones after the tenth model
        colours = {m: palette((2 * i) % 20 + (2 * i) // 20) for i, m in enumerate(MODELS)}
        markers = {"own": "o", "l1": "s", "none": "^", "prune": "D"}
        for ax, task in zip(axes, tasks, strict=True):
            for (t, model, reg), group in groups.items():
                if t != task:
                    continue
                cost, cost_sd = _stats(group, "cost")
                acc, acc_sd = _stats(group, "acc")
                if not (math.isfinite(cost) and math.isfinite(acc)):
                    continue
                ax.errorbar(
                    cost,
                    100 * acc,
                    xerr=cost_sd,
                    yerr=100 * acc_sd,
                    color=colours[model],
                    marker=markers[reg],
                    linestyle="none",
                    capsize=2,
                    label=f"{model} / {reg}",
                )
            ax.set_xscale("log")
            ax.set_xlabel("wiring cost Σ|w|·d (log scale)")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{task} (mean ± std over seeds)")
        handles, labels = axes[0].get_legend_handles_labels()
        for ax in axes[1:]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        figure.legend(handles, labels, loc="outside right center", fontsize=7)
        figure.savefig(out / "accuracy_vs_cost.png", dpi=120)
    if sweeps:
        figure = Figure(figsize=(5.5 * len(sweeps), 3.8), layout="constrained")
        FigureCanvasAgg(figure)
        panels = figure.subplots(1, len(sweeps), squeeze=False)[0]
        for ax, (key, sweep) in zip(panels, sweeps.items(), strict=True):
            lams = sorted(sweep)
            # λ = 0 sits at the left edge of the log axis, a decade below the smallest λ > 0.
            positive = [lam for lam in lams if lam > 0] or [1.0]
            xs = [lam if lam > 0 else positive[0] / 10 for lam in lams]
            q = [_stats(sweep[lam], "modularity") for lam in lams]
            acc = [_stats(sweep[lam], "acc") for lam in lams]
            ax.errorbar(xs, [m for m, _ in q], yerr=[e for _, e in q], color="C0", marker="o", capsize=2)
            ax.set_xscale("log")
            ax.set_xlabel("wiring weight λ (leftmost point: λ = 0)")
            ax.set_ylabel("modularity Q", color="C0")
            twin = ax.twinx()
            accuracy = [100 * m for m, _ in acc]
            twin.errorbar(xs, accuracy, yerr=[100 * e for _, e in acc], color="C3", marker="s", capsize=2)
            twin.set_ylabel("test accuracy (%)", color="C3")
            ax.set_title(f"{key} on {SWEEPS[key][0]} (mean ± std over seeds)")
        figure.savefig(out / "q_vs_lambda.png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "wiring_zoo")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sweep", action="store_true", help="the λ sweeps of SWEEPS (seRNN, BIMT)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1) // 1))
    parser.add_argument("--report", action="store_true", help="only write the table and figures")
    parser.add_argument("--targets", action="store_true", help="only the cells of the issue's targets")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    if not args.report:
        done = {cell_id(r) for r in rows}
        todo = [
            c
            for c in cells(args.models, args.tasks, args.seeds, args.sweep, args.targets)
            if cell_id(c) not in done
        ]
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        start = time.perf_counter()
        print(
            f"{len(todo)} cells to run ({len(done)} done), {args.workers} workers × {threads} threads",
            flush=True,
        )
        with ProcessPoolExecutor(args.workers) as pool:
            futures = {pool.submit(run_cell, cell, threads): cell for cell in todo}
            for n, future in enumerate(as_completed(futures), 1):
                row = future.result()
                rows.append(row)
                with path.open("a") as handle:  # one line per cell: an interrupted run resumes
                    handle.write(json.dumps(row) + "\n")
                elapsed = time.perf_counter() - start
                print(
                    f"[{n}/{len(todo)} {elapsed / 60:.1f} min] {cell_id(row)}: acc {row['acc']:.3f} "
                    f"density {row.get('density', math.nan):.3f} Q {row.get('modularity', math.nan):.2f} "
                    f"({row['fit_seconds']:.0f} s)",
                    flush=True,
                )
        print(f"wall time {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    report(args.out, rows)
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
