r"""Wiring rules of the generative network models: the topological term K and the step weights.

At every step of the model (Betzel et al., "Generative models of the human connectome",
NeuroImage 2016; Akarca et al., "A generative network model of neurodevelopmental diversity in
structural brain organization", Nat. Commun. 2021) the absent edge {u, v} of an undirected
binary graph is added with probability

.. math:: P_{uv} = \frac{D_{uv}^{\eta}\,(K_{uv} + \varepsilon)^{\gamma}}
                        {\sum_{\{x, y\} \notin E,\, x \ne y} D_{xy}^{\eta}\,(K_{xy} + \varepsilon)^{\gamma}},

the power-law form, with D a distance matrix (the cost), K a topological term of the current
graph (the value) and :math:`\varepsilon = 10^{-5}` (:data:`EPSILON`) so that K = 0 is allowed
(with :math:`\gamma < 0` it would otherwise be infinite). With :math:`N_u` the neighbours of u,
:math:`k_u = |N_u|` its degree, :math:`a_{uv} \in \{0, 1\}` the edge indicator and
:math:`c_u = 2 t_u / (k_u (k_u - 1))` its binary clustering coefficient (:math:`t_u` triangles
through u; :math:`c_u = 0` when :math:`k_u < 2`), the rules are (:data:`RULES`):

* ``"spatial"``: :math:`K_{uv} = 1` (distance only; γ has no effect);
* ``"neighbors"``: common neighbours, :math:`K_{uv} = |N_u \cap N_v|`;
* ``"matching"``: the matching index of the Brain Connectivity Toolbox that these papers use,
  the overlap of the two neighbourhoods each without the other node,
  :math:`K_{uv} = \frac{2 |N_u \cap N_v|}{|N_u \setminus \{v\}| + |N_v \setminus \{u\}|}
  = \frac{2 |N_u \cap N_v|}{k_u + k_v - 2 a_{uv}}` (0 when both neighbourhoods are empty);
* ``"clu-avg"`` :math:`(c_u + c_v)/2`, ``"clu-min"`` :math:`\min(c_u, c_v)`, ``"clu-max"``
  :math:`\max(c_u, c_v)`, ``"clu-diff"`` :math:`|c_u - c_v|`, ``"clu-prod"`` :math:`c_u c_v`;
* ``"deg-avg"`` :math:`(k_u + k_v)/2`, ``"deg-min"`` :math:`\min(k_u, k_v)`, ``"deg-max"``
  :math:`\max(k_u, k_v)`, ``"deg-diff"`` :math:`|k_u - k_v|`, ``"deg-prod"`` :math:`k_u k_v`.

Weights are computed in float64 as :math:`\exp(\eta \log D_{uv} + \gamma \log(K_{uv} +
\varepsilon))`, with D first divided by its largest off-diagonal entry (a constant factor that
leaves every probability unchanged). Distances must be symmetric, finite and positive off the
diagonal (the diagonal is ignored).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_choice, check_finite, describe
from ccnn.graph._adjacency import check_adjacency

__all__ = ["EPSILON", "RULES", "topological_term", "wiring_probabilities"]

#: Names of the wiring rules (Betzel et al. 2016, Akarca et al. 2021).
RULES = (
    "spatial",
    "neighbors",
    "matching",
    "clu-avg",
    "clu-min",
    "clu-max",
    "clu-diff",
    "clu-prod",
    "deg-avg",
    "deg-min",
    "deg-max",
    "deg-diff",
    "deg-prod",
)
#: Added to K before raising it to the power γ, so that K = 0 is allowed.
EPSILON = 1e-5
F64 = torch.float64


def check_distances(distances: Any) -> Tensor:
    """``distances`` as a float64 ``(N, N)`` tensor of log(D / max D), diagonal 0 (ignored)."""
    dist = as_tensor(distances, "distances")
    if dist.is_complex() or dist.dtype == torch.bool:
        raise TypeError(f"distances: expected a real float tensor, got {describe(distances)}")
    if dist.dim() != 2 or dist.shape[0] != dist.shape[1] or dist.shape[0] < 2:
        raise ValueError(f"distances: expected a square (N, N) matrix with N >= 2, got {tuple(dist.shape)}")
    check_finite(dist, "distances")
    dist = dist.to(F64)
    off = ~torch.eye(dist.shape[0], dtype=torch.bool, device=dist.device)
    if bool((dist[off] <= 0).any()):
        raise ValueError(
            f"distances: expected positive distances between distinct nodes, "
            f"got minimum {float(dist[off].min()):.4g} off the diagonal"
        )
    peak = dist[off].max()
    gap = float(((dist - dist.T).abs() * off).max() / peak)
    if gap > 1e-5:
        raise ValueError(
            "distances: expected a symmetric matrix (undirected models), "
            f"got a relative asymmetry of {gap:.3g}"
        )
    log_dist = torch.log((dist + dist.T) / (2 * peak))  # exactly symmetric: rows double as columns
    return log_dist.masked_fill(~off, 0)


def check_parameters(eta: Any, gamma: Any, device: torch.device) -> tuple[Tensor, Tensor, bool]:
    """η and γ as float64 ``(P,)`` tensors (broadcast together) and whether any was a vector."""
    values, batched = [], False
    for value, name in ((eta, "eta"), (gamma, "gamma")):
        scalar = isinstance(value, int | float | np.number)
        tensor = as_tensor([value] if scalar else value, name)
        if isinstance(value, bool) or tensor.is_complex() or tensor.dtype == torch.bool or tensor.dim() > 1:
            raise ValueError(f"{name}: expected a float or a (P,) tensor of floats, got {describe(value)}")
        check_finite(tensor, name)
        batched |= not scalar and tensor.dim() == 1
        values.append(tensor.to(device=device, dtype=F64).reshape(-1))
    try:
        eta_t, gamma_t = torch.broadcast_tensors(*values)
    except RuntimeError as err:
        raise ValueError(
            f"eta, gamma: expected floats or tensors of one length P, got lengths "
            f"{values[0].numel()} and {values[1].numel()}"
        ) from err
    if eta_t.numel() == 0:
        raise ValueError("eta, gamma: expected at least one parameter point, got none")
    return eta_t.contiguous(), gamma_t.contiguous(), batched


def check_binary_graph(adjacency: Any, name: str, n: int, device: torch.device) -> Tensor:
    """A symmetric ``(N, N)`` or ``(B, N, N)`` graph as a bool edge mask (non-zero = edge, no loops)."""
    try:
        adj = check_adjacency(adjacency)
    except (TypeError, ValueError) as err:
        raise type(err)(str(err).replace("adjacency", name, 1)) from err
    if adj.shape[-1] != n:
        raise ValueError(f"{name}: expected {n} nodes (as distances), got shape {tuple(adj.shape)}")
    edges = (adj != 0).to(device)
    edges &= ~torch.eye(n, dtype=torch.bool, device=device)
    if not torch.equal(edges, edges.transpose(-1, -2)):
        raise ValueError(f"{name}: expected a symmetric (undirected) graph, got an asymmetric one")
    return edges


class Topology:
    """The graph state of P simulations and what a rule needs of it, updated edge by edge.

    ``adjacency`` ``(P, N, N)`` bool, ``degree`` ``(P, N)``; for ``"neighbors"`` and
    ``"matching"`` the common-neighbour counts ``common`` ``(P, N, N)`` (float32: exact
    integers); for the clustering rules the triangle counts ``triangles`` ``(P, N)``. Adding edge
    {u, v} changes the counts only in rows and columns u, v (common neighbours) and at u, v and
    their common neighbours (triangles), so one step costs O(P N) here.
    """

    def __init__(self, rule: str, adjacency: Tensor):
        self.rule = rule
        self.points, self.n = adjacency.shape[0], adjacency.shape[-1]
        self.adjacency = adjacency.contiguous().clone()
        self.batch = torch.arange(self.points, device=adjacency.device)
        # one seed graph expanded to all points: count on it once
        shared = adjacency.shape[0] > 1 and adjacency.stride(0) == 0
        binary = (adjacency[:1] if shared else adjacency).to(F64)

        def each(value: Tensor) -> Tensor:
            return value.expand(self.points, *value.shape[1:]).contiguous() if shared else value

        self.degree = each(binary.sum(-1))
        if rule in ("neighbors", "matching"):
            self.common = each((binary @ binary).to(torch.float32))
        if rule.startswith("clu-"):
            self.triangles = each(torch.diagonal(binary @ binary @ binary, dim1=-2, dim2=-1) / 2)

    def flat(self, nodes: Tensor) -> Tensor:
        """Row indices of ``nodes`` ``(P, M)`` in a ``(P * N, N)`` view, flattened."""
        return (self.batch[:, None] * self.n + nodes).reshape(-1)

    def gather_rows(self, matrix: Tensor, nodes: Tensor) -> Tensor:
        """``matrix[p, nodes[p, m]]`` of a ``(P, N, N)`` tensor: ``(P, M, N)``."""
        rows = matrix.view(-1, self.n).index_select(0, self.flat(nodes))
        return rows.view(*nodes.shape, self.n)

    def put_symmetric(self, matrix: Tensor, nodes: Tensor, rows: Tensor) -> None:
        """Write ``rows`` ``(P, M, N)`` into rows and columns ``nodes`` of a symmetric ``(P, N, N)``."""
        flat = self.flat(nodes)
        matrix.view(-1, self.n).index_copy_(0, flat, rows.reshape(-1, self.n))
        point, node = flat // self.n, flat % self.n
        # linear indices of [p, x, node] for every x
        across = torch.arange(self.n, device=flat.device) * self.n
        columns = (point * self.n * self.n + node)[:, None] + across
        matrix.view(-1).index_copy_(0, columns.reshape(-1), rows.reshape(-1))

    def clustering(self) -> Tensor:
        k = self.degree
        possible = k * (k - 1)
        return torch.where(possible > 0, 2 * self.triangles / possible.clamp(min=1), 0)

    def rows(self, nodes: Tensor) -> Tensor:
        """K in the rows ``nodes`` ``(P, M)``: ``(P, M, N)`` float64 (the diagonal is meaningless)."""
        rule = self.rule
        if rule == "spatial":
            return torch.ones(*nodes.shape, self.n, dtype=F64, device=nodes.device)
        if rule in ("neighbors", "matching"):
            common = self.gather_rows(self.common, nodes).to(F64)
            if rule == "neighbors":
                return common
            k = self.degree
            linked = self.gather_rows(self.adjacency, nodes)
            total = k.gather(1, nodes)[..., None] + k[:, None, :] - 2 * linked
            return torch.where(total > 0, 2 * common / total.clamp(min=1), 0)
        node = self.clustering() if rule.startswith("clu-") else self.degree
        x, y = node.gather(1, nodes)[..., None], node[:, None, :]
        kind = rule[4:]
        if kind == "avg":
            return (x + y) / 2
        if kind == "min":
            return torch.minimum(x, y)
        if kind == "max":
            return torch.maximum(x, y)
        if kind == "diff":
            return (x - y).abs()
        return x * y

    def add_edges(self, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add edge {u[p], v[p]} to graph p.

        Returns the nodes whose rows of K (or of the weights: u and v always) changed,
        ``(P, M)``, and a ``(P, M)`` mask that is False on repeated entries (padding).
        """
        b, n = self.batch, self.n
        pair = torch.stack([u, v], 1)
        near = self.gather_rows(self.adjacency, pair)  # neighbours before the edge
        near_u, near_v = near[:, 0], near[:, 1]
        self.adjacency.view(-1).index_fill_(0, torch.cat([(b * n + u) * n + v, (b * n + v) * n + u]), True)
        self.degree.view(-1).index_add_(0, self.flat(pair), torch.ones_like(pair, dtype=F64).view(-1))
        changed, valid = pair, torch.ones_like(pair, dtype=torch.bool)
        if self.rule in ("neighbors", "matching"):
            # w in N(u) now shares u with v, w in N(v) shares v with u
            rows = self.gather_rows(self.common, pair) + near.flip(1)
            self.put_symmetric(self.common, pair, rows)
        elif self.rule.startswith("clu-"):
            shared = near_u & near_v  # each closes one new triangle u-v-w
            count = shared.sum(-1).to(F64)
            self.triangles += shared
            self.triangles.view(-1).index_add_(0, self.flat(pair), count[:, None].expand(-1, 2).reshape(-1))
            width = int(count.max())
            if width:
                order = torch.sort(shared.to(torch.int8), dim=-1, descending=True, stable=True).indices
                picked = order[:, :width]
                keep = shared.gather(1, picked)
                changed = torch.cat([pair, torch.where(keep, picked, u[:, None])], 1)
                valid = torch.cat([valid, keep], 1)
        return changed, valid


def log_weight_rows(
    topology: Topology, nodes: Tensor, eta: Tensor, gamma: Tensor, log_dist: Tensor
) -> Tensor:
    r"""Log weights :math:`\eta \log D + \gamma \log(K + \varepsilon)` in rows ``nodes`` ``(P, M)``.

    Returns ``(P, M, N)`` float64, :math:`-\infty` on present edges and the diagonal.
    """
    n = log_dist.shape[-1]
    log_weight = eta[:, None, None] * log_dist[nodes]
    if topology.rule != "spatial":
        log_weight = log_weight + gamma[:, None, None] * torch.log(topology.rows(nodes) + EPSILON)
    absent = ~topology.gather_rows(topology.adjacency, nodes)
    absent &= nodes[..., None] != torch.arange(n, device=nodes.device)
    return log_weight.masked_fill(~absent, -math.inf)


def log_weight_shift(log_weight: Tensor) -> Tensor:
    """Per point, the largest finite log weight (0 if none): subtracted before ``exp``."""
    peak = log_weight.flatten(1).amax(1)
    return torch.where(torch.isfinite(peak), peak, 0)


def topological_term(rule: str, adjacency: Any) -> Tensor:
    """The topological term K of ``rule`` (module docstring) for a binary undirected graph.

    Args:
        rule: one of :data:`RULES`.
        adjacency: ``(N, N)`` or ``(B, N, N)``, symmetric; non-zero entries are edges.

    Returns:
        ``(N, N)`` or ``(B, N, N)`` float64, symmetric, diagonal 0.
    """
    check_choice(rule, "rule", RULES)
    adj = check_adjacency(adjacency)
    edges = check_binary_graph(adj, "adjacency", adj.shape[-1], adj.device)
    graphs = edges.reshape(-1, *edges.shape[-2:])
    n = graphs.shape[-1]
    topology = Topology(rule, graphs)
    nodes = torch.arange(n, device=graphs.device).expand(graphs.shape[0], n)
    term = topology.rows(nodes).masked_fill(torch.eye(n, dtype=torch.bool, device=graphs.device), 0)
    return term.reshape(edges.shape)


def wiring_probabilities(rule: str, eta: Any, gamma: Any, distances: Any, adjacency: Any) -> Tensor:
    r"""Probability that the next step of the model adds each absent edge (module docstring).

    Args:
        rule: one of :data:`RULES`.
        eta, gamma: floats or ``(P,)`` tensors (broadcast together).
        distances: ``(N, N)`` symmetric, positive off the diagonal.
        adjacency: the current graph, ``(N, N)`` symmetric (non-zero = edge).

    Returns:
        ``(N, N)`` or ``(P, N, N)`` float64, symmetric: ``[u, v]`` is the probability of the
        undirected edge {u, v}, so that the upper triangle sums to 1; 0 on present edges and
        the diagonal.
    """
    check_choice(rule, "rule", RULES)
    log_dist = check_distances(distances)
    eta_t, gamma_t, batched = check_parameters(eta, gamma, log_dist.device)
    n = log_dist.shape[-1]
    edges = check_binary_graph(adjacency, "adjacency", n, log_dist.device)
    if edges.dim() != 2:
        raise ValueError(f"adjacency: expected one graph (N, N), got shape {tuple(edges.shape)}")
    topology = Topology(rule, edges.expand(eta_t.numel(), n, n))
    nodes = torch.arange(n, device=edges.device).expand(eta_t.numel(), n)
    log_weight = log_weight_rows(topology, nodes, eta_t, gamma_t, log_dist)
    weights = torch.exp(log_weight - log_weight_shift(log_weight)[:, None, None])
    probabilities = weights / weights.triu(1).sum((-1, -2), keepdim=True)
    return probabilities if batched else probabilities[0]
