r"""The common frame of the zoo's models: task heads, the regulariser switch, logging and metrics.

Every zoo model minimises

.. math::
    \mathcal{L} = \sum_{t=1}^{T} \mathrm{CE}\big(f_t(x), y_t\big) + \lambda(s)\, R(W)

over its :math:`T` tasks (one head each), with :math:`\lambda(s)` the scheduled weight
(:mod:`ccnn.models._classifier_common`) and :math:`R` chosen by ``regularizer``:

* ``"own"``: the model's own wiring cost (seRNN's communicability-weighted distance, BIMT's
  distance cost, the spatial network's transport + proximity, ...);
* ``"l1"``: the control of the same strength without space,
  :math:`\sum_\ell \bar F_\ell\, \mathrm{reduce}(|W_\ell|)`, where the own cost is
  :math:`\sum_\ell \mathrm{reduce}(|W_\ell| \odot F_\ell)` (:math:`F` the distances, or
  BIMT's :math:`A d + \ell_0`, or seRNN's :math:`D \odot C`) and :math:`\bar F_\ell` its mean:
  at uniform weights both cost the same; the reduction (sum or mean over the entries) is the
  model's own;
* ``"none"``: no regulariser.

Models implement :meth:`ZooModel.features` (the hidden activity, with an optional per-unit
gain for ablations), :meth:`ZooModel.weight_matrices` and :meth:`ZooModel.own_cost`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from ccnn._io import write_new
from ccnn._validation import check_choice, check_real, describe
from ccnn.models._classifier_common import check_schedule, scheduled_weight, training_progress
from ccnn.models.zoo import evaluation

__all__ = ["REGULARIZERS", "ZooModel", "check_n_classes"]

REGULARIZERS = ("own", "l1", "none")
METRICS_FILE = "zoo_metrics.json"


def check_n_classes(n_classes: Any) -> list[int]:
    """Classes per task: an int (one task) or a list of ints (one head per task), each ≥ 2."""
    values = [n_classes] if isinstance(n_classes, int) and not isinstance(n_classes, bool) else n_classes
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(
            f"n_classes: expected an int >= 2 or a list of them (one per task), got {describe(n_classes)}"
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(
                f"n_classes: expected an int >= 2 or a list of them (one per task), got {n_classes!r}"
            )
    return [int(v) for v in values]


class ZooModel(L.LightningModule):
    r"""Base LightningModule of the zoo (see the module docstring for the loss).

    Logged: ``train/loss`` (cross-entropy summed over tasks), ``train/wiring`` (the weighted
    regulariser), ``val/loss``, ``val/acc`` (mean over tasks) and ``val/acc_<task>`` (per
    task), the same under ``test/``, and after every validation epoch ``wiring/weight``
    (:math:`\lambda`), ``wiring/cost`` (:math:`\sum |w| d` over the layers with distances)
    and ``wiring/density`` (fraction of all possible connections with
    :math:`|w| >` ``density_threshold`` · the layer's max). After ``test``:
    ``test/modularity`` (Louvain Q of :math:`|W|`), ``test/small_worldness`` (σ against
    degree-preserving nulls; NaN for layered feed-forward graphs, which have no triangles)
    and, with two tasks, ``test/specialisation`` (fraction of hidden units whose ablation
    costs one task more than 5 points and the other not), ``test/specialisation_active`` (the
    same fraction among the units whose ablation costs some task more than 5 points) and
    ``test/active_units`` (the fraction of such units), written with the rest to
    ``zoo_metrics.json`` in the trainer's ``log_dir`` (also in :attr:`test_metrics`).

    Args:
        n_classes: classes per task (an int, or a list with one entry per task/head).
        regularizer: ``"own"``, ``"l1"`` or ``"none"``.
        wiring_weight: :math:`\lambda_0 \ge 0`.
        wiring_schedule: ``[fraction, multiplier]`` steps of :math:`\lambda` (None: constant).
        lr: Adam learning rate.
        density_threshold: relative threshold of ``wiring/density``, in [0, 1).
    """

    monitor = ("val/acc", "max")
    summary_metrics = ("val/acc", "val/loss", "wiring/density", "wiring/cost")
    prediction_name = "probabilities"
    #: "sum" or "mean": how the model's own cost reduces over a layer's entries (the L1 control matches it).
    cost_reduction = "sum"

    def __init__(
        self,
        *,
        n_classes: int | Sequence[int],
        regularizer: str = "own",
        wiring_weight: float = 1e-3,
        wiring_schedule: Sequence[Sequence[float]] | None = None,
        lr: float = 3e-3,
        density_threshold: float = 1e-2,
    ) -> None:
        super().__init__()
        # Collects the arguments of every __init__ in the subclass chain; the recurrent base's
        # mask and positions are built by its subclasses from their own arguments.
        self.save_hyperparameters(ignore=["mask", "positions"])
        self.task_classes = check_n_classes(n_classes)
        self.n_tasks = len(self.task_classes)
        check_choice(regularizer, "regularizer", REGULARIZERS)
        self.regularizer = regularizer
        self.wiring_weight = check_real(wiring_weight, "wiring_weight", positive=False)
        self.schedule = check_schedule(wiring_schedule) or []
        self.lr = check_real(lr, "lr", positive=True)
        if not isinstance(density_threshold, int | float) or not 0 <= density_threshold < 1:
            raise ValueError(
                f"density_threshold: expected a number in [0, 1), got {describe(density_threshold)}"
            )
        self.density_threshold = float(density_threshold)
        self.val_acc = nn.ModuleList(MulticlassAccuracy(c, average="micro") for c in self.task_classes)
        self.test_acc = nn.ModuleList(MulticlassAccuracy(c, average="micro") for c in self.task_classes)
        self._test_batches: list[tuple[Tensor, Tensor]] = []
        #: Everything the last ``test`` measured (accuracies and network metrics, no prefix).
        self.test_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ to implement
    @property
    def n_hidden_units(self) -> int:
        raise NotImplementedError

    def features(self, x: Tensor, unit_gain: Tensor | None = None) -> Tensor:
        """Input of the readout (batch, n_features); ``unit_gain`` scales the hidden units."""
        raise NotImplementedError

    def readout_logits(self, features: Tensor) -> Tensor:
        """All heads' logits, concatenated (batch, Σ classes)."""
        raise NotImplementedError

    def weight_matrices(self) -> list[tuple[Tensor, Tensor | None]]:
        """(effective weight, distances or None) of every layer, input side first."""
        raise NotImplementedError

    def own_cost(self) -> Tensor:
        """The model's own wiring cost :math:`R(W)` (unweighted)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor, unit_gain: Tensor | None = None) -> Tensor | tuple[Tensor, ...]:
        """Logits (batch, classes), or a tuple of them (one per task) with several heads."""
        if unit_gain is not None and unit_gain.shape != (self.n_hidden_units,):
            raise ValueError(
                f"unit_gain: expected shape ({self.n_hidden_units},) (one gain per hidden unit), "
                f"got {tuple(unit_gain.shape)}"
            )
        logits = self.readout_logits(self.features(x, unit_gain))
        if self.n_tasks == 1:
            return logits
        return tuple(logits.split(self.task_classes, dim=-1))

    def task_logits(self, x: Tensor, unit_gain: Tensor | None = None) -> tuple[Tensor, ...]:
        out = self(x, unit_gain)
        return out if isinstance(out, tuple) else (out,)

    def _targets(self, y: Tensor) -> Tensor:
        columns = 1 if y.dim() == 1 else y.shape[1]
        if y.dim() > 2 or columns != self.n_tasks:
            raise ValueError(
                f"n_classes: the data pose {columns} task(s) (labels of shape {tuple(y.shape)}), expected a "
                f"model with as many heads, got {self.n_tasks} head(s) (n_classes={self.task_classes})"
            )
        return y.reshape(len(y), -1)

    # ------------------------------------------------------------------ regulariser
    def current_wiring_weight(self) -> float:
        return scheduled_weight(self.wiring_weight, self.schedule, training_progress(self))

    def cost_factors(self) -> list[Tensor | None]:
        """Per-entry factor of each layer's own cost, :math:`R = \\sum_\\ell \\mathrm{reduce}(|W_\\ell|
        \\odot F_\\ell)` (distances by default; ``None`` for a layer without one)."""
        return [d for _, d in self.weight_matrices()]

    def l1_cost(self) -> Tensor:
        """The spatial-free control: :math:`\\sum_\\ell \\bar F_\\ell\\, \\mathrm{reduce}(|W_\\ell|)`, with
        :math:`\\bar F_\\ell` the mean of the layer's cost factors (so it costs as much as the
        own cost at uniform weights) and the own cost's reduction (sum or mean)."""
        total = []
        for (weight, _), factor in zip(self.weight_matrices(), self.cost_factors(), strict=True):
            scale = 1.0 if factor is None else float(factor.detach().mean())
            magnitude = weight.abs()
            total.append(scale * (magnitude.sum() if self.cost_reduction == "sum" else magnitude.mean()))
        return torch.stack(total).sum()

    def regularization(self) -> Tensor | None:
        if self.regularizer == "none":
            return None
        return self.own_cost() if self.regularizer == "own" else self.l1_cost()

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], self._targets(batch[1])
        logits = self.task_logits(x)
        loss = sum(F.cross_entropy(logit, y[:, t]) for t, logit in enumerate(logits))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        weight = self.current_wiring_weight()
        if weight > 0:
            cost = self.regularization()
            if cost is not None:
                penalty = weight * cost
                self.log(
                    "train/wiring", penalty, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(y)
                )
                loss = loss + penalty
        return loss

    def _eval_step(self, batch: Any, stage: str) -> None:
        x, y = batch[0], self._targets(batch[1])
        logits = self.task_logits(x)
        loss = sum(F.cross_entropy(logit, y[:, t]) for t, logit in enumerate(logits))
        for t, logit in enumerate(logits):
            (self.val_acc if stage == "val" else self.test_acc)[t].update(logit, y[:, t])
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(y))
        if stage == "test":
            self._test_batches.append((x.detach().cpu(), y.detach().cpu()))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities (batch, Σ classes): each head's softmax, concatenated."""
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return torch.cat([logit.softmax(-1) for logit in self.task_logits(x)], -1)

    def _log_accuracy(self, stage: str) -> dict[str, float]:
        metrics = self.val_acc if stage == "val" else self.test_acc
        values = [metric.compute() for metric in metrics]  # synchronised across DDP ranks
        for metric in metrics:
            metric.reset()
        logged = {f"{stage}/acc": float(torch.stack(values).mean())}
        if self.n_tasks > 1:
            logged.update({f"{stage}/acc_{t}": float(v) for t, v in enumerate(values)})
        for name, value in logged.items():
            # Already synchronised (identical on every rank): sync_dist only averages equal values.
            self.log(name, value, prog_bar=name == "val/acc", sync_dist=True)
        return logged

    def on_validation_epoch_end(self) -> None:
        self._log_accuracy("val")
        with torch.no_grad():
            for name, value in self.wiring_summary().items():
                if math.isfinite(value):
                    self.log(name, value, sync_dist=True)

    def on_test_epoch_start(self) -> None:
        self._test_batches = []

    def on_test_epoch_end(self) -> None:
        values = {k.removeprefix("test/"): v for k, v in self._log_accuracy("test").items()}
        x = torch.cat([b[0] for b in self._test_batches]).to(self.device)
        y = torch.cat([b[1] for b in self._test_batches]).to(self.device)
        self._test_batches = []
        if self.trainer.world_size > 1:
            # Every rank ablates on the whole test set (DistributedSampler pads the shards to
            # one size), so every rank computes the same metrics and logs them alike.
            x, y = self.all_gather(x).flatten(0, 1), self.all_gather(y).flatten(0, 1)
        values.update(self.network_metrics(x, y))
        self.test_metrics = values
        for name, value in values.items():
            if name.startswith(
                ("modularity", "small_worldness", "specialisation", "active")
            ) and math.isfinite(value):
                self.log(f"test/{name}", value)  # identical on every rank
            elif name.startswith(("density", "cost")) and math.isfinite(value):
                self.log(f"test/wiring_{name}", value)
        self._write_metrics(values)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    # ------------------------------------------------------------------ metrics
    @torch.no_grad()
    def wiring_summary(self) -> dict[str, float]:
        """``wiring/weight``, ``wiring/cost`` (Σ|w|d) and ``wiring/density`` of the current weights."""
        pairs = self.weight_matrices()
        weights = [w.detach() for w, _ in pairs]
        spatial = [(w.detach(), d.detach()) for w, d in pairs if d is not None]
        summary = {
            "wiring/weight": self.current_wiring_weight(),
            "wiring/density": evaluation.weight_density(weights, threshold=self.density_threshold),
        }
        if spatial:
            summary["wiring/cost"] = evaluation.wiring_cost([w for w, _ in spatial], [d for _, d in spatial])
        return summary

    def graph(self) -> Tensor:
        """The (N, N) adjacency of :math:`|W|` over the model's units, for graph metrics
        (:func:`~ccnn.models.zoo.evaluation.layered_adjacency`; an RNN's is its recurrent matrix)."""
        # Each layer scaled to its largest |w|: one relative threshold then prunes every layer
        # alike (as in wiring/density), whatever the layers' scales.
        weights = [w.detach() / w.detach().abs().max().clamp(min=1e-30) for w, _ in self.weight_matrices()]
        return evaluation.layered_adjacency(weights)

    @torch.no_grad()
    def network_metrics(
        self, x: Tensor | None = None, y: Tensor | None = None, *, seed: int = 0
    ) -> dict[str, float]:
        """Density, wiring cost, modularity, small-worldness and, given two-task test data,
        the fraction of task-specialised hidden units (keys without a stage prefix)."""
        summary = {k.split("/", 1)[1]: v for k, v in self.wiring_summary().items() if k != "wiring/weight"}
        adjacency = self.graph()
        summary["modularity"] = evaluation.modularity_q(
            adjacency, threshold=self.density_threshold, seed=seed
        )
        summary["small_worldness"] = evaluation.small_worldness(
            adjacency, threshold=self.density_threshold, seed=seed
        )
        if x is not None and y is not None and self.n_tasks > 1:
            was_training = self.training
            self.eval()
            result = evaluation.task_specialisation(
                self.task_logits, x, self._targets(y), self.n_hidden_units
            )
            self.train(was_training)
            summary["specialisation"] = result.fraction
            # Among the units that matter (their ablation costs some task > 5 points): units a
            # wiring cost has disconnected are neither specialised nor shared.
            hurting = (result.drops > evaluation.DEFAULT_DROP).any(1)
            specialised = result.specialised_task >= 0
            summary["specialisation_active"] = (
                float(specialised.sum() / hurting.sum()) if bool(hurting.any()) else math.nan
            )
            summary["active_units"] = float(hurting.float().mean())
        return summary

    def _write_metrics(self, values: dict[str, float]) -> None:
        if self._trainer is None or self.trainer.logger is None:
            return
        log_dir = self.trainer.log_dir  # on every rank: a collective in some strategies
        if not self.trainer.is_global_zero or log_dir is None:
            return
        text = json.dumps({k: (v if math.isfinite(v) else None) for k, v in values.items()}, indent=2)
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        # A numbered name when the file exists: a second test never replaces the first one's metrics.
        path = write_new(Path(log_dir) / METRICS_FILE, lambda handle: handle.write(text.encode()))
        rank_zero_info(f"{type(self).__name__}: network metrics in {path}")
