"""A light container for a structural connectome.

A :class:`Connectome` holds an ``(N, N)`` weight matrix over ``N`` nodes (brain regions or
single neurons), dense or sparse, together with optional fibre lengths, node positions, node
names, per-node and per-edge attributes and free-form metadata. It validates everything once,
on construction, and can be turned into a :class:`torch_geometric.data.Data` graph or saved to /
loaded from a ``.npz`` file.

Orientation convention
----------------------
``weights[i, j]`` is the connection **from node j** (presynaptic, source) **to node i**
(postsynaptic, target). Rows are targets and columns are sources, exactly as in
``torch.nn.Linear.weight``, so ``weights @ x`` propagates activity ``x`` one step along the
connectome. PyTorch Geometric uses the opposite layout (``edge_index[0]`` is the source); see
:meth:`Connectome.to_pyg`.

Sparse connectomes and edge order
---------------------------------
Weights given as a sparse COO tensor stay sparse (coalesced, explicit zeros dropped), so that
connectomes of ~10⁵ neurons never need an ``N × N`` array. The connections of a connectome, in
**edge order**, are its nonzero entries ``(i, j)`` in row-major order: by postsynaptic ``i``,
then presynaptic ``j``. That is the order of ``dense.nonzero()`` and of a coalesced COO
tensor's ``indices()``, and the order of :meth:`Connectome.edges` and of every tensor in
``edge_attrs``, for dense and sparse connectomes alike.

This module only needs torch and NumPy; ``torch_geometric`` is imported when ``to_pyg`` is called.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ccnn._io import atomic_write
from ccnn._validation import as_tensor, check_finite, check_nonnegative, check_probability, describe

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["MAX_DENSE_DISTANCE_NODES", "Connectome"]

ArrayLike = Tensor | np.ndarray | Sequence[Any]

# Prefixes of the per-node / per-edge attribute keys in the ``.npz`` layout of ``Connectome.save``.
_NODE_ATTR_PREFIX = "node_attr."
_EDGE_ATTR_PREFIX = "edge_attr."

#: Largest node count for which a sparse connectome with coordinates still computes the dense
#: ``(N, N)`` :attr:`Connectome.distances` (4096² float32 entries = 64 MiB).
MAX_DENSE_DISTANCE_NODES = 4096


class Connectome:
    r"""A structural connectome over ``N`` nodes.

    ``weights[i, j]`` is the connection from node ``j`` (source, presynaptic) to node ``i``
    (target, postsynaptic): rows are targets, as in ``nn.Linear.weight``. A zero entry means
    "no connection"; any nonzero entry, negative ones included (e.g. inhibitory synapses), is
    an edge.

    Args:
        weights: ``(N, N)`` connection strengths, a tensor, NumPy array or nested list, or a
            sparse COO tensor (kept sparse: coalesced, explicit zeros dropped). Stored as
            ``torch.float64`` if given as float64 and as ``torch.float32`` otherwise. Must be
            finite, with ``N >= 1``.
        distances: optional ``(N, N)`` finite, non-negative distances between nodes, e.g. fibre
            tract lengths, with the same orientation as ``weights``.
        coords: optional ``(N, d)`` finite node positions with ``d`` 2 or 3.
        labels: optional sequence of ``N`` strings, e.g. region names.
        node_attrs: optional mapping from a name to a tensor or array whose first dimension is
            ``N``, e.g. hemisphere or module id. Their dtypes are kept.
        meta: optional JSON-serialisable dict, e.g. subject id, atlas and data source.
        edge_attrs: optional mapping from a name to a tensor or array of shape ``(E,)`` or
            ``(E, k)``, one entry per connection in edge order (module docstring), with
            ``E`` = :attr:`num_edges`, e.g. synapse signs or a parameter-sharing index.

    Attributes:
        weights (Tensor): ``(N, N)`` float32 or float64 weights, strided or sparse COO.
        coords (Tensor | None): ``(N, d)`` positions, in the dtype of ``weights``.
        labels (tuple[str, ...] | None): ``N`` node names.
        node_attrs (dict[str, Tensor]): per-node tensors of shape ``(N, ...)``; empty if none.
        edge_attrs (dict[str, Tensor]): per-edge tensors of shape ``(E, ...)`` in edge order;
            empty if none.
        meta (dict): metadata, stored as its JSON round trip (so tuples become lists); empty if
            none.

    The distance matrix is exposed through the read-only property :attr:`distances`. Floating
    tensors follow the dtype and all tensors the device of ``weights``. Tensors are not copied
    when they already have the right dtype and device, so later in-place edits to the inputs
    show through; the fields are meant to be treated as read-only.

    Example:
        >>> import torch
        >>> w = torch.tensor([[0.0, 0.5, 0.0],
        ...                   [0.0, 0.0, 2.0],
        ...                   [1.0, 0.0, 0.0]])  # 1 -> 0, 2 -> 1, 0 -> 2
        >>> conn = Connectome(w, coords=torch.rand(3, 3), labels=["V1", "V2", "MT"])
        >>> conn
        Connectome(num_nodes=3, num_edges=3, density=0.3333, coords=(3, 3), labels)
        >>> conn.mask(density=0.2)  # the two strongest connections
        tensor([[False, False, False],
                [False, False,  True],
                [ True, False, False]])
        >>> conn.distances.shape  # computed from coords
        torch.Size([3, 3])
    """

    def __init__(
        self,
        weights: ArrayLike,
        *,
        distances: ArrayLike | None = None,
        coords: ArrayLike | None = None,
        labels: Sequence[str] | np.ndarray | None = None,
        node_attrs: Mapping[str, ArrayLike] | None = None,
        meta: Mapping[str, Any] | None = None,
        edge_attrs: Mapping[str, ArrayLike] | None = None,
    ) -> None:
        self.weights = _to_weights(weights)
        n = self.weights.shape[0]
        dtype, device = self.weights.dtype, self.weights.device

        self._distances: Tensor | None = None
        if distances is not None:
            dist = _as_float(distances, "distances", dtype, device)
            _check_exact_shape(dist, (n, n), "distances", f"(N, N) = ({n}, {n}) to match weights")
            check_finite(dist, "distances")
            check_nonnegative(dist, "distances")
            self._distances = dist

        self.coords: Tensor | None = None
        if coords is not None:
            pos = _as_float(coords, "coords", dtype, device)
            if pos.dim() != 2 or pos.shape[0] != n or pos.shape[1] not in (2, 3):
                raise ValueError(
                    f"coords: expected shape (N, 2) or (N, 3) with N = {n} nodes, got {tuple(pos.shape)}"
                )
            check_finite(pos, "coords")
            self.coords = pos

        self.labels: tuple[str, ...] | None = None if labels is None else _to_labels(labels, n)
        self.node_attrs: dict[str, Tensor] = _to_attrs(node_attrs, "node_attrs", n, "node", device)
        self.meta: dict[str, Any] = _to_meta(meta)
        self.edge_attrs: dict[str, Tensor] = _to_attrs(
            edge_attrs, "edge_attrs", self.num_edges, "connection", device
        )

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_numpy(cls, weights: np.ndarray, **kwargs: Any) -> Connectome:
        """Build a connectome from a NumPy ``(N, N)`` weight array; keyword arguments as in ``__init__``."""
        if not isinstance(weights, np.ndarray):
            raise TypeError(f"weights: expected a numpy.ndarray, got {describe(weights)}")
        return cls(weights, **kwargs)

    @classmethod
    def from_torch(cls, weights: Tensor, **kwargs: Any) -> Connectome:
        """Build a connectome from a ``(N, N)`` weight tensor; keyword arguments as in ``__init__``."""
        if not isinstance(weights, Tensor):
            raise TypeError(f"weights: expected a torch.Tensor, got {describe(weights)}")
        return cls(weights, **kwargs)

    # ------------------------------------------------------------------ summaries

    @property
    def num_nodes(self) -> int:
        """Number of nodes ``N``."""
        return int(self.weights.shape[0])

    @property
    def is_sparse(self) -> bool:
        """Whether ``weights`` is a sparse COO tensor (otherwise a dense, strided one)."""
        return self.weights.layout == torch.sparse_coo

    @property
    def num_edges(self) -> int:
        """Number of nonzero entries of ``weights``, self-connections included."""
        if self.is_sparse:
            return int(self.weights._nnz())  # explicit zeros are dropped on construction
        return int(torch.count_nonzero(self.weights))

    def edges(self) -> tuple[Tensor, Tensor, Tensor]:
        """The connections in edge order: ``(rows, cols, values)``, each of shape ``(E,)``.

        ``rows[e]`` is the postsynaptic (target) node ``i``, ``cols[e]`` the presynaptic
        (source) node ``j`` and ``values[e] = weights[i, j] != 0``; edges are sorted by ``i``,
        then ``j`` (row-major), for dense and sparse weights alike.
        """
        if self.is_sparse:
            rows, cols = self.weights.indices()
            return rows, cols, self.weights.values()
        rows, cols = self.weights.nonzero(as_tuple=True)
        return rows, cols, self.weights[rows, cols]

    def edge_attr_matrix(self, name: str) -> Tensor:
        """``edge_attrs[name]`` as a sparse ``(N, N)`` COO matrix on the connectome's pattern.

        For layers that take per-connection values as a matrix without densifying, e.g.
        ``ConnectomeLinear(n, n, conn, sign=conn.edge_attr_matrix("sign"))``.
        """
        if name not in self.edge_attrs:
            raise ValueError(f"name: expected one of the edge_attrs {sorted(self.edge_attrs)}, got {name!r}")
        values = self.edge_attrs[name]
        if values.dim() != 1:
            raise ValueError(f"name: edge_attrs[{name!r}] has shape {tuple(values.shape)}; expected (E,)")
        rows, cols, _ = self.edges()
        shape = (self.num_nodes, self.num_nodes)
        return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, is_coalesced=True)

    @property
    def density(self) -> float:
        """Fraction of nonzero weights among all ``N * N`` entries (the diagonal counts)."""
        return self.num_edges / self.num_nodes**2

    @property
    def is_symmetric(self) -> bool:
        """Whether ``weights`` equals its transpose exactly (an undirected connectome)."""
        if self.is_sparse:
            transposed = self.weights.t().coalesce()
            return bool(
                torch.equal(self.weights.indices(), transposed.indices())
                and torch.equal(self.weights.values(), transposed.values())
            )
        return bool(torch.equal(self.weights, self.weights.mT))

    @property
    def distances(self) -> Tensor | None:
        """``(N, N)`` distances between nodes.

        The stored ``distances`` if given; otherwise, when ``coords`` exist, the Euclidean
        distances between node positions (recomputed on each access); otherwise ``None``.
        For a sparse connectome of more than :data:`MAX_DENSE_DISTANCE_NODES` nodes the dense
        matrix would be too large: use :meth:`edge_distances` instead (a ``ValueError`` says so).
        """
        if self._distances is not None:
            return self._distances
        if self.coords is not None:
            if self.is_sparse and self.num_nodes > MAX_DENSE_DISTANCE_NODES:
                raise ValueError(
                    f"distances: a sparse connectome of {self.num_nodes} nodes (> "
                    f"{MAX_DENSE_DISTANCE_NODES}) gets no dense (N, N) distance matrix; use "
                    "edge_distances() for the (E,) distances along its connections"
                )
            # The direct formula is exact (zero diagonal, symmetric); the matmul shortcut that
            # cdist picks for larger inputs is not, and N^2 * d is cheap at connectome sizes.
            return torch.cdist(self.coords, self.coords, compute_mode="donot_use_mm_for_euclid_dist")
        return None

    def edge_distances(self) -> Tensor | None:
        """``(E,)`` distance along each connection, in edge order (:meth:`edges`).

        ``distances[i, j]`` for each edge ``j → i``: the stored distances if given, otherwise
        ``‖coords[i] − coords[j]‖`` computed per edge (no ``N × N`` matrix for sparse
        connectomes); ``None`` when there are neither distances nor coordinates.
        """
        rows, cols, _ = self.edges()
        if self._distances is not None:
            return self._distances[rows, cols]
        if self.coords is None:
            return None
        if not self.is_sparse:
            return self.distances[rows, cols]  # the exact dense formula, as before
        return (self.coords[rows] - self.coords[cols]).norm(dim=-1)

    # ------------------------------------------------------------------ masks

    def mask(self, density: float | None = None, threshold: float | None = None) -> Tensor:
        """Boolean ``(N, N)`` mask of the connections to keep (a sparse COO bool tensor, holding
        only the kept entries in edge order, when ``weights`` is sparse).

        Args:
            density: if given, in ``(0, 1]``: keep the ``round(density * N * N)`` entries with the
                largest ``|weight|``, never more than the nonzero ones. Ties are broken in
                favour of the entry that comes first in row-major order.
            threshold: if given, ``>= 0``: keep the entries with ``|weight| > threshold``.

        With neither argument, the mask is ``weights != 0``. Passing both is an error.
        """
        if density is not None and threshold is not None:
            raise ValueError(
                f"mask: expected at most one of density= or threshold=, got both "
                f"(density={density!r}, threshold={threshold!r})"
            )
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise TypeError(f"threshold: expected a float, got {describe(threshold)}")
            if not (math.isfinite(threshold) and threshold >= 0):
                raise ValueError(f"threshold: expected a finite value >= 0, got {threshold}")
        if density is not None:
            density = check_probability(density, "density", allow_zero=False)
        if self.is_sparse:
            return self._sparse_mask(density, threshold)

        strength = self.weights.abs()
        if threshold is not None:
            return strength > threshold
        if density is None:
            return self.weights != 0

        n = self.num_nodes
        k = min(round(density * n * n), self.num_edges)
        # A stable sort keeps equal strengths in row-major order, so ties resolve the same way on
        # every call and platform. Zeros sort last and k <= num_edges, so none is ever kept.
        order = torch.argsort(strength.flatten(), descending=True, stable=True)
        keep = torch.zeros(n * n, dtype=torch.bool, device=self.weights.device)
        keep[order[:k]] = True
        return keep.view(n, n)

    def _sparse_mask(self, density: float | None, threshold: float | None) -> Tensor:
        rows, cols, values = self.edges()
        strength = values.abs()
        if threshold is not None:
            keep = strength > threshold
        elif density is not None:
            n = self.num_nodes
            k = min(round(density * n * n), self.num_edges)
            # Edges are in row-major order, so a stable sort breaks ties as the dense mask does.
            order = torch.argsort(strength, descending=True, stable=True)
            keep = torch.zeros_like(strength, dtype=torch.bool)
            keep[order[:k]] = True
        else:
            keep = torch.ones_like(strength, dtype=torch.bool)
        indices = torch.stack([rows[keep], cols[keep]])
        flags = torch.ones(indices.shape[1], dtype=torch.bool, device=indices.device)
        return _sparse(indices, flags, self.num_nodes)

    # ------------------------------------------------------------------ conversion

    def to_pyg(self) -> Data:
        """Convert to a :class:`torch_geometric.data.Data` graph.

        Every nonzero ``weights[i, j]`` becomes one edge **from j to i**, following PyTorch
        Geometric's ``(source, target)`` convention: ``edge_index[0]`` holds the sources ``j``
        and ``edge_index[1]`` the targets ``i``. Edges are sorted by source, then target.

        Returns:
            ``Data`` with ``edge_index`` ``(2, E)`` (int64), ``edge_weight`` ``(E,)``,
            ``num_nodes`` ``N``, ``pos`` ``(N, d)`` when ``coords`` exist, ``edge_attr``
            ``(E, 1)`` holding the distance of each edge when there are distances or
            coordinates (:meth:`edge_distances`), and each entry of ``edge_attrs``, reordered to
            the PyG edge order, under ``edge_<name>`` (or ``<name>`` if it starts with
            ``edge_``, e.g. ``edge_type``).
        """
        try:
            from torch_geometric.data import Data
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Connectome.to_pyg requires torch_geometric (pip install torch-geometric)"
            ) from err

        # Edge order is (target, source) row-major; PyG's is sorted by source, then target.
        rows, cols, values = self.edges()
        order = torch.argsort(cols * self.num_nodes + rows)
        fields: dict[str, Any] = {
            "edge_index": torch.stack([cols[order], rows[order]]),
            "edge_weight": values[order],
            "num_nodes": self.num_nodes,
        }
        if self.coords is not None:
            fields["pos"] = self.coords
        dist = self.edge_distances()
        if dist is not None:
            fields["edge_attr"] = dist[order].unsqueeze(-1)
        for name, value in self.edge_attrs.items():
            key = name if name.startswith("edge_") else f"edge_{name}"
            if key in fields:
                raise ValueError(
                    f"edge_attrs[{name!r}]: its PyG name {key!r} clashes with a field to_pyg writes"
                )
            fields[key] = value[order]
        return Data(**fields)

    def to(self, target: torch.device | str | torch.dtype) -> Connectome:
        """Return a new connectome with its tensors on another device or floating dtype.

        Args:
            target: a device (all tensors move), or ``torch.float32`` / ``torch.float64`` (the
                weights, distances and coordinates are cast; ``node_attrs`` and ``edge_attrs``
                keep their dtype).
        """
        if isinstance(target, torch.dtype):
            if target not in (torch.float32, torch.float64):
                raise ValueError(f"target: expected torch.float32 or torch.float64, got {target}")

            def move(t: Tensor) -> Tensor:
                return t.to(target)

            attrs = dict(self.node_attrs)
            edge_attrs = dict(self.edge_attrs)
        else:
            device = torch.device(target)

            def move(t: Tensor) -> Tensor:
                return t.to(device)

            attrs = {name: move(value) for name, value in self.node_attrs.items()}
            edge_attrs = {name: move(value) for name, value in self.edge_attrs.items()}
        return type(self)(
            move(self.weights),
            distances=None if self._distances is None else move(self._distances),
            coords=None if self.coords is None else move(self.coords),
            labels=self.labels,
            node_attrs=attrs,
            meta=self.meta,
            edge_attrs=edge_attrs,
        )

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the connectome to a ``.npz`` file, atomically.

        The archive holds ``weights`` (sparse weights as ``weights_indices`` ``(2, E)``,
        ``weights_values`` ``(E,)`` and ``weights_shape`` instead) and, when present,
        ``distances`` (only given ones, not those computed from ``coords``), ``coords``,
        ``labels`` (a string array), one ``node_attr.<name>`` array per node attribute, one
        ``edge_attr.<name>`` array per edge attribute and ``meta`` (a JSON string). The file is
        first written under a temporary name in the same directory and then renamed over
        ``path``, so readers never see a half-written file. ``path`` is used as given; no
        ``.npz`` suffix is added.
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        if self.is_sparse:
            arrays["weights_indices"] = _to_numpy(self.weights.indices())
            arrays["weights_values"] = _to_numpy(self.weights.values())
            arrays["weights_shape"] = np.array(self.weights.shape, dtype=np.int64)
        else:
            arrays["weights"] = _to_numpy(self.weights)
        if self._distances is not None:
            arrays["distances"] = _to_numpy(self._distances)
        if self.coords is not None:
            arrays["coords"] = _to_numpy(self.coords)
        if self.labels is not None:
            arrays["labels"] = np.array(self.labels, dtype=np.str_)
        for name, value in self.node_attrs.items():
            arrays[_NODE_ATTR_PREFIX + name] = _to_numpy(value)
        for name, value in self.edge_attrs.items():
            arrays[_EDGE_ATTR_PREFIX + name] = _to_numpy(value)
        arrays["meta"] = np.array(json.dumps(self.meta))

        with atomic_write(path) as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Connectome:
        """Read a connectome written by :meth:`save`, validating it as the constructor does.

        Keys other than those :meth:`save` writes are ignored.
        """
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"path: expected a .npz archive written by Connectome.save, got {path!s}")
        with archive:
            keys = list(archive.files)
            sparse_keys = ("weights_indices", "weights_values", "weights_shape")
            if "weights" in keys:
                weights = torch.from_numpy(archive["weights"])
            elif all(key in keys for key in sparse_keys):
                shape = tuple(int(s) for s in archive["weights_shape"])
                weights = torch.sparse_coo_tensor(
                    torch.from_numpy(archive["weights_indices"]).long(),
                    torch.from_numpy(archive["weights_values"]),
                    shape,
                    check_invariants=True,
                )
            else:
                raise ValueError(
                    f"path: expected a 'weights' array (or weights_indices / weights_values / "
                    f"weights_shape) in {path!s}, found keys {keys}"
                )
            distances = torch.from_numpy(archive["distances"]) if "distances" in keys else None
            coords = torch.from_numpy(archive["coords"]) if "coords" in keys else None
            labels = archive["labels"].tolist() if "labels" in keys else None
            node_attrs = {
                key[len(_NODE_ATTR_PREFIX) :]: torch.from_numpy(archive[key])
                for key in keys
                if key.startswith(_NODE_ATTR_PREFIX)
            }
            edge_attrs = {
                key[len(_EDGE_ATTR_PREFIX) :]: torch.from_numpy(archive[key])
                for key in keys
                if key.startswith(_EDGE_ATTR_PREFIX)
            }
            meta = json.loads(archive["meta"].item()) if "meta" in keys else None
        return cls(
            weights,
            distances=distances,
            coords=coords,
            labels=labels,
            node_attrs=node_attrs,
            meta=meta,
            edge_attrs=edge_attrs,
        )

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        parts = [f"num_nodes={self.num_nodes}", f"num_edges={self.num_edges}", f"density={self.density:.4g}"]
        if self.is_sparse:
            parts.append("sparse")
        if self._distances is not None:
            parts.append("distances")
        if self.coords is not None:
            parts.append(f"coords={tuple(self.coords.shape)}")
        if self.labels is not None:
            parts.append("labels")
        if self.node_attrs:
            parts.append(f"node_attrs=[{', '.join(self.node_attrs)}]")
        if self.edge_attrs:
            parts.append(f"edge_attrs=[{', '.join(self.edge_attrs)}]")
        if self.meta:
            parts.append(f"meta=[{', '.join(self.meta)}]")
        return f"{type(self).__name__}({', '.join(parts)})"


# ---------------------------------------------------------------------- helpers


def _to_weights(weights: Any) -> Tensor:
    w = as_tensor(weights, "weights")
    if w.layout != torch.strided:
        return _to_sparse_weights(w)
    if w.is_complex():
        raise TypeError(f"weights: expected real numbers, got {describe(w)}")
    if w.dim() != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
        raise ValueError(f"weights: expected a square (N, N) matrix with N >= 1, got shape {tuple(w.shape)}")
    w = w.detach().to(torch.float64 if w.dtype == torch.float64 else torch.float32)
    check_finite(w, "weights")
    return w


def _to_sparse_weights(w: Tensor) -> Tensor:
    if w.layout != torch.sparse_coo:
        try:
            w = w.to_sparse_coo()
        except (RuntimeError, TypeError) as err:
            raise TypeError(f"weights: expected a dense or sparse COO tensor, got layout {w.layout}") from err
    if w.is_complex():
        raise TypeError(f"weights: expected real numbers, got {describe(w)}")
    if w.sparse_dim() != 2 or w.dense_dim() != 0 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
        raise ValueError(
            f"weights: expected a square (N, N) sparse matrix with N >= 1 (2 sparse dims, no dense "
            f"dims), got shape {tuple(w.shape)}"
        )
    w = w.detach().coalesce()
    values = w.values().to(torch.float64 if w.dtype == torch.float64 else torch.float32)
    check_finite(values, "weights")
    indices = w.indices()
    nonzero = values != 0
    if not bool(nonzero.all()):  # explicit zeros are no connections
        indices, values = indices[:, nonzero], values[nonzero]
    return _sparse(indices, values, int(w.shape[0]))


def _sparse(indices: Tensor, values: Tensor, n: int) -> Tensor:
    """A coalesced ``(n, n)`` COO tensor from indices already unique and in row-major order."""
    return torch.sparse_coo_tensor(indices, values, (n, n), is_coalesced=True, check_invariants=False)


def _as_float(value: Any, name: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    t = _dense(as_tensor(value, name))
    if t.is_complex():
        raise TypeError(f"{name}: expected real numbers, got {describe(t)}")
    return t.detach().to(device=device, dtype=dtype)


def _dense(t: Tensor) -> Tensor:
    # Sparse tensors would slip past the shape checks but break the elementwise ones.
    return t.to_dense() if t.layout != torch.strided else t


def _check_exact_shape(t: Tensor, shape: tuple[int, ...], name: str, expected: str) -> None:
    if tuple(t.shape) != shape:
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(t.shape)}")


def _to_labels(labels: Any, n: int) -> tuple[str, ...]:
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if isinstance(labels, str | bytes) or not isinstance(labels, Sequence):
        raise TypeError(f"labels: expected a sequence of {n} strings, got {describe(labels)}")
    bad = [i for i, label in enumerate(labels) if not isinstance(label, str)]
    if bad:
        raise TypeError(
            f"labels: expected a sequence of strings, got {describe(labels[bad[0]])} at index {bad[0]}"
        )
    if len(labels) != n:
        raise ValueError(f"labels: expected {n} labels (one per node), got {len(labels)}")
    return tuple(str(label) for label in labels)


def _to_attrs(attrs: Any, field: str, count: int, unit: str, device: torch.device) -> dict[str, Tensor]:
    """Validate ``node_attrs`` (``unit="node"``, any trailing shape) or ``edge_attrs``
    (``unit="connection"``, ``(E,)`` or ``(E, k)`` in edge order): finite, one row per unit."""
    if attrs is None:
        return {}
    if not isinstance(attrs, Mapping):
        raise TypeError(f"{field}: expected a dict of name -> length-{count} array, got {describe(attrs)}")
    out: dict[str, Tensor] = {}
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{field}: expected non-empty string keys, got {describe(key)}")
        name = f"{field}[{key!r}]"
        t = _dense(as_tensor(value, name)).detach().to(device)
        if unit == "node" and (t.dim() == 0 or t.shape[0] != count):
            raise ValueError(
                f"{name}: expected shape ({count}, ...) (one entry per node), got {tuple(t.shape)}"
            )
        if unit == "connection" and (t.dim() not in (1, 2) or t.shape[0] != count):
            raise ValueError(
                f"{name}: expected shape ({count},) or ({count}, k), one entry per connection "
                f"in edge order (num_edges = {count}), got {tuple(t.shape)}"
            )
        check_finite(t, name)
        out[key] = t
    return out


def _to_meta(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta: expected a JSON-serialisable dict, got {describe(meta)}")
    try:
        text = json.dumps(dict(meta), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"meta: expected a JSON-serialisable dict, got one that fails to encode: {err}"
        ) from err
    # Keep the JSON round trip so that save/load returns exactly what is stored here.
    return json.loads(text)


def _to_numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
