import numpy as np
import pytest
import torch

from ccnn.analysis.brain_age import BrainAgeBiasCorrection, brain_age_gap, brain_age_report

# Four training subjects whose predictions shrink towards the mean age (25): by hand,
# gap = [5, 2, -1, -4], mean age 25, mean gap 0.5, cov(age, gap) / var(age) = -150 / 500.
AGE = np.array([10.0, 20.0, 30.0, 40.0])
PREDICTED = np.array([15.0, 22.0, 29.0, 36.0])


def test_gap_is_predicted_minus_chronological_and_keeps_the_input_kind():
    np.testing.assert_allclose(brain_age_gap(PREDICTED, AGE), [5.0, 2.0, -1.0, -4.0])
    gap = brain_age_gap(torch.tensor(PREDICTED).reshape(4, 1), torch.tensor(AGE, dtype=torch.float32))
    assert isinstance(gap, torch.Tensor) and gap.dtype == torch.float64
    torch.testing.assert_close(gap, torch.tensor([5.0, 2.0, -1.0, -4.0], dtype=torch.float64))


def test_correction_fits_the_hand_computed_line_and_decorrelates_the_training_gap():
    correction = BrainAgeBiasCorrection().fit(PREDICTED, AGE)
    assert correction.slope == pytest.approx(-0.3)
    assert correction.intercept == pytest.approx(0.5 + 0.3 * 25)
    corrected = correction.transform(PREDICTED, AGE)
    # Each corrected gap by hand: gap - (8 - 0.3 age) = [0, 0, 0, 0] here (the gaps lie on the line).
    np.testing.assert_allclose(corrected, 0.0, atol=1e-12)
    # With scatter about the line, the training residuals have mean 0 and zero correlation with age.
    rng = np.random.default_rng(0)
    age = rng.uniform(10, 80, 50)
    predicted = 45 + 0.6 * (age - 45) + rng.normal(0, 5, 50)
    correction = BrainAgeBiasCorrection().fit(predicted, age)
    raw = brain_age_gap(predicted, age)
    corrected = correction.transform(predicted, age)
    assert np.corrcoef(raw, age)[0, 1] < -0.5  # regression to the mean: the raw gap falls with age
    assert abs(corrected.mean()) < 1e-10
    assert abs(np.corrcoef(corrected, age)[0, 1]) < 1e-10
    assert correction.slope == pytest.approx(np.polyfit(age, raw, 1)[0])


def test_fitting_on_train_and_applying_to_test_matches_the_formula():
    correction = BrainAgeBiasCorrection().fit(torch.tensor(PREDICTED), torch.tensor(AGE))
    test_age = torch.tensor([12.0, 55.0])
    test_predicted = torch.tensor([30.0, 50.0])
    expected = (test_predicted - test_age) - (8.0 - 0.3 * test_age)  # = [16.4, 13.5]
    corrected = correction.transform(test_predicted, test_age)
    assert isinstance(corrected, torch.Tensor)
    torch.testing.assert_close(corrected, expected.double())
    torch.testing.assert_close(
        correction.corrected_age(test_predicted, test_age), test_age.double() + expected.double()
    )
    torch.testing.assert_close(correction.age_trend(test_age), (8.0 - 0.3 * test_age).double())
    assert "-0.3" in repr(correction) and "4 subjects" in repr(correction)


def test_report_metrics_match_their_definitions():
    rng = np.random.default_rng(1)
    age = rng.uniform(10, 80, 40)
    predicted = 45 + 0.7 * (age - 45) + rng.normal(0, 4, 40)
    train, test = slice(0, 30), slice(30, 40)
    correction = BrainAgeBiasCorrection().fit(predicted[train], age[train])
    report = brain_age_report(predicted[test], age[test], correction)
    p, a = predicted[test], age[test]
    assert report["mae"] == pytest.approx(np.abs(p - a).mean())
    assert report["r2"] == pytest.approx(1 - ((p - a) ** 2).sum() / ((a - a.mean()) ** 2).sum())
    assert report["pearson_r"] == pytest.approx(np.corrcoef(p, a)[0, 1])
    assert report["mean_gap"] == pytest.approx((p - a).mean())
    assert report["gap_age_correlation"] < -0.5
    assert abs(report["corrected_gap_age_correlation"]) < 0.5  # out of sample: near 0, not exactly
    train_report = brain_age_report(predicted[train], age[train], correction)
    assert train_report["corrected_gap_age_correlation"] == pytest.approx(0.0, abs=1e-10)
    assert "corrected_mean_gap" not in brain_age_report(p, a)


def test_bad_inputs_raise_errors_naming_the_argument():
    with pytest.raises(
        ValueError, match="age: expected one chronological age per predicted age, 4 values, got 3"
    ):
        BrainAgeBiasCorrection().fit(PREDICTED, AGE[:3])
    with pytest.raises(ValueError, match="predicted_age: expected at least 2 training subjects"):
        BrainAgeBiasCorrection().fit([40.0], [30.0])
    with pytest.raises(ValueError, match="age: expected training ages that vary"):
        BrainAgeBiasCorrection().fit(PREDICTED, np.full(4, 30.0))
    with pytest.raises(ValueError, match=r"predicted_age: expected one age per subject, shape \(n,\)"):
        brain_age_gap(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="predicted_age: expected finite values"):
        brain_age_gap([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(TypeError, match="age: expected a tensor or array"):
        brain_age_gap(PREDICTED, "old")
    with pytest.raises(ValueError, match="call fit"):
        BrainAgeBiasCorrection().transform(PREDICTED, AGE)
    with pytest.raises(TypeError, match="correction: expected a BrainAgeBiasCorrection"):
        brain_age_report(PREDICTED, AGE, correction="smith")
    with pytest.raises(ValueError, match="age: expected ages that vary"):
        brain_age_report(PREDICTED, np.full(4, 30.0))
