"""Cross-validated graph classification on real connectomes: ConnectomeGNN against a 1-NN.

    python benchmarks/connectome_cv.py                        # mice genotype, then sex
    python benchmarks/connectome_cv.py --targets genotype --folds 0 1
    python benchmarks/connectome_cv.py --targets genotype --split-seeds 0 1 2   # repeated CV

Each fold is one ``train.py fit`` run of ``configs/connectome_gnn_mice.yaml`` with
``--data.init_args.fold=k`` (the best checkpoint on the fold's inner validation split is
then tested on the held-out fold), exactly what a user's loop over configs does. The
baseline is a 1-nearest-neighbour classifier on the log edge weights (upper triangle) with
the same folds, fitted on the fold's training and validation subjects. Sex is a negative
control: it should stay near chance (0.5). ``--split-seeds`` repeats the CV over other
random partitions of the cohort (``--data.init_args.seed``). Prints accuracy per fold and
mean ± std over every fold of every partition.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "connectome_gnn_mice.yaml"


def gnn_fold(target: str, fold: int, root: Path, split_seed: int = 0) -> tuple[float, float]:
    from ccnn.cli import main

    run_dir = root / target / f"split{split_seed}" / f"fold{fold}"
    shutil.rmtree(run_dir, ignore_errors=True)  # no stale checkpoints from an earlier run
    args = [
        "fit", "--config", str(CONFIG), f"--data.init_args.target={target}", f"--data.init_args.fold={fold}",
        f"--data.init_args.seed={split_seed}", f"--trainer.default_root_dir={run_dir}",
        "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    started = time.perf_counter()
    cli = main(args)
    results = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path="best", verbose=False)
    return float(results[0]["test/acc"]), time.perf_counter() - started


def nearest_neighbour_fold(target: str, fold: int, split_seed: int = 0) -> float:
    from ccnn.data import ConnectomeDataModule

    data = ConnectomeDataModule(
        "mice", target=target, fold=fold, transforms=["log1p"], n_folds=n_folds(), seed=split_seed
    )
    upper = np.triu_indices(data.n_nodes, 1)
    features = np.stack([c.weights.numpy()[upper] for c in data.cohort])
    labels = np.asarray(data.targets)
    train = np.concatenate([data.split["train"], data.split["val"]])
    test = data.split["test"]
    model = KNeighborsClassifier(n_neighbors=1).fit(features[train], labels[train])
    return float((model.predict(features[test]) == labels[test]).mean())


def n_folds() -> int:
    import yaml

    return int(yaml.safe_load(CONFIG.read_text())["data"]["init_args"]["n_folds"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", nargs="+", default=["genotype", "sex"])
    parser.add_argument("--folds", type=int, nargs="*", help="default: every fold")
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0], help="CV partitions")
    parser.add_argument("--root", type=Path, default=Path("runs/benchmarks/connectome_cv"))
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    folds = args.folds if args.folds else list(range(n_folds()))
    summary = []
    for target in args.targets:
        rows = []
        for split_seed in args.split_seeds:
            for fold in folds:
                accuracy, seconds = gnn_fold(target, fold, args.root, split_seed)
                baseline = nearest_neighbour_fold(target, fold, split_seed)
                rows.append((accuracy, baseline, seconds))
                print(
                    f"{target} split {split_seed} fold {fold}: ConnectomeGNN {accuracy:.3f}  "
                    f"1-NN {baseline:.3f}  ({seconds:.0f} s)"
                )
        gnn, knn, seconds = (np.array(column) for column in zip(*rows, strict=True))
        summary.append(
            f"{target:9s} ConnectomeGNN {gnn.mean():.3f} ± {gnn.std():.3f}   1-NN (log edges) "
            f"{knn.mean():.3f} ± {knn.std():.3f}   over {len(rows)} folds, {seconds.sum():.0f} s"
        )
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
