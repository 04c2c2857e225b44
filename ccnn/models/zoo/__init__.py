"""The wiring-cost model zoo: classifiers and RNNs whose wiring is shaped by a cost.

One frame (:class:`ZooModel`: task heads, the ``regularizer`` switch own / l1 / none, the
scheduled weight, wiring metrics) and the published models in it:

* :class:`BIMTMLP` (``bimt_mlp``): brain-inspired modular training (Liu, Gan & Tegmark 2023);
* :class:`SpatialNet` (``spatial_net``): learned unit positions (Wołczyk et al. 2019);
* :class:`DaleMLP` (``dann_mlp``): Dale's law, DANN or ColumnEI (Cornford et al. 2021);
* :class:`SeRNN` (``sernn``): the spatially embedded RNN (Achterberg, Akarca et al. 2023);
* :class:`ConnectomeReservoir` (``connectome_reservoir``): a real connectome as the recurrent
  matrix, against its degree-preserving rewired null (conn2res; Suárez et al. 2024).

:mod:`ccnn.models.zoo.evaluation` holds the metrics of a trained network (density, wiring
cost, modularity, small-worldness, task specialisation); ``benchmarks/wiring_zoo.py`` puts
the models side by side.
"""

from ccnn.models.zoo._base import REGULARIZERS, ZooModel
from ccnn.models.zoo.dale import DaleMLP
from ccnn.models.zoo.mlp import BIMTMLP, LayeredMLP, SpatialNet
from ccnn.models.zoo.rnn import ConnectomeReservoir, SequenceRNN, SeRNN

__all__ = [
    "BIMTMLP",
    "REGULARIZERS",
    "ConnectomeReservoir",
    "DaleMLP",
    "LayeredMLP",
    "SeRNN",
    "SequenceRNN",
    "SpatialNet",
    "ZooModel",
]
