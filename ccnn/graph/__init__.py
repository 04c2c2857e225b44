"""Graph algorithms in plain torch: batched over graphs, on CPU or GPU.

This package is the home of the network-neuroscience tools of ccnn. It depends only on torch
(and :mod:`ccnn._validation`; scipy / networkx for the few steps noted below), never on the
models, data or training layers, so that any of them can use it. Every function takes a dense
adjacency in the ccnn orientation, ``adjacency[..., i, j]`` = the edge **from node j to node
i** (rows are targets, as in :attr:`torch.nn.Linear.weight`), accepts one graph ``(N, N)`` or a
batch ``(B, N, N)`` and returns tensors on the input's device.

Interpretation

* :mod:`~ccnn.graph.metrics` -- :func:`degree`, :func:`strength`, :func:`density`,
  :func:`clustering` (weighted: Onnela; directed: Fagiolo).
* :mod:`~ccnn.graph.paths` -- :func:`shortest_paths` (weights → lengths by a stated rule),
  :func:`characteristic_path_length`, :func:`global_efficiency`, :func:`local_efficiency`.
* :func:`betweenness` (Freeman; Brandes' accumulation for all sources of all graphs at once).
* :mod:`~ccnn.graph.communities` -- :func:`modularity` of a partition (Newman; Leicht &
  Newman for directed graphs).

Communication (:mod:`~ccnn.graph.communication`)

* :func:`communicability` (Estrada & Hatano; weighted: Crofts & Higham),
  :func:`search_information` (Goñi et al.), :func:`navigation` (greedy routing, Seguin et al.).

Control

* :mod:`~ccnn.graph.control` -- :func:`normalize_for_control` (nctpy's conventions),
  :func:`average_controllability`, :func:`modal_controllability` (Gu et al. 2015),
  :func:`minimum_control_energy`.
* :mod:`~ccnn.graph.structural_control` -- :func:`driver_nodes` (Liu et al. 2011) from a
  :func:`maximum_matching` (scipy's Hopcroft–Karp, one graph at a time).

Generation: :mod:`ccnn.graph.generative` (Betzel et al. 2016; Akarca et al. 2021).

Embedding: :func:`spectral_embedding` (ASE / LSE, directed or undirected).
"""

from ccnn.graph import generative
from ccnn.graph.betweenness import betweenness
from ccnn.graph.communication import Navigation, communicability, navigation, search_information
from ccnn.graph.communities import modularity
from ccnn.graph.control import (
    average_controllability,
    minimum_control_energy,
    modal_controllability,
    normalize_for_control,
)
from ccnn.graph.metrics import clustering, degree, density, strength
from ccnn.graph.paths import characteristic_path_length, global_efficiency, local_efficiency, shortest_paths
from ccnn.graph.spectral import SpectralEmbedding, spectral_embedding
from ccnn.graph.structural_control import driver_nodes, maximum_matching

__all__ = [
    "Navigation",
    "SpectralEmbedding",
    "average_controllability",
    "betweenness",
    "characteristic_path_length",
    "clustering",
    "communicability",
    "degree",
    "density",
    "driver_nodes",
    "generative",
    "global_efficiency",
    "local_efficiency",
    "maximum_matching",
    "minimum_control_energy",
    "modal_controllability",
    "modularity",
    "navigation",
    "normalize_for_control",
    "search_information",
    "shortest_paths",
    "spectral_embedding",
    "strength",
]
