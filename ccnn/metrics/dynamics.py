"""Metrics of recovered dynamics: connectivity, neuron types and rollouts.

All are :class:`torchmetrics.Metric` objects whose states are sums, so that under DDP the
ranks' states are added before ``compute()``: R² and accuracies are computed once from
the pooled statistics, never averaged across ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ["ConnectivityR2", "RolloutR2", "TypeAccuracy", "horizon_below", "r2_by_horizon"]


class ConnectivityR2(Metric):
    r"""R² and slope of a linear fit of learned against true connectivity, over all entries.

    With :math:`x` the true and :math:`y` the learned weights,

    .. math::
        \text{slope} = \frac{\operatorname{cov}(x, y)}{\operatorname{var}(x)}, \qquad
        R^2 = \frac{\operatorname{cov}(x, y)^2}{\operatorname{var}(x)\operatorname{var}(y)}

    (the coefficient of determination of that fit). W is identifiable only up to the scale
    of ψ, so normalise ψ before comparing slopes (Allier et al. 2026). ``compute()`` returns
    ``{"r2": ..., "slope": ...}``.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name in ("n", "sx", "sy", "sxx", "syy", "sxy"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, learned: Tensor, true: Tensor) -> None:
        if learned.shape != true.shape:
            raise ValueError(
                f"learned: expected the shape of true {tuple(true.shape)}, got {tuple(learned.shape)}"
            )
        y, x = learned.detach().double().flatten(), true.detach().double().flatten()
        self.n += x.numel()
        self.sx += x.sum()
        self.sy += y.sum()
        self.sxx += (x * x).sum()
        self.syy += (y * y).sum()
        self.sxy += (x * y).sum()

    def compute(self) -> dict[str, Tensor]:
        cov = self.sxy / self.n - (self.sx / self.n) * (self.sy / self.n)
        var_x = self.sxx / self.n - (self.sx / self.n) ** 2
        var_y = self.syy / self.n - (self.sy / self.n) ** 2
        return {"r2": cov**2 / (var_x * var_y), "slope": cov / var_x}


class TypeAccuracy(Metric):
    """Accuracy of recovered neuron types: each cluster is mapped to its most common true type.

    ``update(clusters, types)`` takes one integer label per neuron; the counts of
    (cluster, type) pairs are summed, and the accuracy is the fraction of neurons whose
    cluster's majority type is their own type. More clusters than types can only help
    this score, so report the number of clusters beside it.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_clusters: int, num_types: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_clusters < 1 or num_types < 1:
            raise ValueError(
                f"num_clusters, num_types: expected positive ints, got {num_clusters}, {num_types}"
            )
        self.num_clusters, self.num_types = num_clusters, num_types
        self.add_state("counts", torch.zeros(num_clusters, num_types, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, clusters: Tensor, types: Tensor) -> None:
        clusters, types = clusters.long().flatten(), types.long().flatten()
        if clusters.shape != types.shape:
            raise ValueError(
                f"clusters: expected {types.numel()} labels (one per neuron), got {clusters.numel()}"
            )
        for name, labels, size in (
            ("clusters", clusters, self.num_clusters),
            ("types", types, self.num_types),
        ):
            if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= size):
                raise ValueError(
                    f"{name}: expected labels in [0, {size - 1}], got values up to {int(labels.max())}"
                )
        flat = clusters * self.num_types + types
        self.counts += torch.bincount(flat, minlength=self.num_clusters * self.num_types).view_as(self.counts)

    def compute(self) -> Tensor:
        return self.counts.max(1).values.sum() / self.counts.sum()


def _check_trajectories(predicted: Tensor, true: Tensor) -> None:
    if predicted.shape != true.shape or predicted.dim() != 2:
        expected, got = tuple(true.shape), tuple(predicted.shape)
        raise ValueError(f"predicted: expected the (steps, N) shape of true {expected}, got {got}")


def r2_by_horizon(predicted: Tensor, true: Tensor) -> Tensor:
    r"""R² across neurons at every step of a rollout: (S, N) and (S, N) → (S,).

    .. math:: R^2_t = 1 - \frac{\sum_i (\hat x_{t,i} - x_{t,i})^2}{\sum_i (x_{t,i} - \bar x_t)^2}
    """
    _check_trajectories(predicted, true)
    residual = (predicted - true).pow(2).sum(1)
    total = (true - true.mean(1, keepdim=True)).pow(2).sum(1)
    return 1 - residual / total


def horizon_below(r2: Tensor, threshold: float = 0.9) -> int | None:
    """First step at which an R²-by-horizon curve drops below ``threshold`` (None if never)."""
    below = (r2 < threshold).nonzero()
    return int(below[0]) if len(below) else None


class RolloutR2(Metric):
    """R² across neurons of rolled-out against true activity at given horizons (steps).

    ``update(predicted, true)`` takes (S + 1, N) trajectories starting at the same state
    (step 0); several rollouts (or DDP ranks) pool their sums per horizon. ``compute()``
    returns a tensor with one R² per horizon, in the order given.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, horizons: Sequence[int] = (400, 800), **kwargs) -> None:
        super().__init__(**kwargs)
        if not horizons or any(h < 0 for h in horizons):
            raise ValueError(f"horizons: expected non-negative steps, got {horizons}")
        self.horizons = list(horizons)
        for name in ("residual", "sum", "sum_sq", "count"):
            self.add_state(name, torch.zeros(len(self.horizons), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predicted: Tensor, true: Tensor) -> None:
        _check_trajectories(predicted, true)
        if max(self.horizons) >= true.shape[0]:
            raise ValueError(
                f"true: expected at least {max(self.horizons) + 1} steps for horizons {self.horizons}, "
                f"got {true.shape[0]}"
            )
        index = torch.tensor(self.horizons, device=true.device)
        p, t = predicted.detach()[index].double(), true.detach()[index].double()
        self.residual += (p - t).pow(2).sum(1)
        self.sum += t.sum(1)
        self.sum_sq += t.pow(2).sum(1)
        self.count += t.shape[1]

    def compute(self) -> Tensor:
        total = self.sum_sq - self.sum**2 / self.count
        return 1 - self.residual / total
