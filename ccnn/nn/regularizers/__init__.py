"""Wiring-cost regularisers: each returns a differentiable scalar to add to the loss.

Every cost takes a weight tensor or a module; given a module it sums over the module's
:class:`~ccnn.nn.ConnectomeLinear` layers that it applies to (those with positions
attached, for the distance-based costs).
"""

from ccnn.nn.regularizers._base import WiringCost
from ccnn.nn.regularizers.bimt import SwapResult, swap_neurons
from ccnn.nn.regularizers.communicability import CommunicabilityWiringCost, weighted_communicability
from ccnn.nn.regularizers.distance import DistanceWiringCost
from ccnn.nn.regularizers.l1 import L1
from ccnn.nn.regularizers.spatial import SpatialWiringCost, pairwise_distances

__all__ = [
    "L1",
    "CommunicabilityWiringCost",
    "DistanceWiringCost",
    "SpatialWiringCost",
    "SwapResult",
    "WiringCost",
    "pairwise_distances",
    "swap_neurons",
    "weighted_communicability",
]
