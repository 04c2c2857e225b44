"""LightningModules of the model zoo, and their registry (``list_models`` / ``get``)."""

from ccnn.models.connectome_classifier import ConnectomeClassifier
from ccnn.models.connectome_gnn import ConnectomeGNN
from ccnn.models.dynamics_gnn import DynamicsGNN, Schedule
from ccnn.models.graph_autoencoder import GraphAutoEncoder
from ccnn.models.registry import get, list_models, register

register("dynamics_gnn")(DynamicsGNN)
register("connectome_mlp")(ConnectomeClassifier)
register("connectome_gnn")(ConnectomeGNN)
register("graph_autoencoder")(GraphAutoEncoder)

__all__ = [
    "ConnectomeClassifier",
    "ConnectomeGNN",
    "DynamicsGNN",
    "GraphAutoEncoder",
    "Schedule",
    "get",
    "list_models",
    "register",
]
