"""Tests of ccnn.models.zoo.evaluation: hand calculations, networkx references, analytic cases."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch

from ccnn.graph import small_world_sigma
from ccnn.models.zoo.evaluation import (
    SpecialisationResult,
    layered_adjacency,
    modularity_q,
    small_worldness,
    task_specialisation,
    weight_density,
    wiring_cost,
)

# ------------------------------------------------------------------------- weight density


def test_weight_density_hand_calculation():
    w1 = torch.tensor([[1.0, -0.5, 0.005], [0.0, -0.02, 0.01]])  # max 1: > 0.01 are 1, -0.5, -0.02
    w2 = torch.tensor([[100.0, 2.0], [0.5, -1.5]])  # max 100: > 1 are 100, 2, -1.5
    assert weight_density(w1) == pytest.approx(3 / 6)
    assert weight_density([w1, w2]) == pytest.approx((3 + 3) / (6 + 4))  # total present / total possible
    assert weight_density([w1, w2], threshold=0.0) == pytest.approx((5 + 4) / 10)  # non-zeros
    assert weight_density([w1, w2], threshold=0.6) == pytest.approx((1 + 1) / 10)
    assert weight_density([torch.zeros(3, 3), torch.ones(1, 1)]) == pytest.approx(0.1)


def test_weight_density_matches_a_reference_on_random_layers():
    gen = torch.Generator().manual_seed(0)
    layers = [torch.randn(7, 5, generator=gen) ** 3, torch.randn(3, 7, generator=gen) * 1e-3]
    present = sum(int((w.abs() > 0.1 * w.abs().max()).sum()) for w in layers)
    assert weight_density(layers, 0.1) == pytest.approx(present / (35 + 21))
    assert weight_density([w.double() for w in layers], 0.1) == weight_density(layers, 0.1)


# --------------------------------------------------------------------------- wiring cost


def test_wiring_cost_hand_calculation_and_errors():
    w = [torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5], [-3.0]])]
    d = [torch.tensor([[2.0, 0.25]]), torch.tensor([[4.0], [1.0]])]
    assert wiring_cost(w, d) == pytest.approx(1 * 2 + 2 * 0.25 + 0.5 * 4 + 3 * 1)
    assert wiring_cost(w[0], d[0]) == pytest.approx(2.5)
    with pytest.raises(
        ValueError, match=r"^distances\[1\]: expected a \(2, 1\) tensor of distances, got None"
    ):
        wiring_cost(w, [d[0], None])
    with pytest.raises(ValueError, match=r"^distances: expected one distance matrix per weight matrix \(2\)"):
        wiring_cost(w, d[:1])
    with pytest.raises(ValueError, match=r"^distances\[0\]: expected the shape of weights\[0\]"):
        wiring_cost(w, [d[0].T, d[1]])
    with pytest.raises(ValueError, match=r"^distances\[0\]: expected non-negative"):
        wiring_cost(w, [-d[0], d[1]])


# ---------------------------------------------------------------------- layered adjacency


def test_layered_adjacency_blocks_and_orientation():
    gen = torch.Generator().manual_seed(1)
    w1, w2 = torch.randn(4, 3, generator=gen), torch.randn(2, 4, generator=gen)
    heads = [torch.randn(3, 2, generator=gen), torch.randn(5, 2, generator=gen)]
    adj = layered_adjacency([w1, w2], heads=heads)
    assert adj.shape == (3 + 4 + 2 + 3 + 5,) * 2
    assert torch.equal(adj[3:7, 0:3], w1.abs())  # A[i, j]: from unit j to unit i
    assert torch.equal(adj[7:9, 3:7], w2.abs())
    assert torch.equal(adj[9:12, 7:9], heads[0].abs())
    assert torch.equal(adj[12:17, 7:9], heads[1].abs())
    blocks = adj.clone()
    for rows, cols in [(slice(3, 7), slice(0, 3)), (slice(7, 9), slice(3, 7))]:
        blocks[rows, cols] = 0
    blocks[9:17, 7:9] = 0
    assert not blocks.any()  # nothing outside the four blocks
    # two steps of the graph from the inputs reach the second layer through |W2| |W1|
    assert torch.allclose((adj @ adj)[7:9, 0:3], w2.abs() @ w1.abs())


def test_layered_adjacency_recurrent_and_errors():
    w = torch.tensor([[5.0, -1.0], [2.0, -3.0]])
    assert torch.equal(layered_adjacency(w), torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
    with_head = layered_adjacency(w, heads=torch.tensor([[7.0, -8.0]]))
    assert torch.equal(with_head[2], torch.tensor([7.0, 8.0, 0.0]))
    as_layer = layered_adjacency([w])  # a list: one feed-forward layer of 2 inputs -> 2 units
    assert as_layer.shape == (4, 4) and torch.equal(as_layer[2:, :2], w.abs())
    with pytest.raises(ValueError, match=r"^weights\[1\]: expected 4 columns"):
        layered_adjacency([torch.ones(4, 3), torch.ones(2, 3)])
    with pytest.raises(ValueError, match=r"^heads\[1\]: expected 2 columns"):
        layered_adjacency([torch.ones(2, 3)], heads=[torch.ones(1, 2), torch.ones(1, 3)])
    with pytest.raises(ValueError, match=r"^weights\[0\]: expected a non-empty 2-D tensor"):
        layered_adjacency([torch.ones(2, 3, 4)])


# ------------------------------------------------------------------------------ modularity


def nx_modularity(sym: np.ndarray, labels: np.ndarray) -> float:
    keep = labels >= 0
    graph = nx.from_numpy_array(sym[np.ix_(keep, keep)])
    kept = labels[keep]
    groups = [set(np.flatnonzero(kept == c).tolist()) for c in np.unique(kept)]
    return nx.community.modularity(graph, groups, weight="weight")


def test_modularity_q_matches_networkx_on_the_pruned_symmetrised_graph():
    gen = torch.Generator().manual_seed(3)
    n = 20
    adj = torch.rand(n, n, generator=gen, dtype=torch.float64) * (torch.rand(n, n, generator=gen) < 0.3)
    adj[:, 17:] = 0  # units 17..19 only lose their edges through pruning below
    adj[17:, :] = 0.001
    q, labels = modularity_q(adj, threshold=0.05, return_partition=True)
    assert labels.shape == (n,) and labels.dtype == torch.long
    assert labels[17:].tolist() == [-1, -1, -1]  # isolated after pruning: dropped
    assert (labels[:17] >= 0).all()
    pruned = torch.where(adj > 0.05 * adj.max(), adj, torch.zeros_like(adj)).fill_diagonal_(0)
    sym = ((pruned + pruned.T) / 2).numpy()
    assert q == pytest.approx(nx_modularity(sym, labels.numpy()), abs=1e-10)
    assert q > 0.1  # Louvain finds some structure in a sparse random graph
    assert modularity_q(adj, threshold=0.05) == q  # seeded: the same value again


def test_modularity_q_planted_two_blocks():
    two_cliques = torch.block_diag(torch.ones(5, 5), torch.ones(5, 5))
    q, labels = modularity_q(two_cliques, return_partition=True)
    assert q == pytest.approx(0.5, abs=1e-12)  # analytic: 1 - 2 · (1/2)²
    assert labels.tolist() == [0] * 5 + [1] * 5
    # a layered network of two parallel pathways with weak cross-talk (pruned by the threshold)
    gen = torch.Generator().manual_seed(0)
    layers = []
    for rows, cols in [(6, 4), (6, 6), (4, 6)]:
        w = torch.block_diag(
            torch.rand(rows // 2, cols // 2, generator=gen) + 0.5,
            torch.rand(rows // 2, cols // 2, generator=gen) + 0.5,
        )
        layers.append(w + 0.004 * torch.rand(rows, cols, generator=gen))
    q, labels = modularity_q(layered_adjacency(layers), return_partition=True)
    # units: inputs 0..3, layers 4..9, 10..15, 16..19; the first half of each is one pathway
    first = [0, 1, 4, 5, 6, 10, 11, 12, 16, 17]
    second = [2, 3, 7, 8, 9, 13, 14, 15, 18, 19]
    assert len(set(labels[first].tolist())) == 1 and len(set(labels[second].tolist())) == 1
    assert labels[0] != labels[2]
    assert q > 0.45  # two equal modules: close to 0.5 (not exact: the module trees are sparse)


def test_modularity_q_empty_graph_is_nan():
    q, labels = modularity_q(torch.zeros(4, 4), return_partition=True)
    assert math.isnan(q) and labels.tolist() == [-1] * 4


# ------------------------------------------------------------------------- small-worldness


def test_small_worldness_watts_strogatz_against_erdos_renyi():
    ws = torch.tensor(nx.to_numpy_array(nx.watts_strogatz_graph(60, 6, 0.1, seed=0)))
    er = torch.tensor(nx.to_numpy_array(nx.erdos_renyi_graph(60, 0.15, seed=0)))
    assert small_worldness(ws) > 3  # clustered ring with shortcuts (≈ 4.7)
    assert 0.8 < small_worldness(er) < 1.25  # random graph: its own null model


def test_small_worldness_uses_the_largest_component_and_nan_cases():
    ws = torch.tensor(nx.to_numpy_array(nx.watts_strogatz_graph(40, 6, 0.1, seed=2)))
    small = torch.tensor(nx.to_numpy_array(nx.complete_graph(5)))
    both = torch.block_diag(small, ws, torch.zeros(3, 3))  # + 3 isolated units
    expected = float(small_world_sigma(ws, n_nulls=5, seed=1))
    assert small_worldness(both, n_nulls=5, seed=1) == pytest.approx(expected, rel=1e-12)
    # feed-forward layers have no triangles: NaN, not an error
    assert math.isnan(small_worldness(layered_adjacency([torch.ones(5, 4), torch.ones(3, 5)])))
    assert math.isnan(small_worldness(torch.zeros(6, 6)))
    # weak edges are pruned: the ring alone, no triangle left
    ring = torch.tensor(nx.to_numpy_array(nx.cycle_graph(8)))
    assert math.isnan(small_worldness(ring + 0.001 * torch.tensor(nx.to_numpy_array(nx.complete_graph(8)))))


# ------------------------------------------------------------------------- specialisation


def mask_model(breaks: torch.Tensor, labels: torch.Tensor, n_classes: int = 3):
    """A forward linear in the gains: sample j of task t is classified correctly unless a
    silenced unit u has ``breaks[u, t, j]`` (then its true logit drops from 1 to 0 < 0.5)."""
    eye = torch.eye(n_classes, dtype=torch.float64)

    def forward(x, gain):
        assert gain.shape == (breaks.shape[0],) and gain.dtype == x.dtype
        index = x[:, 0].long()  # x carries the sample's index
        lost = torch.einsum("u,utj->tj", 1 - gain, breaks[:, :, index].to(gain.dtype))
        out = []
        for t in range(breaks.shape[1]):
            y = labels[index, t]
            out.append(eye[y] * (1 - lost[t])[:, None] + 0.5 * eye[(y + 1) % n_classes])
        return tuple(out)

    return forward


def test_task_specialisation_exact_fraction_and_boundaries():
    n, units = 40, 7
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (n, 2), generator=gen)
    breaks = torch.zeros(units, 2, n, dtype=torch.bool)
    breaks[0, 0, :10] = True  # task 0 -25 points: specialised to task 0
    breaks[1, 1, 5:9] = True  # task 1 -10 points: specialised to task 1
    breaks[2, 0, :4], breaks[2, 1, :4] = True, True  # both tasks: not specialised
    breaks[3, 0, :2] = True  # exactly 5 points: not hurt
    breaks[4, 1, :3], breaks[4, 0, :2] = True, True  # 7.5 and 5 points: specialised to task 1
    # unit 5 does nothing; unit 6: 2.5 points on task 0
    breaks[6, 0, 30:31] = True
    x = torch.arange(n, dtype=torch.float64)[:, None]
    result = task_specialisation(mask_model(breaks, labels), x, labels, units)
    assert isinstance(result, SpecialisationResult)
    assert result.fraction == pytest.approx(3 / 7)
    assert result.specialised_task.tolist() == [0, 1, -1, -1, 1, -1, -1]
    assert torch.equal(result.baseline, torch.ones(2, dtype=torch.float64))
    expected = breaks.sum(-1).to(torch.float64) / n
    assert torch.allclose(result.drops, expected)
    batched = task_specialisation(mask_model(breaks, labels), x, labels, units, batch_size=7)
    assert batched.fraction == result.fraction and torch.allclose(batched.drops, result.drops)
    strict = task_specialisation(mask_model(breaks, labels), x, labels, units, drop=0.2)
    assert strict.specialised_task.tolist() == [0, -1, -1, -1, -1, -1, -1]


def test_task_specialisation_two_head_network():
    """Hidden units 0..3 feed only head 0 and units 4..7 only head 1 (labels: the intact
    network's own predictions), so an ablation never changes the other head's outputs."""
    gen = torch.Generator().manual_seed(2)
    w_in = torch.randn(8, 5, generator=gen)
    heads = torch.randn(3, 4, generator=gen), torch.randn(4, 4, generator=gen)

    def forward(x, gain):
        h = torch.relu(x @ w_in.T) * gain
        return h[:, :4] @ heads[0].T, h[:, 4:] @ heads[1].T

    x = torch.randn(200, 5, generator=gen)
    y = torch.stack([out.argmax(1) for out in forward(x, torch.ones(8))], 1)
    result = task_specialisation(forward, x, y, 8)
    assert torch.equal(result.baseline, torch.ones(2, dtype=torch.float64))
    assert not result.drops[:4, 1].any() and not result.drops[4:, 0].any()
    hurt = result.drops > 0.05
    assert result.specialised_task.tolist() == [
        int(h.nonzero()[0]) if int(h.sum()) == 1 else -1 for h in hurt
    ]
    assert result.fraction == pytest.approx(int((hurt.sum(1) == 1).sum()) / 8)
    assert result.fraction > 0  # random weights: some unit matters by more than 5 points
    # one task, one logits tensor and (B,) labels
    single = task_specialisation(lambda x, g: forward(x, g)[0], x, y[:, 0], 8)
    assert torch.equal(single.drops[:, 0], result.drops[:, 0])


def test_task_specialisation_bad_input_is_named():
    forward = mask_model(torch.zeros(2, 2, 4, dtype=torch.bool), torch.zeros(4, 2, dtype=torch.long))
    x, y = torch.arange(4.0)[:, None], torch.zeros(4, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"^y: expected labels of shape \(4,\) or \(4, n_tasks\)"):
        task_specialisation(forward, x, y[:3], 2)
    with pytest.raises(ValueError, match=r"^y: expected one label column per task output of forward \(2\)"):
        task_specialisation(forward, x, y[:, 0], 2)
    with pytest.raises(ValueError, match=r"^y: expected labels of task 1 in \[0, 3\)"):
        task_specialisation(forward, x, y + torch.tensor([0, 3]), 2)
    with pytest.raises(TypeError, match=r"^y: expected integer labels"):
        task_specialisation(forward, x, y.float(), 2)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=r"^drop: expected"):
            task_specialisation(forward, x, y, 2, drop=bad)
    with pytest.raises(ValueError, match=r"^n_units: expected an int >= 1"):
        task_specialisation(forward, x, y, 0)
    with pytest.raises(ValueError, match=r"^batch_size: expected an int >= 1"):
        task_specialisation(forward, x, y, 2, batch_size=0)
    with pytest.raises(TypeError, match=r"^forward: expected a callable"):
        task_specialisation("model", x, y, 2)


# ------------------------------------------------------------------------------ bad input


def test_bad_input_names_the_argument():
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match=r"^threshold: expected"):
            weight_density(torch.ones(2, 2), threshold=bad)
        with pytest.raises(ValueError, match=r"^threshold: expected"):
            modularity_q(torch.ones(3, 3), threshold=bad)
    with pytest.raises(ValueError, match=r"^weights: expected a non-empty 2-D tensor"):
        weight_density(torch.ones(3))
    with pytest.raises(ValueError, match=r"^weights\[1\]: expected a non-empty 2-D tensor"):
        weight_density([torch.ones(2, 2), torch.ones(2, 2, 2)])
    with pytest.raises(TypeError, match=r"^weights: expected a 2-D tensor or a non-empty list"):
        weight_density([])
    with pytest.raises(ValueError, match=r"^adjacency: expected one graph"):
        small_worldness(torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match=r"^adjacency: expected a square matrix"):
        modularity_q(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"^n_nulls: expected an int >= 1"):
        small_worldness(torch.ones(5, 5), n_nulls=0)
