"""DANNLinear (Cornford et al. 2021) and dale_signs for ColumnEI layers."""

import math

import pytest
import torch

from ccnn.nn import ConnectomeLinear, DANNLinear, dale_signs

F64 = torch.float64


# --------------------------------------------------------------------- DANNLinear
def test_output_is_the_dann_formula_by_hand():
    layer = DANNLinear(2, 2, n_inhibitory=1, dtype=F64)
    with torch.no_grad():  # negative raw entries: the layer uses their absolute values
        layer.raw_weight_ee.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        layer.raw_weight_ie.copy_(torch.tensor([[-0.5, 1.0]]))
        layer.raw_weight_ei.copy_(torch.tensor([[2.0], [-1.0]]))
        layer.bias.copy_(torch.tensor([0.1, -0.1]))
    x = torch.tensor([[1.0, 2.0]], dtype=F64)
    # W_EE x = (5, 11); W_IE x = 2.5; W_EI (W_IE x) = (5, 2.5); h = (0, 8.5) + b
    torch.testing.assert_close(layer(x), torch.tensor([[0.1, 8.4]], dtype=F64))
    # The effective weight W_EE - W_EI W_IE = [[0, 0], [2.5, 3]] gives the same map.
    torch.testing.assert_close(layer.weight, torch.tensor([[0.0, 0.0], [2.5, 3.0]], dtype=F64))


def test_output_equals_formula_and_effective_weight_for_batched_input():
    torch.manual_seed(1)
    layer = DANNLinear(7, 5, n_inhibitory=3, dtype=F64)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.rand(2, 4, 7, dtype=F64)
    w_ee, w_ie, w_ei = (
        p.detach().abs() for p in (layer.raw_weight_ee, layer.raw_weight_ie, layer.raw_weight_ei)
    )
    expected = x @ w_ee.T - (x @ w_ie.T) @ w_ei.T + layer.bias.detach()
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)
    # Every parameter gets a gradient.
    layer(x).pow(2).sum().backward()
    for p in layer.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_weights_stay_non_negative_under_adam_pushing_them_down():
    torch.manual_seed(0)
    layer = DANNLinear(6, 5, n_inhibitory=2)
    opt = torch.optim.Adam(layer.parameters(), lr=0.2)
    for _ in range(30):
        opt.zero_grad()
        # Every term wants smaller weights; a plain parametrisation would go negative.
        (layer.weight_ee.sum() + layer.weight_ie.sum() + layer.weight_ei.sum()).backward()
        opt.step()
    raw = torch.cat([p.detach().flatten() for p in (layer.raw_weight_ee, layer.raw_weight_ie)])
    assert bool((raw < 0).any())  # the optimiser did push the raw parameters below zero
    for w in (layer.weight_ee, layer.weight_ie, layer.weight_ei):
        assert bool((w >= 0).all())


def test_initialisation_balances_excitation_and_keeps_the_variance():
    torch.manual_seed(0)
    n_in, n_out, n_inh = 400, 300, 30
    layer = DANNLinear(n_in, n_out, n_inhibitory=n_inh, bias=False)
    w_ee = layer.weight_ee.detach()
    # W_EE exponential with mean = std = sqrt(2/d); W_EI = 1/n_inh.
    assert w_ee.mean().item() == pytest.approx(math.sqrt(2 / n_in), rel=0.02)
    assert w_ee.std().item() == pytest.approx(math.sqrt(2 / n_in), rel=0.03)
    assert torch.all(layer.weight_ei == 1 / n_inh)
    # The interneurons differ (symmetry broken) but their mean row is W_EE's mean row.
    w_ie = layer.weight_ie.detach()
    assert w_ie.std(0).min() > 0
    torch.testing.assert_close(w_ie.mean(0), w_ee.mean(0))
    # Balance: the effective weight's columns sum to 0, so for positive inputs the mean
    # output over units is 0, while excitation alone is strongly positive.
    z = torch.randn(1000, n_in)
    x = z.clamp(min=0)  # ReLU inputs of unit-variance pre-activations
    h = layer(x).detach()
    excitation = x @ w_ee.T
    assert excitation.mean() > 3.0
    assert h.mean(1).abs().max() < 1e-4
    assert abs(h.mean().item()) < 1e-5
    # He-like: E[h²] ≈ Var(z) = 1 (relative spread over one draw ~ 8 %).
    assert 0.8 < h.pow(2).mean().item() < 1.2


def test_default_inhibitory_count_and_repr():
    assert DANNLinear(4, 40).n_inhibitory == 4
    assert DANNLinear(4, 5).n_inhibitory == 1  # at least one
    layer = DANNLinear(4, 3, bias=False)
    assert layer.bias is None and layer(torch.rand(2, 4)).shape == (2, 3)
    text = repr(DANNLinear(4, 40))
    for piece in ("in_features=4", "out_features=40", "n_inhibitory=4", "bias=True"):
        assert piece in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_features": 0}, "in_features: expected an int >= 1"),
        ({"out_features": 2.5}, "out_features: expected an int >= 1"),
        ({"n_inhibitory": 0}, "n_inhibitory: expected an int >= 1"),
    ],
)
def test_bad_sizes_raise(kwargs, match):
    args = {"in_features": 4, "out_features": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        DANNLinear(**args)


def test_wrong_input_width_raises():
    with pytest.raises(ValueError, match=r"input: expected last dimension in_features=4, got shape \(2, 5\)"):
        DANNLinear(4, 3)(torch.rand(2, 5))


# --------------------------------------------------------------------- dale_signs
def test_dale_signs_count_seed_and_order():
    signs = dale_signs(50, 0.8, seed=3)
    assert signs.shape == (50,) and signs.dtype == torch.float32
    assert set(signs.tolist()) == {-1.0, 1.0}
    assert int((signs > 0).sum()) == 40
    assert torch.equal(signs, dale_signs(50, 0.8, seed=3))
    assert not torch.equal(signs, dale_signs(50, 0.8, seed=4))
    assert not torch.equal(signs, dale_signs(50, 0.8, shuffle=False))  # not the block order
    assert dale_signs(5, 0.6, shuffle=False).tolist() == [1.0, 1.0, 1.0, -1.0, -1.0]
    # Both populations exist whenever there are two units; one unit is excitatory.
    assert sorted(dale_signs(2, 0.99).tolist()) == [-1.0, 1.0]
    assert sorted(dale_signs(3, 0.01).tolist()) == [-1.0, -1.0, 1.0]
    assert dale_signs(1, 0.2).tolist() == [1.0]


def test_dale_signs_make_a_column_ei_layer():
    signs = dale_signs(12, 0.75, seed=0)
    layer = ConnectomeLinear(12, 6, torch.ones(6, 12, dtype=torch.bool), sign=signs, backend="dense")
    w = layer.weight.detach()
    assert torch.all(w[:, signs > 0] >= 0) and torch.all(w[:, signs < 0] <= 0)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, True, "0.8"])
def test_dale_fraction_outside_the_open_interval_raises(fraction):
    with pytest.raises(ValueError, match="excitatory_fraction: expected a float strictly between 0 and 1"):
        dale_signs(10, fraction)


def test_dale_signs_bad_size_raises():
    with pytest.raises(ValueError, match="n_units: expected an int >= 1"):
        dale_signs(0)
