import numpy as np
import pandas as pd
import pytest
import torch

from ccnn.data import (
    Connectome,
    ConnectomeCohort,
    StructureFunctionDataModule,
    get,
    load_connectome_cohort,
)

N_SUBJECTS, N_REGIONS, N_TIMES = 4, 6, 200


def bold_series(seed, n_regions=N_REGIONS, n_times=N_TIMES):
    """(N, T) BOLD from a known covariance: a shared factor plus noise."""
    rng = np.random.default_rng(seed)
    loading = rng.uniform(0.3, 1.0, n_regions)
    covariance = np.outer(loading, loading) + np.diag(rng.uniform(0.5, 1.0, n_regions))
    return rng.multivariate_normal(np.zeros(n_regions), covariance, n_times).T


def make_cohort(bolds=None, key="bold", n_subjects=N_SUBJECTS):
    rng = np.random.default_rng(1)
    bolds = bolds if bolds is not None else [bold_series(s) for s in range(n_subjects)]
    connectomes = []
    for s, bold in enumerate(bolds):
        weights = rng.uniform(0, 1, (N_REGIONS, N_REGIONS))
        weights = (weights + weights.T) / 2
        np.fill_diagonal(weights, 0)
        attrs = {} if key is None else {key: bold}
        coords = rng.normal(size=(N_REGIONS, 3))
        connectomes.append(Connectome(weights, coords=coords, node_attrs=attrs, meta={"subject": s}))
    ids = [f"sub-{s}" for s in range(len(bolds))]
    return ConnectomeCohort("synthetic", connectomes, pd.DataFrame(index=pd.Index(ids))), bolds


@pytest.fixture(scope="module")
def cohort():
    return make_cohort()


def test_correlation_fc_is_pearson_r_and_samples_stack(cohort):
    data, bolds = cohort
    dm = StructureFunctionDataModule(cohort=data, split="loso", fold=2)
    for s, bold in enumerate(bolds):
        np.testing.assert_allclose(dm.fc[s].numpy(), np.corrcoef(bold), atol=1e-10)
    arrays = dm.arrays("train")
    assert arrays["subject"] == ["sub-0", "sub-1", "sub-3"] and dm.subjects("test") == ["sub-2"]
    assert arrays["sc"].shape == arrays["fc"].shape == arrays["distances"].shape == (3, 6, 6)
    assert arrays["coords"].shape == (3, 6, 3)
    torch.testing.assert_close(arrays["sc"][2], data[3].weights.double())
    torch.testing.assert_close(dm.group_fc("train"), dm.fc[[0, 1, 3]].mean(0))
    batch = next(iter(dm.train_dataloader()))  # batch_size 1 by default
    assert batch["sc"].shape == (1, 6, 6) and batch["fc"].dtype == torch.float32
    assert len(batch["subject"]) == 1 and dm.n_regions == 6
    val = next(iter(dm.val_dataloader()))  # no separate validation: val is the held-out subject
    assert val["subject"] == ["sub-2"]


def test_partial_correlation_is_the_normalised_inverse_covariance(cohort):
    data, bolds = cohort
    dm = StructureFunctionDataModule(cohort=data, fc_kind="partial correlation")
    for s, bold in enumerate(bolds):
        precision = np.linalg.inv(np.cov(bold))
        scale = np.sqrt(np.diag(precision))
        expected = -precision / np.outer(scale, scale)
        np.fill_diagonal(expected, 1.0)
        np.testing.assert_allclose(dm.fc[s].numpy(), expected, atol=1e-8)


def test_loso_holds_out_each_subject_once_and_kfold_covers_all(cohort):
    data, _ = cohort
    held = []
    for k in range(N_SUBJECTS):
        split = StructureFunctionDataModule(cohort=data, split="loso", fold=k).split
        assert split["test"].tolist() == [k] and k not in split["train"]
        assert sorted([*split["train"], k]) == list(range(N_SUBJECTS))
        held.append(k)
    assert sorted(held) == list(range(N_SUBJECTS))
    folds = [
        StructureFunctionDataModule(cohort=data, split="kfold", n_folds=2, fold=k, seed=3) for k in (0, 1)
    ]
    tests = np.concatenate([dm.split["test"] for dm in folds])
    assert sorted(tests.tolist()) == list(range(N_SUBJECTS))
    for dm in folds:
        assert not set(dm.split["train"]) & set(dm.split["test"])
    again = StructureFunctionDataModule(cohort=data, split="kfold", n_folds=2, fold=0, seed=3)
    assert np.array_equal(again.split["test"], folds[0].split["test"])  # seeded


def test_tangent_is_fitted_on_training_subjects_only(cohort):
    data, bolds = cohort
    dm = StructureFunctionDataModule(cohort=data, fc_kind="tangent", fold=3)
    changed = [*bolds[:3], 5.0 * bold_series(99)]  # another test subject
    other = StructureFunctionDataModule(cohort=make_cohort(changed)[0], fc_kind="tangent", fold=3)
    torch.testing.assert_close(other.fc[:3], dm.fc[:3])  # training FCs untouched
    assert not torch.allclose(other.fc[3], dm.fc[3])
    # Changing a training subject does change the tangent space (so the check above can fail).
    moved = [bold_series(98), *bolds[1:]]
    assert not torch.allclose(
        StructureFunctionDataModule(cohort=make_cohort(moved)[0], fc_kind="tangent", fold=3).fc[1], dm.fc[1]
    )


def write_folder(folder, data, bolds):
    (folder / "bold").mkdir()
    rows = ["participant_id"]
    for s, (c, bold) in enumerate(zip(data, bolds, strict=True)):
        np.savetxt(folder / f"sub-{s}_dwi.csv", c.weights.numpy(), delimiter=",")
        np.save(folder / "bold" / f"sub-{s}_bold.npy", bold)
        rows.append(f"sub-{s}")
    (folder / "participants.csv").write_text("\n".join(rows) + "\n")
    return str(folder)


def test_folder_cohort_reads_bold_subfolder(tmp_path, cohort):
    data, bolds = cohort
    dm = get("structure_function", cohort=write_folder(tmp_path, data, bolds), fold=1)
    np.testing.assert_allclose(dm.fc[1].numpy(), np.corrcoef(bolds[1]), atol=1e-10)
    assert dm.arrays("test")["distances"] is None  # a folder has no fibre lengths or coordinates


def test_bad_input(cohort, tmp_path):
    data, bolds = cohort
    with pytest.raises(ValueError, match=r"^cohort: expected a BOLD series"):
        StructureFunctionDataModule(cohort=make_cohort(key=None)[0])
    (tmp_path / "wrong").mkdir()
    wrong = write_folder(tmp_path / "wrong", data, [*bolds[:3], bold_series(7, n_regions=5)])
    with pytest.raises(ValueError, match=r"^cohort: expected bold of shape \(6, T\) for subject 'sub-3'"):
        StructureFunctionDataModule(cohort=wrong)
    mixed = tmp_path / "mixed"  # a folder whose subjects have different region counts
    mixed.mkdir()
    for s, n in enumerate((6, 6, 5)):
        np.savetxt(mixed / f"sub-{s}.csv", np.ones((n, n)), delimiter=",")
    (mixed / "participants.csv").write_text("participant_id\nsub-0\nsub-1\nsub-2\n")
    with pytest.raises(ValueError, match=r"^cohort: connectomes: expected the same number of regions"):
        StructureFunctionDataModule(cohort=str(mixed))
    flat = [b.copy() for b in bolds]
    flat[1][4] = 2.0
    with pytest.raises(ValueError, match=r"^bold: subject 'sub-1' has a constant series in region 4"):
        StructureFunctionDataModule(cohort=make_cohort(flat)[0])
    with pytest.raises(ValueError, match=r"^split: 'loso' needs at least 3 subjects"):
        StructureFunctionDataModule(cohort=make_cohort(bolds[:2])[0], split="loso")
    with pytest.raises(ValueError, match=r"^fold: expected an int in \[0, 4\)"):
        StructureFunctionDataModule(cohort=data, fold=4)
    with pytest.raises(ValueError, match=r"^fold: expected an int in \[0, 2\)"):
        StructureFunctionDataModule(cohort=data, split="kfold", n_folds=2, fold=2)
    with pytest.raises(ValueError, match=r"^n_folds: expected at most the 4 subjects"):
        StructureFunctionDataModule(cohort=data, split="kfold", n_folds=5)
    with pytest.raises(ValueError, match=r"^fc_kind: expected one of"):
        StructureFunctionDataModule(cohort=data, fc_kind="covariance")
    with pytest.raises(ValueError, match=r"^fc_kind: 'tangent' needs BOLD"):
        StructureFunctionDataModule(
            cohort=make_cohort([np.corrcoef(b) for b in bolds], key="fc")[0], fc_kind="tangent"
        )


def test_hcp_group_template_predicts_a_held_out_subject():
    try:
        load_connectome_cohort("hcp")
    except Exception as error:  # pragma: no cover - the package data is missing offline
        pytest.skip(f"hcp unavailable: {error}")
    dm = StructureFunctionDataModule(cohort="hcp", fold=0)
    arrays = dm.arrays("train")
    assert arrays["sc"].shape == arrays["fc"].shape == arrays["distances"].shape == (6, 94, 94)
    assert len(dm.subjects("train")) == 6 and dm.n_regions == 94
    upper = np.triu_indices(94, 1)
    template, own = dm.group_fc("train").numpy(), dm.arrays("test")["fc"][0].numpy()
    r = np.corrcoef(template[upper], own[upper])[0, 1]
    assert 0.7 < r < 0.9  # REFERENCE.md §8: 0.814 ± 0.025 over subjects; measured 0.849 for subject 0
