"""Lightning callbacks that ``train.py`` adds to every run (they work with any Trainer too)."""

from ccnn.callbacks.epoch_seed import EpochSeed, epoch_seed
from ccnn.callbacks.evaluation_writer import EvaluationWriter
from ccnn.callbacks.graph_metrics import GraphMetricsCallback
from ccnn.callbacks.run_summary import RunSummary

__all__ = ["EpochSeed", "EvaluationWriter", "GraphMetricsCallback", "RunSummary", "epoch_seed"]
