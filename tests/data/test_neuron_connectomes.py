"""Neuron-level connectomes (cect's C. elegans, graspologic's larval mushroom body), checked
against the raw JSON / CSV files read independently here. The files are fetched once into
$CCNN_CACHE; without package or network the tests are skipped."""

import json
from collections import Counter

import numpy as np
import pytest
import torch

from ccnn.data import load_connectome, load_connectome_cohort
from ccnn.data.connectomes.datasets import CECT, GRASPOLOGIC
from ccnn.data.connectomes.neurons import CELL_TYPES, TRANSMITTERS
from ccnn.data.connectomes.package_data import package_data
from ccnn.nn import ConnectomeLinear


def _root(source):
    try:
        return package_data(source)
    except RuntimeError as error:
        pytest.skip(f"{source.distribution} {source.version} data unreachable (no package or index): {error}")


@pytest.fixture(scope="module")
def cect_root():
    return _root(CECT)


@pytest.fixture(scope="module")
def fly_root():
    return _root(GRASPOLOGIC)


def _raw(root, reader):
    content = json.loads((root / "cache" / f"{reader}.json").read_text())
    return content["nodes"], {k: np.array(v, dtype=float) for k, v in content["connections"].items()}


@pytest.fixture(scope="module")
def herm(cect_root):
    return load_connectome("celegans_herm")


@pytest.fixture(scope="module")
def male(cect_root):
    return load_connectome("celegans_male")


@pytest.fixture(scope="module")
def witvliet(cect_root):
    return load_connectome_cohort("celegans_witvliet")


def _type_of(connectome, name):
    code = int(connectome.node_attrs["cell_type"][connectome.labels.index(name)])
    return connectome.meta["cell_types"][code]


def _sign_of(connectome, name):
    return float(connectome.node_attrs["sign"][connectome.labels.index(name)])


def test_herm_is_cook_2019_transposed(herm, cect_root):
    nodes, raw = _raw(cect_root, "Cook2019HermReader")
    assert herm.num_nodes == len(nodes) == 473 and list(herm.labels) == nodes
    chemical, gap = herm.weights.numpy(), herm.node_attrs["gap_junctions"].numpy()
    np.testing.assert_array_equal(chemical, raw["Generic_CS"].T)  # cect: [pre, post]; ccnn: rows = post
    np.testing.assert_array_equal(gap, raw["Generic_GJ"].T)
    assert int((chemical != 0).sum()) == 4879 and int((gap != 0).sum()) == 2883
    ava, da1 = nodes.index("AVAL"), nodes.index("DA1")  # AVA drives the DA motor neurons
    assert chemical[da1, ava] == raw["Generic_CS"][ava, da1] > 0
    pre, post = np.argwhere(raw["Generic_CS"] != raw["Generic_CS"].T)[0]  # an asymmetric pair
    assert chemical[post, pre] == raw["Generic_CS"][pre, post] != chemical[pre, post]
    assert herm.meta["synapses"] == "chemical" and "Cook2019HermReader" in herm.meta["source"]
    assert herm.meta["cell_types"] == list(CELL_TYPES) and herm.meta["transmitters"] == list(TRANSMITTERS)


def test_synapses_gap_and_both(herm, cect_root):
    _, raw = _raw(cect_root, "Cook2019HermReader")
    gap = load_connectome("celegans_herm", synapses="gap")
    np.testing.assert_array_equal(gap.weights.numpy(), raw["Generic_GJ"].T)
    assert gap.is_symmetric and "gap_junctions" not in gap.node_attrs
    np.testing.assert_array_equal(gap.node_attrs["chemical"].numpy(), herm.weights.numpy())
    both = load_connectome_cohort("celegans_herm", synapses="both")[0]
    np.testing.assert_array_equal(both.weights.numpy(), (raw["Generic_CS"] + raw["Generic_GJ"]).T)
    assert {"chemical", "gap_junctions"} <= set(both.node_attrs) and both.meta["synapses"] == "both"


def test_male_and_varshney_sizes(male, cect_root):
    for name, reader, size in [
        ("celegans_male", "Cook2019MaleReader", 585),
        ("celegans_varshney", "VarshneyDataReader", 281),
    ]:
        connectome = male if name == "celegans_male" else load_connectome(name)
        nodes, raw = _raw(cect_root, reader)
        assert connectome.num_nodes == size and list(connectome.labels) == nodes
        np.testing.assert_array_equal(connectome.weights.numpy(), raw["Generic_CS"].T)
        assert int((connectome.weights != 0).sum()) == int((raw["Generic_CS"] != 0).sum())


def test_witvliet_union_and_presence(witvliet, cect_root):
    stages = [_raw(cect_root, f"WitvlietDataReader{k}") for k in range(1, 9)]
    union = sorted({name for nodes, _ in stages for name in nodes})
    assert len(witvliet) == 8 and witvliet.num_nodes == len(union)
    assert witvliet.subjects == [f"stage{k}" for k in range(1, 9)]
    assert witvliet.participants.index.name == "participant_id"
    assert witvliet.participants["stage"].tolist() == list(range(1, 9))
    assert [len(nodes) for nodes, _ in stages] == [187, 194, 198, 204, 211, 216, 222, 219]
    for connectome, (nodes, raw) in zip(witvliet, stages, strict=True):
        assert list(connectome.labels) == union
        present = connectome.node_attrs["present"].numpy()
        assert present.dtype == np.int64 and present.tolist() == [int(n in nodes) for n in union]
        where = [union.index(n) for n in nodes]
        weights = connectome.weights.numpy()
        np.testing.assert_array_equal(weights[np.ix_(where, where)], raw["Generic_CS"].T)
        absent = present == 0
        assert not weights[absent].any() and not weights[:, absent].any()
        np.testing.assert_array_equal(
            connectome.node_attrs["gap_junctions"].numpy()[np.ix_(where, where)], raw["Generic_GJ"].T
        )


def test_cell_types(herm, male, witvliet):
    assert _type_of(herm, "AVAL") == "interneuron" and _type_of(herm, "ASHL") == "sensory"
    assert _type_of(herm, "DA1") == "motor" and _type_of(herm, "MDL08") == "muscle"
    assert _type_of(herm, "MI") == "other" and _type_of(herm, "CANL") == "other"  # polymodal / canal
    assert _type_of(male, "CEMDL") == "sensory" and _type_of(male, "MCML") == "interneuron"
    assert herm.node_attrs["cell_type"].dtype == torch.int64
    counts = Counter(_type_of(herm, name) for name in herm.labels)
    assert counts == {"sensory": 83, "interneuron": 89, "motor": 123, "muscle": 135, "other": 43}
    assert _type_of(witvliet[0], "AVAL") == "interneuron"


def test_dale_signs(herm, male, witvliet):
    for name in ["DD1", "VD1", "VD13", "RMEL", "RMED", "AVL", "RIS", "DVB"]:
        assert _sign_of(herm, name) == -1.0, name
    for name in ["AVAL", "ASHL", "DA1", "SMDVL", "MDL08"]:  # SMD: ACh = GABA, ties go to ACh
        assert _sign_of(herm, name) == 1.0, name
    transmitter = herm.node_attrs["transmitter"]
    assert TRANSMITTERS[int(transmitter[herm.labels.index("AVAL")])] == "acetylcholine"
    assert TRANSMITTERS[int(transmitter[herm.labels.index("ASHL")])] == "glutamate"
    assert TRANSMITTERS[int(transmitter[herm.labels.index("MDL08")])] == "unknown"  # no outgoing synapses
    assert int((herm.node_attrs["sign"] == -1).sum()) == 31
    assert _sign_of(male, "DD1") == -1.0 and _sign_of(male, "EF1") == -1.0 and _sign_of(male, "AVAL") == 1.0
    assert _sign_of(witvliet[7], "RMEL") == -1.0 and _sign_of(witvliet[7], "AVAL") == 1.0
    gaba = (herm.node_attrs["transmitter"] == TRANSMITTERS.index("GABA")).numpy()
    np.testing.assert_array_equal(herm.node_attrs["sign"].numpy() == -1, gaba)


def test_sign_in_connectome_linear(herm):
    n = herm.num_nodes
    layer = ConnectomeLinear(n, n, mask=herm, sign=herm.node_attrs["sign"], backend="dense")
    weight = layer.weight.detach()
    inhibitory = herm.node_attrs["sign"] == -1  # presynaptic = columns
    assert bool((weight[:, inhibitory] <= 0).all()) and bool((weight[:, ~inhibitory] >= 0).all())
    assert bool((weight[:, inhibitory] < 0).any())
    assert layer(torch.randn(2, n)).shape == (2, n)


def test_bad_synapses():  # refused before any file is read
    with pytest.raises(ValueError, match=r"synapses: expected one of \('chemical', 'gap', 'both'\)"):
        load_connectome_cohort("celegans_herm", synapses="electrical")
    with pytest.raises(ValueError, match=r"synapses: only the C\. elegans datasets"):
        load_connectome("hcp", synapses="gap")
    with pytest.raises(ValueError, match=r"synapses: only the C\. elegans datasets"):
        load_connectome("drosophila_mb_left", synapses="chemical")


@pytest.mark.parametrize(("side", "size", "edges"), [("left", 209, 7425), ("right", 213, 7536)])
def test_mushroom_body(fly_root, side, size, edges):
    connectome = load_connectome(f"drosophila_mb_{side}")
    folder = fly_root / "datasets" / "drosophila"
    raw = np.loadtxt(folder / f"{side}_adjacency.csv")
    codes = np.loadtxt(folder / f"{side}_cell_labels.csv", dtype=str)
    weights = connectome.weights.numpy()
    assert connectome.num_nodes == size and int((weights != 0).sum()) == edges
    np.testing.assert_array_equal(weights, raw.T)
    types = np.array(connectome.meta["cell_types"])[connectome.node_attrs["cell_type"].numpy()]
    np.testing.assert_array_equal(types, codes)
    assert connectome.meta["cell_type_names"][0] == "Kenyon cell"
    kenyon, projection = types == "K", types == "P"
    # Projection neurons synapse onto Kenyon cells and not back: rows (targets) K, columns P.
    assert weights[np.ix_(kenyon, projection)].sum() > 0 and weights[np.ix_(projection, kenyon)].sum() == 0
