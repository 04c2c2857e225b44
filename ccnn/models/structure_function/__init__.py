"""Structure → function: predicting functional connectivity (FC) from structural connectivity (SC).

* :mod:`~ccnn.models.structure_function.evaluation` -- :func:`fc_similarity`,
  :func:`upper_triangle`, :func:`zalesky_report` (group / individual r, the group-average
  template benchmark, identifiability).
"""

from ccnn.models.structure_function.evaluation import (
    fc_similarity,
    fc_similarity_matrix,
    upper_triangle,
    zalesky_report,
)

__all__ = ["fc_similarity", "fc_similarity_matrix", "upper_triangle", "zalesky_report"]
