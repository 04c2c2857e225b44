"""The flyvis optic-lobe connectome (flyvis 1.2.0 wheel, fetched once into $CCNN_CACHE): neuron and
connection counts against brute-force counts written here and flyvis' documented numbers."""

from __future__ import annotations

import functools
import json
import time

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull, QhullError

from ccnn.data import DATASETS, load_connectome
from ccnn.data.connectomes.flyvis import FLYVIS, FLYVIS_FILE, flyvis_connectome, hull_fill_offsets
from ccnn.data.connectomes.package_data import package_data


@pytest.fixture(scope="module")
def root():
    try:
        return package_data(FLYVIS)
    except RuntimeError as error:
        pytest.skip(f"flyvis {FLYVIS.version} data unreachable (no package or index): {error}")


@pytest.fixture(scope="module")
def spec(root):
    return json.loads((root / FLYVIS_FILE).read_text())


@pytest.fixture(scope="module")
def full(root):
    start = time.perf_counter()
    connectome = flyvis_connectome(root)
    return connectome, time.perf_counter() - start


# ---------------------------------------------------------------------- brute-force reference


def columns(extent, stride):
    """Columns of the hexagon, by plain loops."""
    return [
        (u, v)
        for u in range(-extent, extent + 1)
        for v in range(-extent, extent + 1)
        if max(abs(u), abs(v), abs(u + v)) <= extent and u % stride[0] == 0 and v % stride[1] == 0
    ]


def reference_fill(offsets):
    """Hull filling with scipy's hull facets (a different algorithm from the module's)."""
    return set(_reference_fill(tuple(map(tuple, offsets))))


@functools.cache
def _reference_fill(offsets):
    points = np.array(offsets, dtype=float)
    if len(points) < 3:
        return frozenset()
    try:
        hull = ConvexHull(points)
    except QhullError:  # collinear: no area, nothing to fill
        return frozenset()
    low, high = points.min(0).astype(int), points.max(0).astype(int)
    filled = set()
    for du in range(low[0], high[0] + 1):
        for dv in range(low[1], high[1] + 1):
            # facet equations: normal · p + offset <= 0 inside, normals pointing outwards
            distance = hull.equations[:, :2] @ np.array([du, dv]) + hull.equations[:, 2]
            on_bottom = np.isclose(distance, 0, atol=1e-9) & np.isclose(hull.equations[:, 1], -1)
            if (distance <= 1e-9).all() and not on_bottom.any():
                filled.add((du, dv))
    return frozenset(filled - set(offsets))


def reference_counts(spec, extent, n_syn_fill=1.0):
    """Neurons per type and connections (target, source) -> synapses, by loops over the spec."""
    neurons = {}
    for node in spec["nodes"]:
        pattern, argument = node["pattern"]
        assert pattern == "stride"
        neurons[node["name"]] = columns(extent, tuple(argument))
    index, count = {}, 0
    for node in spec["nodes"]:
        for u, v in neurons[node["name"]]:
            index[node["name"], u, v] = count
            count += 1
    connections = {}
    for edge in spec["edges"]:
        offsets = {tuple(offset): n for offset, n in edge["offsets"]}
        if n_syn_fill > 0 and len(offsets) >= 3:
            offsets.update(dict.fromkeys(reference_fill(list(offsets)), n_syn_fill))
        for u, v in neurons[edge["src"]]:
            for (du, dv), n in offsets.items():
                target = index.get((edge["tar"], u + du, v + dv))
                if target is not None:
                    key = (target, index[edge["src"], u, v])
                    assert key not in connections
                    connections[key] = (n, edge["alpha"])
    return {name: len(cells) for name, cells in neurons.items()}, connections


# ---------------------------------------------------------------------- tests


def test_hull_fill_square_and_degenerate_cases():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]])
    # interior (1, 1) and the boundary points except the one on the bottom edge (dv = 0)
    assert sorted(map(tuple, hull_fill_offsets(square).tolist())) == [(0, 1), (1, 1), (1, 2), (2, 1)]
    assert hull_fill_offsets(np.array([[0, 0], [1, 1], [3, 3]])).shape == (0, 2)  # collinear
    assert hull_fill_offsets(np.array([[0, 0], [4, 0]])).shape == (0, 2)  # fewer than 3


def test_hull_fill_matches_scipy_reference_on_every_edge_type(spec):
    for edge in spec["edges"]:
        offsets = [tuple(offset) for offset, _ in edge["offsets"]]
        mine = set(map(tuple, hull_fill_offsets(np.array(offsets)).tolist())) if len(offsets) >= 3 else set()
        assert mine == reference_fill(offsets), (edge["src"], edge["tar"])


@pytest.mark.parametrize("extent", [0, 1, 3])
def test_small_extent_matches_brute_force(root, spec, extent):
    connectome = flyvis_connectome(root, extent=extent)
    per_type, connections = reference_counts(spec, extent)
    assert connectome.num_nodes == sum(per_type.values())
    counts = torch.bincount(connectome.node_attrs["cell_type"], minlength=len(spec["nodes"]))
    assert dict(zip(connectome.meta["cell_types"], counts.tolist(), strict=True)) == per_type
    rows, cols, values = connectome.edges()
    assert connectome.num_edges == len(connections)
    got = dict(zip(zip(rows.tolist(), cols.tolist(), strict=True), values.tolist(), strict=True))
    assert got.keys() == connections.keys()
    for key, (n, _) in connections.items():
        assert got[key] == pytest.approx(n, rel=1e-6)
    edge_keys = zip(rows.tolist(), cols.tolist(), strict=True)
    signs = dict(zip(edge_keys, connectome.edge_attrs["sign"].tolist(), strict=True))
    assert all(signs[key] == alpha for key, (_, alpha) in connections.items())


def test_documented_counts_at_extent_15(full, spec):
    connectome, seconds = full
    assert connectome.num_nodes == 45_669  # 63 types x 721 columns + 2 types x 123
    assert connectome.num_edges == 1_513_231
    assert 3 * 15 * 16 + 1 == 721 and len(columns(15, (3, 2))) == 123
    # flyvis' 734 free parameters: resting potential and time constant per type, strength per
    # edge type that has connections.
    used = torch.unique(connectome.edge_attrs["edge_type"]).numel()
    assert used == 604 and 2 * len(connectome.meta["cell_types"]) + used == 734
    assert seconds < 10, f"expansion took {seconds:.1f} s"


def test_structure_at_extent_15(full, spec):
    connectome, _ = full
    assert connectome.is_sparse and connectome.weights.dtype == torch.float32
    rows, cols, values = connectome.edges()
    keys = rows * connectome.num_nodes + cols
    assert bool((keys[1:] > keys[:-1]).all())  # edge order: rows, then columns
    assert bool((values > 0).all())
    meta = connectome.meta
    assert len(meta["cell_types"]) == 65 and len(meta["edge_types"]) == 605
    assert meta["licence"] == "MIT" and meta["extent"] == 15 and "Nature" in meta["reference"]
    assert meta["input_units"] == [f"R{k}" for k in range(1, 9)] and len(meta["output_units"]) == 34
    # edge types: source and target cell types of every connection match the named pair
    cell_type = connectome.node_attrs["cell_type"]
    pairs = torch.tensor(
        [[meta["cell_types"].index(s), meta["cell_types"].index(t)] for s, t in meta["edge_types"]]
    )
    edge_type = connectome.edge_attrs["edge_type"]
    assert torch.equal(pairs[edge_type, 0], cell_type[cols])
    assert torch.equal(pairs[edge_type, 1], cell_type[rows])
    # one known connection: R1 -> L1 in the same column, 40 synapses, inhibitory (first edge type)
    first = spec["edges"][0]
    assert (first["src"], first["tar"], first["offsets"]) == ("R1", "L1", [[[0, 0], 40]])
    labels = {label: k for k, label in enumerate(connectome.labels)}
    target, source = labels["L1_(0,0)"], labels["R1_(0,0)"]
    hit = (rows == target) & (cols == source)
    assert float(values[hit]) == 40 and float(connectome.edge_attrs["sign"][hit]) == -1
    assert int(edge_type[hit]) == 0 and not bool(connectome.edge_attrs["filled"][hit])
    # roles and planar positions (neighbouring columns 1 apart, centre at the origin)
    role = connectome.node_attrs["role"]
    assert meta["roles"][int(role[labels["R1_(0,0)"]])] == "input"
    assert meta["roles"][int(role[labels["T4a_(0,0)"]])] == "output"
    assert meta["roles"][int(role[labels["Mi1_(0,0)"]])] == "intermediate"
    centre = connectome.coords[labels["T4a_(0,0)"]]
    assert torch.equal(centre, torch.zeros(2))
    for neighbour in ("T4a_(1,0)", "T4a_(0,1)", "T4a_(1,-1)", "T4a_(-1,1)"):
        assert float((connectome.coords[labels[neighbour]] - centre).norm()) == pytest.approx(1, abs=1e-6)


def test_load_connectome_and_determinism(root):
    assert "flyvis_fib25" in DATASETS
    first = load_connectome("flyvis_fib25", extent=2)
    second = flyvis_connectome(root, extent=2)
    assert torch.equal(first.weights.indices(), second.weights.indices())
    assert torch.equal(first.weights.values(), second.weights.values())
    for name in first.edge_attrs:
        assert torch.equal(first.edge_attrs[name], second.edge_attrs[name])
    assert first.labels == second.labels and first.meta == second.meta
    assert torch.equal(first.coords, second.coords)


def test_no_filling(root, spec):
    connectome = flyvis_connectome(root, extent=3, n_syn_fill=0)
    _, connections = reference_counts(spec, 3, n_syn_fill=0)
    assert connectome.num_edges == len(connections)
    assert not bool(connectome.edge_attrs["filled"].any())


@pytest.mark.parametrize("extent", [-1, 2.5, "15", True, None])
def test_bad_extent(root, extent):
    with pytest.raises(ValueError, match="extent"):
        flyvis_connectome(root, extent=extent)


def test_bad_options():
    with pytest.raises(ValueError, match="n_syn_fill"):
        flyvis_connectome(extent=1, n_syn_fill=-1.0)
    with pytest.raises(ValueError, match="extent"):
        load_connectome("mice", extent=3)
