"""Recording files that cannot be used: one ValueError naming the file, never a pickle hint."""

import warnings

import numpy as np
import pytest

from ccnn.data import ActivityDataModule, Recording, simulate_assembly
from ccnn.data.activity.recording import lag1_correlations


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """40 neurons, 600 frames, saved without ground truth (a user's recording)."""
    rec = simulate_assembly(n_neurons=40, n_frames=600, seed=0, progress=False)
    folder = tmp_path_factory.mktemp("files")
    path = folder / "activity_only.npz"
    np.savez(path, activity=rec.activity, dt=np.float32(rec.dt))
    return rec, path


def test_truncated_npz_names_the_file_and_says_truncated(simulated, tmp_path):
    _, path = simulated
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 100):  # lost its directory; lost part of a member
        broken = tmp_path / f"cut{cut}.npz"
        broken.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"{broken.name}: not a readable \.npz recording: .*truncated"):
            Recording.load(broken)


def test_a_text_file_or_a_pickle_is_refused_without_suggesting_allow_pickle(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("frame,neuron\n1,2\n")
    with pytest.raises(ValueError, match=r"notes\.npz: .*not a zip archive") as error:
        Recording.load(text)
    assert "allow_pickle" not in str(error.value)
    objects = tmp_path / "objects.npz"
    np.savez(objects, activity=np.array([{"x": 1}] * 4, dtype=object), dt=0.1)
    with pytest.raises(ValueError, match=r"objects\.npz: .*Python objects \(a pickle\)") as error:
        Recording.load(objects)
    assert "allow_pickle" not in str(error.value)
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:  # np.save to a handle keeps the .npz name
        np.save(handle, np.zeros((10, 3), np.float32))
    with pytest.raises(ValueError, match=r"single \.npy array, not an archive"):
        Recording.load(single)


def test_a_damaged_npy_in_a_recording_folder_is_named(simulated, tmp_path):
    rec, _ = simulated
    folder = rec.save_dir(tmp_path / "entry")
    (folder / "activity.npy").write_bytes((folder / "activity.npy").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"activity\.npy: not a readable recording array"):
        Recording.load(folder)


@pytest.mark.parametrize("allow_short", [False, True])
def test_an_empty_recording_is_empty_not_transposed(tmp_path, allow_short):
    path = tmp_path / "empty.npz"
    np.savez(path, activity=np.zeros((0, 50), np.float32), dt=0.01)
    with pytest.raises(
        ValueError, match=r"empty\.npz: activity: .*got shape \(0, 50\): an empty recording"
    ) as e:
        Recording.load(path, allow_short=allow_short)
    assert "transposed" not in str(e.value)
    # the datamodule fails when the file is first read, not later inside training
    with pytest.raises(ValueError, match="an empty recording"):
        _ = ActivityDataModule(path, allow_short=allow_short).n_neurons


def test_too_few_frames_for_the_split_fail_on_first_read(tmp_path):
    path = tmp_path / "short.npz"
    np.savez(path, activity=np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32), dt=0.01)
    datamodule = ActivityDataModule(path, gap=10)
    with pytest.raises(ValueError, match="leave no training frames"):
        _ = datamodule.n_neurons  # what train.py reads to build the model: before any logger starts


def test_transposed_activity_without_ground_truth_warns(simulated, tmp_path):
    rec, _ = simulated
    # 40 neurons × 30 frames saved as [N, T]: N > T, so it reads as 40 frames of 30 neurons
    transposed = tmp_path / "transposed.npz"
    np.savez(transposed, activity=rec.activity[:30].T.copy(), dt=0.01)
    with pytest.warns(UserWarning, match=r"looks transposed \(\[N, T\]\).*consecutive columns correlate"):
        Recording.load(transposed)
    # a neuron count that the user passes turns it into an error
    with pytest.raises(ValueError, match=r"looks transposed.*N = 40 from expected_neurons"):
        Recording.load(transposed, expected_neurons=40)
    with pytest.raises(ValueError, match=r"looks transposed"):
        _ = ActivityDataModule(transposed, expected_neurons=40, gap=1).n_neurons
    with pytest.raises(
        ValueError, match=r"expected 41 neurons \(from expected_neurons\), got shape \(40, 30\)"
    ):
        Recording.load(transposed, expected_neurons=41)
    # a ground-truth key that fixes N does the same: positions of 40 neurons
    np.savez(transposed, activity=rec.activity[:30].T.copy(), dt=0.01, positions=np.zeros((40, 2)))
    with pytest.raises(ValueError, match=r"looks transposed.*N = 40 from positions"):
        Recording.load(transposed)


def test_correctly_oriented_recordings_do_not_warn(simulated):
    _, path = simulated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recording.load(path)  # smooth in time: no warning
        noise = np.random.default_rng(0).poisson(0.2, (500, 60)).astype(np.float32)
        Recording(activity=noise, dt=0.001)  # binned spikes: rough both ways, no warning
        Recording.load(path, expected_neurons=40)


def test_lag1_correlations_match_a_hand_calculation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5))
    centred = x - x.mean(0)
    expected_rows = (centred[:-1] * centred[1:]).sum() / (centred**2).sum()
    centred_t = x.T - x.T.mean(0)
    expected_columns = (centred_t[:-1] * centred_t[1:]).sum() / (centred_t**2).sum()
    rows, columns = lag1_correlations(x)
    assert rows == pytest.approx(expected_rows) and columns == pytest.approx(expected_columns)
    # a slow sine is smooth down the rows: correlation near 1
    t = np.linspace(0, 2 * np.pi, 400)[:, None] + np.arange(8)[None, :]
    assert lag1_correlations(np.sin(t))[0] > 0.99
