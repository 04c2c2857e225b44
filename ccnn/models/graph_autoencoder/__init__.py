"""Graph auto-encoders (GAE / VGAE) for directed link prediction and cell-type embeddings."""

from ccnn.models.graph_autoencoder.encoder import ENCODERS, GraphEncoder
from ccnn.models.graph_autoencoder.evaluation import cell_type_knn, link_scores, plot_latents
from ccnn.models.graph_autoencoder.module import GraphAutoEncoder

__all__ = ["ENCODERS", "GraphAutoEncoder", "GraphEncoder", "cell_type_knn", "link_scores", "plot_latents"]
