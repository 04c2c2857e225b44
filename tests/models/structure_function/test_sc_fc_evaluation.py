"""Tests of the FC similarity metrics and the Zalesky report (issue 19)."""

import numpy as np
import pytest

from ccnn.models.structure_function.evaluation import (
    fc_similarity,
    fc_similarity_matrix,
    upper_triangle,
    zalesky_report,
)


def _random_fc(count, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x = rng.standard_normal((n, 3 * n))
        out.append(np.corrcoef(x))
    return np.stack(out)


def _r(a, b):
    iu = np.triu_indices(a.shape[-1], 1)
    return np.corrcoef(a[iu], b[iu])[0, 1]


def test_upper_triangle_matches_numpy():
    m = np.arange(25.0).reshape(5, 5)
    np.testing.assert_array_equal(upper_triangle(m).numpy(), m[np.triu_indices(5, 1)])
    batch = np.stack([m, 2 * m])
    assert upper_triangle(batch).shape == (2, 10)


def test_fc_similarity_matches_corrcoef_and_batches():
    fc = _random_fc(3, 7, 0)
    assert fc_similarity(fc[0], fc[1]) == pytest.approx(_r(fc[0], fc[1]), abs=1e-12)
    batched = fc_similarity(fc[:2], fc[1:])
    np.testing.assert_allclose(batched.numpy(), [_r(fc[0], fc[1]), _r(fc[1], fc[2])], atol=1e-12)
    one_vs_many = fc_similarity(fc[0], fc)
    np.testing.assert_allclose(one_vs_many.numpy(), [_r(fc[0], f) for f in fc], atol=1e-12)
    full = fc_similarity_matrix(fc, fc[:2]).numpy()
    assert full.shape == (3, 2)
    assert full[2, 1] == pytest.approx(_r(fc[2], fc[1]), abs=1e-12)
    # the lower triangle and diagonal are ignored
    other = fc[1].copy()
    other[np.tril_indices(7)] = 5.0
    assert fc_similarity(fc[0], other) == pytest.approx(_r(fc[0], fc[1]), abs=1e-12)


def test_zalesky_report_by_hand():
    emp = _random_fc(4, 6, 1)
    train = _random_fc(2, 6, 2)
    rng = np.random.default_rng(3)
    pred = emp + 0.3 * rng.standard_normal(emp.shape)
    rep = zalesky_report(pred, emp, train)
    own = np.array([_r(pred[s], emp[s]) for s in range(4)])
    everyone = np.concatenate([emp, train])
    templates = [(everyone.sum(0) - emp[s]) / 5 for s in range(4)]
    tmpl = np.array([_r(templates[s], emp[s]) for s in range(4)])
    other = np.array([np.mean([_r(pred[s], emp[t]) for t in range(4) if t != s]) for s in range(4)])
    assert rep["group_r"] == pytest.approx(_r(pred.mean(0), emp.mean(0)), abs=1e-12)
    assert rep["individual_r_mean"] == pytest.approx(own.mean(), abs=1e-12)
    assert rep["individual_r_std"] == pytest.approx(own.std(), abs=1e-12)
    assert rep["group_template_r_mean"] == pytest.approx(tmpl.mean(), abs=1e-12)
    assert rep["beats_template_fraction"] == pytest.approx(np.mean(own > tmpl))
    assert rep["identifiability"] == pytest.approx(np.mean(own - other), abs=1e-12)
    assert set(rep) == {
        "group_r",
        "individual_r_mean",
        "individual_r_std",
        "group_template_r_mean",
        "beats_template_fraction",
        "identifiability",
    }


def test_perfect_and_constant_predictors():
    emp = _random_fc(5, 6, 4)
    perfect = zalesky_report(emp, emp)
    assert perfect["individual_r_mean"] == pytest.approx(1.0)
    assert perfect["beats_template_fraction"] == 1.0
    assert perfect["identifiability"] > 0.5
    constant = np.broadcast_to(_random_fc(1, 6, 5)[0], emp.shape).copy()
    rep = zalesky_report(constant, emp)
    assert rep["identifiability"] == pytest.approx(0.0, abs=1e-12)
    # the group-average template is itself a constant predictor: it cannot be identified
    template = np.broadcast_to(emp.mean(0), emp.shape).copy()
    assert zalesky_report(template, emp)["identifiability"] == pytest.approx(0.0, abs=1e-12)
    # each subject's leave-one-out template, as a prediction (summed in another order, so
    # equal only up to rounding), ties with itself: it never "beats" the template
    loo = np.stack([np.delete(emp, s, 0).mean(0) for s in range(5)])
    assert zalesky_report(loo, emp)["beats_template_fraction"] == 0.0


def test_leave_one_out_single_subject():
    emp = _random_fc(3, 5, 6)
    rep = zalesky_report(emp[0], emp[0], emp[1:])
    assert rep["group_template_r_mean"] == pytest.approx(_r(emp[1:].mean(0), emp[0]), abs=1e-12)
    assert rep["individual_r_std"] == 0.0
    assert np.isnan(rep["identifiability"])


def test_bad_input():
    fc = _random_fc(2, 5, 7)
    with pytest.raises(ValueError, match=r"^empirical: expected the shape"):
        zalesky_report(fc, fc[:1])
    with pytest.raises(ValueError, match=r"^others: expected at least one subject"):
        zalesky_report(fc[0], fc[0])
    with pytest.raises(ValueError, match=r"^b: expected"):
        fc_similarity(fc[0], np.eye(4))
    with pytest.raises(ValueError, match=r"^a: expected a square"):
        fc_similarity(np.ones((3, 4)), fc[0])
    with pytest.raises(TypeError, match=r"^a: expected"):
        fc_similarity("x", fc[0])
    with pytest.raises(ValueError, match=r"^predicted: expected finite"):
        zalesky_report(np.full((5, 5), np.nan), fc[0], fc[1:])
