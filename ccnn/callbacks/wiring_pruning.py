r"""Pruning by wiring cost during training: :class:`WiringPruning`.

Connectome-constrained networks are often made sparse by removing the connections that cost
the most wire for what they carry. :class:`WiringPruning` removes, on a schedule, the
connections of the model's :class:`ccnn.nn.ConnectomeLinear` layers with the highest score

.. math::
    s_{ij} = \begin{cases}
        |W_{ij}|\, d_{ij} & \texttt{"wiring\_cost"} \text{ (magnitude × distance; default)} \\
        -|W_{ij}| & \texttt{"magnitude"} \text{ (smallest weights first)} \\
        d_{ij} / |W_{ij}| & \texttt{"length\_per\_weight"} \text{ (long, weak connections first)}
    \end{cases}

where :math:`W` is the layer's effective weight (mask and Dale signs applied,
``ConnectomeLinear.weight``) and :math:`d_{ij}` the distance between output unit :math:`i`
and input unit :math:`j` (``ConnectomeLinear.distances()``, Euclidean). A weight of exactly 0
has :math:`d/|w| = \infty`. Pruning goes through :meth:`ConnectomeLinear.prune_`, so the
hard mask stays exact: a removed connection is exactly zero in every later forward pass and
gets zero gradient.

**Schedule** (the cubic schedule of Zhu & Gupta, "To prune, or not to prune", 2017). With
:math:`T` the run's optimiser steps (``trainer.estimated_stepping_batches``),
:math:`t_0 = \mathrm{round}(\texttt{start}\cdot T)` and
:math:`t_1 = \mathrm{round}(\texttt{end}\cdot T)`, the callback prunes after the optimiser
step :math:`t` (``trainer.global_step``) for every :math:`t = t_0 + k\,\Delta t` up to
:math:`t_1` (:math:`\Delta t` = ``every_n_steps``) and once more at the first step
:math:`\ge t_1`, keeping in each layer

.. math::
    n(t) = n_f + (n_0 - n_f)\,\Bigl(1 - \frac{t - t_0}{t_1 - t_0}\Bigr)^3

connections (rounded), where :math:`n_0` is the layer's number of connections at
:math:`t_0` and :math:`n_f = \max(1, \mathrm{round}(\texttt{target\_density}\cdot
n_\text{out} n_\text{in}))`: fast pruning while many redundant connections remain, slower
towards the end. From :math:`t_1` on the layer has exactly :math:`n_f` connections (its
density is the target to within one connection), unless ``min_per_row`` protects more. A
layer already at or below the target is left alone. A run that stops early (e.g.
``EarlyStopping``) ends wherever the schedule was.

**Which layers.** Every ``ConnectomeLinear`` of the LightningModule with ``mode="hard"``
(or those under ``modules=``). The ``"wiring_cost"`` and ``"length_per_weight"`` criteria
need positions (``layer.has_positions``, see ``attach_positions``): layers without them are
skipped, with one warning, as are layers of another mode. If no layer qualifies, ``fit``
raises ``ValueError`` at its start.

**Optimisers.** Every optimiser of the trainer is passed to ``prune_``, so the state of a
removed connection (Adam's moments) is cleared (dense layers) or dropped with it (sparse
layers, whose parameter vector shrinks).

**Logging.** At the end of every training epoch, ``pl_module.log`` records
``<prefix>/density`` (the connections kept over all pruned layers, as a fraction of all
their possible connections) and ``<prefix>/<layer name>/density``.

**DDP.** Every rank holds the same weights, so every rank scores and removes the same
connections (the ranking is a stable sort: ties go to the lower row-major index); there is no
collective and the values are logged with ``sync_dist=False``. Sparse-backend layers cannot
be pruned under DDP (their parameter changes size, and DDP's gradient buckets are sized
once): ``fit`` raises at its start; use ``backend="dense"``. Sharded strategies (FSDP,
DeepSpeed stage 3) are not supported.

Usable from any config::

    trainer:
      callbacks:
        - class_path: ccnn.callbacks.WiringPruning
          init_args:
            target_density: 0.05
            criterion: wiring_cost
            start: 0.2
            end: 0.8
            every_n_steps: 50
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from ccnn._validation import check_choice, check_int, check_names, describe
from ccnn.nn.connectome_linear import ConnectomeLinear

__all__ = ["PRUNING_CRITERIA", "WiringPruning", "pruning_scores", "select_for_pruning"]

#: The criteria, by name; the layers they can score need positions where ``True``.
PRUNING_CRITERIA: dict[str, bool] = {"wiring_cost": True, "magnitude": False, "length_per_weight": True}


def pruning_scores(weight: Tensor, distances: Tensor | None, criterion: str) -> Tensor:
    """The score of every connection, (out, in): the highest are removed first (module docstring).

    Args:
        weight: the effective weight (out, in); its absolute value is used.
        distances: (out, in) distances between the units, or ``None`` for ``"magnitude"``.
        criterion: a key of :data:`PRUNING_CRITERIA`.
    """
    check_choice(criterion, "criterion", tuple(PRUNING_CRITERIA))
    magnitude = weight.detach().abs()
    if criterion == "magnitude":
        return -magnitude
    if distances is None:
        raise ValueError(f"distances: criterion {criterion!r} needs the distances, got None")
    distances = distances.to(magnitude)
    if criterion == "wiring_cost":
        return magnitude * distances
    return torch.where(magnitude > 0, distances / magnitude, torch.full_like(magnitude, float("inf")))


def select_for_pruning(mask: Tensor, scores: Tensor, n_remove: int, min_per_row: int = 0) -> Tensor:
    """The ``n_remove`` connections of ``mask`` with the highest ``scores``, as an (out, in) bool mask.

    With ``min_per_row`` > 0 the ``min_per_row`` connections of each row (output unit) with
    the lowest scores are never chosen, so fewer may come back. Ties go to the lower
    row-major index (a stable sort): the same inputs give the same choice on every rank.

    Example:
        >>> mask = torch.tensor([[True, True], [True, False]])
        >>> select_for_pruning(mask, torch.tensor([[2.0, 5.0], [3.0, 9.0]]), 2).tolist()
        [[False, True], [True, False]]
    """
    rows, cols = mask.nonzero(as_tuple=True)  # row-major
    values = scores[rows, cols]
    candidates = torch.ones_like(rows, dtype=torch.bool)
    if min_per_row > 0:
        by_score = torch.sort(values, stable=True).indices
        order = by_score[torch.sort(rows[by_score], stable=True).indices]  # by row, then score
        starts = torch.searchsorted(rows[order], rows[order], side="left")
        rank = torch.arange(order.numel(), device=rows.device) - starts
        candidates[order[rank < min_per_row]] = False
    chosen = candidates.nonzero().squeeze(1)
    chosen = chosen[torch.sort(values[chosen], descending=True, stable=True).indices[:n_remove]]
    remove = torch.zeros_like(mask, dtype=torch.bool)
    remove[rows[chosen], cols[chosen]] = True
    return remove


class WiringPruning(Callback):
    r"""Removes the costliest connections of ConnectomeLinear layers during training (module docstring).

    Args:
        target_density: the fraction of each layer's ``out_features × in_features`` possible
            connections kept at the end, in (0, 1).
        criterion: ``"wiring_cost"`` (:math:`|w|\,d`, highest first), ``"magnitude"``
            (smallest :math:`|w|` first) or ``"length_per_weight"`` (:math:`d/|w|`, highest
            first).
        start: fraction of the run's optimiser steps at which pruning starts, in [0, 1).
        end: fraction at which the target is reached, in (start, 1].
        every_n_steps: prune every this many optimiser steps between ``start`` and ``end``.
        min_per_row: never leave an output unit with fewer than this many inputs (0: no
            protection; the density may then stay above the target).
        modules: names of submodules (as in ``named_modules()``) to restrict to; a name also
            selects the layers below it. Default: every ConnectomeLinear.
        prefix: first part of the logged keys.

    Raises:
        ValueError: an unknown criterion, a target outside (0, 1), ``start >= end``, or
            another bad argument (the message starts with its name).
    """

    def __init__(
        self,
        target_density: float = 0.1,
        criterion: str = "wiring_cost",
        start: float = 0.2,
        end: float = 0.8,
        every_n_steps: int = 50,
        min_per_row: int = 0,
        modules: Sequence[str] | None = None,
        prefix: str = "pruning",
    ) -> None:
        self.criterion = check_choice(criterion, "criterion", tuple(PRUNING_CRITERIA))
        self.target_density = _fraction(target_density, "target_density", low_open=True, high_open=True)
        self.start = _fraction(start, "start", low_open=False, high_open=True)
        self.end = _fraction(end, "end", low_open=True, high_open=False)
        if self.start >= self.end:
            raise ValueError(f"start: expected a value below end={self.end:g}, got {self.start:g}")
        self.every_n_steps = check_int(every_n_steps, "every_n_steps", minimum=1)
        self.min_per_row = check_int(min_per_row, "min_per_row", minimum=0)
        self.modules = check_names(modules, "modules")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix: expected a non-empty string, got {describe(prefix)}")
        self.prefix = prefix
        # Schedule state (saved in checkpoints): connections at t_0 per layer, progress.
        self._initial: dict[str, int] = {}
        self._last_step = -1
        self._done = False
        self._warned: set[str] = set()
        self._schedule: tuple[int, int] | None = None  # (t_0, t_1), set at fit start

    # ------------------------------------------------------------------ layers
    def _candidates(self, pl_module: nn.Module) -> dict[str, ConnectomeLinear]:
        return {
            name or "model": sub
            for name, sub in pl_module.named_modules()
            if isinstance(sub, ConnectomeLinear)
            and (self.modules is None or any(name == m or name.startswith(m + ".") for m in self.modules))
        }

    def layers(self, pl_module: nn.Module) -> dict[str, ConnectomeLinear]:
        """The layers this callback prunes, by submodule name (module docstring)."""
        needs_positions = PRUNING_CRITERIA[self.criterion]
        chosen = {}
        for name, layer in self._candidates(pl_module).items():
            if layer.mode != "hard":
                self._warn_once(name, f"{name} has mode={layer.mode!r}; only hard masks are pruned")
            elif needs_positions and not layer.has_positions:
                self._warn_once(
                    name, f"{name} has no positions (attach_positions); {self.criterion!r} needs them"
                )
            else:
                chosen[name] = layer
        return chosen

    def _warn_once(self, name: str, message: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            rank_zero_warn(f"WiringPruning: skipping {message}")

    def _final_count(self, layer: ConnectomeLinear) -> int:
        return max(1, round(self.target_density * layer.out_features * layer.in_features))

    def _steps(self, trainer: L.Trainer) -> tuple[int, int]:
        total = trainer.estimated_stepping_batches
        t0, t1 = round(self.start * total), round(self.end * total)
        return t0, max(t1, t0)

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        candidates = self._candidates(pl_module)
        for selected in self.modules or ():
            if not any(name == selected or name.startswith(selected + ".") for name in candidates):
                raise ValueError(
                    f"modules: {selected!r} selects no ConnectomeLinear; the model has "
                    f"{sorted(candidates) or 'none'}"
                )
        layers = self.layers(pl_module)
        if not layers:
            needs = " with positions" if PRUNING_CRITERIA[self.criterion] else ""
            raise ValueError(
                f"pl_module: WiringPruning(criterion={self.criterion!r}) needs a ConnectomeLinear with "
                f"mode='hard'{needs}; {type(pl_module).__name__} has none "
                f"(ConnectomeLinear layers: {sorted(candidates) or 'none'})"
            )
        total = trainer.estimated_stepping_batches
        if not isinstance(total, int | float) or total == float("inf"):
            raise ValueError(
                f"trainer: WiringPruning needs a finite run (max_epochs or max_steps), got {total} steps"
            )
        distributed = trainer.world_size > 1 or isinstance(trainer.strategy, DDPStrategy)
        sparse = [name for name, layer in layers.items() if layer.backend == "sparse"]
        if distributed and sparse:
            raise ValueError(
                f"backend: layers {sparse} use the sparse backend, whose parameter shrinks when pruned; "
                "DDP cannot follow that. Build them with backend='dense' to prune under DDP"
            )
        self._schedule = self._steps(trainer)
        if trainer.world_size > 1:
            # Equal values on every rank: Lightning's advice to sync them does not apply.
            warnings.filterwarnings(
                "ignore", message=rf"It is recommended to use `self\.log\('{re.escape(self.prefix)}/"
            )

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == self._last_step or self._done:  # no optimiser step since (gradient accumulation)
            return
        self._last_step = step
        t0, t1 = self._schedule or self._steps(trainer)
        if step < t0:
            return
        layers = self.layers(pl_module)
        if not self._initial:
            self._initial = {name: layer.num_connections for name, layer in layers.items()}
        if step >= t1:
            progress = 1.0
        elif (step - t0) % self.every_n_steps:
            return
        else:
            progress = (step - t0) / (t1 - t0)
        for name, layer in layers.items():
            self.prune_layer(layer, progress, self._initial.get(name, layer.num_connections), trainer)
        self._done = progress >= 1.0

    def prune_layer(
        self, layer: ConnectomeLinear, progress: float, initial: int, trainer: L.Trainer | None = None
    ) -> int:
        """Prune ``layer`` to its scheduled count at ``progress`` in [0, 1]; returns the number removed."""
        final = self._final_count(layer)
        if initial <= final:
            return 0
        keep = max(final, round(final + (initial - final) * (1.0 - progress) ** 3))
        n_remove = layer.num_connections - keep
        if n_remove <= 0:
            return 0
        distances = layer.distances() if PRUNING_CRITERIA[self.criterion] else None
        scores = pruning_scores(layer.weight, distances, self.criterion)
        remove = select_for_pruning(layer.mask, scores, n_remove, self.min_per_row)
        optimizers = list(trainer.optimizers) if trainer is not None else None
        return layer.prune_(remove, optimizer=optimizers)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        layers = self.layers(pl_module)
        if not layers:
            return
        kept = possible = 0
        for name, layer in layers.items():
            size = layer.out_features * layer.in_features
            kept, possible = kept + layer.num_connections, possible + size
            pl_module.log(f"{self.prefix}/{name}/density", layer.num_connections / size, sync_dist=False)
        pl_module.log(f"{self.prefix}/density", kept / possible, sync_dist=False)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"initial": dict(self._initial), "last_step": self._last_step, "done": self._done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._initial = dict(state_dict.get("initial", {}))
        self._last_step = int(state_dict.get("last_step", -1))
        self._done = bool(state_dict.get("done", False))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(target_density={self.target_density:g}, criterion={self.criterion!r}, "
            f"start={self.start:g}, end={self.end:g}, every_n_steps={self.every_n_steps}, "
            f"min_per_row={self.min_per_row})"
        )


def _fraction(value: Any, name: str, *, low_open: bool, high_open: bool) -> float:
    """``value`` as a float in the interval from 0 to 1 (ends open or closed as given)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name}: expected a float in {interval}, got {describe(value)}")
    return float(value)
