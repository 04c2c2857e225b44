"""Tests of ccnn.graph.rich_club against networkx and a hand-written directed formula."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from graph_helpers import random_weights

from ccnn.graph.nulls import randomise_preserving_degree
from ccnn.graph.rich_club import rich_club


def assert_matches_networkx(ours, w):
    graph = nx.from_numpy_array(w)
    expected = nx.rich_club_coefficient(graph, normalized=False)
    assert len(ours) >= max(d for _, d in graph.degree()) + 1
    for k, value in enumerate(ours.tolist()):
        if k in expected:
            assert value == pytest.approx(expected[k], abs=1e-12)
        else:  # networkx leaves out the k with fewer than two richer nodes
            assert math.isnan(value)


@pytest.mark.parametrize(("n", "p", "seed"), [(50, 0.15, 1), (40, 0.4, 2), (30, 0.05, 3)])
def test_matches_networkx(n, p, seed):
    w = random_weights(n=n, p=p, seed=seed, symmetric=True)
    ours = rich_club(torch.tensor(w))
    assert ours.shape == (int((w != 0).sum(0).max()) + 1,)
    assert_matches_networkx(ours, w)


def test_batch_is_padded_with_nan():
    graphs = [random_weights(n=30, p=p, seed=s, symmetric=True) for s, p in enumerate((0.1, 0.3))]
    batch = rich_club(torch.tensor(np.stack(graphs)))
    for row, w in zip(batch, graphs, strict=True):
        single = rich_club(torch.tensor(w))
        assert torch.equal(row[: len(single)].isnan(), single.isnan())
        assert torch.allclose(row[: len(single)].nan_to_num(), single.nan_to_num())
        assert row[len(single) :].isnan().all()
        assert_matches_networkx(row, w)


def test_directed_uses_total_degree_and_ordered_pairs():
    w = random_weights(n=30, p=0.2, seed=4)
    a = (w != 0).astype(float)
    total = a.sum(0) + a.sum(1)
    ours = rich_club(torch.tensor(w))
    assert len(ours) == int(total.max()) + 1
    for k, value in enumerate(ours.tolist()):
        rich = total > k
        m = rich.sum()
        if m < 2:
            assert math.isnan(value)
        else:
            assert value == pytest.approx(a[np.ix_(rich, rich)].sum() / (m * (m - 1)), abs=1e-12)


def test_normalised_by_the_mean_of_nulls():
    w = random_weights(n=40, p=0.2, seed=5, symmetric=True)
    a = torch.tensor(w)
    rho = rich_club(a, normalized=True, n_nulls=8, seed=3)
    nulls = randomise_preserving_degree(a != 0, n_nulls=8, seed=3)
    mean = torch.stack([rich_club(null) for null in nulls]).mean(0)
    torch.testing.assert_close(rho, rich_club(a) / mean, equal_nan=True)
    # a planted rich club: the 10 highest-degree nodes all linked is more than degrees explain
    hubs = np.argsort(-(w != 0).sum(0))[:10]
    club = w.copy()
    club[np.ix_(hubs, hubs)] = 1.0
    np.fill_diagonal(club, 0.0)
    rho = rich_club(torch.tensor(club), normalized=True, n_nulls=20)
    k_high = int(np.sort((club != 0).sum(0))[-10]) - 1  # the hubs are the nodes above k_high
    assert rho[k_high] > 1.2
    assert rho[0] == pytest.approx(1.0)  # every node with an edge: the density, kept by nulls


def test_bad_input_is_named():
    asymmetric = torch.tensor(random_weights(n=10, p=0.3, seed=0))
    with pytest.raises(ValueError, match="directed: got False"):
        rich_club(asymmetric, directed=False)
    with pytest.raises(ValueError, match="n_nulls: expected an int >= 1"):
        rich_club(asymmetric, normalized=True, n_nulls=0)
    with pytest.raises(TypeError, match="normalized: expected True or False"):
        rich_club(asymmetric, normalized="yes")
