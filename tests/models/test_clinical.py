"""ccnn.models.clinical: the tangent embedding against a direct computation, nested CV that
never fits on test subjects, planted effects found and null ones not, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm, logm, sqrtm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ccnn.models.clinical import (
    ConnectomeGNNClassifier,
    EdgeFeatures,
    TangentSpace,
    edge_features,
    nearest_spd_correlation,
    nested_cross_validate,
    permutation_test,
)


def random_correlations(n_subjects: int, n: int, seed: int = 0) -> np.ndarray:
    """SPD correlation matrices from random time series."""
    rng = np.random.default_rng(seed)
    series = rng.normal(size=(n_subjects, 3 * n, n)) @ (np.eye(n) + 0.3 * rng.normal(size=(n, n)))
    return np.stack([np.corrcoef(s.T) for s in series])


def planted_cohort(n_subjects: int = 40, n: int = 6, effect: float = 1.5, seed: int = 0):
    """Symmetric signed matrices with zero diagonal; class 1 adds ``effect`` to edge (0, 1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_subjects) % 2
    weights = rng.normal(scale=0.5, size=(n_subjects, n, n))
    weights = (weights + weights.transpose(0, 2, 1)) / 2
    weights[:, 0, 1] += effect * y
    weights[:, 1, 0] += effect * y
    weights[:, np.arange(n), np.arange(n)] = 0
    return weights, y


def edge_logistic():
    return make_pipeline(EdgeFeatures(), StandardScaler(), LogisticRegression(solver="liblinear"))


#: Subject-id sets that RecordingEdges was fitted on (module level: clone deep-copies parameters).
FITTED: list[set[int]] = []


class RecordingEdges(EdgeFeatures):
    """EdgeFeatures that records in FITTED the subject ids it was fitted on (the ids are
    stored in entry [0, 0] of each matrix, on its otherwise unused diagonal)."""

    def fit(self, X, y=None):
        FITTED.append(set(np.asarray(X)[:, 0, 0].astype(int).tolist()))
        return super().fit(X, y)


# ---------------------------------------------------------------------- features
def test_edge_features_are_the_upper_triangle_row_by_row():
    weights = np.arange(2 * 9, dtype=float).reshape(2, 3, 3)
    np.testing.assert_array_equal(edge_features(weights), [[1, 2, 5], [10, 11, 14]])


def test_tangent_embedding_matches_a_direct_computation_on_spd_input():
    matrices = random_correlations(5, 4)
    tangent = TangentSpace(mean="log_euclidean", min_eigenvalue=1e-6).fit(matrices)
    reference = expm(np.mean([logm(c) for c in matrices], axis=0)).real
    np.testing.assert_allclose(tangent.reference_, reference, atol=1e-10)
    inverse_root = np.linalg.inv(sqrtm(reference).real)
    direct = np.stack([logm(inverse_root @ c @ inverse_root).real for c in matrices])
    rows, cols = np.triu_indices(4)
    vectors = direct[:, rows, cols] * np.where(rows == cols, 1, np.sqrt(2))
    embedded = tangent.transform(matrices)
    np.testing.assert_allclose(embedded, vectors, atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), np.linalg.norm(direct, axis=(1, 2)))


def test_geometric_mean_is_the_point_where_the_tangent_vectors_average_to_zero():
    matrices = random_correlations(6, 4, seed=1)
    tangent = TangentSpace(mean="geometric", min_eigenvalue=1e-6).fit(matrices)
    np.testing.assert_allclose(tangent.transform(matrices).mean(0), 0, atol=1e-6)
    # and it differs from the log-Euclidean mean (otherwise the test above proves little)
    log_euclidean = TangentSpace(mean="log_euclidean", min_eigenvalue=1e-6).fit(matrices)
    assert np.abs(log_euclidean.reference_ - tangent.reference_).max() > 1e-4


def test_the_embedding_of_the_reference_is_zero():
    one = random_correlations(1, 5, seed=2)
    tangent = TangentSpace().fit(one)
    np.testing.assert_allclose(tangent.transform(one), 0, atol=1e-10)


def test_indefinite_connectomes_become_spd_correlations():
    weights, _ = planted_cohort(4, 5, effect=3.0)
    spd = nearest_spd_correlation(weights * 3, shrinkage=0.2)
    assert np.linalg.eigvalsh(spd).min() > 0
    np.testing.assert_allclose(np.diagonal(spd, axis1=1, axis2=2), 1)
    with pytest.raises(ValueError, match="shrinkage"):
        nearest_spd_correlation(weights, shrinkage=1.5)


# ---------------------------------------------------------------------- nested CV
def test_nested_cv_never_fits_on_the_outer_test_subjects():
    weights, y = planted_cohort(30, 4)
    weights[:, 0, 0] = np.arange(30)  # subject id on the diagonal (EdgeFeatures ignores it)
    FITTED.clear()
    log = FITTED
    estimator = make_pipeline(RecordingEdges(), LogisticRegression(solver="liblinear"))
    outer, inner, repeats = 3, 3, 2
    result = nested_cross_validate(
        estimator, {"logisticregression__C": [0.1, 1.0]}, weights, y,
        outer_folds=outer, inner_folds=inner, repeats=repeats, seed=3,
    )  # fmt: skip
    # per outer fold: 2 grid points × 3 inner fits, then one refit on the outer training set
    assert len(log) == repeats * outer * (2 * inner + 1)
    from sklearn.model_selection import StratifiedKFold

    per_fold = 2 * inner + 1
    for repeat in range(repeats):
        splits = StratifiedKFold(outer, shuffle=True, random_state=3 + repeat).split(weights, y)
        for fold, (train, test) in enumerate(splits):
            fits = log[(repeat * outer + fold) * per_fold : (repeat * outer + fold + 1) * per_fold]
            assert all(fitted.isdisjoint(test) for fitted in fits)
            assert fits[-1] == set(train.tolist())  # the refit sees the whole outer training set
            assert all(len(fitted) < len(train) for fitted in fits[:-1])
    assert len(result.best_params) == repeats and len(result.best_params[0]) == outer


def test_a_planted_edge_is_found_and_shuffled_labels_are_at_chance():
    weights, y = planted_cohort(40, 6)
    grid = {"logisticregression__C": [0.1, 1.0]}
    planted = nested_cross_validate(edge_logistic(), grid, weights, y, inner_folds=3, repeats=2)
    assert planted.mean > 0.85
    assert planted.fold_scores.shape == (2, 5) and planted.pooled_scores.shape == (2,)
    shuffled = np.random.default_rng(1).permutation(y)
    null = nested_cross_validate(edge_logistic(), grid, weights, shuffled, inner_folds=3, repeats=3)
    assert abs(null.mean - 0.5) < 0.2


def test_permutation_p_value_is_small_for_a_planted_effect_and_large_for_none():
    weights, y = planted_cohort(30, 5, effect=2.0)
    options = {"n_permutations": 9, "outer_folds": 3, "inner_folds": 3, "seed": 0}
    planted = permutation_test(edge_logistic(), None, weights, y, **options)
    assert planted.p_value == pytest.approx(0.1)  # the smallest possible with 9 permutations
    null_y = np.random.default_rng(5).permutation(y)
    null = permutation_test(edge_logistic(), None, weights * 0 + np.random.default_rng(6).normal(
        size=weights.shape), null_y, **options)  # fmt: skip
    assert null.p_value > 0.1
    assert null.summary()["n_permutations"] == 9


def test_age_like_regression_is_scored_by_r2_and_mae():
    from sklearn.linear_model import Ridge

    weights, _ = planted_cohort(30, 5)
    target = 3 * weights[:, 0, 1] + np.random.default_rng(0).normal(scale=0.1, size=30)
    estimator = make_pipeline(EdgeFeatures(), Ridge())
    result = nested_cross_validate(
        estimator,
        {"ridge__alpha": [0.1, 1.0]},
        weights,
        target,
        task="regression",
        outer_folds=3,
        inner_folds=3,
        repeats=1,
    )
    assert result.metric == "r2" and result.mean > 0.8
    assert set(result.summary()) >= {"mae", "pooled_mae", "best_params"}


def test_the_gnn_classifier_runs_inside_nested_cv():
    weights, y = planted_cohort(20, 5, effect=3.0)
    gnn = ConnectomeGNNClassifier(hidden=4, epochs=30, readout="concat")
    result = nested_cross_validate(
        gnn, {"conv": ["edge_weighted"]}, weights, y, outer_folds=2, inner_folds=2, repeats=1
    )
    assert 0 <= result.mean <= 1
    assert result.best_params[0][0] == {"conv": "edge_weighted"}
    fitted = ConnectomeGNNClassifier(hidden=4, epochs=30, readout="concat").fit(weights, y)
    again = ConnectomeGNNClassifier(hidden=4, epochs=30, readout="concat").fit(weights, y)
    np.testing.assert_allclose(fitted.predict_proba(weights), again.predict_proba(weights))  # seeded
    assert fitted.predict_proba(weights).shape == (20, 2)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("labels", "options", "name"),
    [
        (np.zeros(20, dtype=int), {}, "y"),
        (np.r_[np.zeros(17, dtype=int), np.ones(3, dtype=int)], {"outer_folds": 5}, "outer_folds"),
        (
            np.r_[np.zeros(14, dtype=int), np.ones(6, dtype=int)],
            {"outer_folds": 3, "inner_folds": 5},
            "inner_folds",
        ),
        (np.arange(20) % 3, {}, "y"),
        (np.arange(19) % 2, {}, "y"),
    ],
)
def test_bad_labels_and_folds_raise_one_value_error_naming_the_argument(labels, options, name):
    weights, _ = planted_cohort(20, 4)
    with pytest.raises(ValueError, match=rf"^{name}:"):
        nested_cross_validate(edge_logistic(), None, weights, labels, **options)


def test_bad_matrices_raise_naming_x():
    with pytest.raises(ValueError, match=r"^X:"):
        TangentSpace().fit(np.zeros((3, 4, 5)))
