r"""A classifier whose hidden layers follow a connectome, trained with a scheduled wiring cost.

The network is an MLP of :class:`~ccnn.nn.ConnectomeLinear` hidden layers (ReLU) and a
dense readout, or (``recurrent=True``) one :class:`~ccnn.nn.ConnectomeRNN` layer that
reads the input as a sequence of equal chunks (the rows of an image) followed by a dense
readout of its final state. Every hidden unit has a position: hidden units tile
:math:`[0, 1]^2` on a grid, inputs sit at ``input_positions`` (e.g. the pixels of
:class:`ccnn.data.DigitsDataModule`). The loss is

.. math::
    \mathcal{L} = \mathrm{CE}(f(x), y) + \lambda(t)\, C(W), \qquad
    \lambda(t) = \lambda_0 \, m_{k(t)}, \quad k(t) = \max\{k : \phi_k \le t / T\}

with :math:`C` the wiring cost chosen by name (:mod:`ccnn.nn.regularizers`),
:math:`\lambda_0` = ``wiring_weight``, :math:`t` the optimiser step, :math:`T` the total
number of steps of the fit and :math:`(\phi_k, m_k)` the ``wiring_schedule`` steps
(:math:`m = 1` before the first one). BIMT (Liu, Gan & Tegmark 2023) raises the weight ×10
at a quarter and again at half of training: ``[[0.25, 10], [0.5, 100]]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ccnn._io import atomic_write
from ccnn._validation import check_int, check_real, describe
from ccnn.models._classifier_common import (
    check_hidden,
    check_positions,
    check_schedule,
    scheduled_weight,
    training_progress,
)
from ccnn.nn import ConnectomeLinear, ConnectomeRNN, masks
from ccnn.nn.masks import grid_positions, tile_positions
from ccnn.nn.regularizers import (
    L1,
    CommunicabilityWiringCost,
    DistanceWiringCost,
    SpatialWiringCost,
    WiringCost,
)

__all__ = ["MASK_DEFAULTS", "WIRING_COSTS", "ConnectomeClassifier", "grid_positions"]

#: Mask generators by name, with their default ``mask_kwargs`` (the only keys accepted).
MASK_DEFAULTS: dict[str, dict[str, float]] = {
    "distance_dependent": {"scale": 0.15, "p_max": 1.0},
    "erdos_renyi": {"density": 0.2},
    "watts_strogatz": {"k": 8, "p": 0.1},
    "modular": {"n_modules": 4, "p_in": 0.5, "p_out": 0.05},
}
#: Wiring-cost names accepted by ``wiring_cost``.
WIRING_COSTS = ("distance", "l1", "communicability", "spatial", "none")
_BACKENDS = ("auto", "dense", "sparse")
#: A weight counts as present in ``wiring/density`` when above this fraction of its layer's max.
DENSITY_THRESHOLD = 1e-3
FIGURE_NAME = "weight_vs_distance.png"


class ConnectomeClassifier(L.LightningModule):
    r"""Classifier with connectome-constrained hidden layers and a scheduled wiring cost.

    Hidden layer :math:`\ell` computes :math:`h_\ell = \mathrm{ReLU}(x_\ell
    (\sigma \odot |W_\ell| \odot M_\ell)^\top + b_\ell)` with a hard binary mask
    :math:`M_\ell` drawn by the generator ``mask`` (rows: the layer's units, columns: its
    inputs); with ``recurrent=True`` one leaky rate layer
    :math:`h_{t+1} = \tanh(W_\text{rec} h_t + W_\text{in} x_t + b)` (masked, square
    :math:`W_\text{rec}`) runs over the input split into ``seq_len`` chunks. A dense readout
    gives the logits. Training minimises cross-entropy plus the scheduled wiring cost of
    the module docstring, :math:`\lambda(t)\,C(W)`, summed over the masked layers.

    Masks (``mask``, with ``mask_kwargs`` overriding :data:`MASK_DEFAULTS`):

    * ``"distance_dependent"``: :math:`P(M_{ij}) = p_\text{max} e^{-d_{ij}/\text{scale}}`,
      :math:`d_{ij}` the Euclidean distance between unit :math:`i` and input :math:`j`;
    * ``"erdos_renyi"``: a uniformly random fraction ``density`` of the connections;
    * ``"watts_strogatz"`` (``k``, ``p``) and ``"modular"`` (``n_modules`` equal modules,
      ``p_in``, ``p_out``): square masks, for the recurrent layer or hidden layers with as
      many inputs as units.

    Wiring costs (``wiring_cost``): ``"distance"`` :math:`\sum |W_{ij}| d_{ij}`
    (:class:`~ccnn.nn.regularizers.DistanceWiringCost`), ``"l1"`` :math:`\sum |W_{ij}|`,
    ``"communicability"`` :math:`\sum |W_{ij}| d_{ij} C_{ij}` (seRNN; square layers only),
    ``"spatial"`` (learnable positions, Wołczyk et al.; square layers only) or ``"none"``.
    ``wiring_kwargs`` go to the cost's constructor (e.g. ``{"metric": "manhattan"}``).

    Logged: ``train/loss``, ``train/acc``, ``train/wiring`` (the weighted cost);
    ``val/…`` and ``test/…`` ``loss``, ``acc`` (micro accuracy) and ``f1`` (macro F1),
    synchronised across DDP ranks; and after each validation epoch

    * ``wiring/cost``: the unweighted cost :math:`C(W)`;
    * ``wiring/weight``: :math:`\lambda(t)` at the current step;
    * ``wiring/density``: per masked layer, the fraction of *all* possible connections
      (units × inputs) whose effective weight exceeds :data:`DENSITY_THRESHOLD` times the
      layer's largest :math:`|W_{ij}|`, averaged over the layers (at most the mask density,
      falls as the wiring cost prunes);
    * ``wiring/mask_density``: the same average of the masks' densities (fixed);
    * ``wiring/weight_distance_corr``: the Pearson correlation of :math:`|W_{ij}|` and
      :math:`d_{ij}` over the connections of the first masked layer (:meth:`weight_distance_correlation`).

    After ``fit``, ``weight_vs_distance.png`` (first masked layer's :math:`|W_{ij}|` against
    :math:`d_{ij}`) is written to the trainer's ``log_dir`` when a logger is set.

    Args:
        n_inputs: input features (linked from the datamodule by ``train.py``).
        n_classes: classes (linked from the datamodule by ``train.py``).
        hidden: hidden layer sizes (one size with ``recurrent=True``).
        mask: mask generator name (above).
        mask_kwargs: generator arguments, overriding :data:`MASK_DEFAULTS`.
        mask_seed: seeds the masks (layer :math:`\ell` uses ``mask_seed + ℓ``), so that
            every DDP rank and every reload draws the same masks.
        backend: :class:`~ccnn.nn.ConnectomeLinear` backend: ``"auto"``, ``"dense"``, ``"sparse"``.
        recurrent: one recurrent layer instead of the MLP.
        seq_len: time steps of the recurrent layer (``n_inputs`` must divide by it);
            default √n_inputs (one image row per step) when n_inputs is a perfect square.
        wiring_cost: cost name (above).
        wiring_weight: :math:`\lambda_0 \ge 0`.
        wiring_schedule: ``[fraction, multiplier]`` steps, fractions in [0, 1] strictly
            increasing, multipliers ≥ 0; each multiplier replaces the previous one.
        wiring_kwargs: keyword arguments of the cost's constructor.
        lr: Adam learning rate.
        input_positions: (n_inputs, 2) positions of the inputs; default the square grid
            of :func:`grid_positions` when n_inputs is a perfect square.

    Example:
        >>> model = ConnectomeClassifier(n_inputs=64, n_classes=10, wiring_schedule=[[0.25, 10], [0.5, 100]])
        >>> model(torch.rand(2, 64)).shape
        torch.Size([2, 10])
        >>> [model.wiring_weight_at(t) for t in (0.0, 0.3, 0.6)]
        [0.001, 0.01, 0.1]
    """

    #: What ``train.py`` checkpoints as "best", and the metrics of its end-of-fit summary.
    monitor = ("val/acc", "max")
    summary_metrics = ("val/acc", "val/f1", "val/loss")
    #: The key of ``predict_step``'s output in ``predictions.npz``.
    prediction_name = "probabilities"

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int,
        hidden: Sequence[int] = (144,),
        mask: str = "distance_dependent",
        mask_kwargs: dict[str, Any] | None = None,
        mask_seed: int = 0,
        backend: str = "auto",
        recurrent: bool = False,
        seq_len: int | None = None,
        wiring_cost: str = "distance",
        wiring_weight: float = 1e-3,
        wiring_schedule: list[tuple[float, float]] | None = None,
        wiring_kwargs: dict[str, Any] | None = None,
        lr: float = 3e-3,
        input_positions: Tensor | Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        check_int(n_inputs, "n_inputs", minimum=1)
        check_int(n_classes, "n_classes", minimum=2)
        check_int(mask_seed, "mask_seed", minimum=0)
        hidden = check_hidden(hidden)
        if mask not in MASK_DEFAULTS:
            raise ValueError(f"mask: expected one of {sorted(MASK_DEFAULTS)}, got {mask!r}")
        mask_options = _check_mask_kwargs(mask, mask_kwargs)
        if backend not in _BACKENDS:
            raise ValueError(f"backend: expected one of {list(_BACKENDS)}, got {backend!r}")
        if not isinstance(recurrent, bool):
            raise ValueError(f"recurrent: expected a bool, got {describe(recurrent)}")
        if wiring_cost not in WIRING_COSTS:
            raise ValueError(f"wiring_cost: expected one of {list(WIRING_COSTS)}, got {wiring_cost!r}")
        check_real(wiring_weight, "wiring_weight", positive=False)
        check_real(lr, "lr", positive=True)
        schedule = check_schedule(wiring_schedule)
        if wiring_kwargs is not None and not isinstance(wiring_kwargs, dict):
            raise ValueError(f"wiring_kwargs: expected a dict or None, got {describe(wiring_kwargs)}")
        positions = check_positions(input_positions, n_inputs, dim=2)
        if recurrent:
            if len(hidden) != 1:
                raise ValueError(
                    f"hidden: recurrent=True builds one recurrent layer, expected one size, got {hidden}"
                )
            seq_len = _check_seq_len(seq_len, n_inputs)
        elif seq_len is not None:
            raise ValueError(
                f"seq_len: expected None with recurrent=False (it sets the recurrent layer's time "
                f"steps), got {seq_len!r}"
            )

        # Plain lists in the hyperparameters: they go to hparams.yaml and checkpoints as is.
        input_positions = None if positions is None else positions.tolist()
        wiring_schedule = None if schedule is None else [list(step) for step in schedule]
        self.save_hyperparameters()
        self.schedule = schedule or []

        self.net = _build_network(
            n_inputs, n_classes, hidden, mask, mask_options, mask_seed, backend, recurrent, seq_len, positions
        )
        self.wiring = _build_wiring_cost(wiring_cost, wiring_kwargs or {}, hidden[0])
        if self.wiring is not None and not any(self.wiring.accepts(layer) for layer in self.masked_layers):
            need = {
                "distance": "a masked layer with positions (give input_positions when n_inputs is not "
                "a perfect square)",
                "communicability": "a square masked layer (recurrent=True, or hidden layers of equal size)",
                "spatial": "a square masked layer (recurrent=True)",
            }[wiring_cost]
            raise ValueError(
                f"wiring_cost: expected a cost that applies to this network; {wiring_cost!r} needs "
                f"{need}, got a network without one"
            )

        self.train_acc = MulticlassAccuracy(n_classes, average="micro")
        self.val_acc = MulticlassAccuracy(n_classes, average="micro")
        self.test_acc = MulticlassAccuracy(n_classes, average="micro")
        self.val_f1 = MulticlassF1Score(n_classes, average="macro")
        self.test_f1 = MulticlassF1Score(n_classes, average="macro")
        self.last_wiring_weight = float(wiring_weight)

    # ------------------------------------------------------------------ model
    def forward(self, x: Tensor) -> Tensor:
        """Logits (batch, n_classes) of inputs (batch, n_inputs)."""
        return self.net(x)

    @property
    def masked_layers(self) -> list[ConnectomeLinear]:
        """The network's :class:`~ccnn.nn.ConnectomeLinear` layers, input side first."""
        return [m for m in self.net.modules() if isinstance(m, ConnectomeLinear)]

    @property
    def first_positioned_layer(self) -> ConnectomeLinear | None:
        """The first masked layer with unit positions (the input layer, or the recurrent one)."""
        return next((layer for layer in self.masked_layers if layer.has_positions), None)

    # ------------------------------------------------------------------ wiring schedule
    def wiring_weight_at(self, progress: float) -> float:
        """:math:`\\lambda` at a fraction ``progress`` of training: the weight times the
        multiplier of the last schedule step whose fraction is ≤ ``progress`` (1 before any)."""
        return scheduled_weight(self.hparams.wiring_weight, self.schedule, progress)

    def training_progress(self) -> float:
        """``global_step / estimated_stepping_batches`` of the attached trainer (0 without one)."""
        return training_progress(self)

    def current_wiring_weight(self) -> float:
        return self.wiring_weight_at(self.training_progress())

    def wiring_cost_value(self) -> Tensor:
        """Unweighted wiring cost :math:`C(W)` of the network (0 for ``wiring_cost="none"``)."""
        if self.wiring is None:
            return self.masked_layers[0].weight.new_zeros(())
        return self.wiring(self.net)

    # ------------------------------------------------------------------ analysis
    @torch.no_grad()
    def weight_distance_correlation(self) -> float:
        """Pearson correlation of :math:`|W_{ij}|` and :math:`d_{ij}` over the connections
        (mask entries) of the first masked layer with positions; NaN without positions or
        when either variable is constant."""
        layer = self.first_positioned_layer
        if layer is None:
            return math.nan
        mask = layer.mask
        magnitude = layer.weight.abs()[mask].double()
        distance = layer.distances()[mask].double()
        if magnitude.numel() < 2:
            return math.nan
        magnitude = magnitude - magnitude.mean()
        distance = distance - distance.mean()
        denominator = magnitude.norm() * distance.norm()
        if denominator == 0:
            return math.nan
        return float((magnitude * distance).sum() / denominator)

    @torch.no_grad()
    def effective_density(self) -> float:
        """Mean over masked layers of the fraction of all connections with
        :math:`|W_{ij}| >` :data:`DENSITY_THRESHOLD` · max :math:`|W|` (see the class docstring)."""
        fractions = []
        for layer in self.masked_layers:
            magnitude = layer.weight.abs()
            top = magnitude.max()
            present = magnitude > DENSITY_THRESHOLD * top if top > 0 else torch.zeros_like(magnitude).bool()
            fractions.append(float(present.float().mean()))
        return float(np.mean(fractions))

    def mask_density(self) -> float:
        return float(np.mean([layer.density for layer in self.masked_layers]))

    # ------------------------------------------------------------------ steps
    def _batch(self, batch: Any) -> tuple[Tensor, Tensor]:
        x, y = batch[0], batch[1]
        return x, y

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = self._batch(batch)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        weight = self.current_wiring_weight()
        self.last_wiring_weight = weight
        total = loss
        if self.wiring is not None and weight > 0:
            penalty = weight * self.wiring(self.net)
            total = loss + penalty
            self.log("train/wiring", penalty, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.train_acc(logits, y)
        # The per-step loss stays rank-local (no all-reduce every step); train/acc is a metric
        # object, which Lightning syncs across ranks at the end of the epoch.
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=len(y))
        return total

    def _eval_step(self, batch: Any, stage: str) -> None:
        x, y = self._batch(batch)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc, f1 = (self.val_acc, self.val_f1) if stage == "val" else (self.test_acc, self.test_f1)
        acc.update(logits, y)
        f1.update(logits, y)
        # Metric objects: Lightning computes and syncs them across DDP ranks at epoch end.
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log(f"{stage}/acc", acc, on_epoch=True, prog_bar=stage == "val", batch_size=len(y))
        self.log(f"{stage}/f1", f1, on_epoch=True, batch_size=len(y))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities (batch, n_classes)."""
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).softmax(-1)

    def on_validation_epoch_end(self) -> None:
        # Parameters are identical on every DDP rank, so the mean over ranks (sync_dist) is the
        # value itself; syncing keeps Lightning from warning about epoch-level, unsynced logs.
        with torch.no_grad():
            values = {
                "wiring/cost": float(self.wiring_cost_value()),
                "wiring/weight": self.current_wiring_weight(),
                "wiring/density": self.effective_density(),
                "wiring/mask_density": self.mask_density(),
                "wiring/weight_distance_corr": self.weight_distance_correlation(),
            }
        for name, value in values.items():
            # No correlation without positions (or with a constant variable): nothing to log.
            if math.isfinite(value):
                self.log(name, value, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # self.parameters() includes the learnable positions of the "spatial" cost.
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    def on_train_start(self) -> None:
        if self.schedule and not math.isfinite(self.trainer.estimated_stepping_batches):
            rank_zero_warn(
                "wiring_schedule: the trainer has no finite length (max_epochs / max_steps), so the "
                "schedule's fractions of training are undefined and the weight stays wiring_weight"
            )

    # ------------------------------------------------------------------ figure
    def on_fit_end(self) -> None:
        if self.trainer.logger is None:
            return
        log_dir = self.trainer.log_dir  # on every rank: trainer.log_dir is a collective
        if not self.trainer.is_global_zero or log_dir is None or self.first_positioned_layer is None:
            return
        path = self.save_weight_distance_figure(Path(log_dir) / FIGURE_NAME)
        if hasattr(self.trainer.logger, "log_image"):
            self.trainer.logger.log_image(key="wiring", images=[str(path)], caption=["|W| against distance"])
        rank_zero_info(f"connectome classifier: |W| against distance in {path}")

    @torch.no_grad()
    def save_weight_distance_figure(self, path: str | Path) -> Path:
        """Scatter of :math:`|W_{ij}|` against :math:`d_{ij}` over the first masked layer's connections."""
        # The object-oriented API with the Agg canvas: no pyplot, no global backend change.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        layer = self.first_positioned_layer
        if layer is None:
            raise ValueError("path: the network has no masked layer with positions to plot")
        mask = layer.mask
        magnitude = layer.weight.abs()[mask].float().cpu().numpy()
        distance = layer.distances()[mask].float().cpu().numpy()
        figure = Figure(figsize=(4.5, 3.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.scatter(distance, magnitude, s=4, alpha=0.4, linewidths=0)
        axes.set_xlabel("connection length $d_{ij}$")
        axes.set_ylabel("$|W_{ij}|$")
        axes.set_title(f"first masked layer, r = {self.weight_distance_correlation():.3f}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            figure.savefig(handle, format="png", dpi=120)
        return path


# ---------------------------------------------------------------------- construction
class _SequenceRNN(nn.Module):
    """Runs a ConnectomeRNN over the input cut into ``seq_len`` chunks and reads out the last state."""

    def __init__(self, rnn: ConnectomeRNN, readout: nn.Linear, seq_len: int) -> None:
        super().__init__()
        self.rnn, self.readout, self.seq_len = rnn, readout, seq_len

    def forward(self, x: Tensor) -> Tensor:
        sequence = x.reshape(x.shape[0], self.seq_len, -1)
        _, last = self.rnn(sequence)
        return self.readout(last)


def _draw_mask(
    name: str,
    options: dict[str, Any],
    pos_out: Tensor,
    pos_in: Tensor | None,
    n_in: int,
    seed: int,
    layer: str,
) -> Tensor:
    n_out = len(pos_out)
    if name in ("watts_strogatz", "modular") and n_out != n_in:
        raise ValueError(
            f"mask: {name!r} builds square (n, n) masks only; expected a layer with as many inputs as "
            f"units (recurrent=True, or equal hidden sizes), got {layer} mapping {n_in} inputs to "
            f"{n_out} units"
        )
    try:
        if name == "distance_dependent":
            if pos_in is None:
                raise ValueError(
                    f"input_positions: expected ({n_in}, 2) positions of the inputs for the "
                    f"distance-dependent mask of {layer} (there is no default grid: n_inputs = {n_in} "
                    "is not a perfect square), got None"
                )
            square = n_out == n_in and pos_in is pos_out
            return masks.distance_dependent(pos_out, pos_in, self_loops=not square, seed=seed, **options)
        if name == "erdos_renyi":
            return masks.erdos_renyi(n_out, n_in, options["density"], seed=seed)
        if name == "watts_strogatz":
            return masks.watts_strogatz(n_out, int(options["k"]), options["p"], seed=seed)
        n_modules = int(options["n_modules"])
        if not 1 <= n_modules <= n_out:
            raise ValueError(f"n_modules: expected an int in [1, {n_out}], got {options['n_modules']!r}")
        sizes = [n_out // n_modules + (i < n_out % n_modules) for i in range(n_modules)]
        return masks.modular(sizes, options["p_in"], options["p_out"], seed=seed)
    except (ValueError, TypeError) as err:
        if str(err).startswith("input_positions"):
            raise
        raise ValueError(
            f"mask_kwargs: expected arguments that {name!r} accepts, got {options} ({err})"
        ) from err


def _build_network(
    n_inputs: int,
    n_classes: int,
    hidden: list[int],
    mask: str,
    options: dict[str, Any],
    seed: int,
    backend: str,
    recurrent: bool,
    seq_len: int | None,
    input_positions: Tensor | None,
) -> nn.Module:
    if recurrent:
        assert seq_len is not None
        units = grid_positions(hidden[0])
        recurrent_mask = _draw_mask(mask, options, units, units, hidden[0], seed, "the recurrent layer")
        rnn = ConnectomeRNN(n_inputs // seq_len, hidden[0], recurrent_mask, batch_first=True, backend=backend)
        rnn.cell.recurrent.attach_positions(units)
        return _SequenceRNN(rnn, nn.Linear(hidden[0], n_classes), seq_len)
    layers: list[nn.Module] = []
    pos_in, width_in = input_positions, n_inputs
    for index, width in enumerate(hidden):
        # Hidden units tile the inputs' extent (a line for 1-D signals, the image for images).
        units = grid_positions(width) if pos_in is None else tile_positions(width, pos_in)
        layer_mask = _draw_mask(mask, options, units, pos_in, width_in, seed + index, f"hidden layer {index}")
        layer = ConnectomeLinear(width_in, width, layer_mask, backend=backend)
        if pos_in is not None:
            layer.attach_positions(pos_in, units)
        layers += [layer, nn.ReLU()]
        pos_in, width_in = units, width
    layers.append(nn.Linear(width_in, n_classes))
    return nn.Sequential(*layers)


def _build_wiring_cost(name: str, options: dict[str, Any], n_units: int) -> WiringCost | None:
    if name == "none":
        if options:
            raise ValueError(f"wiring_kwargs: expected none with wiring_cost='none', got {options}")
        return None
    cls = {
        "distance": DistanceWiringCost,
        "l1": L1,
        "communicability": CommunicabilityWiringCost,
        "spatial": SpatialWiringCost,
    }[name]
    try:
        if name == "spatial":
            # Fixed initial positions: every DDP rank and every reload starts from the same ones.
            generator = torch.Generator().manual_seed(0)
            return cls(n_units, **{"generator": generator, **options})
        return cls(**options)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"wiring_kwargs: expected arguments that {cls.__name__} accepts, got {options} ({err})"
        ) from err


# ---------------------------------------------------------------------- checks


def _check_mask_kwargs(mask: str, mask_kwargs: Any) -> dict[str, Any]:
    defaults = MASK_DEFAULTS[mask]
    if mask_kwargs is None:
        return dict(defaults)
    if not isinstance(mask_kwargs, dict):
        raise ValueError(f"mask_kwargs: expected a dict or None, got {describe(mask_kwargs)}")
    unknown = sorted(set(mask_kwargs) - set(defaults))
    if unknown:
        raise ValueError(
            f"mask_kwargs: expected keys among {sorted(defaults)} for mask={mask!r}, got unknown {unknown}"
        )
    return {**defaults, **mask_kwargs}


def _check_seq_len(seq_len: Any, n_inputs: int) -> int:
    if seq_len is None:
        side = math.isqrt(n_inputs)
        if side * side != n_inputs:
            raise ValueError(
                f"seq_len: expected an int dividing n_inputs = {n_inputs} (there is no default when "
                "n_inputs is not a perfect square), got None"
            )
        return side
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1 or n_inputs % seq_len:
        raise ValueError(f"seq_len: expected a positive int dividing n_inputs = {n_inputs}, got {seq_len!r}")
    return seq_len
