"""Tests of regional structure–function coupling: per-region Pearson r of FC rows (issue 19)."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from ccnn.models.structure_function import regional_coupling


def _random_fc(count, n, seed):
    rng = np.random.default_rng(seed)
    return np.stack([np.corrcoef(rng.standard_normal((n, 3 * n))) for _ in range(count)])


def test_each_region_is_the_pearson_r_of_its_off_diagonal_row():
    predicted, empirical = _random_fc(2, 7, seed=0)
    r = regional_coupling(predicted, empirical)
    expected = [pearsonr(np.delete(predicted[i], i), np.delete(empirical[i], i)).statistic for i in range(7)]
    assert r.shape == (7,) and r.dtype == torch.float64
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-12)


def test_the_diagonal_is_left_out():
    predicted, empirical = _random_fc(2, 5, seed=1)
    moved = predicted.copy()
    np.fill_diagonal(moved, 50.0)  # any diagonal: the same coupling
    np.testing.assert_allclose(regional_coupling(moved, empirical), regional_coupling(predicted, empirical))


def test_a_batch_gives_one_row_of_regions_per_pair():
    predicted, empirical = _random_fc(3, 6, seed=2), _random_fc(3, 6, seed=3)
    batched = regional_coupling(torch.as_tensor(predicted), torch.as_tensor(empirical))
    assert batched.shape == (3, 6)
    for b in range(3):
        np.testing.assert_allclose(batched[b], regional_coupling(predicted[b], empirical[b]))


def test_an_affine_map_of_the_empirical_fc_is_perfectly_coupled():
    (empirical,) = _random_fc(1, 5, seed=4)
    np.testing.assert_allclose(regional_coupling(3 * empirical - 1, empirical), np.ones(5))


@pytest.mark.parametrize(
    ("predicted", "empirical", "match"),
    [
        (np.eye(5), np.eye(4), "empirical: expected the shape of predicted"),
        (np.ones((2, 5, 5)), np.ones((3, 5, 5)), "empirical: expected the shape of predicted"),
        (np.ones((5, 4)), np.ones((5, 4)), "predicted: expected a square matrix"),
        (np.ones(5), np.ones(5), "predicted: expected a square matrix"),
    ],
)
def test_mismatched_or_non_square_input_is_a_value_error(predicted, empirical, match):
    with pytest.raises(ValueError, match=match):
        regional_coupling(predicted, empirical)


def test_non_finite_input_is_a_value_error():
    bad = np.eye(4)
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="empirical: expected finite values"):
        regional_coupling(np.eye(4), bad)
