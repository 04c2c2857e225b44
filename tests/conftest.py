import pytest
import torch

from ccnn.data import simulate_assembly

#: Trainer settings for tests: CPU, no logger, checkpoints, progress bar or summary.
QUIET = {
    "accelerator": "cpu",
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}

#: (g, s, c) of three neuron types for the small test assemblies.
SMALL_TYPES = [[10, 1, 1], [10, 2, 1], [10, 1, 2]]


@pytest.fixture(scope="session")
def small_recording(tmp_path_factory):
    """100 neurons, 3 types, 2·10⁴ frames (under a second to simulate), saved once per session."""
    path = tmp_path_factory.mktemp("rec") / "small.npz"
    recording = simulate_assembly(
        n_neurons=100, n_frames=20_000, seed=1, type_params=SMALL_TYPES, progress=False
    )
    recording.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_cohort_folder(tmp_path_factory):
    """12 subjects × 10 regions as CSV files plus participants.csv; the two groups differ
    in one block of connections (so a graph model can learn the group)."""
    import numpy as np

    folder = tmp_path_factory.mktemp("cohort")
    rng = np.random.default_rng(0)
    rows = ["participant_id,group,age"]
    for subject in range(12):
        group = subject % 2
        weights = rng.uniform(0, 1, (10, 10)) * (rng.uniform(0, 1, (10, 10)) < 0.6)
        weights[:5, :5] += 2.0 * group
        weights = (weights + weights.T) / 2
        np.fill_diagonal(weights, 0)
        np.savetxt(folder / f"sub-{subject:02d}_dwi.csv", weights, delimiter=",")
        rows.append(f"sub-{subject:02d},{'patient' if group else 'control'},{20 + subject}")
    (folder / "participants.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def one_thread():
    """Small models: one torch thread is faster, and two collapse when another process shares
    the cores. Restores the thread count afterwards (tests must not leak global state)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
