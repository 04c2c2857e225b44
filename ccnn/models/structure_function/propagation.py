r"""Which neurons respond to which: predicting a signal-propagation atlas from the connectome.

Randi et al. 2023 stimulated single C. elegans neurons and recorded the others
(:func:`ccnn.data.load_signal_propagation_atlas`). The question here is how much of that
functional map the anatomical wiring predicts: for every tested pair (``i`` responds, ``j`` is
stimulated), a score from the connectome that should be high when ``q_ij < 0.05``. Scores are
compared by AUROC over the tested pairs.

Baselines with no fitting:

* **direct anatomy**: the synapse count (chemical + gap junction) from ``j`` onto ``i``;
* **the resolvent** (multi-hop propagation through a linear network; Randi et al.'s
  anatomical prediction):

  .. math::
      R(\alpha) = \bigl(I - \alpha\,A / \rho(A)\bigr)^{-1} = \sum_{k \ge 0} \alpha^k (A/\rho(A))^k,

  with :math:`A` the binary connectome and :math:`\rho` its spectral radius, so that
  :math:`0 < \alpha < 1` weighs walks of length :math:`k` by :math:`\alpha^k`.

The learned model, :class:`SignalPropagationPredictor`, is a classifier (gradient-boosted trees
or logistic regression, from scikit-learn) over features computed from the connectome alone
(:func:`propagation_features`): direct and reverse chemical synapses and gap junctions, two-
and three-step walk counts by synapse class, shared inputs and outputs, the resolvent at three
:math:`\alpha`, and per-neuron in / out / gap-junction degrees and any node attributes (cell
class, transmitter sign) of the responding and of the stimulated neuron. It is fitted on the
labels of some pairs and scores others: :func:`cross_validate_propagation` holds out whole
stimulated neurons (or responding neurons), so no column's answer is seen in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_choice, check_int, check_shape, describe

__all__ = [
    "CLASSIFIERS",
    "GROUPS",
    "SignalPropagationPredictor",
    "cross_validate_propagation",
    "propagation_features",
    "resolvent",
]

#: Classifiers of :class:`SignalPropagationPredictor`.
CLASSIFIERS = ("boosting", "logistic")
#: What :func:`cross_validate_propagation` holds out together.
GROUPS = ("stimulated", "responding")
#: The α of the resolvent features.
RESOLVENT_ALPHAS = (0.1, 0.5, 0.9)


def _square(matrix: Any, name: str) -> Tensor:
    tensor = as_tensor(matrix, name, dtype=torch.float64)
    check_shape(tensor, (None, None), name, meaning="(neurons, neurons)")
    if tensor.shape[0] != tensor.shape[1]:
        raise ValueError(f"{name}: expected a square (N, N) matrix, got shape {tuple(tensor.shape)}")
    return tensor


def resolvent(adjacency: Any, alpha: float = 0.1) -> Tensor:
    r""":math:`(I - \alpha A / \rho(A))^{-1}`: walks of every length, length ``k`` weighted by αᵏ.

    Args:
        adjacency: ``(N, N)`` connectome, ``A[i, j]`` = ``j`` → ``i``.
        alpha: in (0, 1); the series converges because :math:`\rho(\alpha A / \rho(A)) = \alpha`.

    Returns:
        ``(N, N)`` float64, ``R[i, j]`` the propagation from ``j`` to ``i``.
    """
    a = _square(adjacency, "adjacency")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a float in (0, 1), got {describe(alpha)}")
    radius = torch.linalg.eigvals(a).abs().max()
    eye = torch.eye(len(a), dtype=a.dtype, device=a.device)
    if radius == 0:  # no cycles (A nilpotent): the series is finite; use A unscaled
        radius = torch.ones((), dtype=a.dtype, device=a.device)
    return torch.linalg.solve(eye - alpha * a / radius, eye)


def propagation_features(
    chemical: Any,
    gap_junctions: Any | None = None,
    node_features: Any | None = None,
    node_feature_names: list[str] | None = None,
) -> tuple[Tensor, list[str]]:
    """Features of every ordered pair (``i`` responds, ``j`` stimulated), from the connectome only.

    Args:
        chemical: ``(N, N)`` chemical synapses, ``chemical[i, j]`` = ``j`` → ``i`` (≥ 0).
        gap_junctions: ``(N, N)`` gap junctions (symmetric), or None.
        node_features: ``(N, K)`` per-neuron attributes (e.g. one-hot cell class, transmitter
            sign), added once for the responding and once for the stimulated neuron; or None.
        node_feature_names: ``K`` names of those attributes (default ``node_0`` …).

    Returns:
        ``(features, names)``: ``(N, N, F)`` float64 and the ``F`` feature names. Synapse
        counts and walk counts enter as ``log(1 + x)``; resolvents as ``log |R|``.
    """
    chem = _square(chemical, "chemical")
    n = len(chem)
    gap = torch.zeros_like(chem) if gap_junctions is None else _square(gap_junctions, "gap_junctions")
    if gap.shape != chem.shape:
        raise ValueError(
            f"gap_junctions: expected shape {tuple(chem.shape)} like chemical, got {tuple(gap.shape)}"
        )
    if bool((chem < 0).any()) or bool((gap < 0).any()):
        raise ValueError("chemical, gap_junctions: expected synapse counts >= 0, got negative entries")
    c, g = (chem > 0).double(), (gap > 0).double()
    a = ((chem + gap) > 0).double()
    chemical_2 = c @ c
    pair = {
        "chemical": torch.log1p(chem),
        "chemical_reverse": torch.log1p(chem.T),
        "gap_junctions": torch.log1p(gap),
        "walks_chemical_2": torch.log1p(chemical_2),
        "walks_chemical_2_reverse": torch.log1p(chemical_2.T),
        "walks_gap_2": torch.log1p(g @ g),
        "walks_chemical_gap": torch.log1p(c @ g),
        "walks_gap_chemical": torch.log1p(g @ c),
        "walks_3": torch.log1p(a @ a @ a),
        "shared_inputs": torch.log1p(a @ a.T),
        "shared_outputs": torch.log1p(a.T @ a),
    }
    for alpha in RESOLVENT_ALPHAS:
        pair[f"resolvent_{alpha}"] = torch.log(resolvent(a, alpha).abs() + 1e-9)
    node = {
        "in_degree": torch.log1p(c.sum(1)),
        "out_degree": torch.log1p(c.sum(0)),
        "gap_degree": torch.log1p(g.sum(1)),
    }
    columns = [torch.stack(list(node.values()), 1)]
    names = list(node)
    if node_features is not None:
        extra = as_tensor(node_features, "node_features", dtype=torch.float64)
        if extra.ndim == 1:
            extra = extra[:, None]
        check_shape(extra, (n, None), "node_features", meaning="(neurons, attributes)")
        columns.append(extra)
        if node_feature_names is None:
            node_feature_names = [f"node_{k}" for k in range(extra.shape[1])]
        if len(node_feature_names) != extra.shape[1]:
            raise ValueError(
                f"node_feature_names: expected {extra.shape[1]} names (one per column of node_features), "
                f"got {len(node_feature_names)}"
            )
        names += list(node_feature_names)
    per_node = torch.cat(columns, 1)  # (N, K')
    responding = per_node[:, None, :].expand(n, n, -1)
    stimulated = per_node[None, :, :].expand(n, n, -1)
    features = torch.cat([torch.stack(list(pair.values()), -1), responding, stimulated], -1)
    names = list(pair) + [f"responding_{m}" for m in names] + [f"stimulated_{m}" for m in names]
    return features, names


def _pairs(pairs: Any, n: int) -> Tensor:
    index = as_tensor(pairs, "pairs", dtype=torch.long)
    check_shape(index, (2, None), "pairs", meaning="(2, P): responding and stimulated neuron")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
        raise ValueError(
            f"pairs: expected neuron indices in [0, {n}), got {int(index.min())}..{int(index.max())}"
        )
    return index


class SignalPropagationPredictor:
    """A classifier of functional connection from :func:`propagation_features` (module docstring).

    Args:
        classifier: ``"boosting"`` (scikit-learn's ``HistGradientBoostingClassifier``: 200
            trees of 15 leaves, learning rate 0.05) or ``"logistic"`` (standardised features,
            L2-regularised logistic regression).
        seed: the boosting's random state.

    Example:
        >>> chemical = (torch.rand(30, 30, generator=torch.Generator().manual_seed(0)) < 0.2).double()
        >>> features, names = propagation_features(chemical)
        >>> pairs = torch.cartesian_prod(torch.arange(30), torch.arange(30)).T  # (2, 900)
        >>> labels = chemical[pairs[0], pairs[1]] > 0  # here: connected where a synapse is
        >>> model = SignalPropagationPredictor("logistic").fit(features, pairs, labels)
        >>> model.predict(features, pairs[:, :3]).shape  # P(connected) per pair
        torch.Size([3])
    """

    def __init__(self, classifier: str = "boosting", seed: int = 0) -> None:
        self.classifier = check_choice(classifier, "classifier", CLASSIFIERS)
        self.seed = check_int(seed, "seed", minimum=0)
        self.model: Any = None

    def _new_model(self) -> Any:
        if self.classifier == "boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            return HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=self.seed
            )
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    @staticmethod
    def _rows(features: Tensor, pairs: Any) -> np.ndarray:
        check_shape(features, (None, None, None), "features", meaning="(N, N, F)")
        index = _pairs(pairs, features.shape[0])
        return features[index[0], index[1]].cpu().numpy()

    def fit(self, features: Tensor, pairs: Any, labels: Any) -> SignalPropagationPredictor:
        """Fit on ``pairs`` (``(2, P)``: responding, stimulated) with bool ``labels`` (P,)."""
        x = self._rows(features, pairs)
        y = as_tensor(labels, "labels").bool().cpu().numpy()
        if y.shape != (len(x),):
            raise ValueError(f"labels: expected shape ({len(x)},), one per pair, got {tuple(y.shape)}")
        if y.all() or not y.any():
            raise ValueError("labels: expected both connected and unconnected pairs, got one class only")
        self.model = self._new_model().fit(x, y)
        return self

    def predict(self, features: Tensor, pairs: Any) -> Tensor:
        """Probability of a functional connection, ``(P,)`` float64."""
        if self.model is None:
            raise RuntimeError("SignalPropagationPredictor: call fit() before predict()")
        return torch.from_numpy(
            self.model.predict_proba(self._rows(features, pairs))[:, 1].astype(np.float64)
        )

    def __repr__(self) -> str:
        return f"SignalPropagationPredictor(classifier={self.classifier!r}, seed={self.seed})"


def cross_validate_propagation(
    features: Tensor,
    tested: Any,
    connected: Any,
    *,
    folds: int = 5,
    group: str = "stimulated",
    classifier: str = "boosting",
    seed: int = 0,
) -> Tensor:
    """Out-of-fold scores of every tested pair, whole neurons held out per fold.

    The neurons (stimulated ones, or responding ones with ``group="responding"``) are shuffled
    with ``seed`` and dealt into ``folds`` groups; each fold's pairs are scored by a
    :class:`SignalPropagationPredictor` fitted on the pairs of the other folds.

    Args:
        features: ``(N, N, F)`` from :func:`propagation_features`.
        tested: ``(N, N)`` bool, the pairs with a measurement.
        connected: ``(N, N)`` bool, the functionally connected pairs (a subset of ``tested``).

    Returns:
        ``(N, N)`` float64 scores, NaN where not tested.
    """
    group = check_choice(group, "group", GROUPS)
    folds = check_int(folds, "folds", minimum=2)
    n = features.shape[0]
    tested = as_tensor(tested, "tested").bool()
    connected = as_tensor(connected, "connected").bool()
    for name, mask in (("tested", tested), ("connected", connected)):
        check_shape(mask, (n, n), name, meaning="(N, N) like features")
    held_out_by = 1 if group == "stimulated" else 0
    pairs = torch.nonzero(tested).T  # (2, P)
    groups_present = torch.unique(pairs[held_out_by])
    if len(groups_present) < folds:
        raise ValueError(f"folds: expected at most {len(groups_present)} (the {group} neurons), got {folds}")
    generator = torch.Generator().manual_seed(seed)
    order = groups_present[torch.randperm(len(groups_present), generator=generator)]
    fold_of = torch.full((n,), -1, dtype=torch.long)
    fold_of[order] = torch.arange(len(order)) % folds
    scores = torch.full((n, n), float("nan"), dtype=torch.float64)
    labels = connected[pairs[0], pairs[1]]
    for fold in range(folds):
        held_out = fold_of[pairs[held_out_by]] == fold
        model = SignalPropagationPredictor(classifier, seed=seed)
        model.fit(features, pairs[:, ~held_out], labels[~held_out])
        test = pairs[:, held_out]
        scores[test[0], test[1]] = model.predict(features, test)
    return scores
