r"""A synthetic cohort whose connectomes change with age by a known rule, for brain-age tests.

:func:`synthetic_age_cohort` draws ``n_subjects`` ages uniformly in ``age_range`` =
:math:`[y_{\min}, y_{\max}]` and builds one symmetric, non-negative ``n_regions`` ×
``n_regions`` connectome per subject:

.. math::
    W_{ij}(y) = \max\Big(0,\; B_{ij}\,\big(1 - d\, A_{ij}\, t(y)\big) + \sigma\,\varepsilon_{ij}\Big),
    \qquad t(y) = \frac{y - y_{\min}}{y_{\max} - y_{\min}} \in [0, 1],

with

* :math:`B` a baseline connectome shared by every subject, :math:`B_{ij} = B_{ji}` uniform in
  [0.5, 1] off the diagonal, 0 on it;
* :math:`A_{ij} = A_{ji} \in \{0, 1\}` marks the **ageing edges**: a fixed random share
  ``ageing_fraction`` of the region pairs, whose strength falls linearly with age by the
  factor ``decline`` :math:`d` between the youngest and the oldest age (e.g. white-matter
  connections weakening with age); every other edge has no age effect;
* :math:`\varepsilon_{ij} = \varepsilon_{ji} \sim \mathcal N(0, 1)` independent per subject and
  pair (subject noise of size ``noise`` :math:`\sigma`); the clipping at 0 keeps the weights
  non-negative, as streamline counts or densities are.

The participants table (indexed by ``participant_id`` ``sub-001``, ``sub-002``, ...) has
``age`` (years) and ``sex`` (``"F"`` / ``"M"``, drawn independently of age and with no effect
on the connectome: a negative control). The rule is known, so a brain-age model on these
connectomes must recover age (an :math:`R^2` well above 0), and must not recover a shuffled age.

:func:`write_folder` writes a cohort in the folder layout that
:func:`ccnn.data.load_connectome_cohort` and :class:`ccnn.data.ConnectomeDataModule` read (one
``<participant_id>.csv`` matrix per subject plus ``participants.tsv``), so the same data can
be used exactly as a user's own folder cohort.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ccnn._validation import check_int, check_real, describe
from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.datasets import ConnectomeCohort

__all__ = ["synthetic_age_cohort", "write_folder"]


def synthetic_age_cohort(
    n_subjects: int = 60,
    n_regions: int = 20,
    age_range: tuple[float, float] = (8.0, 80.0),
    *,
    noise: float = 0.1,
    ageing_fraction: float = 0.25,
    decline: float = 0.6,
    seed: int = 0,
) -> ConnectomeCohort:
    r"""Connectomes whose ageing edges weaken linearly with age (module docstring for the rule).

    Args:
        n_subjects: subjects (≥ 2).
        n_regions: regions per connectome (≥ 2).
        age_range: (youngest, oldest) age in years; ages are uniform in it.
        noise: standard deviation :math:`\sigma` of the per-subject edge noise (≥ 0).
        ageing_fraction: share of region pairs that are ageing edges, in (0, 1]; at least one
            pair is always chosen.
        decline: relative loss :math:`d` of an ageing edge's strength from the youngest to the
            oldest age, in [0, 1] (0: no age effect at all).
        seed: seeds the baseline, the ageing edges, the ages, the sexes and the noise.

    Returns:
        A :class:`ConnectomeCohort` named ``"synthetic_age"``: float64 connectomes with
        ``meta["ageing_edges"]`` (the (i, j) pairs, i < j, of the ageing edges) and a
        participants table with ``age`` and ``sex``.
    """
    n_subjects = check_int(n_subjects, "n_subjects", minimum=2)
    n_regions = check_int(n_regions, "n_regions", minimum=2)
    if (
        not isinstance(age_range, tuple | list)
        or len(age_range) != 2
        or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in age_range)
        or not np.isfinite(age_range).all()
        or not age_range[0] < age_range[1]
    ):
        raise ValueError(
            f"age_range: expected (youngest, oldest) with youngest < oldest, got {describe(age_range)}"
        )
    noise = check_real(noise, "noise", positive=False)
    ageing_fraction = check_real(ageing_fraction, "ageing_fraction", positive=True)
    if ageing_fraction > 1:
        raise ValueError(f"ageing_fraction: expected a share in (0, 1], got {ageing_fraction}")
    decline = check_real(decline, "decline", positive=False)
    if decline > 1:
        raise ValueError(f"decline: expected a relative loss in [0, 1], got {decline}")
    check_int(seed, "seed", minimum=0)

    rng = np.random.default_rng(seed)
    upper = np.triu_indices(n_regions, 1)
    n_pairs = len(upper[0])
    baseline = rng.uniform(0.5, 1.0, n_pairs)
    n_ageing = max(1, round(ageing_fraction * n_pairs))
    ageing = np.zeros(n_pairs, dtype=bool)
    ageing[rng.choice(n_pairs, n_ageing, replace=False)] = True
    youngest, oldest = float(age_range[0]), float(age_range[1])
    ages = rng.uniform(youngest, oldest, n_subjects)
    sexes = rng.choice(np.array(["F", "M"]), n_subjects)

    subjects = [f"sub-{index + 1:03d}" for index in range(n_subjects)]
    ageing_edges = [[int(upper[0][k]), int(upper[1][k])] for k in np.flatnonzero(ageing)]
    connectomes = []
    for subject, age in zip(subjects, ages, strict=True):
        stage = (age - youngest) / (oldest - youngest)
        strength = baseline * (1.0 - decline * ageing * stage) + noise * rng.standard_normal(n_pairs)
        weights = np.zeros((n_regions, n_regions))
        weights[upper] = np.maximum(strength, 0.0)
        weights = weights + weights.T
        meta = {"dataset": "synthetic_age", "subject": subject, "ageing_edges": ageing_edges}
        connectomes.append(Connectome(weights, meta=meta))
    participants = pd.DataFrame(
        {"age": np.round(ages, 2), "sex": sexes}, index=pd.Index(subjects, name="participant_id")
    )
    return ConnectomeCohort("synthetic_age", connectomes, participants)


def write_folder(cohort: ConnectomeCohort, path: str | os.PathLike[str]) -> Path:
    """Write ``cohort`` as a folder cohort: ``<participant_id>.csv`` per subject and ``participants.tsv``.

    The layout :func:`ccnn.data.load_connectome_cohort` reads (a dense comma-separated matrix
    per subject, rows = targets, and a tab-separated table with a ``participant_id`` column).
    The folder is created if needed; existing files of the same names are replaced.

    Returns:
        The folder, as a :class:`~pathlib.Path`.
    """
    if not isinstance(cohort, ConnectomeCohort):
        raise TypeError(f"cohort: expected a ConnectomeCohort, got {describe(cohort)}")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"path: expected a folder (or a new path), got the file {str(folder)!r}")
    folder.mkdir(parents=True, exist_ok=True)
    for subject, connectome in zip(cohort.subjects, cohort.connectomes, strict=True):
        weights = connectome.weights
        dense = weights.to_dense() if weights.is_sparse else weights
        np.savetxt(folder / f"{subject}.csv", dense.double().numpy(), delimiter=",", fmt="%.10g")
    table = cohort.participants.copy()
    table.index = table.index.rename("participant_id")
    table.to_csv(folder / "participants.tsv", sep="\t")
    return folder
