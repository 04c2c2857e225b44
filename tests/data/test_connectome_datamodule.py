import numpy as np
import pytest
import torch

from ccnn.data import ConnectomeDataModule, load_connectome_cohort
from ccnn.data.connectomes.datamodule import node_features


def splits(folder, **kwargs):
    return [ConnectomeDataModule(str(folder), target="group", fold=k, **kwargs).split for k in range(3)]


def test_outer_folds_partition_the_cohort_and_validation_never_sees_the_test_fold(tiny_cohort_folder):
    folds = splits(tiny_cohort_folder, n_folds=3, val_fraction=0.25)
    tests = np.concatenate([f["test"] for f in folds])
    assert sorted(tests.tolist()) == list(range(12))  # each subject tested exactly once
    labels = np.arange(12) % 2  # the fixture's groups
    for f in folds:
        assert not set(f["test"]) & (set(f["train"]) | set(f["val"]))
        assert not set(f["train"]) & set(f["val"])
        assert len(f["train"]) + len(f["val"]) + len(f["test"]) == 12
        assert np.bincount(labels[f["test"]]).tolist() == [2, 2]  # stratified: 2 of each group
        assert np.bincount(labels[f["val"]]).tolist() == [1, 1]  # ceil(0.25 · 8) = 2, stratified
    # The same seed gives the same folds; another seed other folds.
    again = splits(tiny_cohort_folder, n_folds=3, val_fraction=0.25)
    assert all(np.array_equal(a["test"], b["test"]) for a, b in zip(folds, again, strict=True))
    other = splits(tiny_cohort_folder, n_folds=3, val_fraction=0.25, seed=1)
    assert any(not np.array_equal(a["test"], b["test"]) for a, b in zip(folds, other, strict=True))


def test_leave_one_out(tiny_cohort_folder):
    tests = [
        ConnectomeDataModule(str(tiny_cohort_folder), target="group", leave_one_out=True, fold=k).split[
            "test"
        ]
        for k in range(12)
    ]
    assert sorted(int(t[0]) for t in tests) == list(range(12)) and all(len(t) == 1 for t in tests)
    with pytest.raises(ValueError, match=r"fold: expected an int in \[0, 12\)"):
        ConnectomeDataModule(str(tiny_cohort_folder), target="group", leave_one_out=True, fold=12)


def test_graphs_carry_the_weights_features_and_targets(tiny_cohort_folder):
    dm = ConnectomeDataModule(
        str(tiny_cohort_folder), target="group", node_features=["degree", "profile"], transforms=["log1p"]
    )
    cohort = load_connectome_cohort(str(tiny_cohort_folder), transforms=["log1p"])
    w = cohort[4].weights.float()
    graph = dm.graphs[4]
    dense = torch.zeros(10, 10)
    dense[graph.edge_index[1], graph.edge_index[0]] = graph.edge_attr[:, 0]  # edge j → i is W[i, j]
    torch.testing.assert_close(dense, w)
    expected = torch.cat([(w != 0).sum(1, keepdim=True).float(), w.sum(1, keepdim=True), w], 1)
    torch.testing.assert_close(graph.x, expected)
    assert dm.n_inputs == 12 and dm.n_classes == 2 and dm.classes == ["control", "patient"]
    assert int(graph.y) == 0 and int(dm.graphs[5].y) == 1  # subject 4 control, 5 patient
    batch = next(iter(dm.train_dataloader()))
    assert batch.num_graphs == min(8, len(dm.split["train"])) and batch.x.shape[1] == 12


def test_regression_targets(tiny_cohort_folder):
    dm = ConnectomeDataModule(str(tiny_cohort_folder), target="age", task="regression", n_folds=3)
    assert dm.n_classes == 1
    assert [float(g.y) for g in dm.graphs] == [20.0 + s for s in range(12)]


def test_node_feature_kinds_against_hand_computation():
    from ccnn.data import Connectome

    w = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    c = Connectome(w, coords=torch.arange(9.0).reshape(3, 3))
    x = node_features(c, ["identity", "degree", "coords"])
    torch.testing.assert_close(x[:, :3], torch.eye(3))
    torch.testing.assert_close(x[:, 3:5], torch.tensor([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]]))
    torch.testing.assert_close(x[:, 5:], c.coords)
    with pytest.raises(ValueError, match="coords"):
        node_features(Connectome(w), ["coords"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "height"}, "target: expected a column"),
        ({"target": "group", "n_folds": 7}, "n_folds: the smallest class"),
        ({"target": "group", "fold": 5}, r"fold: expected an int in \[0, 5\)"),
        ({"target": "group", "node_features": "spectral"}, "node_features"),
        ({"target": "group", "task": "ranking"}, "task"),
        ({"target": "group", "val_fraction": 1.0}, "val_fraction"),
        ({"target": "group", "transforms": ["threshold"]}, "threshold"),
        ({"target": "group", "task": "regression"}, "numeric"),
    ],
)
def test_bad_settings_are_named(tiny_cohort_folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConnectomeDataModule(str(tiny_cohort_folder), **kwargs)


def test_mice_genotype_datamodule():
    dm = ConnectomeDataModule("mice", target="genotype", n_folds=4, fold=1)
    assert dm.n_classes == 4 and dm.n_inputs == 332 and dm.n_nodes == 332
    assert len(dm.split["test"]) == 8 and len(dm.graphs) == 32
    genotypes = np.array([int(g.y) for g in dm.graphs])
    assert np.bincount(genotypes[dm.split["test"]]).tolist() == [2, 2, 2, 2]
