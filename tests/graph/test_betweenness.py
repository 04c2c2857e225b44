"""Tests of ccnn.graph.betweenness against networkx's betweenness_centrality."""

from __future__ import annotations

import importlib
import math

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights

from ccnn.graph.betweenness import betweenness

# the module object: ccnn.graph.betweenness as an attribute is the function of the same name
betweenness_module = importlib.import_module("ccnn.graph.betweenness")


def nx_lengths(w, length):
    """Edge lengths by ccnn's rule, computed in numpy, for networkx's ``weight=``."""
    w = np.abs(np.asarray(w, dtype=float))
    if length == "binary":
        return np.where(w != 0, 1.0, 0.0)
    if length == "inverse":
        return np.divide(1.0, w, out=np.zeros_like(w), where=w != 0)
    off = w * (1 - np.eye(len(w)))
    return np.where(w != 0, -np.log(np.where(w != 0, w, 1.0) / off.max()), 0.0)


def reference(w, length="inverse", normalized=False, directed=None):
    """networkx on a DiGraph with edge j -> i for w[i, j] != 0 (a Graph when w is symmetric)."""
    w = np.asarray(w, dtype=float)
    if directed is None:
        directed = not np.array_equal(w, w.T)
    lengths = nx_lengths(w, length)
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(range(len(w)))
    for i, j in zip(*np.nonzero(w), strict=True):
        if i != j:
            graph.add_edge(int(j), int(i), length=float(lengths[i, j]))
    values = nx.betweenness_centrality(graph, weight="length", normalized=normalized)
    return np.array([values[v] for v in range(len(w))])


# negative_log on a symmetric graph has a zero-length cycle (the heaviest edge both ways), where
# networkx's count depends on its visiting order: tested by hand below instead
CASES = [(s, length) for s in (False, True) for length in ("inverse", "binary", "negative_log")]


@pytest.mark.parametrize(("symmetric", "length"), [c for c in CASES if c != (True, "negative_log")])
@pytest.mark.parametrize("p", [0.06, 0.25])  # 0.06: disconnected graphs with isolated nodes
def test_matches_networkx_on_random_graphs(symmetric, length, p):
    w = random_weights(n=40, p=p, seed=11, symmetric=symmetric)
    for normalized in (False, True):
        ours = betweenness(torch.tensor(w), length=length, normalized=normalized)
        np.testing.assert_allclose(ours.numpy(), reference(w, length, normalized), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("symmetric", [False, True])
def test_ties_from_integer_weights(symmetric):
    # weights 1, 2, 4: lengths 1, 1/2, 1/4 add up exactly, so equal paths tie in both codes
    rng = np.random.default_rng(5)
    w = random_weights(n=35, p=0.2, seed=5, symmetric=symmetric)
    w = np.where(w != 0, 2.0 ** rng.integers(0, 3, w.shape), 0.0)
    if symmetric:
        w = np.triu(w, 1) + np.triu(w, 1).T
    for length in ("inverse", "binary"):
        ours = betweenness(torch.tensor(w), length=length)
        np.testing.assert_allclose(ours.numpy(), reference(w, length), rtol=1e-9, atol=1e-9)


def test_hand_calculated_cases():
    # star: every path between two leaves passes through the centre
    star = torch.zeros(5, 5)
    star[0, 1:] = star[1:, 0] = 1
    assert betweenness(star).tolist() == [6.0, 0, 0, 0, 0]  # C(4, 2) unordered pairs
    assert betweenness(star, normalized=True)[0].item() == pytest.approx(12 / (4 * 3))
    # directed chain 0 -> 1 -> 2 -> 3: node 1 lies on 0->2, 0->3; node 2 on 0->3, 1->3
    chain = torch.zeros(4, 4)
    chain[1, 0] = chain[2, 1] = chain[3, 2] = 1
    assert betweenness(chain).tolist() == [0.0, 2, 2, 0]
    # square 0-1-2-3-0: two shortest paths between opposite corners, each middle node gets 1/2
    square = torch.zeros(4, 4)
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 0)]:
        square[a, b] = square[b, a] = 1
    assert betweenness(square, length="binary").tolist() == [0.5] * 4
    # a heavier edge is shorter under "inverse": 0 -> 2 goes through 1 (1/4 + 1/4 < 1)
    detour = torch.tensor([[0.0, 0, 0], [4, 0, 0], [1, 4, 0]])
    assert betweenness(detour).tolist() == [0.0, 1, 0]
    assert betweenness(detour, length="binary").tolist() == [0.0, 0, 0]


def test_zero_length_edges_prefer_fewest():
    # negative_log maps the heaviest (symmetric) edge 0-1 to length 0: a zero-length cycle.
    # 1 -> 2 directly (length l) and via 0 (0 + l) tie; the path with no zero-length edge wins.
    w = torch.zeros(4, 4, dtype=torch.float64)
    for a, b, weight in [(0, 1, 4.0), (0, 2, 1.0), (1, 2, 1.0), (2, 3, 1.0)]:
        w[a, b] = w[b, a] = weight
    ours = betweenness(w, length="negative_log")
    assert torch.isfinite(ours).all()
    # node 2 is the only way to 3: pairs {0, 3} and {1, 3}; nobody else is in between
    assert ours.tolist() == [0.0, 0.0, 2.0, 0.0]
    # a chain with a zero-length edge: a - b (heaviest) - c, b is between a and c
    chain = torch.tensor([[0.0, 2, 0], [2, 0, 1], [0, 1, 0]])
    assert betweenness(chain, length="negative_log").tolist() == [0.0, 1.0, 0.0]


def test_batches_mixed_graphs_and_both_algorithms(monkeypatch):
    graphs = [random_weights(n=30, p=0.15, seed=s, symmetric=s % 2 == 0) for s in range(4)]
    batch = torch.tensor(np.stack(graphs))
    for length in ("inverse", "binary"):
        together = betweenness(batch, length=length, normalized=False)
        assert together.shape == (4, 30)
        for g, w in enumerate(graphs):
            np.testing.assert_allclose(together[g].numpy(), reference(w, length), rtol=1e-9, atol=1e-9)
    # small chunks of sources, and the edge-list algorithm for binary graphs, give the same
    expected, weighted = betweenness(batch, length="binary"), betweenness(batch)
    monkeypatch.setattr(betweenness_module, "_CHUNK_ELEMENTS", 700)
    assert torch.allclose(betweenness(batch, length="binary"), expected, rtol=1e-12)
    assert torch.allclose(betweenness(batch), weighted, rtol=1e-12)
    monkeypatch.setattr(betweenness_module, "_DENSE_BFS_DENSITY", math.inf)
    assert torch.allclose(betweenness(batch, length="binary"), expected, rtol=1e-12)


def test_chunked_weighted_equals_one_chunk(monkeypatch):
    w = torch.tensor(random_weights(n=40, p=0.1, seed=3))
    expected = betweenness(w)
    monkeypatch.setattr(betweenness_module, "_CHUNK_ELEMENTS", 500)
    assert torch.allclose(betweenness(w), expected, rtol=1e-12)


def test_dtypes_small_graphs_and_bad_input():
    w = random_weights(n=20, p=0.2, seed=2)
    assert betweenness(torch.tensor(w)).dtype == torch.float64
    assert betweenness(torch.tensor(w, dtype=torch.float32)).dtype == torch.get_default_dtype()
    binary = betweenness(torch.tensor(w), length="binary").float()
    assert torch.equal(betweenness(torch.tensor(w) != 0), binary)
    assert betweenness(torch.zeros(1, 1)).tolist() == [0.0]
    assert betweenness(torch.ones(2, 2), normalized=True).tolist() == [0.0, 0.0]
    assert betweenness(torch.zeros(3, 3)).tolist() == [0.0, 0.0, 0.0]
    nan = torch.tensor(w)
    nan[0, 1] = math.nan
    with pytest.raises(ValueError, match="adjacency: expected finite"):
        betweenness(nan)
    with pytest.raises(ValueError, match="adjacency: expected a square"):
        betweenness(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="length: expected one of"):
        betweenness(torch.zeros(3, 3), length="hops")
    with pytest.raises(TypeError, match="normalized: expected a bool"):
        betweenness(torch.zeros(3, 3), normalized="yes")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    batch = torch.tensor(np.stack([random_weights(n=50, p=0.1, seed=s) for s in range(3)]))
    for length in ("inverse", "binary"):
        gpu = betweenness(batch.cuda(), length=length)
        assert gpu.device.type == "cuda"
        assert torch.allclose(gpu.cpu(), betweenness(batch, length=length), rtol=1e-10)
