"""LightningModules of the model zoo, and their registry (``list_models`` / ``get``)."""

from ccnn.models.dynamics_gnn import DynamicsGNN, Schedule
from ccnn.models.registry import get, list_models, register

register("dynamics_gnn")(DynamicsGNN)

__all__ = ["DynamicsGNN", "Schedule", "get", "list_models", "register"]
