"""Loaders of a datamodule whose splits are named ``train`` / ``val`` / ``test``."""

from __future__ import annotations

from typing import Any


class SplitLoaders:
    """Mixin: the four Lightning loader hooks from ``self._loader(part, shuffle)``; only the
    training loader shuffles, and ``predict`` reads the test split."""

    def _loader(self, part: str, shuffle: bool) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def train_dataloader(self) -> Any:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> Any:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> Any:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> Any:
        return self._loader("test", shuffle=False)

    def __str__(self) -> str:
        # LightningDataModule.__str__ builds every loader; messages that print a datamodule
        # (jsonargparse's skipped links among them) should not.
        return repr(self)
