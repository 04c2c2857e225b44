import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from ccnn.data.activity.simulation import simulate_assembly
from ccnn.models.dynamics_gnn.solvers.stimulus_regression import _neighbour_mean, regress_stimulated_dynamics
from ccnn.nn.function_library import FunctionLibrary

F64 = torch.float64
PHI = ["x", "tanh(x)"]
PSI = ["tanh(x)", "tanh(x/2)"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def planted(n=24, side=3, frames=4000, bin_frames=20, seed=0):
    """Random states, a planted model with a per-bin stimulus on the first side² neurons.

    Every row of W holds the same multiset of values (a permutation), so each row's median
    |W| is identical: the scale that step 3 of the regression assigns is then exact.
    """
    g = torch.Generator().manual_seed(seed)
    x = 4 * torch.randn(frames, n, generator=g, dtype=F64)
    values = torch.randn(n - 1, generator=g, dtype=F64) / n**0.5
    w = torch.zeros(n, n, dtype=F64)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        w[i, others] = values[torch.randperm(n - 1, generator=g)]
    phi = torch.stack(
        [-(1 + torch.rand(n, generator=g, dtype=F64)), 1 + torch.rand(n, generator=g, dtype=F64)], 1
    )
    psi = torch.tensor([[1.0, 0.5]], dtype=F64)  # shared: W's columns keep one scale
    stimulated = side * side
    n_bins = frames // bin_frames
    omega_bins = torch.ones(n_bins, n, dtype=F64)
    omega_bins[:, :stimulated] = 0.7 + 0.5 * torch.rand(n_bins, stimulated, generator=g, dtype=F64)
    omega = omega_bins[torch.arange(frames) // bin_frames]
    y = (FunctionLibrary(PHI)(x) * phi).sum(-1) + omega * ((FunctionLibrary(PSI)(x) * psi).sum(-1) @ w.T)
    axis = torch.linspace(0, 1, side, dtype=F64)
    positions = torch.full((n, 2), float("nan"), dtype=F64)
    positions[:stimulated] = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    return x, y, w, omega, positions


def fit(x, y, positions, **kwargs):
    options = {"bin_frames": 20, "per_sender_psi": False, "prune": 0, "max_steps": 200, "tolerance": 1e-9}
    options.update(kwargs)
    return regress_stimulated_dynamics(
        x, y, torch.arange(len(x)), positions, phi_terms=PHI, psi_terms=PSI, **options
    )


def r2(a, b):
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1] ** 2)


@pytest.mark.parametrize("device", DEVICES)
def test_planted_stimulus_connectivity_and_scale_are_recovered(device):
    x, y, w, omega, positions = planted()
    result = fit(x.to(device), y.to(device), positions, neighbours=1)
    assert result.stimulus.device.type == result.dynamics.weight.device.type == device
    frames = torch.arange(len(x))
    estimated = result.at(frames, x.shape[1]).cpu()
    result.dynamics.weight = result.dynamics.weight.cpu()
    # ψ is normalised (W takes its scale), so W matches up to one global factor; Ω exactly,
    # because every row has the same median |W| as the unstimulated rows that fix the scale.
    torch.testing.assert_close(estimated, omega, atol=1e-5, rtol=1e-5)
    assert r2(result.dynamics.weight, w) > 1 - 1e-9
    ratio = result.dynamics.weight[w != 0] / w[w != 0]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio.mean())), atol=1e-5, rtol=1e-5)
    assert result.dynamics.derivative_r2 > 1 - 1e-9
    assert result.residuals[-1] < 1e-10 < result.residuals[0]


def test_without_neighbours_each_stimulus_averages_one():
    x, y, _, omega, positions = planted(seed=1)
    result = fit(x, y, positions, neighbours=0)
    stimulated = result.stimulated
    torch.testing.assert_close(result.stimulus.mean(0), torch.ones(len(stimulated), dtype=F64))
    # Ω per neuron is right up to its own scale: the ratio to the truth is constant in time.
    ratio = result.at(torch.arange(len(x)), x.shape[1])[:, stimulated] / omega[:, stimulated]
    torch.testing.assert_close(ratio, ratio.mean(0, keepdim=True).expand_as(ratio), atol=1e-5, rtol=1e-5)


def test_bins_without_frames_are_nan_and_the_rest_still_fit():
    x, y, _, omega, positions = planted(seed=2)
    keep = (torch.arange(len(x)) // 20) % 5 != 3  # every fifth bin has no frames
    result = regress_stimulated_dynamics(
        x[keep], y[keep], torch.arange(len(x))[keep], positions, phi_terms=PHI, psi_terms=PSI,
        bin_frames=20, per_sender_psi=False, prune=0, max_steps=200, tolerance=1e-9, neighbours=1,
    )  # fmt: skip
    empty = torch.arange(result.stimulus.shape[0]) % 5 == 3
    assert result.stimulus[empty].isnan().all() and not result.stimulus[~empty].isnan().any()
    torch.testing.assert_close(result.stimulus[~empty], omega[::20][~empty, : result.stimulus.shape[1]])


def test_neighbour_mean_matches_a_kd_tree():
    g = torch.Generator().manual_seed(0)
    points, values = torch.rand(50, 2, generator=g, dtype=F64), torch.randn(50, generator=g, dtype=F64)
    _, nearest = cKDTree(points.numpy()).query(points.numpy(), k=7)
    expected = values.numpy()[nearest].mean(1)
    np.testing.assert_allclose(_neighbour_mean(values, points, 7).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"positions": "all"}, "positions: expected some stimulated"),
        ({"positions": "none"}, "positions: expected some stimulated"),
        ({"frames": "reversed"}, "frames: expected strictly increasing"),
        ({"bin_frames": 0}, "bin_frames"),
        ({"neighbours": -1}, "neighbours"),
    ],
)
def test_bad_input_is_named(change, match):
    x, y, _, _, positions = planted(frames=400)
    frames = torch.arange(len(x))
    if change.get("positions") == "all":
        positions = torch.rand_like(positions)
    elif change.get("positions") == "none":
        positions = torch.full_like(positions, float("nan"))
    if change.get("frames") == "reversed":
        frames = frames.flip(0)
    options = {k: v for k, v in change.items() if k in ("bin_frames", "neighbours")}
    with pytest.raises(ValueError, match=match):
        regress_stimulated_dynamics(x, y, frames, positions, phi_terms=PHI, psi_terms=PSI, **options)


def test_simulated_stimulus_and_leak_are_recovered_from_real_dynamics():
    """On simulated dynamics the leak -c x_i trades against a rescaling of Ω·W (x_i follows its
    own input), a flat valley where alternating W/Ω least squares stalls (100 steps: Ω's shape
    off by 4 %, the stimulated neurons' tanh coefficient 1.2 for 1); the Gauss-Newton step
    leaves it and reaches the exact model."""
    rec = simulate_assembly(
        n_neurons=128, n_frames=2000, warmup=200, stimulus="procedural", stimulus_grid=8,
        steps_per_movie_frame=50, seed=0, progress=False,
    )  # fmt: skip
    x, y = torch.from_numpy(rec.activity).to(F64), torch.from_numpy(rec.derivative).to(F64)
    frames = torch.arange(len(x))
    result = regress_stimulated_dynamics(
        x, y, frames, torch.from_numpy(rec.positions), phi_terms=PHI, psi_terms=["tanh(x)"],
        prune=0, bin_frames=50, neighbours=1, max_steps=20, tolerance=1e-9, progress=False,
    )  # fmt: skip
    assert result.residuals[-1] < 1e-10
    stimulated = result.stimulated
    # Each neuron's Ω is right up to its own constant (the scale that step 3 assigns).
    truth = torch.from_numpy(rec.stimulus).to(F64)[:, stimulated]
    ratio = result.at(frames, x.shape[1])[:, stimulated] / truth
    torch.testing.assert_close(ratio, ratio.mean(0, keepdim=True).expand_as(ratio), atol=0, rtol=1e-5)
    # φ = s tanh x - c x on the stimulated rows (terms ordered tanh(x), x).
    params = torch.from_numpy(rec.neuron_params).to(F64)[stimulated]
    expected = torch.stack([params[:, 1], -params[:, 2]], 1)
    torch.testing.assert_close(result.dynamics.phi[stimulated], expected, atol=1e-4, rtol=1e-4)
    # W's stimulated rows, with Ω's per-neuron constant moved back, match g·W up to ψ's scale.
    true_rows = params[:, :1] * torch.from_numpy(rec.connectivity).to(F64)[stimulated]
    assert r2(result.dynamics.weight[stimulated] * ratio.mean(0).unsqueeze(1), true_rows) > 1 - 1e-9
