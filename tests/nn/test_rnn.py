import pytest
import torch
from torch import nn

from ccnn.nn import ConnectomeRNN, ConnectomeRNNCell


def ring_mask(n):
    mask = torch.zeros(n, n, dtype=torch.bool)
    idx = torch.arange(n)
    mask[idx, (idx + 1) % n] = True
    mask[idx, (idx - 1) % n] = True
    return mask


def test_one_step_matches_the_leaky_update_by_hand():
    torch.manual_seed(0)
    cell = ConnectomeRNNCell(3, 5, ring_mask(5), tau=4.0, dt=1.0, nonlinearity="relu")
    x, h = torch.randn(2, 3), torch.randn(2, 5)
    w_rec, b = cell.recurrent.weight.detach(), cell.recurrent.bias.detach()
    w_in = cell.input.weight.detach()
    expected = 0.75 * h + 0.25 * torch.relu(h @ w_rec.T + x @ w_in.T + b)
    torch.testing.assert_close(cell(x, h), expected)


def test_alpha_one_tanh_is_the_elman_cell():
    torch.manual_seed(0)
    full = torch.ones(4, 4, dtype=torch.bool)
    cell = ConnectomeRNNCell(3, 4, full, nonlinearity="tanh", backend="dense")
    elman = nn.RNNCell(3, 4, nonlinearity="tanh")
    with torch.no_grad():
        elman.weight_hh.copy_(cell.recurrent.weight)
        elman.bias_hh.copy_(cell.recurrent.bias)
        elman.weight_ih.copy_(cell.input.weight)
        elman.bias_ih.zero_()
    x, h = torch.randn(6, 3), torch.randn(6, 4)
    torch.testing.assert_close(cell(x, h), elman(x, h))


def test_recurrent_mask_is_hard_and_gradients_vanish_outside():
    mask = ring_mask(6)
    cell = ConnectomeRNNCell(2, 6, mask, backend="dense")
    rnn_out = cell(torch.randn(3, 2), torch.randn(3, 6))
    rnn_out.sum().backward()
    assert torch.all(cell.recurrent.raw_weight.grad[~mask] == 0)
    assert torch.all(cell.recurrent.weight[~mask] == 0)


def test_input_mask_restricts_input_weights():
    input_mask = torch.zeros(4, 3, dtype=torch.bool)
    input_mask[0, 0] = input_mask[1, 1] = input_mask[2, 2] = True  # unit 3 gets no input
    cell = ConnectomeRNNCell(3, 4, ring_mask(4), input_mask=input_mask, bias=False)
    h0 = torch.zeros(1, 4)
    out = cell(torch.randn(1, 3), h0)
    assert out[0, 3] == 0  # no input, no recurrent drive from a zero state, no bias


def test_rnn_equals_a_manual_loop_and_supports_batch_first():
    torch.manual_seed(0)
    rnn = ConnectomeRNN(3, 5, ring_mask(5), tau=2.0, dt=0.5, nonlinearity="softplus")
    x = torch.randn(7, 4, 3)
    h0 = torch.randn(4, 5)
    outputs, last = rnn(x, h0)
    h = h0
    for t in range(7):
        h = rnn.cell(x[t], h)
        torch.testing.assert_close(outputs[t], h)
    torch.testing.assert_close(last, h)
    rnn.batch_first = True
    outputs_bf, last_bf = rnn(x.transpose(0, 1), h0)
    torch.testing.assert_close(outputs_bf, outputs.transpose(0, 1))
    torch.testing.assert_close(last_bf, last)


def test_rnn_trains_with_dale_signs_kept():
    torch.manual_seed(0)
    sign = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, 1.0])
    rnn = ConnectomeRNN(2, 6, ring_mask(6), sign=sign, tau=2.0)
    opt = torch.optim.Adam(rnn.parameters(), lr=0.05)
    x, target = torch.randn(10, 8, 2), torch.randn(8, 6)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = (rnn(x)[1] - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    w = rnn.cell.recurrent.weight.detach()
    mask = ring_mask(6)
    assert torch.all((w[mask] == 0) | (torch.sign(w[mask]) == sign.expand(6, 6)[mask]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau": 1.0, "dt": 2.0}, "alpha = dt/tau"),
        ({"tau": -1.0}, "tau"),
        ({"nonlinearity": "swish"}, "nonlinearity: expected one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConnectomeRNNCell(2, 4, ring_mask(4), **kwargs)


def test_sequence_shape_is_checked():
    rnn = ConnectomeRNN(2, 4, ring_mask(4))
    with pytest.raises(ValueError, match=r"\(T, batch, input_size\)"):
        rnn(torch.randn(5, 2))
