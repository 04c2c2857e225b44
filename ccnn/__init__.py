"""ccnn: a PyTorch Lightning model zoo of connectome-constrained neural networks.

Subpackages: :mod:`ccnn.nn` (pure-PyTorch layers, masks, wiring costs), :mod:`ccnn.data`
(connectomes, datamodules), :mod:`ccnn.models` (LightningModules), :mod:`ccnn.metrics`.
They are imported on demand so that ``import ccnn.nn`` stays free of Lightning.
"""

from ccnn import _moved

__version__ = "0.1.0"

_moved.install()  # old module paths (ccnn.data.recording, ...) import as their new modules
