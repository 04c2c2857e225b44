"""Lightning callbacks: `train.py` adds EpochSeed, EvaluationWriter and RunSummary to every run;
GraphMetricsCallback (configs/callbacks/graph_metrics.yaml) and WiringPruning are opt-in.
All work with any Trainer."""

from ccnn.callbacks.epoch_seed import EpochSeed, epoch_seed
from ccnn.callbacks.evaluation_writer import EvaluationWriter
from ccnn.callbacks.graph_metrics import GraphMetricsCallback
from ccnn.callbacks.run_summary import RunSummary
from ccnn.callbacks.wiring_pruning import WiringPruning

__all__ = [
    "EpochSeed",
    "EvaluationWriter",
    "GraphMetricsCallback",
    "RunSummary",
    "WiringPruning",
    "epoch_seed",
]
