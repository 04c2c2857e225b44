"""Tests of ccnn.graph.communities.modularity against networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights as shared_random_weights

from ccnn.graph import modularity


def random_weights(n=24, p=0.25, seed=0, symmetric=False):
    return shared_random_weights(n=n, p=p, seed=seed, symmetric=symmetric)


def nx_modularity(w, labels, directed, resolution=1.0):
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(range(len(w)))
    for i, j in zip(*np.nonzero(w), strict=True):
        graph.add_edge(int(j), int(i), weight=float(w[i, j]))  # w[i, j]: j -> i
    groups = [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]
    return nx.community.modularity(graph, groups, weight="weight", resolution=resolution)


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("resolution", [1.0, 0.5])
def test_modularity_matches_networkx(symmetric, resolution):
    w = random_weights(seed=5, symmetric=symmetric)
    labels = np.random.default_rng(1).integers(0, 3, len(w))
    ours = modularity(torch.tensor(w), torch.tensor(labels), resolution=resolution)
    assert float(ours) == pytest.approx(nx_modularity(w, labels, not symmetric, resolution), abs=1e-12)


def test_two_cliques_and_batches():
    block = torch.block_diag(torch.ones(4, 4), torch.ones(4, 4))
    split = torch.tensor([0] * 4 + [1] * 4)
    assert float(modularity(block, split)) == pytest.approx(0.5)  # two disjoint equal cliques
    assert float(modularity(block, torch.zeros(8, dtype=torch.long))) == pytest.approx(0.0)
    batch = torch.stack([torch.tensor(random_weights(seed=s)) for s in range(3)])
    labels = torch.randint(0, 3, (3, 24), generator=torch.Generator().manual_seed(0))
    looped = torch.stack([modularity(g, c) for g, c in zip(batch, labels, strict=True)])
    assert torch.allclose(modularity(batch, labels), looped)
    assert torch.allclose(
        modularity(batch, labels[0]), torch.stack([modularity(g, labels[0]) for g in batch])
    )


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match=r"communities: expected one label per node, shape \(8,\)"):
        modularity(torch.ones(8, 8), torch.zeros(7, dtype=torch.long))
    with pytest.raises(TypeError, match="communities: expected integer labels"):
        modularity(torch.ones(8, 8), torch.zeros(8))
