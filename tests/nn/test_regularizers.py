import itertools

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from ccnn.nn import ConnectomeLinear
from ccnn.nn.regularizers import (
    L1,
    CommunicabilityWiringCost,
    DistanceWiringCost,
    SpatialWiringCost,
    swap_neurons,
    weighted_communicability,
)

F64 = torch.float64


def away_from_zero(shape, seed=0):
    """Random weights bounded away from 0, where |w| is differentiable."""
    gen = torch.Generator().manual_seed(seed)
    magnitude = 0.2 + torch.rand(shape, generator=gen, dtype=F64)
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0).to(F64)
    return (magnitude * sign).requires_grad_()


# --------------------------------------------------------------------- distance cost
def test_distance_cost_by_hand():
    w = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    d = torch.tensor([[0.0, 2.0], [4.0, 1.0]])
    assert DistanceWiringCost(d)(w).item() == pytest.approx(1 * 0 + 2 * 2 + 0 * 4 + 3 * 1)
    assert DistanceWiringCost(d, p=2)(w).item() == pytest.approx(4 * 2 + 9 * 1)
    assert DistanceWiringCost(d, offset=0.5)(w).item() == pytest.approx(7 + 0.5 * (1 + 2 + 3))
    assert DistanceWiringCost(d, reduction="mean")(w).item() == pytest.approx(7 / 4)
    assert DistanceWiringCost(d, normalize=True)(w).item() == pytest.approx(7 / 4)  # max distance 4


def test_bimt_cost_form():
    # λ·mean(|W|(A·‖x_i − x_j‖₁ + l0)) == λA · DistanceWiringCost(offset=l0/A, mean, manhattan)
    torch.manual_seed(0)
    layer = ConnectomeLinear(6, 4, torch.ones(4, 6, dtype=torch.bool), backend="dense")
    layer.attach_positions(torch.rand(6, 2), torch.rand(4, 2))
    a, l0 = 2.0, 0.5
    manual = (
        layer.weight.abs() * (a * torch.cdist(layer.out_positions, layer.in_positions, p=1) + l0)
    ).mean()
    cost = a * DistanceWiringCost(offset=l0 / a, reduction="mean", metric="manhattan")(layer)
    torch.testing.assert_close(cost, manual)


def test_distance_cost_on_a_module_sums_layers_with_positions():
    torch.manual_seed(0)
    first = ConnectomeLinear(4, 3, torch.rand(3, 4) < 0.7).attach_positions(
        torch.rand(4, 3), torch.rand(3, 3)
    )
    second = ConnectomeLinear(3, 3, torch.rand(3, 3) < 0.7).attach_positions(torch.rand(3, 3))
    unplaced = ConnectomeLinear(3, 2, torch.ones(2, 3, dtype=torch.bool))
    model = nn.Sequential(first, nn.Tanh(), second, nn.Tanh(), unplaced)
    expected = sum((layer.weight.abs() * layer.distances()).sum() for layer in (first, second))
    torch.testing.assert_close(DistanceWiringCost()(model), expected)
    with pytest.raises(ValueError, match="positions attached"):
        DistanceWiringCost()(nn.Sequential(unplaced))


def test_distance_cost_gradcheck():
    d = torch.rand(5, 4, dtype=F64)
    for p in (1.0, 2.0):
        cost = DistanceWiringCost(d.clone(), p=p, offset=0.1)
        assert torch.autograd.gradcheck(cost, (away_from_zero((5, 4)),))


@pytest.mark.parametrize(
    ("distances", "match"),
    [
        (torch.tensor([[0.0, -1.0], [1.0, 0.0]]), "distances: expected non-negative"),
        (torch.tensor([[0.0, float("nan")], [1.0, 0.0]]), "distances: expected finite"),
        (torch.zeros(3), r"distances: expected a 2-D"),
    ],
)
def test_bad_distances(distances, match):
    with pytest.raises(ValueError, match=match):
        DistanceWiringCost(distances)


def test_distance_cost_needs_matching_distances():
    with pytest.raises(ValueError, match="distances: a weight tensor needs"):
        DistanceWiringCost()(torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"distances: expected shape \(3, 3\)"):
        DistanceWiringCost(torch.ones(2, 2))(torch.ones(3, 3))
    with pytest.raises(TypeError, match="target"):
        DistanceWiringCost(torch.ones(2, 2))("weights")


# --------------------------------------------------------------------- communicability (seRNN)
def test_weighted_communicability_matches_scipy_expm():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 6, generator=gen, dtype=F64) * (torch.rand(6, 6, generator=gen) < 0.6)
    a = w.abs().numpy()
    s = a.sum(1)
    expected = scipy.linalg.expm(np.diag(s**-0.5) @ a @ np.diag(s**-0.5))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(weighted_communicability(w).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_communicability_cost_matches_formula_and_gradchecks():
    d = torch.rand(5, 5, dtype=F64)
    w = away_from_zero((5, 5))
    cost = CommunicabilityWiringCost(d)
    expected = (w.abs() * d * weighted_communicability(w)).sum()
    torch.testing.assert_close(cost(w), expected)
    assert torch.autograd.gradcheck(cost, (w,))
    # (the detached variant is not the true gradient by design; see the next test)


def test_detached_communicability_gradient_is_sign_times_distance_times_c():
    d = torch.rand(4, 4, dtype=F64)
    w = away_from_zero((4, 4), seed=1)
    (grad_detached,) = torch.autograd.grad(CommunicabilityWiringCost(d, detach_communicability=True)(w), w)
    expected = torch.sign(w.detach()) * d * weighted_communicability(w.detach())
    torch.testing.assert_close(grad_detached, expected)
    (grad_full,) = torch.autograd.grad(CommunicabilityWiringCost(d)(w), w)
    assert not torch.allclose(grad_full, grad_detached)  # C's own derivative matters


def test_communicability_needs_square_weights():
    with pytest.raises(ValueError, match="square"):
        CommunicabilityWiringCost(torch.ones(2, 3))


# --------------------------------------------------------------------- spatial networks
def test_spatial_cost_by_hand():
    cost = SpatialWiringCost(2, dim=2, transport_weight=2.0, proximity_weight=3.0)
    with torch.no_grad():
        cost.positions.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))  # distance 5
    w = torch.tensor([[7.0, -1.0], [2.0, 9.0]])  # the diagonal has zero length
    transport = (1.0 * 5 + 2.0 * 5) / 4
    proximity = np.exp(-5.0)
    assert cost(w).item() == pytest.approx(2.0 * transport + 3.0 * proximity, rel=1e-6)


def test_spatial_cost_gradients_are_finite_and_gradcheck():
    torch.manual_seed(0)
    cost = SpatialWiringCost(5, dim=3).double()
    w = away_from_zero((5, 5))
    value = cost(w)
    value.backward()
    assert torch.isfinite(cost.positions.grad).all()  # no NaN from sqrt at the diagonal
    assert torch.autograd.gradcheck(lambda weight, pos: _spatial_with(cost, pos)(weight), (w, cost.positions))


def _spatial_with(cost, positions):
    clone = SpatialWiringCost(cost.n_units, cost.dim).double()
    clone.positions = nn.Parameter(positions) if not isinstance(positions, nn.Parameter) else positions
    return clone


def test_spatial_cost_pulls_connected_units_together():
    torch.manual_seed(0)
    n = 6
    w = torch.zeros(n, n)
    w[0, 1] = w[1, 0] = 5.0
    cost = SpatialWiringCost(n, transport_weight=1.0, proximity_weight=0.01)
    opt = torch.optim.SGD(cost.parameters(), lr=0.5)
    start = (cost.positions[0] - cost.positions[1]).norm().item()
    for _ in range(100):
        opt.zero_grad()
        cost(w).backward()
        opt.step()
    assert (cost.positions[0] - cost.positions[1]).norm().item() < 0.5 * start


# --------------------------------------------------------------------- L1
def test_l1_on_tensor_and_module():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert L1()(w).item() == pytest.approx(3.5)
    model = nn.Sequential(
        ConnectomeLinear(3, 4, torch.rand(4, 3) < 0.8),
        nn.ReLU(),
        ConnectomeLinear(4, 2, torch.ones(2, 4, dtype=torch.bool)),
    )
    expected = model[0].weight.abs().sum() + model[2].weight.abs().sum()
    torch.testing.assert_close(L1()(model), expected)
    assert torch.autograd.gradcheck(L1(), (away_from_zero((3, 3)),))


# --------------------------------------------------------------------- BIMT swaps
def wiring(layer_in, layer_out, hidden, pos_in, pos_out):
    return float(
        (layer_in.weight.detach().abs() * torch.cdist(hidden, pos_in, p=1)).sum()
        + (layer_out.weight.detach().abs() * torch.cdist(pos_out, hidden, p=1)).sum()
    )


def make_network(kind, n_in=4, hidden=5, n_out=3, seed=0):
    torch.manual_seed(seed)
    if kind == "linear":
        return nn.Linear(n_in, hidden), nn.Linear(hidden, n_out)
    gen = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(hidden, generator=gen) < 0.6, 1.0, -1.0)
    first = ConnectomeLinear(n_in, hidden, torch.rand(hidden, n_in, generator=gen) < 0.7, backend=kind)
    second = ConnectomeLinear(
        hidden, n_out, torch.rand(n_out, hidden, generator=gen) < 0.7, sign=sign, backend=kind
    )
    return first, second


@pytest.mark.parametrize("kind", ["linear", "dense", "sparse"])
def test_swap_keeps_the_function_and_finds_the_optimal_placement(kind):
    layer_in, layer_out = make_network(kind)
    gen = torch.Generator().manual_seed(1)
    hidden, pos_in, pos_out = (torch.rand(n, 2, generator=gen) for n in (5, 4, 3))
    x = torch.randn(16, 4)
    before_out = layer_out(torch.tanh(layer_in(x))).detach()
    cost_before = wiring(layer_in, layer_out, hidden, pos_in, pos_out)
    # Brute force over all 5! placements: the assignment must find the minimum.
    best = min(
        wiring_permuted(layer_in, layer_out, hidden, pos_in, pos_out, perm)
        for perm in itertools.permutations(range(5))
    )
    result = swap_neurons(
        layer_in, layer_out, hidden_positions=hidden, in_positions=pos_in, out_positions=pos_out
    )
    after_out = layer_out(torch.tanh(layer_in(x))).detach()
    torch.testing.assert_close(after_out, before_out, atol=1e-6, rtol=0)
    cost_after = wiring(layer_in, layer_out, hidden, pos_in, pos_out)
    assert result.cost_before == pytest.approx(cost_before, rel=1e-5)
    assert result.cost_after == pytest.approx(cost_after, rel=1e-5)
    assert cost_after == pytest.approx(best, rel=1e-5)
    assert cost_after <= cost_before


def wiring_permuted(layer_in, layer_out, hidden, pos_in, pos_out, perm):
    perm = torch.tensor(perm)
    w_in = layer_in.weight.detach().abs()[perm]
    w_out = layer_out.weight.detach().abs()[:, perm]
    return float(
        (w_in * torch.cdist(hidden, pos_in, p=1)).sum() + (w_out * torch.cdist(pos_out, hidden, p=1)).sum()
    )


def test_swap_moves_units_next_to_their_partners():
    # Unit 0 talks only to the input/output at x=1, unit 1 only to those at x=0, yet they
    # sit the other way round: one swap fixes it.
    layer_in, layer_out = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer_in.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        layer_out.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    line = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    result = swap_neurons(layer_in, layer_out, hidden_positions=line, in_positions=line, out_positions=line)
    assert result.permutation.tolist() == [1, 0]
    assert result.swapped and result.cost_after == 0 and result.cost_before == 4
    torch.testing.assert_close(layer_in.weight, torch.eye(2))


def test_swap_without_gain_leaves_the_network_alone():
    layer_in, layer_out = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer_in.weight.copy_(torch.eye(2))
        layer_out.weight.copy_(torch.eye(2))
    line = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    weights = layer_in.weight.clone()
    result = swap_neurons(layer_in, layer_out, hidden_positions=line, in_positions=line, out_positions=line)
    assert not result.swapped
    assert torch.equal(layer_in.weight, weights)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_swap_uses_attached_positions_and_permutes_optimizer_state(backend):
    layer_in, layer_out = make_network(backend, n_in=6, hidden=8, n_out=4, seed=3)
    gen = torch.Generator().manual_seed(2)
    hidden = torch.rand(8, 2, generator=gen)
    layer_in.attach_positions(torch.rand(6, 2, generator=gen), hidden)
    layer_out.attach_positions(hidden, torch.rand(4, 2, generator=gen))
    opt = torch.optim.Adam([*layer_in.parameters(), *layer_out.parameters()], lr=0.01)
    layer_out(torch.relu(layer_in(torch.randn(8, 6)))).pow(2).sum().backward()
    opt.step()
    moments = {p: opt.state[p]["exp_avg"].clone() for p in (layer_in._param, layer_in.bias)}
    dense_moment = (
        layer_in._scatter(moments[layer_in._param]) if backend == "sparse" else moments[layer_in._param]
    )
    result = swap_neurons(layer_in, layer_out, optimizer=opt)
    assert result.swapped
    perm = result.permutation
    new_moment = opt.state[layer_in._param]["exp_avg"]
    new_dense = layer_in._scatter(new_moment) if backend == "sparse" else new_moment
    torch.testing.assert_close(new_dense, dense_moment[perm])
    torch.testing.assert_close(opt.state[layer_in.bias]["exp_avg"], moments[layer_in.bias][perm])


def test_swap_rejects_mismatched_layers():
    with pytest.raises(ValueError, match="layer_out: expected in_features"):
        swap_neurons(nn.Linear(2, 3), nn.Linear(4, 2), hidden_positions=torch.rand(3, 2),
                     in_positions=torch.rand(2, 2), out_positions=torch.rand(2, 2))  # fmt: skip
    with pytest.raises(ValueError, match="hidden_positions: required"):
        swap_neurons(nn.Linear(2, 3), nn.Linear(3, 2))
