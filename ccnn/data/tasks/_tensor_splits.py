"""Loaders of a task datamodule whose splits are TensorDatasets built by ``setup``."""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, TensorDataset

from ccnn.data._split_loaders import SplitLoaders


class TensorSplits(SplitLoaders):
    """Mixin: ``self._datasets[split]`` (a TensorDataset per split, filled by ``setup``) served
    in batches of ``self.batch_size`` with ``self.num_workers`` workers."""

    _datasets: dict[str, TensorDataset]
    batch_size: int
    num_workers: int

    def setup(self, stage: str | None = None) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _loader(self, split: str, shuffle: bool) -> Any:
        if not self._datasets:
            self.setup()
        # A plain DataLoader with the default sampler: under DDP Lightning swaps in a
        # DistributedSampler, so each rank sees its own shard.
        return DataLoader(
            self._datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
