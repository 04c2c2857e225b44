"""Evaluation and exports of a graph auto-encoder: held-out AUROC / AP, cell types from the
embedding (k-NN), the latent figure, and the files of the run directory."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

from ccnn._io import atomic_write

__all__ = ["EXPORT_FILES", "cell_type_knn", "export", "link_scores", "plot_latents"]

#: Files written to the run directory after ``fit``.
EXPORT_FILES = ("embeddings.npy", "metrics.json", "figures/latents.png")


def link_scores(scores: Tensor, labels: Tensor) -> dict[str, float]:
    """AUROC and average precision of ``scores`` (higher = edge) against 0/1 ``labels``."""
    labels = labels.long()
    return {
        "auroc": float(binary_auroc(scores.float(), labels)),
        "ap": float(binary_average_precision(scores.float(), labels)),
    }


def cell_type_knn(embedding: np.ndarray | Tensor, cell_types: np.ndarray | Tensor, *, k: int = 5,
                  folds: int = 5, seed: int = 0) -> float:  # fmt: skip
    """Mean accuracy of a k-nearest-neighbour classifier (Euclidean) of the cell type from the
    embedding rows, under stratified ``folds``-fold cross-validation (shuffled with ``seed``)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    x = np.asarray(embedding.detach().cpu() if isinstance(embedding, Tensor) else embedding, dtype=np.float64)
    y = np.asarray(cell_types.cpu() if isinstance(cell_types, Tensor) else cell_types)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"cell_types: expected {x.shape[0]} labels (one per embedding row), got {y.shape[0]}"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a rare class with fewer members than folds is fine here
        warnings.simplefilter("ignore", UserWarning)
        scores = cross_val_score(KNeighborsClassifier(n_neighbors=k), x, y, cv=splitter)
    return float(np.mean(scores))


def _two_d(values: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D points and their axis labels (PCA beyond two dimensions)."""
    if values.shape[1] == 1:
        return np.c_[values, np.zeros(len(values))], ("latent 1", "0 (one latent dimension)")
    if values.shape[1] == 2:
        return values, ("latent 1", "latent 2")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(values)
    explained = pca.explained_variance_ratio_ * 100
    labels = (f"PC 1 ({explained[0]:.0f} % of variance)", f"PC 2 ({explained[1]:.0f} % of variance)")
    return pca.transform(values), labels


def plot_latents(parts: dict[str, np.ndarray], cell_types: np.ndarray | None = None,
                 names: list[str] | None = None, title: str = ""):  # fmt: skip
    """One panel per latent role (e.g. source and target), coloured by cell type; PCA to 2-D
    when the latents have more dimensions (the axes say how much variance they keep)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(parts), figsize=(4.6 * len(parts), 4.2), squeeze=False)
    for ax, (role, values) in zip(axes[0], parts.items(), strict=True):
        points, axis = _two_d(values)
        if cell_types is None:
            ax.scatter(points[:, 0], points[:, 1], s=10, color="tab:blue")
        else:
            types = np.asarray(cell_types)
            for t in np.unique(types):
                label = names[int(t)] if names is not None and int(t) < len(names) else f"type {t}"
                chosen = types == t
                ax.scatter(points[chosen, 0], points[chosen, 1], s=10, label=f"{label} ({chosen.sum()})")
            ax.legend(title="cell type", fontsize=7, title_fontsize=8, markerscale=1.5)
        ax.set_xlabel(axis[0])
        ax.set_ylabel(axis[1])
        ax.set_title(f"{role} embedding (N = {len(values)})", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def export(model, datamodule, directory: str | Path, *, logger: Any = None) -> dict[str, Any]:
    """Write :data:`EXPORT_FILES` for ``model`` (a fitted :class:`GraphAutoEncoder`) to ``directory``
    and return the metrics (best validation epoch's val / test AUROC and AP, cell-type k-NN)."""
    from ccnn.models.graph_autoencoder.module import latent_parts

    directory = Path(directory)
    (directory / "figures").mkdir(parents=True, exist_ok=True)
    z = model.embeddings()
    metrics: dict[str, Any] = {"best_epoch": model.best_epoch, "negatives": datamodule.negatives}
    with torch.no_grad():
        for part in ("val", "test"):
            edges, labels = datamodule.held_out(part)
            scores = model.score(z.to(model.device), edges.to(model.device)).cpu()
            metrics.update({f"{part}/{k}": v for k, v in link_scores(scores, labels).items()})
    parts = latent_parts(model, z)
    cell_types = datamodule.cell_types
    if cell_types is not None:
        metrics["cell_type_knn"] = cell_type_knn(np.concatenate(list(parts.values()), 1), cell_types)
    with atomic_write(directory / "embeddings.npy") as handle:
        np.save(handle, z.numpy())
    with atomic_write(directory / "metrics.json") as handle:
        handle.write(json.dumps(metrics, indent=2).encode())
    figure = plot_latents(
        parts,
        None if cell_types is None else cell_types.numpy(),
        datamodule.cell_type_names,
        title=f"{datamodule.name}: test AUROC {metrics['test/auroc']:.3f} ({datamodule.negatives} negatives)",
    )
    with atomic_write(directory / "figures" / "latents.png") as handle:
        figure.savefig(handle, dpi=110, format="png")
    if logger is not None and hasattr(logger, "log_image"):
        logger.log_image(key="latents", images=[figure], caption=["latents coloured by cell type"])
    import matplotlib.pyplot as plt

    plt.close(figure)
    return metrics
