"""Tests for :mod:`ccnn.data.connectomes.transforms`, checked against NumPy / SciPy hand computations."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import rankdata

from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.transforms import (
    TRANSFORMS,
    Binarise,
    Compose,
    Log1p,
    Normalise,
    PassToRanks,
    RemoveSelfLoops,
    Symmetrise,
    ThresholdDensity,
    parse_transforms,
)

N = 6


def random_weights(n: int = N, seed: int = 0, p: float = 0.6) -> np.ndarray:
    """Non-negative float64 weights with about 1 - p zeros (no ties among the nonzero ones)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 50.0, (n, n)) * (rng.random((n, n)) < p)


def out(connectome: Connectome) -> np.ndarray:
    return connectome.weights.numpy()


def full_connectome(weights: np.ndarray) -> Connectome:
    """A connectome with every optional field set."""
    n = weights.shape[0]
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(n, 3))
    return Connectome(
        weights,
        distances=cdist(coords, coords) + 1.0,
        coords=coords,
        labels=[f"r{i}" for i in range(n)],
        node_attrs={
            "hemisphere": np.arange(n) % 2,
            "waytotal": rng.uniform(100.0, 1000.0, n),
        },
        meta={"subject": "sub-07", "atlas": "toy", "nested": {"a": [1, 2]}},
    )


# ---------------------------------------------------------------------- each transform vs NumPy


def test_log1p_matches_numpy():
    w = random_weights()
    np.testing.assert_allclose(out(Log1p()(Connectome(w))), np.log(1.0 + w), rtol=1e-12)


def test_normalise_max_matches_numpy():
    w = random_weights()
    np.testing.assert_allclose(out(Normalise("max")(Connectome(w))), w / w.max(), rtol=1e-12)
    # |w| counts: a negative entry with the largest magnitude sets the scale.
    signed = w.copy()
    signed[0, 1] = -100.0
    result = out(Normalise("max")(Connectome(signed)))
    np.testing.assert_allclose(result, signed / 100.0, rtol=1e-12)
    assert result.min() == -1.0


def test_normalise_max_of_all_zero_matrix_stays_zero():
    result = out(Normalise("max")(Connectome(np.zeros((3, 3)))))
    np.testing.assert_array_equal(result, np.zeros((3, 3)))


def test_normalise_row_sum_matches_numpy_and_keeps_zero_rows():
    w = random_weights()
    w[2] = 0.0
    w[4, 1] = -3.0  # sums of |w|
    expected = w.copy()
    for i in range(N):
        total = np.abs(w[i]).sum()
        if total > 0:
            expected[i] = w[i] / total
    result = out(Normalise("row_sum")(Connectome(w)))
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    np.testing.assert_array_equal(result[2], np.zeros(N))
    rows = np.abs(result).sum(1)
    np.testing.assert_allclose(np.delete(rows, 2), 1.0, rtol=1e-12)
    assert np.isfinite(result).all()


def test_normalise_waytotal_divides_each_row():
    w = random_weights()
    waytotal = np.array([10.0, 20.0, 5.0, 400.0, 1.0, 8.0])
    connectome = Connectome(w, node_attrs={"waytotal": waytotal})
    expected = np.empty_like(w)
    for i in range(N):
        for j in range(N):
            expected[i, j] = w[i, j] / waytotal[i]  # row i is divided, not column i
    np.testing.assert_allclose(out(Normalise("waytotal")(connectome)), expected, rtol=1e-12)


def test_normalise_waytotal_accepts_integer_counts():
    w = random_weights()
    waytotal = np.array([3, 1, 4, 1, 5, 9], dtype=np.int64)
    result = out(Normalise("waytotal")(Connectome(w, node_attrs={"waytotal": waytotal})))
    np.testing.assert_allclose(result, w / waytotal[:, None], rtol=1e-12)


def reference_threshold(w: np.ndarray, density: float) -> np.ndarray:
    """Keep the k = round(density * N^2) largest |w| (no ties assumed), at most the nonzero ones."""
    strength = np.abs(w).ravel()
    k = min(round(density * w.size), int(np.count_nonzero(strength)))
    keep = np.zeros(w.size, dtype=bool)
    keep[np.argsort(-strength, kind="stable")[:k]] = True
    return np.where(keep.reshape(w.shape), w, 0.0)


@pytest.mark.parametrize("density", [0.05, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_threshold_keeps_the_strongest_entries(density):
    w = random_weights(seed=3)
    w[1, 2] = -60.0  # strongest by magnitude
    result = out(ThresholdDensity(density)(Connectome(w)))
    expected = reference_threshold(w, density)
    np.testing.assert_array_equal(result, expected)
    assert np.count_nonzero(result) == min(round(density * N * N), np.count_nonzero(w))
    assert result[1, 2] == -60.0
    # Every kept entry is at least as strong as every dropped nonzero one.
    kept, dropped = np.abs(w[result != 0]), np.abs(w[(result == 0) & (w != 0)])
    if kept.size and dropped.size:
        assert kept.min() > dropped.max()


def test_threshold_density_below_one_entry_gives_zeros():
    w = random_weights()
    result = out(ThresholdDensity(0.01)(Connectome(w)))  # round(0.36) = 0
    np.testing.assert_array_equal(result, np.zeros_like(w))


def test_threshold_on_symmetric_matrix_with_ties_stays_symmetric():
    # Each off-diagonal value appears twice (w[i, j] = w[j, i]), all pairs distinct.
    n = 5
    w = np.zeros((n, n))
    value = 1.0
    for i in range(n):
        for j in range(i + 1, n):
            w[i, j] = w[j, i] = value
            value += 1.0
    assert np.array_equal(w, w.T)
    for density in [0.04, 0.12, 0.2, 0.28, 0.36, 0.6]:
        k = round(density * n * n)
        assert k % 2 == 1  # a plain top-k would split a tied pair
        result = out(ThresholdDensity(density)(Connectome(w)))
        np.testing.assert_array_equal(result, result.T)
        # Hand computation: keep every entry at least as strong as the k-th strongest.
        cutoff = np.sort(w.ravel())[::-1][k - 1]
        np.testing.assert_array_equal(result, np.where(w >= cutoff, w, 0.0))
        assert np.count_nonzero(result) == k + 1


def test_binarise_matches_numpy():
    w = random_weights()
    w[0, 3] = -2.0  # a negative weight is still a connection
    result = out(Binarise()(Connectome(w)))
    np.testing.assert_array_equal(result, (w != 0).astype(float))
    assert result[0, 3] == 1.0


def test_symmetrise_matches_numpy():
    w = random_weights()
    result = out(Symmetrise()(Connectome(w)))
    np.testing.assert_allclose(result, (w + w.T) / 2, rtol=1e-12)
    np.testing.assert_array_equal(result, result.T)
    assert result[0, 1] == pytest.approx((w[0, 1] + w[1, 0]) / 2)


def test_pass_to_ranks_matches_scipy_rankdata():
    rng = np.random.default_rng(5)
    # Small integers, so there are plenty of ties; about a third zeros.
    w = rng.integers(0, 5, (N, N)).astype(float)
    nonzero = w != 0
    values = w[nonzero]
    assert len(np.unique(values)) < values.size  # ties present
    expected = np.zeros_like(w)
    expected[nonzero] = rankdata(values, method="average") / (values.size + 1)
    result = out(PassToRanks()(Connectome(w)))
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    np.testing.assert_array_equal(result == 0, ~nonzero)
    assert (result[nonzero] > 0).all() and (result[nonzero] < 1).all()
    # Tied weights get equal ranks; a larger weight gets a larger rank.
    for a in np.unique(values):
        assert len(np.unique(result[w == a])) == 1
    order = np.unique(values)
    means = [result[w == a][0] for a in order]
    assert all(x < y for x, y in pairwise(means))


def test_pass_to_ranks_by_hand():
    w = np.array([[0.0, 3.0, 1.0], [3.0, 0.0, 7.0], [0.0, 0.0, 0.0]])
    # nonzero in row-major order: 3, 1, 3, 7 -> ranks 2.5, 1, 2.5, 4, divided by 5
    expected = np.array([[0.0, 0.5, 0.2], [0.5, 0.0, 0.8], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(out(PassToRanks()(Connectome(w))), expected, rtol=1e-12)


def test_pass_to_ranks_of_all_zero_matrix():
    np.testing.assert_array_equal(out(PassToRanks()(Connectome(np.zeros((3, 3))))), np.zeros((3, 3)))


def test_remove_self_loops_matches_numpy():
    w = random_weights() + np.eye(N)
    expected = w.copy()
    np.fill_diagonal(expected, 0.0)
    result = out(RemoveSelfLoops()(Connectome(w)))
    np.testing.assert_array_equal(result, expected)
    assert np.diag(result).sum() == 0


def test_float32_weights_keep_their_dtype():
    w = random_weights().astype(np.float32)
    for transform in [Log1p(), Normalise("max"), PassToRanks(), Symmetrise()]:
        assert transform(Connectome(w)).weights.dtype == torch.float32


# ---------------------------------------------------------------------- metadata

ALL_TRANSFORMS = [
    (Log1p(), "log1p"),
    (Normalise("max"), "normalise:max"),
    (Normalise("row_sum"), "normalise:row_sum"),
    (Normalise("waytotal"), "normalise:waytotal"),
    (ThresholdDensity(0.3), "threshold:0.3"),
    (Binarise(), "binarise"),
    (Symmetrise(), "symmetrise"),
    (PassToRanks(), "pass_to_ranks"),
    (RemoveSelfLoops(), "remove_self_loops"),
]


@pytest.mark.parametrize(("transform", "record"), ALL_TRANSFORMS, ids=[r for _, r in ALL_TRANSFORMS])
def test_transform_keeps_metadata_and_records_itself(transform, record):
    w = random_weights() + np.eye(N)
    original = full_connectome(w)
    before = original.weights.clone()
    result = transform(original)

    assert result is not original
    torch.testing.assert_close(original.weights, before, rtol=0, atol=0)  # input untouched
    torch.testing.assert_close(result.distances, original.distances, rtol=0, atol=0)
    torch.testing.assert_close(result.coords, original.coords, rtol=0, atol=0)
    assert result.labels == original.labels
    assert set(result.node_attrs) == {"hemisphere", "waytotal"}
    for name, value in original.node_attrs.items():
        assert result.node_attrs[name].dtype == value.dtype
        torch.testing.assert_close(result.node_attrs[name], value, rtol=0, atol=0)
    assert result.meta == {
        "subject": "sub-07",
        "atlas": "toy",
        "nested": {"a": [1, 2]},
        "transforms": [record],
    }
    assert "transforms" not in original.meta


def test_distances_computed_from_coords_follow_the_coords():
    coords = np.random.default_rng(2).normal(size=(N, 2))
    result = Log1p()(Connectome(random_weights(), coords=coords))
    np.testing.assert_allclose(result.distances.numpy(), cdist(coords, coords), atol=1e-12)


def test_meta_transforms_record_the_pipeline_in_order():
    connectome = full_connectome(random_weights())
    names = ["remove_self_loops", "log1p", "normalise:row_sum", "threshold:0.3", "binarise"]
    pipeline = parse_transforms(names)
    result = pipeline(connectome)
    assert result.meta["transforms"] == [
        "remove_self_loops",
        "log1p",
        "normalise:row_sum",
        "threshold:0.3",
        "binarise",
    ]
    # A second pipeline appends to the record.
    again = parse_transforms(["symmetrise"])(result)
    assert again.meta["transforms"] == [*result.meta["transforms"], "symmetrise"]


# ---------------------------------------------------------------------- composition


def test_parse_transforms_equals_the_classes_in_order():
    w = random_weights(seed=11)
    connectome = full_connectome(w)
    parsed = parse_transforms(["log1p", "normalise:max", "threshold:0.5"])
    assert isinstance(parsed, Compose) and len(parsed) == 3
    by_hand = ThresholdDensity(0.5)(Normalise("max")(Log1p()(connectome)))
    result = parsed(connectome)
    torch.testing.assert_close(result.weights, by_hand.weights, rtol=0, atol=0)
    assert result.meta == by_hand.meta
    # And both equal the NumPy computation.
    logged = np.log1p(w)
    np.testing.assert_allclose(out(result), reference_threshold(logged / logged.max(), 0.5), rtol=1e-12)


def test_parse_transforms_order_matters():
    w = random_weights(seed=4)
    a = parse_transforms(["normalise:max", "log1p"])(Connectome(w))
    b = parse_transforms(["log1p", "normalise:max"])(Connectome(w))
    np.testing.assert_allclose(out(a), np.log1p(w / w.max()), rtol=1e-12)
    np.testing.assert_allclose(out(b), np.log1p(w) / np.log1p(w).max(), rtol=1e-12)
    assert not np.allclose(out(a), out(b))


def test_parse_transforms_accepts_callables():
    w = random_weights()

    def double(connectome: Connectome) -> Connectome:
        return Connectome(2 * connectome.weights, meta=connectome.meta)

    pipeline = parse_transforms([double, "log1p", Symmetrise()])
    result = pipeline(Connectome(w))
    logged = np.log1p(2 * w)
    np.testing.assert_allclose(out(result), (logged + logged.T) / 2, rtol=1e-12)
    assert result.meta["transforms"] == ["log1p", "symmetrise"]


def test_parse_transforms_of_none_or_empty_is_identity():
    w = random_weights()
    for specs in (None, []):
        pipeline = parse_transforms(specs)
        assert len(pipeline) == 0
        np.testing.assert_array_equal(out(pipeline(Connectome(w))), w)


def test_every_registered_name_parses():
    arguments = {"normalise": "row_sum", "threshold": "0.5"}
    for name, (_, convert) in TRANSFORMS.items():
        spec = f"{name}:{arguments[name]}" if convert is not None else name
        result = parse_transforms([spec])(Connectome(random_weights()))
        assert result.meta["transforms"] == [spec]


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("transform", "name"), [(Log1p(), "log1p"), (PassToRanks(), "pass_to_ranks")])
def test_negative_weights_are_rejected_with_the_minimum(transform, name):
    w = random_weights()
    w[3, 1] = -0.75
    w[0, 0] = -0.5
    with pytest.raises(ValueError, match=rf"{name}: expected non-negative weights.*minimum of -0\.75"):
        transform(Connectome(w))
    with pytest.raises(ValueError, match=r"-0\.75 \(subject sub-07\)"):
        transform(full_connectome(w))


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("log2", r"unknown transform 'log2'.*'log1p'"),
        ("threshold", r"'threshold' needs an argument"),
        ("threshold:", r"'threshold' needs an argument"),
        ("normalise", r"'normalise' needs an argument"),
        ("log1p:3", r"'log1p' takes no argument, got 'log1p:3'"),
        ("binarise:yes", r"'binarise' takes no argument"),
        ("threshold:0", r"'threshold:0'.*density in \(0, 1\], got 0\.0"),
        ("threshold:1.5", r"'threshold:1.5'.*density in \(0, 1\], got 1\.5"),
        ("threshold:-0.2", r"density in \(0, 1\]"),
        ("threshold:nan", r"density in \(0, 1\]"),
        ("threshold:abc", r"'threshold:abc'.*abc"),
        ("normalise:mean", r"'normalise:mean'.*mode in \('max', 'row_sum', 'waytotal'\), got 'mean'"),
    ],
)
def test_bad_specs_raise_value_error_naming_the_problem(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        parse_transforms(["log1p", spec])


@pytest.mark.parametrize("density", [0, 0.0, 1.0001, -1, float("inf"), float("nan")])
def test_threshold_density_outside_unit_interval(density):
    with pytest.raises(ValueError, match=r"threshold: expected a density in \(0, 1\]"):
        ThresholdDensity(density)


def test_unknown_normalise_mode():
    with pytest.raises(ValueError, match=r"normalise: expected a mode in .* got 'l2'"):
        Normalise("l2")


def test_plain_string_instead_of_list_is_a_type_error():
    with pytest.raises(TypeError, match="expected a list of transform names, got the string 'log1p'"):
        parse_transforms("log1p")


def test_non_string_non_callable_spec_is_a_type_error():
    with pytest.raises(TypeError, match="expected names or callables, got 3"):
        parse_transforms(["log1p", 3])


def test_normalise_waytotal_without_node_attr():
    connectome = Connectome(random_weights(), node_attrs={"hemisphere": np.zeros(N)}, meta={"subject": "s9"})
    with pytest.raises(ValueError, match=r"node_attrs\['waytotal'\].*\['hemisphere'\] \(subject s9\)"):
        parse_transforms(["normalise:waytotal"])(connectome)


def test_normalise_waytotal_rejects_non_positive_values():
    waytotal = np.array([1.0, 2.0, 0.0, 4.0, 5.0, 6.0])
    with pytest.raises(ValueError, match="positive waytotals"):
        Normalise("waytotal")(Connectome(random_weights(), node_attrs={"waytotal": waytotal}))
