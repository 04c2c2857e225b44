r"""Graph auto-encoders (GAE / VGAE) for directed link prediction on connectomes.

Kipf & Welling (2016), "Variational graph auto-encoders": an encoder maps node features and the
training graph to latents :math:`z_i`, a decoder scores pairs, and training maximises the
likelihood of the training edges against sampled non-edges,

.. math::
    \mathcal L = -\frac1{|E|}\sum_{(j\to i)\in E} \log\sigma(s_{j\to i})
    - \frac1{|E^-|}\sum_{(j\to i)\in E^-} \log(1-\sigma(s_{j\to i}))
    - \rho\,\frac1{|R|}\sum_{(j\to i)\in R} \log(1-\sigma(s_{j\to i}))
    \;\Big[+\; \tfrac1N\,\mathrm{KL}\big(q(z)\,\|\,\mathcal N(0, I)\big)\Big]_{\text{VGAE}},

with :math:`E^-` non-edges drawn uniformly each step (PyG's ``negative_sampling``, against the
training edges only), and :math:`R` the reverses of training edges that are not training
edges (weight :math:`\rho` = ``reversed_weight``; used with the directed decoders only, since
a symmetric one cannot separate an edge from its reverse). Encoder:
:mod:`~ccnn.models.graph_autoencoder.encoder`; decoders: :mod:`ccnn.nn.link_decoders`.

Improvements over the study that compared GAE / VGAE with spectral embedding on the larval fly
(undirected, no node features, one connectome): directed decoders (source / target
embeddings, gravity), directed aggregation in the encoder, node features (degrees,
connection profiles, any node attribute), weighted edges, and an evaluation on reversed
edges that an undirected model cannot pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch_geometric.utils import negative_sampling
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision

from ccnn._format import format_metric
from ccnn._validation import check_choice, check_int, check_real, describe
from ccnn.models.graph_autoencoder.encoder import ENCODERS, GraphEncoder
from ccnn.nn.link_decoders import DECODERS, build_decoder

__all__ = ["REVERSED_WEIGHT", "GraphAutoEncoder"]

#: ρ by the kind of negatives the model is evaluated on (``reversed_weight=None``).
REVERSED_WEIGHT = {"random": 0.1, "reversed": 1.0}


class GraphAutoEncoder(L.LightningModule):
    """GAE / VGAE link predictor (module docstring for the loss).

    Logs ``train/loss``, ``val/auroc``, ``val/ap``, ``test/auroc``, ``test/ap`` (torchmetrics'
    ``BinaryAUROC`` and ``BinaryAveragePrecision``: exact under DDP). ``train.py``
    checkpoints the best ``val/auroc``; ``predict`` writes ``scores`` (edge probabilities),
    ``source_node``, ``target_node`` and ``labels`` of the test pairs. After ``fit`` it writes
    ``embeddings.npy`` (the latents of the best validation epoch), ``metrics.json`` and
    ``figures/latents.png`` (2-D latents, PCA when ``latent_dim > 2``, coloured by cell type) to
    the run directory, and logs the figure to W&B when that is the logger.

    Args:
        n_inputs: node features F (linked from the datamodule).
        n_nodes: number of nodes (linked); needed by ``node_embedding``.
        latent_dim: d ≥ 1, the embedding size per role (source and target for ``"directed"``).
        encoder: ``"gcn"``, ``"gat"`` or ``"sage"``.
        decoder: ``"inner"``, ``"directed"`` or ``"gravity"`` (:mod:`ccnn.nn.link_decoders`).
        variational: VGAE (Gaussian latents, KL term) instead of GAE.
        hidden: width of the encoder.
        layers: message-passing layers.
        directed_aggregation: the encoder also averages out- and in-neighbours separately
            (default: on for the directed decoders).
        node_embedding: add a learned embedding per node to the input (transductive).
        dropout: dropout probability in [0, 1).
        negatives_per_edge: uniformly drawn non-edges per training edge and step.
        reversed_weight: weight ρ of the reversed-edge negatives (directed decoders). None
            (default): :data:`REVERSED_WEIGHT` for the datamodule's ``negatives``, i.e. 0.1 when
            the question is whether an edge exists (random negatives) and 1.0 when it is its
            direction (reversed negatives): reversed pairs are near-edges, and weighting them
            fully trades presence for direction (measured in the README).
        gravity_lambda: λ of the gravity decoder.
        lr, weight_decay: Adam.
        output_dir: where exports go (default: the trainer's log directory).

    Shapes:
        ``forward(x, edge_index, edge_weight)`` → latents (N, D) (the means for a VGAE);
        ``score(z, edges)`` → logits (E,).
    """

    monitor = ("val/auroc", "max")
    summary_metrics = ("val/auroc", "val/ap", "train/loss")
    prediction_name = "scores"

    def __init__(
        self,
        *,
        n_inputs: int,
        n_nodes: int | None = None,
        latent_dim: int = 16,
        encoder: Literal["gcn", "gat", "sage"] = "gcn",
        decoder: Literal["inner", "directed", "gravity"] = "directed",
        variational: bool = False,
        hidden: int = 64,
        layers: int = 1,
        directed_aggregation: bool | None = None,
        node_embedding: bool = True,
        dropout: float = 0.0,
        negatives_per_edge: int = 1,
        reversed_weight: float | None = None,
        gravity_lambda: float = 1.0,
        lr: float = 0.01,
        weight_decay: float = 0.0,
        output_dir: str | None = None,
    ) -> None:
        super().__init__()
        check_int(n_inputs, "n_inputs", minimum=1)
        check_int(latent_dim, "latent_dim", minimum=1)
        check_choice(encoder, "encoder", ENCODERS)
        check_choice(decoder, "decoder", DECODERS)
        check_int(hidden, "hidden", minimum=1)
        check_int(layers, "layers", minimum=1)
        check_int(negatives_per_edge, "negatives_per_edge", minimum=1)
        if reversed_weight is not None:
            check_real(reversed_weight, "reversed_weight", positive=False)
        check_real(lr, "lr", positive=True)
        check_real(weight_decay, "weight_decay", positive=False)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {describe(dropout)}")
        if node_embedding:
            check_int(n_nodes, "n_nodes", minimum=1, meaning=" (needed by node_embedding=True)")
        self.save_hyperparameters()
        self.decoder = build_decoder(
            decoder, latent_dim, **({"lam": gravity_lambda} if decoder == "gravity" else {})
        )
        if directed_aggregation is None:
            directed_aggregation = self.decoder.directed
        self.encoder = GraphEncoder(
            n_inputs,
            self.decoder.input_dim(latent_dim),
            kind=encoder,
            hidden=hidden,
            layers=layers,
            num_nodes=n_nodes if node_embedding else None,
            directed=bool(directed_aggregation),
            variational=variational,
            dropout=float(dropout),
        )
        self.val_metrics, self.test_metrics = (
            MetricCollection({"auroc": BinaryAUROC(), "ap": BinaryAveragePrecision()}, prefix=f"{stage}/")
            for stage in ("val", "test")
        )
        self._graph = None
        self.best_embeddings: Tensor | None = None
        self.best_score = -float("inf")
        self.best_epoch = -1

    # ------------------------------------------------------------------ model
    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        out = self.encoder(x, edge_index, edge_weight)
        return out[0] if self.hparams.variational else out

    def score(self, z: Tensor, edges: Tensor) -> Tensor:
        """Logits of the directed pairs ``edges`` (2, E), row 0 the sources."""
        return self.decoder(z, edges)

    def reversed_weight(self) -> float:
        """ρ: the argument, else :data:`REVERSED_WEIGHT` of the datamodule's ``negatives``."""
        if self.hparams.reversed_weight is not None:
            return float(self.hparams.reversed_weight)
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        return REVERSED_WEIGHT.get(getattr(datamodule, "negatives", "random"), REVERSED_WEIGHT["random"])

    def _graph_on_device(self):
        if self._graph is None:
            datamodule = self.trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "graph"):
                raise ValueError(
                    "datamodule: GraphAutoEncoder expects a LinkPredictionDataModule (with .graph), got "
                    f"{describe(datamodule)}"
                )
            self._graph = datamodule.graph.to(self.device)
        return self._graph

    def embed(self) -> Tensor:
        """Latents of the training graph (means for a VGAE), (N, D)."""
        graph = self._graph_on_device()
        return self(graph.x, graph.edge_index, graph.edge_weight)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        graph = self._graph_on_device()
        encoded = self.encoder(graph.x, graph.edge_index, graph.edge_weight)
        if self.hparams.variational:
            mu, logstd = encoded
            z = mu + torch.randn_like(mu) * logstd.exp()
        else:
            z = encoded
        positives = batch["edges"]
        n = graph.num_nodes
        negatives = negative_sampling(
            positives, num_nodes=n, num_neg_samples=self.hparams.negatives_per_edge * positives.shape[1]
        )
        pos_logits, neg_logits = self.score(z, positives), self.score(z, negatives)
        loss = F.binary_cross_entropy_with_logits(pos_logits, torch.ones_like(pos_logits))
        loss = loss + F.binary_cross_entropy_with_logits(neg_logits, torch.zeros_like(neg_logits))
        rho = self.reversed_weight()
        if self.decoder.directed and rho > 0:
            reverse = _reversed_non_edges(positives, n)
            if reverse.shape[1]:
                rev_logits = self.score(z, reverse)
                rev_loss = F.binary_cross_entropy_with_logits(rev_logits, torch.zeros_like(rev_logits))
                loss = loss + rho * rev_loss
        if self.hparams.variational:
            kl = -0.5 * torch.mean(torch.sum(1 + 2 * logstd - mu**2 - logstd.exp() ** 2, dim=1))
            loss = loss + kl / n
        self.log("train/loss", loss, prog_bar=True, batch_size=1)
        return loss

    def _evaluate(self, batch: dict[str, Tensor], metrics: MetricCollection) -> Tensor:
        z = self.embed()
        logits = self.score(z, batch["edges"])
        metrics.update(logits.sigmoid(), batch["labels"].long())
        self.log_dict(metrics, batch_size=1)
        return z

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._last_z = self._evaluate(batch, self.val_metrics).detach()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        value = self.trainer.callback_metrics.get("val/auroc")
        if value is not None and float(value) > self.best_score:
            self.best_score, self.best_epoch = float(value), self.current_epoch
            self.best_embeddings = self._last_z.cpu()

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Edge probabilities of the predict set (the test edges and their negatives), with the
        pairs (``source_node`` j, ``target_node`` i for j → i) and their 0/1 ``labels``."""
        edges = batch["edges"]
        out = {
            "scores": self.score(self.embed(), edges).sigmoid(),
            "source_node": edges[0],
            "target_node": edges[1],
        }
        if "labels" in batch:
            out["labels"] = batch["labels"]
        return out

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    # ------------------------------------------------------------------ exports
    def embeddings(self) -> Tensor:
        """The latents of the best validation epoch (else the current ones), on the CPU."""
        if self.best_embeddings is not None:
            return self.best_embeddings
        with torch.no_grad():
            return self.embed().cpu()

    def on_fit_end(self) -> None:
        directory = Path(self.trainer.log_dir or self.trainer.default_root_dir)  # collective: every rank
        if self.hparams.output_dir is not None:
            directory = Path(self.hparams.output_dir)
        if not self.trainer.is_global_zero:
            return
        from ccnn.models.graph_autoencoder.evaluation import export

        metrics = export(self, self.trainer.datamodule, directory, logger=self.logger)
        keys = ("val/auroc", "val/ap", "test/auroc", "cell_type_knn")
        summary = ", ".join(f"{k} {format_metric(metrics[k])}" for k in keys if k in metrics)
        rank_zero_info(f"graph auto-encoder: {summary}; exports in {directory}")


def _reversed_non_edges(edges: Tensor, num_nodes: int) -> Tensor:
    """Reverses of ``edges`` (2, E) that are not themselves in ``edges``."""
    key = edges[0] * num_nodes + edges[1]
    reverse_key = edges[1] * num_nodes + edges[0]
    keep = ~torch.isin(reverse_key, key)
    return edges[:, keep].flip(0)


def latent_parts(model: GraphAutoEncoder, z: Tensor) -> dict[str, np.ndarray]:
    """The latents by role: ``{"source", "target"}`` for the directed decoder, ``{"position"}``
    for gravity, ``{"latent"}`` for the inner product (biases and masses left out)."""
    d = model.hparams.latent_dim
    z = z.detach().cpu().numpy()
    if model.hparams.decoder == "directed":
        return {"source": z[:, :d], "target": z[:, d : 2 * d]}
    if model.hparams.decoder == "gravity":
        return {"position": z[:, :d]}
    return {"latent": z}
