"""Connectomes, neural activity and tasks, with their LightningDataModules.

``ccnn.data.connectomes`` (the :class:`Connectome` container, public connectomes, transforms,
connectome datamodules), ``ccnn.data.activity`` (recordings, the simulator, its cache, activity
datamodules) and ``ccnn.data.tasks`` (task datamodules). Their public names are re-exported
here; the module paths from before the split (``ccnn.data.recording``, ...) still import.
"""

from ccnn.data.activity import (
    BASELINE_TYPE_PARAMS,
    ActivityDataModule,
    Recording,
    SimulatedActivityDataModule,
    TimeSplit,
    lorentz_connectivity,
    procedural_movie,
    simulate_assembly,
    simulate_assembly_trials,
    type_grid,
)
from ccnn.data.connectomes import (
    DATASETS,
    Connectome,
    ConnectomeCohort,
    ConnectomeDataModule,
    LinkPredictionDataModule,
    SignalPropagationAtlas,
    StructureFunctionDataModule,
    load_connectome,
    load_connectome_cohort,
    load_signal_propagation_atlas,
    parse_transforms,
)
from ccnn.data.registry import get, list_datamodules, register
from ccnn.data.tasks import (
    DelayedMatchDataModule,
    DigitsDataModule,
    MNIST1DDataModule,
    TwoTaskDataModule,
    mnist1d_shuffled,
)

register("activity")(ActivityDataModule)
register("simulated_activity")(SimulatedActivityDataModule)
register("digits")(DigitsDataModule)
register("connectome")(ConnectomeDataModule)
register("link_prediction")(LinkPredictionDataModule)
register("structure_function")(StructureFunctionDataModule)
register("mnist1d")(MNIST1DDataModule)
register("mnist1d_shuffled")(mnist1d_shuffled)
register("two_task")(TwoTaskDataModule)
register("delayed_match")(DelayedMatchDataModule)

__all__ = [
    "BASELINE_TYPE_PARAMS",
    "DATASETS",
    "ActivityDataModule",
    "Connectome",
    "ConnectomeCohort",
    "ConnectomeDataModule",
    "DelayedMatchDataModule",
    "DigitsDataModule",
    "LinkPredictionDataModule",
    "MNIST1DDataModule",
    "Recording",
    "SignalPropagationAtlas",
    "SimulatedActivityDataModule",
    "StructureFunctionDataModule",
    "TimeSplit",
    "TwoTaskDataModule",
    "get",
    "list_datamodules",
    "load_connectome",
    "load_connectome_cohort",
    "load_signal_propagation_atlas",
    "lorentz_connectivity",
    "mnist1d_shuffled",
    "parse_transforms",
    "procedural_movie",
    "register",
    "simulate_assembly",
    "simulate_assembly_trials",
    "type_grid",
]
