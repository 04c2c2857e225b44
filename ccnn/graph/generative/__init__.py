r"""Generative network models (Betzel et al., NeuroImage 2016; Akarca et al., Nat. Commun. 2021).

Synthetic undirected binary connectomes grown edge by edge with probability
:math:`\propto D_{uv}^\eta (K_{uv} + \varepsilon)^\gamma` (a distance cost times a topological
value), batched over many (η, γ) parameter points, and fitted to a target connectome by the
energy (the largest of four Kolmogorov–Smirnov statistics).

* :mod:`~ccnn.graph.generative.rules` -- :data:`RULES`, :func:`topological_term` (K of a
  graph), :func:`wiring_probabilities` (the next step's probabilities).
* :mod:`~ccnn.graph.generative.simulate` -- :func:`generate`.
* :mod:`~ccnn.graph.generative.energy` -- :func:`ks_statistic`, :func:`generative_energy`.
* :mod:`~ccnn.graph.generative.fit` -- :func:`fit_generative`, :class:`GenerativeFit`.
"""

from ccnn.graph.generative.energy import KS_STATISTICS, generative_energy, ks_statistic
from ccnn.graph.generative.fit import DEFAULT_GRID, GenerativeFit, fit_generative
from ccnn.graph.generative.rules import EPSILON, RULES, topological_term, wiring_probabilities
from ccnn.graph.generative.simulate import generate

__all__ = [
    "DEFAULT_GRID",
    "EPSILON",
    "KS_STATISTICS",
    "RULES",
    "GenerativeFit",
    "fit_generative",
    "generate",
    "generative_energy",
    "ks_statistic",
    "topological_term",
    "wiring_probabilities",
]
