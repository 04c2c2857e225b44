import math

import numpy as np
import pytest
import torch

from ccnn.nn.function_library import FunctionLibrary, LibraryFunction, rest_spline_basis, spline_terms
from ccnn.nn.siren import SIREN


def test_terms_evaluate_to_their_formulas():
    lib = FunctionLibrary(
        ["1", "x", "x^2", "x^3", "tanh(x/4)", "sin(x)", "gauss(x/2)", "sigmoid(x)", "relu(x)"]
    )
    x = torch.tensor([-1.5, 0.0, 2.0], dtype=torch.float64)
    expected = torch.stack(
        [torch.ones(3, dtype=torch.float64), x, x**2, x**3, torch.tanh(x / 4), torch.sin(x),
         torch.exp(-((x / 2) ** 2)), 1 / (1 + torch.exp(-x)), x.clamp_min(0)], -1,
    )  # fmt: skip
    torch.testing.assert_close(lib(x), expected)


@pytest.mark.parametrize("bad", ["exp(x)", "tanh(y)", "tanh(x/0)", "", "x^4"])
def test_unknown_terms_raise(bad):
    with pytest.raises(ValueError, match="terms"):
        FunctionLibrary(["x", bad])


def test_duplicates_and_empty_raise():
    with pytest.raises(ValueError, match="distinct"):
        FunctionLibrary(["x", "x"])
    with pytest.raises(ValueError, match="at least one"):
        FunctionLibrary([])


def test_format_drops_small_terms_and_signs():
    lib = FunctionLibrary(["x", "tanh(x)", "1"])
    assert lib.format([-1.0, 2.5, 0.25]) == "-1 x + 2.5 tanh(x) + 0.25"
    assert lib.format([0.0, 1e-9, 0.0], tol=1e-6) == "0"


def test_library_function_coefficients_are_linear_in_the_condition():
    f = LibraryFunction(["x", "tanh(x)"], condition_dim=2).double()
    with torch.no_grad():
        f.offset.copy_(torch.tensor([1.0, -2.0]))
        f.condition_map.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 3.0]]))
    x, a = torch.tensor([0.7], dtype=torch.float64), torch.tensor([2.0, -1.0], dtype=torch.float64)
    value = f(torch.cat([x, a]).unsqueeze(0))
    expected = (1 + 0.5 * 2) * 0.7 + (-2 + 3 * -1) * math.tanh(0.7)
    assert value.shape == (1, 1)
    assert value.item() == pytest.approx(expected)


def test_siren_initialisation_follows_sitzmann_and_starts_at_the_output_bias():
    torch.manual_seed(0)
    net = SIREN(3, 1, hidden=64, layers=3, omega0=30.0, output_bias=1.0)
    first, second = net.sine_layers[0], net.sine_layers[1]
    assert first.weight.abs().max() <= 1 / 3
    assert second.weight.abs().max() <= math.sqrt(6 / 64) / 30
    out = net(torch.rand(500, 3))
    assert out.shape == (500, 1)
    assert abs(out.mean().item() - 1.0) < 0.2  # small final weights around the bias
    with pytest.raises(ValueError, match="layers"):
        SIREN(layers=0)


# --------------------------------------------------------------------- other saturations, splines
def test_softsign_and_rectified_tanh_terms_by_hand():
    x = torch.tensor([-3.0, -0.5, 0.0, 2.0])
    lib = FunctionLibrary(["softsign(x/2)", "rectified_tanh(x)"])
    expected = torch.stack([(x / 2) / (1 + (x / 2).abs()), torch.tanh(x).clamp_min(0)], -1)
    torch.testing.assert_close(lib(x), expected)


def test_rest_spline_basis_is_scipy_s_b_splines_on_each_side_and_linear_beyond():
    from scipy.interpolate import BSpline

    knots = torch.tensor([[1.0, 2.5, 4.0, 7.0], [0.5, 1.0, 3.0, 6.0]], dtype=torch.float64)
    for row, sign in ((0, 1.0), (1, -1.0)):
        vector = np.r_[[0.0] * 4, knots[row, :-1].numpy(), [float(knots[row, -1])] * 4]
        u = np.linspace(0, float(knots[row, -1]), 301)
        expected = BSpline.design_matrix(u, vector, 3).toarray()[:, 1:]  # the one that is 1 at 0 is dropped
        ours = rest_spline_basis(torch.tensor(sign * u), knots)[:, row * 6 : row * 6 + 6]
        np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
        other = rest_spline_basis(torch.tensor(sign * u), knots)[:, (1 - row) * 6 : (1 - row) * 6 + 6]
        assert float(other.abs().max()) == 0.0  # each side's columns vanish on the other side
    far = rest_spline_basis(torch.linspace(7, 20, 50, dtype=torch.float64), knots)
    assert float((far[2:] - 2 * far[1:-1] + far[:-2]).abs().max()) < 1e-12  # linear beyond κ_m


def test_spline_terms_fit_a_kinked_function_that_no_named_term_describes():
    knots = torch.tensor([[0.5, 1.0, 2.0, 4.0]] * 2, dtype=torch.float64)
    lib = FunctionLibrary(spline_terms(4), knots=knots)
    x = torch.linspace(-4, 4, 801, dtype=torch.float64)
    target = torch.where(x > 0, x / (1 + x), 0.5 * x)  # a kink at rest
    coef = torch.linalg.lstsq(lib(x), target).solution
    assert float((lib(x) @ coef - target).abs().max()) < 2e-3
    assert lib.terms[:2] == ["sp1(x)", "sp2(x)"] and len(lib) == 12


def test_spline_terms_need_knots_and_a_library_function_keeps_them_in_its_state():
    with pytest.raises(ValueError, match="knots: the spline terms"):
        FunctionLibrary(["x", "sp1(x)"])(torch.zeros(3))
    with pytest.raises(ValueError, match="knots: expected shape"):
        FunctionLibrary(spline_terms(3), knots=torch.ones(2, 2))
    with pytest.raises(ValueError, match="increasing"):
        FunctionLibrary(spline_terms(2), knots=torch.tensor([[1.0, 0.5], [1.0, 2.0]]))
    f = LibraryFunction(["x", *spline_terms(3)], condition_dim=1)
    assert f.knots.shape == (2, 3) and "knots" in f.state_dict()
    f.knots.copy_(torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 4.0]]))
    g = LibraryFunction(["x", *spline_terms(3)], condition_dim=1)
    g.load_state_dict(f.state_dict())
    x = torch.randn(5, 2)
    torch.testing.assert_close(g(x), f(x))


def test_gradients_through_spline_terms_are_finite_even_with_zero_coefficients():
    f = LibraryFunction(["x", "tanh(x)", *spline_terms(3)], condition_dim=2)
    inputs = (5 * torch.randn(64, 3)).requires_grad_()
    f(inputs).sum().backward()
    assert bool(inputs.grad.isfinite().all()) and all(bool(p.grad.isfinite().all()) for p in f.parameters())
