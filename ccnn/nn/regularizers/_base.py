"""Shared dispatch for wiring costs: a weight tensor, or every suitable layer of a module."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from ccnn._validation import as_tensor, check_finite, check_nonnegative, check_shape, describe
from ccnn.nn.connectome_linear import ConnectomeLinear

Metric = Literal["euclidean", "manhattan"]


def validate_distances(distances: Any, name: str = "distances") -> Tensor:
    """A finite, non-negative 2-D distance matrix as a float tensor."""
    tensor = as_tensor(distances, name)
    tensor = tensor.double() if tensor.dtype == torch.float64 else tensor.float()
    if tensor.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D (n_out, n_in) matrix, got shape {tuple(tensor.shape)}")
    check_finite(tensor, name)
    check_nonnegative(tensor, name)
    return tensor


class WiringCost(nn.Module):
    """Base class: ``forward(target)`` takes a weight tensor or an ``nn.Module``.

    With a tensor, the cost uses the distances given at construction. With a module, it is
    summed over the module's :class:`ConnectomeLinear` layers that :meth:`accepts`, each with
    the distances between its attached unit positions.
    """

    #: distances between units the cost needs; False for costs that ignore space.
    needs_distances: bool = True
    metric: Metric = "euclidean"

    def __init__(self, distances: Any = None, *, metric: Metric = "euclidean") -> None:
        super().__init__()
        if metric not in ("euclidean", "manhattan"):
            raise ValueError(f"metric: expected 'euclidean' or 'manhattan', got {metric!r}")
        self.metric = metric
        self.register_buffer("distances", None if distances is None else validate_distances(distances))

    def layer_cost(self, weight: Tensor, distances: Tensor | None) -> Tensor:
        raise NotImplementedError

    def accepts(self, layer: ConnectomeLinear) -> bool:
        return layer.has_positions or not self.needs_distances

    def forward(self, target: Tensor | nn.Module) -> Tensor:
        if isinstance(target, Tensor):
            if target.dim() != 2:
                raise ValueError(
                    f"weight: expected a 2-D (n_out, n_in) matrix, got shape {tuple(target.shape)}"
                )
            distances = self.distances
            if self.needs_distances:
                if distances is None:
                    raise ValueError(
                        "distances: a weight tensor needs the distances given at construction "
                        "(or pass a module whose ConnectomeLinear layers have positions), got None"
                    )
                check_shape(distances, tuple(target.shape), "distances", meaning="(the weight's shape)")
            return self.layer_cost(target, distances)
        if isinstance(target, nn.Module):
            layers = [m for m in target.modules() if isinstance(m, ConnectomeLinear) and self.accepts(m)]
            if not layers:
                need = " with positions attached (attach_positions)" if self.needs_distances else ""
                raise ValueError(
                    f"module: expected at least one ConnectomeLinear layer{need} that "
                    f"{type(self).__name__} applies to, found none in {type(target).__name__}"
                )
            return torch.stack([self._cost_of(layer) for layer in layers]).sum()
        raise TypeError(f"target: expected a weight tensor or an nn.Module, got {describe(target)}")

    def _cost_of(self, layer: ConnectomeLinear) -> Tensor:
        distances = layer.distances(self.metric) if self.needs_distances else None
        return self.layer_cost(layer.weight, distances)
