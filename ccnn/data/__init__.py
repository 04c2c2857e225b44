"""Connectomes, recordings and LightningDataModules."""

from ccnn.data.connectome import Connectome

__all__ = ["Connectome"]
