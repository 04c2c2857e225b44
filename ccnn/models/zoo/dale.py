r"""Dale's-law MLPs of the zoo: separate excitatory and inhibitory populations.

Cortical neurons are excitatory or inhibitory, never both (Dale's principle). Two ways of
building that into a network (Cornford et al., "Learning to live with Dale's principle: ANNs
with separate excitatory and inhibitory units", ICLR 2021):

* ``variant="dann"``: every layer is a :class:`~ccnn.nn.DANNLinear`,
  :math:`h = W_{EE} x - W_{EI} W_{IE} x + b` with all blocks ≥ 0: excitatory units project
  forward, a small inhibitory population (10 % of the layer) inhibits them locally;
* ``variant="colei"``: every layer is a :class:`~ccnn.nn.ConnectomeLinear` whose columns
  carry a fixed sign (ColumnEI): a fraction ``excitatory_fraction`` of each layer's
  presynaptic units (inputs included) is excitatory, the rest inhibitory
  (:func:`ccnn.nn.dale_signs`, seeded per layer).

Units are placed as in :class:`~ccnn.models.zoo.LayeredMLP`. The own cost is that class's
distance cost :math:`\sum_\ell \mathrm{mean}(|W_\ell| \odot d_\ell)`, on the excitatory
projections :math:`W_{EE}` for DANN (inhibitory interneurons are local; their wiring is not
charged) and on the signed weights for ColumnEI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ccnn._validation import check_choice, describe
from ccnn.models.zoo.mlp import LayeredMLP
from ccnn.nn import ConnectomeLinear
from ccnn.nn.dale import DANNLinear, dale_signs

__all__ = ["DaleMLP"]

VARIANTS = ("dann", "colei")


class DaleMLP(LayeredMLP):
    r"""An MLP obeying Dale's law, DANN or ColumnEI (module docstring).

    Args:
        variant: ``"dann"`` or ``"colei"``.
        excitatory_fraction: ColumnEI's fraction of excitatory presynaptic units, in (0, 1).
        inhibitory_fraction: DANN's inhibitory units per layer, as a fraction of the layer's
            outputs (at least one), in (0, 1).
        (others as :class:`~ccnn.models.zoo.LayeredMLP`.)
    """

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        hidden: Sequence[int] = (256, 256),
        input_positions: Any = None,
        variant: str = "dann",
        excitatory_fraction: float = 0.8,
        inhibitory_fraction: float = 0.1,
        **kwargs: Any,
    ) -> None:
        self.variant = check_choice(variant, "variant", VARIANTS)
        for name, value in (
            ("excitatory_fraction", excitatory_fraction),
            ("inhibitory_fraction", inhibitory_fraction),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                raise ValueError(
                    f"{name}: expected a fraction strictly between 0 and 1, got {describe(value)}"
                )
        self.excitatory_fraction = float(excitatory_fraction)
        self.inhibitory_fraction = float(inhibitory_fraction)
        super().__init__(
            n_inputs=n_inputs,
            n_classes=n_classes,
            hidden=hidden,
            input_positions=input_positions,
            **kwargs,
        )

    def make_layer(self, index: int, n_in: int, n_out: int) -> nn.Module:
        if self.variant == "dann":
            return DANNLinear(n_in, n_out, max(1, round(self.inhibitory_fraction * n_out)))
        sign = dale_signs(n_in, self.excitatory_fraction, seed=index)
        return ConnectomeLinear(
            n_in, n_out, torch.ones(n_out, n_in, dtype=torch.bool), sign=sign, backend="dense"
        )

    def own_cost(self) -> Tensor:
        if self.variant == "colei":
            return super().own_cost()
        distances = self.layer_distances()
        return torch.stack(
            [(layer.weight_ee * d).mean() for layer, d in zip(self.layers, distances, strict=True)]
        ).sum()
