"""Simulated neural assemblies (Allier, Heinrich, Schneider & Saalfeld 2026).

The "PDE_N2" family of rate networks, integrated with Euler steps:

.. math::
    \\dot x_i = -c_i x_i + s_i \\tanh(x_i) + g_i\\, \\Omega_i(t) \\sum_j W_{ij}\\, \\psi_{ij}(x_j)

Neuron types set :math:`(g_i, s_i, c_i)`; the transfer function :math:`\\psi` is
``tanh(x_j)`` (baseline), ``tanh(x_j / γ_j)`` ("transmitters", sender-dependent) or
``tanh(x_j / γ_i) − θ_j x_j`` with :math:`\\theta_j = \\ln(\\gamma_j) / 50` ("neuron-neuron",
receiver-dependent); :math:`\\Omega` is a multiplicative external stimulus sampled from a
movie by neurons placed on a grid. Process noise :math:`\\sigma\\,\\mathcal N(0, 1)` is
added after each step (not scaled by :math:`\\sqrt{dt}`), and the stored training target is
the noise-free right-hand side at each stored state. ``phi_function`` and ``psi_function``
replace tanh in the self-excitation and in ψ by other saturating functions (recordings of the
same family whose functions the paper's libraries do not contain). The equations are defined
once, in :mod:`ccnn.data.activity.ground_truth`.

Reference: "Graph neural networks uncover structure and functions underlying the activity
of simulated neural assemblies", arXiv 2602.13325 (2026).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import (
    as_tensor,
    check_finite,
    check_probability,
    check_shape,
    describe,
    resolve_generator,
)
from ccnn.data.activity.ground_truth import DEFAULT_FUNCTION, AssemblyEquations, saturating_function
from ccnn.data.activity.movies import procedural_movie
from ccnn.data.activity.recording import Recording

__all__ = [
    "BASELINE_TYPE_PARAMS",
    "TRANSFER_FUNCTIONS",
    "lorentz_connectivity",
    "simulate_assembly",
    "simulate_assembly_trials",
    "type_grid",
]

#: (g, s, c) of the four neuron types of the published baseline.
BASELINE_TYPE_PARAMS: tuple[tuple[float, float, float], ...] = (
    (10, 1, 1),
    (10, 2, 1),
    (10, 1, 2),
    (10, 2, 2),
)
TRANSFER_FUNCTIONS = ("tanh", "transmitters", "neuron_neuron")
_CHUNK = 1000  # steps per progress update / per device-to-host copy
# Recordings are float32 (the file format): every tensor here is, whatever the default dtype.
F32 = torch.float32


def type_grid(
    s_values: Sequence[float] = range(1, 9), c_values: Sequence[float] = range(1, 5), g: float = 10.0
) -> list[tuple[float, float, float]]:
    """(g, s, c) for every combination of s and c: the published 32-type grid by default."""
    return [(float(g), float(s), float(c)) for s in s_values for c in c_values]


def lorentz_scaling_exponent(n_neurons: int) -> float:
    """Exponent of the N-dependent scaling of the Lorentz connectivity (as published)."""
    if n_neurons < 2000:
        return 0.7
    if n_neurons < 4000:
        return 0.675
    if n_neurons < 8000:
        return 0.67
    return 0.66


def lorentz_connectivity(
    n_neurons: int,
    *,
    ff: float = 1.0,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> Tensor:
    r"""The published heavy-tailed ("Lorentz") random connectivity, (N, N) float32.

    :math:`W_{ij}` are standard Cauchy samples, those with :math:`|W_{ij}| > 25` set to 0,
    divided by :math:`N^{a}` (:math:`a` = 0.7 for N < 2000, 0.675 for N < 4000, 0.67 for
    N < 8000, 0.66 otherwise), with a zero diagonal. With a filling factor ``ff`` < 1,
    each entry is kept with probability ``ff``, without rescaling.
    """
    gen = resolve_generator(generator, seed)
    ff = check_probability(ff, "ff", allow_zero=False)
    u = torch.rand(n_neurons, n_neurons, generator=gen, dtype=torch.float64)
    weights = torch.tan(math.pi * (u - 0.5))  # inverse CDF of the standard Cauchy
    weights[weights.abs() > 25] = 0.0
    weights /= n_neurons ** lorentz_scaling_exponent(n_neurons)
    weights.fill_diagonal_(0.0)
    if ff < 1.0:
        weights *= torch.rand(n_neurons, n_neurons, generator=gen, dtype=torch.float64) < ff
    return weights.float()


def _resolve_types(types: Any, n_neurons: int, n_types: int) -> Tensor:
    if types is None:
        # Contiguous blocks of (near-)equal size, as in the published baseline.
        return torch.arange(n_neurons) * n_types // n_neurons
    tensor = as_tensor(types, "types")
    check_shape(tensor, (n_neurons,), "types", meaning="(n_neurons,)")
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise ValueError(f"types: expected integer type indices, got dtype {tensor.dtype}")
    if bool((tensor < 0).any()) or bool((tensor >= n_types).any()):
        raise ValueError(
            f"types: expected indices in [0, {n_types - 1}] (one per row of type_params), "
            f"got values from {int(tensor.min())} to {int(tensor.max())}"
        )
    return tensor.long()


def _resolve_connectivity(connectivity: Any, n_neurons: int, ff: float, gen: torch.Generator) -> Tensor:
    if connectivity is None or (isinstance(connectivity, str) and connectivity == "lorentz"):
        return lorentz_connectivity(n_neurons, ff=ff, generator=gen)
    if isinstance(connectivity, str):
        raise ValueError(f"connectivity: expected 'lorentz', a matrix or a Connectome, got {connectivity!r}")
    if not isinstance(connectivity, Tensor | np.ndarray | list) and hasattr(connectivity, "weights"):
        connectivity = connectivity.weights  # a ccnn.data.Connectome
    weights = as_tensor(connectivity, "connectivity").detach().cpu().float()
    check_shape(weights, (n_neurons, n_neurons), "connectivity", meaning="(n_neurons, n_neurons)")
    check_finite(weights, "connectivity")
    if ff < 1.0:
        weights = weights * (torch.rand(n_neurons, n_neurons, generator=gen, dtype=F32) < ff)
    return weights


def _transfer_spec(
    transfer: str, gamma: Sequence[float] | None, n_types: int, phi_function: str, psi_function: str
) -> dict[str, Any]:
    if transfer not in TRANSFER_FUNCTIONS:
        raise ValueError(f"transfer: expected one of {TRANSFER_FUNCTIONS}, got {transfer!r}")
    # Only functions other than the paper's are stored: recordings of the paper's model keep
    # their spec as before.
    functions = {}
    for name, term in (("phi_function", phi_function), ("psi_function", psi_function)):
        saturating_function(term, name)  # one clear error for a term the grammar cannot read
        if term.replace(" ", "") != DEFAULT_FUNCTION:
            functions[name] = term.replace(" ", "")
    if transfer == "tanh":
        return {"name": "tanh", **functions}
    if gamma is None:
        gamma = [2.0**k for k in range(n_types)] if n_types <= 4 else None
        if gamma is None:
            raise ValueError(f"gamma: required for transfer={transfer!r} with {n_types} types, got None")
    gamma = [float(v) for v in gamma]
    if len(gamma) != n_types or any(not (v > 0 and math.isfinite(v)) for v in gamma):
        raise ValueError(f"gamma: expected {n_types} positive values (one per type), got {gamma}")
    return {"name": transfer, "gamma": gamma, **functions}


def _resolve_stimulus(
    stimulus: Any, n_neurons: int, n_frames: int, grid_size: int, steps_per_movie_frame: int | None, seed: int
) -> tuple[Tensor, Tensor, Tensor] | None:
    """Return (omega per movie frame [F, N], positions [N, 2] (NaN off-grid), frame index per step)."""
    if stimulus is None:
        return None
    if isinstance(stimulus, str):
        if stimulus != "procedural":
            raise ValueError(
                f"stimulus: expected None, 'procedural' or a (frames, H, W) movie, got {stimulus!r}"
            )
        movie = procedural_movie(seed=seed)
    else:
        movie = as_tensor(stimulus, "stimulus").detach().cpu().float()
        check_shape(movie, (None, None, None), "stimulus", meaning="(frames, height, width) movie")
        check_finite(movie, "stimulus")
    n_grid = grid_size * grid_size
    if n_grid > n_neurons:
        raise ValueError(
            f"stimulus_grid: a {grid_size}x{grid_size} grid needs {n_grid} neurons, got n_neurons={n_neurons}"
        )
    axis = torch.linspace(0, 1, grid_size, dtype=F32)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    grid_xy = torch.stack([xx.flatten(), yy.flatten()], 1)  # neuron k at (x, y)
    height, width = movie.shape[1:]
    rows = (grid_xy[:, 1] * (height - 1)).round().long()
    cols = (grid_xy[:, 0] * (width - 1)).round().long()
    omega = torch.ones(movie.shape[0], n_neurons, dtype=F32)
    omega[:, :n_grid] = movie[:, rows, cols]
    positions = torch.full((n_neurons, 2), float("nan"), dtype=F32)
    positions[:n_grid] = grid_xy
    if steps_per_movie_frame is None:
        steps_per_movie_frame = max(1, n_frames // movie.shape[0])  # the movie plays once
    if not (isinstance(steps_per_movie_frame, int) and steps_per_movie_frame >= 1):
        raise ValueError(f"steps_per_movie_frame: expected a positive int, got {steps_per_movie_frame!r}")
    frame_of_step = (torch.arange(n_frames) // steps_per_movie_frame) % movie.shape[0]
    return omega, positions, frame_of_step


class _RightHandSide:
    """Noise-free f(x) written into ``out``, for one state [N] or a batch of trials [K, N]:
    the equations of :class:`ccnn.data.activity.ground_truth.AssemblyEquations`, the one
    definition that evaluation uses too.

    The published baseline (ψ and the self-excitation both tanh, no stimulus) is integrated
    by :func:`_fast_chunk` instead, an algebraic rewrite of the same equations: the self term
    s_i tanh(x_i) and the messages share tanh(x) and W has a zero diagonal, so
    f = −c ⊙ x + M tanh(x) with M = diag(g) W + diag(s) (``fused``): one matrix product and two
    elementwise ops per step (benchmarks/simulate_speed.py measures it; a test checks it
    against the equations).
    """

    def __init__(self, weights: Tensor, params: Tensor, transfer: dict[str, Any], types: Tensor) -> None:
        self.equations = AssemblyEquations(weights, params, transfer, types)
        g, s, c = params.unbind(1)
        self.neg_c = -c
        default = (self.equations.phi_function, self.equations.psi_function) == (
            DEFAULT_FUNCTION,
            DEFAULT_FUNCTION,
        )
        fused = g[:, None] * weights
        fused.diagonal().add_(s)  # the self term rides on the zero diagonal of W
        # A user matrix with self-connections keeps the terms apart.
        self.fast = transfer["name"] == "tanh" and default and not bool(weights.diagonal().any())
        self.fused = fused if self.fast else None
        self.fused_t = fused.t().contiguous() if self.fast else None

    def __call__(self, x: Tensor, omega: Tensor | None, out: Tensor, scratch: Tensor) -> Tensor:
        return out.copy_(self.equations.derivative(x, omega))


def simulate_assembly(**kwargs: Any) -> Recording:
    """Simulate one trial of a neural assembly and return its :class:`Recording`.

    Takes the keyword arguments of :func:`simulate_assembly_trials` except ``n_trials``;
    the defaults are the published baseline.

    Example:
        >>> rec = simulate_assembly(n_neurons=40, n_frames=100, warmup=10, progress=False)
        >>> rec.activity.shape, rec.connectivity.shape
        ((100, 40), (40, 40))
    """
    if "n_trials" in kwargs:
        raise ValueError("n_trials: use simulate_assembly_trials for several trials")
    return simulate_assembly_trials(1, **kwargs)[0]


def simulate_assembly_trials(
    n_trials: int = 1,
    *,
    n_neurons: int = 1000,
    n_frames: int = 100_000,
    dt: float = 0.01,
    warmup: int = 1000,
    type_params: Sequence[Sequence[float]] = BASELINE_TYPE_PARAMS,
    types: Any = None,
    connectivity: Any = "lorentz",
    ff: float = 1.0,
    transfer: Literal["tanh", "transmitters", "neuron_neuron"] = "tanh",
    gamma: Sequence[float] | None = None,
    phi_function: str = DEFAULT_FUNCTION,
    psi_function: str = DEFAULT_FUNCTION,
    noise: float = 0.0,
    stimulus: Any = None,
    stimulus_grid: int = 32,
    steps_per_movie_frame: int | None = None,
    initial_std: float = 5.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[Recording]:
    r"""Simulate ``n_trials`` independent trials of one assembly (same W, types and stimulus).

    Trials are integrated together: each Euler step is one matrix-matrix product
    ``(n_trials, N) @ (N, N)`` instead of ``n_trials`` matrix-vector products.

    Args:
        n_trials: independent trials (own initial state and noise), batched.
        n_neurons: N.
        n_frames: stored frames T per trial (after the warm-up).
        dt: Euler step.
        warmup: steps integrated and discarded before the first stored frame.
        type_params: (g, s, c) per neuron type; :data:`BASELINE_TYPE_PARAMS` by default,
            :func:`type_grid` for the 32-type variant.
        types: type index per neuron (N,); contiguous equal blocks by default.
        connectivity: ``"lorentz"`` (published construction), an (N, N) matrix or a
            :class:`ccnn.data.Connectome`; ``W[i, j]`` is the weight from j onto i.
        ff: filling factor: keep each connection with this probability (no rescaling).
        transfer: ``"tanh"``, ``"transmitters"`` or ``"neuron_neuron"`` (module docstring).
        gamma: γ per type for the transfer variants; (1, 2, 4, 8) for ≤ 4 types by default.
        phi_function: the saturating self-excitation f of φ_i(x) = −c_i x + s_i f(x), a term of
            the :class:`~ccnn.nn.function_library.FunctionLibrary` grammar (``"tanh(x)"``, the
            paper's; ``"softsign(x/2)"``, ``"rectified_tanh(x)"``, …).
        psi_function: the function h that ψ is built on (``h(x_j)`` for ``transfer="tanh"``,
            ``h(x_j / γ_j)`` for ``"transmitters"``, …; module docstring).
        noise: σ of the process noise added after each step.
        stimulus: None (Ω = 1), ``"procedural"`` (:func:`ccnn.data.procedural_movie`) or a
            (frames, H, W) movie; neurons 0 … ``stimulus_grid``² − 1 sit on a grid in [0, 1]²
            and read Ω from the movie pixel at their position; the others have Ω = 1.
        stimulus_grid: side of the grid of stimulated neurons.
        steps_per_movie_frame: Euler steps per movie frame (the movie loops); by default
            the movie plays once over the recording.
        initial_std: x(0) ~ N(0, initial_std²).
        seed: seeds W, types-independent draws, initial states and noise.
        device: ``"cpu"`` or ``"cuda"``; W, x(0) are drawn on the CPU so that a seed gives
            the same system on every device (the noise differs between devices).
        progress: show a progress bar.

    Returns:
        One :class:`Recording` per trial.
    """
    for name, value, low in (
        ("n_trials", n_trials, 1),
        ("n_neurons", n_neurons, 1),
        ("n_frames", n_frames, 2),
        ("warmup", warmup, 0),
        ("stimulus_grid", stimulus_grid, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {describe(value)}")
    for name, value in (("dt", dt), ("initial_std", initial_std)):
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            raise ValueError(f"{name}: expected a positive number, got {value!r}")
    if not (isinstance(noise, int | float) and noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise: expected a non-negative number, got {noise!r}")
    params = as_tensor(type_params, "type_params").float()
    check_shape(params, (None, 3), "type_params", meaning="(n_types, 3) rows of (g, s, c)")
    check_finite(params, "type_params")
    gen = torch.Generator().manual_seed(seed)
    type_index = _resolve_types(types, n_neurons, params.shape[0])
    weights = _resolve_connectivity(connectivity, n_neurons, ff, gen)
    spec = _transfer_spec(transfer, gamma, params.shape[0], phi_function, psi_function)
    stim = _resolve_stimulus(stimulus, n_neurons, n_frames, stimulus_grid, steps_per_movie_frame, seed)
    x0 = initial_std * torch.randn(n_trials, n_neurons, generator=gen, dtype=F32)

    device = torch.device(device)
    neuron_params = params[type_index]
    rhs = _RightHandSide(weights.to(device), neuron_params.to(device), spec, type_index.to(device))
    omega_frames = None if stim is None else stim[0].to(device)
    frame_of_step = None if stim is None else stim[2].tolist()
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)

    activity = torch.empty(n_trials, n_frames, n_neurons, dtype=F32)
    derivative = torch.empty(n_trials, n_frames, n_neurons, dtype=F32)
    # One trial runs on 1-D states (matrix-vector products); several on [K, N] batches.
    state = x0.to(device) if n_trials > 1 else x0[0].to(device)
    scratch = torch.empty_like(state)

    def draw_noise(steps: int) -> list[Tensor] | None:
        if noise == 0:
            return None
        draws = torch.randn(steps, *state.shape, generator=noise_gen, dtype=F32, device=device)
        return draws.mul_(noise).unbind(0)

    # Warm-up: the same loops as the recording, into a scratch buffer that is discarded;
    # Ω is that of the first movie frame (the recording's time starts after it).
    first_omega = None if omega_frames is None else omega_frames[0]
    for start in range(0, warmup, _CHUNK):
        steps = min(_CHUNK, warmup - start)
        x_rows = torch.empty(steps, *state.shape, dtype=F32, device=device).unbind(0)
        f_rows = torch.empty(steps, *state.shape, dtype=F32, device=device).unbind(0)
        omegas = None if first_omega is None else [first_omega] * steps
        _integrate_chunk(rhs, x_rows, f_rows, state, scratch, dt, draw_noise(steps), omegas)

    bar = _progress(progress and n_frames >= 10 * _CHUNK, n_frames * n_trials)
    on_cpu = device.type == "cpu"
    for start in range(0, n_frames, _CHUNK):
        stop = min(start + _CHUNK, n_frames)
        # On the CPU, steps write straight into the output; elsewhere into a device chunk.
        if on_cpu:
            x_chunk, f_chunk = activity[:, start:stop], derivative[:, start:stop]
        else:
            x_chunk = torch.empty(n_trials, stop - start, n_neurons, dtype=F32, device=device)
            f_chunk = torch.empty_like(x_chunk)
        x_rows = x_chunk.unbind(1) if n_trials > 1 else x_chunk[0].unbind(0)
        f_rows = f_chunk.unbind(1) if n_trials > 1 else f_chunk[0].unbind(0)
        omegas = None if omega_frames is None else [omega_frames[i] for i in frame_of_step[start:stop]]
        _integrate_chunk(rhs, x_rows, f_rows, state, scratch, dt, draw_noise(stop - start), omegas)
        if not on_cpu:
            activity[:, start:stop].copy_(x_chunk)
            derivative[:, start:stop].copy_(f_chunk)
        if bar is not None:
            bar[0].update(bar[1], advance=(stop - start) * n_trials)
    if bar is not None:
        bar[0].stop()

    shared: dict[str, Any] = {
        "connectivity": weights.numpy(),
        "types": type_index.numpy().astype(np.int64),
        "neuron_params": neuron_params.numpy(),
        "transfer": spec,
    }
    if stim is not None:
        shared["positions"] = stim[1].numpy()
        stimulus_values = stim[0][stim[2]].numpy()  # [T, N]
    meta = {"simulator": "ccnn.simulate_assembly", "seed": seed, "noise": noise, "warmup": warmup, "ff": ff}
    return [
        Recording(
            activity=activity[k].numpy(),
            dt=dt,
            derivative=derivative[k].numpy(),
            stimulus=None if stim is None else stimulus_values,
            meta={**meta, "trial": k, "n_trials": n_trials},
            **shared,
        )
        for k in range(n_trials)
    ]


def _integrate_chunk(rhs, x_rows, f_rows, state, scratch, dt, noise_rows, omegas) -> None:
    """Integrate ``len(x_rows)`` steps from ``state``, storing x and f; ``state`` ends as the next x."""
    x_rows[0].copy_(state)
    if rhs.fast and omegas is None:
        _fast_chunk(rhs, x_rows, f_rows, state, scratch, dt, noise_rows)
    else:
        _general_chunk(rhs, x_rows, f_rows, state, scratch, dt, noise_rows, omegas)


def _fast_chunk(rhs, x_rows, f_rows, state, scratch, dt, noise_rows) -> None:
    """Baseline steps (ψ = tanh, Ω = 1): f = −c ⊙ x + M tanh(x), x' = x + dt f (+ σ ξ).

    Four tensor ops per step, each writing into the stored frames. The loop is kept free
    of branches and attribute lookups: at N = 1000 each microsecond is ~1 % of a step.
    """
    tanh, mul, add = torch.tanh, torch.mul, torch.add
    neg_c = rhs.neg_c
    if scratch.dim() == 1:
        fused = rhs.fused

        def matmul(out: Tensor, v: Tensor) -> Tensor:
            return out.addmv_(fused, v)
    else:
        fused_t = rhs.fused_t

        def matmul(out: Tensor, v: Tensor) -> Tensor:
            return out.addmm_(v, fused_t)

    targets = [*x_rows[1:], state]  # x_{k+1} of the chunk's last step is the carried state
    if noise_rows is None:
        for x, f, nxt in zip(x_rows, f_rows, targets, strict=True):
            tanh(x, out=scratch)
            mul(x, neg_c, out=f)
            matmul(f, scratch)
            add(x, f, alpha=dt, out=nxt)
        return
    for x, f, nxt, xi in zip(x_rows, f_rows, targets, noise_rows, strict=True):
        tanh(x, out=scratch)
        mul(x, neg_c, out=f)
        matmul(f, scratch)
        add(x, f, alpha=dt, out=nxt)
        nxt.add_(xi)


def _general_chunk(rhs, x_rows, f_rows, state, scratch, dt, noise_rows, omegas) -> None:
    """Any transfer, stimulus or noise: f = rhs(x), x' = x + dt f + σ ξ."""
    targets = [*x_rows[1:], state]
    for k, (x, f, nxt) in enumerate(zip(x_rows, f_rows, targets, strict=True)):
        rhs(x, None if omegas is None else omegas[k], f, scratch)
        torch.add(x, f, alpha=dt, out=nxt)
        if noise_rows is not None:
            nxt.add_(noise_rows[k])


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("simulating", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    task = bar.add_task("frames", total=total)
    bar.start()
    return bar, task


# help(), IDEs and jsonargparse see the real arguments of simulate_assembly.
simulate_assembly.__signature__ = inspect.signature(simulate_assembly_trials).replace(  # type: ignore[attr-defined]
    parameters=[
        p for p in inspect.signature(simulate_assembly_trials).parameters.values() if p.name != "n_trials"
    ],
    return_annotation=Recording,
)
