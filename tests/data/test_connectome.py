"""Tests for :mod:`ccnn.data.connectomes.connectome`, checked against NumPy, SciPy and PyG references."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import ccnn.data.connectomes.connectome as connectome_module
from ccnn.data.connectomes.connectome import Connectome

# Directed 4-node example; weights[i, j] is the connection j -> i.
#   0 -> 1 (2.0), 0 -> 2 (-3.0), 1 -> 0 (0.5), 2 -> 3 (1.0), 3 -> 3 (-0.25), 3 -> 1 (2.0)
W = np.array(
    [
        [0.0, 0.5, 0.0, 0.0],
        [2.0, 0.0, 0.0, 2.0],
        [-3.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, -0.25],
    ]
)
EDGES = {(0, 1, 2.0), (0, 2, -3.0), (1, 0, 0.5), (2, 3, 1.0), (3, 3, -0.25), (3, 1, 2.0)}
COORDS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])


def random_sparse(n: int, p: float, seed: int, symmetric: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, n)) * (rng.random((n, n)) < p)
    return w + w.T if symmetric else w


# ---------------------------------------------------------------------- construction


def test_numpy_torch_and_list_construction_agree():
    from_np = Connectome.from_numpy(W)
    from_t = Connectome.from_torch(torch.from_numpy(W))
    from_list = Connectome(W.tolist())
    assert from_np.weights.dtype == from_t.weights.dtype == torch.float64
    assert torch.equal(from_np.weights, from_t.weights)
    assert torch.equal(from_np.weights, from_list.weights)
    np.testing.assert_array_equal(from_np.weights.numpy(), W)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (np.float64, torch.float64),
        (np.float32, torch.float32),
        (np.float16, torch.float32),
        (np.int64, torch.float32),
        (np.bool_, torch.float32),
    ],
)
def test_weights_dtype(given, expected):
    conn = Connectome((W != 0).astype(given) if given is np.bool_ else W.astype(given))
    assert conn.weights.dtype == expected


def test_optional_fields_follow_weights_dtype():
    conn = Connectome(W.astype(np.float32), coords=COORDS, distances=np.abs(W))
    assert conn.coords.dtype == conn.distances.dtype == torch.float32
    assert conn.labels is None and conn.node_attrs == {} and conn.meta == {}


def test_from_numpy_and_from_torch_check_type():
    with pytest.raises(TypeError, match="numpy"):
        Connectome.from_numpy(torch.from_numpy(W))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        Connectome.from_torch(W)
    with pytest.raises(TypeError, match="weights"):
        Connectome("not a matrix")


def test_sparse_weights_stay_sparse():
    dense = torch.from_numpy(W)
    sparse = Connectome(dense.to_sparse())
    assert sparse.is_sparse and torch.equal(sparse.weights.to_dense(), dense)


# ---------------------------------------------------------------------- summaries


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("symmetric", [False, True])
def test_num_edges_density_symmetry_match_numpy(seed, symmetric):
    w = random_sparse(7, 0.3, seed, symmetric)
    conn = Connectome(w)
    assert conn.num_nodes == 7
    assert conn.num_edges == np.count_nonzero(w)
    assert conn.density == pytest.approx(np.count_nonzero(w) / 49)
    assert conn.is_symmetric == bool(np.array_equal(w, w.T)) == symmetric


def test_density_counts_diagonal():
    assert Connectome(np.eye(3)).density == pytest.approx(3 / 9)


# ---------------------------------------------------------------------- distances


def test_distances_from_coords_match_scipy():
    rng = np.random.default_rng(0)
    for d in (2, 3):
        coords = rng.normal(size=(40, d))  # > 25 rows, where cdist may switch to its matmul path
        conn = Connectome(np.zeros((40, 40)), coords=coords)
        np.testing.assert_allclose(conn.distances.numpy(), cdist(coords, coords), rtol=1e-12, atol=1e-12)
        assert torch.all(conn.distances.diagonal() == 0)


def test_stored_distances_win_over_coords():
    stored = np.full((4, 4), 7.0)
    conn = Connectome(W, distances=stored, coords=COORDS)
    np.testing.assert_array_equal(conn.distances.numpy(), stored)


def test_distances_none_without_coords():
    assert Connectome(W).distances is None


# ---------------------------------------------------------------------- mask


def test_mask_default_is_nonzero():
    expected = np.array(
        [
            [0, 1, 0, 0],
            [1, 0, 0, 1],
            [1, 0, 0, 0],
            [0, 0, 1, 1],
        ],
        dtype=bool,
    )
    mask = Connectome(W).mask()
    assert mask.dtype == torch.bool
    np.testing.assert_array_equal(mask.numpy(), expected)


def test_mask_threshold_uses_absolute_value_strictly():
    # |w| > 1 keeps 2.0, 2.0 and -3.0; the 1.0 entry sits on the threshold and is dropped.
    expected = np.zeros((4, 4), dtype=bool)
    expected[1, 0] = expected[1, 3] = expected[2, 0] = True
    np.testing.assert_array_equal(Connectome(W).mask(threshold=1.0).numpy(), expected)
    np.testing.assert_array_equal(Connectome(W).mask(threshold=0).numpy(), W != 0)


def test_mask_density_keeps_top_k_with_row_major_ties():
    conn = Connectome(W)
    # round(0.125 * 16) = 2: -3.0, then the first of the two 2.0 entries in row-major order.
    expected = np.zeros((4, 4), dtype=bool)
    expected[2, 0] = expected[1, 0] = True
    np.testing.assert_array_equal(conn.mask(density=0.125).numpy(), expected)
    # round(0.25 * 16) = 4 adds the second 2.0 and then 1.0.
    expected[1, 3] = expected[3, 2] = True
    np.testing.assert_array_equal(conn.mask(density=0.25).numpy(), expected)


def test_mask_density_is_capped_by_nonzeros_and_can_be_empty():
    conn = Connectome(W)
    np.testing.assert_array_equal(conn.mask(density=1.0).numpy(), W != 0)
    assert not conn.mask(density=0.01).any()  # round(0.16) = 0


@pytest.mark.parametrize("seed", [0, 1])
def test_mask_density_matches_numpy_top_k(seed):
    w = random_sparse(9, 0.6, seed)
    k = round(0.3 * 81)
    mask = Connectome(w).mask(density=0.3).numpy()
    assert mask.sum() == k
    # Continuous weights have no ties: the kept entries are exactly the k largest |w|.
    assert np.abs(w[mask]).min() > np.sort(np.abs(w[~mask]))[-1]


def test_mask_rejects_bad_arguments():
    conn = Connectome(W)
    with pytest.raises(ValueError, match=r"density.*threshold"):
        conn.mask(density=0.5, threshold=0.1)
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"density.*\(0, 1\]"):
            conn.mask(density=bad)
    with pytest.raises(ValueError, match="threshold"):
        conn.mask(threshold=-1.0)
    with pytest.raises(TypeError, match="threshold"):
        conn.mask(threshold="0.5")


# ---------------------------------------------------------------------- PyG


def test_to_pyg_edges_follow_source_target_convention():
    pyg_utils = pytest.importorskip("torch_geometric.utils")
    dist = np.arange(16, dtype=float).reshape(4, 4)
    conn = Connectome(W, distances=dist, coords=COORDS)
    data = conn.to_pyg()

    assert data.num_nodes == 4
    assert data.edge_index.shape == (2, 6) and data.edge_index.dtype == torch.long
    triples = {
        (int(s), int(t), float(w))
        for (s, t), w in zip(data.edge_index.T.tolist(), data.edge_weight.tolist(), strict=True)
    }
    assert triples == EDGES
    # Edge attribute j -> i is dist[i, j].
    expected_attr = dist[data.edge_index[1].numpy(), data.edge_index[0].numpy()][:, None]
    assert data.edge_attr.shape == (6, 1)
    np.testing.assert_array_equal(data.edge_attr.numpy(), expected_attr)
    np.testing.assert_array_equal(data.pos.numpy(), COORDS)

    # Independent reference: PyG reads a dense matrix as adj[source, target], i.e. weights.T.
    ref_index, ref_weight = pyg_utils.dense_to_sparse(torch.from_numpy(W).T)
    assert ref_index.shape[1] == conn.num_edges
    assert torch.equal(data.edge_index, ref_index)
    assert torch.equal(data.edge_weight, ref_weight)


def test_to_pyg_without_optional_fields_and_with_computed_distances():
    pytest.importorskip("torch_geometric")
    data = Connectome(W).to_pyg()
    assert data.pos is None and data.edge_attr is None
    data = Connectome(W, coords=COORDS).to_pyg()
    src, dst = data.edge_index.numpy()
    np.testing.assert_allclose(
        data.edge_attr[:, 0].numpy(), np.linalg.norm(COORDS[src] - COORDS[dst], axis=1)
    )


# ---------------------------------------------------------------------- files


def full_connectome() -> Connectome:
    return Connectome(
        W,
        distances=np.abs(W) * 10,
        coords=COORDS,
        labels=["V1", "V2", "", "MT \u03b1"],
        node_attrs={
            "hemisphere": np.array([0, 0, 1, 1]),
            "is_cortical": np.array([True, False, True, True]),
            "volume": np.array([1.5, 2.0, 0.1, 3.0], dtype=np.float32),
            "features": np.arange(8, dtype=np.int16).reshape(4, 2),
        },
        meta={"subject": "sub-01", "atlas": "toy", "session": 3, "scale": 0.5, "tags": ["a", "b"]},
    )


def assert_same(a: Connectome, b: Connectome) -> None:
    assert a.weights.dtype == b.weights.dtype and torch.equal(a.weights, b.weights)
    for x, y in ((a._distances, b._distances), (a.coords, b.coords)):
        assert (x is None and y is None) or (x.dtype == y.dtype and torch.equal(x, y))
    assert a.labels == b.labels
    assert a.node_attrs.keys() == b.node_attrs.keys()
    for name, value in a.node_attrs.items():
        assert value.dtype == b.node_attrs[name].dtype, name
        assert torch.equal(value, b.node_attrs[name]), name
    assert a.meta == b.meta


def test_save_load_round_trip(tmp_path):
    conn = full_connectome()
    path = tmp_path / "conn.npz"
    conn.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conn.npz"]  # no temporary file left
    loaded = Connectome.load(path)
    assert_same(conn, loaded)
    assert loaded.labels == ("V1", "V2", "", "MT \u03b1")

    with np.load(path) as raw:
        assert set(raw.files) == {
            "weights",
            "distances",
            "coords",
            "labels",
            "meta",
            "node_attr.hemisphere",
            "node_attr.is_cortical",
            "node_attr.volume",
            "node_attr.features",
        }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_minimal_and_computed_distances_not_saved(tmp_path, dtype):
    conn = Connectome(W.astype(dtype), coords=COORDS)
    path = tmp_path / "conn.npz"
    conn.save(str(path))
    loaded = Connectome.load(str(path))
    assert_same(conn, loaded)
    assert loaded._distances is None
    with np.load(path) as raw:
        assert "distances" not in raw.files


def test_save_keeps_given_name_and_overwrites(tmp_path):
    path = tmp_path / "conn.bin"  # no .npz suffix must be added
    Connectome(np.eye(2)).save(path)
    Connectome(W).save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conn.bin"]
    assert_same(Connectome.load(path), Connectome(W))


def test_failed_save_leaves_no_temporary_file(tmp_path):
    conn = full_connectome()
    conn.node_attrs["bad"] = torch.zeros(4, dtype=torch.bfloat16)  # NumPy cannot hold bfloat16
    with pytest.raises(TypeError):
        conn.save(tmp_path / "conn.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_without_weights_names_file_and_keys(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, adjacency=np.eye(3), coords=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"'weights'.*other\.npz.*adjacency") as info:
        Connectome.load(path)
    assert "coords" in str(info.value)


def test_load_validates_contents(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, weights=np.eye(3), labels=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="labels"):
        Connectome.load(path)


# ---------------------------------------------------------------------- validation


N = 4
BAD_INPUTS = [
    ({"weights": np.zeros((3, 4))}, "weights", r"\(3, 4\)"),
    ({"weights": np.zeros(4)}, "weights", r"\(4,\)"),
    ({"weights": np.zeros((0, 0))}, "weights", "N >= 1"),
    ({"weights": np.where(W == 1.0, np.nan, W)}, "weights", "finite"),
    ({"weights": np.where(W == 1.0, np.inf, W)}, "weights", "finite"),
    ({"distances": np.zeros((4, 3))}, "distances", r"\(4, 3\)"),
    ({"distances": np.full((N, N), np.inf)}, "distances", "finite"),
    ({"distances": -np.eye(N)}, "distances", "non-negative"),
    ({"coords": np.zeros((3, 3))}, "coords", r"\(3, 3\)"),
    ({"coords": np.zeros((N, 4))}, "coords", r"\(N, 2\) or \(N, 3\)"),
    ({"coords": np.full((N, 3), np.nan)}, "coords", "finite"),
    ({"labels": ["a", "b", "c"]}, "labels", "expected 4.*got 3"),
    ({"node_attrs": {"hemisphere": np.zeros(3)}}, "hemisphere", r"\(4, \.\.\.\).*\(3,\)"),
    ({"node_attrs": {"hemisphere": np.array(1.0)}}, "hemisphere", r"\(4, \.\.\.\)"),
    ({"node_attrs": {"volume": np.array([1.0, np.nan, 0.0, 0.0])}}, "volume", "finite"),
]


@pytest.mark.parametrize(("kwargs", "name", "detail"), BAD_INPUTS)
def test_bad_input_raises_value_error_naming_argument(kwargs, name, detail):
    kwargs = {"weights": W, **kwargs}
    with pytest.raises(ValueError, match=name) as info:
        Connectome(**kwargs)
    assert re.search(detail, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"labels": "abcd"}, "labels"),
        ({"labels": ["a", "b", 3, "d"]}, "labels"),
        ({"node_attrs": [np.zeros(4)]}, "node_attrs"),
        ({"node_attrs": {1: np.zeros(4)}}, "node_attrs"),
        ({"meta": ["subject"]}, "meta"),
        ({"meta": {"when": object()}}, "meta"),
        ({"weights": np.zeros((2, 2), dtype=complex)}, "weights"),
    ],
)
def test_wrong_types_raise_type_error_naming_argument(kwargs, name):
    kwargs = {"weights": W, **kwargs}
    with pytest.raises(TypeError, match=name):
        Connectome(**kwargs)


# ---------------------------------------------------------------------- misc


def test_to_dtype_and_device():
    conn = full_connectome()
    single = conn.to(torch.float32)
    assert single.weights.dtype == single.coords.dtype == single.distances.dtype == torch.float32
    assert single.node_attrs["hemisphere"].dtype == torch.int64  # node attributes keep their dtype
    assert torch.equal(single.weights, conn.weights.float())
    assert_same(conn.to("cpu"), conn)
    with pytest.raises(ValueError, match="float32"):
        conn.to(torch.int64)


def test_meta_is_stored_as_json_round_trip():
    meta = {"shape": (3, 4)}
    conn = Connectome(W, meta=meta)
    assert conn.meta == {"shape": [3, 4]}
    conn.meta["new"] = 1
    assert "new" not in meta  # a copy, not the caller's dict


def test_repr_lists_present_fields():
    text = repr(full_connectome())
    assert text.startswith("Connectome(num_nodes=4, num_edges=6, density=0.375")
    for part in ("distances", "coords=(4, 3)", "labels", "hemisphere", "subject"):
        assert part in text
    assert repr(Connectome(W)) == "Connectome(num_nodes=4, num_edges=6, density=0.375)"


def test_module_imports_only_torch_numpy_and_stdlib_at_top_level():
    # Static check (a subprocess import would cost seconds): Lightning and PyG must stay optional.
    tree = ast.parse(Path(connectome_module.__file__).read_text())
    roots = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    allowed = {"__future__", "torch", "numpy", "ccnn", *sys.stdlib_module_names}
    assert roots <= allowed, roots - allowed
    assert {"torch", "numpy"} <= roots
