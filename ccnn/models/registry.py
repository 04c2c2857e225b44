"""A registry of models in the style of timm / torchvision: ``list_models()`` and ``get(name, **kw)``.

Builders are registered under a short name with :func:`register`; they take keyword-only
arguments (those of the model class), so ``get("dynamics_gnn", n_neurons=100)`` and the
YAML configs of ``train.py`` build the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["get", "list_models", "register"]

_MODELS: dict[str, Callable[..., Any]] = {}
T = TypeVar("T", bound=Callable[..., Any])


def register(name: str) -> Callable[[T], T]:
    """Class or function decorator that registers a model builder under ``name``."""

    def decorator(builder: T) -> T:
        if name in _MODELS and _MODELS[name] is not builder:
            raise ValueError(f"name: a model is already registered as {name!r}")
        _MODELS[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def get(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with keyword arguments."""
    if name not in _MODELS:
        raise ValueError(f"name: expected one of {list_models()}, got {name!r}")
    return _MODELS[name](**kwargs)
