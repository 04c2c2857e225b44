import pytest
import torch

from ccnn.nn.dynamics import DynamicsNetwork

F64 = torch.float64


def network(n=7, **kwargs):
    torch.manual_seed(0)
    return DynamicsNetwork(n, hidden=16, layers=2, **kwargs).double()


@pytest.mark.parametrize("psi_inputs", ["x_j", "x_j,a_j"])
def test_dense_and_message_passing_paths_agree_with_gradients(psi_inputs):
    net = network(psi_inputs=psi_inputs)
    x = torch.randn(5, 7, dtype=F64)
    omega = 0.7 + 0.5 * torch.rand(5, 7, dtype=F64)
    outputs, grads = [], []
    for path in ("dense", "message_passing"):
        net.zero_grad()
        y = net(x, omega, path=path)
        y.pow(2).sum().backward()
        outputs.append(y.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outputs[0], outputs[1])
    for dense_grad, mp_grad in zip(*grads, strict=True):
        torch.testing.assert_close(dense_grad, mp_grad)


def test_receiver_dependent_messages_match_an_edge_by_edge_sum():
    net = network(n=4, psi_inputs="x_j,a_i,a_j")
    assert net.path == "message_passing"
    x = torch.randn(3, 4, dtype=F64)
    w, a = net.connectivity().detach(), net.latents.detach()
    expected = torch.zeros(3, 4, dtype=F64)
    for b in range(3):
        for i in range(4):
            for j in range(4):
                if i != j:
                    inputs = torch.cat([x[b, j : j + 1], a[i], a[j]])
                    expected[b, i] += w[i, j] * net.psi(inputs).squeeze()
    torch.testing.assert_close(net.messages_sum(x).detach(), expected)
    phi = torch.stack(
        [net.phi(torch.cat([x[:, i : i + 1], a[i].expand(3, -1)], 1)).squeeze(1) for i in range(4)], 1
    )
    torch.testing.assert_close(net(x).detach(), phi.detach() + expected)


def test_diagonal_of_w_is_masked():
    net = network()
    x = torch.randn(4, 7, dtype=F64)
    before = net(x).detach()
    with torch.no_grad():
        net.weight.diagonal().fill_(100.0)
    torch.testing.assert_close(net(x).detach(), before)
    assert torch.all(net.connectivity().diagonal() == 0)


def test_edge_set_restricts_w_and_keeps_the_orientation():
    edges = torch.tensor([[0, 1, 2, 2], [1, 2, 0, 2]])  # 0→1, 1→2, 2→0 and a self-loop 2→2
    net = network(n=3, edge_index=edges)
    assert net.weight.shape == (3,) and net.path == "message_passing"  # the self-loop is dropped
    w = net.connectivity().detach()
    assert torch.count_nonzero(w) == 3
    assert w[1, 0] != 0 and w[2, 1] != 0 and w[0, 2] != 0  # W[target, source]
    dense = network(n=3)
    with torch.no_grad():
        dense.load_state_dict(
            {k: v for k, v in net.state_dict().items() if k not in ("weight", "edge_index")}, strict=False
        )
        dense.weight.copy_(w)
    x = torch.randn(2, 3, dtype=F64)
    torch.testing.assert_close(net(x), dense(x))


def test_rollout_is_euler_integration_of_the_model():
    net = network()
    x0 = torch.randn(7, dtype=F64)
    omega = 0.8 + 0.4 * torch.rand(6, 7, dtype=F64)
    trajectory = net.rollout(x0, steps=5, dt=0.01, stimulus=omega)
    assert trajectory.shape == (6, 7)
    x = x0.reshape(1, -1)
    with torch.no_grad():
        for k in range(5):
            x = x + 0.01 * net(x, omega[k : k + 1])
            torch.testing.assert_close(trajectory[k + 1], x[0])


def test_regularisers_by_hand():
    net = network()
    zeros = torch.zeros(1, 7, dtype=F64)
    torch.testing.assert_close(net.phi_at_zero(), net.phi_values(zeros).abs().mean())
    grid = torch.linspace(-3, 3, 11, dtype=F64).reshape(-1, 1).expand(-1, 7)
    expected = torch.relu(net.psi_values(grid) - net.psi_values(grid + 0.2)).mean()
    torch.testing.assert_close(net.psi_monotonicity(grid, delta=0.2), expected)
    torch.testing.assert_close(net.weight_l1(), net.connectivity().abs().mean())
    # An increasing ψ (all weights positive, ReLU) has no monotonicity penalty.
    with torch.no_grad():
        for p in net.psi.parameters():
            p.abs_()
    assert net.psi_monotonicity(grid).item() == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"psi_inputs": "x_i"}, "psi_inputs: expected one of"),
        ({"psi_inputs": "x_j,a_i,a_j", "path": "dense"}, "path: 'dense' needs"),
        ({"edge_index": torch.tensor([[0, 9], [1, 2]])}, r"edge_index: expected node indices in \[0, 6\]"),
        ({"edge_index": torch.tensor([0, 1])}, r"edge_index: expected shape \(2, any\)"),
        ({"path": "fast"}, "path: expected"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        network(**kwargs)


def test_wrong_number_of_neurons_is_reported():
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, n_neurons=7\), got \(2, 5\)"):
        network()(torch.randn(2, 5, dtype=F64))


def test_learns_the_messages_of_a_known_linear_system():
    # φ = 0 and ψ = identity are within the model's reach: fitting ẋ = W x on random states
    # must recover W up to ψ's scale (a linear fit of learned against true W).
    torch.manual_seed(1)
    n = 10
    w_true = torch.randn(n, n) * 0.3
    w_true.fill_diagonal_(0)
    net = DynamicsNetwork(n, hidden=16, layers=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(1500):
        x = torch.randn(64, n)
        loss = (net(x) - x @ w_true.T).pow(2).mean() + net.phi_at_zero()
        opt.zero_grad()
        loss.backward()
        opt.step()
    learned = net.connectivity().detach()[~torch.eye(n, dtype=torch.bool)]
    true = w_true[~torch.eye(n, dtype=torch.bool)]
    slope = (learned @ true) / (true @ true)
    r2 = 1 - (learned - slope * true).pow(2).sum() / (learned - learned.mean()).pow(2).sum()
    assert r2 > 0.95
