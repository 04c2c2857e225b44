"""Structure → function: predicting functional connectivity (FC) from structural connectivity (SC).

* :mod:`~ccnn.models.structure_function.evaluation` -- :func:`fc_similarity`,
  :func:`upper_triangle`, :func:`zalesky_report` (group / individual r, the group-average
  template benchmark, identifiability).
* :mod:`~ccnn.models.structure_function.communication` -- :func:`communication_features`
  (log SC, communicability, search information, navigation, shortest path, fibre length) and
  :class:`CommunicationRegression` (ridge regression of FC on them, fitted on training subjects).
* :mod:`~ccnn.models.structure_function.linear_dynamics` -- :class:`LinearDynamicsFC` (linear
  stochastic network on a :class:`~ccnn.nn.ConnectomeLinear` coupling, analytic FC fitted by
  gradient descent), :func:`solve_lyapunov`, :func:`covariance_to_correlation`.
* :mod:`~ccnn.models.structure_function.gnn` -- :class:`SCtoFCGNN` (a GCN over SC with a
  symmetric pair decoder, trained on training subjects).
* :mod:`~ccnn.models.structure_function.module` -- :class:`StructureFunctionModel` (registry
  ``sc_to_fc``): the LightningModule of the three predictors.
"""

from ccnn.models.structure_function.communication import (
    FEATURES,
    CommunicationRegression,
    communication_features,
)
from ccnn.models.structure_function.evaluation import (
    fc_similarity,
    fc_similarity_matrix,
    regional_coupling,
    upper_triangle,
    zalesky_report,
)
from ccnn.models.structure_function.gnn import SCtoFCGNN
from ccnn.models.structure_function.linear_dynamics import (
    LinearDynamicsFC,
    covariance_to_correlation,
    solve_lyapunov,
)
from ccnn.models.structure_function.module import PREDICTORS, StructureFunctionModel

__all__ = [
    "FEATURES",
    "PREDICTORS",
    "CommunicationRegression",
    "LinearDynamicsFC",
    "SCtoFCGNN",
    "StructureFunctionModel",
    "communication_features",
    "covariance_to_correlation",
    "fc_similarity",
    "fc_similarity_matrix",
    "regional_coupling",
    "solve_lyapunov",
    "upper_triangle",
    "zalesky_report",
]
