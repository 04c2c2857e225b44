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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_shape
from ccnn.data.activity.ground_truth import psi_plateau
from ccnn.nn.function_library import FunctionLibrary

__all__ = ["LibraryRegression", "regress_dynamics"]

F64 = torch.float64


@dataclass
class LibraryRegression:
    """Result of :func:`regress_dynamics` (float64 tensors).

    Attributes:
        weight: W (N, N), zero diagonal, ``W[i, j]`` from j onto i, paired with ``psi``,
            which is normalised to rise by 2 over ``x_range`` (a plateau of 1 for tanh).
        psi: ψ coefficients on ``psi_terms``: (K,) shared, or (N, K) one row per sender.
        phi: φ coefficients on ``phi_terms`` (N, M), one row per neuron.
        phi_terms, psi_terms: the libraries (``phi_terms``: the ψ terms first, then the φ
            terms that are not ψ terms, as a neuron's own ψ block joins its φ).
        derivative_r2: R² of the fitted model on the frames it was fitted to.
        rank1_residual: share of the lifted coefficients that the rank-1 factorisation
            W·ψ leaves unexplained (near 0 when the model class is right).
        x_range: (min, max) of the activity used.
    """

    weight: Tensor
    psi: Tensor
    phi: Tensor
    phi_terms: list[str]
    psi_terms: list[str]
    derivative_r2: float
    rank1_residual: float
    x_range: tuple[float, float]


def _orthonormaliser(library: FunctionLibrary, x: Tensor) -> Tensor:
    """K × K' matrix T such that the terms b(x) T are orthonormal over the pooled activity."""
    sample = x.flatten()[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))[:200_000]]
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
    n = x.shape[1]
    idx = torch.arange(n) if receivers is None else receivers
    r = len(idx)
    m = len(own) if own is not None else 0
    eq = _Normal(
        gram=torch.zeros(k * n, k * n, dtype=F64) if gram else torch.zeros(0, dtype=F64),
        cross_y=torch.zeros(k * n, r, dtype=F64),
        cross_e=torch.zeros(m, k * n, r, dtype=F64),
        e_gram=torch.zeros(r, m, m, dtype=F64),
        e_y=torch.zeros(r, m, dtype=F64),
        y_sq=torch.zeros(r, dtype=F64),
    )
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start : start + chunk].to(F64), y[start : start + chunk, idx].to(F64)
        scale = None if receiver_scale is None else receiver_scale[start : start + chunk].to(F64)
        if scale is not None:
            yb = yb * scale
        design = senders(xb).permute(0, 2, 1).reshape(xb.shape[0], k * n)  # column k*N + j
        if gram:
            eq.gram.addmm_(design.T, design)
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
    return eq


def _solve(eq: _Normal, apply: Callable[[Tensor], Tensor], ridge: float) -> tuple[Tensor, Tensor, Tensor]:
    """Sender coefficients (kN, N), own-term coefficients (N, M) and residual sums (N,).

    ``apply(rhs)`` multiplies each column i of rhs by receiver i's inverse Gram matrix; the
    own terms are eliminated by a per-receiver Schur complement.
    """
    coef = apply(eq.cross_y)
    m = eq.cross_e.shape[0]
    if m:
        solved_e = torch.stack([apply(eq.cross_e[index]) for index in range(m)])  # (M, kN, N)
        schur = eq.e_gram - torch.einsum("mrn,lrn->nml", eq.cross_e, solved_e)
        rhs = eq.e_y - torch.einsum("mrn,rn->nm", eq.cross_e, coef)
        diagonal = schur.diagonal(dim1=1, dim2=2)
        diagonal.add_(ridge * diagonal.mean(1, keepdim=True))
        own = torch.linalg.solve(schur, rhs.unsqueeze(-1)).squeeze(-1)
        coef = coef - torch.einsum("mrn,nm->rn", solved_e, own)
    else:
        own = eq.e_y
    # At the least-squares solution ||y - F v - E u||² = y·y - v·Fᵀy - u·Eᵀy.
    sse = eq.y_sq - (coef * eq.cross_y).sum(0) - (own * eq.e_y).sum(1)
    return coef, own, sse.clamp_min(0)


def _lifted(
    x: Tensor, y: Tensor, psi_lib: FunctionLibrary, extra: FunctionLibrary | None, ridge: float, chunk: int
):
    """The lifted solve. Receiver i's own sender block stays in: it is a function of x_i and
    joins φ_i (with ``extra``, the φ terms that are not ψ terms), so W's diagonal is zero."""
    n = x.shape[1]
    ortho = _orthonormaliser(psi_lib, x)  # K × K' (K' ≤ K independent directions)
    k = ortho.shape[1]
    eq = _normal_equations(x, y, lambda xb: psi_lib(xb) @ ortho, k, extra, chunk)
    eq.gram.diagonal().add_(ridge * eq.gram.diagonal().mean())
    factor = torch.linalg.cholesky(eq.gram)
    coef, _, _ = _solve(eq, lambda rhs: torch.cholesky_solve(rhs, factor), ridge)
    lifted = coef.T.reshape(n, k, n).permute(0, 2, 1)  # [receiver i, sender j, k'] orthonormal coords
    idx = torch.arange(n)
    lifted[idx, idx] = 0.0  # the own block belongs to φ, which the refit determines
    return lifted, ortho, eq.gram


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
    idx = torch.arange(factor.shape[0]) if receivers is None else receivers
    unit = torch.zeros(factor.shape[0], len(idx), dtype=factor.dtype)
    unit[idx, torch.arange(len(idx))] = 1.0
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


def _own_terms(eq: _Normal, keep: list[int]) -> _Normal:
    """The same equations with only the own (φ) terms ``keep``."""
    return _Normal(
        gram=eq.gram,
        cross_y=eq.cross_y,
        cross_e=eq.cross_e[keep],
        e_gram=eq.e_gram[:, keep][:, :, keep],
        e_y=eq.e_y[:, keep],
        y_sq=eq.y_sq,
    )


def _eliminate_phi_terms(
    eq: _Normal, apply: Callable[[Tensor], Tensor], ridge: float, tolerance: float, judged: Tensor
):
    """Backward elimination: drop, one at a time, the φ term whose removal (from every
    neuron) raises the total residual least, while it stays within ``tolerance`` (relative)
    of the full library's residual, plus a floor of 1e-10 of the derivative's energy for
    rounding. Judging terms by the residual, not by their size, keeps a term that is small
    next to another over the activity range but needed to fit (tanh x beside c·x when x
    spans ±100). Only the receivers ``judged`` (a boolean mask) count. Returns the kept
    term indices."""
    keep = list(range(eq.cross_e.shape[0]))
    limit = float(_solve(eq, apply, ridge)[2][judged].sum()) * (1 + tolerance) + 1e-10 * float(
        eq.y_sq[judged].sum()
    )
    while len(keep) > 1:
        trials = {
            drop: float(_solve(_own_terms(eq, [k for k in keep if k != drop]), apply, ridge)[2][judged].sum())
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
    idx = torch.arange(coef.shape[1]) if receivers is None else receivers
    coef[idx, torch.arange(len(idx))] = 0.0  # zero by construction; clear the rounding residue
    return coef.T.contiguous()


def _psi_step(
    x: Tensor, y: Tensor, weight: Tensor, psi_lib: FunctionLibrary, phi_lib: FunctionLibrary, chunk: int
):
    """Shared ψ coefficients (K,) for a fixed W, jointly with every neuron's φ.

    Receiver i's features are z_ik = Σ_j W_ij b_k(x_j) (ψ terms seen through W) and its own
    φ terms E_i; φ is eliminated per receiver (Schur complement), then one K × K solve.
    """
    n, k, m = x.shape[1], len(psi_lib), len(phi_lib)
    zz, ze, ee = (torch.zeros(n, a, b, dtype=F64) for a, b in ((k, k), (k, m), (m, m)))
    zy, ey = torch.zeros(n, k, dtype=F64), torch.zeros(n, m, dtype=F64)
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
    start: Tensor,
    psi_lib: FunctionLibrary,
    phi_lib: FunctionLibrary,
    ridge: float,
    chunk: int,
    steps: int,
):
    """A shared ψ for when the lifted solve is ill-determined (activity confined near a
    low-dimensional manifold, as in sparse networks: then its rank-1 residual is large).

    Candidates are the lifted estimate and each single ψ term; the one whose refit leaves the
    smallest residual starts an alternating least squares (ψ with φ for fixed W, then W with
    φ for fixed ψ), which stops when the residual falls by less than 0.1 %.
    Returns ψ (K,).
    """

    def refit(beta: Tensor):
        return _refit(x, y, _psi_features(psi_lib, beta), phi_lib, ridge, chunk)

    candidates = [start, *torch.eye(len(psi_lib), dtype=F64)]
    fits = [refit(beta) for beta in candidates]
    best = min(range(len(fits)), key=lambda index: float(fits[index][2].sum()))
    beta, (weight, _, sse) = candidates[best], fits[best]
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
    sender = torch.arange(n).repeat(k)
    candidate = torch.arange(k * n)
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
    n, k = x.shape[1], len(psi_lib)

    def refit(beta: Tensor):
        weight, phi, sse = _refit(x, y, _psi_features(psi_lib, beta), phi_lib, ridge, chunk, receivers)
        return weight, phi, float(sse.sum())

    def one_hot(terms: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(terms, k).to(F64)

    fits = [refit(one_hot(torch.full((n,), term))) for term in range(k)]
    term = min(range(k), key=lambda index: fits[index][2])
    terms = torch.full((n,), term)
    weight, phi, sse = fits[term]
    with Progress(
        "ψ per sender: term swaps", BarColumn(), MofNCompleteColumn(),
        TextColumn("residual {task.fields[residual]:.3e}"), transient=True, disable=not progress,
    ) as bar:  # fmt: skip
        task = bar.add_task("rounds", total=steps, residual=sse)
        for _ in range(steps):
            cross_residual = torch.zeros(k * n, len(receivers), dtype=F64)
            for start in range(0, x.shape[0], chunk):
                xb = x[start : start + chunk].to(F64)
                basis = psi_lib(xb)
                residual = (
                    y[start : start + chunk, receivers].to(F64)
                    - (phi_lib(xb[:, receivers]) * phi).sum(-1)
                    - basis[torch.arange(len(xb)).unsqueeze(1), torch.arange(n), terms] @ weight.T
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
        chunk: frames per block when accumulating the Gram matrix.
        progress: show a progress bar over the per-sender search's rounds.
    """
    x = as_tensor(activity, "activity")
    y = as_tensor(derivative, "derivative")
    check_shape(x, (None, None), "activity", meaning="(frames, neurons)")
    check_shape(y, tuple(x.shape), "derivative", meaning="(frames, neurons) like activity")
    check_finite(x, "activity")
    check_finite(y, "derivative")
    if "1" in [t.replace(" ", "") for t in psi_terms]:
        raise ValueError("psi_terms: a constant ψ term cannot be told apart from φ's offset; remove '1'")
    if not 0 <= prune < 1:
        raise ValueError(f"prune: expected a share in [0, 1), got {prune}")
    n = x.shape[1]
    if reference_receivers is None:
        reference = torch.ones(n, dtype=torch.bool)
    else:
        reference = torch.as_tensor(reference_receivers).bool().cpu()
        check_shape(reference, (n,), "reference_receivers", meaning="(neurons,) mask")
        if not reference.any():
            raise ValueError("reference_receivers: expected at least one True entry, got none")
    psi_lib = FunctionLibrary(psi_terms)
    extra_terms = [t for t in phi_terms if t not in psi_lib.terms]
    union = FunctionLibrary([*psi_lib.terms, *extra_terms])
    lifted, ortho, gram = _lifted(
        x, y, psi_lib, FunctionLibrary(extra_terms) if extra_terms else None, ridge, chunk
    )

    if per_sender_psi:
        blocks = lifted[reference].permute(1, 0, 2)  # [sender j, receiver i, k']
        evals, evecs = torch.linalg.eigh(blocks.transpose(1, 2) @ blocks)
        psi = evecs[:, :, -1] @ ortho.T  # (N, K): one ψ per sender
        unexplained = max(0.0, (evals[:, :-1].sum() / evals.sum().clamp_min(1e-300)).item())
        if unexplained > rank1_tolerance and search_steps > 0:
            del lifted, blocks
            psi = _search_sender_terms(
                x, y, _raw_gram(gram, ortho, n), psi_lib, union, reference.nonzero().squeeze(1),
                ridge, chunk, search_steps, progress,
            )  # fmt: skip
    else:
        flat = lifted[reference].reshape(-1, lifted.shape[-1])
        evals, evecs = torch.linalg.eigh(flat.T @ flat)
        psi = (ortho @ evecs[:, -1]).unsqueeze(0)  # (1, K)
        unexplained = max(0.0, (evals[:-1].sum() / evals.sum().clamp_min(1e-300)).item())
        if unexplained > rank1_tolerance:
            psi = _search_shared_psi(x, y, psi[0], psi_lib, union, ridge, chunk, search_steps).unsqueeze(0)
    del gram

    sample = x.flatten()[:: max(1, x.numel() // 200_000)].to(F64)
    psi_rms = psi_lib(sample).pow(2).mean(0).sqrt()
    # ψ terms are pruned per sender by their share of |ψ| (they are bounded and comparable).
    if prune > 0:
        psi = psi * (_shares(psi.abs() * psi_rms) > prune)
    # Identifiability: ψ rises by 2 over the activity range (a plateau of 1 for tanh) and is
    # increasing; W takes the scale and the sign.
    x_range = (float(x.min()), float(x.max()))
    ends = psi_lib(torch.tensor(x_range, dtype=F64))  # (2, K)
    psi = psi / psi_plateau(psi @ ends[0], psi @ ends[1]).unsqueeze(1)

    psi_features = _psi_features(psi_lib, psi)
    # φ: one set of terms for all neurons (they share one Gram block per receiver), chosen
    # by backward elimination on the refit's own normal equations.
    eq, apply = _refit_equations(x, y, psi_features, union, ridge, chunk)
    keep = _eliminate_phi_terms(eq, apply, ridge, prune, reference) if prune > 0 else list(range(len(union)))
    coef, phi_kept, sse = _solve(_own_terms(eq, keep), apply, ridge)
    weight = _zero_diagonal(coef)
    phi = torch.zeros(n, len(union), dtype=F64)
    phi[:, keep] = phi_kept
    y64 = y.to(F64)
    return LibraryRegression(
        weight=weight,
        psi=psi if per_sender_psi else psi[0],
        phi=phi,
        phi_terms=list(union.terms),
        psi_terms=list(psi_lib.terms),
        derivative_r2=float(1 - sse.sum() / ((y64 - y64.mean(0)) ** 2).sum()),
        rank1_residual=unexplained,
        x_range=x_range,
    )
