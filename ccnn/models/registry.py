"""The model registry: ``list_models()``, ``get(name, **kw)`` and the ``register`` decorator.

Example:
    >>> from ccnn import models
    >>> "dynamics_gnn" in models.list_models()
    True
    >>> models.get("connectome_mlp", n_inputs=64, n_classes=10).hparams.n_classes
    10
"""

from __future__ import annotations

from typing import Any

from ccnn._registry import Registry

__all__ = ["get", "list_models", "register"]

MODELS = Registry("model")
register = MODELS.register


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()


def get(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with keyword arguments."""
    return MODELS.get(name, **kwargs)
