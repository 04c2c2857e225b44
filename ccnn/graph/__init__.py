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
  Newman for directed graphs), :func:`louvain` communities (networkx, seeded),
  :func:`participation_coefficient` and :func:`within_module_degree_zscore` (Guimerà & Amaral).
* :func:`rich_club` coefficients (Colizza et al.), raw or against nulls.
* :mod:`~ccnn.graph.small_world` -- :func:`small_world_sigma`, :func:`small_world_omega`,
  :func:`small_world_propensity` against random and lattice references.

Null models (:mod:`~ccnn.graph.nulls`)

* :func:`randomise_preserving_degree` (Maslov–Sneppen swaps, many nulls in one call),
  :func:`randomise_preserving_strength` (Rubinov & Sporns), :func:`latticise` (Sporns & Zwi).

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
from ccnn.graph.communities import louvain, modularity, participation_coefficient, within_module_degree_zscore
from ccnn.graph.control import (
    average_controllability,
    minimum_control_energy,
    modal_controllability,
    normalize_for_control,
)
from ccnn.graph.metrics import clustering, degree, density, strength
from ccnn.graph.nulls import latticise, randomise_preserving_degree, randomise_preserving_strength
from ccnn.graph.paths import characteristic_path_length, global_efficiency, local_efficiency, shortest_paths
from ccnn.graph.rich_club import rich_club
from ccnn.graph.small_world import ring_lattice, small_world_omega, small_world_propensity, small_world_sigma
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
    "latticise",
    "local_efficiency",
    "louvain",
    "maximum_matching",
    "minimum_control_energy",
    "modal_controllability",
    "modularity",
    "navigation",
    "normalize_for_control",
    "participation_coefficient",
    "randomise_preserving_degree",
    "randomise_preserving_strength",
    "rich_club",
    "ring_lattice",
    "search_information",
    "shortest_paths",
    "small_world_omega",
    "small_world_propensity",
    "small_world_sigma",
    "spectral_embedding",
    "strength",
    "within_module_degree_zscore",
]
