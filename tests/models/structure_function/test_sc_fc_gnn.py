"""The SC → FC graph network: symmetric unit-diagonal output, input checks, and it learns a
known structure-function map well enough to predict a held-out subject."""

import numpy as np
import pytest
import torch

from ccnn.models.structure_function.gnn import SCtoFCGNN, node_features


def cohort(n_subjects=6, n=8, seed=0):
    """SC: a shared backbone plus subject noise; FC = tanh(2·normalised log SC) (a known map)."""
    generator = torch.Generator().manual_seed(seed)
    backbone = torch.rand(n, n, generator=generator)
    sc = []
    for _ in range(n_subjects):
        m = (backbone + 0.5 * torch.rand(n, n, generator=generator)) * (
            torch.rand(n, n, generator=generator) < 0.7
        )
        m = (m + m.T) / 2
        m.fill_diagonal_(0)
        sc.append(10 * m)
    sc = torch.stack(sc)
    fc = torch.tanh(2 * torch.log1p(sc) / torch.log1p(sc).amax((1, 2), keepdim=True))
    fc = fc + torch.eye(n) * (1 - fc.diagonal(dim1=1, dim2=2)).unsqueeze(-1)
    return sc, fc


def upper_r(a, b):
    rows, cols = np.triu_indices(a.shape[0], 1)
    return float(np.corrcoef(a[rows, cols].detach().numpy(), b[rows, cols].detach().numpy())[0, 1])


def test_output_is_a_correlation_like_matrix_and_inputs_are_checked():
    torch.manual_seed(0)
    model = SCtoFCGNN(5, coordinate_dim=3, hidden=8)
    fc = model(torch.rand(5, 5), torch.rand(5, 3))
    torch.testing.assert_close(fc, fc.T)
    assert torch.equal(fc.diagonal(), torch.ones(5)) and bool((fc.abs() <= 1).all())
    with pytest.raises(ValueError, match=r"^coords: expected"):
        model(torch.rand(5, 5))
    with pytest.raises(ValueError, match=r"^sc: expected"):
        model(torch.rand(4, 4), torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"^dropout: expected"):
        SCtoFCGNN(5, dropout=1.0)
    features = node_features(torch.tensor([[0.0, np.e - 1], [np.e - 1, 0.0]]))
    torch.testing.assert_close(features, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_learns_a_known_map_and_predicts_a_held_out_subject():
    sc, fc = cohort()
    torch.manual_seed(0)
    model = SCtoFCGNN(8, hidden=16)
    history = model.fit(sc[:5], fc[:5], epochs=60, lr=1e-2)
    assert history[-1] < 0.01 * history[0]
    with torch.no_grad():
        assert upper_r(model(sc[5]), fc[5]) > 0.95
