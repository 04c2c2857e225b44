"""Connectomes, recordings, simulators and LightningDataModules."""

from ccnn.data.activity import ActivityDataModule, SimulatedActivityDataModule, TimeSplit
from ccnn.data.connectome import Connectome
from ccnn.data.movies import procedural_movie
from ccnn.data.recording import Recording
from ccnn.data.simulation import (
    BASELINE_TYPE_PARAMS,
    lorentz_connectivity,
    simulate_assembly,
    simulate_assembly_trials,
    type_grid,
)

__all__ = [
    "BASELINE_TYPE_PARAMS",
    "ActivityDataModule",
    "Connectome",
    "Recording",
    "SimulatedActivityDataModule",
    "TimeSplit",
    "lorentz_connectivity",
    "procedural_movie",
    "simulate_assembly",
    "simulate_assembly_trials",
    "type_grid",
]
