"""The signal-propagation atlas loader: on a small HDF5 file written here (no network), and on
wormneuroatlas' funatlas.h5 checked against an independent h5py read (skipped when the wheel
cannot be reached)."""

import h5py
import numpy as np
import pytest
import torch

from ccnn.data import load_signal_propagation_atlas
from ccnn.data.connectomes.package_data import package_data
from ccnn.data.connectomes.signal_propagation import WORMNEUROATLAS

NAMES = ["AVAL", "AVAR", "AWCON", "RIML"]


@pytest.fixture
def small_atlas(tmp_path):
    q = np.full((4, 4), np.nan)
    q[0, 1], q[1, 0], q[3, 0], q[0, 3], q[2, 0] = 0.01, 0.2, 0.04, 0.5, 0.001
    q[1, 1] = 0.0  # a self-response: never a pair
    dff = np.where(np.isfinite(q), 0.1, np.nan)
    (tmp_path / "data").mkdir()
    with h5py.File(tmp_path / "data" / "funatlas.h5", "w") as archive:
        archive["neuron_ids"] = np.array([n.encode() for n in NAMES])
        for strain in ("wt", "unc31"):
            archive[f"{strain}/dFF"] = dff
            archive[f"{strain}/q"] = q
            archive[f"{strain}/occ1"] = np.isfinite(q).astype(np.int64) * 3
    return load_signal_propagation_atlas("wt", root=tmp_path)


def test_tested_and_connected_pairs_follow_q(small_atlas):
    tested = small_atlas.tested()
    assert tested.sum() == 5 and not tested.diagonal().any()
    connected = small_atlas.connected()
    assert {tuple(p) for p in torch.nonzero(connected).tolist()} == {(0, 1), (3, 0), (2, 0)}
    assert {tuple(p) for p in torch.nonzero(small_atlas.connected(0.005)).tolist()} == {(2, 0)}


def test_restrict_reorders_and_drops_unmatched_neurons(small_atlas):
    names = ["RIML", "XYZ", "AVAL", "AVAR"]  # AWCON is not in an anatomical connectome
    restricted, index = small_atlas.restrict(names)
    assert restricted.neurons == ("RIML", "AVAL", "AVAR") and index == [0, 2, 3]
    # RIML responds to AVAL with q = 0.04 in the file: row RIML, column AVAL.
    assert restricted.q[0, 1].item() == pytest.approx(0.04)
    assert restricted.connected()[0, 1] and restricted.connected()[1, 2]
    assert restricted.trials[0, 1].item() == 3


def test_bad_arguments_name_themselves(small_atlas, tmp_path):
    with pytest.raises(ValueError, match="strain"):
        load_signal_propagation_atlas("mutant", root=tmp_path)
    with pytest.raises(ValueError, match="root"):
        load_signal_propagation_atlas("wt", root=tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="names"):
        small_atlas.restrict(["ALA", "BWM"])
    with pytest.raises(TypeError, match="names"):
        small_atlas.restrict("AVAL")
    with pytest.raises(ValueError, match="q_threshold"):
        small_atlas.connected(0.0)


def test_the_real_atlas_matches_its_file():
    try:
        root = package_data(WORMNEUROATLAS)
    except RuntimeError as error:
        pytest.skip(f"wormneuroatlas data unreachable: {error}")
    atlas = load_signal_propagation_atlas("wt")
    with h5py.File(root / "data" / "funatlas.h5", "r") as archive:
        q = archive["wt/q"][:]
        names = [n.decode() for n in archive["neuron_ids"][:]]
    off_diagonal = ~np.eye(len(q), dtype=bool)
    assert atlas.neurons == tuple(names) and len(names) == 300
    assert atlas.tested().sum() == (np.isfinite(q) & off_diagonal).sum() == 23902
    assert atlas.connected().sum() == ((np.nan_to_num(q, nan=1) < 0.05) & off_diagonal).sum() == 1151
    np.testing.assert_array_equal(atlas.q.numpy(), q)
