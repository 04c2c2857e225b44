r"""Structural controllability: a minimum set of driver nodes by maximum matching.

Liu, Slotine & Barabási, "Controllability of complex networks", Nature 2011. A linear system
:math:`\dot x = A x + B u` whose non-zero pattern is the graph is structurally controllable
from a set of driver nodes (each with its own input) exactly when every node that is not a
driver is the head of an edge of a matching: a set of edges with no two sharing a head or a
tail. The minimum number of drivers is therefore

.. math:: N_D = \max(N - |M^*|, 1),

with :math:`M^*` a maximum matching of the bipartite graph whose left copies are the sources
and right copies the targets of the directed edges j → i (``adjacency[..., i, j] != 0``, the
ccnn orientation; a non-zero diagonal entry is a self-loop and can match its own node). One
minimum driver set is the set of unmatched targets; if the matching is perfect (every node
matched, the graph covered by cycles) one driver suffices and any node will do: node 0 is
returned. The set is one of possibly many minimum sets (the matching is not unique).

The matching is scipy's Hopcroft–Karp (``scipy.sparse.csgraph.maximum_bipartite_matching``),
:math:`O(E\sqrt{N})`, one graph at a time on the CPU; results come back on the input's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch
from scipy.sparse.csgraph import maximum_bipartite_matching
from torch import Tensor

from ccnn.graph._adjacency import check_adjacency

__all__ = ["driver_nodes", "maximum_matching"]


def maximum_matching(adjacency: Any) -> Tensor:
    """A maximum matching of the directed graph (module docstring), ``(N,)`` or ``(B, N)`` int64.

    Entry i is the source j of the matched edge j → i (``adjacency[..., i, j] != 0``), or -1
    when node i is the head of no matched edge.
    """
    adj = check_adjacency(adjacency)
    n = adj.shape[-1]
    edges = (adj != 0).cpu().numpy().reshape(-1, n, n)
    # rows are targets: 'column' gives, per row i, the column (source) matched to it
    matched = [
        maximum_bipartite_matching(scipy.sparse.csr_array(graph), perm_type="column") for graph in edges
    ]
    result = torch.from_numpy(np.array(matched, dtype=np.int64).reshape(-1, n))
    return result.reshape(adj.shape[:-1]).to(adj.device)


def driver_nodes(adjacency: Any) -> Tensor:
    """One minimum driver set (module docstring) as an ``(N,)`` or ``(B, N)`` bool mask.

    ``driver_nodes(A).sum(-1)`` is :math:`N_D = \\max(N - |M^*|, 1)`: the nodes left unmatched by
    :func:`maximum_matching`, or node 0 alone when every node is matched.
    """
    drivers = maximum_matching(adjacency) < 0
    none = ~drivers.any(-1)  # perfect matching: one driver, node 0
    drivers[..., 0] |= none
    return drivers
