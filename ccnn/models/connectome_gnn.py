r"""A graph neural network that classifies (or regresses a score of) whole brain connectomes.

One graph per subject: the nodes are brain regions with features :math:`x_i \in \mathbb R^F`
(e.g. a row of the connectivity matrix, or region statistics), the edges carry a scalar
weight :math:`w_{ij}` (e.g. the structural or functional connectivity between regions
:math:`j` and :math:`i`), and the target is one label (or one number) per graph. This follows
the design space of BrainGB (Cui et al., "BrainGB: a benchmark for brain network analysis
with graph neural networks", IEEE TMI 2022): a message function, a stack of
message-passing layers, a pooling (readout) and an MLP head.

With :math:`h^{(0)}_i = x_i` and :math:`L` = ``layers`` layers,

.. math::
    h^{(\ell+1)} = \mathrm{Dropout}\big(\mathrm{ReLU}(\mathrm{Conv}_\ell(h^{(\ell)}, w))\big), \qquad
    z_g = \mathrm{Readout}\big(\{h^{(L)}_i : i \in g\}\big), \qquad
    \hat y_g = \mathrm{MLP}(z_g)

where ``conv`` picks :math:`\mathrm{Conv}` (:class:`EdgeWeightedConv`,
:class:`NodeEdgeConcatConv`, ``torch_geometric``'s ``GCNConv`` or ``GATConv``) and
``readout`` picks the mean, the sum, or the concatenation (in node order) of a graph's
node embeddings.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, MessagePassing, global_add_pool, global_mean_pool
from torchmetrics import MeanAbsoluteError, MetricCollection, R2Score
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from ccnn._validation import check_choice, check_int, check_real, describe

__all__ = [
    "CONVS",
    "READOUTS",
    "TASKS",
    "ConnectomeGNN",
    "EdgeWeightedConv",
    "NodeEdgeConcatConv",
    "SignedEdgeWeightedConv",
]

#: Values accepted by ``task``, ``conv`` and ``readout``.
TASKS = ("classification", "regression")
CONVS = ("edge_weighted", "signed_edge_weighted", "node_edge_concat", "gcn", "gat")
READOUTS = ("mean", "sum", "concat")


# ---------------------------------------------------------------------- layers
class EdgeWeightedConv(MessagePassing):
    r"""Edge-weighted sum of linearly transformed neighbours (BrainGB's "edge weighted" message).

    .. math::
        h'_i = \sum_{j \in \mathcal N(i)} w_{ij}\, W h_j + b

    over the edges :math:`j \to i` (``edge_index[0]`` the sources :math:`j`,
    ``edge_index[1]`` the targets :math:`i`). No self-loops are added and the sum is not
    normalised: a node without incoming edges gets :math:`b`; add self-loops to the graphs
    if a node should see its own features. On dense connectomes (a mouse region has ~220
    neighbours) the sum grows with the degree: normalise the weights first
    (``normalise:row_sum`` makes it a weighted mean), or use ``gcn``.

    Shapes:
        x (N, in_channels), edge_index (2, E), edge_weight (E,) → (N, out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True) -> None:
        super().__init__(aggr="add")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        out = self.propagate(edge_index, x=self.lin(x), edge_weight=edge_weight)
        return out if self.bias is None else out + self.bias

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:  # type: ignore[override]
        return edge_weight.unsqueeze(-1) * x_j

    # torch_geometric's MessagePassing.__repr__ hides extra_repr and the submodules.
    __repr__ = nn.Module.__repr__

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}, "
            "message=w_ij * W h_j, aggr='add'"
        )


class SignedEdgeWeightedConv(MessagePassing):
    r"""Separate messages through positive and negative edges, for signed (functional) connectomes.

    .. math::
        h'_i = \sum_{j:\, w_{ij} > 0} w_{ij}\, W_+ h_j \;+\; \sum_{j:\, w_{ij} < 0} |w_{ij}|\, W_- h_j + b

    over the edges :math:`j \to i`. Functional connectivity is signed: a correlated and an
    anti-correlated neighbour should not be mixed through one weight matrix (in
    :class:`EdgeWeightedConv` an anti-correlation only flips the sign of the same message),
    nor can their signs be dropped (``gcn`` needs :math:`w \ge 0`). Two maps let the layer
    learn what each kind of coupling means, as signed graph networks do (Derr et al.,
    "Signed graph convolutional networks", ICDM 2018, keep balanced and unbalanced paths
    apart in the same spirit). Not normalised, like :class:`EdgeWeightedConv`.

    Shapes:
        x (N, in_channels), edge_index (2, E), edge_weight (E,) → (N, out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True) -> None:
        super().__init__(aggr="add")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin_positive = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_negative = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        out = self.propagate(
            edge_index,
            positive=self.lin_positive(x),
            negative=self.lin_negative(x),
            edge_weight=edge_weight,
        )
        return out if self.bias is None else out + self.bias

    def message(self, positive_j: Tensor, negative_j: Tensor, edge_weight: Tensor) -> Tensor:  # type: ignore[override]
        w = edge_weight.unsqueeze(-1)
        return w.clamp(min=0) * positive_j + (-w).clamp(min=0) * negative_j

    __repr__ = nn.Module.__repr__

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}, "
            "message=[w]+ W+ h_j + [w]- W- h_j, aggr='add'"
        )


class NodeEdgeConcatConv(MessagePassing):
    r"""Messages from the concatenated receiver, sender and edge weight (BrainGB's "node edge concat").

    .. math::
        h'_i = \sum_{j \in \mathcal N(i)} m_{ij}, \qquad
        m_{ij} = W_2\, \mathrm{ReLU}\big(W_1 [h_i \,\|\, h_j \,\|\, w_{ij}] + b_1\big) + b_2

    over the edges :math:`j \to i`: a two-layer MLP (``hidden`` = ``out_channels`` units)
    of the concatenation, summed. An MLP rather than BrainGB's single linear map: with a
    linear message the weight only enters the sum as the node strength
    :math:`\sum_j w_{ij}`, whereas the MLP can form products such as :math:`w_{ij} h_j`.
    No self-loops are added (a node without incoming edges gets 0).

    Shapes:
        x (N, in_channels), edge_index (2, E), edge_weight (E,) → (N, out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(aggr="add")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mlp = nn.Sequential(
            nn.Linear(2 * in_channels + 1, out_channels), nn.ReLU(), nn.Linear(out_channels, out_channels)
        )

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        # W_1 [h_i || h_j || w] = A h_i + B h_j + c w: A h and B h are computed once per node,
        # so the edges (10⁵ per mouse connectome) only add and apply W_2, instead of each
        # multiplying a (2F + 1)-wide concatenation.
        first = self.mlp[0]
        a, b, c = first.weight.split([self.in_channels, self.in_channels, 1], dim=1)
        receiver, sender = x @ a.T + first.bias, x @ b.T
        return self.propagate(
            edge_index, receiver=receiver, sender=sender, edge_weight=edge_weight, c=c[:, 0]
        )

    def message(  # type: ignore[override]
        self, receiver_i: Tensor, sender_j: Tensor, edge_weight: Tensor, c: Tensor
    ) -> Tensor:
        hidden = torch.relu(receiver_i + sender_j + edge_weight.unsqueeze(-1) * c)
        return self.mlp[2](hidden)

    __repr__ = nn.Module.__repr__

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, message=MLP([h_i || h_j || w_ij]), aggr='add'"


# ---------------------------------------------------------------------- model
class ConnectomeGNN(L.LightningModule):
    r"""Graph-level classifier (or regressor) of connectomes: message passing, readout, MLP head.

    See the module docstring for the model. The convolutions (``conv``):

    * ``"edge_weighted"``: :class:`EdgeWeightedConv`, :math:`h'_i = \sum_j w_{ij} W h_j + b`;
    * ``"signed_edge_weighted"``: :class:`SignedEdgeWeightedConv`, one map for positive and
      one for negative weights (functional connectivity, correlations of either sign);
    * ``"node_edge_concat"`` (BrainGB's best): :class:`NodeEdgeConcatConv`,
      :math:`h'_i = \sum_j \mathrm{MLP}([h_i \| h_j \| w_{ij}])`;
    * ``"gcn"``: ``GCNConv`` with ``edge_weight`` :math:`w` (self-loops of weight 1,
      symmetric normalisation :math:`\hat D^{-1/2} \hat A \hat D^{-1/2}`): the weighted
      degrees must be positive, so give it non-negative weights (e.g. :math:`|w|`);
    * ``"gat"``: ``GATConv`` (one head) with ``edge_dim=1``: the weight enters the
      attention scores.

    Every layer (``n_inputs`` → ``hidden``, then ``hidden`` → ``hidden``) is followed by ReLU
    and dropout. The readout (``readout``) of graph :math:`g` with nodes :math:`V_g`:
    ``"mean"`` :math:`\frac{1}{|V_g|}\sum_{i \in V_g} h_i`, ``"sum"`` :math:`\sum_{i \in V_g} h_i`
    (both invariant to relabelling the nodes), or ``"concat"``
    :math:`[h_1 \| \dots \| h_{n}]` in node order, which needs every graph to have
    ``n_nodes`` = :math:`n` nodes with the same node order (one brain atlas). The head is
    ``Linear(·, hidden) → ReLU → Dropout → Linear(hidden, n_out)`` with ``n_out`` =
    ``n_classes`` (classification) or 1 (regression).

    Loss: cross-entropy of the logits (classification) or the mean squared error
    (regression); Adam with ``lr`` and ``weight_decay``.

    Batches are ``torch_geometric`` ``Batch`` es (or one ``Data``) with ``x`` (N, n_inputs)
    node features, ``edge_index`` (2, E), ``edge_attr`` (E,) or (E, 1) edge weights
    (``edge_weight`` is used when ``edge_attr`` is absent, ones when both are), ``batch``
    (N,) graph index of each node and ``y`` (G,): class indices (long) or targets (float).

    Logged (metric objects, one instance per stage, synchronised across DDP ranks at the
    end of an epoch):

    * classification: ``train/loss``, ``train/acc``; ``val/…`` and ``test/…`` ``loss``,
      ``acc`` (micro accuracy), ``f1`` (macro F1) and ``auroc`` (macro one-vs-rest AUROC of
      the softmax probabilities, as ``sklearn.metrics.roc_auc_score(multi_class="ovr")``);
    * regression: ``train/loss``, ``train/mae``; ``val/…`` and ``test/…`` ``loss``, ``mae``
      and ``r2`` (:math:`R^2`).

    ``monitor`` (what ``train.py`` checkpoints as "best") is ``("val/acc", "max")`` for
    classification and ``("val/loss", "min")`` for regression; the command line reads it
    from :meth:`monitor_for` before the model is built. ``predict`` writes
    ``probabilities`` (G, n_classes), or ``predictions`` (G,) for regression.

    Args:
        n_inputs: node features F (linked from the datamodule by ``train.py``).
        n_classes: classes (linked from the datamodule); ≥ 2 for classification, ignored
            (may be None) for regression.
        task: ``"classification"`` or ``"regression"``.
        conv: message-passing layer (above).
        hidden: width of the node embeddings and of the head's hidden layer.
        layers: number of message-passing layers.
        readout: ``"mean"``, ``"sum"`` or ``"concat"``.
        dropout: dropout probability in [0, 1), after every layer and in the head.
        lr: Adam learning rate.
        weight_decay: Adam weight decay (L2), ≥ 0.
        n_nodes: nodes per graph, required by (and only used with) ``readout="concat"``.

    Shapes:
        ``forward(batch)``: a batch of G graphs → (G, n_classes) logits, or (G, 1) predictions
        for regression.

    Example:
        >>> from torch_geometric.data import Batch, Data
        >>> graph = Data(x=torch.randn(5, 3), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
        ...              edge_attr=torch.rand(3))
        >>> model = ConnectomeGNN(n_inputs=3, n_classes=4, hidden=8)
        >>> model(Batch.from_data_list([graph, graph])).shape
        torch.Size([2, 4])
    """

    #: What ``train.py`` checkpoints as "best", and the metrics of its end-of-fit summary.
    monitor = ("val/acc", "max")
    summary_metrics = ("val/acc", "val/auroc", "val/f1", "val/loss")
    #: The key of ``predict_step``'s output in ``predictions.npz``.
    prediction_name = "probabilities"

    @classmethod
    def monitor_for(cls, task: str = "classification", **_: object) -> tuple[str, str]:
        """The checkpoint metric of a model built with these arguments (read by ``train.py``)."""
        return ("val/loss", "min") if task == "regression" else cls.monitor

    def __init__(
        self,
        *,
        n_inputs: int,
        n_classes: int | None = None,
        task: Literal["classification", "regression"] = "classification",
        conv: Literal[
            "edge_weighted", "signed_edge_weighted", "node_edge_concat", "gcn", "gat"
        ] = "node_edge_concat",
        hidden: int = 32,
        layers: int = 2,
        readout: Literal["mean", "sum", "concat"] = "mean",
        dropout: float = 0.5,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        n_nodes: int | None = None,
    ) -> None:
        super().__init__()
        check_choice(task, "task", TASKS)
        check_choice(conv, "conv", CONVS)
        check_choice(readout, "readout", READOUTS)
        check_int(n_inputs, "n_inputs", minimum=1)
        if task == "classification":
            check_int(
                n_classes,
                "n_classes",
                minimum=2,
                meaning=" (classes; for a regression pass task='regression')",
            )
        elif n_classes is not None:
            check_int(n_classes, "n_classes", minimum=1, meaning=" or None (ignored for task='regression')")
        check_int(hidden, "hidden", minimum=1)
        check_int(layers, "layers", minimum=1)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {describe(dropout)}")
        check_real(lr, "lr", positive=True)
        check_real(weight_decay, "weight_decay", positive=False)
        if readout == "concat":
            if n_nodes is None:
                raise ValueError(
                    "n_nodes: expected the number of nodes of every graph (an int >= 1) with "
                    "readout='concat', which concatenates the node embeddings in node order; got None"
                )
            check_int(n_nodes, "n_nodes", minimum=1)
        elif n_nodes is not None:
            check_int(n_nodes, "n_nodes", minimum=1)
        self.save_hyperparameters()

        self.task, self.conv_name, self.readout, self.n_nodes = task, conv, readout, n_nodes
        self.n_inputs = int(n_inputs)
        self.n_out = int(n_classes) if task == "classification" else 1
        self.convs = nn.ModuleList(
            _build_conv(conv, n_inputs if index == 0 else hidden, hidden) for index in range(layers)
        )
        self.dropout = nn.Dropout(dropout)
        pooled = hidden * n_nodes if readout == "concat" else hidden
        self.head = nn.Sequential(
            nn.Linear(pooled, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, self.n_out)
        )

        if task == "classification":
            n = self.n_out
            self.train_metrics = MetricCollection(
                {"acc": MulticlassAccuracy(n, average="micro")}, prefix="train/", compute_groups=False
            )
            self.val_metrics, self.test_metrics = (
                MetricCollection(
                    {
                        "acc": MulticlassAccuracy(n, average="micro"),
                        "f1": MulticlassF1Score(n, average="macro"),
                        "auroc": MulticlassAUROC(n, average="macro"),
                    },
                    prefix=f"{stage}/",
                    compute_groups=False,
                )
                for stage in ("val", "test")
            )
        else:
            # Instance attributes shadow the class's.
            self.monitor = self.monitor_for(task)
            self.summary_metrics = ("val/mae", "val/r2", "val/loss")
            self.prediction_name = "predictions"
            self.train_metrics = MetricCollection({"mae": MeanAbsoluteError()}, prefix="train/")
            self.val_metrics, self.test_metrics = (
                MetricCollection(
                    {"mae": MeanAbsoluteError(), "r2": R2Score()}, prefix=f"{stage}/", compute_groups=False
                )
                for stage in ("val", "test")
            )

    # ------------------------------------------------------------------ model
    def embed(self, batch: Any) -> Tensor:
        """Graph embeddings (G, hidden), or (G, n_nodes · hidden) with ``readout="concat"``."""
        x, edge_index, edge_weight, index, n_graphs = self._graph(batch)
        h = x
        if self.conv_name == "gcn" and bool((edge_weight < 0).any()):
            raise ValueError(
                "batch: conv='gcn' needs non-negative edge weights (its degree normalisation takes "
                "square roots), got negative ones; use conv='signed_edge_weighted' for signed "
                "(functional) connectomes, or the 'abs' transform"
            )
        for conv in self.convs:
            if self.conv_name == "gat":
                h = conv(h, edge_index, edge_attr=edge_weight.unsqueeze(-1))
            else:
                h = conv(h, edge_index, edge_weight)
            h = self.dropout(F.relu(h))
        if self.readout == "mean":
            return global_mean_pool(h, index, size=n_graphs)
        if self.readout == "sum":
            return global_add_pool(h, index, size=n_graphs)
        counts = torch.bincount(index, minlength=n_graphs)
        if h.shape[0] != n_graphs * self.n_nodes or bool((counts != self.n_nodes).any()):
            raise ValueError(
                f"batch: readout='concat' expected every graph to have n_nodes = {self.n_nodes} nodes, "
                f"got graphs with {sorted(set(counts.tolist()))} nodes"
            )
        # A Batch stores each graph's nodes contiguously, in their order: row g is graph g.
        return h.reshape(n_graphs, self.n_nodes * h.shape[-1])

    def forward(self, batch: Any) -> Tensor:
        """Logits (G, n_classes), or predictions (G, 1) for regression, of a batch of G graphs."""
        return self.head(self.embed(batch))

    def _graph(self, batch: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
        """Node features, edges, edge weights (E,), node → graph index and number of graphs."""
        x = getattr(batch, "x", None)
        edge_index = getattr(batch, "edge_index", None)
        if not isinstance(x, Tensor) or not isinstance(edge_index, Tensor):
            raise TypeError(
                "batch: expected a torch_geometric Data or Batch with tensors x and edge_index, "
                f"got {describe(batch)}"
            )
        if x.dim() != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(
                f"x: expected node features of shape (num_nodes, n_inputs) = (num_nodes, {self.n_inputs}), "
                f"got {tuple(x.shape)}"
            )
        n_edges = edge_index.shape[-1]
        weight = getattr(batch, "edge_attr", None)
        if weight is None:
            weight = getattr(batch, "edge_weight", None)
        if weight is None:
            weight = x.new_ones(n_edges)
        elif not (weight.shape == (n_edges,) or weight.shape == (n_edges, 1)):
            raise ValueError(
                f"edge_attr: expected one weight per edge, shape (E,) or (E, 1) with E = {n_edges}, "
                f"got {tuple(weight.shape)}"
            )
        weight = weight.reshape(n_edges).to(x.dtype)
        index = getattr(batch, "batch", None)
        if index is None:
            index = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
            n_graphs = 1
        else:
            n_graphs = int(getattr(batch, "num_graphs", None) or int(index.max()) + 1)
        return x, edge_index, weight, index, n_graphs

    def _targets(self, batch: Any, n_graphs: int) -> Tensor:
        y = getattr(batch, "y", None)
        if not isinstance(y, Tensor) or y.numel() != n_graphs:
            got = "no y" if y is None else describe(y)
            raise ValueError(f"y: expected one target per graph, {n_graphs} values, got {got}")
        y = y.reshape(n_graphs)
        if self.task == "classification":
            if y.is_floating_point() or y.is_complex():
                raise ValueError(f"y: expected integer class indices for classification, got {describe(y)}")
            return y.long()
        return y.float()

    # ------------------------------------------------------------------ steps
    def _shared_step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor, int]:
        """Loss, metric inputs (probabilities (G, C) or predictions (G,)), targets and G."""
        out = self(batch)
        n_graphs = out.shape[0]
        y = self._targets(batch, n_graphs)
        if self.task == "classification":
            return F.cross_entropy(out, y), out.softmax(-1), y, n_graphs
        prediction = out.squeeze(-1)
        return F.mse_loss(prediction, y), prediction, y, n_graphs

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, scores, y, n_graphs = self._shared_step(batch)
        self.train_metrics.update(scores.detach(), y)
        # The per-step loss stays rank-local; the metric objects are synced at epoch end.
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n_graphs)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, batch_size=n_graphs)
        return loss

    def _eval_step(self, batch: Any, stage: str) -> None:
        loss, scores, y, n_graphs = self._shared_step(batch)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        metrics.update(scores, y)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=n_graphs)
        self.log_dict(metrics, on_epoch=True, batch_size=n_graphs)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities (G, n_classes), or predictions (G,) for regression."""
        out = self(batch)
        return out.softmax(-1) if self.task == "classification" else out.squeeze(-1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


# ---------------------------------------------------------------------- helpers
def _build_conv(name: str, in_channels: int, out_channels: int) -> nn.Module:
    if name == "edge_weighted":
        return EdgeWeightedConv(in_channels, out_channels)
    if name == "signed_edge_weighted":
        return SignedEdgeWeightedConv(in_channels, out_channels)
    if name == "node_edge_concat":
        return NodeEdgeConcatConv(in_channels, out_channels)
    if name == "gcn":
        return GCNConv(in_channels, out_channels)
    return GATConv(in_channels, out_channels, heads=1, edge_dim=1)
