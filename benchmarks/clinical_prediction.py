"""Clinical prediction from functional connectomes under nested cross-validation (issue 21).

    python benchmarks/clinical_prediction.py --cohort adhd_frontal --json out.json
    python benchmarks/clinical_prediction.py --cohort adhd_frontal --repeats 5 --permutations 100 \
        --targets diagnosis sex --json out.json

Every model takes the subjects' connectivity matrices (S, N, N) and runs the same protocol
(:func:`ccnn.models.clinical.nested_cv.nested_cross_validate`): ``--outer-folds`` stratified
outer folds, hyper-parameters chosen by a grid search on ``--inner-folds`` inner folds of
each outer training set only, the outer test fold scored by AUROC; ``--repeats`` outer splits
(seeds ``seed … seed + repeats − 1``). The headline score of a repeat is the mean AUROC over
its outer folds; the table shows its mean ± std over repeats. Models (``MODELS``):

* ``edge_logistic``: the N(N−1)/2 edges, standardised, L2 logistic regression, C on the grid;
* ``edge_ridge``: the same edges, ``RidgeClassifier`` (least squares on ±1 labels), alpha on
  the grid;
* ``tangent_logistic``: the tangent-space embedding at the training subjects' geometric mean
  (:class:`~ccnn.models.clinical.baselines.TangentSpace`, shrinkage toward the identity 0.5),
  standardised, L2 logistic regression, C on the grid;
* ``connectome_gnn``: :class:`~ccnn.models.ConnectomeGNN` (node features = connectivity
  profiles, signed edge weights / (N − 1), concatenation readout), trained by
  :class:`~ccnn.models.clinical.graph_classifier.ConnectomeGNNClassifier`; the grid picks the
  convolution among those that take signed weights (``edge_weighted`` and, where ccnn has
  it, ``signed_edge_weighted``) and the weight decay (``GNN_WEIGHT_DECAY``).

For each target (``--targets``, binary columns of the participants table; ``sex`` is a
control: a connectome that predicts diagnosis may also predict sex) the best model by mean
AUROC gets a permutation test (:func:`~ccnn.models.clinical.nested_cv.permutation_test`):
the whole nested protocol with shuffled labels, one repeat per permutation (a wider null than
the mean over ``--repeats``, so the p-value is conservative), ``--permutations`` times
(``--gnn-permutations`` when the GNN is the best, it is slower). With ``--age`` (default
when the cohort has an ``age`` column), ridge regression of age on the edges under the same
nested protocol (plain k-fold): R² and mean absolute error.

JSON layout::

    {"settings": {cohort, subjects, nodes, repeats, outer_folds, inner_folds, seed,
                  permutations, gnn_permutations, grids, wall_seconds},
     "targets": {target: {"positive_class", "class_counts",
                          "models": {model: {metric, mean, std, repeat_scores, fold_scores,
                                             pooled_mean, pooled_std, best_params, seconds}},
                          "best_model", "permutation": {model, observed, p_value,
                          n_permutations, null_mean, null_std, null, repeats, seconds}}},
     "age": {model, metric: "r2", mean, std, …, mae: {mean, std, repeats}, seconds} or null,
     "verdict": one sentence: does a ccnn model reach the edge-wise logistic regression?}
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("edge_logistic", "edge_ridge", "tangent_logistic", "connectome_gnn")
CCNN_MODELS = ("connectome_gnn",)
#: The inner grids (kept small: 48 subjects, 2 CPU cores).
LOGISTIC_C = [0.001, 0.01, 0.1, 1.0]
RIDGE_ALPHA = [10.0, 100.0, 1000.0, 10000.0]
TANGENT_SHRINKAGE = 0.5
GNN = {
    "hidden": 8,
    "layers": 2,
    "readout": "concat",
    "dropout": 0.5,
    "lr": 1e-2,
    "weight_decay": 1e-2,
    "epochs": 100,
}
#: Adam's weight decay of the GNN, on the inner grid with the convolution (2 × 2 points).
GNN_WEIGHT_DECAY = [1e-2, 1e-1]
AGE_ALPHA = [10.0, 100.0, 1000.0, 10000.0, 100000.0]


def gnn_convs() -> list[str]:
    """The ConnectomeGNN convolutions that take signed edge weights, as far as ccnn has them."""
    from ccnn.models.connectome_gnn import CONVS

    return [conv for conv in ("edge_weighted", "signed_edge_weighted") if conv in CONVS]


def model_and_grid(name: str, seed: int = 0) -> tuple[Any, dict[str, list[Any]]]:
    """An unfitted estimator (input: matrices (S, N, N)) and its inner grid."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ccnn.models.clinical import ConnectomeGNNClassifier, EdgeFeatures, TangentSpace

    if name == "edge_logistic":
        pipeline = make_pipeline(EdgeFeatures(), StandardScaler(), LogisticRegression(solver="liblinear"))
        return pipeline, {"logisticregression__C": LOGISTIC_C}
    if name == "edge_ridge":
        return make_pipeline(EdgeFeatures(), StandardScaler(), RidgeClassifier()), {
            "ridgeclassifier__alpha": RIDGE_ALPHA
        }
    if name == "tangent_logistic":
        pipeline = make_pipeline(
            TangentSpace(shrinkage=TANGENT_SHRINKAGE),
            StandardScaler(),
            LogisticRegression(solver="liblinear"),
        )
        return pipeline, {"logisticregression__C": LOGISTIC_C}
    if name == "connectome_gnn":
        return ConnectomeGNNClassifier(seed=seed, **GNN), {
            "conv": gnn_convs(),
            "weight_decay": GNN_WEIGHT_DECAY,
        }
    raise ValueError(f"models: expected names from {MODELS}, got {name!r}")


def binary_labels(participants: Any, target: str) -> tuple[np.ndarray, str, dict[str, int]]:
    """0/1 labels of a participants column, the positive class (the second in sorted order)
    and the class counts; ValueError naming ``target`` if the column is missing or not binary."""
    if target not in participants.columns:
        raise ValueError(
            f"target: expected a column of the participants table, one of "
            f"{list(participants.columns)}, got {target!r}"
        )
    values = participants[target]
    if values.isna().any():
        raise ValueError(f"target: {target!r} is missing for {int(values.isna().sum())} subjects")
    classes = sorted(str(v) for v in values.unique())
    if len(classes) != 2:
        raise ValueError(f"target: expected a column with exactly 2 classes, {target!r} has {classes[:5]}")
    labels = np.array([classes.index(str(v)) for v in values])
    return labels, classes[1], {c: int((labels == k).sum()) for k, c in enumerate(classes)}


def load(cohort: Any) -> tuple[str, np.ndarray, Any]:
    """Cohort name, matrices (S, N, N) float64 and participants table."""
    from ccnn.data import load_connectome_cohort

    data = load_connectome_cohort(cohort) if isinstance(cohort, str) else cohort
    name = cohort if isinstance(cohort, str) else getattr(data, "name", "cohort")
    return name, data.weights().double().numpy(), data.participants


def run(
    cohort: Any,
    *,
    targets: list[str],
    models: tuple[str, ...] | list[str] = MODELS,
    repeats: int = 5,
    permutations: int = 100,
    gnn_permutations: int = 10,
    outer_folds: int = 5,
    inner_folds: int = 5,
    seed: int = 0,
    age: bool | None = None,
) -> dict[str, Any]:
    """The whole benchmark: the JSON-serialisable result (module docstring for the layout)."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ccnn.models.clinical import EdgeFeatures, nested_cross_validate, permutation_test

    start = time.perf_counter()
    name, weights, participants = load(cohort)
    protocol = {"outer_folds": outer_folds, "inner_folds": inner_folds, "seed": seed}
    result: dict[str, Any] = {"targets": {}}
    for target in targets:
        labels, positive, counts = binary_labels(participants, target)
        rows: dict[str, Any] = {}
        for model in models:
            estimator, grid = model_and_grid(model, seed)
            began = time.perf_counter()
            scores = nested_cross_validate(estimator, grid, weights, labels, repeats=repeats, **protocol)
            rows[model] = {**scores.summary(), "seconds": time.perf_counter() - began}
            print(
                f"{target} {model}: AUROC {scores.mean:.3f} ± {scores.std:.3f} "
                f"({rows[model]['seconds']:.0f} s)",
                flush=True,
            )
        best = max(rows, key=lambda m: rows[m]["mean"])
        estimator, grid = model_and_grid(best, seed)
        count = gnn_permutations if best in CCNN_MODELS else permutations
        began = time.perf_counter()
        test = permutation_test(
            estimator,
            grid,
            weights,
            labels,
            n_permutations=count,
            observed=rows[best]["mean"],
            repeats=1,
            **protocol,
        )
        permutation = {"model": best, **test.summary(), "repeats": 1, "seconds": time.perf_counter() - began}
        print(
            f"{target} permutation test of {best}: p = {test.p_value:.3f} ({count} permutations)", flush=True
        )
        result["targets"][target] = {
            "positive_class": positive,
            "class_counts": counts,
            "models": rows,
            "best_model": best,
            "permutation": permutation,
        }
    if age is None:
        age = "age" in participants.columns
    result["age"] = None
    if age:
        if "age" not in participants.columns:
            raise ValueError(
                f"target: age regression needs an 'age' column, got {list(participants.columns)}"
            )
        ridge = make_pipeline(EdgeFeatures(), StandardScaler(), Ridge())
        began = time.perf_counter()
        scores = nested_cross_validate(
            ridge, {"ridge__alpha": AGE_ALPHA}, weights, participants["age"].to_numpy(float),
            task="regression", repeats=repeats, **protocol,
        )  # fmt: skip
        result["age"] = {"model": "edge_ridge", **scores.summary(), "seconds": time.perf_counter() - began}
    result["verdict"] = verdict(result)
    result["settings"] = {
        "cohort": name,
        "subjects": int(weights.shape[0]),
        "nodes": int(weights.shape[1]),
        "repeats": repeats,
        "permutations": permutations,
        "gnn_permutations": gnn_permutations,
        **protocol,
        "grids": {
            "logistic_C": LOGISTIC_C,
            "ridge_alpha": RIDGE_ALPHA,
            "tangent_shrinkage": TANGENT_SHRINKAGE,
            "gnn": {**GNN, "conv": gnn_convs(), "weight_decay": GNN_WEIGHT_DECAY},
            "age_ridge_alpha": AGE_ALPHA,
        },
        "wall_seconds": time.perf_counter() - start,
    }
    return result


def verdict(result: dict[str, Any]) -> str:
    """Whether a ccnn model reaches the edge-wise logistic regression on the first target."""
    if not result["targets"]:
        return "no target"
    target, entry = next(iter(result["targets"].items()))
    rows = entry["models"]
    ccnn = [m for m in CCNN_MODELS if m in rows]
    if "edge_logistic" not in rows or not ccnn:
        return f"{target}: edge_logistic or a ccnn model was not run"
    reference = rows["edge_logistic"]
    best = max(ccnn, key=lambda m: rows[m]["mean"])
    relation = "reaches or beats" if rows[best]["mean"] >= reference["mean"] else "does not reach"
    return (
        f"{target}: {best} (AUROC {rows[best]['mean']:.3f} ± {rows[best]['std']:.3f}) {relation} "
        f"edge_logistic ({reference['mean']:.3f} ± {reference['std']:.3f}), mean ± std over repeats"
    )


def table(result: dict[str, Any]) -> str:
    """Markdown: one row per model, one AUROC column per target; then the permutation tests and age."""
    targets = list(result["targets"])
    models = list(next(iter(result["targets"].values()))["models"]) if targets else []
    lines = [
        "| model | " + " | ".join(f"AUROC {t}" for t in targets) + " |",
        "|---|" + "---|" * len(targets),
    ]
    for model in models:
        cells = []
        for target in targets:
            row = result["targets"][target]["models"][model]
            cells.append(f"{row['mean']:.3f} ± {row['std']:.3f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    for target in targets:
        test = result["targets"][target]["permutation"]
        lines.append(
            f"\n{target}: best {test['model']}, permutation p = {test['p_value']:.3f} "
            f"({test['n_permutations']} permutations, null {test['null_mean']:.3f} ± {test['null_std']:.3f})"
        )
    if result.get("age"):
        age = result["age"]
        lines.append(
            f"age (ridge on edges): R² {age['mean']:.3f} ± {age['std']:.3f}, "
            f"MAE {age['mae']['mean']:.2f} ± {age['mae']['std']:.2f} years"
        )
    lines.append(result["verdict"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", default="adhd_frontal")
    parser.add_argument("--targets", nargs="+", default=["diagnosis", "sex"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--gnn-permutations", type=int, default=10)
    parser.add_argument("--outer-folds", type=int, default=5)
    parser.add_argument("--inner-folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-age", action="store_true", help="skip the age regression")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS and torch threads (small matrices: 1 is fastest)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        result = run(
            args.cohort,
            targets=args.targets,
            models=args.models,
            repeats=args.repeats,
            permutations=args.permutations,
            gnn_permutations=args.gnn_permutations,
            outer_folds=args.outer_folds,
            inner_folds=args.inner_folds,
            seed=args.seed,
            age=False if args.no_age else None,
        )
    print(table(result))
    print(f"wall time {result['settings']['wall_seconds']:.0f} s")
    if args.json is not None:
        from ccnn._io import write_new_json

        print(f"written to {write_new_json(args.json, result)}")


if __name__ == "__main__":
    main()
