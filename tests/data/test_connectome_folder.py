"""Tests for cohorts read from a user's folder by :mod:`ccnn.data.connectomes.datasets`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.datasets import ConnectomeCohort, load_connectome, load_connectome_cohort

N = 5


def random_weights(seed: int, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 10.0, (n, n)) * (rng.random((n, n)) < 0.7)


def write_edgelist(path: Path, w: np.ndarray) -> None:
    """'source target weight' lines: w[i, j] (j -> i) is written as 'j i w'."""
    targets, sources = np.nonzero(w)
    lines = [f"{j} {i} {float(w[i, j])!r}" for i, j in zip(targets, sources, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def write_participants(path: Path, rows: list[tuple[str, str, int]], column: str = "participant_id") -> None:
    sep = "\t" if path.suffix == ".tsv" else ","
    lines = [sep.join([column, "group", "age"])] + [sep.join([s, g, str(a)]) for s, g, a in rows]
    path.write_text("\n".join(lines) + "\n")


# Participants in a scrambled order, with one extra subject that has no file.
PARTICIPANTS = [
    ("sub-04", "patient", 44),
    ("sub-01", "control", 31),
    ("sub-06", "patient", 66),
    ("sub-99", "control", 99),
    ("sub-03", "control", 33),
    ("sub-05", "patient", 55),
    ("sub-02", "patient", 22),
]


@pytest.fixture
def mixed_folder(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """Six subjects, one per file format, and participants.csv."""
    folder = tmp_path / "cohort"
    folder.mkdir()
    weights = {f"sub-0{k}": random_weights(k) for k in range(1, 7)}
    weights["sub-06"][0, N - 1] = 2.5  # the edge list mentions node N - 1
    np.savetxt(folder / "sub-01_dti.csv", weights["sub-01"], delimiter=",")
    np.save(folder / "sub-02_dti.npy", weights["sub-02"])
    savemat(folder / "sub-03_dti.mat", {"connectivity": weights["sub-03"]})
    np.savetxt(folder / "sub-04_dti.tsv", weights["sub-04"], delimiter="\t")
    np.savetxt(folder / "sub-05_dti.txt", weights["sub-05"])
    write_edgelist(folder / "sub-06_dti.edgelist", weights["sub-06"])
    write_participants(folder / "participants.csv", PARTICIPANTS)
    return folder, weights


# ---------------------------------------------------------------------- reading


def test_every_format_reads_back_what_was_written(mixed_folder):
    folder, weights = mixed_folder
    cohort = load_connectome_cohort(folder)
    assert isinstance(cohort, ConnectomeCohort)
    assert len(cohort) == 6 and cohort.num_nodes == N
    assert cohort.subjects == [f"sub-0{k}" for k in range(1, 7)]  # sorted file order
    for subject, connectome in zip(cohort.subjects, cohort, strict=True):
        assert connectome.weights.dtype == torch.float64
        np.testing.assert_array_equal(connectome.weights.numpy(), weights[subject], err_msg=subject)
        assert connectome.meta == {"dataset": "cohort", "subject": subject}
    stacked = cohort.weights()
    assert stacked.shape == (6, N, N)
    np.testing.assert_array_equal(stacked[2].numpy(), weights["sub-03"])


def test_edgelist_puts_the_weight_of_j_i_w_at_row_i_column_j(tmp_path):
    (tmp_path / "a.edgelist").write_text("0 1 2.5\n2 0 7\n1 1 0.5\n")
    write_participants(tmp_path / "participants.csv", [("a", "x", 1)])
    w = load_connectome(tmp_path).weights.numpy()
    expected = np.zeros((3, 3))
    expected[1, 0] = 2.5  # 0 -> 1
    expected[0, 2] = 7.0  # 2 -> 0
    expected[1, 1] = 0.5
    np.testing.assert_array_equal(w, expected)


def test_edgelist_without_weights_and_with_n_nodes(tmp_path):
    (tmp_path / "a.edgelist").write_text("0 1\n3 2\n")
    write_participants(tmp_path / "participants.csv", [("a", "x", 1)])
    expected = np.zeros((6, 6))
    expected[1, 0] = expected[2, 3] = 1.0
    np.testing.assert_array_equal(load_connectome(tmp_path, n_nodes=6).weights.numpy(), expected)
    assert load_connectome(tmp_path).num_nodes == 4  # largest index + 1


def test_participants_rows_are_aligned_with_the_files(mixed_folder):
    folder, _ = mixed_folder
    table = load_connectome_cohort(folder).participants
    assert table.index.name == "participant_id"
    assert list(table.index) == [f"sub-0{k}" for k in range(1, 7)]  # sub-99 has no file
    expected = {s: (g, a) for s, g, a in PARTICIPANTS}
    for subject, row in table.iterrows():
        assert (row["group"], row["age"]) == expected[subject]


def test_participants_tsv_is_found_automatically(tmp_path):
    for k in (2, 1, 3):
        np.savetxt(tmp_path / f"sub-0{k}.tsv", random_weights(k), delimiter="\t")
    rows = [("sub-03", "c", 3), ("sub-01", "a", 1), ("sub-02", "b", 2)]
    write_participants(tmp_path / "participants.tsv", rows)
    cohort = load_connectome_cohort(tmp_path)
    assert cohort.subjects == ["sub-01", "sub-02", "sub-03"]
    assert list(cohort.participants["group"]) == ["a", "b", "c"]
    for k, connectome in enumerate(cohort, start=1):
        np.testing.assert_array_equal(connectome.weights.numpy(), random_weights(k))


def test_participants_file_elsewhere_and_another_subject_column(tmp_path):
    folder = tmp_path / "matrices"
    folder.mkdir()
    np.save(folder / "001_sc.npy", random_weights(1))
    np.save(folder / "010_sc.npy", random_weights(10))
    table = tmp_path / "subjects.csv"
    write_participants(table, [("010", "b", 2), ("001", "a", 1)], column="subject")
    cohort = load_connectome_cohort(folder, participants=table, subject_column="subject")
    assert cohort.subjects == ["001", "010"]  # ids stay strings: leading zeros kept
    assert cohort.participants.index.name == "subject"
    np.testing.assert_array_equal(cohort[1].weights.numpy(), random_weights(10))


def test_the_longest_matching_id_wins(tmp_path):
    # "sub-1" is a prefix of "sub-10" (but not followed by a separator there) and of
    # "sub-1_ses-2" (followed by "_"): each file must go to the longest id it starts with.
    names = {"sub-1": "sub-1_dti.npy", "sub-10": "sub-10_dti.npy", "sub-1_ses-2": "sub-1_ses-2_dti.npy"}
    seeds = {"sub-1": 1, "sub-10": 10, "sub-1_ses-2": 12}
    for subject, name in names.items():
        np.save(tmp_path / name, random_weights(seeds[subject]))
    rows = [(subject, "g", seed) for subject, seed in seeds.items()]
    write_participants(tmp_path / "participants.csv", rows)
    cohort = load_connectome_cohort(tmp_path)
    # Subjects follow the sorted file names ("sub-10_dti" < "sub-1_dti" < "sub-1_ses-2_dti").
    by_file = {name: subject for subject, name in names.items()}
    expected = [by_file[name] for name in sorted(names.values())]
    assert expected == ["sub-10", "sub-1", "sub-1_ses-2"]
    assert cohort.subjects == expected
    assert list(cohort.participants["age"]) == [seeds[s] for s in expected]
    for subject, connectome in zip(expected, cohort, strict=True):
        np.testing.assert_array_equal(connectome.weights.numpy(), random_weights(seeds[subject]))


def test_mat_key_picks_one_of_several_matrices(tmp_path):
    a, b = random_weights(1), random_weights(2)
    savemat(tmp_path / "sub-01.mat", {"sc": a, "fc": b, "names": np.arange(N)})
    write_participants(tmp_path / "participants.csv", [("sub-01", "a", 1)])
    np.testing.assert_array_equal(load_connectome(tmp_path, key="fc").weights.numpy(), b)
    np.testing.assert_array_equal(load_connectome(tmp_path, key="sc").weights.numpy(), a)


def test_load_connectome_by_id_and_by_index(mixed_folder):
    folder, weights = mixed_folder
    by_id = load_connectome(folder, "sub-02")
    np.testing.assert_array_equal(by_id.weights.numpy(), weights["sub-02"])
    assert by_id.meta["subject"] == "sub-02"
    np.testing.assert_array_equal(load_connectome(folder, 1).weights.numpy(), weights["sub-02"])
    np.testing.assert_array_equal(load_connectome(folder).weights.numpy(), weights["sub-01"])
    np.testing.assert_array_equal(load_connectome(folder, 4).weights.numpy(), weights["sub-05"])


def test_transforms_are_applied(mixed_folder):
    folder, weights = mixed_folder
    cohort = load_connectome_cohort(folder, transforms=["log1p", "normalise:max"])
    for subject, connectome in zip(cohort.subjects, cohort, strict=True):
        logged = np.log1p(weights[subject])
        np.testing.assert_allclose(connectome.weights.numpy(), logged / logged.max(), rtol=1e-12)
        assert connectome.meta["transforms"] == ["log1p", "normalise:max"]
        assert connectome.meta["subject"] == subject
    assert list(cohort.participants["age"]) == [31, 22, 33, 44, 55, 66]

    one = load_connectome(folder, "sub-03", transforms=["binarise", lambda c: c])
    np.testing.assert_array_equal(one.weights.numpy(), (weights["sub-03"] != 0).astype(float))
    assert one.meta["transforms"] == ["binarise"]


def test_cohort_transform_method(mixed_folder):
    folder, weights = mixed_folder
    cohort = load_connectome_cohort(folder)
    symmetric = cohort.transform(["symmetrise"])
    assert symmetric.subjects == cohort.subjects
    w = weights["sub-04"]
    np.testing.assert_allclose(symmetric[3].weights.numpy(), (w + w.T) / 2, rtol=1e-12)
    np.testing.assert_array_equal(cohort[3].weights.numpy(), w)  # the original is untouched


# ---------------------------------------------------------------------- bad input


def single_subject(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    write_participants(tmp_path / "participants.csv", [("sub-01", "a", 1)])
    return tmp_path


def test_non_square_matrix(tmp_path):
    folder = single_subject(tmp_path, "sub-01.csv", "1,2,3\n4,5,6\n")
    with pytest.raises(
        ValueError,
        match=r"sub-01\.csv: expected a square \(N, N\) matrix, got shape \(2, 3\)",
    ):
        load_connectome_cohort(folder)


def test_non_square_npy(tmp_path):
    np.save(tmp_path / "sub-01.npy", np.zeros((3, 4)))
    write_participants(tmp_path / "participants.csv", [("sub-01", "a", 1)])
    with pytest.raises(ValueError, match=r"sub-01\.npy: expected a square .* got shape \(3, 4\)"):
        load_connectome_cohort(tmp_path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_entries(tmp_path, bad):
    folder = single_subject(tmp_path, "sub-01.csv", f"1,2,3\n4,5,{bad}\n7,8,9\n")
    with pytest.raises(ValueError, match=rf"sub-01\.csv: expected finite weights, got {bad} at \(1, 2\)"):
        load_connectome_cohort(folder)


def test_different_region_counts(tmp_path):
    np.save(tmp_path / "sub-01.npy", random_weights(1, n=4))
    np.save(tmp_path / "sub-02.npy", random_weights(2, n=5))
    np.save(tmp_path / "sub-03.npy", random_weights(3, n=4))
    write_participants(tmp_path / "participants.csv", [(f"sub-0{k}", "a", k) for k in (1, 2, 3)])
    with pytest.raises(
        ValueError,
        match=r"same number of regions.*4 regions: sub-01, sub-03; 5 regions: sub-02",
    ):
        load_connectome_cohort(tmp_path)


def test_participants_missing_a_subject(mixed_folder):
    folder, _ = mixed_folder
    write_participants(folder / "participants.csv", [row for row in PARTICIPANTS if row[0] != "sub-04"])
    with pytest.raises(ValueError, match=r"no row for 1 subject file\(s\).*sub-04_dti\.tsv"):
        load_connectome_cohort(folder)


def test_missing_subject_column(mixed_folder):
    folder, _ = mixed_folder
    with pytest.raises(ValueError, match=r"subject_column: expected a column 'subject' in participants\.csv"):
        load_connectome_cohort(folder, subject_column="subject")


def test_duplicate_subject_ids(tmp_path):
    np.save(tmp_path / "sub-01.npy", random_weights(1))
    write_participants(tmp_path / "participants.csv", [("sub-01", "a", 1), ("sub-01", "b", 2)])
    with pytest.raises(ValueError, match="more than once"):
        load_connectome_cohort(tmp_path)


def test_mat_with_two_square_matrices_needs_a_key(tmp_path):
    savemat(tmp_path / "sub-01.mat", {"sc": random_weights(1), "fc": random_weights(2)})
    write_participants(tmp_path / "participants.csv", [("sub-01", "a", 1)])
    with pytest.raises(ValueError, match=r"sub-01\.mat holds square matrices .*'sc'.*; name one with key="):
        load_connectome_cohort(tmp_path)
    with pytest.raises(ValueError, match=r"key: expected one of \['fc', 'sc'\] in sub-01\.mat, got 'dti'"):
        load_connectome_cohort(tmp_path, key="dti")


def test_folder_without_matrices(tmp_path):
    write_participants(tmp_path / "participants.csv", [("sub-01", "a", 1)])
    (tmp_path / "notes.md").write_text("nothing here\n")
    with pytest.raises(ValueError, match=r"path: expected per-subject matrices \(\.csv.*\) in"):
        load_connectome_cohort(tmp_path)


def test_folder_without_participants_table(tmp_path):
    np.save(tmp_path / "sub-01.npy", random_weights(1))
    with pytest.raises(ValueError, match=r"no participants\.tsv / \.csv in .*; pass participants="):
        load_connectome_cohort(tmp_path)


@pytest.mark.parametrize("name", ["hcpp", "HCP", "no/such/folder"])
def test_unknown_dataset_or_missing_folder(tmp_path, name):
    with pytest.raises(
        ValueError, match=r"name: expected one of \('hcp', 'gw', 'mice', 'hagmann66', 'adhd_frontal'\)"
    ):
        load_connectome_cohort(name)
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=r"or an existing folder, got '.*nope'"):
        load_connectome(missing)


def test_a_file_is_not_a_folder(tmp_path):
    path = tmp_path / "sub-01.csv"
    np.savetxt(path, random_weights(1), delimiter=",")
    with pytest.raises(ValueError, match="an existing folder"):
        load_connectome_cohort(path)


@pytest.mark.parametrize("index", [6, 100, -1, -7])
def test_load_connectome_index_out_of_range(mixed_folder, index):
    folder, _ = mixed_folder  # negative positions too: -1 is not read as the last subject
    with pytest.raises(ValueError, match=rf"subject: expected a position in \[0, 6\).*got {index}"):
        load_connectome(folder, index)


def test_load_connectome_unknown_id(mixed_folder):
    folder, _ = mixed_folder
    with pytest.raises(ValueError, match=r"subject: expected one of \['sub-01', .*'sub-06'\], got 'sub-99'"):
        load_connectome(folder, "sub-99")


def test_bad_transforms_fail_before_returning(mixed_folder):
    folder, _ = mixed_folder
    with pytest.raises(TypeError, match="got the string 'log1p'"):
        load_connectome_cohort(folder, transforms="log1p")
    with pytest.raises(ValueError, match="unknown transform 'log2'"):
        load_connectome(folder, 0, transforms=["log2"])


def test_loaded_connectome_round_trips_through_save(mixed_folder, tmp_path):
    folder, weights = mixed_folder
    connectome = load_connectome(folder, "sub-06")
    connectome.save(tmp_path / "saved.npz")
    again = Connectome.load(tmp_path / "saved.npz")
    np.testing.assert_array_equal(again.weights.numpy(), weights["sub-06"])
    assert again.meta == connectome.meta
