"""The spline refinement of the closed-form start: exact when the functions lie in its basis,
loaded into the network without loss, and chosen by the model only when it does better."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch

from ccnn.data import ActivityDataModule, simulate_assembly
from ccnn.models import DynamicsGNN
from ccnn.models.dynamics_gnn.solvers.library_regression import LibraryRegression
from ccnn.models.dynamics_gnn.solvers.spline_refinement import (
    refine_with_splines,
    regression_prediction,
    regression_r2,
    regression_rollout_r2,
    spline_knots,
)
from ccnn.models.dynamics_gnn.start import initialise_from_regression
from ccnn.nn.dynamics import DynamicsNetwork
from ccnn.nn.function_library import FunctionLibrary, spline_terms

F64 = torch.float64


def spline_system(n=16, frames=2000, n_knots=4, seed=0):
    """States drawn at random and derivatives from a model whose φ (rank 2 + mean across
    neurons) and shared ψ lie in the refinement's spline basis over the same knots."""
    gen = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(frames, n, generator=gen, dtype=F64)
    knots = spline_knots(x, n_knots)
    basis = FunctionLibrary(spline_terms(n_knots), knots=knots)
    k = len(basis)
    beta = torch.linspace(0.2, 1.0, k, dtype=F64) * torch.tensor([1.0, -1.0], dtype=F64).repeat_interleave(
        k // 2
    )
    components = torch.randn(k + 1, 3, generator=gen, dtype=F64)  # on ["1", *spline terms]
    latents = torch.randn(n, 2, generator=gen, dtype=F64)
    phi_coef = components[:, 0] + latents @ components[:, 1:].T  # (N, k + 1)
    weight = torch.randn(n, n, generator=gen, dtype=F64) / n**0.5
    weight.fill_diagonal_(0)
    phi_basis = FunctionLibrary(["1", *basis.terms], knots=knots)
    y = (phi_basis(x) * phi_coef).sum(-1) + (basis(x) * beta).sum(-1) @ weight.T
    return x, y, weight, beta, latents, basis


def a_start(x, weight, latents, noise=0.05, seed=1):
    """A library-like start: W off by ``noise`` (relative), φ coefficients whose principal
    components span the true latents."""
    gen = torch.Generator().manual_seed(seed)
    n = weight.shape[0]
    noisy = weight + noise * weight.std() * torch.randn(n, n, generator=gen, dtype=F64)
    noisy.fill_diagonal_(0)
    phi = torch.cat([latents, torch.zeros(n, 3, dtype=F64)], 1)
    return LibraryRegression(
        weight=noisy,
        psi=torch.tensor([1.0, 0.0], dtype=F64),
        phi=phi,
        phi_terms=["x", "tanh(x)", "tanh(x/2)", "tanh(x/4)", "tanh(x/8)"],
        psi_terms=["tanh(x)", "x"],
        derivative_r2=0.9,
        rank1_residual=0.0,
        x_range=(float(x.min()), float(x.max())),
    )


def test_refinement_is_exact_when_the_functions_lie_in_its_basis():
    x, y, weight, beta, latents, _ = spline_system()
    start = a_start(x, weight, latents)
    assert regression_r2(refine_with_splines(x, y, start, n_knots=4, steps=1), x, y) < 1 - 1e-6
    # alternating least squares converges linearly: enough rounds reach the exact model
    refined = refine_with_splines(x, y, start, latent_dim=2, n_knots=4, steps=100, tolerance=1e-12)
    assert regression_r2(refined, x, y) > 1 - 1e-12
    # W and ψ up to the one scale they trade (ψ is normalised to rise by 2 over the range)
    scale = float((refined.weight * weight).sum() / (weight * weight).sum())
    torch.testing.assert_close(refined.weight, scale * weight, rtol=0, atol=1e-6 * float(weight.abs().max()))
    torch.testing.assert_close(refined.psi * scale, beta, rtol=1e-6, atol=1e-8)
    held_out = 3 * torch.randn(500, x.shape[1], generator=torch.Generator().manual_seed(9), dtype=F64)
    exact = {**refined.__dict__, "weight": weight, "psi": beta}
    truth = regression_prediction(LibraryRegression(**exact), held_out)
    torch.testing.assert_close(regression_prediction(refined, held_out), truth, rtol=1e-6, atol=1e-6)


def test_the_refined_fit_loads_into_the_network_without_loss():
    x, y, weight, _, latents, _ = spline_system(n=16, frames=1500)
    refined = refine_with_splines(x, y, a_start(x, weight, latents), latent_dim=2, n_knots=4)
    terms = spline_terms(4)
    network = DynamicsNetwork(
        16, functions="library", phi_terms=["x", "tanh(x)", "1", *terms], psi_terms=["tanh(x)", "x", *terms]
    ).double()
    initialise_from_regression(network, refined)
    torch.testing.assert_close(network.phi.knots, refined.knots)
    with torch.no_grad():
        torch.testing.assert_close(
            network(x[:200]), regression_prediction(refined, x[:200]), rtol=1e-9, atol=1e-9
        )
    small = DynamicsNetwork(16, functions="library", psi_terms=["tanh(x)", "x", *spline_terms(3)])
    with pytest.raises(ValueError, match="knots of shape"):
        initialise_from_regression(small, refined)


def test_refinement_needs_a_shared_psi_and_matching_shapes():
    x, y, weight, _, latents, _ = spline_system(n=8, frames=400)
    start = a_start(x, weight, latents)
    with pytest.raises(ValueError, match="shared ψ"):
        refine_with_splines(x, y, LibraryRegression(**{**start.__dict__, "psi": torch.ones(8, 2, dtype=F64)}))
    with pytest.raises(ValueError, match="expected a fit over 7 neurons"):
        refine_with_splines(x[:, :7], y[:, :7], start)
    with pytest.raises(ValueError, match="n_knots"):
        refine_with_splines(x, y, start, n_knots=0)


def test_rollout_score_is_one_for_the_exact_model_and_minus_infinity_when_it_diverges():
    rec = simulate_assembly(n_neurons=20, n_frames=300, seed=0, progress=False)
    x = torch.as_tensor(rec.activity, dtype=F64)
    g, s, c = torch.as_tensor(rec.neuron_params, dtype=F64).T
    exact = LibraryRegression(
        weight=g[:, None] * torch.as_tensor(rec.connectivity, dtype=F64),
        psi=torch.tensor([1.0], dtype=F64),
        phi=torch.stack([-c, s], 1),
        phi_terms=["x", "tanh(x)"],
        psi_terms=["tanh(x)"],
        derivative_r2=1.0,
        rank1_residual=0.0,
        x_range=(-1.0, 1.0),
    )
    assert regression_rollout_r2(exact, x[:101], rec.dt) > 1 - 1e-6
    unstable = LibraryRegression(**{**exact.__dict__, "phi": torch.stack([c * 5000, s], 1)})
    assert regression_rollout_r2(unstable, x[:101], rec.dt) == float("-inf")


def test_the_model_keeps_the_library_start_when_it_fits_and_can_be_told_never_to_refine(tmp_path):
    rec = simulate_assembly(
        n_neurons=30, n_frames=3000, seed=1, type_params=[[10, 1, 1], [10, 2, 2]], progress=False
    )
    path = tmp_path / "rec.npz"
    rec.save(path)
    for refine in ("auto", "never"):
        out = tmp_path / refine
        model = DynamicsGNN(
            30, refine=refine, output_dir=str(out), lr_weight=1e-6, lr_functions=1e-6, lr_latents=1e-6
        )
        trainer = L.Trainer(
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            limit_train_batches=2,
            limit_val_batches=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(model, ActivityDataModule(path, rollout_steps=200))
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["connectivity_r2"] > 0.999
        if refine == "auto":
            assert metrics["start/refined"] == 0.0 and metrics["start/library_heldout_r2"] > 1 - 1e-5
        else:
            assert "start/refined" not in metrics
    with pytest.raises(ValueError, match="refine: expected"):
        DynamicsGNN(30, refine="sometimes")
