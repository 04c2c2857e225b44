r"""Virtual lesions and integrated-gradients attributions through a neural assembly's dynamics.

The same perturbation is applied to the learned dynamics GNN and to the ground-truth simulator,
so that their responses can be compared neuron by neuron. Both are seen through one small
interface, :class:`Dynamics`: a right-hand side :math:`\dot x = f(x, \Omega; M \odot W)` whose
connectivity can be masked, integrated by Euler steps :math:`x_{k+1} = x_k + \Delta t\, f(x_k)`
(the simulator's and the model's own scheme, :func:`rollout`).

**Virtual lesion** (Alstott, Breakspear, Hagmann, Cammoun & Sporns, "Modeling the impact of
lesions in the human brain", PLoS Comput. Biol. 5, e1000408, 2009; Honey & Sporns, Hum. Brain
Mapp. 29, 802, 2008): a lesioned neuron loses every incoming and outgoing connection,
:math:`W_{i\cdot} = W_{\cdot i} = 0`, and keeps its own dynamics :math:`\varphi`; an edge lesion
sets the listed :math:`W_{ij}` to 0. With ``silence=True`` the lesioned neurons' activity is in
addition held at 0 (inactivation rather than disconnection); this changes only their own traces.
The intact and the lesioned system are rolled out from the same state with the same stimulus;
the **effect** on neuron :math:`i` over a horizon :math:`h` is the RMS change of its activity

.. math:: e_i(h) = \Big(\frac1h \sum_{k=1}^{h}
    \big(x^{\rm lesioned}_i(k) - x^{\rm intact}_i(k)\big)^2\Big)^{1/2}

in the units of the activity. A lesion that cuts nothing (an isolated neuron) has effect 0.

**Integrated gradients** (Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks",
ICML 2017) of :math:`F(x_0) = x_t(\text{steps})`, the target's activity after ``steps`` steps
from the initial state :math:`x_0`, relative to a baseline :math:`b`:

.. math:: A_j = (x_{0,j} - b_j) \frac1m \sum_{k=0}^{m-1}
    \frac{\partial F}{\partial x_{0,j}}\Big(b + \tfrac{k + 1/2}{m}(x_0 - b)\Big)

(midpoint Riemann sum over :math:`\alpha`). Completeness: :math:`\sum_j A_j \to F(x_0) - F(b)`,
with an error :math:`O(m^{-2})`.

Orientation as everywhere in ccnn: ``W[i, j]`` is the connection from j to i; edges are given
as (source j, target i) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ccnn._validation import as_tensor, check_finite, check_int, check_real, check_shape, describe
from ccnn.data.activity.ground_truth import TrueDynamics
from ccnn.data.activity.recording import Recording

__all__ = [
    "Dynamics",
    "GroundTruthDynamics",
    "LearnedDynamics",
    "LesionResult",
    "as_dynamics",
    "integrated_gradients",
    "lesion",
    "lesion_correlation",
    "lesion_mask",
    "plot_lesion",
    "rollout",
]


class Dynamics:
    """The interface perturbations use: subclass it (or duck-type it) to lesion other dynamics.

    Attributes: ``n_neurons``; ``dt`` (Euler step, or None: then pass ``dt=`` to the functions);
    ``types`` (N,) integer labels or None; ``dtype`` and ``device`` of the states.
    """

    n_neurons: int
    dt: float | None = None
    types: Tensor | None = None
    dtype: torch.dtype = torch.float64
    device: torch.device = torch.device("cpu")

    def connectivity(self) -> Tensor:
        """W (N, N), ``W[i, j]``: j → i."""
        raise NotImplementedError

    def derivative(self, x: Tensor, stimulus: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """:math:`\\dot x` for states x (B, N), Ω (B or 1, N) or None (Ω = 1), with W replaced
        by ``mask * W`` when a (N, N) mask is given."""
        raise NotImplementedError


class GroundTruthDynamics(Dynamics):
    r"""The simulator's equations (:func:`ccnn.data.simulate_assembly`) from a recording's truth:

    .. math:: \dot x_i = -c_i x_i + s_i \tanh x_i + g_i\,\Omega_i \sum_j W_{ij}\,\psi_{ij}(x_j)

    with ψ the recording's transfer (``tanh``, ``transmitters``: :math:`\tanh(x_j/\gamma_j)`,
    ``neuron_neuron``: :math:`\tanh(x_j/\gamma_i) - \theta_j x_j`), noise-free.

    Args:
        truth: a :class:`~ccnn.data.Recording` with ``neuron_params`` and ``connectivity``, or a
            :class:`~ccnn.data.activity.ground_truth.TrueDynamics`.
        dt: the Euler step; the recording's by default.
        dtype, device: of the states (float64 on the CPU by default).
    """

    def __init__(
        self,
        truth: Recording | TrueDynamics,
        *,
        dt: float | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        if isinstance(truth, Recording):
            dt = truth.dt if dt is None else dt
            truth = TrueDynamics(truth)
        if not isinstance(truth, TrueDynamics):
            raise TypeError(f"truth: expected a Recording or TrueDynamics, got {describe(truth)}")
        self.dt = None if dt is None else check_real(dt, "dt", positive=True)
        self.dtype, self.device = dtype, torch.device(device)
        self.n_neurons = truth.n_neurons
        self.types = truth.types

        self.truth = truth
        self.weight = truth.weight.to(self.device, dtype)

    def connectivity(self) -> Tensor:
        return self.weight

    def derivative(self, x: Tensor, stimulus: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.truth.derivative(x, stimulus, None if mask is None else self.weight * mask)


class LearnedDynamics(Dynamics):
    """A fitted :class:`~ccnn.models.DynamicsGNN` (or its :class:`~ccnn.nn.DynamicsNetwork`).

    The lesion replaces the network's learned W (its ``weight`` parameter, dense or one entry
    per edge of ``edge_index``) by the masked one for the call; nothing in the model changes.

    Args:
        model: the DynamicsGNN (its ``network`` is used) or a DynamicsNetwork.
        dt: the Euler step (the recording's ``dt``; a model does not store it).
        types: (N,) labels for type lesions; by default the model's recovered ``types`` (cluster
            labels, numbered independently of the true types) when it has them.
    """

    def __init__(self, model: nn.Module, *, dt: float | None = None, types: Any = None) -> None:
        network = getattr(model, "network", model)
        if not (
            isinstance(network, nn.Module) and hasattr(network, "weight") and hasattr(network, "n_neurons")
        ):
            raise TypeError(f"model: expected a DynamicsGNN or DynamicsNetwork, got {describe(model)}")
        self.network, self.n_neurons = network, int(network.n_neurons)
        self.dt = None if dt is None else check_real(dt, "dt", positive=True)
        self.types = getattr(model, "types", None) if types is None else as_tensor(types, "types").long()
        self.dtype, self.device = network.weight.dtype, network.weight.device

    def connectivity(self) -> Tensor:
        return self.network.connectivity()

    def derivative(self, x: Tensor, stimulus: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            return self.network(x, stimulus)
        weight = self.network.weight
        edge_index = getattr(self.network, "edge_index", None)
        kept = mask if edge_index is None else mask[edge_index[1], edge_index[0]]
        return torch.func.functional_call(self.network, {"weight": weight * kept}, (x, stimulus))


def as_dynamics(dynamics: Any, dt: float | None = None) -> Dynamics:
    """A :class:`Dynamics` for a Recording / TrueDynamics (the truth), a DynamicsGNN /
    DynamicsNetwork (learned), or any object with ``n_neurons`` and ``derivative`` (as is)."""
    if isinstance(dynamics, Recording | TrueDynamics):  # before duck typing: a Recording has .derivative
        return GroundTruthDynamics(dynamics, dt=dt)
    if callable(getattr(dynamics, "derivative", None)) and hasattr(dynamics, "n_neurons"):
        return dynamics
    if isinstance(dynamics, nn.Module):
        return LearnedDynamics(dynamics, dt=dt)
    raise TypeError(
        f"dynamics: expected a DynamicsGNN, DynamicsNetwork, Recording, TrueDynamics or Dynamics, "
        f"got {describe(dynamics)}"
    )


def _step(dyn: Dynamics, dt: float | None) -> float:
    dt = dt if dt is not None else getattr(dyn, "dt", None)
    if dt is None:
        raise ValueError("dt: expected the Euler step (the dynamics do not carry one), got None")
    return check_real(dt, "dt", positive=True)


def _state(value: Any, n: int, dyn: Dynamics, name: str, batched: bool = True) -> Tensor:
    x = as_tensor(value, name).to(dyn.device, dyn.dtype)
    if not ((x.dim() == 1 and x.shape[0] == n) or (batched and x.dim() == 2 and x.shape[1] == n)):
        raise ValueError(
            f"{name}: expected shape ({n},){' or (batch, ' + str(n) + ')' if batched else ''}, "
            f"got {tuple(x.shape)}"
        )
    check_finite(x, name)
    return x


def _stimulus(stimulus: Any, steps: int, dyn: Dynamics) -> Tensor | None:
    if stimulus is None:
        return None
    omega = as_tensor(stimulus, "stimulus").to(dyn.device, dyn.dtype)
    if omega.dim() != 2 or omega.shape[0] < steps or omega.shape[1] != dyn.n_neurons:
        raise ValueError(
            f"stimulus: expected Ω per step, shape (>= steps={steps}, {dyn.n_neurons}), "
            f"got {tuple(omega.shape)}"
        )
    return omega


def rollout(
    dynamics: Any,
    initial_state: Any,
    steps: int,
    *,
    stimulus: Any = None,
    mask: Tensor | None = None,
    silenced: Tensor | None = None,
    dt: float | None = None,
) -> Tensor:
    """Euler rollout :math:`x_{k+1} = x_k + \\Delta t\\, f(x_k, \\Omega_k; M \\odot W)`.

    Shapes: initial_state (N,) or (B, N) → (steps + 1, N) or (B, steps + 1, N); stimulus
    Ω (≥ steps, N), row k used at step k (None: Ω = 1); mask (N, N); silenced (N,) bool:
    neurons held at 0. Differentiable (call it under ``torch.no_grad()`` when no gradient is needed).
    """
    dyn = as_dynamics(dynamics, dt)
    step, steps = _step(dyn, dt), check_int(steps, "steps", minimum=1)
    x = _state(initial_state, dyn.n_neurons, dyn, "initial_state")
    single = x.dim() == 1
    x = x.reshape(-1, dyn.n_neurons)
    omega = _stimulus(stimulus, steps, dyn)
    if silenced is not None:
        x = x.masked_fill(silenced, 0.0)
    states = [x]
    for k in range(steps):
        x = x + step * dyn.derivative(x, None if omega is None else omega[k : k + 1], mask)
        if silenced is not None:
            x = x.masked_fill(silenced, 0.0)
        states.append(x)
    out = torch.stack(states, 1)
    return out[0] if single else out


def _labels(value: Any, name: str) -> Tensor:
    """An int, a 0-d tensor or a sequence of ints as a 1-D tensor (checked by the caller)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = [int(value)]
    labels = as_tensor(value, name)
    return labels.reshape(1) if labels.dim() == 0 else labels


def _indices(value: Any, name: str, n: int) -> Tensor:
    index = _labels(value, name)
    if index.numel() == 0:
        raise ValueError(f"{name}: expected at least one neuron index, got an empty selection")
    if index.is_floating_point() or index.dtype == torch.bool or index.dim() != 1:
        raise ValueError(f"{name}: expected an int or a 1-D sequence of ints, got {describe(value)}")
    if int(index.min()) < 0 or int(index.max()) >= n:
        raise ValueError(f"{name}: expected indices in [0, {n - 1}], got {index.tolist()}")
    return index.long()


def lesion_mask(
    n_neurons: int,
    *,
    neurons: Any = None,
    edges: Any = None,
    types: Any = None,
    neuron_types: Any = None,
) -> tuple[Tensor, Tensor]:
    """The connections and neurons a lesion removes (module docstring).

    Args:
        n_neurons: N.
        neurons: an index or a sequence of indices: every connection to and from them is cut.
        edges: (E, 2) (source j, target i) pairs: ``W[i, j]`` is cut.
        types: a type label or labels: all neurons of those types are lesioned like ``neurons``.
        neuron_types: (N,) integer labels that ``types`` refers to.

    Returns:
        ``mask`` (N, N) float, 0 where W is cut and 1 elsewhere, and ``lesioned`` (N,) bool,
        the lesioned neurons (from ``neurons`` and ``types``).
    """
    n = check_int(n_neurons, "n_neurons", minimum=1)
    if neurons is None and edges is None and types is None:
        raise ValueError("neurons, edges, types: expected at least one lesion target, got none")
    lesioned = torch.zeros(n, dtype=torch.bool)
    if neurons is not None:
        lesioned[_indices(neurons, "neurons", n)] = True
    if types is not None:
        if neuron_types is None:
            raise ValueError("neuron_types: expected (N,) labels to lesion types by, got None")
        labels = as_tensor(neuron_types, "neuron_types").cpu().long()
        check_shape(labels, (n,), "neuron_types", meaning="(n_neurons,)")
        wanted = _labels(types, "types")
        if wanted.is_floating_point() or wanted.dim() != 1:
            raise ValueError(f"types: expected a label or a 1-D sequence of labels, got {describe(types)}")
        wanted = wanted.long()
        unknown = sorted(set(wanted.tolist()) - set(labels.unique().tolist()))
        if wanted.numel() == 0 or unknown:
            raise ValueError(
                f"types: expected labels among {sorted(set(labels.tolist()))}, got {types!r}"
                + (f" (unknown: {unknown})" if unknown else "")
            )
        lesioned |= torch.isin(labels, wanted)
    mask = torch.ones(n, n)
    mask[lesioned, :] = 0.0
    mask[:, lesioned] = 0.0
    if edges is not None:
        pairs = as_tensor(edges, "edges")
        if pairs.numel() == 0:
            raise ValueError(f"edges: expected at least one (source, target) pair, got {describe(edges)}")
        check_shape(pairs, (None, 2), "edges", meaning="(E, 2) rows (source j, target i)")
        pairs = _indices(pairs.flatten(), "edges", n).reshape(-1, 2)
        mask[pairs[:, 1], pairs[:, 0]] = 0.0
    return mask, lesioned


@dataclass
class LesionResult:
    """Intact and lesioned rollouts ((steps + 1, N), or (B, steps + 1, N) for B initial states),
    the W mask (N, N) (0: cut), the lesioned neurons (N,) bool, and ``effect`` (N,) or (B, N):
    the RMS change of each neuron's activity over all steps (module docstring)."""

    intact: Tensor
    lesioned: Tensor
    mask: Tensor
    lesioned_neurons: Tensor
    effect: Tensor

    @property
    def difference(self) -> Tensor:
        """lesioned − intact, shaped like the rollouts."""
        return self.lesioned - self.intact

    def effect_at(self, horizon: int) -> Tensor:
        """The effect over the first ``horizon`` steps (1 ≤ horizon ≤ steps)."""
        steps = self.intact.shape[-2] - 1
        horizon = check_int(horizon, "horizon", minimum=1)
        if horizon > steps:
            raise ValueError(f"horizon: expected at most the rollout's {steps} steps, got {horizon}")
        return self.difference[..., 1 : horizon + 1, :].pow(2).mean(-2).sqrt()


@torch.no_grad()
def lesion(
    dynamics: Any,
    initial_state: Any,
    *,
    neurons: Any = None,
    edges: Any = None,
    types: Any = None,
    neuron_types: Any = None,
    steps: int = 20,
    stimulus: Any = None,
    silence: bool = False,
    dt: float | None = None,
) -> LesionResult:
    """Virtual lesion (module docstring): roll out the intact and the lesioned dynamics.

    Args:
        dynamics: a fitted DynamicsGNN / DynamicsNetwork (then pass ``dt``), a Recording with
            ground truth (the simulator's equations), or a :class:`Dynamics`.
        initial_state: (N,) or (B, N), e.g. a recorded frame.
        neurons, edges, types, neuron_types: what to lesion (:func:`lesion_mask`);
            ``neuron_types`` defaults to the dynamics' ``types``.
        steps: Euler steps.
        stimulus: Ω per step (≥ steps, N), the same for both rollouts; None: Ω = 1.
        silence: also hold the lesioned neurons' activity at 0.
        dt: the Euler step (default: the dynamics').

    Returns:
        A :class:`LesionResult`.
    """
    dyn = as_dynamics(dynamics, dt)
    if neuron_types is None and types is not None:
        neuron_types = getattr(dyn, "types", None)
    mask, lesioned = lesion_mask(
        dyn.n_neurons, neurons=neurons, edges=edges, types=types, neuron_types=neuron_types
    )
    mask, lesioned = mask.to(dyn.device, dyn.dtype), lesioned.to(dyn.device)
    options = {"stimulus": stimulus, "dt": dt}
    intact = rollout(dyn, initial_state, steps, **options)
    hit = rollout(dyn, initial_state, steps, mask=mask, silenced=lesioned if silence else None, **options)
    effect = (hit - intact)[..., 1:, :].pow(2).mean(-2).sqrt()
    return LesionResult(intact, hit, mask, lesioned, effect)


def lesion_correlation(
    first: LesionResult, second: LesionResult, *, horizon: int | None = None, include_lesioned: bool = False
) -> float:
    """Pearson correlation across neurons of two lesions' effects (e.g. learned vs true).

    The lesioned neurons are left out by default (their own change is trivially large); effects
    of B initial states are pooled. NaN when either effect is constant over the neurons compared
    (e.g. a lesion without effect)."""
    a, b = (r.effect if horizon is None else r.effect_at(horizon) for r in (first, second))
    if a.shape != b.shape:
        raise ValueError(f"second: expected effects of shape {tuple(a.shape)}, got {tuple(b.shape)}")
    keep = torch.ones_like(a, dtype=torch.bool)
    if not include_lesioned:
        keep &= ~(first.lesioned_neurons.to(a.device) | second.lesioned_neurons.to(a.device))
    pair = torch.stack([a[keep].double(), b[keep].double().to(a.device)])
    return float(torch.corrcoef(pair)[0, 1])


def integrated_gradients(
    dynamics: Any,
    initial_state: Any,
    target_neuron: int,
    *,
    steps: int = 20,
    n_alpha: int = 32,
    baseline: Any = None,
    stimulus: Any = None,
    mask: Tensor | None = None,
    dt: float | None = None,
) -> Tensor:
    """Integrated-gradients attribution of the target's activity after ``steps`` steps to each
    neuron's initial activity (module docstring), (N,), on the dynamics' device.

    ``baseline`` (N,) defaults to 0 (rest: the simulator's fixed point). ``mask`` attributes
    through a lesioned system. The ``n_alpha`` path points are rolled out as one batch;
    ``sum(attribution)`` approximates ``F(initial_state) − F(baseline)`` to :math:`O(n_\\alpha^{-2})`.
    """
    dyn = as_dynamics(dynamics, dt)
    n = dyn.n_neurons
    x0 = _state(initial_state, n, dyn, "initial_state", batched=False)
    target = check_int(target_neuron, "target_neuron", minimum=0)
    if target >= n:
        raise ValueError(f"target_neuron: expected an index in [0, {n - 1}], got {target}")
    m = check_int(n_alpha, "n_alpha", minimum=1)
    base = torch.zeros_like(x0) if baseline is None else _state(baseline, n, dyn, "baseline", batched=False)
    alphas = (torch.arange(m, device=x0.device, dtype=x0.dtype) + 0.5) / m
    with torch.enable_grad():
        path = (base + alphas[:, None] * (x0 - base)).requires_grad_(True)
        final = rollout(dyn, path, steps, stimulus=stimulus, mask=mask, dt=dt)[:, -1, target]
        (grad,) = torch.autograd.grad(final.sum(), path)  # path points are independent rows
    return (x0 - base) * grad.mean(0)


def plot_lesion(
    learned: LesionResult,
    true: LesionResult | None = None,
    *,
    neuron_types: Any = None,
    horizon: int | None = None,
    title: str | None = None,
):
    """Per-neuron lesion effect, learned against true (scatter with the identity line), or,
    without ``true``, per neuron index. Colours: ``neuron_types`` (legend); crosses: lesioned
    neurons. Effects of B initial states are averaged. Returns a matplotlib Figure."""
    import matplotlib
    from matplotlib.figure import Figure

    def effect(result: LesionResult) -> Tensor:
        value = result.effect if horizon is None else result.effect_at(horizon)
        return value.reshape(-1, value.shape[-1]).mean(0).detach().double().cpu()

    y = effect(learned)
    labels = (
        torch.zeros(len(y), dtype=torch.long)
        if neuron_types is None
        else as_tensor(neuron_types, "neuron_types").cpu().long()
    )
    check_shape(labels, (len(y),), "neuron_types", meaning="(n_neurons,)")
    x = effect(true) if true is not None else torch.arange(len(y), dtype=torch.float64)
    hit = learned.lesioned_neurons.cpu()
    fig = Figure(figsize=(5, 4.5), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps.get_cmap("tab10")
    for k, t in enumerate(labels.unique().tolist()):
        rows = (labels == t) & ~hit
        name = "neurons" if neuron_types is None else f"type {t}"
        ax.scatter(x[rows], y[rows], s=14, color=cmap(k % 10), label=name)
    if bool(hit.any()):
        ax.scatter(x[hit], y[hit], s=40, marker="x", color="k", label="lesioned")
    span = f" over {horizon or learned.intact.shape[-2] - 1} steps"
    ax.set_ylabel(f"{'learned ' if true is not None else ''}RMS change of activity{span} (a.u.)")
    if true is not None:
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], color="tab:red", lw=1, label="identity")
        ax.set_xlabel(f"true RMS change of activity{span} (a.u.)")
        r = lesion_correlation(learned, true, horizon=horizon)
        ax.set_title(title or f"virtual lesion: r = {r:.3f} (unlesioned neurons)")
    else:
        ax.set_xlabel("neuron index")
        ax.set_title(title or "virtual lesion: effect per neuron")
    ax.legend(frameon=False, fontsize=7)
    return fig
