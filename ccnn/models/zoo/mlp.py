r"""Spatially embedded MLPs of the zoo: BIMT and the spatial network (learned positions).

Units have places. The inputs sit where the datamodule puts them (``input_positions``; a
line when it has none); the units of every hidden layer tile the inputs' extent
(:func:`ccnn.nn.masks.tile_positions`: a line for a 1-D signal, a grid for an image); the
readout units lie on a line along the first coordinate, at the centre of the others, the
heads' units in task order (a two-task input laid out side by side along the first
coordinate, as :class:`ccnn.data.TwoTaskDataModule` does, thus faces its own head). Distances
are measured in that plane between consecutive layers; the gap between layers would add the
same constant to every connection of a layer, which BIMT's :math:`\ell_0` already is.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ccnn._validation import check_choice, check_int, check_real
from ccnn.models._classifier_common import check_hidden, check_positions
from ccnn.models.zoo._base import ZooModel
from ccnn.nn import ConnectomeLinear
from ccnn.nn.masks import tile_positions
from ccnn.nn.regularizers import swap_neurons

__all__ = ["BIMTMLP", "LayeredMLP", "SpatialNet", "layer_positions"]


def layer_positions(input_positions: Tensor, hidden: Sequence[int], n_outputs: int) -> list[Tensor]:
    """Positions of the inputs, of every hidden layer and of the readout (module docstring)."""
    positions = [input_positions]
    for width in hidden:
        positions.append(tile_positions(width, positions[-1]))
    low, high = input_positions.min(0).values, input_positions.max(0).values
    line = ((low + high) / 2).expand(2, -1).clone()
    line[:, 0] = torch.stack([low[0], high[0]])
    positions.append(tile_positions(n_outputs, line))
    return positions


def default_input_positions(n_inputs: int) -> Tensor:
    """Inputs without a place: evenly on the line ``(t, 0.5)``, ``t`` in [0, 1]."""
    t = torch.linspace(0, 1, n_inputs) if n_inputs > 1 else torch.full((1,), 0.5)
    return torch.stack([t, torch.full_like(t, 0.5)], 1)


class LayeredMLP(ZooModel):
    r"""An MLP of :class:`~ccnn.nn.ConnectomeLinear` layers (full masks) with placed units.

    :math:`h_\ell = \mathrm{ReLU}(W_\ell h_{\ell-1} + b_\ell) \odot g_\ell`, logits
    :math:`W_\text{out} h_L + b_\text{out}`, with :math:`g` the optional unit gains of
    :meth:`forward` (1 by default). Its own cost is the distance cost
    :math:`\sum_\ell \mathrm{mean}_{ij}(|W^\ell_{ij}|\, d^\ell_{ij})` over all layers, readout
    included; subclasses change it. Unit placement: module docstring.

    Args:
        n_inputs: input features (linked from the datamodule by ``train.py``).
        n_classes: classes, or a list with one entry per task (one head each).
        hidden: hidden layer sizes.
        input_positions: (n_inputs, d) input positions; default a square grid when n_inputs is
            a perfect square, else a line.
        metric: ``"euclidean"`` or ``"manhattan"`` distances.
        regularizer, wiring_weight, wiring_schedule, lr, density_threshold: see
            :class:`~ccnn.models.zoo.ZooModel`.
    """

    cost_reduction = "mean"
    #: Units keep their places (False: learned, and not attached to the layers).
    fixed_positions = True

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        hidden: Sequence[int] = (256, 256),
        input_positions: Any = None,
        metric: str = "euclidean",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            n_classes=n_classes,
            **kwargs,
        )
        check_int(n_inputs, "n_inputs", minimum=1)
        self.hidden = check_hidden(hidden)
        self.metric = check_choice(metric, "metric", ("euclidean", "manhattan"))
        positions = check_positions(input_positions, n_inputs)
        if positions is None:
            positions = default_input_positions(n_inputs)
        unit_positions = layer_positions(positions, self.hidden, sum(self.task_classes))
        for index, place in enumerate(unit_positions):
            self.register_buffer(f"positions_{index}", place)
        sizes = [n_inputs, *self.hidden, sum(self.task_classes)]
        self.layers = nn.ModuleList(
            self.make_layer(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(sizes))
        )
        for layer, (pos_in, pos_out) in zip(self.layers, itertools.pairwise(unit_positions), strict=True):
            # Fixed places only: layers of a model that moves its units would keep stale ones.
            if isinstance(layer, ConnectomeLinear) and self.fixed_positions:
                layer.attach_positions(pos_in, pos_out)

    def make_layer(self, index: int, n_in: int, n_out: int) -> nn.Module:
        """Layer ``index`` (the readout is the last): a fully connected ConnectomeLinear."""
        return ConnectomeLinear(n_in, n_out, torch.ones(n_out, n_in, dtype=torch.bool), backend="dense")

    @property
    def unit_positions(self) -> list[Tensor]:
        """Positions of the inputs, of each hidden layer and of the readout units."""
        return [getattr(self, f"positions_{i}") for i in range(len(self.hidden) + 2)]

    @property
    def n_hidden_units(self) -> int:
        return sum(self.hidden)

    def features(self, x: Tensor, unit_gain: Tensor | None = None) -> Tensor:
        gains = [None] * len(self.hidden) if unit_gain is None else unit_gain.split(self.hidden)
        h = x
        for layer, gain in zip(self.layers[:-1], gains, strict=True):
            h = F.relu(layer(h))
            if gain is not None:
                h = h * gain
        return h

    def readout_logits(self, features: Tensor) -> Tensor:
        return self.layers[-1](features)

    def layer_distances(self) -> list[Tensor]:
        """(n_out, n_in) distances between the units of consecutive layers."""
        p = 1.0 if self.metric == "manhattan" else 2.0
        return [torch.cdist(b, a, p=p) for a, b in itertools.pairwise(self.unit_positions)]

    def weight_matrices(self) -> list[tuple[Tensor, Tensor | None]]:
        return [(layer.weight, d) for layer, d in zip(self.layers, self.layer_distances(), strict=True)]

    def own_cost(self) -> Tensor:
        pairs = zip(self.weight_matrices(), self.cost_factors(), strict=True)
        return torch.stack([(w.abs() * factor).mean() for (w, _), factor in pairs]).sum()


class BIMTMLP(LayeredMLP):
    r"""Brain-inspired modular training (BIMT; Liu, Gan & Tegmark, Entropy 2024 / arXiv 2023).

    .. math::
        R(W) = \sum_\ell \mathrm{mean}_{ij}\, |W^\ell_{ij}| \big(A\, \|x^\ell_i - x^{\ell-1}_j\|_1
        + \ell_0\big), \qquad A = 2,\ \ell_0 = 0.5

    with the weight :math:`\lambda` raised ×10 at a quarter and again at half of training
    (``wiring_schedule``), and every ``swap_every`` optimiser steps the hidden units of each
    layer moved between the layer's fixed places when that lowers the cost
    (:func:`ccnn.nn.regularizers.swap_neurons`: the exact best placement by linear
    assignment, which BIMT's greedy pairwise swaps approach; the function is unchanged, and
    Adam's moments move with their weights). Swaps start with the regulariser and stop when
    ``regularizer`` is not ``"own"`` (they belong to BIMT, not to its controls).

    Args:
        swap_every: optimiser steps between swaps (BIMT: 200); 0 disables swaps.
        distance_scale, offset: :math:`A` and :math:`\ell_0`.
        metric: BIMT's is ``"manhattan"``.
        (others as :class:`LayeredMLP` and :class:`~ccnn.models.zoo.ZooModel`.)
    """

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        hidden: Sequence[int] = (256, 256),
        input_positions: Any = None,
        swap_every: int = 200,
        distance_scale: float = 2.0,
        offset: float = 0.5,
        metric: str = "manhattan",
        wiring_schedule: Sequence[Sequence[float]] | None = ((0.25, 10), (0.5, 100)),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            n_inputs=n_inputs,
            n_classes=n_classes,
            hidden=hidden,
            input_positions=input_positions,
            metric=metric,
            wiring_schedule=wiring_schedule,
            **kwargs,
        )
        self.swap_every = check_int(swap_every, "swap_every", minimum=0)
        self.distance_scale = check_real(distance_scale, "distance_scale", positive=True)
        self.offset = check_real(offset, "offset", positive=False)
        self.swaps = 0

    def cost_factors(self) -> list[Tensor | None]:
        return [self.distance_scale * d + self.offset for _, d in self.weight_matrices()]

    def swap(self, optimizer: torch.optim.Optimizer | None = None) -> int:
        """Move every hidden layer's units to their cheapest places; returns how many layers changed."""
        changed = 0
        for first, second in zip(self.layers[:-1], self.layers[1:], strict=True):
            result = swap_neurons(first, second, metric=self.metric, optimizer=optimizer)
            changed += int(result.swapped)
        return changed

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = self.trainer.global_step
        if self.regularizer != "own" or self.swap_every == 0 or step == 0 or step % self.swap_every:
            return
        optimizer = self.optimizers()
        self.swaps += self.swap(getattr(optimizer, "optimizer", optimizer))


class SpatialNet(LayeredMLP):
    r"""A network that learns where its units are (Wołczyk et al., "Biologically-inspired
    spatial neural networks", 2019), usually trained on two tasks at once (two heads).

    Hidden and readout units have learnable positions :math:`p` (inputs stay put); the cost is

    .. math::
        R = \sum_\ell \mathrm{mean}_{ij}\, |W^\ell_{ij}|\, \|p_i - p_j\|
        \;+\; \alpha \sum_{\ell} \mathrm{mean}_{i \ne j \in \ell}\, e^{-\|p_i - p_j\|}

    the transport term pulling connected units together, the proximity term (weight
    :math:`\alpha` = ``proximity_weight``, between units of one layer) keeping them apart.
    Positions start where :class:`LayeredMLP` places units and move with the weights under
    the same optimiser.

    Args:
        proximity_weight: :math:`\alpha`.
        (others as :class:`LayeredMLP`.)
    """

    fixed_positions = False

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        hidden: Sequence[int] = (256, 256),
        input_positions: Any = None,
        proximity_weight: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            n_inputs=n_inputs,
            n_classes=n_classes,
            hidden=hidden,
            input_positions=input_positions,
            **kwargs,
        )
        self.proximity_weight = check_real(proximity_weight, "proximity_weight", positive=False)
        self.positions = nn.ParameterList(nn.Parameter(p.clone()) for p in super().unit_positions[1:])

    @property
    def unit_positions(self) -> list[Tensor]:
        """The inputs' fixed positions, then the learned ones of each hidden layer and the readout."""
        return [self.positions_0, *self.positions]

    def layer_distances(self) -> list[Tensor]:
        points = self.unit_positions
        # torch.cdist: its backward is 20x faster than broadcasting differences, and is 0
        # (not NaN) where two units coincide.
        return [torch.cdist(b, a) for a, b in itertools.pairwise(points)]

    def own_cost(self) -> Tensor:
        transport = super().own_cost()
        proximity = []
        for p in self.positions:
            n = p.shape[0]
            if n < 2:
                continue
            gaps = torch.cdist(p, p)
            off = ~torch.eye(n, dtype=torch.bool, device=p.device)
            proximity.append(torch.exp(-gaps[off]).mean())
        return transport + self.proximity_weight * torch.stack(proximity).sum()
