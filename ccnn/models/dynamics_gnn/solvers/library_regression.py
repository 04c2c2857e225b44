r"""Closed-form recovery of W, φ and ψ from activity by lifted library least squares.

The dynamics GNN (Allier et al. 2026) models

.. math:: \dot x_i = \varphi_i(x_i) + \sum_{j \ne i} W_{ij}\, \psi_j(x_j).

Write each function in a library, :math:`\psi_j(x) = \sum_k \beta_{jk} b_k(x)` and
:math:`\varphi_i(x) = \sum_m \theta_{im} e_m(x)` (SINDy: Brunton, Proctor & Kutz, PNAS 2016).
The products :math:`V_{ijk} = W_{ij}\beta_{jk}` enter linearly, so for every receiving
neuron i one least-squares problem in the "lifted" unknowns :math:`V_{i\cdot\cdot}` and
:math:`\theta_i` gives the exact model whenever the true functions lie in the library's
span and the data are noise-free derivatives. All N problems share the design matrix
:math:`F = [b_k(x_j)]` (T × KN), so one Gram matrix :math:`F^\top F`, one Cholesky
factorisation and a rank-M' Schur complement per neuron (for φ terms that are not ψ terms)
solve all of them. In the refits with ψ fixed, each receiver's own column is removed as one
direction in whitened coordinates (:func:`_without_own_column`), so W's diagonal is zero
by construction.

Then :math:`W` and ψ follow from a rank-1 factorisation of each lifted coefficient vector
(one ψ shared by all senders, or one per sender when ψ depends on the sender's latent),
measured in the function-space metric of the library (which is orthonormalised on the data
first, as its terms are nearly collinear).

With many senders and few frames the lifted solve is ill-determined (the rank-1 residual is
large). Then ψ is searched instead: for a shared ψ by alternating least squares, and for one
ψ per sender by swapping each sender's single library term wherever the exact change of the
refit's residual (a column replacement in the senders' design) says it falls.

Cost: :math:`T (KN)^2` float64 multiply-adds for the Gram matrix (about 20 s for
N = 1000, K = 5, T = 2·10⁴ on two CPU cores) and :math:`(KN)^3/3` for the factorisation.

Device and memory. Every tensor is created on the activity's device, so the whole fit runs
on a GPU when given CUDA tensors, and every tensor of the result lies on that device. The
lifted solve holds :math:`8 (K'N)^2` bytes (its Gram matrix) plus :math:`8 K'N \cdot N`
(the receivers' right-hand sides): 12.8 + 2.6 GB for K' = 5, N = 8000. Both are used in
place (:func:`_lifted`): the Cholesky factor overwrites the Gram matrix (LAPACK factorises
the column-major transpose of the row-major symmetric matrix where it lies; measured: no
copy) and the triangular solves overwrite the right-hand sides. Before, the factor sat
beside the Gram matrix and ``cholesky_solve`` copied it once more: three arrays of
:math:`(K'N)^2`, 43 GB at N = 8000 against 15.6 GB now. The Gram matrix is accumulated in
its upper block triangle only (K'(K'+1)/2 of the K'² blocks of N², then mirrored).
``memory_limit`` (by default 90 % of the memory available when the fit starts: free GPU
memory on CUDA, ``MemAvailable`` otherwise) chooses the route: the lifted solve when its
estimate (:func:`_lifted_bytes`) fits, with frame blocks halved down to 256 frames if that
makes it fit; otherwise, for a shared ψ, the search of ψ from single library terms by
alternating least squares (:func:`_search_shared_psi`), whose Gram matrices have N columns
(:func:`_search_bytes`: 8 (10 + 2M) N² bytes for M φ terms, 8.9 GB at N = 8000 and M = 5).
The search is exact when ψ is one library term (as in the published variants) and costs
more arithmetic (K refits of (2 + M) T N² and their N³ solves, against (K(K+1)/2 + K) T N²
and (KN)³/3 for the lifted solve: 82 s against 20 s at N = 1000, T = 5000, both under a
load of about 4), so it is the fallback, not the default.

Measured on two shared CPU cores (σ = 1 recordings, T = 5N frames, K = 5; peak resident
memory of the fit beyond the data; ``benchmarks/dynamics_gnn_baseline.py --scaling``):
N = 1000: 0.62 GB (previous version 0.82 GB); N = 2000: 1.7 GB (2.8 GB); N = 4000: 5.0 GB
(estimate 4.95 GB), 13 min under a load of 5–7; W R² 1.00000 at every N. The arithmetic
grows as N³ (T ∝ N), so N = 8000, T = 40 000 costs about 2.5·10¹⁴ flops: 45 min at the
97 GFLOP/s that these two cores reach when idle, 1 h 45 min at the loaded rate measured,
in 15.6–17.6 GB beyond the float32 data (2.6 GB). One H100/H200-class GPU (FP64 tens of
TFLOP/s) needs seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_int, check_shape
from ccnn.data.activity.ground_truth import psi_plateau
from ccnn.nn.function_library import FunctionLibrary

__all__ = ["LibraryRegression", "available_memory", "regress_dynamics"]

F64 = torch.float64


@dataclass
class LibraryRegression:
    """Result of :func:`regress_dynamics` (float64 tensors on the activity's device).

    Attributes:
        weight: W (N, N), zero diagonal, ``W[i, j]`` from j onto i, paired with ``psi``,
            which is normalised to rise by 2 over ``x_range`` (a plateau of 1 for tanh).
        psi: ψ coefficients on ``psi_terms``: (K,) shared, or (N, K) one row per sender.
        phi: φ coefficients on ``phi_terms`` (N, M), one row per neuron.
        phi_terms, psi_terms: the libraries (``phi_terms``: the ψ terms first, then the φ
            terms that are not ψ terms, as a neuron's own ψ block joins its φ).
        derivative_r2: R² of the fitted model on the frames it was fitted to.
        rank1_residual: share of the lifted coefficients that the rank-1 factorisation
            W·ψ leaves unexplained (near 0 when the model class is right); NaN when the
            lifted solve did not run (it did not fit ``memory_limit``).
        x_range: (min, max) of the activity used.
        knots: the knots (2, m) of spline terms (``sp1(x)``, …) when the libraries have
            any (:mod:`.spline_refinement`), else None.
        psi_source: where ψ came from: ``"lifted"`` (the lifted solve's rank-1 factor) or
            ``"search"`` (a search, after a lifted solve that could not tell ψ, or instead
            of one that did not fit ``memory_limit``).
    """

    weight: Tensor
    psi: Tensor
    phi: Tensor
    phi_terms: list[str]
    psi_terms: list[str]
    derivative_r2: float
    rank1_residual: float
    x_range: tuple[float, float]
    knots: Tensor | None = None
    psi_source: str = "lifted"


def _orthonormaliser(library: FunctionLibrary, x: Tensor) -> Tensor:
    """K × K' matrix T such that the terms b(x) T are orthonormal over the pooled activity."""
    # The permutation is drawn on the CPU (the same sample on every device), then moved.
    order = torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0), device="cpu")[:200_000]
    sample = x.flatten()[order.to(x.device)]
    basis = library(sample.to(F64))
    gram = basis.T @ basis / sample.numel()
    # Eigen-decomposition rather than Cholesky: tolerates (nearly) dependent terms.
    evals, evecs = torch.linalg.eigh(gram)
    keep = evals > evals.max() * 1e-12
    return evecs[:, keep] / evals[keep].sqrt()


@dataclass
class _Normal:
    """Normal equations shared by all receivers: senders' features F (T × kN), own terms E_i."""

    gram: Tensor  # FᵀF (kN, kN)
    cross_y: Tensor  # Fᵀy (kN, N): column i for receiver i
    cross_e: Tensor  # FᵀE_m (M, kN, N)
    e_gram: Tensor  # E_iᵀE_i (N, M, M)
    e_y: Tensor  # E_iᵀy_i (N, M)
    y_sq: Tensor  # y_i·y_i (N,)


def _normal_equations(
    x: Tensor,
    y: Tensor,
    senders: Callable[[Tensor], Tensor],
    k: int,
    own: FunctionLibrary | None,
    chunk: int,
    *,
    receivers: Tensor | None = None,
    receiver_scale: Tensor | None = None,
    gram: bool = True,
) -> _Normal:
    """Accumulate over frame blocks; ``senders`` maps (t, N) frames to (t, N, k) features.

    ``receivers`` (R,) picks the receivers (all by default); ``receiver_scale`` (T, R)
    multiplies each receiver's target and own terms frame by frame (a weighted problem
    whose sender features stay shared); ``gram=False`` leaves FᵀF at zero.
    """
    n, device = x.shape[1], x.device
    idx = torch.arange(n, device=device) if receivers is None else receivers
    r = len(idx)
    m = len(own) if own is not None else 0
    eq = _Normal(
        gram=torch.zeros(k * n, k * n, dtype=F64, device=device) if gram else x.new_zeros(0, dtype=F64),
        cross_y=torch.zeros(k * n, r, dtype=F64, device=device),
        cross_e=torch.zeros(m, k * n, r, dtype=F64, device=device),
        e_gram=torch.zeros(r, m, m, dtype=F64, device=device),
        e_y=torch.zeros(r, m, dtype=F64, device=device),
        y_sq=torch.zeros(r, dtype=F64, device=device),
    )
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start : start + chunk].to(F64), y[start : start + chunk, idx].to(F64)
        scale = None if receiver_scale is None else receiver_scale[start : start + chunk].to(F64)
        if scale is not None:
            yb = yb * scale
        design = senders(xb).permute(0, 2, 1).reshape(xb.shape[0], k * n)  # column k*N + j
        if gram:
            # Block rows of the upper triangle only (k(k+1)/2 of the k² blocks), mirrored below.
            for block in range(k):
                rows = slice(block * n, (block + 1) * n)
                eq.gram[rows, block * n :].addmm_(design[:, rows].T, design[:, block * n :])
        eq.cross_y.addmm_(design.T, yb)
        eq.y_sq += (yb * yb).sum(0)
        if own is not None:
            extra = own(xb[:, idx])  # (t, R, M)
            if scale is not None:
                extra = extra * scale.unsqueeze(-1)
            for index in range(m):
                eq.cross_e[index].addmm_(design.T, extra[..., index])
            eq.e_gram += torch.einsum("tnm,tnl->nml", extra, extra)
            eq.e_y += torch.einsum("tnm,tn->nm", extra, yb)
    if gram:
        for block in range(1, k):
            rows = slice(block * n, (block + 1) * n)
            eq.gram[rows, : block * n].copy_(eq.gram[: block * n, rows].T)
    return eq


@dataclass
class _Applied:
    """The normal equations after one pass of the receivers' inverse Gram matrices
    (``apply``): what a solve over any subset of the own (φ) terms needs, so that backward
    elimination over the terms does no further (kN)-sized work (before, every trial applied
    the inverse to every term again: 63 solves instead of 6 at N = 1000).

    Receiver i's own terms are eliminated by its Schur complement; with v = G⁻¹Fᵀy and
    s_m = G⁻¹FᵀE_m, the own coefficients u solve (EᵀE − (FᵀE)ᵀs) u = Eᵀy − (FᵀE)ᵀv, the
    senders' are v − Σ_m s_m u_m, and the residual sum is
    y·y − v·Fᵀy + Σ_m u_m (s_m·Fᵀy) − u·Eᵀy.
    """

    eq: _Normal
    coef: Tensor  # v (kN, N)
    solved_e: Tensor  # s (M, kN, N)
    schur: Tensor  # EᵀE − (FᵀE)ᵀs (N, M, M)
    rhs: Tensor  # Eᵀy − (FᵀE)ᵀv (N, M)
    along: Tensor  # s_m·Fᵀy (N, M)
    base_sse: Tensor  # y·y − v·Fᵀy (N,)

    @classmethod
    def build(cls, eq: _Normal, apply: Callable[[Tensor], Tensor]) -> _Applied:
        coef = apply(eq.cross_y)
        m = eq.cross_e.shape[0]
        solved_e = torch.empty_like(eq.cross_e)  # filled term by term: no stacked copy
        for index in range(m):
            solved_e[index] = apply(eq.cross_e[index])
        return cls(
            eq=eq,
            coef=coef,
            solved_e=solved_e,
            schur=eq.e_gram - _column_products(eq.cross_e, solved_e),
            rhs=eq.e_y - _column_sums(eq.cross_e, coef),
            along=_column_sums(solved_e, eq.cross_y),
            base_sse=eq.y_sq - (coef * eq.cross_y).sum(0),
        )

    def solve(self, keep: list[int], ridge: float) -> tuple[Tensor, Tensor]:
        """Own-term coefficients (N, len(keep)) and residual sums (N,) with the terms ``keep``."""
        if not keep:
            return self.rhs[:, :0], self.base_sse.clamp_min(0)
        schur = self.schur[:, keep][:, :, keep]
        diagonal = schur.diagonal(dim1=1, dim2=2)
        diagonal.add_(ridge * diagonal.mean(1, keepdim=True))
        own = torch.linalg.solve(schur, self.rhs[:, keep].unsqueeze(-1)).squeeze(-1)
        # At the least-squares solution ||y - F v' - E u||² = y·y - v'·Fᵀy - u·Eᵀy.
        sse = self.base_sse + (own * self.along[:, keep]).sum(1) - (own * self.eq.e_y[:, keep]).sum(1)
        return own, sse.clamp_min(0)

    def senders(self, keep: list[int], own: Tensor) -> Tensor:
        """Sender coefficients (kN, N) for the own terms ``keep`` with coefficients ``own``."""
        coef = self.coef.clone()
        for column, index in enumerate(keep):
            coef -= self.solved_e[index] * own[:, column]
        return coef


def _column_sums(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) with entry [n, m] = a[m, :, n] · b[:, n], for a (M, R, N) and b (R, N)."""
    if not len(a):
        return a.new_zeros(b.shape[1], 0)
    return torch.stack([(a[index] * b).sum(0) for index in range(a.shape[0])], 1)


def _solve(eq: _Normal, apply: Callable[[Tensor], Tensor], ridge: float) -> tuple[Tensor, Tensor, Tensor]:
    """Sender coefficients (kN, N), own-term coefficients (N, M) and residual sums (N,).

    ``apply(rhs)`` multiplies each column i of rhs by receiver i's inverse Gram matrix; the
    own terms are eliminated by a per-receiver Schur complement (:class:`_Applied`).
    """
    applied = _Applied.build(eq, apply)
    keep = list(range(eq.cross_e.shape[0]))
    own, sse = applied.solve(keep, ridge)
    return applied.senders(keep, own), own, sse


def _column_products(a: Tensor, b: Tensor) -> Tensor:
    """(N, M, L) with entry [n, m, l] = a[m, :, n] · b[l, :, n], for a (M, R, N) and b (L, R, N).

    A loop over (m, l) pairs of elementwise products: ``torch.einsum("mrn,lrn->nml")`` batches
    over the strided last axis and took 2–15 s per call at N = 1000 (M = 5) on two CPU cores,
    the loop 0.4 s; at N = 1000 it was 90 % of the whole regression.
    """
    out = a.new_empty(a.shape[2], a.shape[0], b.shape[0])
    for m in range(a.shape[0]):
        for index in range(b.shape[0]):
            out[:, m, index] = (a[m] * b[index]).sum(0)
    return out


def _lifted(
    x: Tensor,
    y: Tensor,
    psi_lib: FunctionLibrary,
    ortho: Tensor,
    extra: FunctionLibrary | None,
    ridge: float,
    chunk: int,
    keep_gram: bool,
) -> tuple[Tensor, Tensor | None]:
    """The lifted solve, in place. Receiver i's own sender block stays in: it is a function
    of x_i and joins φ_i (with ``extra``, the φ terms that are not ψ terms), so W's diagonal
    is zero.

    Returns the sender coefficients (K'N, N) in the orthonormal coordinates ``ortho``
    (K × K'; row k'·N + j, column: receiver i; the own blocks zeroed) and, with
    ``keep_gram``, a copy of the Gram matrix (K'N, K'N), which the Cholesky factor otherwise
    overwrites (module docstring, "Device and memory").
    """
    n, k = x.shape[1], ortho.shape[1]
    eq = _normal_equations(x, y, lambda xb: psi_lib(xb) @ ortho, k, extra, chunk)
    eq.gram.diagonal().add_(ridge * eq.gram.diagonal().mean())
    gram = eq.gram.clone() if keep_gram else None
    # The transpose of the (symmetric) row-major Gram matrix is the same matrix in
    # column-major order, which LAPACK factorises where it lies; measured: no copy.
    info = torch.empty(0, dtype=torch.int32, device=x.device)
    factor = torch.linalg.cholesky_ex(eq.gram.mT, check_errors=True, out=(eq.gram.mT, info))[0]
    coef = _solve_lifted(eq, factor, ridge)
    del factor, eq
    idx = torch.arange(n, device=x.device)
    coef.view(k, n, n)[:, idx, idx] = 0.0  # the own block belongs to φ, which the refit determines
    return coef, gram


def _solve_lifted(eq: _Normal, factor: Tensor, ridge: float) -> Tensor:
    """Sender coefficients (K'N, N) of the lifted problem, written over ``eq.cross_y``.

    With G = LLᵀ (``factor``), in whitened coordinates c = L⁻¹Fᵀy and e_m = L⁻¹FᵀE_m (both
    solved in place), receiver i's own extra terms θ_i solve the Schur system
    (E_iᵀE_i − e_·ᵢᵀe_·ᵢ) θ_i = E_iᵀy_i − e_·ᵢᵀc_i, and its senders' coefficients are
    L⁻ᵀ(c_i − Σ_m e_mi θ_im): the same solution as G⁻¹(Fᵀy − FᵀE θ), without a second
    (K'N, N) array.
    """
    whitened = torch.linalg.solve_triangular(factor, eq.cross_y, upper=False, out=eq.cross_y)
    m = eq.cross_e.shape[0]
    if m:
        for index in range(m):
            torch.linalg.solve_triangular(factor, eq.cross_e[index], upper=False, out=eq.cross_e[index])
        schur = eq.e_gram - _column_products(eq.cross_e, eq.cross_e)
        rhs = eq.e_y - torch.stack([(eq.cross_e[index] * whitened).sum(0) for index in range(m)], 1)
        diagonal = schur.diagonal(dim1=1, dim2=2)
        diagonal.add_(ridge * diagonal.mean(1, keepdim=True))
        own = torch.linalg.solve(schur, rhs.unsqueeze(-1)).squeeze(-1)
        for index in range(m):
            whitened -= eq.cross_e[index] * own[:, index]
    return torch.linalg.solve_triangular(factor.mT, whitened, upper=True, out=whitened)


def _lifted_moments(coef: Tensor, k: int, reference: Tensor, per_sender: bool) -> Tensor:
    """Second moments of the lifted coefficients over the ``reference`` receivers, summed
    over senders (K', K') for a shared ψ, or per sender (N, K', K'): the matrices whose top
    eigenvector is ψ. Read in blocks of senders, so no (N, N, K') copy is made."""
    n = coef.shape[1]
    view = coef.view(k, n, n)  # [k', sender j, receiver i]
    kept = int(reference.sum())
    block = max(1, 2**23 // max(1, k * kept))  # 64 MB of float64 per block
    parts = []
    for start in range(0, n, block):
        part = view[:, start : start + block][:, :, reference].permute(1, 0, 2)  # (b, K', R)
        parts.append(part @ part.mT)
    moments = torch.cat(parts)  # (N, K', K')
    return moments if per_sender else moments.sum(0)


def available_memory(device: torch.device | str = "cpu") -> int:
    """Bytes that can be allocated now on ``device``: for CUDA, the free device memory plus
    what torch's caching allocator holds unused; otherwise the system's ``MemAvailable``
    (from psutil when installed, else /proc/meminfo, else the free physical pages)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _lifted_bytes(n: int, k: int, k_ortho: int, m_extra: int, m_own: int, chunk: int) -> int:
    """Peak bytes of :func:`_lifted` with K ψ terms (K' orthonormal directions) and
    ``m_extra`` φ terms that are not ψ terms: the Gram matrix (K'N)², the right-hand sides
    (1 + m_extra)·K'N·N, one frame block of features and the refit that follows
    (:func:`_search_bytes`), whichever is larger."""
    kn = k_ortho * n
    block = chunk * n * (2 + k + 2 * k_ortho + m_extra)
    return max(8 * (kn * kn + (1 + m_extra) * kn * n + block), _search_bytes(n, k, m_own, chunk))


def _search_bytes(n: int, k: int, m_own: int, chunk: int) -> int:
    """Peak bytes of a refit with ψ fixed (:func:`_refit`) over N receivers with ``m_own``
    φ terms, inside the search: the Gram matrix, its factor, the receivers' own directions,
    the right-hand sides and their solutions (5 + 2M arrays of N²), three N² temporaries,
    the search's best and trial W (N² each) and one frame block."""
    return 8 * ((10 + 2 * m_own) * n * n + chunk * n * (4 + k + m_own))


def _raw_gram(gram: Tensor, ortho: Tensor, n: int) -> Tensor:
    """The senders' Gram matrix (KN, KN) of the raw terms from that of the orthonormalised
    ones (K'N, K'N): F_raw = F_ortho T⁺ per sender, T = ``ortho``."""
    back = torch.linalg.pinv(ortho)  # (K', K)
    kk = ortho.shape[1]
    blocks = torch.einsum("ak,ajbl->kjbl", back, gram.view(kk, n, kk, n))
    return torch.einsum("kjbl,bm->kjml", blocks, back).reshape(back.shape[1] * n, back.shape[1] * n)


def _psi_features(psi_lib: FunctionLibrary, beta: Tensor) -> Callable[[Tensor], Tensor]:
    """Frames (t, N) → ψ_j(x_j) (t, N, 1) for coefficients ``beta``: (K,), (1, K) or (N, K)."""

    def features(xb: Tensor) -> Tensor:
        return (psi_lib(xb) * beta).sum(-1, keepdim=True)

    return features


def _refit_equations(
    x: Tensor,
    y: Tensor,
    psi: Callable[[Tensor], Tensor],
    phi_lib: FunctionLibrary,
    ridge: float,
    chunk: int,
    receivers: Tensor | None = None,
):
    """Normal equations for W and φ with ψ fixed (one feature per sender), and the inverse
    Gram matrix of each receiver (all, or ``receivers``), whose own column is excluded."""
    eq = _normal_equations(x, y, psi, 1, phi_lib, chunk, receivers=receivers)
    eq.gram.diagonal().add_(ridge * eq.gram.diagonal().mean())
    return eq, _without_own_column(torch.linalg.cholesky(eq.gram), receivers)


def _own_directions(factor: Tensor, receivers: Tensor | None = None) -> Tensor:
    """Unit vectors z_i = L⁻¹e_i / ‖L⁻¹e_i‖ (N, R), one per receiver (all, or ``receivers``):
    in whitened coordinates (L⁻¹, with G = LLᵀ the senders' Gram matrix) the one direction
    that only sender i's column reaches, so projecting it out removes that column."""
    device = factor.device
    idx = torch.arange(factor.shape[0], device=device) if receivers is None else receivers
    unit = torch.zeros(factor.shape[0], len(idx), dtype=factor.dtype, device=device)
    unit[idx, torch.arange(len(idx), device=device)] = 1.0
    own = torch.linalg.solve_triangular(factor, unit, upper=False)
    return own / own.norm(dim=0)


def _without_own_column(factor: Tensor, receivers: Tensor | None = None) -> Callable[[Tensor], Tensor]:
    """``apply(rhs)``: column c of rhs times the inverse Gram matrix of receiver
    ``receivers[c]`` (all receivers in order by default) with that receiver's column removed.

    ``factor`` is the Cholesky factor L of the full Gram matrix G = LLᵀ. In whitened
    coordinates (L⁻¹) removing sender i's column removes one unit direction,
    z_i = L⁻¹e_i / ‖L⁻¹e_i‖, so (G without i)⁻¹ v = L⁻ᵀ (I − z_i z_iᵀ) L⁻¹ v. The
    triangular solves keep the φ Schur complement in :func:`_solve` accurate, a small
    difference of large numbers when a receiver's own terms lie nearly in the senders' span
    (as in a driven assembly). On the N = 2048 stimuli recording (condition 10¹⁰), the
    explicit inverse with a rank-1 downdate left W's rows 10⁻³–10⁻² rms off (of 0.2) and
    this form 2·10⁻⁴ (the ridge's bias).
    """
    own = _own_directions(factor, receivers)

    def apply(rhs: Tensor) -> Tensor:
        whitened = torch.linalg.solve_triangular(factor, rhs, upper=False)
        whitened -= own * (own * whitened).sum(0)
        return torch.linalg.solve_triangular(factor.T, whitened, upper=True)

    return apply


def _eliminate_phi_terms(applied: _Applied, ridge: float, tolerance: float, judged: Tensor) -> list[int]:
    """Backward elimination: drop, one at a time, the φ term whose removal (from every
    neuron) raises the total residual least, while it stays within ``tolerance`` (relative)
    of the full library's residual, plus a floor of 1e-10 of the derivative's energy for
    rounding. Judging terms by the residual, not by their size, keeps a term that is small
    next to another over the activity range but needed to fit (tanh x beside c·x when x
    spans ±100). Only the receivers ``judged`` (a boolean mask) count. Returns the kept
    term indices."""
    keep = list(range(applied.eq.cross_e.shape[0]))
    limit = float(applied.solve(keep, ridge)[1][judged].sum()) * (1 + tolerance) + 1e-10 * float(
        applied.eq.y_sq[judged].sum()
    )
    while len(keep) > 1:
        trials = {
            drop: float(applied.solve([k for k in keep if k != drop], ridge)[1][judged].sum())
            for drop in keep
        }
        drop = min(trials, key=trials.__getitem__)
        if trials[drop] > limit:
            break
        keep.remove(drop)
    return keep


def _refit(
    x: Tensor,
    y: Tensor,
    psi: Callable[[Tensor], Tensor],
    phi_lib: FunctionLibrary,
    ridge: float,
    chunk: int,
    receivers: Tensor | None = None,
):
    """W (R, N), φ coefficients (R, M) and residual sums (R,) for a fixed ψ, over all
    receivers (R = N) or ``receivers``."""
    eq, apply = _refit_equations(x, y, psi, phi_lib, ridge, chunk, receivers)
    coef, phi, sse = _solve(eq, apply, ridge)
    return _zero_diagonal(coef, receivers), phi, sse


def _zero_diagonal(coef: Tensor, receivers: Tensor | None = None) -> Tensor:
    """W (R, N) from sender coefficients (N, R) of all receivers or ``receivers``."""
    idx = torch.arange(coef.shape[1], device=coef.device) if receivers is None else receivers
    # Zero by construction; clear the rounding residue.
    coef[idx, torch.arange(len(idx), device=coef.device)] = 0.0
    return coef.T.contiguous()


def _psi_step(
    x: Tensor, y: Tensor, weight: Tensor, psi_lib: FunctionLibrary, phi_lib: FunctionLibrary, chunk: int
):
    """Shared ψ coefficients (K,) for a fixed W, jointly with every neuron's φ.

    Receiver i's features are z_ik = Σ_j W_ij b_k(x_j) (ψ terms seen through W) and its own
    φ terms E_i; φ is eliminated per receiver (Schur complement), then one K × K solve.
    """
    n, k, m = x.shape[1], len(psi_lib), len(phi_lib)
    zz, ze, ee = (torch.zeros(n, a, b, dtype=F64, device=x.device) for a, b in ((k, k), (k, m), (m, m)))
    zy, ey = torch.zeros(n, k, dtype=F64, device=x.device), torch.zeros(n, m, dtype=F64, device=x.device)
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start : start + chunk].to(F64), y[start : start + chunk].to(F64)
        z = torch.einsum("tjk,ij->tik", psi_lib(xb), weight)
        e = phi_lib(xb)
        zz += torch.einsum("tik,til->ikl", z, z)
        ze += torch.einsum("tik,tim->ikm", z, e)
        ee += torch.einsum("tim,til->iml", e, e)
        zy += torch.einsum("tik,ti->ik", z, yb)
        ey += torch.einsum("tim,ti->im", e, yb)
    evals, evecs = torch.linalg.eigh(ee)  # pseudo-inverse: φ's terms are nearly collinear
    inverse_evals = torch.where(evals > evals[:, -1:] * 1e-13, 1 / evals.clamp_min(1e-300), 0.0)
    ee_pinv = (evecs * inverse_evals.unsqueeze(1)) @ evecs.transpose(1, 2)
    reduced = (zz - ze @ ee_pinv @ ze.transpose(1, 2)).sum(0)
    rhs = (zy - torch.einsum("ikm,iml,il->ik", ze, ee_pinv, ey)).sum(0)
    return torch.linalg.lstsq(reduced, rhs.unsqueeze(-1)).solution.squeeze(-1)


def _search_shared_psi(
    x: Tensor,
    y: Tensor,
    start: Tensor | None,
    psi_lib: FunctionLibrary,
    phi_lib: FunctionLibrary,
    ridge: float,
    chunk: int,
    steps: int,
):
    """A shared ψ for when the lifted solve is ill-determined (activity confined near a
    low-dimensional manifold, as in sparse networks: then its rank-1 residual is large).

    Candidates are the lifted estimate (``start``; None when the lifted solve did not run)
    and each single ψ term; the one whose refit leaves the smallest residual starts an
    alternating least squares (ψ with φ for fixed W, then W with φ for fixed ψ), which stops
    when the residual falls by less than 0.1 %.
    Returns ψ (K,).
    """

    def refit(beta: Tensor):
        return _refit(x, y, _psi_features(psi_lib, beta), phi_lib, ridge, chunk)

    singles = list(torch.eye(len(psi_lib), dtype=F64, device=x.device))
    candidates = singles if start is None else [start, *singles]
    beta, weight, sse = None, None, None
    for candidate in candidates:  # only the best fit is kept: each W is N × N
        candidate_weight, _, candidate_sse = refit(candidate)
        if sse is None or float(candidate_sse.sum()) < float(sse.sum()):
            beta, weight, sse = candidate, candidate_weight, candidate_sse
        del candidate_weight
    for _ in range(steps):
        proposal = _psi_step(x, y, weight, psi_lib, phi_lib, chunk)
        proposal = proposal / proposal.abs().max().clamp_min(1e-300)
        new_weight, _, new_sse = refit(proposal)
        improved = float(new_sse.sum()) < float(sse.sum()) * (1 - 1e-3)
        if float(new_sse.sum()) < float(sse.sum()):
            beta, weight, sse = proposal, new_weight, new_sse
        if not improved:
            break
    return beta


def _swap_gains(gram: Tensor, beta: Tensor, weight: Tensor, cross_residual: Tensor, ridge: float) -> Tensor:
    r"""Change of the residual sum when one sender's ψ is replaced by one library term.

    The receivers share the design Ψ = [ψ_j(x_j)] (T × N) with columns ψ_j = F β_j, where
    F = [b_k(x_j)] (T × KN, column k·N + j) has the Gram matrix ``gram``; W (R, N) and the
    residuals r_i are the least-squares fit of R receivers on Ψ. Replacing column j by
    c = b_k(x_j) changes receiver i's residual sum by

    .. math:: \frac{W_{ij}^2}{H_{jj}} - \frac{(c^\top r_i + W_{ij} s)^2}{\lVert\tilde c\rVert^2},
        \quad s = \frac{(H \Psi^\top c)_j}{H_{jj}},

    with :math:`H = (\Psi^\top\Psi)^{-1}` and :math:`\tilde c` = c's residual on the other
    columns, :math:`\lVert\tilde c\rVert^2 = c^\top c - g^\top H g + (Hg)_j^2/H_{jj}`,
    :math:`g = \Psi^\top c` (a column downdate, then an update). ``cross_residual`` is
    :math:`F^\top r` (KN, R). Returns the change summed over receivers, (N, K).
    """
    k, n = beta.shape[1], beta.shape[0]
    g_all = (gram.view(k * n, k, n) * beta.T.unsqueeze(0)).sum(1)  # FᵀΨ (KN, N)
    psi_gram = (g_all.view(k, n, n) * beta.T.unsqueeze(-1)).sum(0)  # ΨᵀΨ
    psi_gram.diagonal().add_(ridge * psi_gram.diagonal().mean())
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(psi_gram))
    solved = inverse @ g_all.T  # H g for every candidate (N, KN)
    sender = torch.arange(n, device=gram.device).repeat(k)
    candidate = torch.arange(k * n, device=gram.device)
    own, h_jj = solved[sender, candidate], inverse.diagonal()[sender]
    residual_norm = gram.diagonal() - (g_all.T * solved).sum(0) + own**2 / h_jj
    s = own / h_jj
    weight_sq = (weight**2).sum(0)[sender]
    along = (cross_residual.view(k, n, -1) * weight.T.unsqueeze(0)).sum(-1).reshape(-1)
    gain = ((cross_residual**2).sum(1) + 2 * s * along + s**2 * weight_sq) / residual_norm.clamp_min(1e-300)
    return (weight_sq / h_jj - gain).view(k, n).T


def _search_sender_terms(
    x: Tensor,
    y: Tensor,
    gram: Tensor,
    psi_lib: FunctionLibrary,
    phi_lib: FunctionLibrary,
    receivers: Tensor,
    ridge: float,
    chunk: int,
    steps: int,
    progress: bool = True,
):
    """One ψ term per sender, for when the lifted solve cannot tell the senders' ψ apart
    (many senders, nearly collinear terms: its per-sender rank-1 residual is large).

    Start: the single term shared by all senders whose refit (W and φ on the ``receivers``)
    leaves the smallest residual. Then, each round, the exact change of the residual for
    swapping any one sender to any one term (:func:`_swap_gains`, from the senders' Gram
    matrix ``gram`` of the raw terms, (KN, KN)) picks for every sender its best term; the
    swaps that promise a fall are made together (the most promising half, quarter, … when
    all of them together raise the refit's residual). Stops when no swap lowers it.
    Alternating least squares over continuous ψ stalls here: with W refitted, the
    residual is orthogonal to every current ψ_j, so it sees no way out.
    Returns ψ (N, K), one-hot rows.
    """
    n, k, device = x.shape[1], len(psi_lib), x.device

    def refit(beta: Tensor):
        weight, phi, sse = _refit(x, y, _psi_features(psi_lib, beta), phi_lib, ridge, chunk, receivers)
        return weight, phi, float(sse.sum())

    def one_hot(terms: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(terms, k).to(F64)

    fits = [refit(one_hot(torch.full((n,), term, device=device))) for term in range(k)]
    term = min(range(k), key=lambda index: fits[index][2])
    terms = torch.full((n,), term, device=device)
    weight, phi, sse = fits[term]
    with Progress(
        "ψ per sender: term swaps", BarColumn(), MofNCompleteColumn(),
        TextColumn("residual {task.fields[residual]:.3e}"), transient=True, disable=not progress,
    ) as bar:  # fmt: skip
        task = bar.add_task("rounds", total=steps, residual=sse)
        for _ in range(steps):
            cross_residual = torch.zeros(k * n, len(receivers), dtype=F64, device=device)
            frame_index = torch.arange(chunk, device=device).unsqueeze(1)
            sender_index = torch.arange(n, device=device)
            for start in range(0, x.shape[0], chunk):
                xb = x[start : start + chunk].to(F64)
                basis = psi_lib(xb)
                residual = (
                    y[start : start + chunk, receivers].to(F64)
                    - (phi_lib(xb[:, receivers]) * phi).sum(-1)
                    - basis[frame_index[: len(xb)], sender_index, terms] @ weight.T
                )
                cross_residual.addmm_(basis.permute(0, 2, 1).reshape(len(xb), k * n).T, residual)
            change = _swap_gains(gram, one_hot(terms), weight, cross_residual, ridge)
            best = change.min(1)
            promising = (best.values < 0) & (best.indices != terms)
            order = best.values.masked_fill(~promising, float("inf")).argsort()[: int(promising.sum())]
            while len(order):
                trial = terms.clone()
                trial[order] = best.indices[order]
                trial_fit = refit(one_hot(trial))
                if trial_fit[2] < sse:
                    terms, (weight, phi, sse) = trial, trial_fit
                    break
                order = order[: len(order) // 2]
            bar.update(task, advance=1, residual=sse)
            if not len(order):
                break
    return one_hot(terms)


def _centred_energy(y: Tensor, chunk: int) -> Tensor:
    """Σ_t,i (y_ti − ȳ_i)² in float64, read in frame blocks (no float64 copy of y)."""
    mean = y.mean(0, dtype=F64)
    blocks = range(0, y.shape[0], chunk)
    return sum(((y[start : start + chunk].to(F64) - mean) ** 2).sum() for start in blocks)


def _shares(contribution: Tensor) -> Tensor:
    """Each term's share of a function's size, per row."""
    return contribution / contribution.sum(-1, keepdim=True).clamp_min(1e-300)


def regress_dynamics(
    activity: Tensor,
    derivative: Tensor,
    *,
    phi_terms: Sequence[str],
    psi_terms: Sequence[str],
    per_sender_psi: bool = False,
    prune: float = 0.01,
    ridge: float = 1e-10,
    rank1_tolerance: float = 1e-3,
    search_steps: int = 10,
    reference_receivers: Tensor | None = None,
    chunk: int = 2048,
    progress: bool = False,
    memory_limit: int | None = None,
) -> LibraryRegression:
    """Fit W, φ and ψ to (activity, derivative) frames in closed form (module docstring).

    Three stages: (1) the lifted solve over the whole libraries, whose rank-1 factor gives ψ
    (or, when that factor explains the lifted coefficients badly, a search over ψ: see
    ``rank1_tolerance``); (2) ψ terms whose share of |ψ| (coefficient times the term's RMS
    over the data) stays below ``prune`` are dropped, as in SINDy; (3) with ψ fixed, a refit
    of W and φ on one feature ψ_j(x_j) per sender, in which φ's terms are chosen by
    backward elimination: a term goes when dropping it raises the residual by less than
    ``prune`` (relative). Stage 3 is far better conditioned than stage 1, whose nearly
    collinear terms amplify the float32 rounding of recorded data.

    Args:
        activity: x (T, N).
        derivative: dx/dt at the same frames (T, N).
        phi_terms, psi_terms: libraries (:class:`~ccnn.nn.function_library.FunctionLibrary`).
            ψ terms must not contain a constant (it would trade with φ's offset).
        per_sender_psi: one ψ per sender (ψ depends on the sender's latent) instead of one
            shared ψ.
        prune: relative ψ share, and relative rise of the residual for φ, below which a term
            is dropped (0 keeps every term).
        ridge: Tikhonov regularisation relative to the mean diagonal of the Gram matrix.
        rank1_tolerance: when the lifted coefficients' rank-1 residual exceeds this, ψ is
            searched instead. Shared ψ: the best of the lifted estimate and each single
            term, refined by up to ``search_steps`` alternating least-squares rounds. One ψ
            per sender: one library term per sender, chosen by up to ``search_steps``
            rounds of exact swap gains (:func:`_search_sender_terms`).
        search_steps: rounds of that search (0: the shared candidates only; no per-sender
            search).
        reference_receivers: boolean mask (N,) of the receivers that follow the model
            exactly (e.g. those with Ω = 1 when others see an unknown stimulus); ψ's
            factorisation and the choice of φ's terms use only them. Default: all.
        chunk: frames per block when accumulating the Gram matrix (halved, down to 256, when
            the lifted solve would not fit ``memory_limit`` otherwise).
        progress: show a progress bar over the per-sender search's rounds.
        memory_limit: bytes the fit may allocate on the activity's device (default: 90 % of
            :func:`available_memory` now). The lifted solve runs when its estimate fits;
            otherwise a shared ψ is searched from single library terms (``psi_source``
            "search", ``rank1_residual`` NaN), and one ψ per sender, which needs the
            lifted solve, raises ``MemoryError``.

    Returns:
        :class:`LibraryRegression`, every tensor on the device of ``activity`` (CPU or CUDA:
        the computation runs there; ``derivative`` must lie on the same device).
    """
    x = as_tensor(activity, "activity")
    y = as_tensor(derivative, "derivative")
    check_shape(x, (None, None), "activity", meaning="(frames, neurons)")
    check_shape(y, tuple(x.shape), "derivative", meaning="(frames, neurons) like activity")
    if y.device != x.device:
        raise ValueError(f"derivative: expected a tensor on activity's device {x.device}, got {y.device}")
    check_finite(x, "activity")
    check_finite(y, "derivative")
    if memory_limit is not None:
        memory_limit = check_int(memory_limit, "memory_limit", minimum=1, meaning=" bytes")
    if "1" in [t.replace(" ", "") for t in psi_terms]:
        raise ValueError("psi_terms: a constant ψ term cannot be told apart from φ's offset; remove '1'")
    if not 0 <= prune < 1:
        raise ValueError(f"prune: expected a share in [0, 1), got {prune}")
    n, device = x.shape[1], x.device
    if reference_receivers is None:
        reference = torch.ones(n, dtype=torch.bool, device=device)
    else:
        reference = torch.as_tensor(reference_receivers, device=device).bool()
        check_shape(reference, (n,), "reference_receivers", meaning="(neurons,) mask")
        if not reference.any():
            raise ValueError("reference_receivers: expected at least one True entry, got none")
    psi_lib = FunctionLibrary(psi_terms)
    extra_terms = [t for t in phi_terms if t not in psi_lib.terms]
    union = FunctionLibrary([*psi_lib.terms, *extra_terms])
    ortho = _orthonormaliser(psi_lib, x)  # K × K' (K' ≤ K independent directions)
    k, k_ortho = len(psi_lib), ortho.shape[1]
    budget = int(0.9 * available_memory(device)) if memory_limit is None else memory_limit
    chunk = min(chunk, x.shape[0])
    needed = _lifted_bytes(n, k, k_ortho, len(extra_terms), len(union), chunk)
    # Frame blocks are the one part that can shrink (2.2 GB at N = 8000 and 2048 frames):
    # halve them, down to 256 frames, before giving up the lifted solve.
    while needed > budget and chunk > 256:
        chunk //= 2
        needed = _lifted_bytes(n, k, k_ortho, len(extra_terms), len(union), chunk)
    # The per-sender search reads the raw terms' Gram matrix: keep the lifted one (and
    # transform it) when both fit, else accumulate it again after the lifted solve.
    keep_gram = per_sender_psi and needed + 8 * (k_ortho * n) ** 2 + 16 * (k * n) ** 2 <= budget
    psi_source = "lifted"

    if needed > budget:
        if per_sender_psi:
            raise MemoryError(
                f"memory_limit: one ψ per sender needs the lifted solve, about {needed / 1e9:.1f} GB for "
                f"N = {n} and {k_ortho} ψ directions; got {budget / 1e9:.1f} GB. Raise memory_limit, "
                "use more memory (a larger GPU or host) or a shared ψ (psi_inputs 'x_j')"
            )
        unexplained = float("nan")
        psi = _search_shared_psi(x, y, None, psi_lib, union, ridge, chunk, search_steps).unsqueeze(0)
        psi_source = "search"
    elif per_sender_psi:
        extra = FunctionLibrary(extra_terms) if extra_terms else None
        coef, gram = _lifted(x, y, psi_lib, ortho, extra, ridge, chunk, keep_gram)
        evals, evecs = torch.linalg.eigh(_lifted_moments(coef, k_ortho, reference, per_sender=True))
        del coef
        psi = evecs[:, :, -1] @ ortho.T  # (N, K): one ψ per sender
        unexplained = max(0.0, (evals[:, :-1].sum() / evals.sum().clamp_min(1e-300)).item())
        if unexplained > rank1_tolerance and search_steps > 0:
            if gram is not None:
                raw = _raw_gram(gram, ortho, n)
            else:
                no_receivers = torch.zeros(0, dtype=torch.long, device=device)
                raw = _normal_equations(x, y, psi_lib, k, None, chunk, receivers=no_receivers).gram
            del gram
            receivers = reference.nonzero().squeeze(1)
            psi = _search_sender_terms(
                x, y, raw, psi_lib, union, receivers, ridge, chunk, search_steps, progress
            )
            psi_source = "search"
            del raw
        else:
            del gram
    else:
        extra = FunctionLibrary(extra_terms) if extra_terms else None
        coef, _ = _lifted(x, y, psi_lib, ortho, extra, ridge, chunk, keep_gram=False)
        evals, evecs = torch.linalg.eigh(_lifted_moments(coef, k_ortho, reference, per_sender=False))
        del coef
        psi = (ortho @ evecs[:, -1]).unsqueeze(0)  # (1, K)
        unexplained = max(0.0, (evals[:-1].sum() / evals.sum().clamp_min(1e-300)).item())
        if unexplained > rank1_tolerance:
            psi = _search_shared_psi(x, y, psi[0], psi_lib, union, ridge, chunk, search_steps).unsqueeze(0)
            psi_source = "search"

    sample = x.flatten()[:: max(1, x.numel() // 200_000)].to(F64)
    psi_rms = psi_lib(sample).pow(2).mean(0).sqrt()
    # ψ terms are pruned per sender by their share of |ψ| (they are bounded and comparable).
    if prune > 0:
        psi = psi * (_shares(psi.abs() * psi_rms) > prune)
    # Identifiability: ψ rises by 2 over the activity range (a plateau of 1 for tanh) and is
    # increasing; W takes the scale and the sign.
    x_range = (float(x.min()), float(x.max()))
    ends = psi_lib(torch.tensor(x_range, dtype=F64, device=device))  # (2, K)
    psi = psi / psi_plateau(psi @ ends[0], psi @ ends[1]).unsqueeze(1)

    psi_features = _psi_features(psi_lib, psi)
    # φ: one set of terms for all neurons (they share one Gram block per receiver), chosen
    # by backward elimination on the refit's own normal equations.
    applied = _Applied.build(*_refit_equations(x, y, psi_features, union, ridge, chunk))
    keep = _eliminate_phi_terms(applied, ridge, prune, reference) if prune > 0 else list(range(len(union)))
    phi_kept, sse = applied.solve(keep, ridge)
    weight = _zero_diagonal(applied.senders(keep, phi_kept))
    del applied
    phi = torch.zeros(n, len(union), dtype=F64, device=device)
    phi[:, keep] = phi_kept
    return LibraryRegression(
        weight=weight,
        psi=psi if per_sender_psi else psi[0],
        phi=phi,
        phi_terms=list(union.terms),
        psi_terms=list(psi_lib.terms),
        derivative_r2=float(1 - sse.sum() / _centred_energy(y, chunk)),
        rank1_residual=unexplained,
        x_range=x_range,
        psi_source=psi_source,
    )
