"""Closed-form solvers of the dynamics GNN's start: the lifted library regression of W, φ and ψ
(:mod:`.library_regression`) and, for a multiplicative stimulus, the alternating regression of
W, φ, ψ and Ω (:mod:`.stimulus_regression`)."""

from ccnn.models.dynamics_gnn.solvers.library_regression import LibraryRegression, regress_dynamics
from ccnn.models.dynamics_gnn.solvers.stimulus_regression import (
    StimulusRegression,
    regress_stimulated_dynamics,
)

__all__ = ["LibraryRegression", "StimulusRegression", "regress_dynamics", "regress_stimulated_dynamics"]
