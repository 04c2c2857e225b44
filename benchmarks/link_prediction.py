"""Directed link prediction on neuron-level connectomes: graph auto-encoders vs spectral embedding.

    python benchmarks/link_prediction.py --connectome celegans_herm --dims 2 4 8 16 24 --splits 5 \
        --negatives random --json out.json
    python benchmarks/link_prediction.py --connectome drosophila_mb_left --negatives reversed
    python benchmarks/link_prediction.py --development --json witvliet.json   # Witvliet stages

Every model sees the same splits (``ccnn.data.connectomes.link_prediction.split_edges``, seeds
0 … splits-1: 5 % of the directed edges for validation, 10 % for test). Auto-encoders
(:class:`ccnn.models.GraphAutoEncoder`, the settings of ``SETTINGS``) train on the training
edges and keep the epoch of best validation AUROC (validated on the same kind of negatives;
the weight of reversed training negatives follows ``GraphAutoEncoder``'s default rule: 0.1
for random, 1.0 for reversed negatives); spectral embeddings
(:func:`ccnn.graph.spectral_embedding`) embed the training adjacency. Reported per model and
latent dimension d: test AUROC and average precision (mean ± std over splits), and the
5-fold cross-validated 5-NN accuracy of the cell type from the embedding (``cell_type_knn``).
``--negatives reversed`` scores each held-out edge against its reverse: a symmetric model gets
exactly 0.5 there. The JSON maps ``model -> dim -> {auroc_mean, auroc_std, ap_mean, ap_std}``
(dims as strings), plus ``cell_type_knn`` (model -> dim -> {mean, std}) and ``settings``.
A figure of AUROC against d goes next to the JSON (``--figure`` to choose).

``--development``: Witvliet et al. 2021's eight C. elegans stages. Train on the edges of
stages 1–7 (their union), score all pairs, and evaluate on stage 8: its edges against as
many of its non-edges, and its *new* edges (absent from stage 7) against non-edges of both
stages; against spectral embedding and the baseline "edge present at stage 7".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Auto-encoders (JSON key -> GraphAutoEncoder arguments). One set of settings, chosen on
#: celegans_herm and drosophila_mb_left (validation AUROC), for every connectome.
COMMON = {"encoder": "gcn", "hidden": 64, "layers": 2, "node_embedding": False, "lr": 0.01}
SETTINGS = {
    "gae": {**COMMON, "decoder": "inner"},
    "vgae": {**COMMON, "decoder": "inner", "variational": True},
    "gae_directed": {**COMMON, "decoder": "directed"},
    "vgae_directed": {**COMMON, "decoder": "directed", "variational": True},
    "gae_gravity": {**COMMON, "decoder": "gravity"},
}
DATA = {"node_features": "profile", "edge_weight": "log1p", "val_fraction": 0.05, "test_fraction": 0.10}
EPOCHS = 400
SPECTRAL = ("spectral_directed", "spectral_symmetric")


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(1)


def fit(model, data, epochs: int, root: Path) -> torch.Tensor:
    """Train on the CPU, validating every 10 epochs; the latents of the best validation epoch."""
    import lightning as L

    trainer = L.Trainer(
        max_epochs=epochs, check_val_every_n_epoch=10, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", default_root_dir=str(root),
    )  # fmt: skip
    model.on_fit_end = lambda: None  # the benchmark writes its own summary
    trainer.fit(model, data)
    return model.embeddings()


def fit_autoencoder(task: tuple) -> dict:
    """One (model, dim, split): test AUROC / AP and cell-type k-NN of the best-validation latents."""
    model_name, dim, seed, connectome, negatives, epochs, workdir, model_args, data_args = task
    import lightning as L

    _quiet()  # after the import: Lightning sets its loggers' levels when imported

    from ccnn.data import LinkPredictionDataModule
    from ccnn.models import GraphAutoEncoder
    from ccnn.models.graph_autoencoder.evaluation import cell_type_knn, link_scores
    from ccnn.models.graph_autoencoder.module import latent_parts

    L.seed_everything(seed, verbose=False)
    data = LinkPredictionDataModule(connectome, negatives=negatives, seed=seed, **{**DATA, **data_args})
    settings = {**SETTINGS[model_name], **model_args}
    model = GraphAutoEncoder(n_inputs=data.n_inputs, n_nodes=data.n_nodes, latent_dim=dim, **settings)
    z = fit(model, data, epochs, Path(workdir) / f"{model_name}-d{dim}-s{seed}")
    edges, labels = data.held_out("test")
    with torch.no_grad():
        result = link_scores(model.score(z, edges), labels)
    if data.cell_types is not None:
        result["knn"] = cell_type_knn(
            np.concatenate(list(latent_parts(model, z).values()), 1), data.cell_types
        )
    return result


def spectral_scores(name: str, dim: int, seed: int, connectome, negatives: str) -> dict:
    from ccnn.data.connectomes.link_prediction import split_edges
    from ccnn.graph import spectral_embedding
    from ccnn.models.graph_autoencoder.evaluation import cell_type_knn, link_scores

    split = split_edges(
        connectome, val_fraction=DATA["val_fraction"], test_fraction=DATA["test_fraction"], seed=seed
    )
    n = split.num_nodes
    adjacency = torch.zeros(n, n, dtype=torch.float64)
    adjacency[split.train[1], split.train[0]] = 1.0  # binary, rows = targets (as Winding et al.)
    emb = spectral_embedding(adjacency, dim, directed=name == "spectral_directed")
    positives, negative_edges = split.evaluation_edges("test", negatives)
    edges = torch.cat([positives, negative_edges], 1)
    labels = torch.cat([torch.ones(positives.shape[1]), torch.zeros(negative_edges.shape[1])])
    scores = (emb.source[edges[0]] * emb.target[edges[1]]).sum(1)
    result = link_scores(scores, labels)
    cell_types = connectome.node_attrs.get("cell_type")
    if cell_types is not None:
        features = torch.cat([emb.source, emb.target], 1) if name == "spectral_directed" else emb.source
        result["knn"] = cell_type_knn(features, cell_types)
    return result


def summarise(runs: dict[str, dict[int, list[dict]]]) -> tuple[dict, dict]:
    table, knn = {}, {}
    for model, by_dim in runs.items():
        table[model], knn[model] = {}, {}
        for dim, results in by_dim.items():
            auroc = np.array([r["auroc"] for r in results])
            ap = np.array([r["ap"] for r in results])
            table[model][str(dim)] = {
                "auroc_mean": float(auroc.mean()), "auroc_std": float(auroc.std()),
                "ap_mean": float(ap.mean()), "ap_std": float(ap.std()),
            }  # fmt: skip
            if all("knn" in r for r in results):
                values = np.array([r["knn"] for r in results])
                knn[model][str(dim)] = {"mean": float(values.mean()), "std": float(values.std())}
    return table, {k: v for k, v in knn.items() if v}


def plot(table: dict, knn: dict, title: str, path: Path, majority: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if knn else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.4), squeeze=False)
    for model, by_dim in table.items():
        dims = sorted(int(d) for d in by_dim)
        style = "--" if model.startswith("spectral") else "-"
        mean = [by_dim[str(d)]["auroc_mean"] for d in dims]
        std = [by_dim[str(d)]["auroc_std"] for d in dims]
        axes[0, 0].errorbar(dims, mean, yerr=std, ls=style, marker="o", ms=4, capsize=3, label=model)
        if model in knn:
            values = [knn[model][str(d)]["mean"] for d in dims]
            spread = [knn[model][str(d)]["std"] for d in dims]
            axes[0, 1].errorbar(dims, values, yerr=spread, ls=style, marker="o", ms=4, capsize=3, label=model)
    axes[0, 0].axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
    axes[0, 0].set(xscale="log", xlabel="latent dimension d", ylabel="test AUROC (mean ± std over splits)")
    axes[0, 0].set_title(title, fontsize=9)
    axes[0, 0].legend(fontsize=7)
    if knn:
        axes[0, 1].set(
            xscale="log", xlabel="latent dimension d", ylabel="cell type, 5-NN accuracy (5-fold CV)"
        )
        if majority is not None:
            axes[0, 1].axhline(majority, color="grey", lw=0.8, ls=":", label="majority class")
        axes[0, 1].set_title("cell types from the embedding", fontsize=9)
        axes[0, 1].legend(fontsize=7)
    for ax in axes[0]:
        ax.set_xticks(sorted({int(d) for v in table.values() for d in v}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def development(args: argparse.Namespace) -> dict:
    """Witvliet stages: train on stages 1–7, predict stage 8 (module docstring)."""
    import lightning as L

    _quiet()  # after the import: Lightning sets its loggers' levels when imported

    from ccnn.data import Connectome, LinkPredictionDataModule, load_connectome_cohort
    from ccnn.graph import spectral_embedding
    from ccnn.models import GraphAutoEncoder
    from ccnn.models.graph_autoencoder.evaluation import link_scores

    cohort = load_connectome_cohort("celegans_witvliet")
    weights = cohort.weights().double()  # (8, N, N), rows = targets
    n = weights.shape[1]
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    early = (weights[:7] != 0).any(0) & off_diagonal
    stage7, stage8 = (weights[6] != 0) & off_diagonal, (weights[7] != 0) & off_diagonal
    present8 = cohort[7].node_attrs["present"].bool()
    both_present = present8[:, None] & present8[None, :] & off_diagonal
    mean_early = torch.where(early, weights[:7].mean(0), torch.zeros(()))
    training = Connectome(mean_early.float(), node_attrs=dict(cohort[6].node_attrs), meta=cohort[6].meta)
    generator = torch.Generator().manual_seed(0)

    def evaluation_set(
        positive: torch.Tensor, negative_pool: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pos = positive.nonzero()  # (i, j) rows = targets
        pool = negative_pool.nonzero()
        neg = pool[torch.randperm(len(pool), generator=generator)[: len(pos)]]
        pairs = torch.cat([pos, neg])
        return torch.stack([pairs[:, 1], pairs[:, 0]]), torch.cat(
            [torch.ones(len(pos)), torch.zeros(len(neg))]
        )

    sets = {
        "stage8_all": evaluation_set(stage8 & both_present, ~stage8 & both_present),
        "stage8_new": evaluation_set(stage8 & ~stage7 & both_present, ~stage8 & ~stage7 & both_present),
    }
    out: dict = {"settings": {"train": "union of stages 1-7 edges", "dim": args.development_dim}}
    adjacency = early.double()
    emb = spectral_embedding(adjacency, args.development_dim, directed=True)
    out["spectral_directed"] = {
        k: link_scores((emb.source[e[0]] * emb.target[e[1]]).sum(1), y) for k, (e, y) in sets.items()
    }
    out["present_at_stage7"] = {k: link_scores(stage7[e[1], e[0]].double(), y) for k, (e, y) in sets.items()}
    results = []
    for seed in range(args.splits):
        L.seed_everything(seed, verbose=False)
        data = LinkPredictionDataModule(training, seed=seed, **DATA)
        model = GraphAutoEncoder(
            n_inputs=data.n_inputs,
            n_nodes=data.n_nodes,
            latent_dim=args.development_dim,
            **SETTINGS["gae_directed"],
        )
        z = fit(model, data, args.epochs, args.workdir / f"development-s{seed}")
        with torch.no_grad():
            results.append({k: link_scores(model.score(z, e), y) for k, (e, y) in sets.items()})
    out["gae_directed"] = {
        k: {
            "auroc_mean": float(np.mean([r[k]["auroc"] for r in results])),
            "auroc_std": float(np.std([r[k]["auroc"] for r in results])),
            "ap_mean": float(np.mean([r[k]["ap"] for r in results])),
        }
        for k in sets
    }
    out["counts"] = {
        k: {"positives": int(y.sum()), "negatives": int((1 - y).sum())} for k, (e, y) in sets.items()
    }
    print(f"{'model':<22}{'stage 8, all edges':>20}{'stage 8, new edges':>20}")
    for name in ("gae_directed", "spectral_directed", "present_at_stage7"):
        row = out[name]
        cells = [row[k].get("auroc_mean", row[k].get("auroc")) for k in sets]
        print(f"{name:<22}" + "".join(f"{c:>20.3f}" for c in cells))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectome", default="celegans_herm")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 4, 8, 16, 24])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--negatives", choices=["random", "reversed"], default="random")
    parser.add_argument("--models", nargs="+", default=[*SETTINGS, *SPECTRAL], choices=[*SETTINGS, *SPECTRAL])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--figure", type=Path, default=None, help="default: next to --json")
    parser.add_argument("--workdir", type=Path, default=Path("runs/benchmark_link_prediction"))
    parser.add_argument(
        "--model-args", type=json.loads, default={}, help="JSON overrides, e.g. '{\"layers\": 1}'"
    )
    parser.add_argument("--data-args", type=json.loads, default={}, help="JSON overrides of the datamodule's")
    parser.add_argument("--development", action="store_true", help="Witvliet stages 1-7 -> stage 8")
    parser.add_argument("--development-dim", type=int, default=8)
    parser.add_argument(
        "--replot", type=Path, default=None, help="redraw the figure of a JSON written earlier"
    )
    args = parser.parse_args(argv)
    if args.replot is not None:
        saved = json.loads(args.replot.read_text())
        models = [m for m in saved if m in SETTINGS or m in SPECTRAL]
        settings = saved["settings"]
        title = f"{settings['connectome']}: held-out directed edges vs {settings['negatives']} negatives"
        figure = args.figure or args.replot.with_suffix(".png")
        plot(
            {m: saved[m] for m in models},
            saved["cell_type_knn"],
            title,
            figure,
            saved.get("cell_type_majority"),
        )
        print(f"figure: {figure}")
        return 0
    if min(args.dims) < 1:
        parser.error(f"--dims: expected latent dimensions >= 1, got {args.dims}")
    start = time.perf_counter()
    if args.development:
        out = development(args)
    else:
        from ccnn.data import load_connectome

        connectome = load_connectome(args.connectome)
        runs: dict[str, dict[int, list[dict]]] = {m: {d: [] for d in args.dims} for m in args.models}
        for model in (m for m in args.models if m in SPECTRAL):
            for dim in args.dims:
                runs[model][dim] = [
                    spectral_scores(model, dim, s, connectome, args.negatives) for s in range(args.splits)
                ]
        tasks = [
            (m, d, s, args.connectome, args.negatives, args.epochs, str(args.workdir),
             args.model_args, args.data_args)
            for m in args.models if m in SETTINGS for d in args.dims for s in range(args.splits)
        ]  # fmt: skip
        try:
            from rich.progress import track
        except ImportError:  # pragma: no cover
            track = None
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = pool.map(fit_autoencoder, tasks)
            if track is not None:
                results = track(results, total=len(tasks), description="auto-encoders")
            for task, result in zip(tasks, results, strict=True):
                runs[task[0]][task[1]].append(result)
        table, knn = summarise(runs)
        out = {**table, "cell_type_knn": knn}
        cell_types = connectome.node_attrs.get("cell_type")
        if cell_types is not None:  # the accuracy of always answering the commonest type
            out["cell_type_majority"] = float(torch.bincount(cell_types).max() / len(cell_types))
        out["settings"] = {
            "connectome": args.connectome, "negatives": args.negatives, "splits": args.splits,
            "epochs": args.epochs, "data": {**DATA, **args.data_args},
            "models": {m: {**SETTINGS[m], **args.model_args} if m in SETTINGS else "binary adjacency"
                       for m in args.models},
        }  # fmt: skip
        header = f"{'model':<20}" + "".join(f"{'d=' + str(d):>16}" for d in args.dims)
        print(
            f"\n{args.connectome}, {args.negatives} negatives: "
            f"test AUROC (mean ± std over {args.splits} splits)"
        )
        print(header)
        for model in args.models:
            cells = [
                f"{table[model][str(d)]['auroc_mean']:.3f} ± {table[model][str(d)]['auroc_std']:.3f}"
                for d in args.dims
            ]
            print(f"{model:<20}" + "".join(f"{c:>16}" for c in cells))
        if knn:
            print("\ncell type, 5-NN accuracy (5-fold CV) from the embedding")
            print(header)
            for model in knn:
                print(f"{model:<20}" + "".join(f"{knn[model][str(d)]['mean']:>16.3f}" for d in args.dims))
        figure = args.figure or (args.json.with_suffix(".png") if args.json else None)
        if figure is not None:
            title = f"{args.connectome}: held-out directed edges vs {args.negatives} negatives"
            plot(table, knn, title, figure, out.get("cell_type_majority"))
            print(f"figure: {figure}")
    out["time_s"] = round(time.perf_counter() - start, 1)
    print(f"time: {out['time_s']:.0f} s")
    if args.json is not None:
        from ccnn._io import atomic_write

        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(args.json) as handle:
            handle.write(json.dumps(out, indent=2).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
