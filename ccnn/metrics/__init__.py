"""torchmetrics metrics (pooled sums, so DDP computes them once from all ranks' data)."""

from ccnn.metrics.dynamics import ConnectivityR2, RolloutR2, TypeAccuracy, horizon_below, r2_by_horizon

__all__ = ["ConnectivityR2", "RolloutR2", "TypeAccuracy", "horizon_below", "r2_by_horizon"]
