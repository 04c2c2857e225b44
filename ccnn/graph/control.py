r"""Network control theory: normalisation, average and modal controllability, minimum energy.

Linear dynamics on a graph, in the ccnn orientation (``adjacency[..., i, j]`` is the edge
from node j to node i, so the state update reads :math:`x \leftarrow A x`):

.. math:: x(t+1) = A x(t) + B u(t) \quad\text{(discrete)}, \qquad
          \dot x(t) = A x(t) + B u(t) \quad\text{(continuous)}.

This is nctpy's convention too (its ``A[i, j]`` is the connection from j to i), so the values
here equal nctpy's for directed graphs without a transpose.

* **Normalisation** (:func:`normalize_for_control`, nctpy's ``matrix_normalization``; Karrer
  et al. 2020, Kim et al. 2025): :math:`A / (c + \rho(A))` in discrete time and
  :math:`A / (c + \rho(A)) - I` in continuous time, with :math:`\rho(A) = \max_k |\lambda_k(A)|`
  the spectral radius (largest absolute eigenvalue, not the largest singular value). With
  :math:`c > 0` both systems are stable. The diagonal of ``adjacency`` is kept, as in nctpy.
* **Controllability Gramian** of :math:`(A, B)` over a horizon :math:`T`:
  :math:`W_T = \sum_{k=0}^{T-1} A^k B B^\top A^{k\top}` (discrete: :math:`T` inputs
  :math:`u(0..T-1)` reach :math:`x(T)`) or :math:`\int_0^T e^{At} B B^\top e^{A^\top t}\,dt`
  (continuous); :math:`T = \infty` needs a stable :math:`A`.
* **Average controllability** (Gu et al., Nat. Commun. 2015): the trace of the Gramian with
  input at node i alone, :math:`\mathrm{AC}_i = \sum_k \|A^k e_i\|^2` or
  :math:`\int_0^T \|e^{At} e_i\|^2 dt`.
* **Modal controllability** (Pasqualetti et al., IEEE TCNS 2014; Gu et al. 2015), discrete
  time: :math:`\phi_i = \sum_j (1 - \lambda_j^2)\, v_{ij}^2`.
* **Minimum control energy**: the least :math:`\int_0^T \|u\|^2` (or :math:`\sum \|u\|^2`)
  that steers :math:`x_0` to :math:`x_f`, :math:`d^\top W_T^{+} d` with
  :math:`d = x_f - e^{AT} x_0` (or :math:`x_f - A^T x_0`).

Dtype rule: everything is computed and returned in ``dtype``, ``torch.float64`` by default
whatever the input's dtype, because Gramians of slowly decaying systems lose float32 accuracy;
pass ``dtype=torch.float32`` for speed on a GPU. Results are on the input's device.

Algorithms (speed): for a symmetric ``adjacency`` (every graph of a batch) the Gramian
diagonals have closed forms over one batched ``eigh``; otherwise the Gramian is summed by
doubling, :math:`W_{2t} = W_t + \Phi_t W_t \Phi_t^\top`, :math:`\Phi_{2t} = \Phi_t^2`
(Smith's iteration for the discrete sum; for the continuous integral the first interval
:math:`\tau \le 1 / (2\|A\|_1)` is a Taylor series of the Van Loan integral, then scaling
and squaring). All of it is batched torch; only the non-symmetric modal controllability calls
scipy's real Schur decomposition, one graph at a time on the CPU.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_choice, check_finite, check_real, describe
from ccnn.graph._adjacency import check_adjacency

__all__ = [
    "TIMES",
    "average_controllability",
    "minimum_control_energy",
    "modal_controllability",
    "normalize_for_control",
]

#: Values of ``time=``.
TIMES = ("discrete", "continuous")

_MAX_DOUBLINGS = 80  # 2**80 steps: far beyond convergence of any stable system in float64
_TAYLOR_TERMS = 20  # with ||A tau|| <= 1/2 the remainder is below 1/21! ~ 2e-20 relative


# ---------------------------------------------------------------------- input handling


def _float_adjacency(adjacency: Any, dtype: torch.dtype) -> Tensor:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating torch.dtype, got {describe(dtype)}")
    return check_adjacency(adjacency).to(dtype)


def _check_horizon(horizon: Any, time: str) -> float | int:
    """``math.inf``, an int number of steps (discrete) or a float > 0 (continuous)."""
    number = isinstance(horizon, int | float | np.integer | np.floating) and not isinstance(horizon, bool)
    if not number or math.isnan(horizon) or horizon <= 0:
        raise ValueError(
            f"horizon: expected a number > 0 (math.inf for an infinite horizon), got {describe(horizon)}"
        )
    if math.isinf(horizon):
        return math.inf
    if time == "discrete":
        if float(horizon) != int(horizon):
            raise ValueError(
                f"horizon: expected an integer number of steps for time='discrete', got {describe(horizon)}"
            )
        return int(horizon)
    return float(horizon)


def _is_symmetric(adj: Tensor) -> bool:
    return torch.equal(adj, adj.mT)


def _spectral_radius(adj: Tensor, symmetric: bool) -> Tensor:
    if symmetric:
        return torch.linalg.eigvalsh(adj).abs().amax(-1)
    return torch.linalg.eigvals(adj).abs().amax(-1).to(adj.dtype)


def _normalize(adj: Tensor, time: str, c: float, symmetric: bool) -> Tensor:
    denominator = c + _spectral_radius(adj, symmetric)
    denominator = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    out = adj / denominator[..., None, None]
    if time == "continuous":
        out = out - torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
    return out


def _stability(a: Tensor, time: str, horizon: float | int, known_stable: bool) -> tuple[Tensor, Tensor]:
    """Per graph whether an infinite horizon is defined (spectral radius < 1 in discrete time,
    every real part < 0 in continuous time), and ``a`` with the unstable graphs replaced by a
    stable stand-in (0 or -I) so that the doubling stays finite; their results become NaN."""
    stable = torch.ones(a.shape[:-2], dtype=torch.bool, device=a.device)
    if not math.isinf(horizon) or known_stable:
        return stable, a
    eig = torch.linalg.eigvals(a)
    stable = eig.abs().amax(-1) < 1 if time == "discrete" else eig.real.amax(-1) < 0
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    stand_in = torch.zeros_like(a) if time == "discrete" else -eye.expand_as(a)
    return stable, torch.where(stable[..., None, None], a, stand_in)


def normalize_for_control(
    adjacency: Any,
    *,
    time: Literal["discrete", "continuous"] = "discrete",
    c: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""The normalised system matrix: :math:`A / (c + \rho(A))` (discrete) or
    :math:`A / (c + \rho(A)) - I` (continuous), ``(N, N)`` or ``(B, N, N)``.

    :math:`\rho(A)` is the spectral radius, the largest absolute eigenvalue (nctpy's
    ``matrix_normalization`` default ``l``), per graph. With ``c > 0`` the result is stable:
    spectral radius :math:`\rho / (c + \rho) < 1` in discrete time, every eigenvalue's real part
    below 0 in continuous time. The diagonal is kept. An all-zero graph with ``c = 0`` is left
    unscaled (0 / 0 is taken as 0).
    """
    adj = _float_adjacency(adjacency, dtype)
    check_choice(time, "time", TIMES)
    c = check_real(c, "c", positive=False)
    return _normalize(adj, time, c, _is_symmetric(adj))


# ---------------------------------------------------------------------- Gramians


def _taylor_interval(a: Tensor, q: Tensor | None, tau: float) -> tuple[Tensor, Tensor]:
    r""":math:`\int_0^\tau e^{As} Q e^{A^\top s} ds` and :math:`e^{A\tau}`.

    With :math:`L(X) = AX + XA^\top`, the integral is :math:`\sum_k \tau^{k+1} L^k(Q) / (k+1)!`
    (the top right block of Van Loan's exponential), summed until the terms vanish; needs
    :math:`\|A\tau\|_1, \|A\tau\|_\infty \le 1/2`, so that :math:`\|\tau L\|_1 \le 1`.
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand_as(a)
    term = (eye if q is None else q.expand_as(a)) * tau
    gramian = term
    eps = torch.finfo(a.dtype).eps
    for k in range(1, _TAYLOR_TERMS + 1):
        product = a @ term
        term = (product + product.mT) * (tau / (k + 1))  # L(X) is symmetric: one product
        gramian = gramian + term
        # ||term_(k+1)||_1 <= ||term_k||_1 / (k + 2): the rest of the series is below this term
        if bool((_norm1(term) <= eps * _norm1(gramian)).all()):
            break
    return gramian, torch.linalg.matrix_exp(a * tau)


def _norm1(matrix: Tensor) -> Tensor:
    return matrix.abs().sum(-2).amax(-1)


def _double(gramian: Tensor, propagator: Tensor, count: float | int) -> tuple[Tensor, Tensor | None]:
    r"""Sum :math:`\sum_{k<\text{count}} \Phi^k W \Phi^{k\top}` (and :math:`\Phi^{\text{count}}`) by
    doubling; ``count = inf`` runs until the added blocks vanish (stable systems only)."""
    eps = torch.finfo(gramian.dtype).eps
    if math.isinf(count):
        for _ in range(_MAX_DOUBLINGS):
            added = propagator @ gramian @ propagator.mT
            gramian = gramian + added
            if bool((added.abs().amax((-1, -2)) <= eps * gramian.abs().amax((-1, -2))).all()):
                break
            propagator = propagator @ propagator
        return gramian, None
    total: Tensor | None = None
    prefix: Tensor | None = None  # Phi^(steps already summed)
    steps = int(count)
    while True:
        if steps & 1:
            total = gramian if prefix is None else total + prefix @ gramian @ prefix.mT
            prefix = propagator if prefix is None else prefix @ propagator
        steps >>= 1
        if not steps:
            return total, prefix
        gramian = gramian + propagator @ gramian @ propagator.mT
        propagator = propagator @ propagator


def _gramian(a: Tensor, q: Tensor | None, time: str, horizon: float | int) -> tuple[Tensor, Tensor | None]:
    """Controllability Gramian of (a, B) with Q = B B^T (None: identity) and the propagator over
    the horizon (None for an infinite one). ``a`` must be stable for an infinite horizon."""
    if time == "discrete":
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand_as(a)
        return _double(eye if q is None else q.expand_as(a), a, horizon)
    # the batch's largest 1- or inf-norm bounds ||L|| / 2 for the Taylor series
    norm = float(torch.maximum(a.abs().sum(-2).amax(), a.abs().sum(-1).amax())) if a.numel() else 0.0
    if math.isinf(horizon):
        tau = 0.5 / norm if norm > 0 else 1.0
        return _double(*_taylor_interval(a, q, tau), math.inf)
    halvings = max(0, math.ceil(math.log2(2 * horizon * norm))) if norm > 0 else 0
    gramian, propagator = _taylor_interval(a, q, horizon / 2**halvings)
    return _double(gramian, propagator, 2**halvings)


def _eigen_weights(eigenvalues: Tensor, time: str, horizon: float | int) -> tuple[Tensor, Tensor]:
    """Per eigenvalue the Gramian weight (sum of lambda^(2k), or integral of e^(2 mu t)), and
    per graph whether an infinite horizon is defined."""
    if time == "discrete":
        square = eigenvalues.square()
        stable = square.amax(-1) < 1
        if math.isinf(horizon):
            return 1 / ((1 - eigenvalues) * (1 + eigenvalues)), stable  # exact 1 - lambda near +-1
        log_square = torch.log(square)  # -inf at 0: expm1(-inf) = -1 gives the single k = 0 term
        sums = torch.expm1(horizon * log_square) / torch.expm1(log_square)
        return torch.where(square == 1, torch.full_like(square, horizon), sums), stable
    stable = eigenvalues.amax(-1) < 0
    if math.isinf(horizon):
        return -0.5 / eigenvalues, stable
    twice = 2 * eigenvalues
    integrals = torch.expm1(twice * horizon) / twice
    return torch.where(twice == 0, torch.full_like(twice, horizon), integrals), stable


def _checked(adjacency: Any, time: str, normalize: Any, c: Any, dtype: Any) -> tuple[Tensor, float, bool]:
    """The adjacency in ``dtype``, ``c`` as a float, and whether every graph is symmetric."""
    adj = _float_adjacency(adjacency, dtype)
    check_choice(time, "time", TIMES)
    c = check_real(c, "c", positive=False)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected a bool, got {describe(normalize)}")
    return adj, c, _is_symmetric(adj)


def _system(adjacency: Any, time: str, normalize: Any, c: Any, dtype: Any) -> tuple[Tensor, bool]:
    adj, c, symmetric = _checked(adjacency, time, normalize, c, dtype)
    return (_normalize(adj, time, c, symmetric) if normalize else adj), symmetric


def _schur_radius(schur_form: np.ndarray) -> float:
    """Spectral radius from a standardised real Schur form: a 2x2 block's eigenvalue pair has
    modulus sqrt(det); 1x1 blocks are their own eigenvalue (and |Re| <= modulus in a block)."""
    diagonal = np.abs(np.diag(schur_form))
    determinants = np.diag(schur_form)[:-1] * np.diag(schur_form)[1:] - np.diag(schur_form, 1) * np.diag(
        schur_form, -1
    )
    pairs = np.diag(schur_form, -1) != 0
    return float(max(diagonal.max(initial=0.0), np.sqrt(determinants[pairs]).max(initial=0.0)))


# ---------------------------------------------------------------------- controllability


def average_controllability(
    adjacency: Any,
    *,
    time: Literal["discrete", "continuous"] = "discrete",
    horizon: float | None = None,
    normalize: bool = True,
    c: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""Average controllability of every node (Gu et al., Nat. Commun. 2015), ``(N,)`` or ``(B, N)``.

    .. math:: \mathrm{AC}_i = \operatorname{tr} W_T(A, e_i)
              = \sum_{k=0}^{T-1} \|A^k e_i\|^2 \ \text{(discrete)}, \qquad
              \int_0^T \|e^{At} e_i\|^2\,dt \ \text{(continuous)},

    the diagonal of the Gramian of :math:`A^\top` with :math:`B = I`: the energy that input at
    node i alone spreads into the network.

    Args:
        adjacency: ``(N, N)`` or ``(B, N, N)``, ``adjacency[..., i, j]`` the edge j → i.
        time: ``"discrete"`` or ``"continuous"`` dynamics (module docstring).
        horizon: :math:`T`. Default: infinite in discrete time (nctpy's ``ave_control``
            ``system="discrete"``), 1 in continuous time (nctpy's ``T=1``). A finite discrete
            horizon is an int number of steps, summing :math:`k = 0..T-1` (nctpy's
            ``gramian(A.T, T - 1, "discrete")``, which sums :math:`k = 0..T`); ``math.inf``
            is accepted in both times.
        normalize: apply :func:`normalize_for_control` for ``time`` first (default); with
            ``False`` ``adjacency`` is used as the system matrix itself.
        c: normalisation constant (:math:`A / (c + \rho)`).
        dtype: computation and result dtype (module docstring).

    Undefined cases: an infinite horizon needs a stable system (always so with
    ``normalize=True`` and ``c > 0``); an unstable graph gets NaN at every node. Isolated nodes
    are well defined (1 in discrete time at any horizon; :math:`(1 - e^{-2T})/2` continuous).
    """
    a, symmetric = _system(adjacency, time, normalize, c, dtype)
    if horizon is None:
        horizon = math.inf if time == "discrete" else 1.0
    horizon = _check_horizon(horizon, time)
    if symmetric:
        # W = U diag(g(lambda)) U^T, so W_ii = sum_j U_ij^2 g(lambda_j)
        eigenvalues, vectors = torch.linalg.eigh(a)
        weights, stable = _eigen_weights(eigenvalues, time, horizon)
        values = (vectors.square() @ weights.unsqueeze(-1)).squeeze(-1)
    else:
        stable, a_safe = _stability(a, time, horizon, normalize and c > 0)
        values = torch.diagonal(_gramian(a_safe.mT, None, time, horizon)[0], dim1=-2, dim2=-1)
    if math.isinf(horizon):
        values = torch.where(stable[..., None], values, torch.full_like(values, math.nan))
    return values


def modal_controllability(
    adjacency: Any, *, normalize: bool = True, c: float = 1.0, dtype: torch.dtype = torch.float64
) -> Tensor:
    r"""Modal controllability of every node, discrete time, ``(N,)`` or ``(B, N)``.

    Pasqualetti, Zampieri & Bullo, IEEE Trans. Control Netw. Syst. 2014; Gu et al., Nat.
    Commun. 2015:

    .. math:: \phi_i = \sum_j (1 - \lambda_j^2)\, v_{ij}^2,

    with :math:`A = V \Lambda V^\top` (normalised for discrete time unless
    ``normalize=False``). High values: node i reaches the fast-decaying, hard-to-reach modes.

    For a symmetric :math:`A` the eigenvectors are orthonormal and the sum is
    :math:`[V (I - \Lambda^2) V^\top]_{ii} = 1 - \sum_j A_{ij}^2`, computed so (batched, no
    eigendecomposition). For a non-symmetric :math:`A` it is defined, as in nctpy's
    ``modal_control``, with the real Schur decomposition :math:`A = U T U^\top` (``scipy.linalg
    .schur``, one graph at a time on the CPU): :math:`V = U`, :math:`\lambda_j = T_{jj}` (the
    real part of a complex pair; the one decomposition of the raw :math:`A` also gives
    :math:`\rho(A)`). Those values are an approximation that depends on LAPACK's
    ordering of the Schur form (nctpy's caveat), and they can be ill-posed: with repeated or
    defective eigenvalues (C. elegans' chemical synapses) a relative change of 1e-15 in
    :math:`A` moves them by 1e-3, in nctpy as here.
    """
    adj, c, symmetric = _checked(adjacency, "discrete", normalize, c, dtype)
    if symmetric:
        a = _normalize(adj, "discrete", c, symmetric) if normalize else adj
        return 1 - a.square().sum(-1)
    # the Schur form of A / s is that of A with T / s: one decomposition also gives rho(A)
    matrices = adj.detach().to("cpu", torch.float64).numpy().reshape(-1, *adj.shape[-2:])
    values = np.zeros((len(matrices), adj.shape[-1]))
    for k, matrix in enumerate(matrices):
        schur_form, vectors = scipy.linalg.schur(matrix, output="real")
        eigenvalues = np.diag(schur_form)
        if normalize:
            scale = c + _schur_radius(schur_form)
            eigenvalues = eigenvalues / (scale if scale > 0 else 1.0)
        values[k] = (vectors**2 * (1 - eigenvalues**2)).sum(1)
    return torch.from_numpy(values).reshape(adj.shape[:-1]).to(device=adj.device, dtype=dtype)


# ---------------------------------------------------------------------- minimum energy


def _input_covariance(control_set: Any, n: int, batch: tuple[int, ...], like: Tensor) -> Tensor:
    r""":math:`B B^\top` of a control set: a bool mask, node indices, diagonal weights or B."""
    control = as_tensor(control_set, "control_set")
    check_finite(control, "control_set")
    if control.dim() == 1 and control.dtype == torch.bool:
        if control.shape[0] != n:
            raise ValueError(f"control_set: expected a bool mask of shape ({n},), got {tuple(control.shape)}")
        weights = control.to(like.dtype)
    elif control.dim() == 1 and not control.is_floating_point() and not control.is_complex():
        if control.numel() and (int(control.min()) < 0 or int(control.max()) >= n):
            raise ValueError(
                f"control_set: expected node indices in [0, {n}), got values in "
                f"[{int(control.min())}, {int(control.max())}]"
            )
        weights = torch.zeros(n, dtype=like.dtype)
        weights[control.long().cpu()] = 1.0
    elif control.dim() == 1 and control.is_floating_point():
        if control.shape[0] != n:
            raise ValueError(f"control_set: expected ({n},) diagonal weights, got {tuple(control.shape)}")
        weights = control.to(like.dtype).square()
    elif (
        control.dim() in (2, 3)
        and control.is_floating_point()
        and control.shape[-2] == n
        and (control.dim() == 2 or (len(batch) == 1 and control.shape[0] == batch[0]))
    ):
        b = control.to(device=like.device, dtype=like.dtype)
        q = b @ b.mT
        if bool((q.abs().amax((-1, -2)) == 0).any()):
            raise ValueError("control_set: expected at least one non-zero input, got an all-zero B")
        return q
    else:
        raise ValueError(
            f"control_set: expected a ({n},) bool mask, node indices, ({n},) float weights or an input "
            f"matrix B of shape ({n}, M) or (B, {n}, M) matching the batch, got {describe(control_set)}"
        )
    if not bool(weights.any()):
        raise ValueError("control_set: expected at least one control node, got none")
    return torch.diag(weights).to(like.device)


def _states(x0: Any, xf: Any, n: int, batch: tuple[int, ...], like: Tensor) -> tuple[Tensor, Tensor]:
    states = []
    for value, name in ((x0, "x0"), (xf, "xf")):
        state = as_tensor(value, name)
        check_finite(state, name)
        if (
            state.dim() not in (1, 2, 3)
            or state.shape[-1] != n
            or (state.dim() == 3 and (not batch or state.shape[0] not in (1, batch[0])))
        ):
            raise ValueError(
                f"{name}: expected a state of shape ({n},), K states (K, {n}) or, for a batch of "
                f"graphs, (B, K, {n}), got {tuple(state.shape)}"
            )
        states.append(state.to(device=like.device, dtype=like.dtype))
    try:
        torch.broadcast_shapes(states[0].shape, states[1].shape)
    except RuntimeError as err:
        raise ValueError(
            f"xf: expected a shape that broadcasts with x0's {tuple(states[0].shape)}, "
            f"got {tuple(states[1].shape)}"
        ) from err
    return states[0], states[1]


def minimum_control_energy(
    adjacency: Any,
    x0: Any,
    xf: Any,
    control_set: Any,
    *,
    horizon: float = 1.0,
    time: Literal["discrete", "continuous"] = "continuous",
    normalize: bool = True,
    c: float = 1.0,
    rtol: float = 1e-15,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""Minimum energy to steer :math:`x_0` to :math:`x_f` in time :math:`T`, split over nodes.

    The least :math:`\int_0^T \|u(t)\|^2 dt` (continuous) or :math:`\sum_{t<T} \|u(t)\|^2`
    (discrete) with :math:`\dot x = Ax + Bu` (:math:`x(t+1) = Ax + Bu`) and :math:`x(0) = x_0`,
    :math:`x(T) = x_f`, is :math:`E = d^\top W_T^{+} d` with :math:`d = x_f - e^{AT} x_0`
    (:math:`x_f - A^T x_0`) and :math:`W_T` the controllability Gramian of :math:`(A, B)`. The
    result is nctpy's ``minimum_energy_fast`` split, :math:`E_i = (W_T^{+} d)_i\, d_i` per state
    node; ``.sum(-1)`` is the total :math:`E`, equal to the energy of nctpy's
    ``get_control_inputs`` with ``S = 0`` (any ``rho``). nctpy's default ``S = I`` adds a
    state-trajectory penalty: a different (optimal-control) problem, not computed here. nctpy
    integrates the Gramian by Simpson's rule over 1000 steps; here it is exact (to rounding), so
    the two agree as far as :math:`W_T` is well conditioned.

    Args:
        adjacency: ``(N, N)`` or ``(B, N, N)``, ``adjacency[..., i, j]`` the edge j → i.
        x0, xf: initial and target states, ``(N,)``, ``(K, N)`` (K transitions, for every
            graph) or ``(B, K, N)``; they broadcast against each other.
        control_set: an ``(N,)`` bool mask (B = the identity's masked columns, nctpy's
            ``mask_control_set``), a 1-D integer tensor of node indices (a set), ``(N,)`` float
            weights (B = diag(weights)) or an input matrix B ``(N, M)`` (or ``(B, N, M)``, one
            per graph).
        horizon: :math:`T` (default 1); an int number of steps for ``time="discrete"``;
            ``math.inf`` gives the infinite-horizon energy :math:`x_f^\top W_\infty^{+} x_f`
            (nctpy's ``minimum_energy_infinite``; needs a stable system).
        time: ``"continuous"`` (default, as nctpy's fast energy) or ``"discrete"``.
        normalize: apply :func:`normalize_for_control` for ``time`` first (default).
        c: normalisation constant.
        rtol: pseudo-inverse cutoff relative to the largest eigenvalue of :math:`W_T` (numpy's
            ``pinv`` default, as nctpy uses it).
        dtype: computation and result dtype (module docstring).

    Returns:
        ``(..., N)``: the states' shape broadcast with the graph batch, e.g. ``(B, K, N)`` for
        ``(B, N, N)`` graphs and ``(K, N)`` states. Uncontrollable directions (singular
        :math:`W_T`) are dropped by the pseudo-inverse; an unstable system with an infinite
        horizon gives NaN.
    """
    a, _ = _system(adjacency, time, normalize, c, dtype)
    horizon = _check_horizon(horizon, time)
    rtol = check_real(rtol, "rtol", positive=False)
    n, batch = a.shape[-1], tuple(a.shape[:-2])
    q = _input_covariance(control_set, n, batch, a)
    x0, xf = _states(x0, xf, n, batch, a)
    stable, a_safe = _stability(a, time, horizon, normalize and c > 0)
    gramian, propagator = _gramian(a_safe, q, time, horizon)
    single = x0.dim() == 1 and xf.dim() == 1
    x0, xf = (x0.unsqueeze(0), xf.unsqueeze(0)) if single else (x0, xf)
    difference = xf - (0 if propagator is None else x0 @ propagator.mT)  # rows are states
    # the lone 1-D x0 of an infinite horizon still broadcasts with the batch
    difference = difference.expand(*torch.broadcast_shapes(difference.shape, (*batch, 1, n)))
    inverse = torch.linalg.pinv(gramian, rtol=rtol, hermitian=True)
    energy = (difference @ inverse) * difference
    energy = torch.where(stable.reshape(*batch, 1, 1), energy, torch.full_like(energy, math.nan))
    return energy.squeeze(-2) if single else energy
