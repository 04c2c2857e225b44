r"""Nested cross-validation and a permutation test for small clinical cohorts.

Why nested: with tens of subjects, choosing hyper-parameters on the same folds that report
the score inflates it (Varoquaux et al., "Assessing and tuning brain decoders:
cross-validation, caveats, and guidelines", NeuroImage 145, 2017; Varoquaux, "Cross-validation
failure: small sample sizes lead to large error bars", NeuroImage 180, 2018). Here the
hyper-parameters are chosen by a grid search on *inner* folds of each outer training set,
and the outer test fold is only ever predicted, never fitted or searched on.

Protocol of :func:`nested_cross_validate`, for each of ``repeats`` outer splits (seeded):

1. ``outer_folds``-fold split of the subjects (``StratifiedKFold`` for classification,
   ``KFold`` for regression, shuffled);
2. on each outer training set, ``GridSearchCV`` over ``param_grid`` with ``inner_folds``
   folds of the training subjects only (same splitter kind), scored by AUROC (``roc_auc``)
   or :math:`R^2`, refitted on the whole outer training set with the chosen parameters;
3. that model scores the outer test fold: AUROC of the positive-class probability (or
   decision function) for classification; :math:`R^2` and the mean absolute error for
   regression.

Scores: ``repeat_scores[r]`` is the **mean over the outer folds** of the per-fold score (the
convention of ``sklearn.model_selection.cross_val_score``); ``pooled_scores[r]`` scores the
out-of-fold predictions of all subjects of repeat ``r`` at once (every subject predicted
once). Reported spread: the standard deviation of ``repeat_scores`` over repeats, which
measures the split-to-split variability only; the error bar of a 48-subject cohort is larger
(Varoquaux 2018), which the permutation test puts in perspective.

:func:`permutation_test` repeats the whole nested protocol with shuffled labels (the
same splits' seeds), ``p = (1 + #{null ≥ observed}) / (1 + P)`` (Ojala & Garriga, JMLR 2010).

Any scikit-learn estimator (or pipeline) with ``fit`` / ``predict_proba`` (or
``decision_function``) / ``predict`` works, including
:class:`ccnn.models.clinical.graph_classifier.ConnectomeGNNClassifier`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from ccnn._validation import check_choice, check_int, describe

__all__ = ["TASKS", "NestedCVResult", "PermutationResult", "nested_cross_validate", "permutation_test"]

#: Values accepted by ``task``.
TASKS = ("classification", "regression")
ParamGrid = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None


@dataclass
class NestedCVResult:
    """Outer-fold scores of :func:`nested_cross_validate` (module docstring).

    Attributes:
        metric: ``"roc_auc"`` (classification) or ``"r2"`` (regression).
        fold_scores: (repeats, outer_folds) the metric on each outer test fold.
        repeat_scores: (repeats,) mean over the outer folds, the headline score.
        pooled_scores: (repeats,) the metric of all out-of-fold predictions of a repeat.
        best_params: [repeat][fold] the hyper-parameters chosen on the inner folds.
        extra: further per-repeat metrics, e.g. ``{"mae": (repeats,), "pooled_mae": ...}``
            for regression (fold-averaged and pooled mean absolute error).
    """

    metric: str
    fold_scores: np.ndarray
    repeat_scores: np.ndarray
    pooled_scores: np.ndarray
    best_params: list[list[dict[str, Any]]]
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean of :attr:`repeat_scores` over repeats."""
        return float(self.repeat_scores.mean())

    @property
    def std(self) -> float:
        """Standard deviation (ddof = 0) of :attr:`repeat_scores` over repeats."""
        return float(self.repeat_scores.std())

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary: metric, mean, std, per-repeat and per-fold scores, the
        pooled scores, the extra metrics (mean, std, per repeat) and the chosen parameters."""
        out: dict[str, Any] = {
            "metric": self.metric,
            "mean": self.mean,
            "std": self.std,
            "repeat_scores": self.repeat_scores.tolist(),
            "fold_scores": self.fold_scores.tolist(),
            "pooled_mean": float(self.pooled_scores.mean()),
            "pooled_std": float(self.pooled_scores.std()),
        }
        for name, values in self.extra.items():
            out[name] = {"mean": float(values.mean()), "std": float(values.std()), "repeats": values.tolist()}
        out["best_params"] = [[_plain(p) for p in folds] for folds in self.best_params]
        return out


@dataclass
class PermutationResult:
    """A permutation test of :func:`permutation_test`.

    Attributes:
        observed: the observed score (mean of ``repeat_scores`` over repeats).
        null: (n_permutations,) the same statistic with shuffled labels.
        p_value: ``(1 + #{null ≥ observed}) / (1 + n_permutations)``.
    """

    observed: float
    null: np.ndarray
    p_value: float

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable: observed, p_value, n_permutations, null mean / std / values."""
        return {
            "observed": self.observed,
            "p_value": self.p_value,
            "n_permutations": len(self.null),
            "null_mean": float(self.null.mean()),
            "null_std": float(self.null.std()),
            "null": self.null.tolist(),
        }


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON-friendly values (numpy scalars → Python, others → repr)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
    return out


def _check_design(
    n_subjects: int, y: np.ndarray, task: str, outer_folds: int, inner_folds: int, repeats: int
) -> None:
    """One ValueError naming the argument when the labels or the fold counts cannot work."""
    check_int(outer_folds, "outer_folds", minimum=2)
    check_int(inner_folds, "inner_folds", minimum=2)
    check_int(repeats, "repeats", minimum=1)
    if y.ndim != 1 or len(y) != n_subjects:
        raise ValueError(f"y: expected one label per subject, shape ({n_subjects},), got {y.shape}")
    if task == "classification":
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) != 2:
            raise ValueError(
                f"y: expected exactly 2 classes for AUROC, got {len(classes)} ({classes.tolist()[:5]})"
            )
        smallest, what = int(counts.min()), f"the smallest class ({classes[counts.argmin()]!r})"
    else:
        if not np.isfinite(y.astype(float)).all():
            raise ValueError("y: expected finite regression targets")
        if np.ptp(y.astype(float)) == 0:
            raise ValueError("y: expected varying regression targets, got a constant")
        smallest, what = n_subjects, "the cohort"
    if smallest < outer_folds:
        raise ValueError(f"outer_folds: {what} has {smallest} subjects, fewer than outer_folds={outer_folds}")
    in_training = smallest - math.ceil(smallest / outer_folds)  # the fewest left in an outer training set
    if in_training < inner_folds:
        raise ValueError(
            f"inner_folds: {what} keeps as few as {in_training} subjects in an outer training set, "
            f"fewer than inner_folds={inner_folds}"
        )


def _scores(model: Any, X: Any) -> np.ndarray:
    """Positive-class scores for AUROC: ``predict_proba[:, 1]``, else ``decision_function``."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.decision_function(X)).reshape(len(X))


def _subset(X: Any, index: np.ndarray) -> Any:
    return X[index] if hasattr(X, "shape") else [X[i] for i in index]


def nested_cross_validate(
    estimator: Any,
    param_grid: ParamGrid,
    X: Any,
    y: Any,
    *,
    task: Literal["classification", "regression"] = "classification",
    outer_folds: int = 5,
    inner_folds: int = 5,
    repeats: int = 5,
    seed: int = 0,
    n_jobs: int | None = None,
) -> NestedCVResult:
    """Nested cross-validation of ``estimator`` (module docstring for the protocol).

    Args:
        estimator: an unfitted scikit-learn estimator or pipeline (cloned for every fit).
        param_grid: ``GridSearchCV``'s grid, searched on the inner folds; None or ``{}``
            fits ``estimator`` as it is.
        X: (S, …) inputs indexable by subject, e.g. connectivity matrices (S, N, N).
        y: (S,) labels (2 classes) or regression targets.
        task: ``"classification"`` (AUROC) or ``"regression"`` (:math:`R^2`, MAE).
        outer_folds, inner_folds: folds of the outer and inner splits (≥ 2).
        repeats: outer splits with different shuffles.
        seed: seeds every split (repeat ``r`` uses ``seed + r``, its inner splits ``seed + r``
            too, so that runs with the same seed are the same).
        n_jobs: ``GridSearchCV``'s parallel jobs.

    Raises:
        ValueError: naming ``y`` (one class, or more than two; constant or non-finite
            targets; wrong length), ``outer_folds`` (a class smaller than the folds) or
            ``inner_folds`` (an outer training set too small for the inner folds).
    """
    check_choice(task, "task", TASKS)
    y = np.asarray(y)
    n_subjects = len(X) if hasattr(X, "__len__") else -1
    if n_subjects < 0:
        raise TypeError(f"X: expected an indexable collection of subjects, got {describe(X)}")
    _check_design(n_subjects, y, task, outer_folds, inner_folds, repeats)
    classification = task == "classification"
    splitter = StratifiedKFold if classification else KFold
    scoring = "roc_auc" if classification else "r2"
    grid = param_grid if param_grid else None
    fold_scores = np.zeros((repeats, outer_folds))
    pooled = np.zeros(repeats)
    maes = np.zeros((repeats, outer_folds))
    pooled_mae = np.zeros(repeats)
    best_params: list[list[dict[str, Any]]] = []
    for repeat in range(repeats):
        outer = splitter(outer_folds, shuffle=True, random_state=seed + repeat)
        predictions = np.zeros(n_subjects)
        chosen = []
        for fold, (train, test) in enumerate(outer.split(np.zeros(n_subjects), y)):
            if grid is None:
                model = clone(estimator).fit(_subset(X, train), y[train])
                chosen.append({})
            else:
                inner = splitter(inner_folds, shuffle=True, random_state=seed + repeat)
                search = GridSearchCV(
                    clone(estimator),
                    grid,
                    scoring=scoring,
                    cv=inner,
                    refit=True,
                    n_jobs=n_jobs,
                    error_score="raise",
                )
                search.fit(_subset(X, train), y[train])
                model = search.best_estimator_
                chosen.append(dict(search.best_params_))
            X_test = _subset(X, test)
            if classification:
                predictions[test] = _scores(model, X_test)
                fold_scores[repeat, fold] = roc_auc_score(y[test], predictions[test])
            else:
                predictions[test] = np.asarray(model.predict(X_test)).reshape(len(test))
                fold_scores[repeat, fold] = r2_score(y[test], predictions[test])
                maes[repeat, fold] = mean_absolute_error(y[test], predictions[test])
        best_params.append(chosen)
        if classification:
            pooled[repeat] = roc_auc_score(y, predictions)
        else:
            pooled[repeat] = r2_score(y, predictions)
            pooled_mae[repeat] = mean_absolute_error(y, predictions)
    extra = {} if classification else {"mae": maes.mean(1), "pooled_mae": pooled_mae}
    return NestedCVResult(
        metric=scoring,
        fold_scores=fold_scores,
        repeat_scores=fold_scores.mean(1),
        pooled_scores=pooled,
        best_params=best_params,
        extra=extra,
    )


def permutation_test(
    estimator: Any,
    param_grid: ParamGrid,
    X: Any,
    y: Any,
    *,
    n_permutations: int = 100,
    observed: float | None = None,
    task: Literal["classification", "regression"] = "classification",
    outer_folds: int = 5,
    inner_folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
    n_jobs: int | None = None,
) -> PermutationResult:
    """Permutation test of a nested cross-validated score (module docstring).

    Each permutation shuffles ``y`` (seeded by ``seed``) and reruns
    :func:`nested_cross_validate` with the same splits' seeds and ``repeats`` repeats; the
    statistic is the mean of ``repeat_scores``. ``observed`` defaults to that statistic on
    the true labels with the same ``repeats``. Passing the mean over *more* repeats as
    ``observed`` (to save time) compares it with a wider null than its own, which makes
    ``p`` conservative for a score above chance.

    Raises:
        ValueError: as :func:`nested_cross_validate`, and naming ``n_permutations`` < 1.
    """
    check_int(n_permutations, "n_permutations", minimum=1)
    options = {
        "task": task,
        "outer_folds": outer_folds,
        "inner_folds": inner_folds,
        "repeats": repeats,
        "seed": seed,
        "n_jobs": n_jobs,
    }
    y = np.asarray(y)
    if observed is None:
        observed = nested_cross_validate(estimator, param_grid, X, y, **options).mean
    rng = np.random.default_rng(seed)
    null = np.array(
        [
            nested_cross_validate(estimator, param_grid, X, rng.permutation(y), **options).mean
            for _ in range(n_permutations)
        ]
    )
    p_value = (1 + int((null >= observed).sum())) / (1 + n_permutations)
    return PermutationResult(observed=float(observed), null=null, p_value=float(p_value))
