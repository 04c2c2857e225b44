"""Name → builder registries in the style of timm / torchvision (shared by models and data).

Builders are registered under a short name; they take keyword-only arguments (those of the
class), so ``get("dynamics_gnn", n_neurons=100)`` and the YAML configs of ``train.py``
build the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class Registry:
    """A registry of builders of one kind (``"model"``, ``"datamodule"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class or function decorator that registers a builder under ``name``."""

        def decorator(builder: T) -> T:
            if name in self._builders and self._builders[name] is not builder:
                raise ValueError(f"name: a {self.kind} is already registered as {name!r}")
            self._builders[name] = builder
            return builder

        return decorator

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._builders)

    def builder(self, name: str) -> Callable[..., Any]:
        if name not in self._builders:
            raise ValueError(f"name: expected a registered {self.kind}, one of {self.names()}, got {name!r}")
        return self._builders[name]

    def get(self, name: str, **kwargs: Any) -> Any:
        """Build the object registered as ``name`` with keyword arguments."""
        return self.builder(name)(**kwargs)
