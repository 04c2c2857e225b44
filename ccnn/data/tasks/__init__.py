"""Task datamodules for the classifier and RNN zoo."""

from ccnn.data.tasks.digits import DigitsDataModule
from ccnn.data.tasks.memory import DelayedMatchDataModule
from ccnn.data.tasks.mnist1d import MNIST1DDataModule, mnist1d_shuffled
from ccnn.data.tasks.two_task import TwoTaskDataModule

__all__ = [
    "DelayedMatchDataModule",
    "DigitsDataModule",
    "MNIST1DDataModule",
    "TwoTaskDataModule",
    "mnist1d_shuffled",
]
