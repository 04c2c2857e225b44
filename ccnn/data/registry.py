"""The datamodule registry: ``list_datamodules()`` and ``get(name, **kw)``.

Example:
    >>> from ccnn import data
    >>> data.list_datamodules()  # doctest: +NORMALIZE_WHITESPACE
    ['activity', 'connectome', 'delayed_match', 'digits', 'link_prediction', 'mnist1d', 'mnist1d_shuffled',
     'simulated_activity', 'structure_function', 'two_task']
    >>> data.get("digits", batch_size=32).n_classes
    10
"""

from __future__ import annotations

from ccnn._registry import Registry

__all__ = ["get", "list_datamodules", "register"]

REGISTRY = Registry("datamodule")
register = REGISTRY.register


list_datamodules = REGISTRY.names  # registered names, sorted
get = REGISTRY.get  # get(name, **kwargs): build the datamodule registered as name
