"""Neuron swaps of brain-inspired modular training (BIMT)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from ccnn._validation import as_tensor, check_shape, describe
from ccnn.nn.connectome_linear import ConnectomeLinear, reorder_parameter
from ccnn.nn.regularizers._base import Metric

__all__ = ["SwapResult", "swap_neurons"]


class SwapResult(NamedTuple):
    """What :func:`swap_neurons` did.

    ``permutation[s]`` is the old index of the hidden unit now at slot ``s`` (the identity
    when no swap lowered the cost); costs are :math:`\\sum |W| D` over both layers.
    """

    permutation: Tensor
    cost_before: float
    cost_after: float

    @property
    def swapped(self) -> bool:
        return bool((self.permutation != torch.arange(len(self.permutation))).any())


def _positions(given: Any, layer: nn.Module, attr: str, name: str, rows: int) -> Tensor:
    if given is None:
        given = getattr(layer, attr, None) if isinstance(layer, ConnectomeLinear) else None
        if given is None:
            raise ValueError(
                f"{name}: required unless the layer is a ConnectomeLinear with positions attached, got None"
            )
    tensor = as_tensor(given, name).detach().float()
    check_shape(tensor, (rows, None), name)
    return tensor


def _permute(layer: nn.Module, perm: Tensor, dim: int, optimizer: torch.optim.Optimizer | None) -> None:
    if isinstance(layer, ConnectomeLinear):
        (layer.permute_outputs if dim == 0 else layer.permute_inputs)(perm, optimizer=optimizer)
        return
    reorder_parameter(layer.weight, perm, dim, optimizer)
    if dim == 0 and layer.bias is not None:
        reorder_parameter(layer.bias, perm, 0, optimizer)


@torch.no_grad()
def swap_neurons(
    layer_in: nn.Module,
    layer_out: nn.Module,
    *,
    hidden_positions: Any = None,
    in_positions: Any = None,
    out_positions: Any = None,
    metric: Metric = "manhattan",
    optimizer: torch.optim.Optimizer | None = None,
) -> SwapResult:
    r"""Move hidden units between fixed positions when that lowers the wiring cost.

    The hidden units sit between ``layer_in`` (its outputs) and ``layer_out`` (its inputs).
    Placing unit :math:`u` at slot :math:`s` costs

    .. math::
        C_{us} = \sum_j |W^\text{in}_{uj}|\, d(h_s, x_j) + \sum_k |W^\text{out}_{ku}|\, d(y_k, h_s)

    and the best placement of all units at once is a linear assignment problem, solved
    exactly (Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`). This is
    the swap step of BIMT (Liu, Gan & Tegmark 2023), which swaps pairs greedily every ~200
    steps; the assignment finds the optimum those swaps approach. Rows of ``layer_in`` (and
    its bias, mask, signs) and columns of ``layer_out`` are permuted together, so with an
    elementwise nonlinearity in between, the network computes exactly the same function.

    Args:
        layer_in, layer_out: ``nn.Linear`` or :class:`ConnectomeLinear` layers, in order.
        hidden_positions: (hidden, d) slot positions; default ``layer_in.out_positions``.
        in_positions: (layer_in.in_features, d); default ``layer_in.in_positions``.
        out_positions: (layer_out.out_features, d); default ``layer_out.out_positions``.
        metric: ``"manhattan"`` (BIMT's choice) or ``"euclidean"``.
        optimizer: when given, its state (e.g. Adam's moments) is permuted too.
    Returns:
        :class:`SwapResult` with the permutation and the costs before and after.
    """
    for name, layer in (("layer_in", layer_in), ("layer_out", layer_out)):
        if not isinstance(layer, nn.Linear | ConnectomeLinear):
            raise TypeError(f"{name}: expected nn.Linear or ConnectomeLinear, got {describe(layer)}")
    if layer_in.out_features != layer_out.in_features:
        raise ValueError(
            f"layer_out: expected in_features = layer_in.out_features = {layer_in.out_features}, "
            f"got {layer_out.in_features}"
        )
    hidden = _positions(
        hidden_positions, layer_in, "out_positions", "hidden_positions", layer_in.out_features
    )
    pos_in = _positions(in_positions, layer_in, "in_positions", "in_positions", layer_in.in_features)
    pos_out = _positions(out_positions, layer_out, "out_positions", "out_positions", layer_out.out_features)
    p = 1.0 if metric == "manhattan" else 2.0
    w_in = layer_in.weight.detach().abs().float().cpu()
    w_out = layer_out.weight.detach().abs().float().cpu()
    # cost[u, s]: unit u (its weights) placed at slot s.
    cost = w_in @ torch.cdist(hidden, pos_in, p=p).T + w_out.T @ torch.cdist(pos_out, hidden, p=p)
    units, slots = linear_sum_assignment(cost.double().numpy())
    before = float(cost.diagonal().sum())
    after = float(cost[torch.as_tensor(units), torch.as_tensor(slots)].sum())
    identity = torch.arange(cost.shape[0])
    if after >= before * (1 - 1e-9):
        return SwapResult(identity, before, before)
    perm = torch.empty_like(identity)
    perm[torch.as_tensor(slots)] = torch.as_tensor(units)
    _permute(layer_in, perm, 0, optimizer)
    _permute(layer_out, perm, 1, optimizer)
    return SwapResult(perm, before, after)
