r"""Graph-level learning on cohorts of connectomes: one PyG graph per subject, cross-validated.

Each subject's connectome (after the ``transforms``) becomes a
:class:`torch_geometric.data.Data` with

* ``edge_index`` (2, E): one edge j → i per nonzero ``weights[i, j]``;
* ``edge_attr`` (E, 1) and ``edge_weight`` (E,): the weights;
* ``x`` (N, F): node features, any of ``"identity"`` (one-hot region, F = N),
  ``"degree"`` (in-degree and strength, F = 2), ``"profile"`` (the region's row of the
  weight matrix, its connection profile, F = N; BrainGB's best, Cui et al. 2022) and
  ``"coords"`` (region coordinates, F = 3), concatenated in the order given;
* ``y``: the graph-level target from the participants table (class index or float).

Splits: stratified k-fold (``n_folds``; plain k-fold for regression) or leave-one-out
cross-validation picks the test fold ``fold``; inside the remaining subjects a stratified
``val_fraction`` is held out for model selection, so it never sees the test fold. Splits
are seeded and depend only on the cohort, so ``fold=0 … n_folds-1`` in separate runs (a
loop over configs) make up one cross-validation. Under DDP, Lightning shards the loaders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from sklearn.model_selection import KFold, LeaveOneOut, StratifiedKFold, train_test_split
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from ccnn.data._split_loaders import SplitLoaders
from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.datasets import ConnectomeCohort, load_connectome_cohort

__all__ = ["NODE_FEATURES", "ConnectomeDataModule"]

NODE_FEATURES = ("identity", "degree", "profile", "coords")


def node_features(connectome: Connectome, kinds: Sequence[str]) -> torch.Tensor:
    """Node features (N, F) of one connectome, float32 (module docstring)."""
    w = connectome.weights.double()
    parts = []
    for kind in kinds:
        if kind == "identity":
            parts.append(torch.eye(connectome.num_nodes, dtype=torch.float64))
        elif kind == "degree":
            parts.append(torch.stack([(w != 0).sum(1).double(), w.sum(1)], 1))
        elif kind == "profile":
            parts.append(w)
        elif kind == "coords":
            if connectome.coords is None:
                raise ValueError(
                    "node_features: 'coords' needs region coordinates, but the connectome has none"
                )
            parts.append(connectome.coords.double())
        else:
            raise ValueError(f"node_features: expected kinds from {NODE_FEATURES}, got {kind!r}")
    return torch.cat(parts, 1).float()


class ConnectomeDataModule(SplitLoaders, L.LightningDataModule):
    """Cross-validated graph classification / regression on a connectome cohort.

    Args:
        dataset: a named dataset of :func:`ccnn.data.load_connectome_cohort` (``"mice"``,
            ``"hcp"``, ...) or a folder of per-subject matrices.
        target: the participants-table column to predict.
        task: ``"classification"`` (targets become class indices in sorted label order) or
            ``"regression"`` (numeric targets).
        node_features: one kind or a list, from :data:`NODE_FEATURES`.
        transforms: applied to every connectome (:func:`ccnn.data.connectomes.transforms.parse_transforms`),
            e.g. ``["log1p", "normalise:max"]``.
        n_folds: folds of the outer cross-validation (ignored with ``leave_one_out``).
        fold: which fold is the test set, in ``[0, n_folds)`` (or ``[0, subjects)`` for LOO).
        leave_one_out: one subject per test fold.
        val_fraction: share of the training subjects held out for validation.
        batch_size: graphs per batch.
        seed: seeds the fold assignment and the inner split.
        participants, subject_column: for a folder dataset (see ``load_connectome_cohort``).
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        dataset: str = "mice",
        *,
        target: str = "genotype",
        task: Literal["classification", "regression"] = "classification",
        node_features: str | Sequence[str] = "profile",
        transforms: Sequence[str | Callable[[Connectome], Connectome]] | None = ("log1p", "normalise:max"),
        n_folds: int = 5,
        fold: int = 0,
        leave_one_out: bool = False,
        val_fraction: float = 0.2,
        batch_size: int = 8,
        seed: int = 0,
        participants: str | None = None,
        subject_column: str = "participant_id",
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        has_callables = bool(transforms) and any(callable(t) for t in transforms)
        self.save_hyperparameters(ignore=["transforms"] if has_callables else None)
        if task not in ("classification", "regression"):
            raise ValueError(f"task: expected 'classification' or 'regression', got {task!r}")
        kinds = [node_features] if isinstance(node_features, str) else list(node_features)
        unknown = [k for k in kinds if k not in NODE_FEATURES]
        if not kinds or unknown:
            raise ValueError(f"node_features: expected kinds from {NODE_FEATURES}, got {node_features!r}")
        if not (isinstance(n_folds, int) and n_folds >= 2):
            raise ValueError(f"n_folds: expected an int >= 2, got {n_folds!r}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a share in (0, 1), got {val_fraction!r}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        self.dataset, self.target, self.task = dataset, target, task
        self.kinds, self.transforms = kinds, transforms
        self.n_folds, self.fold, self.leave_one_out = n_folds, fold, leave_one_out
        self.val_fraction, self.batch_size, self.seed = val_fraction, batch_size, seed
        self.participants, self.subject_column, self.num_workers = participants, subject_column, num_workers
        # Loaded now (small, and cached on disk) so that n_inputs / n_classes are known
        # before the model is built: train.py links them into the model's arguments.
        self.cohort = load_connectome_cohort(
            dataset, transforms=transforms, participants=participants, subject_column=subject_column
        )
        self.targets, self.classes = self._targets(self.cohort)
        self.graphs = [self._graph(c, y) for c, y in zip(self.cohort, self.targets, strict=True)]
        self.split = self._split()

    # ------------------------------------------------------------------ properties
    @property
    def n_inputs(self) -> int:
        """Node feature size F."""
        return int(self.graphs[0].x.shape[1])

    @property
    def n_classes(self) -> int:
        """Classes (1 for regression)."""
        return len(self.classes) if self.task == "classification" else 1

    @property
    def n_nodes(self) -> int:
        return self.cohort.num_nodes

    # ------------------------------------------------------------------ construction
    def _targets(self, cohort: ConnectomeCohort) -> tuple[np.ndarray, list[str]]:
        table = cohort.participants
        if self.target not in table.columns:
            raise ValueError(
                f"target: expected a column of the participants table, one of {list(table.columns)}, "
                f"got {self.target!r}"
            )
        values = table[self.target]
        missing = [str(s) for s, v in zip(table.index, values.isna(), strict=True) if v]
        if missing:
            raise ValueError(f"target: {self.target!r} is missing for subjects {missing[:5]}")
        if self.task == "classification":
            classes = sorted(str(v) for v in values.unique())
            if len(classes) < 2:
                raise ValueError(f"target: expected at least 2 classes in {self.target!r}, got {classes}")
            return np.array([classes.index(str(v)) for v in values]), classes
        try:
            numeric = values.astype(float).to_numpy()
        except (TypeError, ValueError) as error:
            raise ValueError(f"target: task='regression' needs numeric {self.target!r} values") from error
        return numeric, []

    def _graph(self, connectome: Connectome, y: Any) -> Data:
        graph = connectome.to_pyg()  # edges j → i for every nonzero W[i, j]
        weight = graph.edge_weight.float()
        label = torch.tensor(int(y)) if self.task == "classification" else torch.tensor(float(y))
        return Data(
            x=node_features(connectome, self.kinds),
            edge_index=graph.edge_index,
            edge_attr=weight.unsqueeze(-1),
            edge_weight=weight,
            y=label.reshape(1),
            num_nodes=connectome.num_nodes,
        )

    def _split(self) -> dict[str, np.ndarray]:
        subjects = np.arange(len(self.graphs))
        classification = self.task == "classification"
        if self.leave_one_out:
            outer = LeaveOneOut()
            n_splits = len(subjects)
        else:
            if classification:
                smallest = int(np.bincount(self.targets).min())
                if smallest < self.n_folds:
                    raise ValueError(
                        f"n_folds: the smallest class of {self.target!r} has {smallest} subjects, "
                        f"fewer than n_folds={self.n_folds}"
                    )
            elif len(subjects) < self.n_folds:
                raise ValueError(
                    f"n_folds: the cohort has {len(subjects)} subjects, fewer than n_folds={self.n_folds}"
                )
            splitter = StratifiedKFold if classification else KFold
            outer = splitter(self.n_folds, shuffle=True, random_state=self.seed)
            n_splits = self.n_folds
        if not (isinstance(self.fold, int) and 0 <= self.fold < n_splits):
            raise ValueError(f"fold: expected an int in [0, {n_splits}), got {self.fold!r}")
        train, test = list(outer.split(subjects, self.targets))[self.fold]
        stratify = self.targets[train] if classification else None
        n_val = max(math.ceil(self.val_fraction * len(train)), len(self.classes) if classification else 1)
        try:
            fit, val = train_test_split(train, test_size=n_val, stratify=stratify, random_state=self.seed)
        except ValueError:  # too few subjects per class to stratify the inner split
            fit, val = train_test_split(train, test_size=n_val, random_state=self.seed)
        return {"train": np.sort(fit), "val": np.sort(val), "test": np.sort(test)}

    # ------------------------------------------------------------------ loaders
    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        graphs = [self.graphs[i] for i in self.split[part]]
        return DataLoader(graphs, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    # ------------------------------------------------------------------ pictures
    def mean_connectome(self) -> Connectome:
        """The cohort's mean connectome (after the transforms), with the first subject's
        coordinates, labels and node attributes."""
        first = self.cohort[0]
        meta = {**first.meta, "subject": f"mean of {len(self.cohort)}"}
        return Connectome(
            self.cohort.weights().mean(0), coords=first.coords, labels=first.labels,
            node_attrs=first.node_attrs, meta=meta,
        )  # fmt: skip

    def setup(self, stage: str | None = None) -> None:
        trainer = self.trainer
        # Without a logger there is no run directory to put the figure in (it would land in
        # the working directory).
        if stage != "fit" or trainer is None or trainer.logger is None:
            return
        log_dir = trainer.log_dir  # a collective under DDP: every rank asks
        if not trainer.is_global_zero:
            return
        from ccnn.analysis.connectome_plots import plot_connectome

        root = Path(log_dir or trainer.default_root_dir)
        path = root / "figures" / "connectome.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        figure = plot_connectome(self.mean_connectome(), path=path, title=f"{self.dataset}: mean connectome")
        logger = trainer.logger
        if logger is not None and hasattr(logger, "log_image"):
            logger.log_image(key="data/connectome", images=[str(path)])
        del figure

    def __repr__(self) -> str:
        sizes = {k: len(v) for k, v in self.split.items()}
        return (
            f"ConnectomeDataModule({self.dataset!r}, target={self.target!r}, fold={self.fold}, "
            f"subjects={len(self.graphs)}, split={sizes}, node_features={self.kinds})"
        )
