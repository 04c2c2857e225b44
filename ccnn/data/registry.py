"""The datamodule registry: ``list_datamodules()`` and ``get(name, **kw)``.

Example:
    >>> from ccnn import data
    >>> data.list_datamodules()
    ['activity', 'digits', 'simulated_activity']
    >>> data.get("digits", batch_size=32).n_classes
    10
"""

from __future__ import annotations

from typing import Any

from ccnn._registry import Registry

__all__ = ["get", "list_datamodules", "register"]

DATAMODULES = Registry("datamodule")
register = DATAMODULES.register


def list_datamodules() -> list[str]:
    """Registered datamodule names, sorted."""
    return DATAMODULES.names()


def get(name: str, **kwargs: Any) -> Any:
    """Build the datamodule registered as ``name`` with keyword arguments."""
    return DATAMODULES.get(name, **kwargs)
