r""":class:`~ccnn.models.ConnectomeGNN` as a scikit-learn classifier of connectivity matrices.

So that the graph model runs inside the same nested cross-validation as the classical
baselines (:mod:`ccnn.models.clinical.nested_cv`), :class:`ConnectomeGNNClassifier` takes
the matrices (S, N, N) and the labels, turns each subject into a PyG graph (as
:class:`~ccnn.data.connectomes.datamodule.ConnectomeDataModule` does: one edge j → i per
nonzero :math:`w_{ij}`, node features = the region's connectivity profile, the row
:math:`w_{i\cdot}`), and trains a fresh ``ConnectomeGNN`` with a plain, seeded, full-batch
Adam loop for a fixed number of epochs (no Lightning trainer: no logger, checkpoint or
progress bar, and no validation split: the nested CV's inner folds choose the
hyper-parameters instead of early stopping).

The edge weights are divided by :math:`N - 1` (``edge_scale="mean"``), so that the
unnormalised sum of :class:`~ccnn.models.connectome_gnn.EdgeWeightedConv` over a dense
connectome becomes a signed weighted mean of the neighbours, of the size of one neighbour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ccnn._validation import check_choice
from ccnn.models.clinical.baselines import check_connectomes

__all__ = ["ConnectomeGNNClassifier"]

EDGE_SCALES = ("mean", "none")


class ConnectomeGNNClassifier(ClassifierMixin, BaseEstimator):
    """Scikit-learn classifier: a :class:`~ccnn.models.ConnectomeGNN` trained on connectivity matrices.

    Args:
        conv, hidden, layers, readout, dropout, lr, weight_decay: ``ConnectomeGNN``'s
            (``readout="concat"`` gets ``n_nodes`` from the data).
        epochs: full-batch Adam steps.
        edge_scale: ``"mean"`` divides the edge weights by N − 1 (module docstring),
            ``"none"`` keeps them.
        seed: seeds the initialisation and dropout (the global torch generator is saved and
            restored, so fitting does not disturb the caller's random stream).

    ``fit(X (S, N, N), y (S,))``; ``predict_proba(X)`` (S, n_classes) in the order of
    ``classes_``; ``predict(X)`` the most probable class; ``decision_function`` the
    positive-class logit difference (binary).
    """

    def __init__(
        self,
        conv: str = "edge_weighted",
        hidden: int = 32,
        layers: int = 2,
        readout: str = "mean",
        dropout: float = 0.5,
        lr: float = 1e-2,
        weight_decay: float = 1e-3,
        epochs: int = 100,
        edge_scale: str = "mean",
        seed: int = 0,
    ) -> None:
        self.conv = conv
        self.hidden = hidden
        self.layers = layers
        self.readout = readout
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.edge_scale = edge_scale
        self.seed = seed

    def _batch(self, X: Any) -> Any:
        """One PyG ``Batch`` of the matrices X (S, N, N)."""
        from torch_geometric.data import Batch, Data

        matrices = torch.as_tensor(check_connectomes(X), dtype=torch.float32)
        n = matrices.shape[-1]
        scale = 1.0 / max(n - 1, 1) if self.edge_scale == "mean" else 1.0
        graphs = []
        for weights in matrices:
            targets, sources = weights.nonzero(as_tuple=True)  # edge j → i for w[i, j] ≠ 0
            edge_weight = weights[targets, sources] * scale
            graphs.append(
                Data(
                    x=weights.clone(),
                    edge_index=torch.stack([sources, targets]),
                    edge_attr=edge_weight.unsqueeze(-1),
                    num_nodes=n,
                )
            )
        return Batch.from_data_list(graphs)

    def fit(self, X: Any, y: Any) -> ConnectomeGNNClassifier:
        from ccnn.models.connectome_gnn import ConnectomeGNN

        check_choice(self.edge_scale, "edge_scale", EDGE_SCALES)
        matrices = check_connectomes(X)
        y = np.asarray(y)
        if len(y) != len(matrices):
            raise ValueError(f"y: expected one label per subject, {len(matrices)}, got {len(y)}")
        self.classes_, targets = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y: expected at least 2 classes, got {self.classes_.tolist()}")
        self.n_nodes_ = matrices.shape[-1]
        batch = self._batch(matrices)
        labels = torch.as_tensor(targets, dtype=torch.long)
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(self.seed)
            model = ConnectomeGNN(
                n_inputs=self.n_nodes_,
                n_classes=len(self.classes_),
                conv=self.conv,
                hidden=self.hidden,
                layers=self.layers,
                readout=self.readout,
                dropout=self.dropout,
                lr=self.lr,
                weight_decay=self.weight_decay,
                n_nodes=self.n_nodes_ if self.readout == "concat" else None,
            )
            optimiser = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            model.train()
            for _ in range(self.epochs):
                loss = F.cross_entropy(model(batch), labels)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        finally:
            torch.random.set_rng_state(state)
        model.eval()
        self.model_ = model
        return self

    def _logits(self, X: Any) -> torch.Tensor:
        check_is_fitted(self, "model_")
        matrices = check_connectomes(X)
        if matrices.shape[-1] != self.n_nodes_:
            raise ValueError(
                f"X: expected matrices of {self.n_nodes_} nodes, as in fit, got {matrices.shape[-1]}"
            )
        with torch.no_grad():
            return self.model_(self._batch(matrices)).double()

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._logits(X).softmax(-1).numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        logits = self._logits(X)
        return (logits[:, -1] - logits[:, 0]).numpy()

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self._logits(X).argmax(-1).numpy()]
