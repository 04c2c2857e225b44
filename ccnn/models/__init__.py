"""LightningModules of the model zoo, and their registry (``list_models`` / ``get``)."""

from ccnn.models.connectome_classifier import ConnectomeClassifier
from ccnn.models.connectome_gnn import ConnectomeGNN
from ccnn.models.dynamics_gnn import DynamicsGNN, Schedule
from ccnn.models.graph_autoencoder import GraphAutoEncoder
from ccnn.models.registry import get, list_models, register
from ccnn.models.structure_function import StructureFunctionModel
from ccnn.models.zoo import BIMTMLP, ConnectomeReservoir, DaleMLP, SeRNN, SpatialNet, ZooModel

register("dynamics_gnn")(DynamicsGNN)
register("connectome_mlp")(ConnectomeClassifier)
register("connectome_gnn")(ConnectomeGNN)
register("graph_autoencoder")(GraphAutoEncoder)
register("bimt_mlp")(BIMTMLP)
register("spatial_net")(SpatialNet)
register("dann_mlp")(DaleMLP)
register("sernn")(SeRNN)
register("connectome_reservoir")(ConnectomeReservoir)
register("sc_to_fc")(StructureFunctionModel)

__all__ = [
    "BIMTMLP",
    "ConnectomeClassifier",
    "ConnectomeGNN",
    "ConnectomeReservoir",
    "DaleMLP",
    "DynamicsGNN",
    "GraphAutoEncoder",
    "Schedule",
    "SeRNN",
    "SpatialNet",
    "StructureFunctionModel",
    "ZooModel",
    "get",
    "list_models",
    "register",
]
