"""Virtual lesions and integrated gradients (ccnn.analysis.perturbation).

References: the simulator itself (rollouts of the ground-truth equations must reproduce its
recordings, with and without a lesioned W), analytic cases (an isolated neuron, completeness
of integrated gradients) and the issue's acceptance check: a fitted DynamicsGNN's lesion
effects correlate with the true simulator's at >= 0.95 across neurons at short horizons.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from conftest import QUIET
from conftest import SMALL_TYPES as TYPES

from ccnn.analysis.perturbation import (
    GroundTruthDynamics,
    LearnedDynamics,
    integrated_gradients,
    lesion,
    lesion_correlation,
    lesion_mask,
    plot_lesion,
    rollout,
)
from ccnn.data import ActivityDataModule, simulate_assembly


def small(n=30, frames=40, **kwargs):
    return simulate_assembly(
        n_neurons=n, n_frames=frames, warmup=0, type_params=TYPES, progress=False, **kwargs
    )


@pytest.mark.parametrize("transfer", ["tanh", "transmitters", "neuron_neuron"])
def test_ground_truth_reproduces_the_simulator(transfer):
    rec = small(transfer=transfer, stimulus="procedural", stimulus_grid=4)
    truth = GroundTruthDynamics(rec)
    x = torch.as_tensor(rec.activity, dtype=torch.float64)
    omega = torch.as_tensor(rec.stimulus, dtype=torch.float64)
    derivative = torch.as_tensor(rec.derivative, dtype=torch.float64)
    # float32 recording: agreement to its rounding
    torch.testing.assert_close(truth.derivative(x, omega), derivative, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(rollout(truth, x[0], len(x) - 1, stimulus=omega), x, rtol=1e-5, atol=1e-4)


def test_lesion_matches_the_simulator_run_on_the_lesioned_w():
    # Same seed and a given W: the simulator draws the same x(0) whatever W, so its run with the
    # lesioned W is an independent reference for the lesioned rollout.
    weights = torch.as_tensor(small(seed=3).connectivity)
    rec = small(seed=3, connectivity=weights)
    result = lesion(rec, rec.activity[0], neurons=[4, 7], edges=[(1, 2), (3, 0)], steps=39)
    cut = weights.clone()
    cut[[4, 7], :] = 0
    cut[:, [4, 7]] = 0
    cut[2, 1] = cut[0, 3] = 0
    reference = small(seed=3, connectivity=cut)
    torch.testing.assert_close(
        result.lesioned, torch.as_tensor(reference.activity).double(), rtol=1e-5, atol=1e-4
    )
    torch.testing.assert_close(result.intact, torch.as_tensor(rec.activity).double(), rtol=1e-5, atol=1e-4)
    assert result.mask.sum() == 30 * 30 - 4 * 30 + 4 - 2
    assert result.lesioned_neurons.nonzero().squeeze(1).tolist() == [4, 7]
    expected = (result.lesioned - result.intact)[1:11].pow(2).mean(0).sqrt()
    torch.testing.assert_close(result.effect_at(10), expected)
    assert result.effect.shape == (30,) and bool((result.effect > 0).all())


def test_identical_dynamics_agree_exactly_and_an_isolated_neuron_has_no_effect():
    rec = small(seed=2)
    weights = torch.as_tensor(rec.connectivity).clone()
    weights[5, :] = weights[:, 5] = 0  # neuron 5 isolated
    rec.connectivity = weights.numpy()
    x0 = torch.as_tensor(rec.activity[:3])  # three initial states at once
    a = lesion(rec, x0, types=1, steps=15)  # types default to the recording's
    b = lesion(GroundTruthDynamics(rec), x0, types=[1], steps=15)
    assert a.effect.shape == (3, 30) and a.intact.shape == (3, 16, 30)
    assert lesion_correlation(a, b, horizon=5) == pytest.approx(1.0, abs=1e-12)
    assert lesion_correlation(a, b) == pytest.approx(1.0, abs=1e-12)
    silent = lesion(rec, x0[0], neurons=5, steps=15)
    assert torch.equal(silent.effect, torch.zeros(30, dtype=torch.float64))
    clamped = lesion(rec, x0[0], neurons=5, steps=15, silence=True)
    others = torch.arange(30) != 5
    assert float(clamped.effect[5]) > 0 and float(clamped.effect[others].abs().max()) == 0


def test_integrated_gradients_are_complete_and_follow_paths():
    rec = small(seed=4)
    weights = torch.as_tensor(rec.connectivity).clone()
    weights[9, :] = weights[:, 9] = 0  # isolated: no path to or from neuron 9
    rec.connectivity = weights.numpy()
    truth = GroundTruthDynamics(rec)
    x0 = torch.as_tensor(rec.activity[5], dtype=torch.float64)
    for target in (0, 9):
        attribution = integrated_gradients(truth, x0, target, steps=10, n_alpha=32)
        final = rollout(truth, torch.stack([x0, torch.zeros(30, dtype=torch.float64)]), 10)[:, -1, target]
        gap = float(final[0] - final[1])
        assert attribution.shape == (30,)
        assert float(attribution.sum()) == pytest.approx(gap, rel=1e-3, abs=1e-6)  # completeness
    assert float(attribution[:9].abs().max()) == 0 and float(attribution[10:].abs().max()) == 0
    baseline = x0 * 0.5
    half = integrated_gradients(truth, x0, 0, steps=10, n_alpha=64, baseline=baseline)
    ends = rollout(truth, torch.stack([x0, baseline]), 10)[:, -1, 0]
    assert float(half.sum()) == pytest.approx(float(ends[0] - ends[1]), rel=1e-3)


def test_bad_input_names_the_argument():
    rec = small()
    x0 = rec.activity[0]
    with pytest.raises(ValueError, match="neurons: expected indices in"):
        lesion(rec, x0, neurons=30)
    with pytest.raises(ValueError, match="neurons: expected at least one"):
        lesion(rec, x0, neurons=[])
    with pytest.raises(ValueError, match="types: expected labels among"):
        lesion(rec, x0, types=7)
    with pytest.raises(ValueError, match="edges: expected at least one"):
        lesion(rec, x0, edges=[])
    with pytest.raises(ValueError, match="edges: expected shape"):
        lesion(rec, x0, edges=[1, 2])
    with pytest.raises(ValueError, match="edges: expected indices"):
        lesion(rec, x0, edges=[(0, 31)])
    with pytest.raises(ValueError, match="neurons, edges, types"):
        lesion(rec, x0)
    with pytest.raises(ValueError, match="initial_state: expected shape"):
        lesion(rec, x0[:5], neurons=0)
    with pytest.raises(ValueError, match="neuron_types: expected"):
        lesion_mask(30, types=0)
    with pytest.raises(ValueError, match="steps: expected an int >= 1"):
        lesion(rec, x0, neurons=0, steps=0)
    with pytest.raises(ValueError, match="target_neuron: expected an index"):
        integrated_gradients(rec, x0, 30)
    with pytest.raises(ValueError, match="horizon: expected at most"):
        lesion(rec, x0, neurons=0, steps=5).effect_at(6)
    with pytest.raises(ValueError, match="dt: expected the Euler step"):
        rollout(LearnedDynamics(_network()), np.zeros(30), 2)
    with pytest.raises(TypeError, match="dynamics: expected"):
        lesion("model", x0, neurons=0)


def _network(**kwargs):
    from ccnn.nn import DynamicsNetwork

    torch.manual_seed(0)
    return DynamicsNetwork(30, functions="library", **kwargs)


@pytest.mark.parametrize("sparse", [False, True])
def test_learned_lesion_equals_zeroing_the_weights(sparse):
    edge_index = (
        torch.randint(0, 30, (2, 200), generator=torch.Generator().manual_seed(1)) if sparse else None
    )
    network = _network(edge_index=edge_index, psi_inputs="x_j,a_i,a_j" if sparse else "x_j")
    mask, _ = lesion_mask(30, neurons=3, edges=[(0, 1), (5, 2)])
    x = torch.randn(4, 30, generator=torch.Generator().manual_seed(2))
    omega = torch.rand(1, 30, generator=torch.Generator().manual_seed(3))
    got = LearnedDynamics(network).derivative(x, omega, mask)
    before = network.weight.detach().clone()
    with torch.no_grad():
        if sparse:
            network.weight.mul_(mask[network.edge_index[1], network.edge_index[0]])
        else:
            network.weight.mul_(mask)
    torch.testing.assert_close(got, network(x, omega))
    assert not torch.equal(before, network.weight)  # the lesion cut something


# ---------------------------------------------------------------- the acceptance check
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A DynamicsGNN fitted to 64 simulated neurons (closed-form start, one refinement step)."""
    from ccnn.models import DynamicsGNN

    folder = tmp_path_factory.mktemp("lesion")
    rec = simulate_assembly(n_neurons=64, n_frames=5000, seed=1, type_params=TYPES, progress=False)
    rec.save(folder / "rec.npz")
    model = DynamicsGNN(64, output_dir=str(folder / "out"), rollout_steps=200, rollout_horizons=(50, 100))
    trainer = L.Trainer(
        max_epochs=1, limit_train_batches=1, limit_val_batches=0, num_sanity_val_steps=0, **QUIET
    )
    trainer.fit(model, ActivityDataModule(folder / "rec.npz", rollout_steps=200))
    return model, rec


def test_learned_lesions_match_the_true_simulator(fitted):
    model, rec = fitted
    learned, truth = LearnedDynamics(model, dt=rec.dt), GroundTruthDynamics(rec)
    weights = torch.as_tensor(rec.connectivity)
    hub = int(weights.abs().sum(0).argmax())  # the strongest sender: a large, spread effect
    strongest = weights.abs().flatten().topk(10).indices
    edges = torch.stack([strongest % 64, strongest // 64], 1)  # (source, target)
    x0 = rec.activity[[2000, 3500]]
    cases = {"neuron": {"neurons": hub}, "edges": {"edges": edges}, "type": {"types": 2}}
    for name, target in cases.items():
        a = lesion(learned, x0, steps=20, neuron_types=rec.types, **target)
        b = lesion(truth, x0, steps=20, neuron_types=rec.types, **target)
        for horizon in (5, 10, 20):
            r = lesion_correlation(a, b, horizon=horizon)
            assert r >= 0.95, f"{name} lesion, horizon {horizon}: r = {r:.4f}"
    attribution = [integrated_gradients(d, x0[0], hub, steps=10) for d in (learned, truth)]
    r = torch.corrcoef(torch.stack([attribution[0].double(), attribution[1]]))[0, 1]
    assert float(r) >= 0.95
    fig = plot_lesion(a, b, neuron_types=rec.types, horizon=10)
    ax = fig.axes[0]
    assert "a.u." in ax.get_xlabel() and "a.u." in ax.get_ylabel()
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"type 0", "lesioned", "identity"}
