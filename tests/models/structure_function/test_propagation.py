"""Predicting functional connections from a connectome: the resolvent against its series, the
walk-count features against counts by hand, and the classifier on labels with a planted rule."""

import pytest
import torch
from sklearn.metrics import roc_auc_score

from ccnn.models.structure_function.propagation import (
    SignalPropagationPredictor,
    cross_validate_propagation,
    propagation_features,
    resolvent,
)


def test_resolvent_is_the_walk_series():
    gen = torch.Generator().manual_seed(0)
    a = (torch.rand(6, 6, generator=gen) < 0.4).double()
    radius = torch.linalg.eigvals(a).abs().max()
    series = sum(torch.linalg.matrix_power(0.3 * a / radius, k) for k in range(200))
    torch.testing.assert_close(resolvent(a, 0.3), series)
    with pytest.raises(ValueError, match="alpha"):
        resolvent(a, 1.0)


def test_features_count_walks_by_synapse_class():
    # chemical 0 → 1 → 2 (rows postsynaptic), gap junction 2 — 3
    chem = torch.zeros(4, 4, dtype=torch.float64)
    chem[1, 0], chem[2, 1] = 5.0, 2.0
    gap = torch.zeros(4, 4, dtype=torch.float64)
    gap[2, 3] = gap[3, 2] = 1.0
    node = torch.tensor([[1.0], [0.0], [0.0], [2.0]])
    features, names = propagation_features(chem, gap, node)
    f = {name: features[..., k] for k, name in enumerate(names)}
    assert features.shape == (4, 4, len(names))
    assert f["chemical"][1, 0] == pytest.approx(torch.log1p(torch.tensor(5.0)).item())
    assert f["chemical_reverse"][0, 1] == f["chemical"][1, 0]
    log2 = torch.log1p(torch.tensor(1.0)).item()
    assert f["walks_chemical_2"][2, 0] == pytest.approx(log2)  # 0 → 1 → 2
    assert f["walks_chemical_2"].count_nonzero() == 1
    assert f["walks_gap_chemical"][3, 1] == pytest.approx(log2)  # 1 → 2 (chemical), 2 — 3 (gap)
    assert f["walks_chemical_gap"].count_nonzero() == 0
    # in-degree counts chemical inputs; node attributes of the responding row / stimulated column
    assert f["responding_in_degree"][2, 0] == pytest.approx(log2)
    assert f["responding_node_0"][3, 1] == 2.0 and f["stimulated_node_0"][1, 3] == 2.0
    with pytest.raises(ValueError, match="chemical"):
        propagation_features(-chem, gap)
    with pytest.raises(ValueError, match="gap_junctions"):
        propagation_features(chem, gap[:3, :3])
    with pytest.raises(ValueError, match="node_feature_names"):
        propagation_features(chem, gap, node, ["is_sensory", "sign"])
    assert propagation_features(chem, gap, node, ["sign"])[1][-1] == "stimulated_sign"


def _planted(n=40, seed=0):
    """A random graph whose functional connections are its two-step chemical walks."""
    gen = torch.Generator().manual_seed(seed)
    chem = (torch.rand(n, n, generator=gen) < 0.08).double() * torch.randint(1, 5, (n, n), generator=gen)
    chem.fill_diagonal_(0)
    two_step = ((chem > 0).double() @ (chem > 0).double()) > 0
    tested = torch.rand(n, n, generator=gen) < 0.7
    tested.fill_diagonal_(False)
    return chem, tested, two_step & tested


def test_cross_validation_recovers_a_planted_rule_on_held_out_neurons():
    chem, tested, connected = _planted()
    features, _ = propagation_features(chem)
    for group in ("stimulated", "responding"):
        scores = cross_validate_propagation(
            features, tested, connected, folds=4, group=group, classifier="logistic"
        )
        assert torch.isnan(scores[~tested]).all() and torch.isfinite(scores[tested]).all()
        assert roc_auc_score(connected[tested], scores[tested]) > 0.95
    # Labels shuffled among the tested pairs carry no structure: near chance.
    order = torch.randperm(int(tested.sum()), generator=torch.Generator().manual_seed(1))
    shuffled = torch.zeros_like(connected)
    shuffled[tested] = connected[tested][order]
    scores = cross_validate_propagation(features, tested, shuffled, folds=4, classifier="logistic")
    assert abs(roc_auc_score(shuffled[tested], scores[tested]) - 0.5) < 0.1


def test_bad_arguments_name_themselves():
    chem, tested, connected = _planted(n=12)
    features, _ = propagation_features(chem)
    with pytest.raises(ValueError, match="classifier"):
        SignalPropagationPredictor("forest")
    pairs = torch.nonzero(tested).T
    with pytest.raises(ValueError, match="labels"):
        SignalPropagationPredictor().fit(features, pairs, torch.zeros(pairs.shape[1], dtype=torch.bool))
    with pytest.raises(ValueError, match="pairs"):
        SignalPropagationPredictor().fit(features, pairs + 100, connected[tested])
    with pytest.raises(ValueError, match="folds"):
        cross_validate_propagation(features, tested, connected, folds=50)
    with pytest.raises(ValueError, match="group"):
        cross_validate_propagation(features, tested, connected, group="pairs")
    with pytest.raises(RuntimeError, match="fit"):
        SignalPropagationPredictor().predict(features, pairs)
