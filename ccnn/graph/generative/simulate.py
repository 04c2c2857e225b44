r"""Growing synthetic networks edge by edge, many (η, γ) parameter points at once.

:func:`generate` runs the generative network model of Betzel et al. (NeuroImage 2016) and
Akarca et al. (Nat. Commun. 2021) (the wiring rules and probabilities are defined in
:mod:`ccnn.graph.generative.rules`) for P parameter points together, as batched tensors.

The state is incremental: the unnormalised weights :math:`W_{uv} = D_{uv}^\eta (K_{uv} +
\varepsilon)^\gamma` of the absent pairs are kept for every point (float64, divided by the
point's largest initial weight so that they stay in range), and adding edge {u, v}
recomputes only the rows and columns of the M nodes whose K changed (u and v; for the
clustering rules also their common neighbours). The row sums of W, used to draw the next
edge, are updated by the same changes, so one step costs O(P M N) elementwise work: no matrix
products and no pass over all of W. A bound on the rounding error of every row sum is carried
along; where it exceeds :math:`10^{-9}` of the sum (cancellation, e.g. a large weight replaced
by a tiny one), that point's row sums are recomputed exactly.

**Sampling.** Point p draws its uniform numbers, one per step, as
``torch.rand(steps, dtype=torch.float64, generator=torch.Generator().manual_seed(seed_p))``,
and picks step t's pair by inverse transform with :math:`r = U_t \sum_{xy} W_{xy}`: the row
u is the first whose cumulative row sum exceeds r, the column v the first where u's
cumulative row weights exceed the rest of r. So point p of a batch is the graph that a single
run with the seed of point p gives. If all of a point's weights underflow to 0 or one
overflows (only for extreme η or γ, when :math:`\eta \log D + \gamma \log(K + \varepsilon)`
moves by more than ~700 from its initial maximum), that point's edge at that step is drawn
uniformly among the absent pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import check_choice, check_int, describe
from ccnn.graph.generative.rules import (
    F64,
    RULES,
    Topology,
    check_binary_graph,
    check_distances,
    check_parameters,
    log_weight_rows,
    log_weight_shift,
)

__all__ = ["generate"]

_EPS = float(torch.finfo(torch.float64).eps)
#: Relative error of a row sum above which it is recomputed exactly.
_RTOL = 1e-9


def generate(
    rule: str,
    eta: Any,
    gamma: Any,
    distances: Any,
    n_edges: int,
    *,
    seed: int | Sequence[int] = 0,
    seed_adjacency: Any = None,
) -> Tensor:
    r"""Synthetic undirected binary networks grown by a generative wiring rule.

    Starting from ``seed_adjacency`` (default: no edges), edges are added one at a time, each
    absent edge {u, v} with probability :math:`\propto D_{uv}^\eta (K_{uv} + 10^{-5})^\gamma`
    (see :mod:`ccnn.graph.generative.rules` for the rules), until the graph has ``n_edges``
    undirected edges, the seed network's edges included.

    Args:
        rule: one of :data:`~ccnn.graph.generative.rules.RULES` (``"spatial"``,
            ``"neighbors"``, ``"matching"``, ``"clu-avg"``, ..., ``"deg-prod"``).
        eta: the distance exponent, a float or a ``(P,)`` tensor.
        gamma: the topology exponent, a float or a ``(P,)`` tensor (broadcast with ``eta``).
        distances: ``(N, N)`` symmetric, positive between distinct nodes (e.g. Euclidean
            distances or fibre lengths); its device is the device of the run.
        n_edges: the number of undirected edges of the result (>= the seed network's).
        seed: an int, or one int per parameter point. With an int, point p uses the seed
            ``seed + p``, so point p of a batch equals a single run with ``seed=seed + p``.
        seed_adjacency: ``(N, N)`` symmetric graph to start from (non-zero = edge); its
            edges are kept and count towards ``n_edges``.

    Returns:
        ``(N, N)`` (both parameters floats) or ``(P, N, N)``: symmetric 0/1 matrices of the
        default float dtype, no self-loops, exactly ``n_edges`` edges each.
    """
    check_choice(rule, "rule", RULES)
    log_dist = check_distances(distances)
    device, n = log_dist.device, log_dist.shape[-1]
    eta_t, gamma_t, batched = check_parameters(eta, gamma, device)
    points = eta_t.numel()
    if seed_adjacency is None:
        start = torch.zeros(n, n, dtype=torch.bool, device=device)
    else:
        start = check_binary_graph(seed_adjacency, "seed_adjacency", n, device)
        if start.dim() != 2:
            raise ValueError(f"seed_adjacency: expected one graph (N, N), got shape {tuple(start.shape)}")
    n_seed = int(start.triu(1).sum())
    pairs = n * (n - 1) // 2
    n_edges = check_int(n_edges, "n_edges", minimum=n_seed, meaning=" (the seed network's edges)")
    if n_edges > pairs:
        raise ValueError(f"n_edges: expected at most N(N-1)/2 = {pairs} edges, got {n_edges}")
    steps = n_edges - n_seed
    uniforms = _uniforms(_point_seeds(seed, points), steps).to(device)
    topology = Topology(rule, start.expand(points, n, n))
    weights = _Weights(topology, eta_t, gamma_t, log_dist)
    for step in range(steps):
        u, v = weights.draw(uniforms[:, step])
        weights.update(*topology.add_edges(u, v))
    out = topology.adjacency.to(torch.get_default_dtype())
    return out if batched else out[0]


class _Weights:
    """The weights W ``(P, N, N)`` of the absent pairs and their row sums, kept up to date.

    Row sums are updated by the changes of the changed rows (O(P M N), no full sum per step);
    a bound on their rounding error is carried along, and a point whose bound exceeds
    :data:`_RTOL` of a row sum (after cancellation, e.g. a large weight replaced by a tiny one)
    has its row sums recomputed exactly.
    """

    def __init__(self, topology: Topology, eta: Tensor, gamma: Tensor, log_dist: Tensor):
        self.topology, self.eta, self.gamma, self.log_dist = topology, eta, gamma, log_dist
        nodes = torch.arange(topology.n, device=log_dist.device).expand(topology.points, topology.n)
        log_weight = log_weight_rows(topology, nodes, eta, gamma, log_dist)
        self.shift = log_weight_shift(log_weight)[:, None, None]  # keeps exp in range
        self.matrix = torch.exp(log_weight - self.shift)
        self.sums = self.matrix.sum(-1)
        self.error = self.sums * (_EPS * topology.n)

    def draw(self, uniform: Tensor) -> tuple[Tensor, Tensor]:
        """One absent pair (u, v) per point, with probability proportional to W."""
        sums, matrix = self.sums, self.matrix
        total = sums.sum(-1)
        bad = ~torch.isfinite(total) | (total <= 0)
        if bool(bad.any()):  # all weights underflowed or one overflowed: uniform over absent pairs
            n = self.topology.n
            absent = ~self.topology.adjacency & ~torch.eye(n, dtype=torch.bool, device=matrix.device)
            matrix = torch.where(bad[:, None, None], absent.to(F64), matrix)
            sums = matrix.sum(-1)
            total = sums.sum(-1)
        target = uniform * total
        u, cumulative = _pick(sums, target)
        before = torch.where(u > 0, cumulative.gather(1, (u - 1).clamp(min=0)[:, None])[:, 0], 0)
        row = matrix.view(-1, matrix.shape[-1]).index_select(0, self.topology.flat(u[:, None]))
        v, _ = _pick(row, (target - before).clamp(min=0))
        return u, v

    def update(self, changed: Tensor, valid: Tensor) -> None:
        """Recompute the rows and columns ``changed`` ``(P, M)`` (``valid``: not a repeat)."""
        topology = self.topology
        old = topology.gather_rows(self.matrix, changed)
        flat = topology.flat(changed)
        if topology.rule == "spatial":  # only the new edge changes: entries [u, v] and [v, u]
            new = old.masked_fill(topology.gather_rows(topology.adjacency, changed), 0)
            self.matrix.view(-1, topology.n).index_copy_(0, flat, new.reshape(-1, topology.n))
        else:
            log_weight = log_weight_rows(topology, changed, self.eta, self.gamma, self.log_dist)
            new = torch.exp(log_weight - self.shift)
            topology.put_symmetric(self.matrix, changed, new)
            keep = valid[..., None]
            self.sums += torch.where(keep, new - old, 0).sum(1)
            self.error += _EPS * (torch.where(keep, new + old, 0).sum(1) + self.sums.abs())
        # the changed rows themselves: exact sums
        row_sums = new.sum(-1).reshape(-1)
        self.sums.view(-1).index_copy_(0, flat, row_sums)
        self.error.view(-1).index_copy_(0, flat, row_sums * (_EPS * topology.n))
        stale = ((self.error > _RTOL * self.sums) | ~torch.isfinite(self.sums)).any(-1)
        if bool(stale.any()):
            self.sums[stale] = self.matrix[stale].sum(-1)
            self.error[stale] = self.sums[stale] * (_EPS * topology.n)


def _point_seeds(seed: Any, points: int) -> list[int]:
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        return [check_int(seed, "seed", minimum=0) + p for p in range(points)]
    values = list(seed) if isinstance(seed, Sequence | np.ndarray | Tensor) else None
    if values is None or len(values) != points:
        raise ValueError(
            f"seed: expected an int or {points} ints (one per parameter point), got {describe(seed)}"
        )
    return [check_int(int(s) if isinstance(s, Tensor) else s, "seed", minimum=0) for s in values]


def _uniforms(seeds: list[int], steps: int) -> Tensor:
    """``(P, steps)`` float64 uniforms in [0, 1), row p from a generator seeded with ``seeds[p]``."""
    rows = [torch.rand(steps, dtype=F64, generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(rows) if rows else torch.zeros(0, steps, dtype=F64)


def _pick(values: Tensor, target: Tensor) -> Tensor:
    """Per row, the index i with cumsum[i-1] <= target < cumsum[i] (never a zero entry)."""
    cumulative = values.cumsum(-1)
    index = torch.searchsorted(cumulative, target[:, None], right=True)[:, 0]
    # rounding can put target at or past the total: take the last positive entry then
    n = values.shape[-1]
    last = n - 1 - (values > 0).flip(-1).to(torch.int8).argmax(-1)
    return torch.minimum(index, last), cumulative
