"""The signed convolution of ConnectomeGNN: positive and negative edges through separate maps."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from ccnn.models import ConnectomeGNN
from ccnn.models.connectome_gnn import SignedEdgeWeightedConv


def test_signed_layer_sends_each_sign_through_its_own_map():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 1, 2, 3, 0, 3], [1, 0, 1, 2, 2, 0]])  # j → i
    weight = torch.tensor([0.5, -1.0, 2.0, -0.25, 3.0, 1.5])
    x = torch.randn(4, 3)
    layer = SignedEdgeWeightedConv(3, 2)
    positive = torch.zeros(4, 4)
    negative = torch.zeros(4, 4)
    positive[edge_index[1], edge_index[0]] = weight.clamp(min=0)
    negative[edge_index[1], edge_index[0]] = (-weight).clamp(min=0)
    expected = (
        positive @ (x @ layer.lin_positive.weight.T)
        + negative @ (x @ layer.lin_negative.weight.T)
        + layer.bias
    )
    torch.testing.assert_close(layer(x, edge_index, weight), expected)
    # flipping every sign swaps the maps: not the negated message of one map
    flipped = layer(x, edge_index, -weight)
    assert not torch.allclose(flipped - layer.bias, -(layer(x, edge_index, weight) - layer.bias))


def _signed_graph(seed):
    gen = torch.Generator().manual_seed(seed)
    n = 6
    w = torch.randn(n, n, generator=gen)
    w = (w + w.T) / 2
    w.fill_diagonal_(0)
    index = w.nonzero().T.flip(0)  # (source j, target i)
    return Data(x=w.clone(), edge_index=index, edge_weight=w[index[1], index[0]], num_nodes=n)


def test_gcn_refuses_negative_weights_and_the_signed_conv_takes_them():
    batch = Batch.from_data_list([_signed_graph(0), _signed_graph(1)])
    with pytest.raises(ValueError, match="signed_edge_weighted"):
        ConnectomeGNN(n_inputs=6, n_classes=2, conv="gcn")(batch)
    out = ConnectomeGNN(n_inputs=6, n_classes=2, conv="signed_edge_weighted")(batch)
    assert out.shape == (2, 2) and torch.isfinite(out).all()
