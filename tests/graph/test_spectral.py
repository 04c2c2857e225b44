"""spectral_embedding against scipy and graspologic's documented definitions.

Orientation reminder: ccnn's ``adjacency[i, j]`` is the edge j → i; graspologic's matrix is
its transpose ``G = A.T`` (rows are sources), so graspologic's ASE of ``G`` is
``U_d S_d^{1/2}`` (out / left) and ``V_d S_d^{1/2}`` (in / right) with ``G = U S V^T``.
"""

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.metrics import roc_auc_score

from ccnn.graph import SpectralEmbedding, spectral_embedding


def gaussian(n, seed, dtype=torch.float64):
    """Dense Gaussian matrix: distinct singular values and eigenvalues of both signs."""
    return torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def nonnegative(n, seed, density=0.5):
    gen = torch.Generator().manual_seed(seed)
    weights = torch.rand(n, n, generator=gen, dtype=torch.float64)
    return weights * (torch.rand(n, n, generator=gen, dtype=torch.float64) < density)


def column_signs(actual, expected):
    """Per-column ±1 that best aligns ``expected`` with ``actual``."""
    return np.sign(np.sum(np.asarray(actual) * np.asarray(expected), axis=0))


def assert_equal_up_to_column_sign(actual, expected, atol=1e-8):
    actual, expected = np.asarray(actual), np.asarray(expected)
    signs = column_signs(actual, expected)
    assert np.all(signs != 0)
    np.testing.assert_allclose(actual, expected * signs, atol=atol)
    return signs


def graspologic_ase(g, d):
    """graspologic's directed ASE of ``g`` (rows = sources): (U_d S_d^1/2, V_d S_d^1/2, S_d)."""
    u, s, vh = scipy.linalg.svd(g)
    root = np.sqrt(s[:d])
    return u[:, :d] * root, vh[:d].T * root, s[:d]


def graspologic_dad(g, regularizer=0.0):
    """graspologic's ``to_laplacian`` DAD / R-DAD form: D_out^-1/2 G D_in^-1/2, 1/sqrt(0) := 0.

    ``g`` has rows = sources: out-degree = row sums, in-degree = column sums.
    """
    out_degree = g.sum(axis=1) + regularizer
    in_degree = g.sum(axis=0) + regularizer
    with np.errstate(divide="ignore"):
        out_root, in_root = 1 / np.sqrt(out_degree), 1 / np.sqrt(in_degree)
    out_root[np.isinf(out_root)] = 0
    in_root[np.isinf(in_root)] = 0
    return np.diag(out_root) @ g @ np.diag(in_root)


# ---------------------------------------------------------------------------------------
# Adjacency spectral embedding (directed)
# ---------------------------------------------------------------------------------------


def test_directed_matches_scipy_svd_of_the_transpose():
    a = gaussian(12, seed=0)
    emb = spectral_embedding(a, 4)
    assert isinstance(emb, SpectralEmbedding)
    source, target, values = graspologic_ase(a.numpy().T, 4)
    signs = assert_equal_up_to_column_sign(emb.source, source)
    np.testing.assert_allclose(emb.target, target * signs, atol=1e-8)  # same flip for the pair
    np.testing.assert_allclose(emb.values, values, atol=1e-10)


def test_reconstruction_is_the_best_rank_d_approximation():
    a = gaussian(15, seed=1).numpy()
    d = 5
    emb = spectral_embedding(torch.from_numpy(a), d)
    u, s, vh = scipy.linalg.svd(a.T)
    best = u[:, :d] @ np.diag(s[:d]) @ vh[:d]  # best rank-d approximation of A.T
    np.testing.assert_allclose(emb.source @ emb.target.T, best, atol=1e-10)
    np.testing.assert_allclose(emb.scores(), best.T, atol=1e-10)  # ccnn orientation
    error = np.linalg.norm(a - emb.scores().numpy())
    assert error == pytest.approx(np.sqrt(np.sum(s[d:] ** 2)))  # Eckart–Young


def test_rank_d_matrix_is_reconstructed_exactly():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(20, 3, generator=gen, dtype=torch.float64) @ torch.randn(3, 20, generator=gen).double()
    emb = spectral_embedding(a, 3)
    torch.testing.assert_close(emb.scores(), a, atol=1e-10, rtol=0)


def test_score_of_j_to_i_is_source_j_dot_target_i():
    a = torch.zeros(4, 4)
    a[2, 0] = 1.0  # the single edge 0 → 2
    emb = spectral_embedding(a, 1)
    assert float(emb.source[0] @ emb.target[2]) == pytest.approx(1.0, abs=1e-6)
    assert float(emb.source[2] @ emb.target[0]) == pytest.approx(0.0, abs=1e-6)
    assert emb.scores()[2, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_concat_is_graspologics_two_d_column_directed_output():
    a = nonnegative(10, seed=3)
    emb = spectral_embedding(a, 3)
    left, right, _ = graspologic_ase(a.numpy().T, 3)
    concat = emb.concat()
    assert concat.shape == (10, 6)
    signs = assert_equal_up_to_column_sign(concat[:, :3], left)
    np.testing.assert_allclose(concat[:, 3:], right * signs, atol=1e-8)


def test_signs_are_deterministic():
    a = gaussian(9, seed=4)
    first, second = spectral_embedding(a, 4), spectral_embedding(a.clone(), 4)
    for x, y in zip(first, second, strict=True):
        assert torch.equal(x, y)
    peak = first.source.gather(0, first.source.abs().argmax(0, keepdim=True))
    assert bool((peak > 0).all())


# ---------------------------------------------------------------------------------------
# Laplacian spectral embedding
# ---------------------------------------------------------------------------------------


def test_laplacian_matches_graspologic_dad():
    a = nonnegative(14, seed=5)
    emb = spectral_embedding(a, 3, laplacian=True)
    source, target, values = graspologic_ase(graspologic_dad(a.numpy().T), 3)
    signs = assert_equal_up_to_column_sign(emb.source, source)
    np.testing.assert_allclose(emb.target, target * signs, atol=1e-8)
    np.testing.assert_allclose(emb.values, values, atol=1e-10)


@pytest.mark.parametrize("regularizer", [2.5, "mean"])
def test_regularized_laplacian_matches_graspologic_r_dad(regularizer):
    a = nonnegative(14, seed=6)
    g = a.numpy().T
    tau = g.sum(axis=1).mean() if regularizer == "mean" else regularizer  # graspologic: mean out-degree
    emb = spectral_embedding(a, 3, laplacian=True, regularizer=regularizer)
    np.testing.assert_allclose(emb.source @ emb.target.T, best_rank(graspologic_dad(g, tau), 3), atol=1e-10)


def best_rank(m, d):
    u, s, vh = scipy.linalg.svd(m)
    return u[:, :d] @ np.diag(s[:d]) @ vh[:d]


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("regularizer", [None, "mean"])
def test_zero_degree_node_gives_finite_output_with_laplacian(directed, regularizer):
    a = nonnegative(8, seed=7)
    a[:, 3] = 0  # node 3 sends nothing ...
    a[3, :] = 0  # ... and receives nothing
    emb = spectral_embedding(a, 3, directed=directed, laplacian=True, regularizer=regularizer)
    for part in emb:
        assert torch.isfinite(part).all()
    zero = torch.zeros(3, dtype=torch.float64)
    torch.testing.assert_close(emb.source[3], zero, atol=1e-12, rtol=0)
    torch.testing.assert_close(emb.target[3], zero, atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------------------
# Undirected
# ---------------------------------------------------------------------------------------


def test_undirected_matches_eigendecomposition_of_the_symmetrised_matrix():
    a = gaussian(12, seed=8)
    sym = ((a + a.T) / 2).numpy()
    lam, q = scipy.linalg.eigh(sym)
    order = np.argsort(-np.abs(lam))[:4]
    lam, q = lam[order], q[:, order]
    assert (lam < 0).any() and (lam > 0).any()  # the case that needs the sign in target
    emb = spectral_embedding(a, 4, directed=False)
    x = q * np.sqrt(np.abs(lam))
    signs = assert_equal_up_to_column_sign(emb.source, x)
    np.testing.assert_allclose(emb.target, x * signs * np.sign(lam), atol=1e-8)
    np.testing.assert_allclose(emb.values, np.abs(lam), atol=1e-10)
    np.testing.assert_allclose(emb.scores(), q @ np.diag(lam) @ q.T, atol=1e-10)
    # graspologic's undirected ASE (U_d S_d^1/2 of the SVD of the symmetric matrix)
    assert_equal_up_to_column_sign(emb.source, graspologic_ase(sym, 4)[0])


def test_undirected_laplacian_is_the_symmetric_dad():
    a = nonnegative(10, seed=9)
    sym = ((a + a.T) / 2).numpy()
    emb = spectral_embedding(a, 3, directed=False, laplacian=True)
    lap = graspologic_dad(sym)
    lam, q = scipy.linalg.eigh(lap)
    order = np.argsort(-np.abs(lam))[:3]
    np.testing.assert_allclose(emb.scores(), q[:, order] @ np.diag(lam[order]) @ q[:, order].T, atol=1e-10)


def test_undirected_assortative_graph_has_source_equal_target():
    block = torch.arange(20) < 10
    p = torch.where(block[:, None] == block[None, :], 0.9, 0.1).double()
    emb = spectral_embedding(p, 2, directed=False)
    torch.testing.assert_close(emb.source, emb.target)
    torch.testing.assert_close(emb.scores(), p)


# ---------------------------------------------------------------------------------------
# Batches, dtypes, devices, solvers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options", [{}, {"directed": False}, {"laplacian": True}, {"laplacian": True, "regularizer": "mean"}]
)
def test_batched_equals_per_graph_loop(options):
    batch = torch.stack([nonnegative(9, seed=s) for s in range(3)])
    emb = spectral_embedding(batch, 3, **options)
    assert emb.source.shape == (3, 9, 3) and emb.target.shape == (3, 9, 3) and emb.values.shape == (3, 3)
    assert emb.scores().shape == (3, 9, 9)
    for b in range(3):
        single = spectral_embedding(batch[b], 3, **options)
        for batched_part, single_part in zip(emb, single, strict=True):
            torch.testing.assert_close(batched_part[b], single_part, atol=1e-10, rtol=0)


def test_empty_batch():
    emb = spectral_embedding(torch.zeros(0, 5, 5), 2)
    assert emb.source.shape == (0, 5, 2) and emb.values.shape == (0, 2)


@pytest.mark.parametrize(
    ("adjacency", "dtype"),
    [
        (torch.rand(6, 6, dtype=torch.float64), torch.float64),
        (torch.rand(6, 6), torch.float32),
        (torch.rand(6, 6).half(), torch.float16),
        (torch.randint(0, 3, (6, 6)), torch.float32),
        (torch.rand(6, 6) < 0.5, torch.float32),
        (np.random.default_rng(0).random((6, 6)), torch.float64),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], torch.float32),
    ],
)
def test_output_dtype(adjacency, dtype):
    emb = spectral_embedding(adjacency, 2)
    for part in emb:
        assert part.dtype == dtype
        assert torch.isfinite(part).all()


@pytest.mark.parametrize("directed", [True, False])
def test_randomized_solver_matches_full_on_a_planted_graph(directed):
    gen = torch.Generator().manual_seed(10)
    n = 150
    blocks = torch.arange(n) % 3
    b = torch.tensor([[0.8, 0.1, 0.3], [0.05, 0.7, 0.1], [0.4, 0.1, 0.9]], dtype=torch.float64)
    a = (torch.rand(n, n, generator=gen, dtype=torch.float64) < b[blocks][:, blocks]).double()
    full = spectral_embedding(a, 3, directed=directed, method="full")
    fast = spectral_embedding(a, 3, directed=directed, method="randomized")
    for fast_part, full_part in zip(fast, full, strict=True):  # same signs too
        torch.testing.assert_close(fast_part, full_part, atol=1e-8, rtol=0)


def test_planted_two_block_directed_graph_scores_edges_above_non_edges():
    gen = torch.Generator().manual_seed(11)
    n = 60
    block = torch.arange(n) >= n // 2
    p = torch.full((n, n), 0.05, dtype=torch.float64)
    p[block[:, None] & ~block[None, :]] = 0.8  # P(j → i) high for j in block 0, i in block 1
    a = (torch.rand(n, n, generator=gen, dtype=torch.float64) < p).double()
    a.fill_diagonal_(0)
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    labels = a[off_diagonal].numpy()
    for laplacian in (False, True):
        scores = spectral_embedding(a, 2, laplacian=laplacian).scores()
        assert roc_auc_score(labels, scores[off_diagonal].numpy()) > 0.9
        # the reversed roles (score(i → j) for the edge j → i) must rank edges badly
        assert roc_auc_score(labels, scores.T[off_diagonal].numpy()) < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("directed", [True, False])
def test_cuda_matches_cpu(directed):
    a = nonnegative(50, seed=12)
    cpu = spectral_embedding(a, 4, directed=directed)
    gpu = spectral_embedding(a.cuda(), 4, directed=directed)
    for c, g in zip(cpu, gpu, strict=True):
        assert g.device.type == "cuda"
        torch.testing.assert_close(g.cpu(), c, atol=1e-8, rtol=0)
    fast = spectral_embedding(a.cuda(), 4, directed=directed, method="randomized")
    assert fast.source.device.type == "cuda"


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def with_nan():
    a = torch.rand(4, 4)
    a[1, 2] = float("nan")
    return a


def with_inf():
    a = torch.rand(4, 4, dtype=torch.float64)
    a[0, 0] = float("inf")
    return a


@pytest.mark.parametrize(
    ("adjacency", "dim", "options", "error", "name"),
    [
        (torch.zeros(3, 4), 1, {}, ValueError, "adjacency"),
        (torch.zeros(3), 1, {}, ValueError, "adjacency"),
        (torch.zeros(2, 3, 3, 3), 1, {}, ValueError, "adjacency"),
        (torch.zeros(2, 3, 4), 1, {}, ValueError, "adjacency"),
        (torch.zeros(0, 0), 1, {}, ValueError, "adjacency"),
        (with_nan(), 1, {}, ValueError, "adjacency"),
        (with_inf(), 1, {}, ValueError, "adjacency"),
        ("graph", 1, {}, TypeError, "adjacency"),
        (5, 1, {}, TypeError, "adjacency"),
        (None, 1, {}, TypeError, "adjacency"),
        (torch.zeros(3, 3, dtype=torch.complex64), 1, {}, TypeError, "adjacency"),
        (torch.zeros(3, 3), 0, {}, ValueError, "dim"),
        (torch.zeros(3, 3), 4, {}, ValueError, "dim"),
        (torch.zeros(3, 3), 1.5, {}, ValueError, "dim"),
        (torch.zeros(3, 3), True, {}, ValueError, "dim"),
        (torch.zeros(3, 3), 1, {"directed": "yes"}, TypeError, "directed"),
        (torch.zeros(3, 3), 1, {"laplacian": 1}, TypeError, "laplacian"),
        (torch.zeros(3, 3), 1, {"laplacian": True, "regularizer": -1.0}, ValueError, "regularizer"),
        (torch.zeros(3, 3), 1, {"laplacian": True, "regularizer": "max"}, ValueError, "regularizer"),
        (torch.zeros(3, 3), 1, {"regularizer": 1.0}, ValueError, "regularizer"),
        (torch.zeros(3, 3), 1, {"method": "lanczos"}, ValueError, "method"),
    ],
)
def test_bad_input_raises_one_error_naming_the_argument(adjacency, dim, options, error, name):
    with pytest.raises(error, match=rf"^{name}: expected") as info:
        spectral_embedding(adjacency, dim, **options)
    assert "got" in str(info.value)
