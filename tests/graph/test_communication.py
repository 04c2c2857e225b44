"""Tests of ccnn.graph.communication: communicability (networkx, scipy), search information and
navigation (plain-Python references written here from the papers' definitions)."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
import scipy.linalg
import torch
from graph_helpers import random_weights

from ccnn.graph.communication import Navigation, communicability, navigation, search_information


def lengths_of(w, length):
    w = np.abs(w)
    if length == "binary":
        return np.where(w != 0, 1.0, np.inf)
    if length == "inverse":
        return np.divide(1.0, w, out=np.full_like(w, np.inf), where=w != 0)
    off = w * (1 - np.eye(len(w)))
    return np.where(w != 0, -np.log(np.where(w != 0, w, 1.0) / off.max()), np.inf)


# ---------------------------------------------------------------- communicability


def test_unnormalised_communicability_matches_networkx():
    w = random_weights(n=25, p=0.2, seed=4, symmetric=True)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(w)))
    graph.add_edges_from((int(j), int(i)) for i, j in zip(*np.nonzero(w), strict=True))
    reference = nx.communicability_exp(graph)
    expected = np.array([[reference[i][j] for j in range(len(w))] for i in range(len(w))])
    ours = communicability(torch.tensor(w != 0, dtype=torch.float64), normalize=False)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10)


def test_weighted_communicability_matches_scipy_expm_and_batches():
    signs = np.sign(np.random.default_rng(0).standard_normal((20, 20)))  # signed: |w| is used
    ws = [random_weights(n=20, p=0.3, seed=s, symmetric=s == 0) * signs for s in (0, 1)]
    ws[1][4] = ws[1][:, 4] = 0  # an isolated node: strength clamped at eps, its row and column 0
    batch = torch.tensor(np.stack(ws))
    ours = communicability(batch)
    for g, w in enumerate(ws):
        strength = np.abs(w).sum(1)
        scale = np.where(strength > 0, 1 / np.sqrt(np.maximum(strength, 1e-12)), 1e6)
        expected = scipy.linalg.expm(scale[:, None] * np.abs(w) * scale[None, :])
        np.testing.assert_allclose(ours[g].numpy(), expected, rtol=1e-10, atol=1e-12)
        assert torch.allclose(communicability(torch.tensor(w)), ours[g], rtol=1e-12)
    # an undirected two-node graph: S^-1/2 A S^-1/2 = [[0, 1], [1, 0]], expm = [[cosh, sinh], ...]
    pair = communicability(torch.tensor([[0.0, 3.0], [3.0, 0.0]], dtype=torch.float64))
    assert pair[0, 0].item() == pytest.approx(math.cosh(1))
    assert pair[0, 1].item() == pytest.approx(math.sinh(1))


def test_communicability_is_differentiable_and_checks_input():
    w = torch.tensor(random_weights(n=6, p=0.6, seed=1), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: communicability(x), (w,))
    assert communicability(torch.ones(3, 3, dtype=torch.int64)).dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="adjacency: expected finite"):
        communicability(torch.tensor([[0.0, math.nan], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="eps: expected a finite float > 0"):
        communicability(torch.ones(2, 2), eps=0.0)


# ---------------------------------------------------------------- search information


def search_information_reference(w, length):
    """Goñi et al. 2014 by hand: Dijkstra's shortest path j -> i, then -log2 of the product of
    the walker's transition probabilities w[v, u] / (out-strength of u) along it."""
    n = len(w)
    lengths = lengths_of(w, length)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for i, j in zip(*np.nonzero(w), strict=True):
        if i != j:
            graph.add_edge(int(j), int(i), length=float(lengths[i, j]))
    off = w * (1 - np.eye(n))
    out_strength = off.sum(0)
    expected = np.full((n, n), np.inf)
    for j in range(n):
        _, paths = nx.single_source_dijkstra(graph, j, weight="length")
        for i, path in paths.items():
            probability = 1.0
            for u, v in itertools.pairwise(path):
                probability *= off[v, u] / out_strength[u]
            expected[i, j] = -math.log2(probability)
    return expected


@pytest.mark.parametrize("length", ["inverse", "negative_log"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_search_information_matches_reference(length, symmetric):
    w = random_weights(n=30, p=0.12, seed=7, symmetric=symmetric)  # real weights: unique paths
    ours = search_information(torch.tensor(w), length=length)
    np.testing.assert_allclose(ours.numpy(), search_information_reference(w, length), rtol=1e-10, atol=1e-12)


def test_search_information_hand_case_ties_and_batches():
    # 0 -> 1 (w 1), 0 -> 2 (w 3), 1 -> 3, 2 -> 3 (w 1 each): binary lengths tie 0 -> 1 -> 3 and
    # 0 -> 2 -> 3; the walker at 0 goes to 2 with probability 3/4, so the tie takes that path
    w = torch.zeros(4, 4, dtype=torch.float64)
    w[1, 0], w[2, 0], w[3, 1], w[3, 2] = 1, 3, 1, 1
    s = search_information(w, length="binary")
    assert s[3, 0].item() == pytest.approx(-math.log2(3 / 4))  # then 2 -> 3 with probability 1
    assert s[1, 0].item() == pytest.approx(2.0)  # probability 1/4
    assert s[0, 0].item() == 0 and math.isinf(s[0, 3].item())  # diagonal, unreachable
    batch = torch.tensor(np.stack([random_weights(n=15, p=0.2, seed=k) for k in range(3)]))
    together = search_information(batch)
    assert torch.allclose(together, torch.stack([search_information(g) for g in batch]), rtol=1e-12)
    assert search_information(batch.float()).dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="adjacency: expected non-negative"):
        search_information(-w)


# ---------------------------------------------------------------- navigation


def navigation_reference(w, d, length):
    """Seguin et al. 2018 by hand: greedy walk towards the target, failing on a revisit."""
    n = len(w)
    lengths = lengths_of(w, length)
    success = np.eye(n, dtype=bool)
    hops = np.where(np.eye(n, dtype=bool), 0, -1)
    path_length = np.where(np.eye(n, dtype=bool), 0.0, np.inf)
    travelled = path_length.copy()
    for j in range(n):  # source
        for i in range(n):  # target
            if i == j:
                continue
            current, visited, steps, total, distance = j, {j}, 0, 0.0, 0.0
            while current != i:
                neighbours = [v for v in range(n) if v != current and w[v, current] != 0]
                if not neighbours:
                    break
                nxt = i if i in neighbours else min(neighbours, key=lambda v: (d[i, v], v))
                if nxt in visited:
                    break
                visited.add(nxt)
                steps, total, distance = steps + 1, total + lengths[nxt, current], distance + d[nxt, current]
                current = nxt
            if current == i:
                success[i, j], hops[i, j], path_length[i, j], travelled[i, j] = True, steps, total, distance
    return success, hops, path_length, travelled


def spatial_graph(n, p, seed, symmetric):
    rng = np.random.default_rng(seed)
    positions = rng.random((n, 2))
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    return random_weights(n=n, p=p, seed=seed, symmetric=symmetric), d


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("length", ["inverse", "binary"])
def test_navigation_matches_reference(symmetric, length):
    w, d = spatial_graph(40, 0.12, 3, symmetric)
    ours = navigation(torch.tensor(w), torch.tensor(d), length=length)
    success, hops, path_length, travelled = navigation_reference(w, d, length)
    assert 0 < success.sum() - 40 < 40 * 39  # some routes succeed, some fail
    np.testing.assert_array_equal(ours.success.numpy(), success)
    np.testing.assert_array_equal(ours.hops.numpy(), hops)
    np.testing.assert_allclose(ours.path_length.numpy(), path_length, rtol=1e-12)
    np.testing.assert_allclose(ours.distance_travelled.numpy(), travelled, rtol=1e-12)
    assert ours.success_ratio.item() == pytest.approx((success.sum() - 40) / (40 * 39))


def test_navigation_hand_case_and_batches():
    # A(0, 0) - B(1, 0), A - C(0, 1), C - T(2, 0). From A to T the closest neighbour to T is B,
    # a dead end whose only way on is back to A: the route fails. From C it goes straight to T.
    positions = torch.tensor([[0.0, 0], [1, 0], [0, 1], [2, 0]], dtype=torch.float64)
    d = torch.cdist(positions, positions)
    w = torch.zeros(4, 4, dtype=torch.float64)
    for a, b in [(0, 1), (0, 2), (2, 3)]:
        w[a, b] = w[b, a] = 2.0
    nav = navigation(w, d)
    assert isinstance(nav, Navigation)
    assert not nav.success[3, 0] and nav.hops[3, 0] == -1 and math.isinf(nav.path_length[3, 0])
    assert nav.success[3, 2] and nav.hops[3, 2] == 1 and nav.path_length[3, 2] == 0.5
    assert nav.success[0, 3] and nav.hops[0, 3] == 2  # T -> C -> A
    assert nav.distance_travelled[0, 3].item() == pytest.approx(math.sqrt(5) + 1)
    assert nav.success.diagonal().all() and (nav.hops.diagonal() == 0).all()
    failures = int((~nav.success).sum())
    assert nav.success_ratio.item() == pytest.approx(1 - failures / 12)
    # a batch with shared or per-graph distances equals graph by graph
    pairs = [spatial_graph(20, 0.2, s, False) for s in range(3)]
    ws = torch.tensor(np.stack([p[0] for p in pairs]))
    ds = torch.tensor(np.stack([p[1] for p in pairs]))
    together = navigation(ws, ds)
    assert together.success_ratio.shape == (3,)
    for g in range(3):
        single = navigation(ws[g], ds[g])
        for field in Navigation._fields:
            assert torch.equal(getattr(together, field)[g], getattr(single, field)), field
    shared = navigation(ws, ds[0])
    assert torch.equal(shared.hops[1], navigation(ws[1], ds[0]).hops)


def test_navigation_bad_input():
    w = torch.ones(3, 3)
    with pytest.raises(ValueError, match="distances: expected shape"):
        navigation(w, torch.ones(4, 4))
    with pytest.raises(ValueError, match="distances: expected shape"):
        navigation(torch.ones(2, 3, 3), torch.ones(3, 3, 3))
    with pytest.raises(ValueError, match="distances: expected finite"):
        navigation(w, torch.full((3, 3), math.nan))
    with pytest.raises(ValueError, match="distances: expected non-negative"):
        navigation(w, -torch.ones(3, 3))
    assert math.isnan(navigation(torch.zeros(1, 1), torch.zeros(1, 1)).success_ratio.item())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    w, d = spatial_graph(30, 0.15, 1, False)
    a, dist = torch.tensor(w), torch.tensor(d)
    assert torch.allclose(search_information(a.cuda()).cpu(), search_information(a), rtol=1e-12)
    gpu, cpu = navigation(a.cuda(), dist.cuda()), navigation(a, dist)
    assert torch.equal(gpu.hops.cpu(), cpu.hops)
    assert torch.allclose(communicability(a.cuda()).cpu(), communicability(a), rtol=1e-10)
