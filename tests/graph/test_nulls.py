"""Tests of ccnn.graph.nulls: degree-preserving, strength-preserving and latticised nulls."""

from __future__ import annotations

import collections
import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights
from scipy import stats

from ccnn.graph import clustering, degree
from ccnn.graph.nulls import latticise, randomise_preserving_degree, randomise_preserving_strength


def ring_cost(a):
    n = a.shape[-1]
    d = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
    return ((a != 0) * torch.minimum(d, n - d)).sum((-1, -2))


def assert_same_degrees_and_weights(null, original):
    assert torch.equal(degree(null, "in"), degree(original, "in"))
    assert torch.equal(degree(null, "out"), degree(original, "out"))
    assert torch.equal(null.diagonal(), original.diagonal())
    assert torch.equal(null.flatten().sort().values, original.flatten().sort().values)


@pytest.mark.parametrize("symmetric", [False, True])
def test_degrees_weights_and_rewiring(symmetric):
    w = torch.tensor(random_weights(n=40, p=0.15, seed=2, symmetric=symmetric))
    w[3, 3] = 7.0  # a self-connection is carried over unchanged
    nulls = randomise_preserving_degree(w, n_nulls=6)
    assert nulls.shape == (6, 40, 40) and nulls.dtype == w.dtype
    for null in nulls:
        assert_same_degrees_and_weights(null, w)
        kept = ((null != 0) & (w != 0)).sum() - 1
        assert kept / ((w != 0).sum() - 1) < 0.4  # most edges moved (random overlap ~ density)
        if symmetric:
            assert torch.equal(null, null.T)
        else:  # an edge keeps its source and weight: out-strengths exact
            assert torch.allclose(null.sum(0), w.sum(0))


def test_batches_shapes_seeds_and_bool_input():
    graphs = [random_weights(n=30, p=p, seed=s) for s, p in enumerate((0.1, 0.2, 0.3))]
    batch = torch.tensor(np.stack(graphs))
    assert randomise_preserving_degree(batch).shape == (3, 30, 30)
    nulls = randomise_preserving_degree(batch, n_nulls=4, seed=5)
    assert nulls.shape == (3, 4, 30, 30)
    for graph, its_nulls in zip(batch, nulls, strict=True):  # different edge counts per graph
        for null in its_nulls:
            assert_same_degrees_and_weights(null, graph)
    assert torch.equal(nulls, randomise_preserving_degree(batch, n_nulls=4, seed=5))
    assert not torch.equal(nulls, randomise_preserving_degree(batch, n_nulls=4, seed=6))
    assert not torch.equal(nulls[0, 0], nulls[0, 1])  # the nulls of one graph differ
    assert torch.equal(randomise_preserving_degree(batch, n_swaps=0), batch)
    binary = batch[0] != 0
    null = randomise_preserving_degree(binary)
    assert null.dtype == torch.bool and torch.equal(null.sum(0), binary.sum(0))


@pytest.mark.parametrize(
    ("edges", "n", "directed"),
    [
        ([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)], 6, False),
        ([(0, 1), (0, 2), (0, 3), (1, 2), (3, 4), (4, 5), (2, 5)], 6, False),
        ([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 2)], 5, True),
    ],
)
def test_nulls_are_uniform_over_the_graphs_with_the_same_degrees(edges, n, directed):
    """Enumerate every simple graph with the degree sequence; the nulls hit them equally often."""
    a = torch.zeros(n, n)
    for source, target in edges:
        a[target, source] = 1
        if not directed:
            a[source, target] = 1
    pairs = [(s, t) for s in range(n) for t in range(n) if s != t and (directed or s < t)]
    graphs = []
    for chosen in itertools.combinations(pairs, len(edges)):
        b = torch.zeros(n, n)
        for source, target in chosen:
            b[target, source] = 1
            if not directed:
                b[source, target] = 1
        if torch.equal(b.sum(0), a.sum(0)) and torch.equal(b.sum(1), a.sum(1)):
            graphs.append(b.bool().numpy().tobytes())
    nulls = randomise_preserving_degree(a, n_nulls=6000, n_swaps=50, seed=1)
    counts = collections.Counter(null.bool().numpy().tobytes() for null in nulls)
    assert set(counts) == set(graphs)
    assert stats.chisquare([counts[g] for g in graphs]).pvalue > 1e-3


def test_lattice_clustering_drops_to_random_and_latticise_restores_it():
    ring = torch.tensor(nx.to_numpy_array(nx.watts_strogatz_graph(80, 8, 0.0)))
    nulls = randomise_preserving_degree(ring, n_nulls=4)
    c_ring = clustering(ring, weighted=False).mean()
    c_null = clustering(nulls, weighted=False).mean()
    assert c_ring == pytest.approx(9 / 14) and c_null < 0.2  # random: about k / N = 0.1
    lattices = latticise(nulls[0], n_nulls=2)
    for lattice in lattices:
        assert_same_degrees_and_weights(lattice, ring)
        assert torch.equal(lattice, lattice.T)
    assert clustering(lattices, weighted=False).mean() > 0.45
    assert (ring_cost(lattices) < 0.5 * ring_cost(nulls[0])).all()
    directed = torch.tensor(random_weights(n=40, p=0.15, seed=4))
    lattice = latticise(directed, n_swaps=50)
    assert_same_degrees_and_weights(lattice, directed)
    assert ring_cost(lattice) < 0.6 * ring_cost(directed)


def test_a_complete_graph_admits_no_swap():
    complete = 1 - torch.eye(5)
    with pytest.warns(RuntimeWarning, match="1 graph"):
        assert torch.equal(randomise_preserving_degree(complete), complete)


@pytest.mark.parametrize("symmetric", [False, True])
def test_strength_nulls_keep_degrees_weights_and_strengths(symmetric):
    rng = np.random.default_rng(3)
    w = random_weights(n=60, p=0.15, seed=3, symmetric=symmetric)
    scale = rng.lognormal(0.0, 0.5, 60)  # heterogeneous strengths: weights w_ij s_i s_j
    w = w * scale[:, None] * scale[None, :]
    w = torch.tensor(np.triu(w, 1) + np.triu(w, 1).T if symmetric else w)
    nulls = randomise_preserving_strength(w, n_nulls=5, seed=2)
    plain = randomise_preserving_degree(w, n_nulls=5, seed=2)
    for null, other in zip(nulls, plain, strict=True):
        assert_same_degrees_and_weights(null, w)
        for axis in (0, 1):  # out- and in-strengths
            r = np.corrcoef(null.sum(axis), w.sum(axis))[0, 1]
            assert r >= 0.95
            if symmetric or axis == 1:  # plain nulls keep out-strengths exactly
                assert r > np.corrcoef(other.sum(axis), w.sum(axis))[0, 1]
    if symmetric:
        assert torch.equal(nulls, nulls.transpose(-1, -2))
    assert torch.equal(nulls, randomise_preserving_strength(w, n_nulls=5, seed=2))


def test_bad_input_is_named():
    asymmetric = torch.tensor(random_weights(n=10, p=0.3, seed=0))
    with pytest.raises(ValueError, match="directed: got False, but adjacency is not symmetric"):
        randomise_preserving_degree(asymmetric, directed=False)
    with pytest.raises(ValueError, match="n_nulls: expected an int >= 1"):
        randomise_preserving_degree(asymmetric, n_nulls=0)
    with pytest.raises(ValueError, match="n_swaps: expected an int >= 0"):
        latticise(asymmetric, n_swaps=-1)
    with pytest.raises(ValueError, match="adjacency: expected non-negative values"):
        randomise_preserving_strength(-asymmetric)
    with pytest.raises(ValueError, match="adjacency: expected a square matrix"):
        randomise_preserving_degree(torch.ones(3, 4))
    with pytest.raises(TypeError, match="seed: expected an int"):
        randomise_preserving_degree(asymmetric, seed=1.5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_nulls_stay_on_the_device():
    w = torch.tensor(random_weights(n=50, p=0.1, seed=1)).cuda()
    for function in (randomise_preserving_degree, randomise_preserving_strength, latticise):
        nulls = function(w, n_nulls=3)
        assert nulls.device == w.device
        for null in nulls:
            assert_same_degrees_and_weights(null, w)
