"""Pure-PyTorch connectome-constrained layers, mask generators and wiring costs.

Nothing here imports Lightning: a user who only wants :class:`ConnectomeLinear` gets a
plain :class:`torch.nn.Module`.
"""

from ccnn.nn import masks, regularizers
from ccnn.nn.connectome_linear import ConnectomeLinear
from ccnn.nn.rnn import ConnectomeRNN, ConnectomeRNNCell

__all__ = ["ConnectomeLinear", "ConnectomeRNN", "ConnectomeRNNCell", "masks", "regularizers"]
