"""Tests of ccnn.graph.generative: wiring rules against networkx and hand computations, the
sampler against the step probabilities, exact reproducibility, KS against scipy, the fit."""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from ccnn.graph.betweenness import betweenness
from ccnn.graph.generative import (
    EPSILON,
    RULES,
    fit_generative,
    generate,
    generative_energy,
    ks_statistic,
    topological_term,
    wiring_probabilities,
)


def positions(n, seed=0):
    """Distances between n random points in the unit cube (float64)."""
    x = torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.cdist(x, x)


def random_graph(n=12, p=0.35, seed=0):
    rng = np.random.default_rng(seed)
    a = np.triu(rng.random((n, n)) < p, 1)
    return (a | a.T).astype(float)


def reference_term(rule, a):
    """K of ``rule`` from networkx and Python sets (u != v entries; diagonal 0)."""
    graph = nx.from_numpy_array(a)
    n = len(a)
    k = np.array([graph.degree(v) for v in range(n)], dtype=float)
    c = np.array([nx.clustering(graph, v) for v in range(n)])
    out = np.zeros((n, n))
    for u in range(n):
        for v in range(n):
            if u == v:
                continue
            if rule == "spatial":
                out[u, v] = 1.0
            elif rule == "neighbors":
                out[u, v] = len(list(nx.common_neighbors(graph, u, v)))
            elif rule == "matching":
                nu, nv = set(graph[u]) - {v}, set(graph[v]) - {u}
                out[u, v] = 2 * len(nu & nv) / (len(nu) + len(nv)) if nu | nv else 0.0
            else:
                x = c if rule.startswith("clu") else k
                xu, xv = x[u], x[v]
                out[u, v] = {
                    "avg": (xu + xv) / 2,
                    "min": min(xu, xv),
                    "max": max(xu, xv),
                    "diff": abs(xu - xv),
                    "prod": xu * xv,
                }[rule[4:]]
    return out


@pytest.mark.parametrize("rule", RULES)
def test_topological_term_and_step_probabilities_match_networkx(rule):
    a = random_graph(seed=RULES.index(rule))
    d = positions(len(a), seed=1).numpy()
    expected_k = reference_term(rule, a)
    np.testing.assert_allclose(topological_term(rule, torch.tensor(a)).numpy(), expected_k, rtol=1e-12)
    eta, gamma = -1.7, 1.3 if rule != "deg-diff" else -0.8
    weights = d ** np.where(np.eye(len(a)) > 0, 1.0, eta) * (expected_k + EPSILON) ** gamma
    if rule == "spatial":
        weights = d ** np.where(np.eye(len(a)) > 0, 1.0, eta)
    upper = np.triu(np.ones_like(a), 1) * (a == 0)
    expected = weights * upper / (weights * upper).sum()
    ours = wiring_probabilities(rule, eta, gamma, torch.tensor(d), torch.tensor(a)).numpy()
    np.testing.assert_allclose(np.triu(ours, 1), expected, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(ours, ours.T)
    assert np.triu(ours, 1).sum() == pytest.approx(1.0)


def test_step_probabilities_batched_over_parameters():
    a, d = torch.tensor(random_graph(seed=3)), positions(12)
    eta, gamma = torch.tensor([-2.0, 0.5, -1.0]), torch.tensor([1.0, -0.5, 2.0])
    batch = wiring_probabilities("matching", eta, gamma, d, a)
    assert batch.shape == (3, 12, 12)
    for p in range(3):
        single = wiring_probabilities("matching", float(eta[p]), float(gamma[p]), d, a)
        torch.testing.assert_close(batch[p], single)


def test_sampler_frequencies_match_step_probabilities():
    n, points = 6, 4000
    d = positions(n, seed=2)
    start = torch.zeros(n, n)
    for u, v in [(0, 1), (1, 2), (2, 3), (0, 4)]:
        start[u, v] = start[v, u] = 1
    eta, gamma = torch.full((points,), -1.0), torch.full((points,), 1.5)
    graphs = generate("matching", eta, gamma, d, 5, seed=7, seed_adjacency=start)
    added = (graphs - start).triu(1)
    assert torch.equal(added.sum((-1, -2)), torch.ones(points))
    frequencies = added.mean(0).double()
    probabilities = wiring_probabilities("matching", -1.0, 1.5, d, start).triu(1)
    tolerance = 4 * torch.sqrt(probabilities * (1 - probabilities) / points) + 1e-3
    assert bool(((frequencies - probabilities).abs() <= tolerance).all())


def reference_generate(rule, eta, gamma, d, n_edges, seed):
    """From-scratch model: step probabilities recomputed each step, the documented sampler
    (one float64 uniform per step from torch.Generator().manual_seed(seed); a row by the row
    sums of the symmetric weights, then a column by that row's cumulative sums)."""
    n = len(d)
    a = torch.zeros(n, n)
    uniforms = torch.rand(n_edges, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    for step in range(n_edges):
        w = wiring_probabilities(rule, eta, gamma, d, a)
        rows = w.sum(-1)
        target = float(uniforms[step]) * float(rows.sum())
        u = int(torch.searchsorted(rows.cumsum(0), torch.tensor([target], dtype=torch.float64), right=True))
        u = min(u, n - 1)
        rest = target - float(rows[:u].sum())
        v = int(torch.searchsorted(w[u].cumsum(0), torch.tensor([rest], dtype=torch.float64), right=True))
        v = min(v, n - 1)
        assert a[u, v] == 0 and u != v
        a[u, v] = a[v, u] = 1
    return a


@pytest.mark.parametrize("rule", RULES)
def test_incremental_generation_equals_from_scratch_model(rule):
    d = positions(14, seed=4)
    gamma = -0.7 if rule.endswith("diff") else 1.2
    ours = generate(rule, -2.0, gamma, d, 30, seed=11)
    torch.testing.assert_close(ours, reference_generate(rule, -2.0, gamma, d, 30, seed=11))


@pytest.mark.parametrize("rule", ["spatial", "neighbors", "matching", "clu-avg", "deg-diff"])
def test_generate_batch_equals_one_by_one_and_is_reproducible(rule):
    d = positions(20, seed=5)
    eta, gamma = torch.tensor([-3.0, -1.0, 0.0, -2.0]), torch.tensor([1.0, 0.3, -1.0, 2.0])
    batch = generate(rule, eta, gamma, d, 45, seed=3)
    assert batch.shape == (4, 20, 20) and batch.dtype == torch.get_default_dtype()
    assert torch.equal(batch, batch.transpose(-1, -2))
    assert torch.equal(batch.diagonal(dim1=-2, dim2=-1), torch.zeros(4, 20))
    assert set(batch.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(batch.triu(1).sum((-1, -2)), torch.full((4,), 45.0))
    for p in range(4):
        single = generate(rule, float(eta[p]), float(gamma[p]), d, 45, seed=3 + p)
        assert torch.equal(single, batch[p])
    assert torch.equal(generate(rule, eta, gamma, d, 45, seed=[3, 4, 5, 6]), batch)
    assert not torch.equal(generate(rule, eta, gamma, d, 45, seed=100), batch)


def test_seed_adjacency_is_kept_and_counts_towards_n_edges():
    d = positions(15, seed=6)
    start = torch.tensor(random_graph(15, p=0.1, seed=6), dtype=torch.float32)
    n_seed = int(start.triu(1).sum())
    graph = generate("matching", -2.0, 0.5, d, n_seed + 10, seed_adjacency=start)
    assert bool((graph >= start).all())
    assert int(graph.triu(1).sum()) == n_seed + 10
    assert torch.equal(generate("deg-avg", -2.0, 0.5, d, n_seed, seed_adjacency=start), start)


def test_strongly_negative_eta_gives_short_edges():
    d = positions(60, seed=7)
    upper = torch.ones(60, 60, dtype=torch.bool).triu(1)
    random_mean = float(d[upper].mean())
    for rule in ("spatial", "matching"):
        local = generate(rule, -10.0, 0.5, d, 150, seed=1)
        uniform = generate(rule, 0.0, 0.0, d, 150, seed=1)
        local_mean = float(d[upper & (local != 0)].mean())
        assert local_mean < 0.4 * random_mean
        if rule == "spatial":
            assert float(d[upper & (uniform != 0)].mean()) == pytest.approx(random_mean, rel=0.15)


def test_extreme_parameters_still_give_n_edges():
    d = positions(20, seed=8)
    graphs = generate("deg-diff", torch.tensor([-400.0, 300.0, 0.0]), torch.tensor([0.0, 80.0, -90.0]), d, 60)
    assert torch.equal(graphs.triu(1).sum((-1, -2)), torch.full((3,), 60.0))
    assert torch.equal(graphs, graphs.transpose(-1, -2))


def test_ks_statistic_matches_scipy():
    rng = np.random.default_rng(0)
    cases = [
        (rng.normal(size=30), rng.normal(0.5, 1.0, size=17)),
        (rng.integers(0, 5, 40).astype(float), rng.integers(1, 6, 25).astype(float)),  # ties
        (rng.random(5), rng.random(8)),
        (np.ones(4), np.ones(6)),
    ]
    for x, y in cases:
        expected = ks_2samp(x, y).statistic
        assert float(ks_statistic(torch.tensor(x), torch.tensor(y))) == pytest.approx(expected, abs=1e-12)
    # a batch of samples of different sizes, by masks, against one reference sample
    x = rng.normal(size=(6, 20))
    mask = rng.random((6, 20)) < 0.7
    y = rng.normal(size=11)
    ours = ks_statistic(torch.tensor(x), torch.tensor(y), x_mask=torch.tensor(mask))
    assert ours.shape == (6,)
    for b in range(6):
        assert float(ours[b]) == pytest.approx(ks_2samp(x[b][mask[b]], y).statistic, abs=1e-12)
    assert math.isnan(float(ks_statistic(torch.ones(3), torch.ones(3), x_mask=torch.zeros(3, dtype=bool))))


def test_energy_components_match_scipy_on_networkx_statistics():
    d = positions(30, seed=9)
    target = generate("matching", -2.0, 0.6, d, 70, seed=1)
    synthetic = generate("spatial", torch.tensor([-1.0, -4.0]), torch.tensor([0.0, 0.0]), d, 70, seed=2)
    ours = generative_energy(synthetic, target, d, components=True)
    assert ours.shape == (2, 4)
    torch.testing.assert_close(generative_energy(synthetic, target, d), ours.amax(-1))

    def statistics(a):
        graph = nx.from_numpy_array(a.numpy())
        b = nx.betweenness_centrality(graph, normalized=False)
        c = nx.clustering(graph)
        degrees = [graph.degree(v) for v in range(len(a))]
        lengths = [float(d[u, v]) for u, v in graph.edges]
        return degrees, [c[v] for v in range(len(a))], [b[v] for v in range(len(a))], lengths

    reference = statistics(target)
    for p in range(2):
        pairs = zip(statistics(synthetic[p]), reference, strict=True)
        expected = [ks_2samp(s, r).statistic for s, r in pairs]
        np.testing.assert_allclose(ours[p].numpy(), expected, atol=1e-12)
    # betweenness here is the one of ccnn.graph.betweenness, on a binary graph
    nx_b = nx.betweenness_centrality(nx.from_numpy_array(target.numpy()), normalized=False)
    expected_b = [nx_b[v] for v in range(30)]
    np.testing.assert_allclose(betweenness(target, length="binary").numpy(), expected_b, atol=1e-5)
    assert float(generative_energy(target, target, d)) == 0.0


def test_fit_recovers_spatial_eta():
    d = positions(60, seed=10)
    target = generate("spatial", -3.0, 0.0, d, 200, seed=12345)
    eta = [-8.0, -5.0, -4.0, -3.0, -2.0, 0.0, 2.0]
    fit = fit_generative(
        target, d, rules=("spatial",), eta=eta, gamma=[0.0, 1.0], n_repeats=2, progress=False
    )
    assert fit.energies.shape == (1, 7, 2) and fit.repeat_energies.shape == (1, 7, 2, 2)
    assert fit.statistics.shape == (1, 7, 2, 4)
    torch.testing.assert_close(fit.energies[0, :, 0], fit.energies[0, :, 1])  # γ has no effect
    assert fit.best_rule == "spatial" and abs(fit.best_eta + 3.0) <= 1.0
    far = fit.energies[0, [0, 5, 6], 0]
    assert bool((far > fit.best_energy + 0.15).all())
    record = json.loads(json.dumps(fit.to_dict()))
    assert record["best_eta"] == fit.best_eta and record["n_edges"] == 200
    assert record["best_per_rule"]["spatial"]["energy"] == fit.best_energy


def test_fit_seeds_follow_generate_and_batch_size_does_not_matter():
    d = positions(16, seed=11)
    target = generate("matching", -2.0, 0.5, d, 30, seed=0)
    kwargs = {"rules": ("matching", "spatial"), "eta": [-3.0, -1.0], "gamma": [0.0, 1.0, 2.0], "n_repeats": 2}
    whole = fit_generative(target, d, seed=5, progress=False, **kwargs)
    pieces = fit_generative(target, d, seed=5, batch_size=3, progress=False, **kwargs)
    torch.testing.assert_close(whole.repeat_energies, pieces.repeat_energies)
    # network r of grid point (i, j) uses seed + (i * len(gamma) + j) * n_repeats + r
    graph = generate("matching", -1.0, 2.0, d, 30, seed=5 + (1 * 3 + 2) * 2 + 1)
    expected = float(generative_energy(graph, target, d))
    assert float(whole.repeat_energies[0, 1, 2, 1]) == pytest.approx(expected)
    assert whole.best(whole.best_rule)["energy"] == whole.best_energy


@pytest.mark.slow
def test_fit_recovers_matching_parameters_and_rule():
    d = positions(100, seed=1)
    target = generate("matching", -3.0, 0.4, d, 400, seed=12345)
    fit = fit_generative(
        target, d, rules=("matching", "spatial", "deg-avg"), eta=[-6.0, -4.5, -3.0, -1.5, 0.0],
        gamma=[-1.0, -0.2, 0.4, 1.0, 2.0], n_repeats=3, progress=False,
    )  # fmt: skip
    assert fit.best_rule == "matching"
    assert abs(fit.best_eta + 3.0) <= 1.5 and abs(fit.best_gamma - 0.4) <= 0.6
    matching = fit.energies[0]
    assert float(matching[4, 0]) > fit.best_energy + 0.2 and float(matching[0, 4]) > fit.best_energy + 0.2


def test_bad_input_raises_one_clear_error():
    d = positions(8)
    with pytest.raises(ValueError, match="rule: expected one of"):
        generate("preferential", -1.0, 1.0, d, 5)
    with pytest.raises(ValueError, match="distances: expected a square"):
        generate("spatial", -1.0, 1.0, d[:, :5], 5)
    with pytest.raises(ValueError, match="distances: expected positive"):
        generate("spatial", -1.0, 1.0, torch.zeros(8, 8), 5)
    with pytest.raises(ValueError, match="distances: expected a symmetric"):
        generate("spatial", -1.0, 1.0, d + torch.triu(torch.ones(8, 8), 1), 5)
    bad = d.clone()
    bad[0, 1] = math.nan
    with pytest.raises(ValueError, match="distances: expected finite"):
        generate("spatial", -1.0, 1.0, bad, 5)
    with pytest.raises(ValueError, match="eta, gamma: expected floats or tensors of one length"):
        generate("matching", torch.zeros(3), torch.zeros(2), d, 5)
    with pytest.raises(ValueError, match="gamma: expected finite"):
        generate("matching", 0.0, math.inf, d, 5)
    with pytest.raises(ValueError, match="n_edges: expected at most N"):
        generate("matching", 0.0, 1.0, d, 29)
    start = torch.tensor(random_graph(8, p=0.5, seed=1))
    with pytest.raises(ValueError, match="n_edges: expected an int >= "):
        generate("matching", 0.0, 1.0, d, 1, seed_adjacency=start)
    with pytest.raises(ValueError, match="seed_adjacency: expected a symmetric"):
        generate("matching", 0.0, 1.0, d, 10, seed_adjacency=torch.triu(torch.ones(8, 8), 1))
    with pytest.raises(ValueError, match="seed: expected an int or 2 ints"):
        generate("matching", torch.zeros(2), 1.0, d, 5, seed=[1, 2, 3])
    with pytest.raises(ValueError, match="target: expected a symmetric"):
        fit_generative(torch.triu(torch.ones(8, 8), 1), d, progress=False)
    with pytest.raises(ValueError, match="rules: expected one of"):
        fit_generative(start, d, rules=("matching", "nope"), progress=False)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1"):
        fit_generative(start, d, rules=("spatial",), batch_size=0, progress=False)
    with pytest.raises(ValueError, match="synthetic: expected 8 nodes"):
        generative_energy(torch.zeros(9, 9), start, d)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    d = positions(40, seed=12)
    eta, gamma = torch.tensor([-3.0, -1.0, -2.0]), torch.tensor([0.4, 1.0, -0.5])
    for rule in ("matching", "clu-avg", "deg-prod"):
        cpu = generate(rule, eta, gamma, d, 100, seed=2)
        gpu = generate(rule, eta.cuda(), gamma.cuda(), d.cuda(), 100, seed=2)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu)
        torch.testing.assert_close(
            generative_energy(gpu, gpu[0], d.cuda()).cpu(), generative_energy(cpu, cpu[0], d)
        )
    fit = fit_generative(
        cpu[0], d.cuda(), rules=("matching",), eta=[-3.0, -1.0], gamma=[0.0, 1.0], progress=False
    )
    assert fit.energies.device.type == "cpu" and fit.energies.shape == (1, 2, 2)
