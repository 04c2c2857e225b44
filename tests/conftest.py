import pytest

from ccnn.data import simulate_assembly

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
