r"""Graph metrics of a model's learned connectivity, logged while it trains.

A trained network's recurrent weight matrix is a network too: :class:`GraphMetricsCallback`
logs chosen graph metrics of it every few epochs, so that a W&B (or CSV) run shows modularity,
clustering or efficiency emerging during training.

**Which graphs.** Every :class:`ccnn.nn.ConnectomeLinear` of the LightningModule whose weight
is square (this includes the recurrent layer ``<name>.cell.recurrent`` of every
:class:`ccnn.nn.ConnectomeRNN`, and also any other square ConnectomeLinear, e.g. a hidden →
hidden feed-forward layer: restrict with ``modules=``), and the learned connectivity
:math:`W` of every :class:`ccnn.nn.DynamicsNetwork` (the network of
:class:`ccnn.models.DynamicsGNN`, its ``connectivity()``). Orientation as everywhere in ccnn:
``W[i, j]`` is the connection from unit j to unit i.

**Which matrix.** The metrics see the effective weight (mask, Dale's-law sign and soft-mask
scale applied, ``ConnectomeLinear.weight``) in absolute value, with the diagonal
(self-connections) set to 0:

.. math:: A_{ij} = |W_{ij}|\,[i \ne j]\,[\,|W_{ij}| \ge \theta \max_{kl} |W_{kl}|\,],

where :math:`\theta` is ``threshold`` (default 0: nothing pruned). Pruning matters for layers
whose weights are all non-zero (a ``"soft"`` or ``"init"`` mask, the dense W of the dynamics
GNN): there every pair is an edge and density is 1.

**Metrics** (:data:`GRAPH_METRICS`, by name; each returns one number per graph):

* ``"density"``: edges / N(N-1) (:func:`ccnn.graph.density`);
* ``"mean_strength"``: mean total (in + out) strength per node (:func:`ccnn.graph.strength`);
* ``"mean_clustering"``: mean weighted clustering (Onnela; Fagiolo for a directed graph,
  :func:`ccnn.graph.clustering`);
* ``"global_efficiency"``, ``"characteristic_path_length"``: with lengths :math:`1/A_{ij}`
  (:func:`ccnn.graph.global_efficiency`, :func:`ccnn.graph.characteristic_path_length`; the
  path length is NaN for a graph without any connected pair);
* ``"modularity"``: Newman / Leicht–Newman :math:`Q` of the Louvain partition (seed 0, so
  the same weights give the same value on every rank and run;
  :func:`ccnn.graph.communities.louvain`, :func:`ccnn.graph.modularity`);
* ``"small_world_propensity"``: :func:`ccnn.graph.small_world.small_world_propensity`
  (Muldoon et al. 2016; seed 0 where it takes one);
* ``"mean_communicability"``: mean off-diagonal weighted communicability (Crofts & Higham
  2009; :func:`ccnn.graph.communication.communicability`).

A custom metric is a callable ``f(A) -> scalar`` (``A`` an ``(N, N)`` tensor as above), given
as an object or, in a YAML config, as an import path (``mypackage.metrics.spectral_radius``);
its key is the function's ``__name__``. Cost grows fast with N: density, strength and
clustering are a few matrix products; the path metrics are an O(N³) Floyd–Warshall (about a
second at N = 1000 on a CPU); Louvain runs on the CPU through networkx and is the slowest on
dense graphs (prune first). A metric that rejects a graph (a ``ValueError`` of
:mod:`ccnn.graph`) is skipped for that graph, with one warning.

**Logging.** Keys are ``<prefix>/<module name>/<metric>``, e.g.
``graph/rnn.cell.recurrent/modularity`` or ``graph/network/mean_clustering``, logged with
``pl_module.log`` at the end of every ``every_n_epochs``-th training epoch (epochs 1-based:
``every_n_epochs=5`` logs after epochs 5, 10, ...). Under DDP every rank holds the same
weights, so every rank computes the same values and logs them with ``sync_dist=False``:
no collective is involved (nothing can deadlock), the logger writes once (Lightning's loggers
write on rank 0 only), and the values are in ``trainer.callback_metrics`` on every rank (a
``ModelCheckpoint`` or ``EarlyStopping`` may monitor them). Strategies that shard parameters
(FSDP, DeepSpeed stage 3) are not supported: a rank does not hold the whole W there.

A model without any such layer logs nothing and warns once at the start of ``fit``.

Usable from any config::

    trainer:
      callbacks:
        - class_path: ccnn.callbacks.GraphMetricsCallback
          init_args:
            metrics: [density, mean_clustering, global_efficiency, modularity]
            every_n_epochs: 5
            threshold: 0.05
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from ccnn._validation import check_choice, check_int, check_names, check_probability, describe
from ccnn.graph.communities import modularity
from ccnn.graph.metrics import clustering, density, strength
from ccnn.graph.paths import characteristic_path_length, global_efficiency
from ccnn.nn.connectome_linear import ConnectomeLinear

__all__ = ["DEFAULT_METRICS", "GRAPH_METRICS", "GraphMetricsCallback", "learned_graphs"]

Metric = Callable[[Tensor], Any]


def _call_seeded(function: Callable[..., Any], adjacency: Tensor, **kwargs: Any) -> Any:
    """``function(adjacency, seed=0, ...)`` where it takes a seed (deterministic values)."""
    parameters = inspect.signature(function).parameters
    if "seed" in parameters:
        kwargs.setdefault("seed", 0)
    return function(adjacency, **kwargs)


def _optional(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported now (those functions are newer than this callback)."""
    return getattr(importlib.import_module(module), name)


def _mean_strength(adjacency: Tensor) -> Tensor:
    return strength(adjacency).mean()


def _mean_clustering(adjacency: Tensor) -> Tensor:
    return clustering(adjacency).mean()


def _modularity(adjacency: Tensor) -> Tensor:
    labels = _call_seeded(_optional("ccnn.graph.communities", "louvain"), adjacency)
    return modularity(adjacency, torch.as_tensor(labels, device=adjacency.device))


def _small_world_propensity(adjacency: Tensor) -> Tensor:
    return _call_seeded(_optional("ccnn.graph.small_world", "small_world_propensity"), adjacency)


def _mean_communicability(adjacency: Tensor) -> Tensor:
    values = _optional("ccnn.graph.communication", "communicability")(adjacency)
    n = values.shape[-1]
    if n < 2:
        return values.new_zeros(())
    off = ~torch.eye(n, dtype=torch.bool, device=values.device)
    return values[off].mean()


#: Metrics by name: ``f(A) -> scalar`` on a non-negative ``(N, N)`` matrix with a zero diagonal.
GRAPH_METRICS: dict[str, Metric] = {
    "density": density,
    "mean_strength": _mean_strength,
    "mean_clustering": _mean_clustering,
    "global_efficiency": global_efficiency,
    "characteristic_path_length": characteristic_path_length,
    "modularity": _modularity,
    "small_world_propensity": _small_world_propensity,
    "mean_communicability": _mean_communicability,
}

# The functions of ccnn.graph a metric needs beyond those imported above.
_REQUIRES: dict[str, tuple[str, str]] = {
    "modularity": ("ccnn.graph.communities", "louvain"),
    "small_world_propensity": ("ccnn.graph.small_world", "small_world_propensity"),
    "mean_communicability": ("ccnn.graph.communication", "communicability"),
}

#: Cheap enough for every epoch of a model with a few thousand units.
DEFAULT_METRICS = ("density", "mean_strength", "mean_clustering")


def _resolve_metric(metric: str | Metric) -> tuple[str, Metric]:
    """(key, function) of one entry of ``metrics=``; a bad entry raises ValueError / TypeError."""
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    if not isinstance(metric, str):
        raise TypeError(f"metrics: expected metric names or callables, got {describe(metric)}")
    if metric not in GRAPH_METRICS and "." in metric:  # an import path, e.g. from a YAML config
        module, _, name = metric.rpartition(".")
        try:
            function = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"metrics: {metric!r} is neither one of {tuple(GRAPH_METRICS)} nor an importable "
                f"function ({err})"
            ) from err
        if not callable(function):
            raise ValueError(f"metrics: {metric!r} is not callable, got {describe(function)}")
        return name, function
    check_choice(metric, "metrics", tuple(GRAPH_METRICS))
    if metric in _REQUIRES:
        module, name = _REQUIRES[metric]
        try:
            _optional(module, name)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"metrics: {metric!r} needs {module}.{name}, which this version of ccnn does not have "
                f"({type(err).__name__}: {err})"
            ) from err
    return metric, GRAPH_METRICS[metric]


def learned_graphs(module: nn.Module) -> dict[str, Callable[[], Tensor]]:
    """The learned square weight matrices of ``module`` (module docstring), by submodule name:
    each entry returns the current effective ``(N, N)`` weight (signed, diagonal kept)."""
    # DynamicsNetwork needs torch_geometric; if its module was never imported, no instance exists.
    dynamics = sys.modules.get("ccnn.nn.dynamics")
    network_type = getattr(dynamics, "DynamicsNetwork", None)
    graphs: dict[str, Callable[[], Tensor]] = {}
    for name, sub in module.named_modules():
        if isinstance(sub, ConnectomeLinear) and sub.in_features == sub.out_features:
            graphs[name or "model"] = lambda sub=sub: sub.weight
        elif network_type is not None and isinstance(sub, network_type):
            graphs[name or "model"] = sub.connectivity
    return graphs


class GraphMetricsCallback(Callback):
    r"""Logs graph metrics of a model's learned connectivity during training (module docstring).

    Args:
        metrics: names from :data:`GRAPH_METRICS`, import paths of functions, or callables
            ``f(A) -> scalar``; default :data:`DEFAULT_METRICS`.
        every_n_epochs: log after every n-th training epoch (n >= 1).
        modules: names of submodules (as in ``named_modules()``) to restrict to; a name also
            selects the graphs below it (``"rnn"`` selects ``"rnn.cell.recurrent"``). Default:
            every square ConnectomeLinear and DynamicsNetwork. A name that selects nothing
            raises ``ValueError`` at the start of ``fit``.
        threshold: prune :math:`|W_{ij}|` below this fraction of :math:`\max |W|` first (in
            [0, 1]; 0 prunes nothing).
        prefix: first part of every key.

    Raises:
        ValueError: an unknown metric name (the message lists :data:`GRAPH_METRICS`), a metric
            whose ccnn.graph function is missing, two metrics with one key, or a bad argument.
    """

    def __init__(
        self,
        metrics: Sequence[str | Callable[[Tensor], Any]] = DEFAULT_METRICS,
        every_n_epochs: int = 1,
        modules: Sequence[str] | None = None,
        threshold: float = 0.0,
        prefix: str = "graph",
    ) -> None:
        if isinstance(metrics, str) or callable(metrics):
            metrics = [metrics]
        if not isinstance(metrics, Sequence) or not metrics:
            raise ValueError(
                f"metrics: expected a non-empty list of names or callables, got {describe(metrics)}"
            )
        resolved: dict[str, Metric] = {}
        for metric in metrics:
            key, function = _resolve_metric(metric)
            if key in resolved:
                raise ValueError(f"metrics: two metrics would be logged as {key!r}; give each its own name")
            resolved[key] = function
        self.metrics = resolved
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)
        self.modules = check_names(modules, "modules")
        self.threshold = check_probability(threshold, "threshold")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix: expected a non-empty string, got {describe(prefix)}")
        self.prefix = prefix
        self._warned: set[tuple[str, str]] = set()  # (module, metric) pairs a metric rejected
        self._warned_empty = False

    # ------------------------------------------------------------------ which graphs
    def _selected(self, pl_module: nn.Module) -> dict[str, Callable[[], Tensor]]:
        graphs = learned_graphs(pl_module)
        if self.modules is None:
            return graphs
        return {
            name: weight
            for name, weight in graphs.items()
            if any(name == m or name.startswith(m + ".") for m in self.modules)
        }

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:
            # Lightning suggests sync_dist=True for every unsynced epoch-level value; ours are
            # equal on every rank, so the advice (and its collective) does not apply.
            warnings.filterwarnings(
                "ignore", message=rf"It is recommended to use `self\.log\('{re.escape(self.prefix)}/"
            )
        graphs = learned_graphs(pl_module)
        for selected in self.modules or ():
            if not any(name == selected or name.startswith(selected + ".") for name in graphs):
                raise ValueError(
                    f"modules: {selected!r} selects no square ConnectomeLinear or DynamicsNetwork; "
                    f"the model has {sorted(graphs) or 'none'}"
                )
        if not graphs and not self._warned_empty:
            self._warned_empty = True
            rank_zero_warn(
                f"GraphMetricsCallback: {type(pl_module).__name__} has no square ConnectomeLinear or "
                "DynamicsNetwork; no graph metrics will be logged"
            )

    # ------------------------------------------------------------------ computing and logging
    def adjacency(self, weight: Tensor) -> Tensor:
        """The matrix the metrics see: ``|W|``, zero diagonal, pruned below ``threshold`` · max."""
        adj = weight.detach().abs()
        if adj.dtype not in (torch.float32, torch.float64):
            adj = adj.float()
        adj = adj.masked_fill(torch.eye(adj.shape[-1], dtype=torch.bool, device=adj.device), 0)
        if self.threshold > 0:
            peak = adj.amax()
            adj = torch.where(adj >= self.threshold * peak, adj, torch.zeros_like(adj))
        return adj

    @torch.no_grad()
    def compute(self, pl_module: nn.Module) -> dict[str, Tensor]:
        """Every selected graph's metrics, ``{"<prefix>/<module>/<metric>": scalar tensor}``."""
        values: dict[str, Tensor] = {}
        for name, weight in self._selected(pl_module).items():
            adj = self.adjacency(weight())
            for key, function in self.metrics.items():
                try:
                    value = function(adj)
                except ValueError as err:  # ccnn.graph's verdict on this graph: skip it, say so once
                    if (name, key) not in self._warned:
                        self._warned.add((name, key))
                        rank_zero_warn(f"GraphMetricsCallback: {key} of {name} skipped: {err}")
                    continue
                value = torch.as_tensor(value, dtype=adj.dtype, device=adj.device)
                if value.numel() != 1:
                    raise ValueError(
                        f"metrics: {key!r} must return one number per graph, got shape {tuple(value.shape)}"
                    )
                values[f"{self.prefix}/{name}/{key}"] = value.reshape(())
        return values

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        for key, value in self.compute(pl_module).items():
            # Same weights on every rank, so the same values: no sync, no collective.
            pl_module.log(key, value, on_step=False, on_epoch=True, sync_dist=False, logger=True)

    def __repr__(self) -> str:
        threshold = f", threshold={self.threshold:g}" if self.threshold else ""
        modules = f", modules={self.modules}" if self.modules is not None else ""
        return (
            f"{type(self).__name__}(metrics={list(self.metrics)}, every_n_epochs={self.every_n_epochs}"
            f"{modules}{threshold})"
        )
