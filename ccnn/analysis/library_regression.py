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
solve all of them; each receiver's own block of columns is removed by a batched
block-inverse downdate, so the diagonal of W is zero by construction.

Then :math:`W` and ψ follow from a rank-1 factorisation of each lifted coefficient vector
(one ψ shared by all senders, or one per sender when ψ depends on the sender's latent),
measured in the function-space metric of the library (which is orthonormalised on the data
first, as its terms are nearly collinear).

Cost: :math:`T (KN)^2` float64 multiply-adds for the Gram matrix (about 20 s for
N = 1000, K = 5, T = 2·10⁴ on two CPU cores) and :math:`(KN)^3/3` for the factorisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_shape
from ccnn.analysis.ground_truth import psi_plateau
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
    x: Tensor, y: Tensor, senders: Callable[[Tensor], Tensor], k: int, own: FunctionLibrary | None, chunk: int
) -> _Normal:
    """Accumulate over frame blocks; ``senders`` maps (t, N) frames to (t, N, k) features."""
    n = x.shape[1]
    m = len(own) if own is not None else 0
    eq = _Normal(
        gram=torch.zeros(k * n, k * n, dtype=F64),
        cross_y=torch.zeros(k * n, n, dtype=F64),
        cross_e=torch.zeros(m, k * n, n, dtype=F64),
        e_gram=torch.zeros(n, m, m, dtype=F64),
        e_y=torch.zeros(n, m, dtype=F64),
        y_sq=torch.zeros(n, dtype=F64),
    )
    for start in range(0, x.shape[0], chunk):
        xb, yb = x[start : start + chunk].to(F64), y[start : start + chunk].to(F64)
        design = senders(xb).permute(0, 2, 1).reshape(xb.shape[0], k * n)  # column k*N + j
        eq.gram.addmm_(design.T, design)
        eq.cross_y.addmm_(design.T, yb)
        eq.y_sq += (yb * yb).sum(0)
        if own is not None:
            extra = own(xb)  # (t, N, M)
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
    coef, extra_coef, _ = _solve(eq, lambda rhs: torch.cholesky_solve(rhs, factor), ridge)
    lifted = coef.T.reshape(n, k, n).permute(0, 2, 1)  # [receiver i, sender j, k'] orthonormal coords
    idx = torch.arange(n)
    self_terms = lifted[idx, idx] @ ortho.T  # (N, K) φ's share on the ψ terms
    lifted[idx, idx] = 0.0
    return lifted, ortho, torch.cat([self_terms, extra_coef], 1)


def _refit(
    x: Tensor, y: Tensor, psi: Callable[[Tensor], Tensor], phi_lib: FunctionLibrary, ridge: float, chunk: int
):
    """W and φ for a fixed ψ: one feature per sender, receiver i's own column excluded."""
    eq = _normal_equations(x, y, psi, 1, phi_lib, chunk)
    eq.gram.diagonal().add_(ridge * eq.gram.diagonal().mean())
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(eq.gram))
    inverse_diagonal = inverse.diagonal().clone()

    def apply(rhs: Tensor) -> Tensor:
        # (G without row/column i)⁻¹ = G⁻¹ - G⁻¹[:, i] G⁻¹[i, :] / G⁻¹[i, i] (block inverse).
        solved = inverse @ rhs
        return solved - inverse * (solved.diagonal() / inverse_diagonal)

    coef, phi, sse = _solve(eq, apply, ridge)
    weight = coef.T.contiguous()
    weight.fill_diagonal_(0.0)  # zero by construction; clear the rounding residue
    return weight, phi, sse


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
    chunk: int = 2048,
) -> LibraryRegression:
    """Fit W, φ and ψ to (activity, derivative) frames in closed form (module docstring).

    Three stages: (1) the lifted solve over the whole libraries; (2) sparsification (as in
    SINDy): terms whose share of |ψ| or |φ| (coefficient times the term's RMS over the
    data) stays below ``prune`` are dropped; (3) with ψ fixed to its rank-1 factor, a refit
    of W and φ on one feature ψ_j(x_j) per sender and the kept φ terms. Stage 3 is far
    better conditioned than stage 1, whose nearly collinear terms amplify the float32
    rounding of recorded data.

    Args:
        activity: x (T, N).
        derivative: dx/dt at the same frames (T, N).
        phi_terms, psi_terms: libraries (:class:`~ccnn.nn.function_library.FunctionLibrary`).
            ψ terms must not contain a constant (it would trade with φ's offset).
        per_sender_psi: one ψ per sender (ψ depends on the sender's latent) instead of one
            shared ψ.
        prune: relative size below which a term is dropped (0 keeps every term).
        ridge: Tikhonov regularisation relative to the mean diagonal of the Gram matrix.
        chunk: frames per block when accumulating the Gram matrix.
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
    psi_lib = FunctionLibrary(psi_terms)
    extra_terms = [t for t in phi_terms if t not in psi_lib.terms]
    union = FunctionLibrary([*psi_lib.terms, *extra_terms])
    lifted, ortho, phi_union = _lifted(
        x, y, psi_lib, FunctionLibrary(extra_terms) if extra_terms else None, ridge, chunk
    )

    if per_sender_psi:
        blocks = lifted.permute(1, 0, 2)  # [sender j, receiver i, k']
        evals, evecs = torch.linalg.eigh(blocks.transpose(1, 2) @ blocks)
        psi = evecs[:, :, -1] @ ortho.T  # (N, K): one ψ per sender
        unexplained = max(0.0, (evals[:, :-1].sum() / evals.sum().clamp_min(1e-300)).item())
    else:
        flat = lifted.reshape(n * n, -1)
        evals, evecs = torch.linalg.eigh(flat.T @ flat)
        psi = (ortho @ evecs[:, -1]).unsqueeze(0)  # (1, K)
        unexplained = max(0.0, (evals[:-1].sum() / evals.sum().clamp_min(1e-300)).item())

    sample = x.flatten()[:: max(1, x.numel() // 200_000)].to(F64)
    psi_rms, union_rms = psi_lib(sample).pow(2).mean(0).sqrt(), union(sample).pow(2).mean(0).sqrt()
    # ψ: terms pruned per sender; φ: one set of terms for all neurons, those that matter
    # for at least 5 % of them (φ's own terms share one Gram block per receiver).
    psi_keep = _shares(psi.abs() * psi_rms) > prune
    phi_keep = torch.quantile(_shares(phi_union.abs() * union_rms), 0.95, dim=0) > prune
    if prune > 0:
        psi = psi * psi_keep
    # Identifiability: ψ rises by 2 over the activity range (a plateau of 1 for tanh) and is
    # increasing; W takes the scale and the sign.
    x_range = (float(x.min()), float(x.max()))
    ends = psi_lib(torch.tensor(x_range, dtype=F64))  # (2, K)
    psi = psi / psi_plateau(psi @ ends[0], psi @ ends[1]).unsqueeze(1)
    kept_phi = FunctionLibrary([t for t, keep in zip(union.terms, phi_keep.tolist(), strict=True) if keep])

    def psi_features(xb: Tensor) -> Tensor:
        return (psi_lib(xb) * psi).sum(-1, keepdim=True)

    phi_lib = kept_phi if prune > 0 else union
    weight, phi_kept, sse = _refit(x, y, psi_features, phi_lib, ridge, chunk)
    phi = torch.zeros(n, len(union), dtype=F64)
    phi[:, [union.terms.index(t) for t in phi_lib.terms]] = phi_kept
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
