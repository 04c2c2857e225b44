r"""Link prediction on one connectome: held-out directed edges, negatives, node features.

:func:`split_edges` divides the directed edges :math:`j \to i` of a connectome (``weights[i, j]
!= 0``, self-connections left out) into train / val / test at random (seeded), and draws for
each held-out part two kinds of negatives:

* ``"random"``: as many pairs :math:`j \to i` (:math:`i \ne j`) drawn uniformly among the
  non-edges of the whole connectome, without repetition; the positives are all held-out edges.
* ``"reversed"``: for each held-out edge :math:`j \to i` whose reverse :math:`i \to j` is not
  an edge, the reverse. The positives are those held-out edges only, so a model that scores
  :math:`j \to i` and :math:`i \to j` alike (any undirected model) gets an AUROC of exactly 0.5:
  this is the test of whether a model knows the direction of a synapse.

No leakage: the training graph (message passing, degree features, negative sampling during
training) holds the training edges only; validation and test edges are absent from it.

:class:`LinkPredictionDataModule` wraps one split for Lightning: its public interface for a
model is :attr:`~LinkPredictionDataModule.graph` (the training graph as a PyG ``Data``),
:meth:`~LinkPredictionDataModule.held_out`, :attr:`~LinkPredictionDataModule.cell_types` and
the loaders (one full-batch item each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ccnn._validation import as_tensor, check_choice, check_finite, check_int, describe
from ccnn.data._split_loaders import SplitLoaders
from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.datasets import load_connectome

__all__ = [
    "EDGE_WEIGHTS",
    "NEGATIVES",
    "NODE_FEATURE_KINDS",
    "EdgeSplit",
    "LinkPredictionDataModule",
    "node_features",
    "split_edges",
]

#: Values of ``negatives=``.
NEGATIVES = ("random", "reversed")
#: Built-in node features (any ``node_attrs`` key is accepted too).
NODE_FEATURE_KINDS = ("identity", "degree", "profile")
#: How synapse counts become the training graph's edge weights.
EDGE_WEIGHTS = ("log1p", "raw", "binary")


@dataclass(frozen=True)
class EdgeSplit:
    """Directed edges as ``(2, E)`` index tensors, row 0 the sources :math:`j`, row 1 the
    targets :math:`i` (PyG's layout), for an edge :math:`j \\to i` = ``weights[i, j]``.

    Attributes:
        num_nodes: N.
        train: training edges; ``train_weight`` their weights (as in the connectome).
        val, test: held-out edges.
        val_random, test_random: uniformly drawn non-edges, as many as held-out edges.
        val_reversed_pos, test_reversed_pos: held-out edges whose reverse is not an edge.
        val_reversed, test_reversed: their reverses (the "reversed" negatives).
    """

    num_nodes: int
    train: Tensor
    train_weight: Tensor
    val: Tensor
    test: Tensor
    val_random: Tensor
    test_random: Tensor
    val_reversed_pos: Tensor
    val_reversed: Tensor
    test_reversed_pos: Tensor
    test_reversed: Tensor

    def evaluation_edges(self, part: str, negatives: str) -> tuple[Tensor, Tensor]:
        """``(positives, negatives)`` of ``part`` (``"val"`` / ``"test"``) for a kind of negatives."""
        if part not in ("val", "test"):
            raise ValueError(f"part: expected 'val' or 'test', got {part!r}")
        check_choice(negatives, "negatives", NEGATIVES)
        if negatives == "random":
            return getattr(self, part), getattr(self, f"{part}_random")
        return getattr(self, f"{part}_reversed_pos"), getattr(self, f"{part}_reversed")


def _check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name}: expected a fraction in (0, 1), got {describe(value)}")
    return float(value)


def _adjacency(connectome: Connectome | Tensor | np.ndarray) -> Tensor:
    weights = (
        connectome.weights if isinstance(connectome, Connectome) else as_tensor(connectome, "connectome")
    )
    if weights.dim() != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] == 0:
        raise ValueError(
            f"connectome: expected a square, non-empty (N, N) adjacency, got shape {tuple(weights.shape)}"
        )
    check_finite(weights.float(), "connectome")
    return weights.detach().cpu()


def split_edges(
    connectome: Connectome | Tensor | np.ndarray,
    *,
    val_fraction: float = 0.05,
    test_fraction: float = 0.10,
    seed: int = 0,
) -> EdgeSplit:
    """Split the directed edges of ``connectome`` into train / val / test (module docstring).

    Args:
        connectome: a :class:`Connectome` or an ``(N, N)`` weight matrix (rows = targets).
        val_fraction, test_fraction: fractions of the edges held out, each in (0, 1); each
            held-out part gets at least one edge and the training part keeps at least one.
        seed: the split and the random negatives depend on it only.

    Raises:
        ValueError: a non-square or empty adjacency, fewer than 3 edges, fractions that leave
            no training edge, or too few non-edges for the random negatives.
    """
    weights = _adjacency(connectome)
    val_fraction = _check_fraction(val_fraction, "val_fraction")
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    check_int(seed, "seed", minimum=0)
    n = weights.shape[0]
    exists = weights != 0
    exists.fill_diagonal_(False)  # self-connections are not predicted
    target, source = exists.nonzero(as_tuple=True)
    edges = int(source.numel())
    if edges < 3:
        raise ValueError(
            f"connectome: expected at least 3 edges (not self-connections) to split, got {edges}"
        )
    n_val = max(1, round(val_fraction * edges))
    n_test = max(1, round(test_fraction * edges))
    if n_val + n_test >= edges or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction, test_fraction: expected fractions that leave training edges, got "
            f"{val_fraction} + {test_fraction} of {edges} edges ({n_val} + {n_test} held out)"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(edges, generator=generator)
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    pairs = {name: torch.stack([source[idx], target[idx]]) for name, idx in parts.items()}

    # Random negatives for val and test, disjoint, from the non-edges of the whole graph.
    free = ~exists
    free.fill_diagonal_(False)
    free_target, free_source = free.nonzero(as_tuple=True)
    if free_source.numel() < n_val + n_test:
        raise ValueError(
            f"connectome: expected at least {n_val + n_test} non-edges for the random negatives, "
            f"got {int(free_source.numel())} (the graph is almost complete)"
        )
    pick = torch.randperm(free_source.numel(), generator=generator)[: n_val + n_test]
    random_negatives = torch.stack([free_source[pick], free_target[pick]])

    def reversed_pairs(held: Tensor) -> tuple[Tensor, Tensor]:
        keep = ~exists[held[0], held[1]]  # reverse i -> j is weights[j, i]
        return held[:, keep], held[:, keep].flip(0)

    val_rev_pos, val_rev = reversed_pairs(pairs["val"])
    test_rev_pos, test_rev = reversed_pairs(pairs["test"])
    train = pairs["train"]
    return EdgeSplit(
        num_nodes=n,
        train=train,
        train_weight=weights[train[1], train[0]].float(),
        val=pairs["val"],
        test=pairs["test"],
        val_random=random_negatives[:, :n_val],
        test_random=random_negatives[:, n_val:],
        val_reversed_pos=val_rev_pos,
        val_reversed=val_rev,
        test_reversed_pos=test_rev_pos,
        test_reversed=test_rev,
    )


def node_features(
    kind: str | Tensor | np.ndarray, split: EdgeSplit, connectome: Connectome | None = None
) -> Tensor:
    """Node features ``(N, F)`` from the training edges only (no leakage).

    * ``"identity"``: the ``(N, N)`` identity (each node its own one-hot).
    * ``"degree"``: ``log(1 + ·)`` of the in- and out-degree and in- and out-strength (4 columns).
    * ``"profile"``: the node's training connection profile, ``log(1 + weight)`` of its inputs
      and its outputs (``2N`` columns; BrainGB's default feature).
    * a ``node_attrs`` key of ``connectome``: that attribute (integers one-hot encoded).
    * an ``(N, F)`` tensor or array: used as given.
    * a list of these: their columns side by side (e.g. ``["profile", "gap_junctions"]``).
    """
    n = split.num_nodes
    if isinstance(kind, list | tuple):
        if not kind:
            raise ValueError("node_features: expected at least one kind of feature, got an empty list")
        return torch.cat([node_features(k, split, connectome) for k in kind], 1)
    weight = split.train_weight.abs()
    adjacency = torch.zeros(n, n)
    adjacency[split.train[1], split.train[0]] = weight  # rows = targets
    if isinstance(kind, Tensor | np.ndarray):
        features = as_tensor(kind, "node_features").float()
        if features.dim() == 1:
            features = features[:, None]
        if features.dim() != 2 or features.shape[0] != n:
            raise ValueError(
                f"node_features: expected one row per node, shape ({n}, F), got {tuple(features.shape)}"
            )
        check_finite(features, "node_features")
        return features
    if kind == "identity":
        return torch.eye(n)
    if kind == "degree":
        binary = (adjacency != 0).float()
        columns = [binary.sum(1), binary.sum(0), adjacency.sum(1), adjacency.sum(0)]
        return torch.stack(columns, 1).log1p()
    if kind == "profile":
        return torch.cat([adjacency, adjacency.T], 1).log1p()
    attrs = {} if connectome is None else connectome.node_attrs
    if not isinstance(kind, str) or kind not in attrs:
        raise ValueError(
            f"node_features: expected one of {NODE_FEATURE_KINDS}, a node_attrs key of the connectome "
            f"({sorted(attrs)}) or an (N, F) tensor, got {describe(kind)}"
        )
    value = attrs[kind].cpu()
    if value.dim() == 1 and not value.is_floating_point():
        return torch.nn.functional.one_hot(
            value.long() - value.min(), int(value.max() - value.min()) + 1
        ).float()
    features = value.float().reshape(n, -1)
    check_finite(features, f"node_attrs[{kind!r}]")
    return features


def _edge_weight(weight: Tensor, how: str) -> Tensor:
    if how == "binary":
        return torch.ones_like(weight)
    if how == "log1p":
        return weight.abs().log1p()
    return weight.abs()


class _OneItem(torch.utils.data.Dataset):
    def __init__(self, item: dict[str, Tensor]) -> None:
        self.item = item

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.item


class LinkPredictionDataModule(SplitLoaders, L.LightningDataModule):
    """Link prediction on one connectome, full batch (module docstring for the split).

    Args:
        connectome: a :class:`Connectome`, or a dataset name for
            :func:`~ccnn.data.load_connectome` (e.g. ``"celegans_herm"``, ``"drosophila_mb_left"``).
        subject: the subject of a named cohort (position or id).
        synapses: C. elegans only: ``"chemical"`` (default), ``"gap"`` or ``"both"``.
        val_fraction, test_fraction: fractions of the directed edges held out.
        negatives: what val / test score against: ``"random"`` or ``"reversed"``.
        node_features: ``"identity"``, ``"degree"``, ``"profile"``, a ``node_attrs`` key, an
            ``(N, F)`` tensor, or a list of these (:func:`node_features`).
        edge_weight: the training graph's edge weights: ``"log1p"`` of the synapse counts,
            ``"raw"`` or ``"binary"``.
        seed: the split's seed (independent of the training seed).

    Attributes (after :meth:`setup`): ``split`` (:class:`EdgeSplit`), ``graph`` (the training
    graph: ``x``, ``edge_index``, ``edge_weight``, ``num_nodes``), ``connectome``.
    ``n_nodes`` and ``n_inputs`` are linked into the model by ``train.py``.

    Loaders yield one dict per step: ``train``: ``{"edges": (2, E_train)}``; ``val`` / ``test``
    / ``predict``: ``{"edges": (2, P + Q), "labels": (P + Q,)}`` (1 for held-out edges, 0 for
    negatives).
    """

    def __init__(
        self,
        connectome: Connectome | str = "celegans_herm",
        *,
        subject: int | str = 0,
        synapses: Literal["chemical", "gap", "both"] | None = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.10,
        negatives: Literal["random", "reversed"] = "random",
        node_features: str | list[str] = "degree",
        edge_weight: Literal["log1p", "raw", "binary"] = "log1p",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(connectome, Connectome | str):
            raise TypeError(
                f"connectome: expected a Connectome or a dataset name, got {describe(connectome)}"
            )
        check_choice(negatives, "negatives", NEGATIVES)
        check_choice(edge_weight, "edge_weight", EDGE_WEIGHTS)
        _check_fraction(val_fraction, "val_fraction")
        _check_fraction(test_fraction, "test_fraction")
        check_int(seed, "seed", minimum=0)
        self.source, self.subject, self.synapses = connectome, subject, synapses
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.negatives, self.feature_kind, self.edge_weight, self.seed = (
            negatives,
            node_features,
            edge_weight,
            seed,
        )
        self.connectome: Connectome | None = None
        self.split: EdgeSplit | None = None
        self.features: Tensor | None = None
        if isinstance(connectome, Connectome):  # check everything now, not in setup
            self._prepare()

    def _prepare(self) -> None:
        if self.split is not None:
            return
        if isinstance(self.source, Connectome):
            connectome = self.source
        else:
            kwargs = {} if self.synapses is None else {"synapses": self.synapses}
            connectome = load_connectome(self.source, self.subject, **kwargs)
        split = split_edges(
            connectome, val_fraction=self.val_fraction, test_fraction=self.test_fraction, seed=self.seed
        )
        self.features = node_features(self.feature_kind, split, connectome)
        self.connectome, self.split = connectome, split

    def setup(self, stage: str | None = None) -> None:
        self._prepare()

    # ------------------------------------------------------------------ public interface
    @property
    def n_nodes(self) -> int:
        self._prepare()
        return self.split.num_nodes

    @property
    def n_inputs(self) -> int:
        self._prepare()
        return int(self.features.shape[1])

    @property
    def graph(self):
        """The training graph as a ``torch_geometric.data.Data`` (edges = training edges only)."""
        from torch_geometric.data import Data

        self._prepare()
        split = self.split
        return Data(
            x=self.features,
            edge_index=split.train,
            edge_weight=_edge_weight(split.train_weight, self.edge_weight),
            num_nodes=split.num_nodes,
        )

    def held_out(self, part: str, negatives: str | None = None) -> tuple[Tensor, Tensor]:
        """``(edges (2, P + Q), labels (P + Q,))`` of ``part`` with ``negatives`` (default: the module's)."""
        self._prepare()
        positives, negative_edges = self.split.evaluation_edges(part, negatives or self.negatives)
        labels = torch.cat([torch.ones(positives.shape[1]), torch.zeros(negative_edges.shape[1])])
        return torch.cat([positives, negative_edges], 1), labels

    @property
    def cell_types(self) -> Tensor | None:
        """``node_attrs["cell_type"]`` of the connectome, or None."""
        self._prepare()
        return self.connectome.node_attrs.get("cell_type")

    @property
    def cell_type_names(self) -> list[str] | None:
        self._prepare()
        return self.connectome.meta.get("cell_types")

    @property
    def name(self) -> str:
        """The dataset name, or the connectome's ``meta["dataset"]``."""
        if isinstance(self.source, str):
            return self.source
        return str(self.source.meta.get("dataset", "connectome"))

    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        self._prepare()
        if part == "train":
            item = {"edges": self.split.train}
        else:
            edges, labels = self.held_out(part)
            item = {"edges": edges, "labels": labels}
        return DataLoader(_OneItem(item), batch_size=None, shuffle=False)

    def __repr__(self) -> str:
        return (
            f"LinkPredictionDataModule({self.name!r}, negatives={self.negatives!r}, "
            f"node_features={self.feature_kind!r}, val={self.val_fraction}, test={self.test_fraction}, "
            f"seed={self.seed})"
        )
