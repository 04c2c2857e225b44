"""LightningModules of the model zoo, and their registry (``list_models`` / ``get``)."""

from ccnn.models.connectome_classifier import ConnectomeClassifier
from ccnn.models.connectome_gnn import ConnectomeGNN
from ccnn.models.dynamics_gnn import DynamicsGNN, Schedule
from ccnn.models.registry import get, list_models, register

register("dynamics_gnn")(DynamicsGNN)
register("connectome_mlp")(ConnectomeClassifier)
register("connectome_gnn")(ConnectomeGNN)

__all__ = [
    "ConnectomeClassifier",
    "ConnectomeGNN",
    "DynamicsGNN",
    "Schedule",
    "get",
    "list_models",
    "register",
]
