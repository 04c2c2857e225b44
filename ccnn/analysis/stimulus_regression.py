r"""Closed-form recovery of W, φ, ψ and a hidden multiplicative stimulus Ω from activity.

With an external stimulus on some neurons (Allier et al. 2026, "stimuli" experiment)

.. math:: \dot x_i = \varphi_i(x_i) + \Omega_i(t) \sum_{j \ne i} W_{ij}\, \psi_j(x_j),

where :math:`\Omega_i = 1` for neurons without a position (unstimulated) and Ω is unknown
for the others. The model is bilinear in (W, Ω) and linear in each given the other, so:

1. :func:`~ccnn.analysis.library_regression.regress_dynamics` on all receivers, with ψ
   and φ's terms chosen on the unstimulated receivers alone (their rows are exact).
2. Alternating least squares on the stimulated receivers, each step exact:

   * for fixed Ω, dividing receiver i's equation by :math:`\Omega_i(t)` gives
     :math:`\dot x_i/\Omega_i = \varphi_i(x_i)/\Omega_i + \sum_j W_{ij}\psi_j(x_j)`: the
     senders' features are unchanged, so one Gram matrix (factorised once) serves every
     step and every receiver;
   * for fixed W and φ, :math:`r_i = \dot x_i - \varphi_i(x_i) = \Omega_i(t)\, m_i(t)` with
     :math:`m_i = \sum_j W_{ij}\psi_j(x_j)`; Ω is taken constant over bins of
     ``bin_frames`` consecutive frames: :math:`\Omega_{ib} = \sum_{t\in b} r_i m_i /
     \sum_{t\in b} m_i^2`.

   It stops when the residual falls by less than ``tolerance`` (relative) per step.
3. Identifiability. Each stimulated receiver's (Ω_i, W_i·) is determined only up to a
   factor :math:`k_i` (Ω_i k_i, W_i·/k_i fit equally). Two assumptions fix it: connectivity
   statistics do not depend on where a neuron sits, and the stimulus is smooth in space.
   So :math:`\log k_i` is the log robust row scale (median :math:`|W_{ij}|`) of receiver
   i averaged over its ``neighbours`` nearest stimulated neurons (sampling scatter of
   single rows averages out, smooth differences are attributed to Ω), relative to the
   mean log row scale of the unstimulated receivers (whose Ω = 1 is known).

Cost per alternating step: two products of (frames × N) by (N × stimulated), plus the own
terms' cross products; the Gram matrix and its inverse are computed once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_shape
from ccnn.analysis.library_regression import (
    F64,
    LibraryRegression,
    _normal_equations,
    _psi_features,
    _solve,
    _without_own_column,
    regress_dynamics,
)
from ccnn.nn.function_library import FunctionLibrary

__all__ = ["StimulusRegression", "regress_stimulated_dynamics"]


@dataclass
class StimulusRegression:
    """Result of :func:`regress_stimulated_dynamics`.

    Attributes:
        dynamics: W, φ and ψ (as :class:`LibraryRegression`; its ``derivative_r2`` includes Ω).
        stimulus: Ω per bin (B, S) for the stimulated neurons ``stimulated`` (in order);
            NaN in bins that no frame fell in.
        stimulated: indices (S,) of the neurons with a position.
        bin_frames: frames per bin; frame f falls in bin ``(f - first_frame) // bin_frames``.
        first_frame: the first frame of bin 0.
        residuals: the stimulated receivers' relative residual after each alternating step.
    """

    dynamics: LibraryRegression
    stimulus: Tensor
    stimulated: Tensor
    bin_frames: int
    first_frame: int
    residuals: list[float] = field(default_factory=list)

    def bin_of(self, frames: Tensor) -> Tensor:
        """Bin index of each frame, clamped to the fitted bins."""
        bins = torch.div(torch.as_tensor(frames) - self.first_frame, self.bin_frames, rounding_mode="floor")
        return bins.clamp(0, self.stimulus.shape[0] - 1)

    def bin_centres(self) -> Tensor:
        """Frame at the centre of each bin (B,), float64."""
        centres = (torch.arange(self.stimulus.shape[0], dtype=F64) + 0.5) * self.bin_frames - 0.5
        return self.first_frame + centres

    def at(self, frames: Tensor, n_neurons: int) -> Tensor:
        """Ω (len(frames), N): the fitted bins for stimulated neurons, 1 elsewhere."""
        omega = torch.ones(len(frames), n_neurons, dtype=F64)
        omega[:, self.stimulated] = self.stimulus[self.bin_of(frames)]
        return omega


def _neighbour_mean(values: Tensor, positions: Tensor, neighbours: int) -> Tensor:
    """Mean of ``values`` over each point's ``neighbours`` nearest points (itself included)."""
    k = min(neighbours, len(values))
    nearest = torch.cdist(positions, positions).topk(k, largest=False).indices  # (S, k)
    return values[nearest].mean(1)


def regress_stimulated_dynamics(
    activity: Tensor,
    derivative: Tensor,
    frames: Tensor,
    positions: Tensor,
    *,
    phi_terms: Sequence[str],
    psi_terms: Sequence[str],
    per_sender_psi: bool = False,
    prune: float = 0.01,
    bin_frames: int = 50,
    max_steps: int = 50,
    tolerance: float = 1e-4,
    neighbours: int = 25,
    memory: int = 5,
    progress: bool = True,
    ridge: float = 1e-10,
    chunk: int = 2048,
) -> StimulusRegression:
    """Fit W, φ, ψ and Ω of stimulated neurons in closed form (module docstring).

    Args:
        activity, derivative: x and dx/dt (T, N) at the recording frames ``frames`` (T,)
            (integers, increasing; e.g. a subsample of the training frames).
        positions: (N, 2); rows with NaN mark unstimulated neurons (Ω = 1). At least one
            neuron must be unstimulated: its exact rows pin ψ and Ω's scale.
        phi_terms, psi_terms, per_sender_psi, prune, ridge, chunk: as for
            :func:`~ccnn.analysis.library_regression.regress_dynamics`.
        bin_frames: Ω is constant over this many consecutive recording frames.
        max_steps, tolerance: alternating steps at most, and the relative fall of the
            residual below which they stop.
        neighbours: stimulated neurons averaged over to fix each one's scale (step 3); 0
            leaves each neuron's Ω averaging 1 over the frames instead.
        memory: iterates kept by the Anderson acceleration.
        progress: show progress bars over the alternating steps (with the residual) and
            over the rounds of the per-sender ψ search, when it runs.
    """
    x = as_tensor(activity, "activity")
    y = as_tensor(derivative, "derivative")
    check_shape(x, (None, None), "activity", meaning="(frames, neurons)")
    check_shape(y, tuple(x.shape), "derivative", meaning="(frames, neurons) like activity")
    t_count, n = x.shape
    frames = torch.as_tensor(frames).long().cpu()
    check_shape(frames, (t_count,), "frames", meaning="(frames,) recording frame indices")
    if t_count > 1 and not bool((frames.diff() > 0).all()):
        raise ValueError("frames: expected strictly increasing recording frame indices")
    pos = as_tensor(positions, "positions").to(F64).cpu()
    check_shape(pos, (n, 2), "positions", meaning="(neurons, 2), NaN for unstimulated neurons")
    placed = ~pos.isnan().any(1)
    check_finite(pos[placed], "positions")
    if placed.all() or not placed.any():
        raise ValueError(
            f"positions: expected some stimulated (finite) and some unstimulated (NaN) neurons, "
            f"got {int(placed.sum())} of {n} with positions"
        )
    checked = (("bin_frames", bin_frames, 1), ("max_steps", max_steps, 1), ("neighbours", neighbours, 0))
    for name, value, low in checked:
        if not (isinstance(value, int) and value >= low):
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")

    base = regress_dynamics(
        x, y, phi_terms=phi_terms, psi_terms=psi_terms, per_sender_psi=per_sender_psi,
        prune=prune, ridge=ridge, reference_receivers=~placed, chunk=chunk, progress=progress,
    )  # fmt: skip
    stimulated = placed.nonzero().squeeze(1)
    psi_lib, union = FunctionLibrary(base.psi_terms), FunctionLibrary(base.phi_terms)
    keep = (base.phi != 0).any(0).nonzero().squeeze(1).tolist() or [0]
    own = FunctionLibrary([union.terms[k] for k in keep])
    psi = base.psi if base.psi.dim() == 2 else base.psi.unsqueeze(0)

    features = _psi_features(psi_lib, psi)

    first = int(frames[0])
    bins = torch.div(frames - first, bin_frames, rounding_mode="floor")
    n_bins = int(bins[-1]) + 1
    # The senders' Gram matrix never changes: factorise it once.
    no_receivers = torch.zeros(0, dtype=torch.long)
    gram = _normal_equations(x, y, features, 1, None, chunk, receivers=no_receivers).gram
    gram.diagonal().add_(ridge * gram.diagonal().mean())
    apply = _without_own_column(torch.cholesky_inverse(torch.linalg.cholesky(gram)), stimulated)

    y_s = y[:, stimulated].to(F64)
    energy = float(((y_s - y_s.mean(0)) ** 2).sum())
    counts = torch.bincount(bins, minlength=n_bins).to(F64).unsqueeze(1)
    empty = counts[:, 0] == 0

    def alternate(omega: Tensor) -> tuple[Tensor, Tensor, Tensor, float]:
        """One W-and-φ step then one Ω step; returns (Ω, W columns, φ, relative residual)."""
        eq = _normal_equations(
            x, y, features, 1, own, chunk, receivers=stimulated, receiver_scale=1 / omega[bins], gram=False
        )
        eq.gram = gram
        coef, phi_own, _ = _solve(eq, apply, ridge)  # (N, S), (S, M)
        coef[stimulated, torch.arange(len(stimulated))] = 0.0
        numerator = torch.zeros(n_bins, len(stimulated), dtype=F64)
        denominator = torch.zeros_like(numerator)
        r_sq = 0.0
        for start in range(0, t_count, chunk):
            xb = x[start : start + chunk].to(F64)
            message = features(xb)[..., 0] @ coef  # (t, S)
            residual = y_s[start : start + chunk] - (own(xb[:, stimulated]) * phi_own).sum(-1)
            index = bins[start : start + chunk]
            numerator.index_add_(0, index, residual * message)
            denominator.index_add_(0, index, message * message)
            r_sq += float((residual * residual).sum())
        omega = numerator / (denominator + denominator.mean(0, keepdim=True) * 1e-12)
        omega[empty] = 1.0  # bins without frames (gaps in ``frames``) stay neutral
        sse = max(0.0, r_sq - float((numerator * omega).sum()))
        # Fix the scale freedom: each neuron's Ω averages 1 over the frames.
        mean = (omega * counts).sum(0) / counts.sum()
        return omega / mean, coef * mean, phi_own, sse / energy

    # Alternating least squares converges linearly and slowly (Ω's many bins absorb part of
    # W's error), so the Ω iterates are Anderson-accelerated (Walker & Ni, SINUM 2011).
    omega = torch.ones(n_bins, len(stimulated), dtype=F64)
    history_g: list[Tensor] = []
    history_f: list[Tensor] = []
    residuals: list[float] = []
    best = None
    bar = Progress(
        "stimulus: alternating least squares",
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("residual {task.fields[residual]:.2e}"),
        transient=True,
        disable=not progress,
    )
    task = bar.add_task("steps", total=max_steps, residual=float("nan"))
    bar.start()
    for _ in range(max_steps):
        mapped, coef, phi_own, residual = alternate(omega)
        residuals.append(residual)
        bar.update(task, advance=1, residual=residual)
        if best is None or residual < best[0]:
            best = (residual, mapped, coef, phi_own)
        elif residual > best[0] * 1.5:  # the extrapolation overshot: restart from the best
            history_g.clear()
            history_f.clear()
            omega = best[1]
            continue
        if len(residuals) > 1 and abs(residuals[-2] - residual) <= tolerance * residuals[-2]:
            break
        history_g.append(mapped.flatten())
        history_f.append((mapped - omega).flatten())
        if len(history_g) > memory + 1:
            history_g.pop(0)
            history_f.pop(0)
        if len(history_g) > 1:
            delta_f = torch.stack([b - a for a, b in itertools.pairwise(history_f)], 1)
            delta_g = torch.stack([b - a for a, b in itertools.pairwise(history_g)], 1)
            gamma = torch.linalg.lstsq(delta_f, history_f[-1].unsqueeze(1)).solution
            omega = (history_g[-1] - (delta_g @ gamma).squeeze(1)).reshape(mapped.shape)
        else:
            omega = mapped
    bar.stop()
    _, omega, coef, phi_own = best

    omega[empty] = float("nan")
    weight = base.weight.clone()
    weight[stimulated] = coef.T
    phi = base.phi.clone()
    phi[stimulated] = 0.0
    phi[stimulated.unsqueeze(1), torch.tensor(keep)] = phi_own

    if neighbours > 0:  # identifiability (step 3): row scales against the unstimulated rows'
        log_scale = weight.abs().median(1).values.clamp_min(1e-300).log()
        smooth = _neighbour_mean(log_scale[stimulated], pos[stimulated], neighbours)
        correction = (smooth - log_scale[~placed].mean()).exp()
        omega = omega * correction
        weight[stimulated] = weight[stimulated] / correction.unsqueeze(1)

    total = ((y.to(F64) - y.to(F64).mean(0)) ** 2).sum()
    unstimulated_sse = _sse(base, x, y, ~placed, psi_lib, union, chunk)
    dynamics = LibraryRegression(
        weight=weight,
        psi=base.psi,
        phi=phi,
        phi_terms=base.phi_terms,
        psi_terms=base.psi_terms,
        derivative_r2=float(1 - (unstimulated_sse + residuals[-1] * energy) / total),
        rank1_residual=base.rank1_residual,
        x_range=base.x_range,
    )
    return StimulusRegression(dynamics, omega, stimulated, bin_frames, first, residuals)


def _sse(
    fit: LibraryRegression, x: Tensor, y: Tensor, receivers: Tensor, psi_lib, phi_lib, chunk: int
) -> float:
    """Squared error of ``fit`` (Ω = 1) summed over the ``receivers`` mask."""
    psi = fit.psi if fit.psi.dim() == 2 else fit.psi.unsqueeze(0)
    idx = receivers.nonzero().squeeze(1)
    sse = 0.0
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk].to(F64)
        message = (psi_lib(xb) * psi).sum(-1) @ fit.weight[idx].T
        local = (phi_lib(xb[:, idx]) * fit.phi[idx]).sum(-1)
        sse += float(((y[start : start + chunk, idx].to(F64) - local - message) ** 2).sum())
    return sse
