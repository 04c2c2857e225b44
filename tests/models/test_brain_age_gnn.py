"""Brain age end to end: the synthetic ageing cohort, written as a folder cohort, and
ConnectomeGNN regression through ConnectomeDataModule (examples/brain_age_folder.py's fold)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from ccnn.analysis.brain_age import BrainAgeBiasCorrection, brain_age_report
from ccnn.data import ConnectomeDataModule, load_connectome_cohort
from ccnn.data.connectomes.synthetic_age import synthetic_age_cohort, write_folder

ROOT = Path(__file__).resolve().parents[2]


def load_example():
    spec = importlib.util.spec_from_file_location(
        "brain_age_folder", ROOT / "examples" / "brain_age_folder.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test here runs on one torch thread (conftest's ``one_thread``)."""


@pytest.fixture(scope="module")
def cohort_folder(tmp_path_factory):
    """60 subjects × 20 regions, plus a shuffled-age column (a target the connectomes do not carry)."""
    cohort = synthetic_age_cohort(n_subjects=60, n_regions=20, seed=0)
    shuffled = np.random.default_rng(1).permutation(cohort.participants["age"].to_numpy())
    cohort.participants["shuffled_age"] = shuffled
    return write_folder(cohort, tmp_path_factory.mktemp("ageing_cohort"))


def test_synthetic_cohort_follows_its_ageing_rule():
    cohort = synthetic_age_cohort(n_subjects=40, n_regions=12, noise=0.05, decline=0.6, seed=3)
    weights = cohort.weights().double()
    assert weights.shape == (40, 12, 12)
    assert torch.equal(weights, weights.transpose(1, 2)) and bool((weights >= 0).all())
    assert bool((weights.diagonal(dim1=1, dim2=2) == 0).all())
    ages = torch.tensor(cohort.participants["age"].to_numpy())
    assert ages.min() >= 8 and ages.max() <= 80
    assert list(cohort.participants.columns) == ["age", "sex"] and cohort.subjects[0] == "sub-001"
    ageing = torch.zeros(12, 12, dtype=torch.bool)
    for i, j in cohort[0].meta["ageing_edges"]:
        ageing[i, j] = True
    stable = torch.triu(torch.ones(12, 12, dtype=torch.bool), 1) & ~ageing
    ageing_strength = weights[:, ageing].mean(1)
    stable_strength = weights[:, stable].mean(1)
    assert torch.corrcoef(torch.stack([ageing_strength, ages]))[0, 1] < -0.95
    assert abs(torch.corrcoef(torch.stack([stable_strength, ages]))[0, 1]) < 0.4
    # Over the whole age range an ageing edge loses `decline` of its strength: slope ≈ -0.6 · mean / 72.
    slope = np.polyfit(ages.numpy(), (ageing_strength / weights[:, ageing].mean()).numpy(), 1)[0]
    assert slope == pytest.approx(-0.6 / 72 / (1 - 0.6 * 0.5), rel=0.15)
    # Same seed, same cohort; no age effect with decline = 0.
    assert torch.equal(
        synthetic_age_cohort(n_subjects=40, n_regions=12, noise=0.05, seed=3).weights(), cohort.weights()
    )
    flat = (
        synthetic_age_cohort(n_subjects=40, n_regions=12, noise=0.05, decline=0.0, seed=3).weights().double()
    )
    assert abs(torch.corrcoef(torch.stack([flat[:, ageing].mean(1), ages]))[0, 1]) < 0.4


def test_written_folder_reads_back_as_the_same_cohort(tmp_path):
    cohort = synthetic_age_cohort(n_subjects=5, n_regions=6, seed=2)
    folder = write_folder(cohort, tmp_path / "cohort")
    assert sorted(p.name for p in folder.iterdir())[:2] == ["participants.tsv", "sub-001.csv"]
    loaded = load_connectome_cohort(folder)
    assert loaded.subjects == cohort.subjects
    torch.testing.assert_close(loaded.weights(), cohort.weights(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loaded.participants["age"], cohort.participants["age"])
    assert list(loaded.participants["sex"]) == list(cohort.participants["sex"])


def test_synthetic_cohort_bad_arguments():
    with pytest.raises(ValueError, match="age_range: expected \\(youngest, oldest\\)"):
        synthetic_age_cohort(age_range=(80, 8))
    with pytest.raises(ValueError, match="n_subjects: expected an int >= 2"):
        synthetic_age_cohort(n_subjects=1)
    with pytest.raises(ValueError, match="decline: expected a relative loss in \\[0, 1\\]"):
        synthetic_age_cohort(decline=1.5)
    with pytest.raises(ValueError, match="ageing_fraction: expected a share in \\(0, 1\\]"):
        synthetic_age_cohort(ageing_fraction=2.0)
    with pytest.raises(TypeError, match="cohort: expected a ConnectomeCohort"):
        write_folder("not a cohort", "somewhere")


def train_fold(folder, target):
    example = load_example()
    datamodule = ConnectomeDataModule(
        str(folder), target=target, task="regression", transforms=None, n_folds=4, fold=0, batch_size=16
    )
    model, metrics = example.fit_fold(datamodule, epochs=150, conv="gcn", hidden=32, lr=0.1)
    return example, datamodule, model, metrics


def test_connectome_gnn_recovers_age_and_the_bias_correction_flattens_the_gap(cohort_folder):
    example, datamodule, model, metrics = train_fold(cohort_folder, "age")
    assert metrics["test/r2"] > 0.5, metrics  # measured 0.88 (MAE 6.6 years; ages span 8–80)
    ages = np.asarray(datamodule.targets)
    training = np.concatenate([datamodule.split["train"], datamodule.split["val"]])
    test = datamodule.split["test"]
    predicted_test = example.predict_ages(model, datamodule, test)
    report = brain_age_report(predicted_test, ages[test])
    assert report["r2"] == pytest.approx(metrics["test/r2"], abs=1e-4)  # the logged metric agrees
    assert report["mae"] == pytest.approx(metrics["test/mae"], rel=1e-4)
    correction = BrainAgeBiasCorrection().fit(
        example.predict_ages(model, datamodule, training), ages[training]
    )
    assert correction.slope < 0  # the predictions regress towards the mean age
    train_report = brain_age_report(
        example.predict_ages(model, datamodule, training), ages[training], correction
    )
    assert train_report["gap_age_correlation"] < -0.2
    assert train_report["corrected_gap_age_correlation"] == pytest.approx(0.0, abs=1e-9)


def test_connectome_gnn_does_not_recover_a_shuffled_age(cohort_folder):
    _, _, _, metrics = train_fold(cohort_folder, "shuffled_age")
    assert metrics["test/r2"] < 0.2, metrics  # the connectomes carry no information on it
