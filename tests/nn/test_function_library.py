import math

import pytest
import torch

from ccnn.nn.function_library import FunctionLibrary, LibraryFunction
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
