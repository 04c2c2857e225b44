import numpy as np
import pytest
import torch
from torch import Tensor

from ccnn.models.dynamics_gnn.solvers.library_regression import (
    _normal_equations,
    _psi_features,
    _refit,
    _search_sender_terms,
    _search_shared_psi,
    _swap_gains,
    regress_dynamics,
)
from ccnn.nn.function_library import FunctionLibrary

F64 = torch.float64
PHI = ["x", "tanh(x)"]
PSI = ["tanh(x)", "tanh(x/2)"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def planted(n=12, frames=3000, per_sender=False, seed=0):
    """Random states and the exact derivative of a planted model whose functions lie in the libraries."""
    g = torch.Generator().manual_seed(seed)
    x = 4 * torch.randn(frames, n, generator=g, dtype=F64)
    w = torch.randn(n, n, generator=g, dtype=F64) / n**0.5
    w.fill_diagonal_(0)
    phi = torch.stack(
        [-(1 + torch.rand(n, generator=g, dtype=F64)), 1 + torch.rand(n, generator=g, dtype=F64)], 1
    )
    psi = torch.rand(n, 2, generator=g, dtype=F64) if per_sender else torch.tensor([[1.0, 0.5]], dtype=F64)
    psi_values = (FunctionLibrary(PSI)(x) * psi).sum(-1)
    y = (FunctionLibrary(PHI)(x) * phi).sum(-1) + psi_values @ w.T
    return x, y, w, phi, psi


def normalised_truth(x, w, psi):
    ends = FunctionLibrary(PSI)(torch.tensor([x.min(), x.max()], dtype=F64)) @ psi.T  # (2, rows)
    plateau = (ends[1] - ends[0]) / 2
    return w * plateau, psi / plateau.unsqueeze(1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("per_sender", [False, True])
def test_planted_model_is_recovered_exactly(per_sender, device):
    x, y, w, phi, psi = planted(per_sender=per_sender)
    result = regress_dynamics(
        x.to(device), y.to(device), phi_terms=PHI, psi_terms=PSI, per_sender_psi=per_sender, prune=0
    )
    assert {t.device.type for t in (result.weight, result.psi, result.phi)} == {device}
    result.weight, result.psi, result.phi = result.weight.cpu(), result.psi.cpu(), result.phi.cpu()
    true_w, true_psi = normalised_truth(x, w, psi)
    torch.testing.assert_close(result.weight, true_w, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(
        result.psi.reshape(true_psi.shape) if per_sender else result.psi,
        true_psi.squeeze(0) if not per_sender else true_psi,
        atol=1e-7,
        rtol=1e-6,
    )
    # φ comes back on the ψ terms first, then the other φ terms: [tanh(x), tanh(x/2), x]
    assert result.phi_terms == ["tanh(x)", "tanh(x/2)", "x"]
    torch.testing.assert_close(result.phi[:, [2, 0]], phi, atol=1e-6, rtol=1e-6)
    assert result.phi[:, 1].abs().max() < 1e-6
    assert result.derivative_r2 > 1 - 1e-9
    assert result.rank1_residual < 1e-12


def test_matches_a_per_neuron_least_squares_reference_on_noisy_data():
    x, y, *_ = planted(n=8, frames=600)
    noisy = y + 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    psi = torch.tensor([1.0, 0.0], dtype=F64)  # one-term ψ: the refit is the whole fit
    result = regress_dynamics(x, noisy, phi_terms=PHI, psi_terms=["tanh(x)"], prune=0, ridge=0.0)
    features = torch.tanh(x)
    ends = torch.tanh(torch.tensor([x.min(), x.max()], dtype=F64))
    plateau = (ends[1] - ends[0]) / 2
    for i in range(8):
        others = [j for j in range(8) if j != i]
        design = torch.cat([features[:, others], FunctionLibrary(PHI)(x[:, i])], 1).numpy()
        solution = np.linalg.lstsq(design, noisy[:, i].numpy(), rcond=None)[0]
        np.testing.assert_allclose(
            result.weight[i, others].numpy(), solution[:7] / plateau.item(), rtol=1e-6, atol=1e-9
        )
        assert result.weight[i, i] == 0
    assert psi[1] == 0


def test_pruning_removes_unused_terms():
    x, y, *_ = planted(n=10)
    result = regress_dynamics(x, y, phi_terms=[*PHI, "x^3"], psi_terms=[*PSI, "x"], prune=0.01)
    assert result.psi[2] == 0  # the linear ψ term
    assert (result.phi[:, result.phi_terms.index("x^3")] == 0).all()


def test_bad_inputs_raise():
    x = torch.randn(50, 4)
    with pytest.raises(ValueError, match="derivative"):
        regress_dynamics(x, torch.randn(50, 5), phi_terms=PHI, psi_terms=PSI)
    with pytest.raises(ValueError, match="constant"):
        regress_dynamics(x, x, phi_terms=PHI, psi_terms=["1", "tanh(x)"])
    with pytest.raises(ValueError, match="activity"):
        regress_dynamics(x.clone().fill_(float("nan")), x, phi_terms=PHI, psi_terms=PSI)


def test_phi_term_small_beside_a_wide_linear_term_is_kept():
    # x spans ±hundreds (as with σ = 7.2 noise): s·tanh(x) is < 1 % of c·x in size, yet the
    # fit needs it; φ's term selection judges by the residual, so it stays and junk goes.
    x, _, w, phi, psi = planted(n=10)
    x = 50 * x
    y = (FunctionLibrary(PHI)(x) * phi).sum(-1) + (FunctionLibrary(PSI)(x) * psi).sum(-1) @ w.T
    phi_terms = [*PHI, "tanh(x/4)"]
    result = regress_dynamics(x, y, phi_terms=phi_terms, psi_terms=PSI, prune=0.05)
    share = phi[:, 1].abs() / (phi[:, 0].abs() * x.pow(2).mean().sqrt() + phi[:, 1].abs())
    assert share.max() < 0.05  # a size-based pruning at 0.05 would drop tanh(x)
    torch.testing.assert_close(
        result.phi[:, result.phi_terms.index("tanh(x)")], phi[:, 1], atol=1e-5, rtol=1e-5
    )
    assert (result.phi[:, result.phi_terms.index("tanh(x/4)")] == 0).all()


def test_shared_psi_search_recovers_from_a_wrong_start():
    x, y, w, _, psi = planted(n=12)
    union = FunctionLibrary([*PSI, "x"])
    wrong = torch.tensor([0.0, 1.0], dtype=F64)  # tanh(x/2) alone
    found = _search_shared_psi(x, y, wrong, FunctionLibrary(PSI), union, 1e-12, 1024, steps=20)
    torch.testing.assert_close(found / found[0], psi[0] / psi[0, 0], atol=1e-4, rtol=1e-4)
    # Forcing the search inside regress_dynamics keeps the exact answer.
    result = regress_dynamics(x, y, phi_terms=PHI, psi_terms=PSI, prune=0, rank1_tolerance=0.0)
    torch.testing.assert_close(result.weight, normalised_truth(x, w, psi)[0], atol=1e-6, rtol=1e-6)


def test_swap_gains_match_brute_force_least_squares():
    # Shared design Ψ (column j = F β_j); every one-column replacement is refitted by lstsq.
    g = torch.Generator().manual_seed(3)
    frames, n, k, receivers = 80, 6, 3, 4
    features = torch.randn(frames, k * n, generator=g, dtype=F64)  # column k·N + j
    beta = torch.nn.functional.one_hot(torch.randint(k, (n,), generator=g), k).to(F64)
    beta[1] = torch.tensor([0.5, -1.0, 2.0], dtype=F64)  # not only one-hot rows
    y = torch.randn(frames, receivers, generator=g, dtype=F64)

    def design(b: Tensor) -> Tensor:
        return (features.view(frames, k, n) * b.T.unsqueeze(0)).sum(1)

    def sse(columns: Tensor) -> float:
        solution = torch.linalg.lstsq(columns, y).solution
        return float(((y - columns @ solution) ** 2).sum()), solution

    base, solution = sse(design(beta))
    residual = y - design(beta) @ solution
    change = _swap_gains(features.T @ features, beta, solution.T, features.T @ residual, ridge=0.0)
    expected = torch.zeros(n, k, dtype=F64)
    for j in range(n):
        for term in range(k):
            swapped = beta.clone()
            swapped[j] = torch.nn.functional.one_hot(torch.tensor(term), k).to(F64)
            expected[j, term] = sse(design(swapped))[0] - base
    torch.testing.assert_close(change, expected, atol=1e-8, rtol=1e-8)


def test_sender_term_search_finds_each_senders_term():
    # Each sender's ψ is one of three terms; the search starts from one shared term.
    g = torch.Generator().manual_seed(4)
    n, frames = 16, 4000
    psi_terms = ["tanh(x)", "tanh(x/2)", "tanh(x/4)"]
    x = 4 * torch.randn(frames, n, generator=g, dtype=F64)
    w = torch.randn(n, n, generator=g, dtype=F64) / n**0.5
    w.fill_diagonal_(0)
    terms = torch.arange(n) % 3
    library = FunctionLibrary(psi_terms)
    psi_values = library(x)[torch.arange(frames).unsqueeze(1), torch.arange(n), terms]
    y = -x + 2 * torch.tanh(x) + psi_values @ w.T
    union = FunctionLibrary([*psi_terms, "x"])
    receivers = torch.arange(n)
    gram = _normal_equations(x, y, library, 3, None, 1024, receivers=receivers[:0]).gram
    found = _search_sender_terms(x, y, gram, library, union, receivers, 1e-12, 1024, steps=20, progress=False)
    assert torch.equal(found.argmax(1), terms)
    assert torch.equal(found.sum(1), torch.ones(n, dtype=F64))
    # Inside regress_dynamics (forced by rank1_tolerance=0) the model comes back exactly.
    result = regress_dynamics(
        x,
        y,
        phi_terms=["x", "tanh(x)"],
        psi_terms=psi_terms,
        per_sender_psi=True,
        prune=0,
        rank1_tolerance=0.0,
    )
    ends = library(torch.tensor([x.min(), x.max()], dtype=F64))[:, terms]  # (2, senders)
    torch.testing.assert_close(result.weight, w * (ends[1] - ends[0]) / 2, atol=1e-6, rtol=1e-6)


def test_refit_stays_exact_when_senders_nearly_span_a_receivers_own_terms():
    """In an assembly the senders' activity is driven by a few shared signals, so a
    receiver's own terms (x_i, tanh x_i) lie almost in the senders' span and the φ Schur
    complement is a small difference of large numbers. With exact data the refit must still
    return the planted W and φ (the explicit-inverse downdate used before missed by 2e-8)."""
    g = torch.Generator().manual_seed(0)
    frames, n = 3000, 120
    drive = torch.randn(frames, 8, generator=g, dtype=F64) @ torch.randn(8, n, generator=g, dtype=F64)
    x = drive / 2**0.5 + 1e-5 * torch.randn(frames, n, generator=g, dtype=F64)
    w = torch.randn(n, n, generator=g, dtype=F64) / n**0.5
    w.fill_diagonal_(0)
    y = torch.tanh(x / 4) @ w.T - x + torch.tanh(x)
    receivers = torch.tensor([0, 50, 119])
    weight, phi, _ = _refit(x, y, _psi_features(FunctionLibrary(["tanh(x/4)"]), torch.ones(1, dtype=F64)),
                            FunctionLibrary(PHI), 0.0, 1024, receivers)  # fmt: skip
    torch.testing.assert_close(weight, w[receivers], atol=1e-9, rtol=0)
    torch.testing.assert_close(phi, torch.tensor([[-1.0, 1.0]], dtype=F64).expand(3, 2), atol=1e-9, rtol=0)
