"""The dynamics GNN (Allier et al. 2026): learn W, neuron types, φ, ψ and Ω from activity.

- :mod:`.module`: the LightningModule :class:`DynamicsGNN` (training steps, optimisers);
- :mod:`.start`: the closed-form start loaded into the network;
- :mod:`.solvers`: the closed-form solvers (library, spline and stimulus regressions);
- :mod:`.evaluation`: metrics against the recording and its ground truth, exports, figures;
- :mod:`.training`: the resident engine of the paper's route (frames on the device, k Adam
  steps per trainer step, compiled loss).
"""

from ccnn.models.dynamics_gnn.module import (
    EXPORT_FILES,
    FIGURE_NAMES,
    FIT_QUALITY_R2,
    HELD_OUT_FRAMES,
    PAPER_LR,
    REFINE_LR,
    TYPE_TABLE_COLUMNS,
    DynamicsGNN,
    Schedule,
)

__all__ = [
    "EXPORT_FILES",
    "FIGURE_NAMES",
    "FIT_QUALITY_R2",
    "HELD_OUT_FRAMES",
    "PAPER_LR",
    "REFINE_LR",
    "TYPE_TABLE_COLUMNS",
    "DynamicsGNN",
    "Schedule",
]
