"""Tests of ccnn.graph.metrics against networkx (degree, density, weighted clustering)."""

from __future__ import annotations

import importlib

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights as shared_random_weights

from ccnn.graph import clustering, degree, density, strength

metrics = importlib.import_module("ccnn.graph.metrics")  # the module, not a function


def random_weights(n=30, p=0.2, seed=0, symmetric=False):
    return shared_random_weights(n=n, p=p, seed=seed, symmetric=symmetric)


def to_networkx(w, directed):
    """networkx graph of a ccnn matrix: w[i, j] is the edge j -> i."""
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(range(len(w)))
    for i, j in zip(*np.nonzero(w), strict=True):
        graph.add_edge(int(j), int(i), weight=float(w[i, j]))
    return graph


@pytest.mark.parametrize("symmetric", [False, True])
def test_weighted_clustering_matches_networkx(symmetric):
    w = random_weights(symmetric=symmetric, p=0.3)
    graph = to_networkx(w, directed=not symmetric)
    expected = nx.clustering(graph, weight="weight")
    ours = clustering(torch.tensor(w))
    np.testing.assert_allclose(ours.numpy(), [expected[k] for k in range(len(w))], atol=1e-10)
    unweighted = nx.clustering(graph)
    np.testing.assert_allclose(
        clustering(torch.tensor(w), weighted=False).numpy(),
        [unweighted[k] for k in range(len(w))],
        atol=1e-10,
    )


@pytest.mark.parametrize("symmetric", [False, True])
def test_sparse_graphs_take_the_edge_list_route_with_the_same_values(symmetric, monkeypatch):
    """Below SPARSE_DENSITY (and N > 64) clustering counts triangles on the edge list; it must
    agree with networkx, with the dense route, and fall back to it when wedges are too many."""
    w = random_weights(n=150, p=0.03, seed=3, symmetric=symmetric)
    w[5, :] = 0  # a node without input (and, undirected, without output)
    if symmetric:
        w[:, 5] = 0
    graph = to_networkx(w, directed=not symmetric)
    expected = nx.clustering(graph, weight="weight")
    batch = torch.tensor(np.stack([w, np.zeros_like(w), w.T.copy()]))
    sparse = clustering(batch)
    np.testing.assert_allclose(sparse[0].numpy(), [expected[k] for k in range(len(w))], atol=1e-12)
    assert torch.equal(sparse[1], torch.zeros(150, dtype=sparse.dtype))
    monkeypatch.setattr(metrics, "SPARSE_DENSITY", 0.0)
    torch.testing.assert_close(clustering(batch), sparse, rtol=0, atol=1e-12)
    monkeypatch.setattr(metrics, "SPARSE_DENSITY", 1.0)
    monkeypatch.setattr(metrics, "MAX_WEDGES", 10)  # too many wedges: the dense route
    torch.testing.assert_close(clustering(batch), sparse, rtol=0, atol=1e-12)


def test_degree_strength_and_density_match_networkx():
    w = random_weights(seed=3)
    graph = to_networkx(w, directed=True)
    a = torch.tensor(w)
    np.testing.assert_array_equal(degree(a, "in").numpy(), [graph.in_degree(k) for k in range(30)])
    np.testing.assert_array_equal(degree(a, "out").numpy(), [graph.out_degree(k) for k in range(30)])
    np.testing.assert_allclose(
        strength(a, "in").numpy(), [graph.in_degree(k, weight="weight") for k in range(30)], rtol=1e-12
    )
    assert float(density(a)) == pytest.approx(nx.density(graph))
    undirected = graph.to_undirected()
    np.testing.assert_array_equal(degree(a, "undirected").numpy(), [undirected.degree(k) for k in range(30)])
    symmetric = random_weights(seed=4, symmetric=True)
    assert float(density(torch.tensor(symmetric))) == pytest.approx(nx.density(to_networkx(symmetric, False)))


def test_a_batch_equals_a_loop_and_self_connections_are_ignored():
    batch = torch.stack([torch.tensor(random_weights(seed=s)) for s in range(3)])
    for function in (clustering, degree, strength, density):
        looped = torch.stack([function(g) for g in batch])
        assert torch.allclose(function(batch), looped)
    with_loops = batch[0] + torch.eye(30)
    assert torch.equal(degree(with_loops), degree(batch[0]))
    assert torch.allclose(clustering(with_loops * 1.0), clustering(batch[0]), atol=0)  # diagonal ignored


def test_a_triangle_and_a_star_by_hand():
    triangle = torch.tensor([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]])
    assert torch.equal(clustering(triangle), torch.ones(3))
    star = torch.zeros(4, 4)
    star[0, 1:] = star[1:, 0] = 1.0
    assert torch.equal(clustering(star), torch.zeros(4))  # leaves have one neighbour: 0 by definition


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"adjacency: expected a square matrix"):
        clustering(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="kind: expected one of"):
        degree(torch.zeros(3, 3), "sideways")
