"""Neural activity: recordings (``.npz``), the simulator of Allier et al.'s assemblies (and its
command line, ``ccnn-simulate``), the simulation cache, procedural movies, and the activity
datamodules."""

from ccnn.data.activity.datamodule import ActivityDataModule, SimulatedActivityDataModule, TimeSplit
from ccnn.data.activity.movies import procedural_movie
from ccnn.data.activity.recording import Recording
from ccnn.data.activity.simulation import (
    BASELINE_TYPE_PARAMS,
    lorentz_connectivity,
    simulate_assembly,
    simulate_assembly_trials,
    type_grid,
)

__all__ = [
    "BASELINE_TYPE_PARAMS",
    "ActivityDataModule",
    "Recording",
    "SimulatedActivityDataModule",
    "TimeSplit",
    "lorentz_connectivity",
    "procedural_movie",
    "simulate_assembly",
    "simulate_assembly_trials",
    "type_grid",
]
