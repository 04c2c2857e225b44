"""ConnectomeLinear from sparse masks (never densified) and with weights shared by connection type."""

import pytest
import torch

from ccnn.data import Connectome
from ccnn.nn import ConnectomeLinear, ConnectomeRNN


def _sparse_pattern(n_out=40, n_in=30, density=0.1, seed=0, weighted=True):
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand(n_out, n_in, generator=gen) < density
    values = (
        torch.randint(1, 20, (n_out, n_in), generator=gen).float() if weighted else torch.ones(n_out, n_in)
    )
    return (values * keep).to_sparse_coo().coalesce()


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_sparse_mask_builds_the_same_layer_as_its_dense_twin(backend):
    sparse = _sparse_pattern()
    sign = torch.where(torch.arange(30) % 3 == 0, -1.0, 1.0)
    layers = []
    for mask in (sparse, sparse.to_dense()):
        torch.manual_seed(0)
        layers.append(ConnectomeLinear(30, 40, mask, sign=sign, backend=backend))
    a, b = layers
    torch.testing.assert_close(a.weight, b.weight)
    x = torch.randn(5, 30)
    a(x).square().sum().backward()
    b(x).square().sum().backward()
    torch.testing.assert_close(a._param.grad, b._param.grad)
    assert a.num_connections == sparse._nnz()


def test_a_sparse_connectome_with_per_connection_signs():
    weights = _sparse_pattern(30, 30, seed=1)
    rows, cols = weights.indices()
    signs = torch.where((rows + cols) % 2 == 0, 1.0, -1.0)
    conn = Connectome(weights, edge_attrs={"sign": signs})
    layer = ConnectomeLinear(30, 30, conn, sign=conn.edge_attr_matrix("sign"), backend="sparse")
    dense_sign = torch.ones(30, 30)
    dense_sign[rows, cols] = signs
    twin = ConnectomeLinear(30, 30, weights.to_dense(), sign=dense_sign, backend="dense")
    with torch.no_grad():
        twin.raw_weight.copy_(layer._scatter(layer.raw_values))
    torch.testing.assert_close(layer.weight, twin.weight)
    assert bool((torch.sign(layer.weight[rows, cols]) == signs).all())
    with pytest.raises(ValueError, match="sign"):  # a sparse sign missing connections
        ConnectomeLinear(30, 30, conn, sign=_sparse_pattern(30, 30, seed=9))


def test_a_huge_sparse_mask_is_never_densified():
    n = 200_000  # a dense bool mask would need 40 GB
    gen = torch.Generator().manual_seed(0)
    index = torch.randint(0, n, (2, 50_000), generator=gen)
    mask = torch.sparse_coo_tensor(index, torch.ones(50_000), (n, n)).coalesce()
    layer = ConnectomeLinear(
        n, n, mask, sign=torch.ones(n), share_by=torch.zeros(mask._nnz(), dtype=torch.long)
    )
    assert layer.backend == "sparse" and layer.num_connections == mask._nnz()
    x = torch.randn(2, n, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.shape == (2, n) and "shared_by=1 types" in repr(layer)
    sparse = layer.sparse_weight()
    assert sparse.is_sparse and sparse._nnz() == mask._nnz()
    assert torch.equal(sparse.indices(), mask.indices())


def test_shared_weights_accumulate_gradients_per_type():
    mask = _sparse_pattern(20, 25, density=0.3, seed=2)
    n_edges = mask._nnz()
    types = torch.arange(n_edges) % 4 + 10  # labels 10..13
    sign = torch.where(torch.arange(25) < 20, 1.0, -1.0)
    layer = ConnectomeLinear(25, 20, mask, sign=sign, share_by=types, bias=False)
    assert layer.raw_values.shape == (4,) and layer.shared_types.tolist() == [10, 11, 12, 13]
    rows, cols = mask.indices()
    counts = mask.values()
    theta = layer.raw_values.detach()
    # W_ij = sign_j · |θ_type| · s_ij (s: the mask's synapse counts, not normalised)
    expected = torch.zeros(20, 25)
    expected[rows, cols] = sign[cols] * theta[types - 10].abs() * counts
    torch.testing.assert_close(layer.weight, expected)
    torch.testing.assert_close(layer.sparse_weight().to_dense(), expected)
    with pytest.raises(ValueError, match="backend"):
        ConnectomeLinear(25, 20, mask, backend="dense").sparse_weight()
    x = torch.randn(6, 25)
    layer(x).pow(3).sum().backward()
    # by hand: dL/dW_ij summed over each type, times sign · s · sign(θ)
    w = expected.clone().requires_grad_(True)
    (x @ w.T).pow(3).sum().backward()
    per_edge = w.grad[rows, cols] * sign[cols] * counts * theta[types - 10].sign()
    by_type = torch.zeros(4).index_add_(0, types - 10, per_edge)
    torch.testing.assert_close(layer.raw_values.grad, by_type, rtol=1e-4, atol=1e-4)
    # the same types given as an (out, in) matrix
    matrix = torch.zeros(20, 25, dtype=torch.long)
    matrix[rows, cols] = types
    torch.manual_seed(0)
    again = ConnectomeLinear(25, 20, mask, sign=sign, share_by=matrix, bias=False)
    assert torch.equal(again.edge_type, layer.edge_type)


def test_shared_layer_prunes_saves_and_loads():
    mask = _sparse_pattern(20, 20, density=0.3, seed=3, weighted=False)
    types = torch.arange(mask._nnz()) % 3
    layer = ConnectomeLinear(20, 20, mask, share_by=types)
    remove = torch.zeros(20, 20, dtype=torch.bool)
    rows, cols = mask.indices()
    remove[rows[:5], cols[:5]] = True
    assert layer.prune_(remove) == 5 and layer.raw_values.shape == (3,)
    state = layer.state_dict()
    fresh = ConnectomeLinear(20, 20, mask, share_by=types)
    fresh.load_state_dict(state)
    x = torch.randn(3, 20)
    torch.testing.assert_close(fresh(x), layer(x))
    assert fresh.num_connections == mask._nnz() - 5


def test_share_by_bad_input():
    mask = _sparse_pattern(10, 10, density=0.3, seed=4)
    n = mask._nnz()
    with pytest.raises(ValueError, match="share_by"):
        ConnectomeLinear(10, 10, mask, share_by=torch.zeros(n + 1, dtype=torch.long))
    with pytest.raises(TypeError, match="share_by"):
        ConnectomeLinear(10, 10, mask, share_by=torch.zeros(n))
    with pytest.raises(ValueError, match="share_by"):
        ConnectomeLinear(10, 10, mask, share_by=-torch.ones(n, dtype=torch.long))
    with pytest.raises(ValueError, match="backend"):
        ConnectomeLinear(10, 10, mask, share_by=torch.zeros(n, dtype=torch.long), backend="dense")
    with pytest.raises(ValueError, match="mode"):
        ConnectomeLinear(10, 10, mask, share_by=torch.zeros(n, dtype=torch.long), mode="soft")
    layer = ConnectomeLinear(10, 10, mask, share_by=torch.zeros(n, dtype=torch.long))
    with pytest.raises(ValueError, match="backend"):
        layer.to_backend("dense")


def test_rnn_on_a_sparse_typed_connectome():
    weights = _sparse_pattern(50, 50, density=0.05, seed=5)
    types = torch.arange(weights._nnz()) % 7
    conn = Connectome(weights, edge_attrs={"edge_type": types})
    rnn = ConnectomeRNN(3, 50, conn, share_by=conn.edge_attrs["edge_type"], nonlinearity="relu", tau=2.0)
    out, _ = rnn(torch.randn(4, 2, 3))
    out.sum().backward()
    assert out.shape == (4, 2, 50) and rnn.cell.recurrent.raw_values.grad.shape == (7,)


def test_auto_backend_on_a_gpu_needs_larger_and_sparser_layers():
    from ccnn.nn.connectome_linear import (
        AUTO_SPARSE_MAX_DENSITY_GPU,
        AUTO_SPARSE_MIN_SIZE_GPU,
        _choose_backend,
    )

    big, small = AUTO_SPARSE_MIN_SIZE_GPU, 4096 * 4096
    assert _choose_backend("auto", "hard", AUTO_SPARSE_MAX_DENSITY_GPU, big, on_gpu=True) == "sparse"
    assert _choose_backend("auto", "hard", AUTO_SPARSE_MAX_DENSITY_GPU, small, on_gpu=True) == "dense"
    assert _choose_backend("auto", "hard", 0.03, big, on_gpu=True) == "dense"
    assert _choose_backend("auto", "hard", 0.03, small, on_gpu=False) == "sparse"  # the CPU rule


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_shared_sparse_layer_matches_cpu():
    import copy

    mask = _sparse_pattern(40, 30, density=0.2, seed=6)
    types = torch.arange(mask._nnz()) % 5
    layer = ConnectomeLinear(30, 40, mask, sign=torch.where(torch.arange(30) < 24, 1.0, -1.0), share_by=types)
    gpu = copy.deepcopy(layer).cuda()
    x = torch.randn(7, 30)
    torch.testing.assert_close(gpu(x.cuda()).cpu(), layer(x), rtol=1e-4, atol=1e-5)
    gpu(x.cuda()).square().sum().backward()
    layer(x).square().sum().backward()
    torch.testing.assert_close(gpu.raw_values.grad.cpu(), layer.raw_values.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu.bias.grad.cpu(), layer.bias.grad, rtol=1e-4, atol=1e-4)
