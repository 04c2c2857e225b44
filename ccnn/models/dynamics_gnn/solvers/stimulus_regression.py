r"""Closed-form recovery of W, φ, ψ and a hidden multiplicative stimulus Ω from activity.

With an external stimulus on some neurons (Allier et al. 2026, "stimuli" experiment)

.. math:: \dot x_i = \varphi_i(x_i) + \Omega_i(t) \sum_{j \ne i} W_{ij}\, \psi_j(x_j),

where :math:`\Omega_i = 1` for neurons without a position (unstimulated) and Ω is unknown
for the others. The model is bilinear in (W, Ω) and linear in each given the other, so:

1. :func:`~ccnn.models.dynamics_gnn.solvers.library_regression.regress_dynamics` on all receivers, with ψ
   and φ's terms chosen on the unstimulated receivers alone (their rows are exact).
2. On the stimulated receivers, divide each equation by :math:`\Omega_i(t)`, with Ω
   constant over bins of ``bin_frames`` consecutive frames (:math:`\omega = 1/\Omega`):
   :math:`\omega_i \dot x_i = \omega_i \varphi_i(x_i) + \sum_j W_{ij}\psi_j(x_j)`. The senders'
   features are unchanged, so one whitened design :math:`U = \Psi L^{-\top}` (computed once)
   serves every receiver, and for fixed ω the W and φ of all receivers are exact least
   squares. ω itself is found by Levenberg–Marquardt on this variable-projection problem,
   one receiver at a time but batched (:class:`_StimulatedRows`). Alternating least
   squares between W and Ω, the obvious alternative, creeps along a flat valley in which
   the leak of φ trades against a rescaling of Ω·W. On the N = 2048 stimuli recording,
   given the true ψ, 50 such steps left single stimulated rows at W R² 0.15–0.39 and
   Ω R² ≤ 0.02 (leak −1.1 to −1.6 for the true −1); Gauss–Newton reached R² 1.0000 for
   both in about three steps.
3. Identifiability. Each stimulated receiver's (Ω_i, W_i·) is determined only up to a
   factor :math:`k_i` (Ω_i k_i, W_i·/k_i fit equally). Two assumptions fix it: connectivity
   statistics do not depend on where a neuron sits, and the stimulus is smooth in space.
   So :math:`\log k_i` is the log robust row scale (median :math:`|W_{ij}|`) of receiver
   i averaged over its ``neighbours`` nearest stimulated neurons (sampling scatter of
   single rows averages out, smooth differences are attributed to Ω), relative to the
   mean log row scale of the unstimulated receivers (whose Ω = 1 is known).

Cost per Levenberg–Marquardt step, with T frames, B bins, S stimulated receivers and M own
terms: (3 + M) products of U (T × N) with (T × S) matrices, and S Schur complements of
size B + M from (N × (B + M)) blocks (N·S·(B + M)² multiply-adds). U takes T·N float64s,
the own terms T·S·M. At N = 2048, T = 2·10⁴, B = 205, M = 5 on two CPU cores, the fit
takes about 5 s and the step about 9 s. The step took 18 s before its per-bin sums were
vectorised and the own terms' coordinates were reused from the fit.

Device: every tensor is created on the activity's device (``frames`` and ``positions`` may
lie anywhere; they are moved), so the fit runs on a GPU when given CUDA tensors, and the
result's tensors lie on that device.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_shape
from ccnn.models.dynamics_gnn.solvers.library_regression import (
    F64,
    LibraryRegression,
    _normal_equations,
    _own_directions,
    _psi_features,
    regress_dynamics,
)
from ccnn.nn.function_library import FunctionLibrary

__all__ = ["StimulusRegression", "regress_stimulated_dynamics"]


@dataclass
class StimulusRegression:
    """Result of :func:`regress_stimulated_dynamics` (tensors on the activity's device).

    Attributes:
        dynamics: W, φ and ψ (as :class:`LibraryRegression`; its ``derivative_r2`` includes Ω).
        stimulus: Ω per bin (B, S) for the stimulated neurons ``stimulated`` (in order);
            NaN in bins that no frame fell in.
        stimulated: indices (S,) of the neurons with a position.
        bin_frames: frames per bin; frame f falls in bin ``(f - first_frame) // bin_frames``.
        first_frame: the first frame of bin 0.
        residuals: the stimulated receivers' relative residual, at the start (Ω = 1) and after
            each Levenberg–Marquardt step.
    """

    dynamics: LibraryRegression
    stimulus: Tensor
    stimulated: Tensor
    bin_frames: int
    first_frame: int
    residuals: list[float] = field(default_factory=list)

    def bin_of(self, frames: Tensor) -> Tensor:
        """Bin index of each frame, clamped to the fitted bins (on the stimulus' device)."""
        frames = torch.as_tensor(frames, device=self.stimulus.device)
        bins = torch.div(frames - self.first_frame, self.bin_frames, rounding_mode="floor")
        return bins.clamp(0, self.stimulus.shape[0] - 1)

    def bin_centres(self) -> Tensor:
        """Frame at the centre of each bin (B,), float64, on the stimulus' device."""
        bins = torch.arange(self.stimulus.shape[0], dtype=F64, device=self.stimulus.device)
        return self.first_frame + (bins + 0.5) * self.bin_frames - 0.5

    def at(self, frames: Tensor, n_neurons: int) -> Tensor:
        """Ω (len(frames), N) on the stimulus' device: the fitted bins for stimulated neurons,
        1 elsewhere."""
        device = self.stimulus.device
        omega = torch.ones(len(frames), n_neurons, dtype=F64, device=device)
        omega[:, self.stimulated.to(device)] = self.stimulus[self.bin_of(frames)]
        return omega


def _neighbour_mean(values: Tensor, positions: Tensor, neighbours: int) -> Tensor:
    """Mean of ``values`` over each point's ``neighbours`` nearest points (itself included)."""
    k = min(neighbours, len(values))
    nearest = torch.cdist(positions, positions).topk(k, largest=False).indices  # (S, k)
    return values[nearest].mean(1)


@dataclass
class _WhitenedSenders:
    """The senders' design Ψ (T × N) as U = Ψ L⁻ᵀ (LLᵀ = ΨᵀΨ), whose columns are orthonormal.

    Projections onto the senders' span then cost one product with U. Receiver i's own
    column is excluded by also removing the unit direction ``own[:, i]`` (in U's
    coordinates, L⁻¹e_i normalised), the part of the span that only column i reaches.
    """

    u: Tensor  # (T, N)
    factor: Tensor  # L (N, N), lower triangular
    own: Tensor  # (N, S)

    @classmethod
    def build(
        cls, x: Tensor, features: Callable[[Tensor], Tensor], gram: Tensor, receivers: Tensor, chunk: int
    ) -> _WhitenedSenders:
        factor = torch.linalg.cholesky(gram)
        u = torch.empty(x.shape[0], gram.shape[0], dtype=F64, device=gram.device)
        for start in range(0, x.shape[0], chunk):
            design = features(x[start : start + chunk].to(F64))[..., 0]
            u[start : start + chunk] = torch.linalg.solve_triangular(factor, design.T, upper=False).T
        return cls(u, factor, _own_directions(factor, receivers))

    def coordinates(self, values: Tensor) -> Tensor:
        """Uᵀv (N, S) for the receivers' vectors v (T, S), without each one's own column."""
        c = self.u.T @ values
        return c - self.own * (self.own * c).sum(0)

    def weights(self, coordinates: Tensor) -> Tensor:
        """W rows' transpose (N, R) from coordinates a: ΨW = Ua, so W = L⁻ᵀa."""
        return torch.linalg.solve_triangular(self.factor.T, coordinates, upper=True)


@dataclass
class _StimulatedRows:
    r"""The stimulated receivers' fit, divided by Ω (ω = 1/Ω per bin, ``inverse`` below):
    :math:`r_i = \omega_i \circ (\dot x_i - E_i\theta_i) - \Psi W_i`, minimised over
    (W, θ, ω) by Levenberg–Marquardt, each receiver on its own.

    For fixed ω, W and θ are exact least squares (variable projection, Golub & Pereyra
    1973). The Gauss–Newton step in (ω, θ) uses the Schur complement that eliminates W,
    :math:`J^\top J - K^\top K` with :math:`K = U^\top J` (J's columns: the residual
    :math:`e = \dot x_i - E_i\theta_i` restricted to each bin, and :math:`-\omega \circ E_i`):
    the bins' columns are sparse in time, so K costs one pass over U per receiver batch.
    Alternating least squares creeps along a flat valley here (the leak c trades against a
    rescaling of Ω·W) and stops far from the truth; Gauss–Newton leaves it in a few steps.
    Each receiver's ω is fixed in scale by keeping its frame-weighted mean at 1.
    """

    senders: _WhitenedSenders
    y: Tensor  # (T, S)
    own_terms: Tensor  # (T, S, M)
    bins: Tensor  # (T,)
    n_bins: int
    ridge: float
    counts: Tensor = field(init=False)  # frames per bin (B,)
    energy: float = field(init=False)
    batch_bytes: int = 2**30  # memory for one receiver batch's K

    def __post_init__(self) -> None:
        self.counts = torch.bincount(self.bins, minlength=self.n_bins).to(F64)
        self.energy = float(((self.y - self.y.mean(0)) ** 2).sum())
        starts = torch.searchsorted(self.bins, torch.arange(self.n_bins + 1, device=self.bins.device))
        self.spans = [slice(int(a), int(b)) for a, b in itertools.pairwise(starts.tolist())]

    def fit(self, inverse: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Exact W coordinates a (N, S), θ (S, M), divided residual r (T, S) and the own
        terms' coordinates Uᵀ(ω∘E) (M, N, S) at ω (B, S)."""
        scale = inverse[self.bins]
        target = scale * self.y
        terms = scale.unsqueeze(-1) * self.own_terms
        c_target = self.senders.coordinates(target)
        c_terms = torch.stack([self.senders.coordinates(terms[..., m]) for m in range(terms.shape[-1])])
        schur = torch.einsum("tsm,tsl->sml", terms, terms) - torch.einsum("mns,lns->sml", c_terms, c_terms)
        rhs = torch.einsum("tsm,ts->sm", terms, target) - torch.einsum("mns,ns->sm", c_terms, c_target)
        diagonal = schur.diagonal(dim1=1, dim2=2)
        diagonal.add_(self.ridge * diagonal.mean(1, keepdim=True))
        theta = torch.linalg.solve(schur, rhs.unsqueeze(-1)).squeeze(-1)
        coordinates = c_target - torch.einsum("mns,sm->ns", c_terms, theta)
        residual = target - torch.einsum("tsm,sm->ts", terms, theta) - self.senders.u @ coordinates
        return coordinates, theta, residual, c_terms

    def step(
        self, inverse: Tensor, theta: Tensor, residual: Tensor, c_terms: Tensor, damping: Tensor
    ) -> Tensor:
        """Damped Gauss–Newton change of ω (B, S), keeping each receiver's mean ω."""
        n, b_count, m = self.senders.u.shape[1], self.n_bins, theta.shape[1]
        device, receivers = self.y.device, self.y.shape[1]
        error = self.y - (self.own_terms * theta).sum(-1)  # e (T, S)
        terms = -inverse[self.bins].unsqueeze(-1) * self.own_terms  # J's θ columns (T, S, M)
        size = b_count + m
        # JᵀJ and Jᵀr: the bins' columns e·1_b are disjoint in time, so per-bin sums.
        jtj = torch.zeros(receivers, size, size, dtype=F64, device=device)
        jtj[:, b_count:, b_count:] = torch.einsum("tsm,tsl->sml", terms, terms)
        per_bin = torch.zeros(b_count, receivers, m, dtype=F64, device=device)
        per_bin.index_add_(0, self.bins, error.unsqueeze(-1) * terms)
        jtj[:, :b_count, b_count:] = per_bin.transpose(0, 1)
        jtj[:, b_count:, :b_count] = per_bin.permute(1, 2, 0)
        e_sq = torch.zeros(b_count, receivers, dtype=F64, device=device).index_add_(0, self.bins, error**2)
        jtj.diagonal(dim1=1, dim2=2)[:, :b_count] = e_sq.T
        gradient = torch.cat(
            [
                torch.zeros(b_count, receivers, dtype=F64, device=device)
                .index_add_(0, self.bins, error * residual)
                .T,
                torch.einsum("tsm,ts->sm", terms, residual),
            ],
            1,
        )
        empty = torch.cat([self.counts == 0, torch.zeros(m, dtype=torch.bool, device=device)])
        batch = max(1, self.batch_bytes // (8 * n * size))
        delta = torch.zeros_like(inverse)
        for lo in range(0, self.y.shape[1], batch):
            cols = slice(lo, min(lo + batch, self.y.shape[1]))
            # Kᵀ = (UᵀJ)ᵀ per receiver (R, B + M, N); the θ rows are -Uᵀ(ω∘E) from the fit.
            k_t = torch.empty(cols.stop - lo, size, n, dtype=F64, device=device)
            for b, span in enumerate(self.spans):
                k_t[:, b] = error[span, cols].T @ self.senders.u[span]
            k_t[:, b_count:] = -c_terms[:, :, cols].permute(2, 0, 1)
            own = self.senders.own[:, cols].T.unsqueeze(-1)  # (R, N, 1), unit vectors
            k_t -= (k_t @ own) @ own.transpose(1, 2)
            reduced = jtj[cols] - k_t @ k_t.transpose(1, 2)
            diagonal = reduced.diagonal(dim1=1, dim2=2)
            diagonal[:, empty] = 1.0
            diagonal.mul_(1 + damping[cols].unsqueeze(1))
            # Keep Σ_b counts_b ω_b: a Lagrange multiplier row (the scale gauge).
            kkt = torch.zeros(cols.stop - lo, size + 1, size + 1, dtype=F64, device=device)
            kkt[:, :size, :size] = reduced
            kkt[:, :b_count, size] = self.counts
            kkt[:, size, :b_count] = self.counts
            rhs = torch.cat([-gradient[cols], torch.zeros(cols.stop - lo, 1, dtype=F64, device=device)], 1)
            delta[:, cols] = torch.linalg.solve(kkt, rhs.unsqueeze(-1))[:, :b_count, 0].T
        return delta

    def relative_residual(self, inverse: Tensor, residual: Tensor) -> float:
        """Σ (ẋ - model)² over the stimulated rows, relative to their variance."""
        return float(((residual / inverse[self.bins]) ** 2).sum()) / self.energy

    def solve(
        self, max_steps: int, tolerance: float, progress: bool
    ) -> tuple[Tensor, Tensor, Tensor, list[float]]:
        """Ω (B, S) with frame-weighted mean 1, W rows' transpose (N, S), θ (S, M), residuals."""
        inverse = torch.ones(self.n_bins, self.y.shape[1], dtype=F64, device=self.y.device)
        coordinates, theta, residual, c_terms = self.fit(inverse)
        sse = (residual**2).sum(0)
        damping = torch.full((self.y.shape[1],), 1e-6, dtype=F64, device=self.y.device)
        residuals = [self.relative_residual(inverse, residual)]
        bar = Progress(
            "stimulus: Levenberg–Marquardt",
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("residual {task.fields[residual]:.2e}"),
            transient=True,
            disable=not progress,
        )
        task = bar.add_task("steps", total=max_steps, residual=residuals[0])
        bar.start()
        stalled = 0
        for _ in range(max_steps):
            trial = inverse + self.step(inverse, theta, residual, c_terms, damping)
            positive = (trial[self.counts > 0] > 0).all(0)
            trial_coordinates, trial_theta, trial_residual, trial_c_terms = self.fit(
                trial.where(positive, inverse)
            )
            trial_sse = (trial_residual**2).sum(0)
            better = positive & (trial_sse < sse)
            inverse = torch.where(better, trial, inverse)
            coordinates = torch.where(better, trial_coordinates, coordinates)
            theta = torch.where(better.unsqueeze(1), trial_theta, theta)
            residual = torch.where(better, trial_residual, residual)
            c_terms = torch.where(better, trial_c_terms, c_terms)
            sse = torch.where(better, trial_sse, sse)
            damping = torch.where(better, damping / 3, damping * 4)
            residuals.append(self.relative_residual(inverse, residual))
            bar.update(task, advance=1, residual=residuals[-1])
            stalled = stalled + 1 if residuals[-2] - residuals[-1] <= tolerance * residuals[-2] else 0
            if stalled == 2:
                break
        bar.stop()
        stimulus = torch.where(self.counts.unsqueeze(1) > 0, 1 / inverse, torch.ones_like(inverse))
        mean = (stimulus * self.counts.unsqueeze(1)).sum(0) / self.counts.sum()
        return stimulus / mean, self.senders.weights(coordinates) * mean, theta, residuals


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
    progress: bool = True,
    ridge: float = 1e-10,
    chunk: int = 2048,
    memory_limit: int | None = None,
) -> StimulusRegression:
    """Fit W, φ, ψ and Ω of stimulated neurons in closed form (module docstring).

    Args:
        activity, derivative: x and dx/dt (T, N) at the recording frames ``frames`` (T,)
            (integers, increasing; e.g. a subsample of the training frames).
        positions: (N, 2); rows with NaN mark unstimulated neurons (Ω = 1). At least one
            neuron must be unstimulated: its exact rows pin ψ and Ω's scale.
        phi_terms, psi_terms, per_sender_psi, prune, ridge, chunk: as for
            :func:`~ccnn.models.dynamics_gnn.solvers.library_regression.regress_dynamics`.
        bin_frames: Ω is constant over this many consecutive recording frames.
        max_steps, tolerance: Levenberg–Marquardt steps at most, and the relative fall of the
            residual below which they stop.
        neighbours: stimulated neurons averaged over to fix each one's scale (step 3); 0
            leaves each neuron's Ω averaging 1 over the frames instead.
        progress: show progress bars over the Levenberg–Marquardt steps (with the residual) and
            over the rounds of the per-sender ψ search, when it runs.
        memory_limit: bytes the fit may allocate, as for ``regress_dynamics`` (default: 90 % of
            the memory available now).

    Returns:
        :class:`StimulusRegression`, every tensor on the device of ``activity`` (the
        computation runs there).
    """
    x = as_tensor(activity, "activity")
    y = as_tensor(derivative, "derivative")
    check_shape(x, (None, None), "activity", meaning="(frames, neurons)")
    check_shape(y, tuple(x.shape), "derivative", meaning="(frames, neurons) like activity")
    t_count, n = x.shape
    device = x.device
    frames = torch.as_tensor(frames, device=device).long()
    check_shape(frames, (t_count,), "frames", meaning="(frames,) recording frame indices")
    if t_count > 1 and not bool((frames.diff() > 0).all()):
        raise ValueError("frames: expected strictly increasing recording frame indices")
    pos = as_tensor(positions, "positions").to(device, F64)
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
        memory_limit=memory_limit,
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
    # The senders' design never changes: whiten it once (U = Ψ L⁻ᵀ, orthonormal columns).
    no_receivers = torch.zeros(0, dtype=torch.long, device=device)
    gram = _normal_equations(x, y, features, 1, None, chunk, receivers=no_receivers).gram
    gram.diagonal().add_(ridge * gram.diagonal().mean())
    senders = _WhitenedSenders.build(x, features, gram, stimulated, chunk)
    own_terms = own(x[:, stimulated].to(F64))
    problem = _StimulatedRows(senders, y[:, stimulated].to(F64), own_terms, bins, n_bins, ridge)
    omega, coef, phi_own, residuals = problem.solve(max_steps, tolerance, progress)
    empty = problem.counts == 0

    omega[empty] = float("nan")
    weight = base.weight.clone()
    weight[stimulated] = coef.T
    phi = base.phi.clone()
    phi[stimulated] = 0.0
    phi[stimulated.unsqueeze(1), torch.tensor(keep, device=device)] = phi_own

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
        derivative_r2=float(1 - (unstimulated_sse + residuals[-1] * problem.energy) / total),
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
        message = _psi_features(psi_lib, psi)(xb)[..., 0] @ fit.weight[idx].T
        local = (phi_lib(xb[:, idx]) * fit.phi[idx]).sum(-1)
        sse += float(((y[start : start + chunk, idx].to(F64) - local - message) ** 2).sum())
    return sse
