"""Sparse connectomes: every method agrees with the dense twin, the edge-order contract holds and
``edge_attrs`` are validated, saved and carried through transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ccnn.data.connectomes.connectome import MAX_DENSE_DISTANCE_NODES, Connectome
from ccnn.data.connectomes.transforms import TRANSFORMS, parse_transforms


def random_weights(n: int, p: float, seed: int, *, symmetric: bool = False) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, generator=gen, dtype=torch.float64) * (torch.rand(n, n, generator=gen) < p)
    w = torch.where(w.abs() > 0, w.round(decimals=1), w)  # ties, to exercise tie-breaking
    w[w == 0] = 0.0  # no negative zeros
    return w + w.T if symmetric else w


def twins(
    n: int = 12, p: float = 0.3, seed: int = 0, **kwargs
) -> tuple[Connectome, Connectome, torch.Tensor]:
    dense = random_weights(n, p, seed, symmetric=kwargs.pop("symmetric", False))
    rows, cols = dense.nonzero(as_tuple=True)
    edge_attrs = {
        "sign": torch.sign(dense[rows, cols]),
        "id": torch.arange(rows.numel()),
        "pair": torch.stack([rows, cols], dim=1).float(),
    }
    coords = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    common = dict(coords=coords, edge_attrs=edge_attrs, labels=[f"n{i}" for i in range(n)], **kwargs)
    return Connectome(dense, **common), Connectome(dense.to_sparse(), **common), dense


def test_sparse_weights_stay_sparse_and_coalesced():
    dense_conn, sparse_conn, dense = twins()
    assert sparse_conn.is_sparse and not dense_conn.is_sparse
    assert sparse_conn.weights.layout == torch.sparse_coo and sparse_conn.weights.is_coalesced()
    assert torch.equal(sparse_conn.weights.to_dense(), dense)
    assert sparse_conn.weights.dtype == torch.float64


def test_uncoalesced_input_and_explicit_zeros():
    indices = torch.tensor([[1, 0, 1, 2], [0, 1, 0, 2]])
    values = torch.tensor([1.0, 2.0, 3.0, 0.0])  # (1, 0) twice, (2, 2) an explicit zero
    conn = Connectome(torch.sparse_coo_tensor(indices, values, (3, 3)))
    rows, cols, vals = conn.edges()
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0] and vals.tolist() == [2.0, 4.0]
    assert conn.num_edges == 2 and conn.weights.dtype == torch.float32


def test_csr_input_becomes_coo():
    dense = random_weights(6, 0.4, 3)
    conn = Connectome(dense.to_sparse_csr())
    assert conn.is_sparse and torch.equal(conn.weights.to_dense(), dense)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("symmetric", [False, True])
def test_summaries_match_dense(seed, symmetric):
    dense_conn, sparse_conn, _ = twins(seed=seed, symmetric=symmetric)
    for name in ("num_nodes", "num_edges", "density", "is_symmetric"):
        assert getattr(sparse_conn, name) == getattr(dense_conn, name), name
    assert sparse_conn.is_symmetric == symmetric


def test_edge_order_contract():
    dense_conn, sparse_conn, dense = twins(seed=4)
    expected_rows, expected_cols = dense.nonzero(as_tuple=True)
    for conn in (dense_conn, sparse_conn):
        rows, cols, values = conn.edges()
        assert torch.equal(rows, expected_rows) and torch.equal(cols, expected_cols)
        assert torch.equal(values, dense[rows, cols])
        keys = rows * conn.num_nodes + cols
        assert bool((keys[1:] > keys[:-1]).all())  # strictly increasing: row-major, no repeats
    assert torch.equal(torch.stack(sparse_conn.edges()[:2]), sparse_conn.weights.indices())


@pytest.mark.parametrize(
    "kwargs", [{}, {"threshold": 0.5}, {"density": 0.1}, {"density": 1.0}, {"density": 0.004}]
)
def test_mask_matches_dense(kwargs):
    dense_conn, sparse_conn, _ = twins(seed=2)
    sparse_mask = sparse_conn.mask(**kwargs)
    assert sparse_mask.layout == torch.sparse_coo and sparse_mask.dtype == torch.bool
    assert torch.equal(sparse_mask.to_dense(), dense_conn.mask(**kwargs))
    assert bool(sparse_mask.values().all())  # only kept entries are stored


def test_mask_errors_are_the_dense_ones():
    _, sparse_conn, _ = twins()
    with pytest.raises(ValueError, match="density"):
        sparse_conn.mask(density=0.0)
    with pytest.raises(ValueError, match="threshold"):
        sparse_conn.mask(threshold=-1.0)
    with pytest.raises(ValueError, match="at most one"):
        sparse_conn.mask(density=0.5, threshold=0.1)


def test_to_pyg_matches_dense():
    pytest.importorskip("torch_geometric")
    dense_conn, sparse_conn, dense = twins(seed=5)
    a, b = dense_conn.to_pyg(), sparse_conn.to_pyg()
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_weight, b.edge_weight)
    source, target = a.edge_index
    assert torch.equal(a.edge_weight, dense[target, source])  # edge j -> i is weights[i, j]
    torch.testing.assert_close(a.edge_attr, b.edge_attr, rtol=1e-12, atol=1e-12)
    assert torch.equal(a.pos, b.pos) and a.num_nodes == b.num_nodes
    for key in ("edge_sign", "edge_id", "edge_pair"):
        assert key in a
    # edge_attrs are reordered with the edges: "pair" holds each edge's (target, source).
    assert torch.equal(b.edge_pair.long(), torch.stack([target, source], dim=1))
    assert torch.equal(a.edge_sign, b.edge_sign)


def test_edge_distances():
    dense_conn, sparse_conn, _ = twins(seed=6)
    rows, cols, _ = dense_conn.edges()
    expected = (dense_conn.coords[rows] - dense_conn.coords[cols]).norm(dim=-1)
    torch.testing.assert_close(sparse_conn.edge_distances(), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dense_conn.edge_distances(), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sparse_conn.distances, dense_conn.distances)  # small N: computed
    assert Connectome(torch.eye(3).to_sparse()).edge_distances() is None


def test_dense_distances_refused_for_large_sparse():
    n = MAX_DENSE_DISTANCE_NODES + 1
    index = torch.arange(n)
    weights = torch.sparse_coo_tensor(torch.stack([index, index]), torch.ones(n), (n, n))
    conn = Connectome(weights, coords=torch.zeros(n, 2))
    with pytest.raises(ValueError, match="edge_distances"):
        _ = conn.distances
    assert conn.edge_distances().shape == (n,)


def test_to_moves_dtype_and_keeps_sparse():
    _, sparse_conn, dense = twins()
    single = sparse_conn.to(torch.float32)
    assert single.is_sparse and single.weights.dtype == torch.float32
    assert torch.equal(single.weights.to_dense(), dense.float())
    assert single.edge_attrs["id"].dtype == torch.int64
    assert sparse_conn.to("cpu").is_sparse


@pytest.mark.parametrize("sparse", [False, True])
def test_save_load_round_trip(tmp_path, sparse):
    conn = twins(seed=7, meta={"source": "test"})[int(sparse)]
    path = tmp_path / "conn.npz"
    conn.save(path)
    loaded = Connectome.load(path)
    assert loaded.is_sparse == sparse
    if sparse:
        assert torch.equal(loaded.weights.indices(), conn.weights.indices())
        assert torch.equal(loaded.weights.values(), conn.weights.values())
        assert set(np.load(path).files) >= {"weights_indices", "weights_values", "weights_shape"}
    else:
        assert torch.equal(loaded.weights, conn.weights)
    assert loaded.edge_attrs.keys() == conn.edge_attrs.keys()
    for name, value in conn.edge_attrs.items():
        assert torch.equal(loaded.edge_attrs[name], value)
    assert loaded.labels == conn.labels and loaded.meta == conn.meta
    assert torch.equal(loaded.coords, conn.coords)
    assert not list(tmp_path.glob("*.tmp*"))  # the atomic write leaves no scratch file


def test_repr_mentions_sparse_and_edge_attrs():
    _, sparse_conn, _ = twins()
    text = repr(sparse_conn)
    assert "sparse" in text and "edge_attrs=[sign, id, pair]" in text
    assert "sparse" not in repr(Connectome(torch.eye(2)))


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(1000), torch.zeros(5, 2, 2), torch.zeros(())])
@pytest.mark.parametrize("sparse", [False, True])
def test_bad_edge_attrs_length(bad, sparse):
    dense = random_weights(8, 0.3, 9)
    weights = dense.to_sparse() if sparse else dense
    with pytest.raises(ValueError, match=r"edge_attrs\['bad'\]"):
        Connectome(weights, edge_attrs={"bad": bad})


def test_bad_edge_attrs_type():
    with pytest.raises(TypeError, match="edge_attrs"):
        Connectome(torch.eye(2), edge_attrs=[1, 2])


def test_non_square_sparse_is_refused():
    with pytest.raises(ValueError, match="weights"):
        Connectome(torch.zeros(2, 3).to_sparse())


@pytest.mark.parametrize(
    "spec",
    [
        "log1p",
        "normalise:max",
        "normalise:row_sum",
        "normalise:waytotal",
        "threshold:0.1",
        "threshold:1",
        "binarise",
        "symmetrise",
        "pass_to_ranks",
        "remove_self_loops",
    ],
)
def test_transforms_match_dense(spec):
    assert spec.partition(":")[0] in TRANSFORMS
    n = 12
    dense = random_weights(n, 0.3, 11).abs()  # log1p and pass_to_ranks need w >= 0
    waytotal = torch.arange(1.0, n + 1)
    rows, cols = dense.nonzero(as_tuple=True)
    kwargs = dict(node_attrs={"waytotal": waytotal}, edge_attrs={"pair": torch.stack([rows, cols], 1)})
    dense_conn, sparse_conn = Connectome(dense, **kwargs), Connectome(dense.to_sparse(), **kwargs)
    pipeline = parse_transforms([spec])
    a, b = pipeline(dense_conn), pipeline(sparse_conn)
    assert b.is_sparse and not a.is_sparse
    torch.testing.assert_close(b.weights.to_dense(), a.weights, rtol=1e-12, atol=0)
    assert a.meta == b.meta and a.meta["transforms"] == [spec]
    for conn in (a, b):
        if spec == "symmetrise":  # new connections: no attribute values for them
            assert conn.edge_attrs == {}
        else:  # the surviving edges keep their own attributes
            new_rows, new_cols, _ = conn.edges()
            assert torch.equal(conn.edge_attrs["pair"], torch.stack([new_rows, new_cols], 1))


def test_sparse_symmetrise_drops_cancelling_entries():
    w = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    result = parse_transforms(["symmetrise"])(Connectome(w.to_sparse()))
    assert result.num_edges == 0 and result.is_symmetric


def test_negative_weights_refused_by_log1p_sparse():
    with pytest.raises(ValueError, match="log1p"):
        parse_transforms(["log1p"])(Connectome(-torch.eye(3).to_sparse()))


def test_to_pyg_refuses_a_clashing_edge_attr_name():
    pytest.importorskip("torch_geometric")
    conn = Connectome(torch.eye(2).to_sparse(), edge_attrs={"index": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"edge_attrs\['index'\]"):
        conn.to_pyg()
