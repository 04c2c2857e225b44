"""Connectomes, recordings, simulators and LightningDataModules."""

from ccnn.data.activity import ActivityDataModule, SimulatedActivityDataModule, TimeSplit
from ccnn.data.connectome import Connectome
from ccnn.data.digits import DigitsDataModule
from ccnn.data.movies import procedural_movie
from ccnn.data.recording import Recording
from ccnn.data.registry import get, list_datamodules, register
from ccnn.data.simulation import (
    BASELINE_TYPE_PARAMS,
    lorentz_connectivity,
    simulate_assembly,
    simulate_assembly_trials,
    type_grid,
)

register("activity")(ActivityDataModule)
register("simulated_activity")(SimulatedActivityDataModule)
register("digits")(DigitsDataModule)

__all__ = [
    "BASELINE_TYPE_PARAMS",
    "ActivityDataModule",
    "Connectome",
    "DigitsDataModule",
    "Recording",
    "SimulatedActivityDataModule",
    "TimeSplit",
    "get",
    "list_datamodules",
    "lorentz_connectivity",
    "procedural_movie",
    "register",
    "simulate_assembly",
    "simulate_assembly_trials",
    "type_grid",
]
