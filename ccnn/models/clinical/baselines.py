r"""Classical connectome features for clinical prediction: edges and the tangent-space embedding.

Both are scikit-learn transformers of a stack of connectivity matrices ``X`` (S, N, N), so
that a pipeline such as ``make_pipeline(TangentSpace(), StandardScaler(), LogisticRegression())``
takes the same input as the graph models and is fitted inside each training fold only.

* :class:`EdgeFeatures` / :func:`edge_features`: the strict upper triangle, one column per
  edge :math:`w_{ij}, i < j` (N(N−1)/2 columns), in the order of ``np.triu_indices(N, 1)``.
* :class:`TangentSpace`: each subject's matrix made a symmetric positive definite (SPD)
  correlation matrix :math:`C_s` (:func:`nearest_spd_correlation`), whitened by a reference
  :math:`\bar C` of the *training* subjects and mapped to the tangent space at :math:`\bar C`,

  .. math::
      T_s = \log\big(\bar C^{-1/2} C_s \bar C^{-1/2}\big),

  then vectorised as the upper triangle with the diagonal and the off-diagonals × √2
  (so that the Euclidean norm of the vector is the Frobenius norm of :math:`T_s`). The
  reference is the geometric (affine-invariant Riemannian, Karcher) mean or the
  log-Euclidean mean :math:`\exp(\frac1S \sum_s \log C_s)`. The embedding of the reference
  itself is 0. Varoquaux, Baronnet, Kleinschmidt, Fillard & Thirion, "Detection of brain
  functional-connectivity difference in post-stroke patients using group-level covariance
  modeling", MICCAI 2010; Dadi et al., "Benchmarking functional connectome-based predictive
  models for resting-state fMRI", NeuroImage 192 (2019), who found it the best
  connectivity representation for prediction.

nilearn's ``ConnectivityMeasure(kind="tangent")`` estimates the covariances from time series
itself; nilearn 0.14 has no public function that maps given covariance or correlation
matrices to the tangent space, hence this implementation (numpy eigendecompositions).

Making the matrices SPD: a functional connectome given as correlations (zero diagonal,
perhaps perturbed or Fisher-z transformed, as ``adhd_frontal`` is: entries up to 2.45 and
negative eigenvalues) is not a correlation matrix. :func:`nearest_spd_correlation` puts 1 on
the diagonal, shrinks toward the identity, :math:`(1 - \alpha) C + \alpha I`, clips the
eigenvalues at ``min_eigenvalue`` and rescales to a unit diagonal again
(:math:`D^{-1/2} C D^{-1/2}`, which keeps it SPD). One shrinkage :math:`\alpha` for every
subject (a hyper-parameter, chosen on inner folds like any other) rather than the smallest
per-subject :math:`\alpha` that makes each matrix SPD, which would scale the subjects
differently; the clipping then only touches subjects that the shrinkage left indefinite.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ccnn._validation import check_choice, check_probability, check_real, describe

__all__ = [
    "EdgeFeatures",
    "TangentSpace",
    "check_connectomes",
    "edge_features",
    "nearest_spd_correlation",
    "symmetric_to_vector",
]

#: Values accepted by ``TangentSpace(mean=...)``.
MEANS = ("geometric", "log_euclidean")


def check_connectomes(weights: Any, name: str = "X") -> np.ndarray:
    """``weights`` as a float64 array (S, N, N) of finite square matrices, or raise naming ``name``."""
    try:
        array = np.asarray(
            weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float64
        )
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name}: expected an array of connectivity matrices, got {describe(weights)}"
        ) from error
    if array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"{name}: expected shape (subjects, N, N), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite values, got {int((~np.isfinite(array)).sum())} NaN/inf")
    return array


def edge_features(weights: Any) -> np.ndarray:
    """The strict upper triangle of each matrix: (S, N, N) → (S, N(N−1)/2), float64.

    Row by row, in the order of ``np.triu_indices(N, 1)``
    (:func:`ccnn.models.structure_function.evaluation.upper_triangle`).
    """
    from ccnn.models.structure_function.evaluation import upper_triangle

    return upper_triangle(check_connectomes(weights, "weights")).numpy()


def symmetric_to_vector(matrices: np.ndarray) -> np.ndarray:
    r"""Upper triangle with the diagonal, off-diagonals × √2: (…, N, N) → (…, N(N+1)/2).

    :math:`\|v(T)\|_2 = \|T\|_F` for symmetric :math:`T` (the layout of nilearn's
    ``sym_matrix_to_vec``).
    """
    n = matrices.shape[-1]
    rows, cols = np.triu_indices(n)
    scale = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return matrices[..., rows, cols] * scale


def _eigen_map(matrices: np.ndarray, function: Any) -> np.ndarray:
    """``function`` applied to the eigenvalues of symmetric matrices (…, N, N)."""
    values, vectors = np.linalg.eigh(matrices)
    return (vectors * function(values)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def nearest_spd_correlation(weights: Any, shrinkage: float = 0.0, min_eigenvalue: float = 1e-3) -> np.ndarray:
    r"""SPD correlation matrices from connectivity matrices (module docstring).

    Unit diagonal, :math:`(1 - \alpha) C + \alpha I` with :math:`\alpha` = ``shrinkage``,
    eigenvalues clipped at ``min_eigenvalue``, unit diagonal again. SPD input with
    ``shrinkage=0`` and eigenvalues above ``min_eigenvalue`` comes back unchanged (up to its
    diagonal, which becomes 1).

    Shapes:
        (S, N, N) → (S, N, N), float64.
    """
    matrices = check_connectomes(weights, "weights").copy()
    check_probability(shrinkage, "shrinkage")
    check_real(min_eigenvalue, "min_eigenvalue", positive=True)
    matrices = (matrices + np.swapaxes(matrices, -1, -2)) / 2
    n = matrices.shape[-1]
    matrices[:, np.arange(n), np.arange(n)] = 1.0
    matrices = (1 - shrinkage) * matrices + shrinkage * np.eye(n)
    matrices = _eigen_map(matrices, lambda values: np.maximum(values, min_eigenvalue))
    scale = 1 / np.sqrt(np.diagonal(matrices, axis1=-2, axis2=-1))
    matrices = matrices * scale[:, :, None] * scale[:, None, :]
    return (matrices + np.swapaxes(matrices, -1, -2)) / 2


def geometric_mean(matrices: np.ndarray, *, max_iter: int = 100, tol: float = 1e-7) -> np.ndarray:
    r"""Affine-invariant Riemannian (Karcher) mean of SPD matrices (S, N, N) → (N, N).

    Fixed-point iteration from the log-Euclidean mean,
    :math:`G \leftarrow G^{1/2} \exp\big(\frac1S \sum_s \log(G^{-1/2} C_s G^{-1/2})\big) G^{1/2}`,
    until the Frobenius norm of the mean tangent vector is below ``tol`` (Pennec, Fillard &
    Ayache, IJCV 2006; Fletcher & Joshi 2007).
    """
    mean = _eigen_map(_eigen_map(matrices, np.log).mean(0), np.exp)
    for _ in range(max_iter):
        root = _eigen_map(mean, np.sqrt)
        inverse_root = _eigen_map(mean, lambda v: 1 / np.sqrt(v))
        step = _eigen_map(inverse_root @ matrices @ inverse_root, np.log).mean(0)
        mean = root @ _eigen_map(step, np.exp) @ root
        mean = (mean + mean.T) / 2
        if np.linalg.norm(step) < tol:
            break
    return mean


class EdgeFeatures(TransformerMixin, BaseEstimator):
    """Scikit-learn transformer: connectivity matrices (S, N, N) → their edges (S, N(N−1)/2).

    Stateless (:func:`edge_features`); a transformer so that pipelines of edge models take
    the same ``X`` as :class:`TangentSpace` and the graph models.
    """

    def fit(self, X: Any, y: Any = None) -> EdgeFeatures:
        self.n_nodes_ = check_connectomes(X).shape[-1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_nodes_")
        return edge_features(X)


class TangentSpace(TransformerMixin, BaseEstimator):
    r"""Scikit-learn transformer: the tangent-space embedding of connectivity matrices (module docstring).

    ``fit`` makes the training matrices SPD correlations (:func:`nearest_spd_correlation`)
    and stores their mean ``reference_`` (N, N) and its inverse square root ``whitening_``;
    ``transform`` maps each matrix :math:`C` to
    :math:`v\big(\log(\bar C^{-1/2} C \bar C^{-1/2})\big)` (:func:`symmetric_to_vector`).

    Args:
        shrinkage: :math:`\alpha` of the shrinkage toward the identity, in [0, 1].
        min_eigenvalue: the floor of the eigenvalues after shrinkage (> 0).
        mean: ``"geometric"`` (the Karcher mean, as nilearn) or ``"log_euclidean"``.

    Shapes:
        X (S, N, N) → (S, N(N+1)/2).
    """

    def __init__(
        self,
        shrinkage: float = 0.0,
        min_eigenvalue: float = 1e-3,
        mean: Literal["geometric", "log_euclidean"] = "geometric",
    ) -> None:
        self.shrinkage = shrinkage
        self.min_eigenvalue = min_eigenvalue
        self.mean = mean

    def _spd(self, X: Any) -> np.ndarray:
        return nearest_spd_correlation(check_connectomes(X, "X"), self.shrinkage, self.min_eigenvalue)

    def fit(self, X: Any, y: Any = None) -> TangentSpace:
        check_choice(self.mean, "mean", MEANS)
        matrices = self._spd(X)
        if self.mean == "geometric":
            reference = geometric_mean(matrices)
        else:
            reference = _eigen_map(_eigen_map(matrices, np.log).mean(0), np.exp)
        self.reference_ = reference
        self.whitening_ = _eigen_map(reference, lambda v: 1 / np.sqrt(v))
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "whitening_")
        matrices = self._spd(X)
        if matrices.shape[-1] != self.reference_.shape[-1]:
            raise ValueError(
                f"X: expected matrices of {self.reference_.shape[-1]} nodes, as in fit, "
                f"got {matrices.shape[-1]}"
            )
        whitened = self.whitening_ @ matrices @ self.whitening_
        return symmetric_to_vector(_eigen_map((whitened + np.swapaxes(whitened, -1, -2)) / 2, np.log))
