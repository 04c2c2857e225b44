"""The model registry: ``list_models()``, ``get(name, **kw)`` and the ``register`` decorator.

Example:
    >>> from ccnn import models
    >>> "dynamics_gnn" in models.list_models()
    True
    >>> models.get("connectome_mlp", n_inputs=64, n_classes=10).hparams.n_classes
    10
"""

from __future__ import annotations

from ccnn._registry import Registry

__all__ = ["get", "list_models", "register"]

REGISTRY = Registry("model")
register = REGISTRY.register


list_models = REGISTRY.names  # registered names, sorted
get = REGISTRY.get  # get(name, **kwargs): build the model registered as name
