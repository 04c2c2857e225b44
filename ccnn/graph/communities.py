r"""Modularity of a partition, batched.

Newman 2006 ("Modularity and community structure in networks") for undirected graphs and its
directed form by Leicht & Newman 2008 ("Community structure in directed networks"). With
:math:`M = \sum_{ij} w_{ij}` (self-connections removed), in- and out-strengths
:math:`s^{in}_i = \sum_j w_{ij}` and :math:`s^{out}_j = \sum_i w_{ij}`, and resolution
:math:`\gamma`,

.. math::
    Q = \frac{1}{M} \sum_{ij} \Big[w_{ij} - \gamma\,\frac{s^{in}_i\, s^{out}_j}{M}\Big]\,
        \delta(c_i, c_j).

For a symmetric matrix :math:`M = 2m` and :math:`s^{in} = s^{out} = k`, which is Newman's
undirected :math:`Q`: one formula serves both (networkx's ``community.modularity``).

Also here: community detection by :func:`louvain` (Blondel et al. 2008, through networkx) and
the node roles of Guimerà & Amaral 2005 ("Functional cartography of complex metabolic
networks", Nature): :func:`participation_coefficient` and :func:`within_module_degree_zscore`.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_choice, check_nonnegative, check_real, describe
from ccnn.graph._adjacency import check_adjacency, working_dtype

__all__ = ["louvain", "modularity", "participation_coefficient", "within_module_degree_zscore"]

#: Values of ``direction=`` of the node roles.
DIRECTIONS = ("out", "in", "total")


def _labels(communities: Any, adj: Tensor) -> Tensor:
    """``communities`` as int64 labels ``(N,)`` or ``(B, N)`` matching ``adj``, on its device."""
    n = adj.shape[-1]
    labels = as_tensor(communities, "communities")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"communities: expected integer labels, got dtype {labels.dtype}")
    if (
        labels.shape[-1:] != (n,)
        or labels.dim() > adj.dim() - 1
        or (labels.dim() == 2 and adj.dim() == 3 and labels.shape[0] != adj.shape[0])
    ):
        raise ValueError(
            f"communities: expected one label per node, shape ({n},) or (B, {n}), got {tuple(labels.shape)}"
        )
    return labels.to(adj.device).long()


def modularity(adjacency: Any, communities: Any, *, resolution: float = 1.0) -> Tensor:
    """Modularity :math:`Q` of ``communities`` (an ``(N,)`` or ``(B, N)`` integer label tensor)
    on ``adjacency`` ``(N, N)`` or ``(B, N, N)`` (module docstring); ``()`` or ``(B,)``."""
    adj = check_adjacency(adjacency)
    adj = adj.to(working_dtype(adj))
    n = adj.shape[-1]
    adj = adj.masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    check_real(resolution, "resolution", positive=True)
    labels = _labels(communities, adj)
    labels = labels - labels.min()
    one_hot = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).to(adj.dtype)  # (..., N, K)
    if one_hot.dim() < adj.dim():
        one_hot = one_hot.expand(*adj.shape[:-2], n, one_hot.shape[-1])
    total = adj.sum((-1, -2))
    within = (one_hot.transpose(-1, -2) @ adj @ one_hot).diagonal(dim1=-2, dim2=-1).sum(-1)
    s_in = (adj.sum(-1, keepdim=True) * one_hot).sum(-2)  # (..., K)
    s_out = (adj.sum(-2)[..., None] * one_hot).sum(-2)
    expected = (s_in * s_out).sum(-1) / torch.where(total != 0, total, torch.ones_like(total))
    q = (within - resolution * expected) / torch.where(total != 0, total, torch.ones_like(total))
    return torch.where(total != 0, q, torch.zeros_like(q))


def _first_appearance(labels: list[int]) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(label, len(seen)) for label in labels]


def louvain(adjacency: Any, *, resolution: float = 1.0, seed: int = 0) -> Tensor:
    r"""Communities maximising :func:`modularity` by the Louvain method (Blondel, Guillaume,
    Lambiotte & Lefebvre 2008, "Fast unfolding of communities in large networks", J. Stat.
    Mech.), through networkx's ``community.louvain_communities`` (seeded).

    A symmetric matrix is an undirected graph (Newman's modularity); any other a directed one,
    optimised for the directed modularity of Leicht & Newman as networkx does (Dugué & Perez
    2015). Weights must be non-negative; the diagonal is ignored, as in :func:`modularity`.

    Returns:
        int64 labels ``(N,)`` or ``(B, N)`` numbered 0..K-1 in order of first appearance (node
        0 is in community 0), on the input's device. One graph at a time (networkx).
    """
    import networkx as nx  # imported here: slow to import, and only this function needs it

    adj = check_adjacency(adjacency)
    check_nonnegative(adj, "adjacency")
    check_real(resolution, "resolution", positive=True)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {describe(seed)}")
    n = adj.shape[-1]
    batch = adj.detach().reshape(-1, n, n).to("cpu", torch.float64)
    batch = batch.masked_fill(torch.eye(n, dtype=torch.bool), 0).numpy()
    out = []
    for w in batch:
        directed = not (w == w.T).all()
        # networkx reads A[i, j] as the edge i -> j; ccnn's w[i, j] is j -> i
        graph = nx.from_numpy_array(w.T, create_using=nx.DiGraph if directed else nx.Graph)
        groups = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
        labels = [0] * n
        for c, members in enumerate(groups):
            for node in members:
                labels[node] = c
        out.append(_first_appearance(labels))
    return torch.tensor(out, dtype=torch.long, device=adj.device).reshape(adj.shape[:-1])


def _module_strengths(adjacency: Any, communities: Any, direction: str) -> tuple[Tensor, Tensor]:
    """Per node and module, :math:`k_{is}` ``(..., N, K)``, and the one-hot labels ``(..., N, K)``."""
    check_choice(direction, "direction", DIRECTIONS)
    adj = check_adjacency(adjacency)
    check_nonnegative(adj, "adjacency")
    adj = adj.to(working_dtype(adj))
    n = adj.shape[-1]
    adj = adj.masked_fill(torch.eye(n, dtype=torch.bool, device=adj.device), 0)
    labels = _labels(communities, adj)
    labels = labels - labels.min()
    one_hot = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).to(adj.dtype)
    if one_hot.dim() < adj.dim():
        one_hot = one_hot.expand(*adj.shape[:-2], n, one_hot.shape[-1])
    # row i of adj: what node i receives ("in"); column i: what it sends ("out")
    links = {"in": adj, "out": adj.transpose(-1, -2), "total": adj + adj.transpose(-1, -2)}[direction]
    return links @ one_hot, one_hot


def participation_coefficient(
    adjacency: Any, communities: Any, *, direction: Literal["out", "in", "total"] = "out"
) -> Tensor:
    r"""Participation coefficient per node (Guimerà & Amaral 2005), ``(N,)`` or ``(B, N)``:

    .. math:: P_i = 1 - \sum_s \Big(\frac{k_{is}}{k_i}\Big)^2,

    with :math:`k_{is}` the strength (sum of non-negative weights; pass a binary matrix for
    degrees) between node i and module s and :math:`k_i = \sum_s k_{is}`. ``direction``: the
    edges i sends (``"out"``, default), receives (``"in"``) or both (``"total"``); the three
    agree on a symmetric matrix. 0 when all of a node's edges stay in one module, approaching
    1 when they spread evenly over many. Nodes without edges get 0. Self-connections are
    ignored; ``communities`` as in :func:`modularity`.
    """
    k_is, _ = _module_strengths(adjacency, communities, direction)
    k = k_is.sum(-1)
    share = k_is / torch.where(k > 0, k, torch.ones_like(k))[..., None]
    return torch.where(k > 0, 1 - (share**2).sum(-1), torch.zeros_like(k))


def within_module_degree_zscore(
    adjacency: Any, communities: Any, *, direction: Literal["out", "in", "total"] = "out"
) -> Tensor:
    r"""Within-module degree z-score per node (Guimerà & Amaral 2005), ``(N,)`` or ``(B, N)``:

    .. math:: z_i = \frac{\kappa_i - \langle \kappa \rangle_{s_i}}{\sigma_{s_i}(\kappa)},

    with :math:`\kappa_i = k_{i s_i}` the strength between node i and its own module
    :math:`s_i` (``direction`` as in :func:`participation_coefficient`) and the mean and the
    population standard deviation taken over the nodes of :math:`s_i`. Nodes of a module whose
    :math:`\kappa` is constant (a single node, a clique with equal weights) get 0.
    """
    k_is, one_hot = _module_strengths(adjacency, communities, direction)
    kappa = (k_is * one_hot).sum(-1)  # (..., N)
    size = one_hot.sum(-2)  # (..., K)
    mean = (one_hot * kappa[..., None]).sum(-2) / size.clamp(min=1)
    var = (one_hot * (kappa[..., None] - mean[..., None, :]) ** 2).sum(-2) / size.clamp(min=1)
    node_mean = (one_hot * mean[..., None, :]).sum(-1)
    node_std = (one_hot * var.sqrt()[..., None, :]).sum(-1)
    # constant kappa in a module: the deviation is 0 up to rounding, the z-score 0
    flat = node_std <= 1e-12 * node_mean.abs().clamp(min=1)
    return torch.where(flat, torch.zeros_like(kappa), (kappa - node_mean) / torch.where(flat, 1, node_std))
