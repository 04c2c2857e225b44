"""Pure-PyTorch connectome-constrained layers, mask generators and wiring costs.

Nothing here imports Lightning: a user who only wants :class:`ConnectomeLinear` gets a
plain :class:`torch.nn.Module`.
"""

from ccnn.nn import masks, regularizers
from ccnn.nn.connectome_linear import ConnectomeLinear
from ccnn.nn.dale import DANNLinear, dale_signs
from ccnn.nn.rnn import ConnectomeRNN, ConnectomeRNNCell

__all__ = [
    "ConnectomeLinear",
    "ConnectomeRNN",
    "ConnectomeRNNCell",
    "DANNLinear",
    "DynamicsNetwork",
    "dale_signs",
    "masks",
    "regularizers",
]


def __getattr__(name: str):
    # DynamicsNetwork needs torch_geometric: import it only when asked for.
    if name == "DynamicsNetwork":
        from ccnn.nn.dynamics import DynamicsNetwork

        return DynamicsNetwork
    raise AttributeError(f"module 'ccnn.nn' has no attribute {name!r}")
