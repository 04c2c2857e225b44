"""Tests of ccnn.data.connectomes.link_prediction: directed edge splits without leakage, the two
kinds of negatives, node features from training edges only, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ccnn.data import Connectome, LinkPredictionDataModule
from ccnn.data.connectomes import split_edges
from ccnn.data.connectomes.link_prediction import node_features


def random_digraph(n=40, p=0.15, seed=0):
    generator = torch.Generator().manual_seed(seed)
    weights = (torch.rand(n, n, generator=generator) < p).float() * torch.randint(
        1, 6, (n, n), generator=generator
    )
    return weights


def edge_set(edges):
    return {(int(j), int(i)) for j, i in edges.T}


def test_the_split_partitions_the_directed_edges_without_self_connections():
    weights = random_digraph()
    weights.fill_diagonal_(3.0)  # self-connections are not predicted
    split = split_edges(weights, val_fraction=0.1, test_fraction=0.2, seed=1)
    truth = {(j, i) for i in range(40) for j in range(40) if weights[i, j] != 0 and i != j}
    train, val, test = edge_set(split.train), edge_set(split.val), edge_set(split.test)
    assert train | val | test == truth
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(val) == round(0.1 * len(truth)) and len(test) == round(0.2 * len(truth))
    # weights follow their edges: weights[i, j] for j -> i
    j, i = split.train
    assert torch.equal(split.train_weight, weights[i, j])


def test_random_negatives_are_non_edges_of_the_whole_graph_and_disjoint():
    weights = random_digraph()
    split = split_edges(weights, seed=0)
    for part in ("val", "test"):
        negatives = getattr(split, f"{part}_random")
        assert negatives.shape == getattr(split, part).shape
        assert all(weights[i, j] == 0 and i != j for j, i in negatives.T.tolist())
        assert len(edge_set(negatives)) == negatives.shape[1]  # no repeats
    assert not edge_set(split.val_random) & edge_set(split.test_random)


def test_reversed_negatives_are_the_absent_reverses_of_held_out_edges():
    weights = random_digraph(p=0.3)
    split = split_edges(weights, seed=2)
    held = split.test
    expected_pos = {(j, i) for j, i in edge_set(held) if weights[j, i] == 0}
    assert edge_set(split.test_reversed_pos) == expected_pos
    assert edge_set(split.test_reversed) == {(i, j) for j, i in expected_pos}
    # a symmetric score scores exactly 0.5 against reversed negatives
    from sklearn.metrics import roc_auc_score

    symmetric = torch.rand(40, 40)
    symmetric = symmetric + symmetric.T
    positives, negatives = split.evaluation_edges("test", "reversed")
    scores = torch.cat([symmetric[positives[1], positives[0]], symmetric[negatives[1], negatives[0]]])
    labels = np.r_[np.ones(positives.shape[1]), np.zeros(negatives.shape[1])]
    assert roc_auc_score(labels, scores.numpy()) == pytest.approx(0.5)


def test_the_split_depends_on_the_seed_only():
    weights = random_digraph()
    a, b, c = (split_edges(weights, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.test, b.test) and torch.equal(a.test_random, b.test_random)
    assert not torch.equal(a.test, c.test)


def test_degree_features_come_from_training_edges_only():
    weights = random_digraph()
    split = split_edges(weights, seed=0)
    features = node_features("degree", split)
    train = torch.zeros(40, 40)
    train[split.train[1], split.train[0]] = split.train_weight
    in_degree = (train != 0).sum(1).float()  # row i: inputs of i
    out_strength = train.sum(0)
    assert torch.allclose(features[:, 0], in_degree.log1p())
    assert torch.allclose(features[:, 3], out_strength.log1p())
    full_in_degree = (weights != 0).sum(1).float()
    assert not torch.allclose(features[:, 0], full_in_degree.log1p())  # held-out edges are not counted


def test_features_from_node_attrs_identity_profile_and_a_tensor():
    weights = random_digraph(n=12)
    types = torch.tensor([0, 1, 2] * 4)
    connectome = Connectome(weights, node_attrs={"cell_type": types, "size": torch.arange(12.0)})
    split = split_edges(connectome, seed=0)
    one_hot = node_features("cell_type", split, connectome)
    assert torch.equal(one_hot.argmax(1), types) and one_hot.shape == (12, 3)
    assert torch.equal(node_features("size", split, connectome)[:, 0], torch.arange(12.0))
    assert torch.equal(node_features("identity", split), torch.eye(12))
    assert node_features("profile", split).shape == (12, 24)
    assert node_features(np.ones((12, 5)), split).shape == (12, 5)
    both = node_features(["degree", "identity"], split)
    assert torch.equal(both[:, 4:], torch.eye(12)) and torch.equal(
        both[:, :4], node_features("degree", split)
    )
    with pytest.raises(ValueError, match="node_features: expected at least one kind"):
        node_features([], split)
    with pytest.raises(ValueError, match=r"node_features: expected one row per node, shape \(12, F\)"):
        node_features(np.ones((11, 5)), split)
    with pytest.raises(ValueError, match=r"node_features: expected one of .*'cell_type'"):
        node_features("colour", split, connectome)


def test_the_datamodule_trains_on_training_edges_only_and_holds_out_the_rest():
    weights = random_digraph()
    datamodule = LinkPredictionDataModule(
        Connectome(weights), negatives="reversed", node_features="degree", seed=5
    )
    graph = datamodule.graph
    assert edge_set(graph.edge_index) == edge_set(datamodule.split.train)
    assert not edge_set(graph.edge_index) & (edge_set(datamodule.split.val) | edge_set(datamodule.split.test))
    assert torch.allclose(graph.edge_weight, datamodule.split.train_weight.log1p())
    _, labels = datamodule.held_out("test")
    assert labels.sum() == datamodule.split.test_reversed_pos.shape[1]
    batch = next(iter(datamodule.val_dataloader()))
    assert set(batch) == {"edges", "labels"} and batch["edges"].shape[1] == len(batch["labels"])
    assert torch.equal(next(iter(datamodule.train_dataloader()))["edges"], datamodule.split.train)
    assert datamodule.n_nodes == 40 and datamodule.n_inputs == 4


@pytest.mark.parametrize(
    ("weights", "kwargs", "message"),
    [
        (
            torch.zeros(3, 4),
            {},
            r"connectome: expected a square, non-empty \(N, N\) adjacency, got shape \(3, 4\)",
        ),
        (torch.zeros(0, 0), {}, "connectome: expected a square, non-empty"),
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), {}, "connectome: expected at least 3 edges .* got 2"),
        (
            random_digraph(),
            {"val_fraction": 0.5, "test_fraction": 0.5},
            "val_fraction, test_fraction: expected",
        ),
        (random_digraph(), {"val_fraction": 0.0}, r"val_fraction: expected a fraction in \(0, 1\)"),
        (random_digraph(), {"test_fraction": 1.5}, r"test_fraction: expected a fraction in \(0, 1\)"),
    ],
)
def test_bad_input_gets_one_clear_error(weights, kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_edges(weights, **kwargs)


def test_bad_datamodule_arguments_are_named():
    connectome = Connectome(random_digraph())
    with pytest.raises(ValueError, match="negatives: expected one of"):
        LinkPredictionDataModule(connectome, negatives="hard")
    with pytest.raises(ValueError, match="edge_weight: expected one of"):
        LinkPredictionDataModule(connectome, edge_weight="squared")
    with pytest.raises(ValueError, match="node_features: expected one of"):
        LinkPredictionDataModule(connectome, node_features="colour")
    with pytest.raises(TypeError, match="connectome: expected a Connectome or a dataset name"):
        LinkPredictionDataModule(np.eye(3))
