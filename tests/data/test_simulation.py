import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from ccnn.data import (
    BASELINE_TYPE_PARAMS,
    Connectome,
    Recording,
    lorentz_connectivity,
    procedural_movie,
    simulate_assembly,
    simulate_assembly_trials,
    type_grid,
)
from ccnn.data.activity.cache import cached_recording, config_key
from ccnn.data.activity.simulation import lorentz_scaling_exponent

ROOT = Path(__file__).resolve().parents[2]


def small(**kwargs):
    args = {"n_neurons": 48, "n_frames": 60, "warmup": 20, "progress": False, "seed": 3}
    return simulate_assembly(**{**args, **kwargs})


def reference_rhs(rec: Recording, frame: int) -> np.ndarray:
    """f(x_t) from the saved ground truth alone, in float64, edge by edge."""
    x = rec.activity[frame].astype(np.float64)
    g, s, c = rec.neuron_params.astype(np.float64).T
    w = rec.connectivity.astype(np.float64)
    name = rec.transfer["name"]
    # The saturating functions written out by hand (not through the library's grammar).
    by_hand = {
        "tanh(x)": np.tanh,
        "softsign(x/2)": lambda u: (u / 2) / (1 + np.abs(u / 2)),
        "rectified_tanh(x)": lambda u: np.maximum(np.tanh(u), 0),
        "tanh(x/3)": lambda u: np.tanh(u / 3),
    }
    f = by_hand[rec.transfer.get("phi_function", "tanh(x)")]
    h = by_hand[rec.transfer.get("psi_function", "tanh(x)")]
    if name == "tanh":
        psi = np.broadcast_to(h(x)[None, :], w.shape)
    else:
        gamma = np.asarray(rec.transfer["gamma"])[rec.types]
        if name == "transmitters":
            psi = np.broadcast_to(h(x / gamma)[None, :], w.shape)
        else:  # psi_ij = h(x_j / gamma_i) - theta_j x_j
            theta = np.log(gamma) / 50
            psi = h(x[None, :] / gamma[:, None]) - (theta * x)[None, :]
    omega = 1.0 if rec.stimulus is None else rec.stimulus[frame].astype(np.float64)
    return -c * x + s * f(x) + g * omega * (w * psi).sum(1)


# --------------------------------------------------------------------- the dynamics
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"transfer": "transmitters"},
        {"transfer": "neuron_neuron", "gamma": [1.0, 3.0, 2.0, 8.0]},
        {
            "transfer": "transmitters",
            "stimulus": "procedural",
            "stimulus_grid": 5,
            "steps_per_movie_frame": 3,
        },
        {"type_params": type_grid(), "types": np.random.default_rng(0).integers(0, 32, 48)},
        {"phi_function": "softsign(x/2)", "psi_function": "rectified_tanh(x)"},
        {"transfer": "transmitters", "phi_function": "tanh(x/3)", "psi_function": "softsign(x/2)"},
    ],
    ids=[
        "tanh",
        "transmitters",
        "neuron_neuron",
        "stimulus",
        "32_types_scattered",
        "softsign_phi_rectified_psi",
        "transmitters_of_softsign",
    ],
)
def test_every_noise_free_step_is_an_euler_step_of_the_saved_system(kwargs):
    rec = small(**kwargs)
    x = rec.activity.astype(np.float64)
    for t in range(rec.n_frames - 1):
        expected = reference_rhs(rec, t)
        scale = 1e-3 * (1 + np.abs(expected).max())
        np.testing.assert_allclose((x[t + 1] - x[t]) / rec.dt, expected, rtol=1e-3, atol=scale)
        np.testing.assert_allclose(
            rec.derivative[t], expected, rtol=1e-4, atol=1e-4 * (1 + np.abs(expected).max())
        )


def test_without_coupling_each_neuron_follows_its_own_ode():
    # W = 0: dx/dt = -c x + s tanh x, one scalar ODE per neuron. Euler is first order:
    # its error against solve_ivp must be small and halve when dt halves.
    n, horizon = 8, 2.0
    errors = []
    for dt in (0.01, 0.005):
        rec = simulate_assembly(
            n_neurons=n,
            n_frames=int(horizon / dt) + 1,
            dt=dt,
            warmup=0,
            connectivity=np.zeros((n, n)),
            initial_std=3.0,
            seed=0,
            progress=False,
        )
        _, s, c = rec.neuron_params.T
        times = np.arange(rec.n_frames) * dt
        worst = 0.0
        for i in range(n):
            exact = solve_ivp(
                lambda _, y, c_i=c[i], s_i=s[i]: -c_i * y + s_i * np.tanh(y),
                (0, times[-1]),
                [float(rec.activity[0, i])],
                t_eval=times,
                rtol=1e-10,
                atol=1e-12,
            ).y[0]
            worst = max(worst, float(np.abs(rec.activity[:, i] - exact).max()))
        errors.append(worst)
    assert errors[0] < 0.05
    assert 1.6 < errors[0] / errors[1] < 2.4


def test_process_noise_is_added_after_each_step():
    rec = small(noise=0.5)
    residual = (rec.activity[1:] - rec.activity[:-1]) - rec.dt * rec.derivative[:-1]
    # The increment minus dt f(x_t) is the noise itself: N(0, σ²), not scaled by √dt.
    assert abs(residual.std() - 0.5) < 0.05
    assert abs(residual.mean()) < 0.05
    for t in (0, 17, 58):
        np.testing.assert_allclose(rec.derivative[t], reference_rhs(rec, t), rtol=1e-4, atol=1e-3)


def test_same_seed_same_recording_and_seed_matters():
    a, b, c = small(seed=1), small(seed=1), small(seed=2)
    for key in ("activity", "derivative", "connectivity", "types", "neuron_params"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.activity, c.activity)


def test_defaults_are_the_published_baseline():
    rec = small(n_neurons=40)
    np.testing.assert_array_equal(np.bincount(rec.types), [10, 10, 10, 10])
    np.testing.assert_array_equal(
        np.unique(rec.neuron_params, axis=0), np.array(sorted(BASELINE_TYPE_PARAMS))
    )
    assert rec.dt == 0.01 and rec.transfer == {"name": "tanh"} and rec.meta["warmup"] == 20


def test_batched_trials_share_the_system_and_match_single_runs_before_chaos():
    trials = simulate_assembly_trials(3, n_neurons=32, n_frames=20, warmup=0, seed=5, progress=False)
    single = simulate_assembly(n_neurons=32, n_frames=20, warmup=0, seed=5, progress=False)
    assert len(trials) == 3
    for rec in trials:
        np.testing.assert_array_equal(rec.connectivity, trials[0].connectivity)
    assert not np.allclose(trials[0].activity, trials[1].activity)  # own initial state
    np.testing.assert_allclose(trials[0].activity, single.activity, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------- connectivity
def test_lorentz_construction_matches_the_truncated_cauchy():
    n = 1000
    w = lorentz_connectivity(n, seed=0).double().numpy()
    assert np.all(np.diag(w) == 0)
    bound = 25 / n**0.7
    assert np.abs(w).max() <= bound + 1e-7
    assert np.abs(w).max() > 0.99 * bound  # max|W| ≈ 0.2 at N = 1000
    # |Cauchy| truncated at 25 has CDF atan(x) / atan(25): median tan(atan(25) / 2).
    scaled = np.abs(w[w != 0]) * n**0.7
    assert abs(np.median(scaled) - math.tan(math.atan(25) / 2)) < 0.01
    kept_fraction = (w != 0).sum() / (n * (n - 1))
    assert abs(kept_fraction - 2 / math.pi * math.atan(25)) < 0.002


@pytest.mark.parametrize(
    ("n", "exponent"), [(100, 0.7), (1999, 0.7), (2000, 0.675), (4000, 0.67), (8000, 0.66)]
)
def test_lorentz_scaling_exponents(n, exponent):
    assert lorentz_scaling_exponent(n) == exponent


@pytest.mark.parametrize("ff", [0.05, 0.3])
def test_filling_factor_gives_the_requested_density(ff):
    n = 600
    w = lorentz_connectivity(n, ff=ff, seed=1).numpy()
    expected = ff * (2 / math.pi * math.atan(25)) * (n - 1) / n  # kept, not truncated, off-diagonal
    sigma = math.sqrt(expected * (1 - expected) / n**2)
    assert abs((w != 0).mean() - expected) < 5 * sigma


def test_user_connectivity_and_connectome_are_used_as_given():
    gen = np.random.default_rng(0)
    w = gen.normal(size=(20, 20)) * 0.1
    np.fill_diagonal(w, 0)
    a = small(n_neurons=20, connectivity=w)
    b = small(n_neurons=20, connectivity=Connectome(w))
    np.testing.assert_allclose(a.connectivity, w.astype(np.float32))
    np.testing.assert_array_equal(a.activity, b.activity)


# --------------------------------------------------------------------- types and stimuli
def test_type_grid_is_the_32_type_table():
    table = np.array(type_grid())
    assert table.shape == (32, 3)
    assert set(map(tuple, table[:, 1:])) == {(s, c) for s in range(1, 9) for c in range(1, 5)}
    assert np.all(table[:, 0] == 10)


def test_types_can_be_assigned_per_neuron():
    types = np.random.default_rng(1).integers(0, 4, 48)
    rec = small(types=types)
    np.testing.assert_array_equal(rec.types, types)
    np.testing.assert_array_equal(rec.neuron_params, np.asarray(BASELINE_TYPE_PARAMS, np.float32)[types])


def test_stimulus_reads_the_movie_at_each_neuron_position():
    movie = procedural_movie(n_frames=10, size=16, seed=4).numpy()
    rec = small(stimulus=movie, stimulus_grid=4, steps_per_movie_frame=7)
    grid = rec.positions[:16]
    assert np.isnan(rec.positions[16:]).all() and np.isfinite(grid).all()
    rows = np.round(grid[:, 1] * 15).astype(int)
    cols = np.round(grid[:, 0] * 15).astype(int)
    for t in (0, 6, 7, 59):
        np.testing.assert_allclose(rec.stimulus[t, :16], movie[(t // 7) % 10, rows, cols])
        assert np.all(rec.stimulus[t, 16:] == 1)


def test_procedural_movie_is_deterministic_and_in_range():
    a, b = procedural_movie(seed=2), procedural_movie(seed=2)
    assert torch.equal(a, b) and a.shape == (256, 32, 32)
    assert float(a.min()) == pytest.approx(0.7) and float(a.max()) == pytest.approx(1.2)
    assert not torch.equal(a, procedural_movie(seed=3))
    assert float(a.std(0).min()) > 0.01  # every pixel varies over time


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"connectivity": np.zeros((5, 5))}, r"connectivity: expected shape \(48, 48\)"),
        ({"connectivity": "random"}, "connectivity: expected 'lorentz'"),
        ({"types": np.full(48, 4)}, r"types: expected indices in \[0, 3\]"),
        ({"types": np.zeros(48)}, "types: expected integer"),
        ({"transfer": "sigmoid"}, "transfer: expected one of"),
        ({"transfer": "transmitters", "gamma": [1, 2]}, "gamma: expected 4 positive values"),
        ({"transfer": "transmitters", "type_params": type_grid()}, "gamma: required"),
        ({"noise": -1.0}, "noise: expected a non-negative"),
        ({"dt": 0.0}, "dt: expected a positive"),
        ({"ff": 0.0}, r"ff: expected a value in \(0, 1\]"),
        ({"stimulus": np.ones((4, 4))}, r"stimulus: expected shape \(any, any, any\)"),
        ({"stimulus": "procedural", "stimulus_grid": 7}, "stimulus_grid: a 7x7 grid needs 49 neurons"),
        ({"type_params": [[1, 2]]}, r"type_params: expected shape \(any, 3\)"),
        ({"n_frames": 1}, "n_frames: expected an int >= 2"),
        ({"psi_function": "swish(x)"}, "psi_function: cannot read 'swish\\(x\\)'"),
        ({"phi_function": "sp1(x)"}, "phi_function: expected a named term"),
    ],
)
def test_bad_simulation_arguments_raise_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small(**kwargs)


# --------------------------------------------------------------------- the recording format
def test_recording_round_trip_is_exact_and_atomic(tmp_path):
    rec = small(transfer="transmitters", stimulus="procedural", stimulus_grid=4, noise=0.1)
    path = rec.save(tmp_path / "rec.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["rec.npz"]
    back = Recording.load(path)
    for key in ("activity", "derivative", "connectivity", "types", "neuron_params", "positions", "stimulus"):
        np.testing.assert_array_equal(getattr(back, key), getattr(rec, key))
        assert getattr(back, key).dtype == getattr(rec, key).dtype
    assert back.dt == rec.dt and back.transfer == rec.transfer and back.meta == rec.meta
    with np.load(path) as data:
        assert data["activity"].dtype == np.float32 and data["activity"].shape == (60, 48)


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_load_reports_missing_keys_dtypes_and_non_finite_values(tmp_path):
    activity = np.zeros((50, 4), np.float32)
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['activity'\]; found keys \['dt'\]"):
        Recording.load(write_npz(tmp_path / "a.npz", dt=0.1))
    with pytest.raises(ValueError, match="activity: expected a float array"):
        Recording.load(write_npz(tmp_path / "b.npz", activity=np.full((50, 4), "x"), dt=0.1))
    bad = activity.copy()
    bad[7, 2] = np.nan
    bad[9, 0] = np.inf
    with pytest.raises(
        ValueError,
        match=r"activity: expected finite values, got 2 NaN/inf entries \(first at index \(7, 2\)\)",
    ):
        Recording.load(write_npz(tmp_path / "c.npz", activity=bad, dt=0.1))
    with pytest.raises(ValueError, match=r"derivative: expected shape \(50, 4\), got \(49, 4\)"):
        Recording.load(write_npz(tmp_path / "d.npz", activity=activity, dt=0.1, derivative=activity[1:]))
    with pytest.raises(ValueError, match="dt: expected a positive finite scalar"):
        Recording.load(write_npz(tmp_path / "e.npz", activity=activity, dt=-1.0))
    with pytest.raises(ValueError, match="types: expected an int array"):
        Recording.load(write_npz(tmp_path / "f.npz", activity=activity, dt=0.1, types=np.zeros(4)))
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        garbage = tmp_path / "g.npz"
        garbage.write_text("garbage")
        Recording.load(garbage)


def test_transposed_activity_gets_a_hint(tmp_path):
    # Stored as [N, T] with N = 100 > T = 30: only another key that fixes N can tell.
    many_neurons = np.zeros((100, 30), np.float32)
    with pytest.raises(ValueError, match=r"looks transposed \(\[N, T\]\); save activity.T"):
        Recording.load(write_npz(tmp_path / "t.npz", activity=many_neurons, dt=0.1, types=np.zeros(100, int)))
    # Stored as [N, T] with N = 30 < T = 100 (regions × time): read as 30 frames of 100 neurons.
    regions_by_time = np.zeros((30, 100), np.float32)
    with pytest.raises(ValueError, match=r"looks transposed.*allow_short=True"):
        Recording.load(write_npz(tmp_path / "u.npz", activity=regions_by_time, dt=0.1))
    short = Recording.load(tmp_path / "u.npz", allow_short=True)  # if it really is 30 frames
    assert short.n_frames == 30


def test_positions_may_be_nan_but_not_inf():
    Recording(
        activity=np.zeros((10, 2), np.float32), dt=1.0, positions=np.array([[0.0, 1.0], [np.nan, np.nan]])
    )
    with pytest.raises(ValueError, match="positions: expected finite values, got 1 inf"):
        Recording(activity=np.zeros((10, 2), np.float32), dt=1.0, positions=np.array([[0.0, np.inf], [0, 0]]))


# --------------------------------------------------------------------- cache and command line
def test_cache_builds_once_and_regenerates_corrupted_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("CCNN_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return small()

    config = {"n_neurons": 48, "note": "test"}
    first, folder = cached_recording(config, build)
    second, _ = cached_recording(dict(reversed(config.items())), build)  # key order does not matter
    assert len(calls) == 1 and config_key(config) == folder.name
    np.testing.assert_array_equal(first.activity, second.activity)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"activity.npy", "derivative.npy", "connectivity.npy"}
    with open(folder / "activity.npy", "r+b") as handle:  # truncate: a crashed copy
        handle.truncate(100)
    with pytest.warns(UserWarning, match="fails its checksum; regenerating"):
        third, _ = cached_recording(config, build)
    assert len(calls) == 2
    np.testing.assert_array_equal(third.activity, first.activity)
    (folder / "derivative.npy").write_bytes(b"\x00" * (folder / "derivative.npy").stat().st_size)  # same size
    with pytest.warns(UserWarning, match="checksum"):
        cached_recording(config, build)
    assert len(calls) == 3
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folders


def run_cli(args, cache):
    env = {**os.environ, "CCNN_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "ccnn.data.activity.simulate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line_writes_a_recording_from_a_config(tmp_path):
    out = tmp_path / "rec.npz"
    overrides = ["--n_neurons", "40", "--n_frames", "50", "--warmup", "5"]
    result = run_cli(
        ["--config", "configs/simulation/noise.yaml", *overrides, "--out", str(out)], tmp_path / "c"
    )
    assert result.returncode == 0, result.stderr
    rec = Recording.load(out)
    assert rec.n_neurons == 40 and rec.n_frames == 50 and rec.meta["noise"] == 7.2
    entries = list((tmp_path / "c" / "simulations").iterdir())
    assert len(entries) == 1
    again = run_cli(
        ["--config", "configs/simulation/noise.yaml", *overrides, "--out", str(tmp_path / "b.npz")],
        tmp_path / "c",
    )
    assert again.returncode == 0
    np.testing.assert_array_equal(Recording.load(tmp_path / "b.npz").activity, rec.activity)


@pytest.mark.parametrize(
    "config", sorted((ROOT / "configs" / "simulation").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_simulation_config_parses_and_runs_small(config):
    from ccnn.data.activity.simulate import config_from_args, simulate_from_config, simulation_parser

    settings = config_from_args(simulation_parser().parse_args(["--config", str(config), "--out", "x.npz"]))
    settings.update(n_neurons=64, n_frames=10, warmup=2)
    if settings["stimulus"] is not None:
        settings["stimulus_grid"] = 4
    rec = simulate_from_config(settings, use_cache=False)
    assert rec.n_neurons == 64 and np.isfinite(rec.activity).all()


def test_simulation_is_float32_whatever_the_default_dtype():
    reference = small(transfer="neuron_neuron", noise=0.1)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        under_float64 = small(transfer="neuron_neuron", noise=0.1)
        stimulated = small(stimulus="procedural", stimulus_grid=4)
    finally:
        torch.set_default_dtype(default)
    assert under_float64.activity.dtype == np.float32 and stimulated.stimulus.dtype == np.float32
    np.testing.assert_array_equal(under_float64.activity, reference.activity)  # the same system, bit for bit


def test_other_functions_are_stored_and_the_paper_s_keep_the_old_spec():
    rec = small(phi_function="softsign(x/2)", psi_function="tanh(x / 3)")
    assert rec.transfer == {"name": "tanh", "phi_function": "softsign(x/2)", "psi_function": "tanh(x/3)"}
    assert small().transfer == {"name": "tanh"}


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"transfer": "neuron_neuron"}, {"phi_function": "rectified_tanh(x)", "psi_function": "softsign(x)"}],
    ids=["fast_path", "neuron_neuron", "other_functions"],
)
def test_the_evaluation_s_equations_are_the_simulator_s(kwargs):
    """One definition: TrueDynamics (what evaluation uses) gives the stored derivative, for the
    fast baseline kernel and the general path alike."""
    from ccnn.data.activity.ground_truth import TrueDynamics

    rec = small(**kwargs)
    derivative = TrueDynamics(rec).derivative(torch.as_tensor(rec.activity, dtype=torch.float64))
    np.testing.assert_allclose(derivative.numpy(), rec.derivative, rtol=1e-4, atol=1e-4)
