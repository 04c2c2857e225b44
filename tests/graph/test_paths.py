"""Tests of ccnn.graph.paths against networkx: shortest paths, path length, efficiency."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights as shared_random_weights

from ccnn.graph.paths import characteristic_path_length, global_efficiency, local_efficiency, shortest_paths


def random_weights(n=25, p=0.15, seed=0, symmetric=False):
    return shared_random_weights(n=n, p=p, seed=seed, symmetric=symmetric)


def to_networkx(w, directed, length=None):
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(range(len(w)))
    for i, j in zip(*np.nonzero(w), strict=True):
        weight = float(w[i, j])
        graph.add_edge(int(j), int(i), weight=weight, length=1.0 / weight)  # w[i, j]: j -> i
    return graph


def test_weighted_directed_shortest_paths_match_dijkstra():
    w = random_weights(seed=1, p=0.2)
    ours = shortest_paths(torch.tensor(w))
    reference = dict(nx.all_pairs_dijkstra_path_length(to_networkx(w, True), weight="length"))
    expected = np.full((len(w), len(w)), math.inf)
    for j, row in reference.items():  # from j
        for i, d in row.items():  # to i
            expected[i, j] = d
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)


def test_binary_efficiencies_and_path_length_match_networkx():
    w = random_weights(seed=2, p=0.25, symmetric=True)
    graph = to_networkx(w, directed=False)
    a = torch.tensor(w)
    assert float(global_efficiency(a, length="binary")) == pytest.approx(nx.global_efficiency(graph))
    local = local_efficiency(a)
    expected = np.mean([nx.global_efficiency(graph.subgraph(graph[v])) for v in graph])
    assert float(local.mean()) == pytest.approx(nx.local_efficiency(graph))
    assert float(local.mean()) == pytest.approx(expected)
    if nx.is_connected(graph):
        assert float(characteristic_path_length(a, length="binary")) == pytest.approx(
            nx.average_shortest_path_length(graph)
        )


def test_weighted_global_efficiency_from_networkx_distances():
    w = random_weights(seed=3, p=0.2)
    reference = dict(nx.all_pairs_dijkstra_path_length(to_networkx(w, True), weight="length"))
    n = len(w)
    expected = sum(1.0 / d for j in range(n) for i, d in reference[j].items() if i != j) / (n * (n - 1))
    assert float(global_efficiency(torch.tensor(w))) == pytest.approx(expected, rel=1e-12)


def test_lengths_rules_and_batches():
    chain = torch.tensor([[0.0, 0, 0], [2.0, 0, 0], [0, 4.0, 0]])  # 0 -> 1 (w 2), 1 -> 2 (w 4)
    assert shortest_paths(chain)[2, 0].item() == pytest.approx(0.5 + 0.25)
    assert shortest_paths(chain, length="binary")[2, 0].item() == 2
    assert shortest_paths(chain, length="negative_log")[2, 0].item() == pytest.approx(-math.log(0.5))
    assert math.isinf(shortest_paths(chain)[0, 2].item())  # no path back
    batch = torch.stack([torch.tensor(random_weights(seed=s)) for s in range(3)])
    assert torch.allclose(global_efficiency(batch), torch.stack([global_efficiency(g) for g in batch]))
    assert torch.equal(local_efficiency(batch), torch.stack([local_efficiency(g) for g in batch]))
    with pytest.raises(ValueError, match="length: expected one of"):
        shortest_paths(chain, length="euclidean")
