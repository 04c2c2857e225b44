r"""Brain age: the brain-age gap, its age-bias correction, and a summary of a model's predictions.

A brain-age model predicts a subject's chronological age :math:`y` from a brain measurement
(here a connectome, e.g. with :class:`ccnn.models.ConnectomeGNN` and ``task="regression"``).
Its prediction :math:`\hat y` is the **brain age**, and the **brain-age gap** (also "brain-age
delta" or "brain-predicted age difference", brain-PAD) is

.. math:: \delta = \hat y - y,

positive for a brain that "looks older" than its age.

**Why the gap needs a correction.** A regression model fitted by least squares shrinks its
predictions towards the mean age of the training set ("regression to the mean", or
regression dilution): when the brain measurement explains only part of the variance of age,
:math:`\hat y \approx \bar y + \rho\,(y - \bar y)` with :math:`\rho < 1`, so young subjects
get :math:`\delta > 0` and old subjects :math:`\delta < 0`. The raw gap is then negatively
correlated with age, and any association between :math:`\delta` and a variable that itself
correlates with age (a disease, cognition, sex imbalance across ages) is confounded.

**The usual correction** (Le et al. 2018, Frontiers in Psychiatry 9:525; Smith et al. 2019,
NeuroImage 200:528; Beheshti et al. 2019, NeuroImage: Clinical 24:102063) regresses the gap
on age by ordinary least squares in the **training** subjects,

.. math::
    \delta = a + b\,y + \varepsilon, \qquad
    b = \frac{\operatorname{cov}(y, \delta)}{\operatorname{var}(y)}, \qquad
    a = \bar\delta - b\,\bar y,

and removes the fitted age trend from every subject's gap (training or new):

.. math:: \delta_{\rm corrected} = \delta - (a + b\,y).

On the training subjects the corrected gap is an OLS residual, so its mean is 0 and its
correlation with age is exactly 0. (Equivalently, the corrected brain age is
:math:`\hat y - a - b\,y`; Beheshti et al. write the same fit as :math:`\hat y = \alpha y + \beta`
and subtract :math:`(\alpha - 1) y + \beta`.) The correction uses the chronological age of
every subject it is applied to, which is known at test time in brain-age studies.

**Fit on training folds only.** :math:`a` and :math:`b` must come from subjects the model
was trained on (or a held-out calibration set), never from the subjects being assessed:
fitting them on the test set uses the test subjects' ages and predictions twice, forces the
test gap to be uncorrelated with age by construction and leaks, so that a downstream
association or group difference on the test subjects is no longer an out-of-sample result.
Since the corrected gap is uncorrelated with age by construction, its age correlation says
nothing about the model: report the MAE and :math:`R^2` of the uncorrected predictions.

Example:
    >>> import numpy as np
    >>> age_train = np.array([10.0, 20.0, 30.0, 40.0])
    >>> predicted_train = np.array([15.0, 22.0, 29.0, 36.0])  # shrunk towards the mean age
    >>> correction = BrainAgeBiasCorrection().fit(predicted_train, age_train)
    >>> round(correction.slope, 3), round(correction.intercept, 3)
    (-0.3, 8.0)
    >>> correction.transform(np.array([50.0]), np.array([40.0]))  # 10 - (8.0 - 0.3 * 40)
    array([14.])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, r2_score
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, describe

__all__ = ["BrainAgeBiasCorrection", "brain_age_gap", "brain_age_report"]


def _ages(value: Any, name: str) -> np.ndarray:
    """``value`` (tensor, array or sequence) as a finite float64 vector: shape (n,) or (n, 1)."""
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        value = value.copy()  # torch warns on read-only arrays (e.g. pandas' to_numpy())
    tensor = as_tensor(value, name)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name}: expected real numbers (ages in years), got {describe(value)}")
    if tensor.dim() == 2 and tensor.shape[1] == 1:
        tensor = tensor[:, 0]
    if tensor.dim() != 1:
        raise ValueError(
            f"{name}: expected one age per subject, shape (n,) or (n, 1), got {tuple(tensor.shape)}"
        )
    tensor = tensor.detach().to("cpu", torch.float64)
    check_finite(tensor, name)
    return tensor.numpy()


def _pair(predicted_age: Any, age: Any) -> tuple[np.ndarray, np.ndarray]:
    predicted, chronological = _ages(predicted_age, "predicted_age"), _ages(age, "age")
    if predicted.shape != chronological.shape:
        raise ValueError(
            f"age: expected one chronological age per predicted age, {predicted.shape[0]} values, "
            f"got {chronological.shape[0]}"
        )
    return predicted, chronological


def _like(result: np.ndarray, reference: Any) -> np.ndarray | Tensor:
    """``result`` as a tensor (on ``reference``'s device, float64) when ``reference`` is one."""
    if isinstance(reference, Tensor):
        return torch.as_tensor(result, dtype=torch.float64, device=reference.device)
    return result


def brain_age_gap(predicted_age: Any, age: Any) -> np.ndarray | Tensor:
    r"""The brain-age gap :math:`\delta = \hat y - y` (predicted minus chronological age).

    Args:
        predicted_age: the model's predicted ages :math:`\hat y`, shape (n,) or (n, 1).
        age: the chronological ages :math:`y`, the same number of subjects.

    Returns:
        The gaps (n,), float64: a tensor if ``predicted_age`` is one, else a NumPy array.
    """
    predicted, chronological = _pair(predicted_age, age)
    return _like(predicted - chronological, predicted_age)


class BrainAgeBiasCorrection:
    r"""The age-bias correction of the brain-age gap (module docstring): fit on training subjects.

    :meth:`fit` regresses the training gap on age, :math:`\delta = a + b\,y`
    (``intercept`` :math:`a`, ``slope`` :math:`b`); :meth:`transform` returns
    :math:`\delta - (a + b\,y)` for any subjects. Fit it on the predictions for the training
    folds (or a calibration set), never on the subjects you assess: that leaks.

    Attributes:
        intercept: :math:`a` in years (None before :meth:`fit`).
        slope: :math:`b`, years of gap per year of age (None before :meth:`fit`); about
            :math:`\rho - 1 < 0` for a model whose predictions shrink towards the mean age.
        n_subjects: training subjects the fit used.
    """

    def __init__(self) -> None:
        self.intercept: float | None = None
        self.slope: float | None = None
        self.n_subjects = 0

    def fit(self, predicted_age: Any, age: Any) -> BrainAgeBiasCorrection:
        """Fit :math:`\\delta = a + b\\,y` by least squares on training subjects; returns ``self``.

        Raises:
            ValueError: fewer than 2 subjects, mismatched lengths, non-finite values, or a
                constant age (the slope is then undefined).
        """
        predicted, chronological = _pair(predicted_age, age)
        if predicted.shape[0] < 2:
            raise ValueError(
                f"predicted_age: expected at least 2 training subjects to fit the gap's age trend, "
                f"got {predicted.shape[0]}"
            )
        centred_age = chronological - chronological.mean()
        variance = float(centred_age @ centred_age)
        if variance <= 1e-12 * max(1.0, float(np.abs(chronological).max()) ** 2) * len(chronological):
            raise ValueError(
                f"age: expected training ages that vary (the gap's slope on age is undefined for a "
                f"constant age), got every age = {chronological[0]:g}"
            )
        gap = predicted - chronological
        self.slope = float(centred_age @ (gap - gap.mean()) / variance)
        self.intercept = float(gap.mean() - self.slope * chronological.mean())
        self.n_subjects = int(predicted.shape[0])
        return self

    def _check_fitted(self) -> tuple[float, float]:
        if self.intercept is None or self.slope is None:
            raise ValueError(
                "BrainAgeBiasCorrection: call fit(predicted_age, age) on training subjects first"
            )
        return self.intercept, self.slope

    def age_trend(self, age: Any) -> np.ndarray | Tensor:
        r"""The fitted gap expected at each age, :math:`a + b\,y`."""
        intercept, slope = self._check_fitted()
        return _like(intercept + slope * _ages(age, "age"), age)

    def transform(self, predicted_age: Any, age: Any) -> np.ndarray | Tensor:
        r"""Corrected gaps :math:`\delta - (a + b\,y)` (n,), a tensor if ``predicted_age`` is one."""
        intercept, slope = self._check_fitted()
        predicted, chronological = _pair(predicted_age, age)
        return _like(predicted - chronological - (intercept + slope * chronological), predicted_age)

    def corrected_age(self, predicted_age: Any, age: Any) -> np.ndarray | Tensor:
        r"""Bias-corrected brain age :math:`\hat y - (a + b\,y)` = age + corrected gap."""
        corrected_gap = self.transform(predicted_age, age)
        return corrected_gap + _like(_ages(age, "age"), corrected_gap)

    def __repr__(self) -> str:
        if self.slope is None:
            return "BrainAgeBiasCorrection(not fitted)"
        return (
            f"BrainAgeBiasCorrection(gap = {self.intercept:.4g} + {self.slope:.4g} * age, "
            f"fitted on {self.n_subjects} subjects)"
        )


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r, NaN when either vector is constant."""
    x, y = x - x.mean(), y - y.mean()
    denominator = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y / denominator) if denominator > 0 else float("nan")


def brain_age_report(
    predicted_age: Any, age: Any, correction: BrainAgeBiasCorrection | None = None
) -> dict[str, float]:
    r"""Accuracy of predicted ages and the age dependence of their gap, as a dict of floats.

    Keys:

    * ``mae``: mean absolute error :math:`\frac1n\sum|\hat y - y|` (years);
    * ``r2``: coefficient of determination :math:`1 - \sum(\hat y - y)^2 / \sum(y - \bar y)^2`
      (0 for predicting the mean age, negative when worse);
    * ``pearson_r``: Pearson correlation of :math:`\hat y` and :math:`y`;
    * ``mean_gap``: :math:`\bar\delta` (years), ``gap_age_correlation``: corr(:math:`\delta`, y),
      negative for predictions that regress to the mean;
    * ``n_subjects``: the number of subjects (as a float, like every value);
    * with ``correction`` (a fitted :class:`BrainAgeBiasCorrection`): ``corrected_mean_gap`` and
      ``corrected_gap_age_correlation`` (0 on the subjects the correction was fitted on, close
      to 0 on new subjects from the same population).

    Needs at least 2 subjects with varying ages (for :math:`R^2` and the correlations).
    """
    predicted, chronological = _pair(predicted_age, age)
    if predicted.shape[0] < 2:
        raise ValueError(f"predicted_age: expected at least 2 subjects, got {predicted.shape[0]}")
    if np.ptp(chronological) == 0:
        raise ValueError(
            f"age: expected ages that vary (R^2 is undefined), got every age = {chronological[0]:g}"
        )
    gap = predicted - chronological
    report = {
        "mae": float(mean_absolute_error(chronological, predicted)),
        "r2": float(r2_score(chronological, predicted)),
        "pearson_r": _correlation(predicted, chronological),
        "mean_gap": float(gap.mean()),
        "gap_age_correlation": _correlation(gap, chronological),
        "n_subjects": float(predicted.shape[0]),
    }
    if correction is not None:
        if not isinstance(correction, BrainAgeBiasCorrection):
            raise TypeError(
                f"correction: expected a BrainAgeBiasCorrection or None, got {describe(correction)}"
            )
        corrected = np.asarray(correction.transform(predicted, chronological))
        report["corrected_mean_gap"] = float(corrected.mean())
        report["corrected_gap_age_correlation"] = _correlation(corrected, chronological)
    return report
