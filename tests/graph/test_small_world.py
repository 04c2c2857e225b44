"""Tests of ccnn.graph.small_world on Watts–Strogatz graphs, ring lattices and by composition."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from ccnn.graph import characteristic_path_length, clustering
from ccnn.graph.nulls import randomise_preserving_degree
from ccnn.graph.small_world import (
    ring_lattice,
    small_world_omega,
    small_world_propensity,
    small_world_sigma,
)

LATTICE_PHI = 1 - 2**-0.5  # Delta_C = 0, Delta_L = 1 (or the reverse)


def watts_strogatz(p, n=120, k=6, seed=1):
    return torch.tensor(nx.to_numpy_array(nx.watts_strogatz_graph(n, k, p, seed=seed)))


@pytest.fixture(scope="module")
def ws_batch():
    return torch.stack([watts_strogatz(p) for p in (0.0, 0.1, 1.0)])  # lattice, small world, random


def test_watts_strogatz_is_small_world_only_in_between(ws_batch):
    sigma = small_world_sigma(ws_batch)
    omega = small_world_omega(ws_batch)
    phi = small_world_propensity(ws_batch)
    assert sigma.shape == omega.shape == phi.shape == (3,)
    assert sigma[1] > 3 and sigma[1] > sigma[0] and sigma[1] > sigma[2]
    assert omega[0] < -0.6 and abs(omega[1]) < 0.5 and omega[2] > 0.6
    assert phi[0] == pytest.approx(LATTICE_PHI)  # the graph is its own lattice reference
    assert phi[1] > 0.7 and phi[1] > phi[0] + 0.3 and phi[1] > phi[2] + 0.3


def test_batch_equals_per_graph_up_to_the_nulls(ws_batch):
    """One random stream serves the whole batch: equal up to the sampling error of the nulls."""
    for function, tolerance in ((small_world_sigma, 0.15), (small_world_propensity, 0.05)):
        batched = function(ws_batch, n_nulls=10)
        looped = torch.stack([function(graph, n_nulls=10) for graph in ws_batch])
        torch.testing.assert_close(batched, looped, rtol=tolerance, atol=0.0)
    torch.testing.assert_close(
        small_world_omega(ws_batch[1:], n_nulls=4),
        torch.stack([small_world_omega(g, n_nulls=4) for g in ws_batch[1:]]),
        rtol=0.0,
        atol=0.15,
    )
    lattices = ring_lattice(ws_batch)
    assert all(torch.equal(lat, ring_lattice(g)) for lat, g in zip(lattices, ws_batch, strict=True))


def test_definitions_by_composition_and_seeds(ws_batch):
    a = ws_batch[1]
    nulls = randomise_preserving_degree(a, n_nulls=6, seed=4)

    def c_and_l(g):
        return clustering(g, weighted=False).mean(-1), characteristic_path_length(g, length="binary")

    (c, path), (c_rand, path_rand) = c_and_l(a), c_and_l(nulls)
    sigma = (c / c_rand.mean()) / (path / path_rand.mean())
    assert float(small_world_sigma(a, n_nulls=6, seed=4)) == pytest.approx(float(sigma), rel=1e-12)
    c_latt, path_latt = c_and_l(ring_lattice(a))
    delta_c = ((c_latt - c) / (c_latt - c_rand.mean())).clamp(0, 1)
    delta_l = ((path - path_rand.mean()) / (path_latt - path_rand.mean())).clamp(0, 1)
    phi = 1 - ((delta_c**2 + delta_l**2) / 2).sqrt()
    assert float(small_world_propensity(a, n_nulls=6, seed=4)) == pytest.approx(float(phi), rel=1e-12)
    assert torch.equal(small_world_omega(a, n_nulls=3, seed=2), small_world_omega(a, n_nulls=3, seed=2))
    assert not torch.equal(small_world_sigma(a, n_nulls=3, seed=2), small_world_sigma(a, n_nulls=3, seed=3))


def test_ring_lattice_places_edges_and_weights_by_distance():
    ring = watts_strogatz(0.0, n=30, k=4)
    shuffled = torch.tensor(nx.to_numpy_array(nx.gnm_random_graph(30, 60, seed=2)))
    assert torch.equal(ring_lattice(shuffled), ring)  # 60 = 2 N edges: the k = 4 ring
    n = 40
    distance = torch.arange(n)[:, None] - torch.arange(n)[None, :]
    distance = torch.minimum(distance.abs(), n - distance.abs()).double()
    weighted = torch.where((distance > 0) & (distance <= 3), 1 / distance, torch.zeros_like(distance))
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ring_lattice(weighted[permutation][:, permutation]), weighted)
    phi = small_world_propensity(weighted, weighted=True)
    assert float(phi) == pytest.approx(LATTICE_PHI)
    directed = torch.tensor(np.random.default_rng(0).random((n, n)) < 0.1).double()
    lattice = ring_lattice(directed)
    assert lattice.sum() == directed.fill_diagonal_(0).sum()
    assert (lattice * distance).sum() <= (directed * distance).sum()
    assert distance[lattice != 0].max() <= 3  # about 2.3 edges per node each way: distances 1..3


def test_disconnected_graphs_use_the_connected_pairs():
    two = torch.block_diag(watts_strogatz(0.1, n=40, seed=2), watts_strogatz(0.1, n=40, seed=3))
    for function in (small_world_sigma, small_world_omega, small_world_propensity):
        assert torch.isfinite(function(two, n_nulls=4))


def test_bad_input_is_named():
    a = watts_strogatz(0.1, n=20)
    with pytest.raises(ValueError, match="n_nulls: expected an int >= 1"):
        small_world_sigma(a, n_nulls=0)
    with pytest.raises(ValueError, match="adjacency: expected non-negative values"):
        small_world_propensity(-a, weighted=True)
    with pytest.raises(TypeError, match="weighted: expected True or False"):
        small_world_propensity(a, weighted="yes")
    with pytest.raises(ValueError, match="adjacency: expected a square matrix"):
        small_world_omega(torch.ones(2, 3))
