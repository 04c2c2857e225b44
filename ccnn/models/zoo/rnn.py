r"""Recurrent models of the zoo: the spatially embedded RNN (seRNN) and connectome reservoirs.

Both run a leaky rate network (:class:`~ccnn.nn.ConnectomeRNNCell`) over a sequence and read
the task out of the last state. Inputs are sequences (batch, T, n_inputs), as the memory task
:class:`ccnn.data.DelayedMatchDataModule` gives them, or flat vectors (batch, n_inputs) cut
into ``seq_len`` equal steps (an MNIST-1D signal one sample per step, a digit one row per
step). The graph of these models is the recurrent weight matrix; density, wiring cost,
modularity and small-worldness describe it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ccnn._validation import check_int, check_real, describe
from ccnn.data.connectomes import load_connectome
from ccnn.graph import randomise_preserving_degree
from ccnn.models.zoo import evaluation
from ccnn.models.zoo._base import ZooModel
from ccnn.nn import ConnectomeRNNCell
from ccnn.nn.dale import dale_signs
from ccnn.nn.regularizers import CommunicabilityWiringCost, weighted_communicability

__all__ = ["ConnectomeReservoir", "SeRNN", "SequenceRNN", "grid_3d"]


def grid_3d(shape: Sequence[int]) -> Tensor:
    """Unit positions on an integer grid, e.g. (5, 5, 4) → (100, 3), spacing 1 (seRNN's layout)."""
    axes = [torch.arange(int(n), dtype=torch.float32) for n in shape]
    return torch.cartesian_prod(*axes).reshape(-1, len(shape))


class SequenceRNN(ZooModel):
    r"""A leaky RNN whose recurrent weights are a :class:`~ccnn.nn.ConnectomeLinear`.

    :math:`h_{t+1} = \big[(1-\alpha) h_t + \alpha f(W h_t + W_\text{in} x_t + b)\big] \odot g`
    with :math:`g` the unit gains of :meth:`forward` (1 by default), and logits
    :math:`W_\text{out} h_T + b_\text{out}`. The wiring metrics see :math:`W`.

    Args:
        n_inputs: input features (per step for sequence data, in all for flat data).
        n_classes: classes, or a list (one head per task).
        mask: (hidden, hidden) recurrent mask.
        positions: (hidden, d) unit positions, or None.
        seq_len: None for sequence inputs (batch, T, n_inputs); an int to cut flat inputs
            (batch, n_inputs) into that many steps (``n_inputs`` must divide by it).
        nonlinearity, alpha: :math:`f` and :math:`\alpha = \Delta t / \tau` in (0, 1].
        excitatory_fraction: None, or the fraction of excitatory units of a Dale's-law
            (sign-constrained, ColumnEI-style) recurrent matrix.
        regularizer, wiring_weight, wiring_schedule, lr, density_threshold: see
            :class:`~ccnn.models.zoo.ZooModel`.

    The subclasses also take ``input_positions`` and ignore it: their inputs reach every unit
    through dense, unplaced weights; the argument exists so that any task datamodule links
    into them (``train.py`` copies ``input_positions`` where a datamodule has it).
    """

    cost_reduction = "sum"

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        mask: Tensor,
        positions: Tensor | None = None,
        seq_len: int | None = None,
        nonlinearity: str = "relu",
        alpha: float = 1.0,
        excitatory_fraction: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            n_classes=n_classes,
            **kwargs,
        )
        check_int(n_inputs, "n_inputs", minimum=1)
        if seq_len is not None:
            check_int(seq_len, "seq_len", minimum=1)
            if n_inputs % seq_len:
                raise ValueError(f"seq_len: expected a divisor of n_inputs = {n_inputs}, got {seq_len}")
        self.seq_len = seq_len
        step_inputs = n_inputs if seq_len is None else n_inputs // seq_len
        if not (isinstance(alpha, int | float) and 0 < alpha <= 1):
            raise ValueError(f"alpha: expected a number in (0, 1], got {describe(alpha)}")
        hidden = mask.shape[0]
        sign = None
        if excitatory_fraction is not None:
            sign = dale_signs(hidden, excitatory_fraction, seed=0)
        self.cell = ConnectomeRNNCell(
            step_inputs,
            hidden,
            mask,
            nonlinearity=nonlinearity,
            tau=1.0,
            dt=float(alpha),
            sign=sign,
            backend="dense",
        )
        if positions is not None:
            self.cell.recurrent.attach_positions(positions)
        self.readout = nn.Linear(hidden, sum(self.task_classes))

    @property
    def recurrent(self) -> nn.Module:
        return self.cell.recurrent

    @property
    def n_hidden_units(self) -> int:
        return self.cell.hidden_size

    def _steps(self, x: Tensor) -> Tensor:
        if self.seq_len is None:
            if x.dim() != 3:
                raise ValueError(
                    f"x: expected sequences (batch, T, {self.cell.input_size}) (seq_len=None), "
                    f"got shape {tuple(x.shape)}"
                )
            return x
        if x.dim() != 2:
            raise ValueError(
                f"x: expected flat inputs (batch, n_inputs) with seq_len set, got {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], self.seq_len, -1)

    def features(self, x: Tensor, unit_gain: Tensor | None = None) -> Tensor:
        hidden = None
        for x_t in self._steps(x).unbind(1):
            hidden = self.cell(x_t, hidden)
            if unit_gain is not None:
                hidden = hidden * unit_gain
        assert hidden is not None
        return hidden

    def readout_logits(self, features: Tensor) -> Tensor:
        return self.readout(features)

    def weight_matrices(self) -> list[tuple[Tensor, Tensor | None]]:
        layer = self.cell.recurrent
        return [(layer.weight, layer.distances() if layer.has_positions else None)]

    def graph(self) -> Tensor:
        """The recurrent matrix :math:`|W|`, zero diagonal (the graph the metrics describe)."""
        weight = self.cell.recurrent.weight.detach()
        return evaluation.layered_adjacency(weight / weight.abs().max().clamp(min=1e-30))

    def own_cost(self) -> Tensor:
        weight, distances = self.weight_matrices()[0]
        if distances is None:
            return weight.abs().sum()
        return (weight.abs() * distances).sum()


class SeRNN(SequenceRNN):
    r"""Spatially embedded RNN (Achterberg, Akarca et al., Nat. Mach. Intell. 2023).

    100 ReLU rate units on a 5 × 5 × 4 grid (spacing 1), fully connected, trained with

    .. math::
        R(W) = \sum_{ij} |W_{ij}|\, D_{ij}\, C_{ij}, \qquad
        C = \exp\!\big(S^{-1/2} |W| S^{-1/2}\big),\ \mathrm{diag}(C) = 0

    (:class:`~ccnn.nn.regularizers.CommunicabilityWiringCost`): long connections cost more,
    and more so between units already linked through other paths. The paper's λ range is
    0.05–0.5 for its loss scale; sweep ``wiring_weight`` for the "sweet spot" where the
    network is sparse, modular and small-world and still solves the task.

    Units are leaky, :math:`\alpha = \Delta t / \tau = 0.5` by default: with
    :math:`\alpha = 1` (the paper's Keras ``SimpleRNN``) the gradients through a 40-step
    MNIST-1D sequence vanished here (test accuracy 11 %, chance; 600 Adam steps), with 0.5
    the same network learnt (60 %).

    Args:
        grid: the grid's shape; hidden size = its product.
        (others as :class:`SequenceRNN`.)
    """

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        grid: Sequence[int] = (5, 5, 4),
        seq_len: int | None = None,
        input_positions: Any = None,
        nonlinearity: str = "relu",
        alpha: float = 0.5,
        **kwargs: Any,
    ) -> None:
        if isinstance(grid, str) or not isinstance(grid, Sequence) or not grid:
            raise ValueError(
                f"grid: expected a list of positive ints such as [5, 5, 4], got {describe(grid)}"
            )
        for n in grid:
            check_int(n, "grid", minimum=1)
        positions = grid_3d(grid)
        hidden = positions.shape[0]
        super().__init__(
            n_inputs=n_inputs,
            n_classes=n_classes,
            mask=torch.ones(hidden, hidden, dtype=torch.bool),
            positions=positions,
            seq_len=seq_len,
            nonlinearity=nonlinearity,
            alpha=alpha,
            **kwargs,
        )
        self.communicability_cost = CommunicabilityWiringCost()

    def own_cost(self) -> Tensor:
        return self.communicability_cost(self.cell)

    def cost_factors(self) -> list[Tensor | None]:
        layer = self.cell.recurrent
        return [layer.distances() * weighted_communicability(layer.weight.detach())]


class ConnectomeReservoir(SequenceRNN):
    r"""A reservoir whose recurrent matrix is a real connectome (conn2res; Suárez et al., Nat.
    Commun. 2024), or its degree-preserving rewired null.

    The connectome ``connectome`` (a name of :func:`ccnn.data.load_connectome`, subject 0) is
    pruned to its strongest ``density`` fraction of connections (dMRI connectomes are nearly
    complete, where rewiring would change nothing), or, with ``rewired=True``, that graph
    rewired by Maslov–Sneppen swaps that keep every node's degree and carry the weights
    (:func:`ccnn.graph.randomise_preserving_degree`, seeded by ``rewire_seed``). Weights are
    :math:`\log(1 + w)`, scaled to spectral radius ``spectral_radius``, and set as the
    recurrent weights on that mask; the input weights are random,
    :math:`\mathcal{N}(0, \text{input\_scale}^2)`. Only the readout learns unless
    ``train_recurrent`` (then the recurrent weights learn on the mask, and ``regularizer``
    applies to them: ``"own"`` is the distance cost :math:`\sum |W| D` when the connectome
    has node coordinates, L1 otherwise).

    Args:
        connectome: data set name (``"hcp"``, ``"mice"``, ``"celegans_herm"``, ...).
        density: fraction of the N² entries kept, in (0, 1].
        rewired: use the rewired null instead of the connectome.
        rewire_seed: seeds the rewiring and the input weights (the same seed gives a
            connectome and its null the same inputs: a paired comparison).
        spectral_radius: largest |eigenvalue| of the initial recurrent matrix.
        input_scale: standard deviation of the input weights.
        train_recurrent: learn the recurrent (and input) weights too.
        (others as :class:`SequenceRNN`; tanh units with leak ``alpha = 0.3`` and input scale
        0.3, the usual echo-state settings: on delayed recall (seed 0, a logistic readout of
        the final state) they gave 78 % for the hcp reservoir against 50 % without a leak.)
    """

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | Sequence[int],
        connectome: str = "hcp",
        density: float = 0.1,
        rewired: bool = False,
        rewire_seed: int = 0,
        spectral_radius: float = 0.95,
        input_scale: float = 0.3,
        train_recurrent: bool = False,
        seq_len: int | None = None,
        input_positions: Any = None,
        nonlinearity: str = "tanh",
        alpha: float = 0.3,
        **kwargs: Any,
    ) -> None:
        if not isinstance(density, int | float) or isinstance(density, bool) or not 0 < density <= 1:
            raise ValueError(f"density: expected a fraction in (0, 1], got {describe(density)}")
        if not isinstance(rewired, bool):
            raise ValueError(f"rewired: expected a bool, got {describe(rewired)}")
        check_real(spectral_radius, "spectral_radius", positive=True)
        check_real(input_scale, "input_scale", positive=True)
        graph = load_connectome(connectome)
        mask = graph.mask(density=density)
        weights = torch.log1p(graph.weights.abs().float()) * mask
        if rewired:
            weights = randomise_preserving_degree(weights, seed=rewire_seed)
            mask = weights != 0
        eigenvalues = torch.linalg.eigvals(weights.double())
        radius = float(eigenvalues.abs().max())
        if radius == 0 or not math.isfinite(radius):
            raise ValueError(
                f"connectome: {connectome!r} at density {density} gives a matrix without a spectrum"
            )
        positions = graph.coords.float() if graph.coords is not None and not rewired else None
        super().__init__(
            n_inputs=n_inputs,
            n_classes=n_classes,
            mask=mask,
            positions=positions,
            seq_len=seq_len,
            nonlinearity=nonlinearity,
            alpha=alpha,
            **kwargs,
        )
        if rewired and graph.coords is not None:
            # The null keeps the nodes' places: its rewired edges have the lengths they now span.
            self.cell.recurrent.attach_positions(graph.coords.float())
        recurrent = self.cell.recurrent
        with torch.no_grad():
            recurrent.raw_weight.copy_(weights * (spectral_radius / radius))
            generator = torch.Generator().manual_seed(rewire_seed)
            self.cell.input.weight.copy_(
                torch.randn(self.cell.input.weight.shape, generator=generator) * input_scale
            )
        self.train_recurrent = train_recurrent
        for parameter in (*recurrent.parameters(), *self.cell.input.parameters()):
            parameter.requires_grad_(train_recurrent)

    def regularization(self) -> Tensor | None:
        # A frozen reservoir has nothing to regularise.
        return super().regularization() if self.train_recurrent else None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.lr)
