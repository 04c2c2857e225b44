"""Tests of ccnn.graph.control and ccnn.graph.structural_control.

References: nctpy (MIT; the control measures, skipped when it is not installed), scipy's
Lyapunov solvers, networkx's Hopcroft–Karp matching, and analytic cases. Both nctpy and ccnn
read ``A[i, j]`` as the connection from j to i, so matrices are compared without a transpose.
Tolerances: relative 1e-9 where nctpy is exact (Lyapunov solves, Schur, finite sums) and
where it integrates by Simpson's rule over steps of 0.001 (its error is ~1e-13 here); relative
1e-6 for minimum energies (nctpy's Simpson Gramian is inverted, which amplifies its error)
and for the real connectomes (ill-conditioned: see ``matches_nctpy``).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.linalg
import torch
from graph_helpers import random_weights

from ccnn.graph.control import (
    _gramian,
    average_controllability,
    minimum_control_energy,
    modal_controllability,
    normalize_for_control,
)
from ccnn.graph.structural_control import driver_nodes, maximum_matching

try:
    from nctpy.energies import (
        get_control_inputs,
        gramian,
        integrate_u,
        minimum_energy_fast,
        minimum_energy_infinite,
    )
    from nctpy.metrics import ave_control, modal_control
    from nctpy.utils import mask_control_set, matrix_normalization
except ImportError:  # nctpy is a test-only reference
    nctpy_missing = True
else:
    nctpy_missing = False

needs_nctpy = pytest.mark.skipif(nctpy_missing, reason="nctpy (the reference) is not installed")
EXACT = 1e-9
ENERGY = 1e-6
REAL = 1e-6


def graph(n=30, p=0.2, seed=0, symmetric=False):
    return random_weights(n=n, p=p, seed=seed, symmetric=symmetric)


def close(ours, expected, rtol=EXACT):
    np.testing.assert_allclose(np.asarray(ours), expected, rtol=rtol, atol=0)


# ---------------------------------------------------------------------- against nctpy


@needs_nctpy
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("time", ["discrete", "continuous"])
def test_normalization_and_average_controllability_match_nctpy(symmetric, time):
    w = graph(symmetric=symmetric, seed=1)
    for c in (1.0, 0.5):
        expected = matrix_normalization(w, system=time, c=c)
        ours = normalize_for_control(torch.tensor(w), time=time, c=c)
        np.testing.assert_allclose(ours, expected, atol=1e-14)
        # default horizons: infinite (discrete), T = 1 (continuous)
        close(average_controllability(torch.tensor(w), time=time, c=c), ave_control(expected, system=time))


@needs_nctpy
@pytest.mark.parametrize("symmetric", [True, False])
def test_finite_and_infinite_horizons_match_nctpy_and_scipy(symmetric):
    w = torch.tensor(graph(symmetric=symmetric, seed=2))
    a = matrix_normalization(w.numpy(), system="discrete")
    for steps in (1, 2, 7):  # nctpy's gramian(A, T) sums k = 0..T: our horizon T + 1
        expected = np.diag(gramian(a.T, steps - 1, system="discrete"))
        close(average_controllability(w, time="discrete", horizon=steps), expected)
    infinite = average_controllability(w, time="discrete", horizon=math.inf)
    close(infinite, np.diag(scipy.linalg.solve_discrete_lyapunov(a.T, np.eye(30))))
    close(average_controllability(w, time="discrete", horizon=4000), infinite.numpy())
    a = matrix_normalization(w.numpy(), system="continuous")
    for horizon in (0.5, 2.5):
        expected = np.diag(gramian(a.T, horizon, system="continuous"))
        close(average_controllability(w, time="continuous", horizon=horizon), expected)
    expected = np.diag(scipy.linalg.solve_continuous_lyapunov(a.T, -np.eye(30)))
    close(average_controllability(w, time="continuous", horizon=math.inf), expected)
    close(average_controllability(w, time="continuous", horizon=200.0), expected)


@pytest.mark.parametrize("time", ["discrete", "continuous"])
@pytest.mark.parametrize("horizon", [3, math.inf])
def test_symmetric_closed_forms_equal_the_general_gramian(time, horizon):
    w = torch.tensor(graph(symmetric=True, seed=3))
    a = normalize_for_control(w, time=time)
    general = torch.diagonal(_gramian(a.mT, None, time, horizon)[0])
    close(average_controllability(w, time=time, horizon=horizon), general.numpy())


@needs_nctpy
@pytest.mark.parametrize("symmetric", [True, False])
def test_modal_controllability_matches_nctpy(symmetric):
    w = graph(symmetric=symmetric, seed=4)
    expected = modal_control(matrix_normalization(w, system="discrete"))
    np.testing.assert_allclose(modal_controllability(torch.tensor(w)), expected, atol=1e-12)


def test_modal_controllability_of_a_symmetric_graph_is_its_eigen_definition():
    a = normalize_for_control(torch.tensor(graph(symmetric=True, seed=5)))
    eigenvalues, vectors = torch.linalg.eigh(a)
    definition = (vectors.square() * (1 - eigenvalues.square())).sum(-1)
    np.testing.assert_allclose(modal_controllability(a, normalize=False), definition, atol=1e-13)


@needs_nctpy
@pytest.mark.parametrize("symmetric", [True, False])
def test_minimum_energy_matches_nctpy(symmetric):
    n = 20
    w = graph(n=n, p=0.3, seed=6, symmetric=symmetric)
    rng = np.random.default_rng(0)
    x0, xf = rng.random((3, n)), rng.random((3, n))  # three transitions, as rows
    mask = np.arange(n) % 2 == 0
    b = mask_control_set(mask)
    a = matrix_normalization(w, system="continuous")
    for horizon in (3.0, 1.0):
        expected = minimum_energy_fast(a, horizon, b, x0.T, xf.T).T
        ours = minimum_control_energy(torch.tensor(w), x0, xf, torch.tensor(mask), horizon=horizon)
        close(ours, expected, ENERGY)
    # the same control set as indices, as weights and as an input matrix B (horizon 1)
    for control in (np.flatnonzero(mask), mask.astype(float), np.eye(n)[:, mask]):
        same = minimum_control_energy(torch.tensor(w), x0, xf, torch.tensor(control))
        np.testing.assert_allclose(same, ours, rtol=0, atol=1e-12 * float(ours.abs().max()))
    # the total is the energy of nctpy's optimal control with S = 0
    _, u, _ = get_control_inputs(a, 1.0, b, x0[0], xf[0], system="continuous", S=np.zeros((n, n)))
    total = minimum_control_energy(torch.tensor(w), x0[0], xf[0], torch.tensor(mask)).sum()
    close(total, integrate_u(u).sum() * 0.001, ENERGY)
    a = matrix_normalization(w, system="discrete")
    for steps in (3, 6):
        _, u, _ = get_control_inputs(a, steps, b, x0[0], xf[0], system="discrete", S=np.zeros((n, n)))
        ours = minimum_control_energy(torch.tensor(w), x0[0], xf[0], mask, horizon=steps, time="discrete")
        close(ours.sum(), (u**2).sum(), ENERGY)
    for time in ("continuous", "discrete"):
        a = matrix_normalization(w, system=time)
        expected = minimum_energy_infinite(a, b, xf.T, system=time)[0].T
        ours = minimum_control_energy(torch.tensor(w), x0, xf, mask, horizon=math.inf, time=time)
        close(ours, expected, ENERGY)


# ---------------------------------------------------------------------- analytic cases, batches


def test_isolated_nodes_and_a_scalar_system_by_hand():
    empty = torch.zeros(4, 4)
    assert torch.equal(average_controllability(empty), torch.ones(4, dtype=torch.float64))
    assert torch.equal(average_controllability(empty, horizon=5), torch.ones(4, dtype=torch.float64))
    expected = (1 - math.exp(-2 * 1.5)) / 2  # normalised continuous system: A = -I
    close(average_controllability(empty, time="continuous", horizon=1.5), np.full(4, expected), 1e-14)
    assert torch.equal(modal_controllability(empty), torch.ones(4, dtype=torch.float64))
    # one node, dx/dt = -x + u: W = (1 - e^-2T) / 2, d = xf - e^-T x0, E = d^2 / W
    energy = minimum_control_energy(torch.zeros(1, 1), [2.0], [1.0], [True], horizon=1.5)
    d = 1.0 - math.exp(-1.5) * 2.0
    close(energy, [d**2 / expected], 1e-13)


def test_a_batch_equals_a_loop():
    for symmetric in (True, False):
        batch = torch.stack([torch.tensor(graph(n=12, seed=s, symmetric=symmetric)) for s in range(3)])
        for function in (
            lambda g: average_controllability(g),
            lambda g: average_controllability(g, time="continuous", horizon=2.0),
            lambda g: average_controllability(g, time="discrete", horizon=5),
            modal_controllability,
        ):
            close(function(batch), torch.stack([function(g) for g in batch]).numpy(), 1e-12)
    states = torch.rand(3, 4, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mask = torch.arange(12) < 6
    batched = minimum_control_energy(batch, states, states.flip(0), mask)
    assert batched.shape == (3, 4, 12)
    pairs = zip(batch, states, states.flip(0), strict=True)
    looped = torch.stack([minimum_control_energy(g, s, t, mask) for g, s, t in pairs])
    # per-node terms of an ill-conditioned Gramian cancel: compare on the scale of the largest
    np.testing.assert_allclose(batched, looped, rtol=0, atol=1e-10 * float(looped.abs().max()))
    shared = minimum_control_energy(batch, states[0], states[1], mask)  # (K, N) states for every graph
    assert shared.shape == (3, 4, 12)
    alone = minimum_control_energy(batch[1], states[0], states[1], mask)
    np.testing.assert_allclose(shared[1], alone, rtol=0, atol=1e-10 * float(alone.abs().max()))


def test_an_unstable_system_has_no_infinite_horizon():
    for time in ("discrete", "continuous"):
        stable = torch.tensor(graph(n=10, seed=7)) * 0.01 - (time == "continuous") * torch.eye(10)
        unstable = torch.tensor(graph(n=10, seed=7)) * 10
        both = torch.stack([stable, unstable])
        values = average_controllability(both, time=time, horizon=math.inf, normalize=False)
        assert torch.isfinite(values[0]).all() and torch.isnan(values[1]).all()
        assert torch.isfinite(average_controllability(unstable, time=time, horizon=3, normalize=False)).all()
        everywhere = torch.ones(10, dtype=torch.bool)
        energy = minimum_control_energy(
            both, torch.zeros(10), torch.ones(10), everywhere, horizon=math.inf, time=time, normalize=False
        )
        assert torch.isfinite(energy[0]).all() and torch.isnan(energy[1]).all()
    symmetric = torch.tensor(graph(n=10, seed=7, symmetric=True)) * 10
    assert torch.isnan(average_controllability(symmetric, horizon=math.inf, normalize=False)).all()


def test_dtype_rule():
    w = torch.tensor(graph(n=15, seed=8), dtype=torch.float32)
    assert average_controllability(w).dtype == torch.float64
    assert modal_controllability(w.to(torch.int64)).dtype == torch.float64
    single = average_controllability(w, time="continuous", dtype=torch.float32)
    assert single.dtype == torch.float32
    close(single, average_controllability(w, time="continuous").numpy(), 1e-5)


# ---------------------------------------------------------------------- driver nodes


def bipartite(w):
    """networkx bipartite graph of ccnn's w: source copy ("s", j) -- target copy ("t", i) per j -> i."""
    g = nx.Graph()
    sources, targets = [("s", k) for k in range(len(w))], [("t", k) for k in range(len(w))]
    g.add_nodes_from(sources, bipartite=0)
    g.add_nodes_from(targets, bipartite=1)
    g.add_edges_from((("s", int(j)), ("t", int(i))) for i, j in zip(*np.nonzero(w), strict=True))
    return g, sources


@pytest.mark.parametrize(("p", "seed"), [(0.02, 0), (0.05, 1), (0.1, 2), (0.3, 3)])
def test_driver_nodes_match_networkx_maximum_matching(p, seed):
    w = graph(n=60, p=p, seed=seed)
    g, sources = bipartite(w)
    size = len(nx.bipartite.hopcroft_karp_matching(g, top_nodes=sources)) // 2
    drivers = driver_nodes(torch.tensor(w))
    assert int(drivers.sum()) == max(60 - size, 1)
    matched = maximum_matching(torch.tensor(w)).numpy()
    heads = np.flatnonzero(matched >= 0)
    assert len(heads) == size and len(set(matched[heads])) == size  # a matching: distinct tails
    assert all(w[i, matched[i]] != 0 for i in heads)  # of edges j -> i
    # every non-driver is the head of a matched edge: the non-drivers alone can be matched
    g.remove_nodes_from([("t", int(k)) for k in np.flatnonzero(drivers.numpy())])
    assert len(nx.bipartite.hopcroft_karp_matching(g, top_nodes=sources)) // 2 == 60 - int(drivers.sum())


def test_driver_nodes_of_known_graphs():
    n = 6
    path = torch.diag(torch.ones(n - 1), -1)  # 0 -> 1 -> ... -> 5: row i + 1, column i
    assert driver_nodes(path).tolist() == [True] + [False] * (n - 1)
    star = torch.zeros(n, n)
    star[1:, 0] = 1.0  # hub 0 -> every leaf
    assert int(driver_nodes(star).sum()) == n - 1 and bool(driver_nodes(star)[0])
    cycle = torch.roll(torch.eye(n), 1, 0)  # a perfect matching: one driver, node 0
    assert driver_nodes(cycle).tolist() == [True] + [False] * (n - 1)
    assert driver_nodes(torch.zeros(n, n)).all()
    assert driver_nodes(torch.eye(n)).tolist() == [True] + [False] * (n - 1)  # self-loops match
    batch = torch.stack([path, star, cycle])
    assert torch.equal(driver_nodes(batch), torch.stack([driver_nodes(g) for g in batch]))


# ---------------------------------------------------------------------- real connectomes


def connectome(name):
    try:
        from ccnn.data import load_connectome

        return load_connectome(name).weights.to(torch.float64)
    except (ImportError, RuntimeError, OSError) as error:
        pytest.skip(f"{name} connectome unavailable: {error}")


def matches_nctpy(w):
    """Average (both times) and modal controllability of a real connectome against nctpy.

    Relative 1e-6 (REAL): the raw weights are large, so that the normalised discrete system's
    spectral radius is 1 - 5e-8 (hcp) and the infinite sum has a condition number ~1e7;
    nctpy's Lyapunov solve and the eigendecomposition then agree to ~1e-7.
    """
    for time in ("discrete", "continuous"):
        expected = ave_control(matrix_normalization(w.numpy(), time), time)
        close(average_controllability(w, time=time), expected, REAL)
    expected = modal_control(matrix_normalization(w.numpy(), "discrete"))
    np.testing.assert_allclose(modal_controllability(w), expected, atol=1e-10)


@needs_nctpy
def test_hcp_matches_nctpy():
    matches_nctpy(connectome("hcp"))  # symmetric, 94 regions


@needs_nctpy
@pytest.mark.slow
def test_mice_and_celegans_match_nctpy_and_networkx():
    matches_nctpy(connectome("mice"))  # symmetric, 332 regions
    w = connectome("celegans_herm")  # directed, 473 neurons, with self-connections
    a = matrix_normalization(w.numpy(), "discrete")
    close(average_controllability(w), ave_control(a, "discrete"), REAL)
    # the real Schur route is ill-posed here (many defective zero eigenvalues): a 1e-15 relative
    # change of A moves nctpy's own values by 3e-3, so compare on nctpy's normalised matrix
    ours = modal_controllability(torch.tensor(a), normalize=False)
    np.testing.assert_allclose(ours, modal_control(a), atol=1e-12)
    g, sources = bipartite(w.numpy())
    size = len(nx.bipartite.hopcroft_karp_matching(g, top_nodes=sources)) // 2
    assert int(driver_nodes(w).sum()) == max(len(w) - size, 1)


# ---------------------------------------------------------------------- bad input, devices


def test_bad_input_is_named():
    w = torch.tensor(graph(n=5, seed=9))
    with pytest.raises(ValueError, match="adjacency: expected a square matrix"):
        average_controllability(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="time: expected one of"):
        average_controllability(w, time="sideways")
    for horizon in (0, -1.0, math.nan):
        with pytest.raises(ValueError, match="horizon: expected a number > 0"):
            average_controllability(w, horizon=horizon)
    with pytest.raises(ValueError, match="horizon: expected an integer number of steps"):
        average_controllability(w, time="discrete", horizon=2.5)
    with pytest.raises(ValueError, match="c: expected a finite float >= 0"):
        modal_controllability(w, c=-1.0)
    x = torch.ones(5)
    with pytest.raises(ValueError, match=r"control_set: expected node indices in \[0, 5\)"):
        minimum_control_energy(w, x, x, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"control_set: expected a bool mask of shape \(5,\)"):
        minimum_control_energy(w, x, x, torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="control_set: expected at least one control node"):
        minimum_control_energy(w, x, x, torch.zeros(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="control_set: expected a"):
        minimum_control_energy(w, x, x, torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"x0: expected a state of shape \(5,\)"):
        minimum_control_energy(w, torch.ones(4), x, torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="xf: expected a shape that broadcasts"):
        minimum_control_energy(w, torch.ones(2, 5), torch.ones(3, 5), torch.ones(5, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"dtype: expected a floating torch\.dtype"):
        modal_controllability(w, dtype=torch.int64)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    for symmetric in (True, False):
        w = torch.tensor(graph(n=40, seed=10, symmetric=symmetric))
        for kwargs in ({}, {"time": "continuous"}, {"time": "discrete", "horizon": 4}):
            on_gpu = average_controllability(w.cuda(), **kwargs)
            assert on_gpu.device.type == "cuda"
            close(on_gpu.cpu(), average_controllability(w, **kwargs).numpy(), 1e-9)
        close(modal_controllability(w.cuda()).cpu(), modal_controllability(w).numpy(), 1e-9)
        mask = torch.arange(40) % 3 == 0
        x0, xf = torch.zeros(40), torch.ones(40)
        close(minimum_control_energy(w.cuda(), x0, xf, mask).cpu(),
              minimum_control_energy(w, x0, xf, mask).numpy(), 1e-7)  # fmt: skip
        assert driver_nodes(w.cuda()).device.type == "cuda"
