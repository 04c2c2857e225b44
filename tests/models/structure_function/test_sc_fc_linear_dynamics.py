"""Tests of the linear stochastic network model of FC (issue 19)."""

import numpy as np
import pytest
import torch
from scipy.linalg import solve_continuous_lyapunov

from ccnn.models.structure_function.evaluation import fc_similarity
from ccnn.models.structure_function.linear_dynamics import (
    LinearDynamicsFC,
    covariance_to_correlation,
    solve_lyapunov,
)

N = 8


def _sc(seed, n=N):
    g = torch.Generator().manual_seed(seed)
    sc = torch.rand(n, n, generator=g, dtype=torch.float64)
    sc = sc * (torch.rand(n, n, generator=g, dtype=torch.float64) < 0.6)
    return (sc + sc.T).fill_diagonal_(0)


def test_lyapunov_matches_scipy_on_nonsymmetric_stable_matrix():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6)) / 3 - 1.5 * np.eye(6)
    assert np.linalg.eigvals(a).real.max() < 0
    b = rng.standard_normal((6, 6))
    q = b @ b.T
    ref = solve_continuous_lyapunov(a, -q)
    got = solve_lyapunov(torch.from_numpy(a), torch.from_numpy(q)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-8, rtol=0)
    np.testing.assert_allclose(a @ got + got @ a.T + q, 0, atol=1e-8)


def test_correlation_of_covariance():
    cov = torch.tensor([[4.0, 1.0, 0.0], [1.0, 1.0, -0.5], [0.0, -0.5, 9.0]], dtype=torch.float64)
    ref = cov.numpy() / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.testing.assert_allclose(covariance_to_correlation(cov).numpy(), ref, atol=1e-12)


def test_model_masks_and_gradients():
    sc = _sc(1)
    model = LinearDynamicsFC(sc, gain=0.6, per_region_noise=True)
    w = model.coupling.weight
    assert bool((w[sc == 0] == 0).all())
    torch.testing.assert_close(w, sc / torch.linalg.eigvals(sc).abs().max())
    fc = model()
    torch.testing.assert_close(fc, fc.T)
    torch.testing.assert_close(fc.diagonal(), torch.ones(N, dtype=torch.float64))
    assert model.normalised_gain.item() == pytest.approx(0.6)
    (1 - fc_similarity_t(fc, torch.eye(N, dtype=torch.float64) + 0.1 * sc)).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert len(grads) == 3 and all(bool(torch.isfinite(g).all()) for g in grads)
    assert model.gain_logit.grad.abs().item() > 0
    # out-of-mask weights get no gradient
    assert bool((model.coupling.raw_weight.grad[sc == 0] == 0).all())
    # stable: every eigenvalue of A has a negative real part
    assert torch.linalg.eigvals(model.system_matrix()).real.max().item() < 0


def fc_similarity_t(a, b):
    iu = torch.triu_indices(a.shape[0], a.shape[0], 1)
    x, y = a[iu[0], iu[1]], b[iu[0], iu[1]]
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / (x.norm() * y.norm())


def test_fit_recovers_known_gain():
    sc = _sc(2)
    truth = LinearDynamicsFC(sc, gain=0.8, learn_coupling=False)
    target = truth().detach()
    model = LinearDynamicsFC(sc, gain=0.3, learn_coupling=False)
    before = fc_similarity(model().detach(), target)
    losses = model.fit(target, steps=150, lr=0.1, loss="mse")
    assert losses[-1] < 1e-3 * losses[0]
    assert model.normalised_gain.item() == pytest.approx(0.8, abs=0.01)
    assert fc_similarity(model().detach(), target) > max(before, 0.999)


def test_fit_correlation_loss_improves():
    sc = _sc(3)
    rng = np.random.default_rng(0)
    target = np.corrcoef(rng.standard_normal((N, 30)) + sc.numpy() @ rng.standard_normal((N, 30)))
    model = LinearDynamicsFC(sc, per_region_noise=True)
    losses = model.fit(target, steps=30, lr=0.05)
    assert losses[-1] < losses[0]


def test_bad_input():
    sc = _sc(4)
    with pytest.raises(ValueError, match=r"^a: expected a stable"):
        solve_lyapunov(torch.eye(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^q: expected shape"):
        solve_lyapunov(-torch.eye(3), torch.eye(2))
    with pytest.raises(ValueError, match=r"^gain: expected a float in \(0, 1\)"):
        LinearDynamicsFC(sc, gain=1.5)
    with pytest.raises(ValueError, match=r"^sc: expected non-negative"):
        LinearDynamicsFC(-sc)
    with pytest.raises(ValueError, match=r"^sc: expected shape"):
        LinearDynamicsFC(sc[:3])
    model = LinearDynamicsFC(sc)
    with pytest.raises(ValueError, match=r"^fc_target: expected shape"):
        model.fit(torch.eye(3))
    with pytest.raises(ValueError, match=r"^loss: expected one of"):
        model.fit(torch.eye(N), loss="l1")
