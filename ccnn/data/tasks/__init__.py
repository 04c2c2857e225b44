"""Task datamodules for the classifier and RNN zoo."""

from ccnn.data.tasks.digits import DigitsDataModule

__all__ = ["DigitsDataModule"]
