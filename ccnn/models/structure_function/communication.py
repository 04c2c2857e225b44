r"""Communication baselines of structure → function: FC regressed on SC-derived communication matrices.

Each subject's structural connectivity :math:`W` (symmetric, non-negative, ``(N, N)``) gives
a stack of ``(N, N)`` predictor matrices (:func:`communication_features`); a linear regression
fitted on the training subjects' upper triangles maps them to FC
(:class:`CommunicationRegression`), in the spirit of Goñi et al. ("Resting-brain functional
connectivity predicted by analytic measures of network communication", PNAS 2014), Vázquez-
Rodríguez et al. 2019 (regional multilinear models) and Seguin et al. 2018 (navigation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_nonnegative, check_real, describe
from ccnn.graph import communicability, navigation, search_information, shortest_paths
from ccnn.models.structure_function.evaluation import upper_triangle

__all__ = ["FEATURES", "CommunicationRegression", "communication_features"]

#: Names of the features of :func:`communication_features`, in order.
FEATURES = (
    "log_sc",
    "communicability",
    "search_information",
    "navigation",
    "shortest_path",
    "fibre_length",
)
#: Features that need ``distances``.
_NEED_DISTANCES = ("navigation", "fibre_length")


def _square(value: Any, name: str, n: int | None = None) -> Tensor:
    tensor = as_tensor(value, name)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name}: expected real values, got {describe(value)}")
    tensor = tensor.to(torch.float64)
    size = n if n is not None else (tensor.shape[-1] if tensor.dim() == 2 else None)
    if tensor.dim() != 2 or tensor.shape != (size, size) or tensor.shape[0] < 3:
        want = f"({n}, {n})" if n is not None else "(N, N) with N >= 3"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(tensor.shape)}")
    check_finite(tensor, name)
    check_nonnegative(tensor, name)
    if not torch.allclose(tensor, tensor.T, rtol=1e-6, atol=0.0):
        raise ValueError(
            f"{name}: expected a symmetric matrix, got one with max |M - M^T| = "
            f"{float((tensor - tensor.T).abs().max()):.3g}"
        )
    return tensor


def _finite_or_max(m: Tensor) -> Tensor:
    """Replace inf (unreachable pairs) by the largest finite value of the matrix."""
    finite = torch.isfinite(m)
    top = m[finite].max() if bool(finite.any()) else m.new_tensor(0.0)
    return torch.where(finite, m, top)


def _symmetric(m: Tensor) -> Tensor:
    """Mean of both directions of a directional measure (after :func:`_finite_or_max`)."""
    m = _finite_or_max(m)
    return (m + m.T) / 2


def communication_features(
    sc: Any, distances: Any = None, features: Sequence[str] | None = None
) -> dict[str, Tensor]:
    r"""SC-derived communication matrices, each ``(N, N)`` float64, for an undirected SC.

    With :math:`W` = ``sc`` (symmetric, non-negative; the diagonal is ignored) and lengths
    :math:`\ell_{ij} = 1 / w_{ij}` (the ``"inverse"`` rule of :func:`ccnn.graph.shortest_paths`,
    strong connections are short; :math:`\infty` where :math:`w_{ij} = 0`):

    * ``log_sc``: :math:`\log(1 + w_{ij})`;
    * ``communicability``: the weighted communicability of Crofts & Higham 2009,
      :math:`\exp(S^{-1/2} W S^{-1/2})` (:func:`ccnn.graph.communicability`);
    * ``search_information``: bits a random walker needs to follow the shortest path (Goñi
      et al. 2014; :func:`ccnn.graph.search_information`, lengths :math:`1/w`);
    * ``navigation``: path length :math:`\sum 1/w` of the greedy route of Seguin et al. 2018
      (:func:`ccnn.graph.navigation`, routing by ``distances``); only with ``distances``;
    * ``shortest_path``: shortest path length with lengths :math:`1/w`
      (:func:`ccnn.graph.shortest_paths`, ``length="inverse"``);
    * ``fibre_length``: ``distances`` itself (fibre lengths, or Euclidean distances); only with
      ``distances``.

    Search information and navigation depend on the direction even on an undirected graph
    (the walker's choices, the greedy route): they are symmetrised as the mean of both
    directions, :math:`(M + M^\top)/2`, as Goñi et al. 2014 do. Unreachable pairs
    (:math:`\infty` in search information, navigation or shortest paths)
    get the largest finite value of their matrix, so that every feature is finite; diagonals are
    set to 0 (they are never used: regressions see the strict upper triangle).

    Args:
        sc: ``(N, N)`` symmetric non-negative structural connectivity.
        distances: optional ``(N, N)`` symmetric non-negative distances between regions.
        features: names to compute (default: every one available).

    Returns:
        a dict from the names of :data:`FEATURES` (those available) to ``(N, N)`` tensors.

    Example:
        >>> sc = torch.tensor([[0.0, 2.0, 1.0], [2.0, 0.0, 0.5], [1.0, 0.5, 0.0]])
        >>> sorted(communication_features(sc))
        ['communicability', 'log_sc', 'search_information', 'shortest_path']
    """
    w = _square(sc, "sc")
    n = w.shape[0]
    w = w.fill_diagonal_(0.0)
    if not bool((w != 0).any()):
        raise ValueError("sc: expected at least one connection, got an all-zero matrix")
    names = FEATURES if features is None else _check_features(features)
    d = None if distances is None else _square(distances, "distances", n)
    if d is None:
        missing = [f for f in names if f in _NEED_DISTANCES]
        if features is not None and missing:
            raise ValueError(f"distances: expected a matrix (features {missing} need it), got None")
        names = [f for f in names if f not in _NEED_DISTANCES]
    make = {
        "log_sc": lambda: torch.log1p(w),
        "communicability": lambda: communicability(w),
        "search_information": lambda: _symmetric(search_information(w, length="inverse")),
        "navigation": lambda: _symmetric(navigation(w, d, length="inverse").path_length),
        "shortest_path": lambda: _finite_or_max(shortest_paths(w, length="inverse")),
        "fibre_length": lambda: d.clone(),
    }
    return {name: make[name]().fill_diagonal_(0.0) for name in FEATURES if name in names}


def _check_features(features: Any) -> tuple[str, ...]:
    if isinstance(features, str) or not isinstance(features, Sequence) or not features:
        raise TypeError(f"features: expected a non-empty sequence of names, got {describe(features)}")
    bad = [f for f in features if f not in FEATURES]
    if bad or len(set(features)) != len(features):
        raise ValueError(f"features: expected distinct names from {FEATURES}, got {list(features)}")
    return tuple(features)


class CommunicationRegression:
    r"""Linear (ridge) regression of FC on communication features, fitted on training subjects.

    For subject s, each feature :math:`k` (:func:`communication_features`) gives the vector
    :math:`x^{(s)}_k` of its strict upper triangle, z-scored over the :math:`N(N-1)/2` pairs
    of that subject (a constant feature becomes 0). The target is the upper triangle of FC,
    :math:`y^{(s)}`, or with ``fisher=True`` its Fisher transform :math:`\operatorname{artanh}
    (y)` (correlations clipped to :math:`\pm(1 - 10^{-7})`). The training subjects' pairs are
    stacked and

    .. math:: \hat\beta, \hat\beta_0 = \arg\min_{\beta, \beta_0}
              \sum_{s, i<j} \big(y^{(s)}_{ij} - \beta_0 - \textstyle\sum_k \beta_k
              x^{(s)}_{k,ij}\big)^2 + \alpha \lVert \beta \rVert^2

    (the intercept is not penalised; :math:`\alpha = 0` is ordinary least squares).
    :meth:`predict` returns :math:`\beta_0 + \sum_k \beta_k x_k` (through :math:`\tanh` with
    ``fisher=True``) as a symmetric ``(N, N)`` matrix with unit diagonal.

    Args:
        features: names from :data:`FEATURES` to use, or None for every one available (those
            needing ``distances`` only when :meth:`fit` gets them).
        alpha: ridge penalty, >= 0.
        fisher: regress the Fisher z of FC instead of FC.

    Attributes (after :meth:`fit`):
        coef_: ``(K,)`` float64 coefficients, in the order of ``features_``.
        intercept_: float.
        features_: the feature names used.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> sc = torch.rand(2, 6, 6, generator=g)
        >>> sc = sc + sc.mT
        >>> fc = [torch.eye(6) + 0.1 * s for s in sc]
        >>> model = CommunicationRegression().fit(sc, fc)
        >>> model.predict(sc[0]).shape
        torch.Size([6, 6])
    """

    def __init__(self, features: Sequence[str] | None = None, *, alpha: float = 1e-6, fisher: bool = False):
        if features is not None:
            features = _check_features(features)
        if not isinstance(fisher, bool):
            raise TypeError(f"fisher: expected a bool, got {describe(fisher)}")
        self.features = features
        self.alpha = check_real(alpha, "alpha", positive=False)
        self.fisher = fisher
        self.coef_: Tensor | None = None
        self.intercept_: float | None = None
        self.features_: tuple[str, ...] | None = None

    def _design(self, sc: Any, distances: Any, names: Sequence[str] | None) -> tuple[Tensor, tuple[str, ...]]:
        feats = communication_features(sc, distances, names)
        if names is None:
            names = tuple(feats)
        cols = []
        for name in names:
            x = upper_triangle(feats[name])
            sd = x.std(unbiased=False)
            cols.append((x - x.mean()) / sd if float(sd) > 0 else torch.zeros_like(x))
        return torch.stack(cols, 1), tuple(names)

    def _target(self, fc: Tensor) -> Tensor:
        y = upper_triangle(fc)
        return torch.atanh(y.clamp(-1 + 1e-7, 1 - 1e-7)) if self.fisher else y

    @staticmethod
    def _subjects(value: Any, name: str) -> list[Any]:
        if value is None:
            return []
        if getattr(value, "ndim", None) == 3:
            return list(value)
        if isinstance(value, list | tuple):
            return list(value)
        raise TypeError(
            f"{name}: expected a (S, N, N) tensor or a list of (N, N) matrices, got {describe(value)}"
        )

    def fit(self, sc: Any, fc: Any, distances: Any = None) -> CommunicationRegression:
        """Fit on training subjects: ``sc``, ``fc`` (and ``distances``) ``(S, N, N)`` or lists of
        ``(N, N)``; ``distances`` may also be one ``(N, N)`` matrix shared by every subject."""
        scs, fcs = self._subjects(sc, "sc"), self._subjects(fc, "fc")
        if not scs or len(scs) != len(fcs):
            raise ValueError(f"fc: expected one FC per SC ({len(scs)} SC), got {len(fcs)}")
        dists = self._shared(distances, len(scs))
        rows, targets, names = [], [], self.features
        for s, f, d in zip(scs, fcs, dists, strict=True):
            x, names = self._design(s, d, names)
            f = as_tensor(f, "fc").to(torch.float64)
            n = round((1 + math.sqrt(1 + 8 * x.shape[0])) / 2)
            if f.shape != (n, n):
                raise ValueError(f"fc: expected shape ({n}, {n}) to match sc, got {tuple(f.shape)}")
            check_finite(f, "fc")
            rows.append(x)
            targets.append(self._target(f))
        x, y = torch.cat(rows), torch.cat(targets)
        x_mean, y_mean = x.mean(0), y.mean()
        xc, yc = x - x_mean, y - y_mean
        gram = xc.T @ xc + self.alpha * torch.eye(x.shape[1], dtype=x.dtype)
        coef = torch.linalg.lstsq(gram, xc.T @ yc).solution
        self.coef_ = coef
        self.intercept_ = float(y_mean - x_mean @ coef)
        self.features_ = names
        return self

    @staticmethod
    def _shared(distances: Any, count: int) -> list[Any]:
        if distances is None:
            return [None] * count
        if isinstance(distances, list | tuple) or getattr(distances, "ndim", 2) == 3:
            dists = list(distances)
            if len(dists) != count:
                raise ValueError(f"distances: expected {count} matrices (one per SC), got {len(dists)}")
            return dists
        return [distances] * count

    def predict(self, sc: Any, distances: Any = None) -> Tensor:
        """Predicted FC ``(N, N)`` float64 (symmetric, unit diagonal) of one subject's SC."""
        if self.coef_ is None:
            raise RuntimeError("CommunicationRegression: call fit() before predict()")
        x, _ = self._design(sc, distances, self.features_)
        y = self.intercept_ + x @ self.coef_
        if self.fisher:
            y = torch.tanh(y)
        n = round((1 + math.sqrt(1 + 8 * x.shape[0])) / 2)
        out = torch.eye(n, dtype=torch.float64)
        rows, cols = torch.triu_indices(n, n, 1)
        out[rows, cols] = y
        out[cols, rows] = y
        return out
