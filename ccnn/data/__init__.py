"""Connectomes, recordings, simulators and LightningDataModules."""

from ccnn.data.activity import ActivityDataModule, SimulatedActivityDataModule, TimeSplit
from ccnn.data.connectome import Connectome
from ccnn.data.connectome_datamodule import ConnectomeDataModule
from ccnn.data.connectome_datasets import DATASETS, ConnectomeCohort, load_connectome, load_connectome_cohort
from ccnn.data.connectome_transforms import parse_transforms
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
register("connectome")(ConnectomeDataModule)

__all__ = [
    "BASELINE_TYPE_PARAMS",
    "DATASETS",
    "ActivityDataModule",
    "Connectome",
    "ConnectomeCohort",
    "ConnectomeDataModule",
    "DigitsDataModule",
    "Recording",
    "SimulatedActivityDataModule",
    "TimeSplit",
    "get",
    "list_datamodules",
    "load_connectome",
    "load_connectome_cohort",
    "lorentz_connectivity",
    "parse_transforms",
    "procedural_movie",
    "register",
    "simulate_assembly",
    "simulate_assembly_trials",
    "type_grid",
]
