"""Tests of ccnn.graph.communities.modularity against networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights as shared_random_weights

from ccnn.graph.communities import (
    louvain,
    modularity,
    participation_coefficient,
    within_module_degree_zscore,
)


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


def planted(groups=4, size=20, seed=1, directed=False):
    graph = nx.planted_partition_graph(groups, size, 0.6, 0.02, seed=seed)
    a = nx.to_numpy_array(graph)
    if directed:  # keep one direction of each edge, at random
        upper = np.triu(a, 1) * (np.random.default_rng(seed).random(a.shape) < 0.5)
        a = upper + (np.triu(a, 1) - upper).T
    return a, np.repeat(np.arange(groups), size)


@pytest.mark.parametrize("directed", [False, True])
def test_louvain_recovers_a_planted_partition(directed):
    a, truth = planted(directed=directed)
    labels = louvain(torch.tensor(a), seed=3)
    assert labels.dtype == torch.long and labels.shape == (80,)
    assert labels.tolist() == truth.tolist()  # numbered by first appearance
    graph = nx.from_numpy_array(a.T, create_using=nx.DiGraph if directed else nx.Graph)
    theirs = nx.community.louvain_communities(graph, weight="weight", seed=3)
    q = nx.community.modularity(graph, theirs, weight="weight")
    assert float(modularity(torch.tensor(a), labels)) == pytest.approx(q, abs=1e-12)


def test_louvain_batches_and_weights():
    a, _ = planted(seed=2)
    w = a * np.random.default_rng(0).uniform(0.5, 2.0, a.shape)
    w = np.triu(w, 1) + np.triu(w, 1).T
    batch = torch.tensor(np.stack([a, w]))
    labels = louvain(batch, resolution=0.8, seed=1)
    assert labels.shape == (2, 80)
    assert torch.equal(labels[1], louvain(batch[1], resolution=0.8, seed=1))
    graph = nx.from_numpy_array(w)
    groups = nx.community.louvain_communities(graph, weight="weight", resolution=0.8, seed=1)
    q_theirs = nx.community.modularity(graph, groups, weight="weight", resolution=0.8)
    assert float(modularity(batch[1], labels[1], resolution=0.8)) == pytest.approx(q_theirs, abs=1e-12)
    with pytest.raises(ValueError, match="adjacency: expected non-negative values"):
        louvain(-batch)


def numpy_roles(w, labels, direction):
    """Guimerà & Amaral's P and z written out per node (w[i, j]: j -> i)."""
    links = {"in": w, "out": w.T, "total": w + w.T}[direction]  # row i: i's edges
    n = len(w)
    p, kappa = np.zeros(n), np.zeros(n)
    for i in range(n):
        k = links[i].sum() - links[i, i]
        per_module = [sum(links[i, j] for j in range(n) if labels[j] == s and j != i) for s in set(labels)]
        p[i] = 1 - sum((k_s / k) ** 2 for k_s in per_module) if k > 0 else 0.0
        kappa[i] = sum(links[i, j] for j in range(n) if labels[j] == labels[i] and j != i)
    z = np.zeros(n)
    for i in range(n):
        members = kappa[labels == labels[i]]
        z[i] = (kappa[i] - members.mean()) / members.std() if members.std() > 1e-12 else 0.0
    return p, z


@pytest.mark.parametrize("direction", ["out", "in", "total"])
def test_participation_and_zscore_match_the_formula(direction):
    w = random_weights(n=24, p=0.3, seed=7)
    w[5] = w[:, 5] = 0.0  # an isolated node: P = 0
    w[3, 3] = 9.0  # self-connections are ignored
    labels = np.random.default_rng(2).integers(0, 4, 24)
    p, z = numpy_roles(w, labels, direction)
    ours_p = participation_coefficient(torch.tensor(w), torch.tensor(labels), direction=direction)
    ours_z = within_module_degree_zscore(torch.tensor(w), torch.tensor(labels), direction=direction)
    np.testing.assert_allclose(ours_p.numpy(), p, atol=1e-12)
    np.testing.assert_allclose(ours_z.numpy(), z, atol=1e-12)
    assert ours_p[5] == 0
    batch = torch.stack([torch.tensor(w), torch.tensor(random_weights(n=24, p=0.3, seed=8))])
    looped = torch.stack(
        [participation_coefficient(g, torch.tensor(labels), direction=direction) for g in batch]
    )
    assert torch.allclose(participation_coefficient(batch, torch.tensor(labels), direction=direction), looped)


def test_roles_by_hand():
    # undirected: node 0 has two edges into its module {0, 1, 2} and one into {3}
    a = torch.zeros(4, 4)
    for i, j in [(0, 1), (0, 2), (0, 3)]:
        a[i, j] = a[j, i] = 1.0
    labels = torch.tensor([0, 0, 0, 1])
    assert participation_coefficient(a, labels).tolist() == pytest.approx([4 / 9, 0, 0, 0])
    # directed star 0 -> 1, 0 -> 2 in one module: out-strengths (2, 0, 0), in-strengths (0, 1, 1)
    star = torch.zeros(3, 3)
    star[1, 0] = star[2, 0] = 1.0
    one = torch.zeros(3, dtype=torch.long)
    root2 = 2**0.5
    expected = [root2, -1 / root2, -1 / root2]
    assert within_module_degree_zscore(star, one).tolist() == pytest.approx(expected)
    assert within_module_degree_zscore(star, one, direction="in").tolist() == pytest.approx(
        [-e for e in expected]
    )
    assert within_module_degree_zscore(torch.ones(3, 3), one).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="direction: expected one of"):
        participation_coefficient(a, labels, direction="both")
