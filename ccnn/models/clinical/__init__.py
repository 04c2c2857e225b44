"""Clinical prediction from small connectome cohorts under nested cross-validation.

* :mod:`~ccnn.models.clinical.baselines`: edge features and the tangent-space embedding
  (scikit-learn transformers of connectivity matrices (S, N, N));
* :mod:`~ccnn.models.clinical.graph_classifier`: :class:`~ccnn.models.ConnectomeGNN` as a
  scikit-learn classifier of the same matrices;
* :mod:`~ccnn.models.clinical.nested_cv`: nested cross-validation (hyper-parameters chosen
  on inner folds only, repeated outer splits) and a permutation test of its score.

``benchmarks/clinical_prediction.py`` runs them on ``adhd_frontal``.
"""

from ccnn.models.clinical.baselines import (
    EdgeFeatures,
    TangentSpace,
    edge_features,
    nearest_spd_correlation,
    symmetric_to_vector,
)
from ccnn.models.clinical.graph_classifier import ConnectomeGNNClassifier
from ccnn.models.clinical.nested_cv import (
    NestedCVResult,
    PermutationResult,
    nested_cross_validate,
    permutation_test,
)

__all__ = [
    "ConnectomeGNNClassifier",
    "EdgeFeatures",
    "NestedCVResult",
    "PermutationResult",
    "TangentSpace",
    "edge_features",
    "nearest_spd_correlation",
    "nested_cross_validate",
    "permutation_test",
    "symmetric_to_vector",
]
