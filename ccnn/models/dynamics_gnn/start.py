"""Load a closed-form library regression into a :class:`~ccnn.nn.DynamicsNetwork`.

The regression (:func:`ccnn.models.dynamics_gnn.solvers.library_regression.regress_dynamics`) gives W, one
φ coefficient vector per neuron and ψ (shared or per sender). The network instead has a
latent a_i per neuron from which the coefficients follow. The latents are the principal
components of the per-neuron coefficient vectors (φ's, plus ψ's when ψ depends on the
sender), standardised: with ``latent_dim`` at least the number of distinct directions
(2 for the published (s, c) type grids) the network reproduces the regression exactly.
MLP φ and ψ are instead trained to match the regression's functions on a grid
("distillation"), which is approximate.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ccnn.models.dynamics_gnn.solvers.library_regression import LibraryRegression
from ccnn.nn.dynamics import DynamicsNetwork
from ccnn.nn.function_library import FunctionLibrary, LibraryFunction
from ccnn.nn.siren import SIREN

__all__ = ["distil_stimulus", "initialise_from_regression"]


def _on_terms(coef: Tensor, source: list[str], target: list[str], name: str) -> Tensor:
    """Re-index coefficients (..., len(source)) onto the terms ``target``."""
    missing = [t for i, t in enumerate(source) if t not in target and bool(coef[..., i].abs().max() > 0)]
    if missing:
        raise ValueError(f"{name}: the network's library {target} lacks the regression's terms {missing}")
    out = coef.new_zeros(*coef.shape[:-1], len(target))
    for i, term in enumerate(source):
        if term in target:
            out[..., target.index(term)] = coef[..., i]
    return out


def _load_library(module: LibraryFunction, offset: Tensor, condition_map: Tensor | None) -> None:
    with torch.no_grad():
        module.offset.copy_(offset)
        if module.condition_map is not None:
            module.condition_map.weight.copy_(
                condition_map if condition_map is not None else torch.zeros_like(module.condition_map.weight)
            )


def _load_knots(network: DynamicsNetwork, knots: Tensor) -> None:
    """Copy a spline fit's knots (2, m) into the network's φ and ψ libraries."""
    for name, module in (("phi", network.phi), ("psi", network.psi)):
        if module.knots is None or module.knots.shape != knots.shape:
            raise ValueError(
                f"{name}_terms: the regression's spline terms need knots of shape {tuple(knots.shape)}, "
                f"but the network's {name} library has "
                f"{'no spline terms' if module.knots is None else tuple(module.knots.shape)}"
            )
        with torch.no_grad():
            module.knots.copy_(knots)


def _distil(module: nn.Module, inputs: Tensor, targets: Tensor, steps: int, lr: float = 1e-3) -> float:
    """Fit an MLP to (inputs, targets) by Adam; returns the final relative RMS error."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(0)  # on the CPU: the same draws on every device
    scale = targets.pow(2).mean().sqrt().clamp_min(1e-12)
    for _ in range(steps):
        rows = torch.randint(0, inputs.shape[0], (4096,), generator=generator).to(inputs.device)
        loss = (module(inputs[rows]).squeeze(-1) - targets[rows]).pow(2).mean() / scale**2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    with torch.no_grad():
        error = sum(
            float((module(inputs[i : i + 65536]).squeeze(-1) - targets[i : i + 65536]).pow(2).sum())
            for i in range(0, len(inputs), 65536)
        )
        return float(math.sqrt(error / len(inputs)) / scale)


def initialise_from_regression(
    network: DynamicsNetwork, result: LibraryRegression, *, distil_steps: int = 2000
) -> dict[str, float]:
    """Set W, the latents and φ / ψ of ``network`` from ``result`` (module docstring).

    Returns diagnostics: ``latent_unexplained`` (share of the coefficient variance that
    ``latent_dim`` components miss) and, for MLPs, the distillation errors.
    """
    n, dim = network.n_neurons, network.latent_dim
    if result.weight.shape != (n, n):
        raise ValueError(
            f"result: expected a regression over n_neurons={n} neurons, "
            f"got W of shape {tuple(result.weight.shape)}"
        )
    dtype, device = network.latents.dtype, network.latents.device
    per_sender = result.psi.dim() == 2
    phi_coef, psi_coef = result.phi.to(device, dtype), result.psi.to(device, dtype)
    stacked = torch.cat([phi_coef, psi_coef], 1) if per_sender else phi_coef
    mean = stacked.mean(0)
    _, singular, vh = torch.linalg.svd(stacked - mean, full_matrices=False)
    components = vh[:dim].T  # (D, ≤ dim)
    scores = (stacked - mean) @ components
    scale = scores.std(0).clamp_min(1e-12)
    latents = torch.zeros(n, dim, dtype=dtype, device=device)
    latents[:, : scores.shape[1]] = scores / scale
    loadings = torch.zeros(stacked.shape[1], dim, dtype=dtype, device=device)
    loadings[:, : scores.shape[1]] = components * scale
    energy = singular.pow(2)
    diagnostics = {"latent_unexplained": float(1 - energy[:dim].sum() / energy.sum().clamp_min(1e-300))}
    n_phi = phi_coef.shape[1]

    with torch.no_grad():
        network.latents.copy_(latents)
        weight = result.weight.to(device, dtype)
        if network.edge_index is None:
            network.weight.copy_(weight)
        else:
            network.weight.copy_(weight[network.edge_index[1], network.edge_index[0]])

    if network.functions == "library":
        if result.knots is not None:
            _load_knots(network, result.knots)
        phi_terms, psi_terms = network.phi.library.terms, network.psi.library.terms
        _load_library(
            network.phi,
            _on_terms(mean[:n_phi], result.phi_terms, phi_terms, "phi_terms"),
            _on_terms(loadings[:n_phi].T, result.phi_terms, phi_terms, "phi_terms").T,
        )
        if per_sender:
            offset = _on_terms(mean[n_phi:], result.psi_terms, psi_terms, "psi_terms")
            sender_map = _on_terms(loadings[n_phi:].T, result.psi_terms, psi_terms, "psi_terms").T
        else:
            offset, sender_map = _on_terms(psi_coef, result.psi_terms, psi_terms, "psi_terms"), None
        if network.psi_inputs == "x_j,a_i,a_j" and sender_map is not None:
            sender_map = torch.cat([torch.zeros_like(sender_map), sender_map], 1)  # [a_i, a_j]
        _load_library(network.psi, offset, sender_map)
        return diagnostics

    # MLPs: distil the regression's functions on a grid over the activity range.
    grid = torch.linspace(*result.x_range, 256, dtype=dtype, device=device)
    phi_values = FunctionLibrary(result.phi_terms, knots=result.knots)(grid) @ phi_coef.T  # (G, N)
    inputs = torch.cat(
        [grid.repeat_interleave(n).unsqueeze(1), latents.repeat(len(grid), 1)], 1
    )  # row g*N + i
    diagnostics["phi_distil_error"] = _distil(network.phi, inputs, phi_values.flatten(), distil_steps)
    psi_lib = FunctionLibrary(result.psi_terms, knots=result.knots)
    if per_sender:
        psi_values = psi_lib(grid) @ psi_coef.T  # (G, N)
        parts = [grid.repeat_interleave(n).unsqueeze(1)]
        if network.psi_inputs == "x_j,a_i,a_j":
            parts.append(latents.repeat(len(grid), 1))
        parts.append(latents.repeat(len(grid), 1))
        psi_inputs, psi_targets = torch.cat(parts, 1), psi_values.flatten()
    else:
        psi_values = psi_lib(grid) @ psi_coef  # (G,)
        extra = network.psi_inputs.count("a_") * dim
        psi_inputs = torch.cat([grid.unsqueeze(1), grid.new_zeros(len(grid), extra)], 1)
        if extra:  # ψ ignores the latents in the regression: distil it at every neuron's latent
            psi_inputs = torch.cat(
                [grid.repeat_interleave(n).unsqueeze(1), latents.repeat(len(grid), extra // dim)], 1
            )
            psi_values = psi_values.repeat_interleave(n)
        psi_targets = psi_values
    diagnostics["psi_distil_error"] = _distil(network.psi, psi_inputs, psi_targets, distil_steps)
    return diagnostics


def distil_stimulus(field: SIREN, coordinates: Tensor, omega: Tensor, *, steps: int) -> float:
    """Fit the Ω* coordinate network ``field`` to the regression's Ω at ``coordinates``
    (..., 3) → ``omega`` (...), by Adam at a SIREN's usual rate; returns the relative RMS
    error of Ω around its mean (the part that carries the stimulus)."""
    inputs, targets = coordinates.reshape(-1, coordinates.shape[-1]), omega.reshape(-1)
    mean = float(targets.mean())
    with torch.no_grad():
        field.output.bias.fill_(mean)  # start at the mean; the steps fit the variation
    error = _distil(field, inputs, targets, steps, lr=1e-4)
    return error * float(targets.pow(2).mean().sqrt()) / float((targets - mean).pow(2).mean().sqrt())
