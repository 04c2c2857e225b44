r"""The fly optic lobe connectome of flyvis, expanded to single neurons on a hexagonal lattice.

Source: ``connectome/fib25-fib19_v2.2.json`` inside the flyvis 1.2.0 wheel (MIT licence; read as
data through :mod:`ccnn.data.connectomes.package_data`, flyvis is never installed or imported).
It is the connectome of Lappalainen et al. 2024, "Connectome-constrained networks predict
neural activity across the fly visual system", Nature 634, 1132–1140
(doi:10.1038/s41586-024-07939-3), built from the FIB-25 / FIB-19 electron-microscopy
reconstructions of the Drosophila medulla and lamina. The file describes the circuit of one
visual column, not single neurons:

* ``nodes``: 65 cell types (R1–R8 photoreceptors, lamina, medulla, lobula and lobula-plate
  types), each with a placement pattern ``["stride", [s_u, s_v]]`` (all types here),
  ``["tile", s]`` (= stride ``[s, s]``) or ``["single", null]`` (one cell, in the centre);
* ``edges``: 605 edge types ``(source type, target type)``, each with a sign ``alpha`` (±1)
  and a list of spatial offsets ``[[du, dv], n_syn]``: the mean number of synapses from a
  source cell in column ``(u, v)`` onto the target cell in column ``(u + du, v + dv)``;
* ``input_units`` (the 8 photoreceptor types) and ``output_units`` (34 types decoded by the
  model's task heads).

Expansion (what flyvis computes, re-implemented here from its documented construction)
--------------------------------------------------------------------------------------
**Columns.** Columns sit on a hexagonal lattice in axial coordinates ``(u, v)``; the eye is the
hexagon of radius ``extent`` (15 in flyvis' default configuration),

.. math:: \mathcal{H}_n = \{(u, v) \in \mathbb{Z}^2 : |u| \le n,\ |v| \le n,\ |u + v| \le n\},
          \qquad |\mathcal{H}_n| = 3n(n + 1) + 1 \quad (721 \text{ at } n = 15).

**Neurons.** A type with stride ``(s_u, s_v)`` has one neuron in every column of
:math:`\mathcal{H}_n` with :math:`u \equiv 0 \pmod{s_u}` and :math:`v \equiv 0 \pmod{s_v}`:
63 types have stride ``(1, 1)`` (one neuron per column) and two, the wide-field lamina cells
Lawf1 and Lawf2, stride ``(3, 2)``. Neurons are numbered type by type
in the file's order and, within a type, by ``u`` then ``v`` (flyvis' own node order). At
``extent=15`` that is 63 · 721 + 2 · 123 = **45,669** neurons, the number flyvis documents.

**Connections.** Each edge type acts as a convolution on the lattice: every source neuron at
``(u, v)`` connects, for every offset ``(du, dv)``, to the target-type neuron at
``(u + du, v + dv)`` when that neuron exists (offsets that leave the hexagon or miss a strided
type's columns make no connection). The weight is the offset's synapse count ``n_syn``.

**Hull filling (``n_syn_fill``).** Sparse EM counts leave holes in an offset pattern. For
every edge type with at least 3 reported offsets, flyvis adds each lattice offset that lies in
the convex hull of the reported offsets and was not reported, with ``n_syn_fill`` synapses
(1 in the default configuration; 0 turns filling off). Offsets on the hull's boundary count as
inside, except those on a bottom edge (an edge of constant, minimal ``dv``); collinear reports
(no area) add nothing. This boundary rule is the one flyvis' point-in-polygon test applies; with
it the expansion gives **1,513,231** connections at ``extent=15``, the count of flyvis' own
construction (about 1.5 million, as flyvis documents). The filled connections are flagged
in ``edge_attrs["filled"]``.

**Parameters.** flyvis shares parameters by type: one resting potential and one time constant
per cell type (2 · 65) and one synapse strength per edge type that has connections. At
``extent=15`` 604 of the 605 edge types have some (Lawf1 → Lawf1 has the single offset
``(1, 0)``, which never joins two stride-(3, 2) columns), giving the paper's
65 + 65 + 604 = **734** free parameters; ``edge_attrs["edge_type"]`` is that sharing index.
Synapse counts (``weights``) and signs are fixed, not trained.

Returned :class:`~ccnn.data.connectomes.connectome.Connectome`
-------------------------------------------------------------
* ``weights``: sparse COO ``(N, N)`` float32 synapse counts, ``weights[i, j]`` = synapses from
  neuron ``j`` onto neuron ``i`` (rows postsynaptic), unsigned;
* ``labels``: ``"<type>_(<u>,<v>)"``, e.g. ``"T4a_(0,0)"`` or ``"CT1(Lo1)_(3,-2)"``;
* ``coords``: ``(N, 2)`` planar column centres ``(x, y) = (u + v / 2, \sqrt{3}\, v / 2)`` in
  units of the column spacing (axial → Cartesian; neighbouring columns are 1 apart, the
  central column at the origin; neurons of one column share a position);
* ``node_attrs``: ``cell_type`` (int64 index into ``meta["cell_types"]``), ``u``, ``v``
  (int64) and ``role`` (index into ``meta["roles"]``: input, intermediate, output). There is
  no per-node sign: R8, Am, C2 and C3 make both excitatory and inhibitory edge types;
* ``edge_attrs`` (edge order: rows, then columns): ``sign`` (float32 ±1, the edge type's
  ``alpha``), ``edge_type`` (int64 index into ``meta["edge_types"]``, the ``[source, target]``
  type pairs in the file's order) and ``filled`` (bool);
* ``meta``: source, licence, reference, extent, n_syn_fill, cell_types, edge_types, roles,
  input_units, output_units, coords (the mapping above).

The signed weight of edge ``e`` is ``edge_attrs["sign"][e] * weights.values()[e]``; flyvis'
model scales it by a learned per-edge-type strength.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ccnn._validation import check_int, check_real
from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.package_data import PackageSource, package_data

__all__ = [
    "FLYVIS",
    "FLYVIS_DATASETS",
    "FLYVIS_FILE",
    "flyvis_connectome",
    "hexagon_columns",
    "hull_fill_offsets",
]

#: The flyvis wheel and the connectome file read from it.
FLYVIS_FILE = "connectome/fib25-fib19_v2.2.json"
FLYVIS = PackageSource("flyvis", "flyvis", "1.2.0", [FLYVIS_FILE])

#: Dataset names served by this module.
FLYVIS_DATASETS = ("flyvis_fib25",)

ROLES = ("input", "intermediate", "output")

REFERENCE = (
    "Lappalainen, Tschopp, Prakhya, McGill, Nern, Shinomiya, Takemura, Gruntman, Macke & Turaga "
    "(2024). Connectome-constrained networks predict neural activity across the fly visual system. "
    "Nature 634, 1132-1140. doi:10.1038/s41586-024-07939-3"
)


def hexagon_columns(extent: int, stride: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates ``(u, v)`` of the columns of the hexagon of radius ``extent`` with
    ``u % stride[0] == 0`` and ``v % stride[1] == 0``, sorted by ``u`` then ``v``."""
    extent = check_int(extent, "extent", minimum=0)
    axis = np.arange(-extent, extent + 1)
    u, v = np.meshgrid(axis, axis, indexing="ij")  # row-major: u outer, v inner
    u, v = u.ravel(), v.ravel()
    keep = (np.abs(u + v) <= extent) & (u % stride[0] == 0) & (v % stride[1] == 0)
    return u[keep], v[keep]


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of integer points, counter-clockwise, without collinear
    points (Andrew's monotone chain); fewer than 3 rows when the points are collinear."""
    ordered = sorted(set(map(tuple, points.tolist())))
    if len(ordered) < 3:
        return np.array(ordered, dtype=np.int64).reshape(-1, 2)

    def turn(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(sequence: list[tuple[int, int]]) -> list[tuple[int, int]]:
        chain: list[tuple[int, int]] = []
        for point in sequence:
            while len(chain) >= 2 and turn(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
        return chain[:-1]

    vertices = half(ordered) + half(ordered[::-1])
    return np.array(vertices, dtype=np.int64).reshape(-1, 2)


def hull_fill_offsets(offsets: np.ndarray) -> np.ndarray:
    """Integer offsets inside the convex hull of ``offsets`` (``(K, 2)`` ints) that are not in it.

    Inside means: strictly inside, or on the boundary but not on a bottom edge (a hull edge of
    constant ``dv`` at the hull's smallest ``dv``); see the module docstring. Fewer than three
    offsets, or collinear ones, give nothing. Returned sorted by ``du`` then ``dv``.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    hull = _convex_hull(offsets)
    if len(offsets) < 3 or len(hull) < 3:
        return np.zeros((0, 2), dtype=np.int64)
    low, high = offsets.min(0), offsets.max(0)
    du, dv = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1), indexing="ij")
    grid = np.stack([du.ravel(), dv.ravel()], axis=1)
    start, end = hull, np.roll(hull, -1, axis=0)
    edge = end - start
    # side[p, k] > 0: p lies left of (inside) the k-th counter-clockwise edge; 0: on its line.
    relative = grid[:, None, :] - start[None, :, :]
    side = edge[None, :, 0] * relative[..., 1] - edge[None, :, 1] * relative[..., 0]
    bottom = (edge[:, 1] == 0) & (edge[:, 0] > 0)  # counter-clockwise: the lower horizontal edge
    inside = ((side > 0) | ((side == 0) & ~bottom[None, :])).all(axis=1)
    reported = {tuple(p) for p in offsets.tolist()}
    return np.array([p for p in grid[inside].tolist() if tuple(p) not in reported], dtype=np.int64).reshape(
        -1, 2
    )


def _read_spec(root: Path) -> dict[str, Any]:
    spec = json.loads((root / FLYVIS_FILE).read_text())
    for key in ("nodes", "edges", "input_units", "output_units"):
        if key not in spec:
            raise ValueError(f"{FLYVIS_FILE}: expected a {key!r} entry, found {sorted(spec)}")
    return spec


def _stride(node: dict[str, Any]) -> tuple[int, int, bool]:
    """``(s_u, s_v, central_only)`` of a node type's placement pattern."""
    pattern, argument = node["pattern"]
    if pattern == "stride":
        return int(argument[0]), int(argument[1]), False
    if pattern == "tile":
        return int(argument), int(argument), False
    if pattern == "single":
        return 1, 1, True
    raise ValueError(f"{FLYVIS_FILE}: unknown placement pattern {pattern!r} of cell type {node['name']!r}")


def flyvis_connectome(root: Path | None = None, *, extent: int = 15, n_syn_fill: float = 1.0) -> Connectome:
    """The flyvis optic-lobe connectome expanded to single neurons (module docstring).

    Args:
        root: folder holding ``connectome/fib25-fib19_v2.2.json`` (default: the flyvis 1.2.0
            wheel's data, fetched once with :func:`~ccnn.data.connectomes.package_data.package_data`).
        extent: radius of the hexagonal eye in columns, an int >= 0 (flyvis' default 15:
            45,669 neurons, 1,513,231 connections).
        n_syn_fill: synapse count given to the offsets that fill the convex hull of each edge
            type's reported offsets (flyvis' default 1), >= 0; 0 adds none.

    Returns:
        A sparse :class:`~ccnn.data.connectomes.connectome.Connectome` (rows postsynaptic).
    """
    extent = check_int(extent, "extent", minimum=0)
    n_syn_fill = check_real(n_syn_fill, "n_syn_fill", positive=False)
    spec = _read_spec(package_data(FLYVIS) if root is None else Path(root))

    cell_types = [str(node["name"]) for node in spec["nodes"]]
    type_index = {name: k for k, name in enumerate(cell_types)}
    width = 2 * extent + 1
    # neuron_at[t, u + extent, v + extent]: index of the type-t neuron in column (u, v), or -1.
    neuron_at = np.full((len(cell_types), width, width), -1, dtype=np.int64)
    node_type, node_u, node_v = [], [], []
    count = 0
    for k, node in enumerate(spec["nodes"]):
        s_u, s_v, central_only = _stride(node)
        u, v = hexagon_columns(0 if central_only else extent, (s_u, s_v))
        neuron_at[k, u + extent, v + extent] = np.arange(count, count + len(u))
        node_type.append(np.full(len(u), k, dtype=np.int64))
        node_u.append(u)
        node_v.append(v)
        count += len(u)
    cell_type, u, v = (np.concatenate(parts) for parts in (node_type, node_u, node_v))

    sources, targets, counts, signs, kinds, filled = [], [], [], [], [], []
    edge_types: list[list[str]] = []
    for k, edge in enumerate(spec["edges"]):
        source_type, target_type = type_index[edge["src"]], type_index[edge["tar"]]
        edge_types.append([str(edge["src"]), str(edge["tar"])])
        offsets = np.array([offset for offset, _ in edge["offsets"]], dtype=np.int64).reshape(-1, 2)
        n_syn = np.array([n for _, n in edge["offsets"]], dtype=np.float64)
        is_fill = np.zeros(len(offsets), dtype=bool)
        if n_syn_fill > 0 and len(offsets) >= 3:
            extra = hull_fill_offsets(offsets)
            offsets = np.concatenate([offsets, extra])
            n_syn = np.concatenate([n_syn, np.full(len(extra), n_syn_fill)])
            is_fill = np.concatenate([is_fill, np.ones(len(extra), dtype=bool)])
        source = np.flatnonzero(cell_type == source_type)
        # Every (source neuron, offset) pair; keep those that land on a target-type neuron.
        target_u = u[source][:, None] + offsets[None, :, 0]
        target_v = v[source][:, None] + offsets[None, :, 1]
        on_lattice = (np.abs(target_u) <= extent) & (np.abs(target_v) <= extent)
        target = np.full(target_u.shape, -1, dtype=np.int64)
        target[on_lattice] = neuron_at[
            target_type, target_u[on_lattice] + extent, target_v[on_lattice] + extent
        ]
        source_index, offset_index = np.nonzero(target >= 0)
        sources.append(source[source_index])
        targets.append(target[source_index, offset_index])
        counts.append(n_syn[offset_index])
        signs.append(np.full(len(source_index), float(np.sign(edge["alpha"])), dtype=np.float32))
        kinds.append(np.full(len(source_index), k, dtype=np.int64))
        filled.append(is_fill[offset_index])

    source, target = np.concatenate(sources), np.concatenate(targets)
    order = np.argsort(target * count + source, kind="stable")  # edge order: rows, then columns
    source, target = source[order], target[order]
    keys = target * count + source
    if len(keys) > 1 and not bool((np.diff(keys) > 0).all()):
        raise ValueError(f"{FLYVIS_FILE}: two edge types connect the same pair of neurons")
    weights = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([target, source])),
        torch.from_numpy(np.concatenate(counts)[order].astype(np.float32)),
        (count, count),
        is_coalesced=True,
        check_invariants=False,
    )

    coords = np.stack([u + v / 2.0, v * (math.sqrt(3.0) / 2.0)], axis=1).astype(np.float32)
    role_of = {name: ROLES.index("intermediate") for name in cell_types}
    role_of.update({name: ROLES.index("output") for name in spec["output_units"]})
    role_of.update({name: ROLES.index("input") for name in spec["input_units"]})
    role = np.array([role_of[name] for name in cell_types], dtype=np.int64)[cell_type]
    labels = [
        f"{cell_types[t]}_({a},{b})"
        for t, a, b in zip(cell_type.tolist(), u.tolist(), v.tolist(), strict=True)
    ]
    return Connectome(
        weights,
        coords=coords,
        labels=labels,
        node_attrs={"cell_type": cell_type, "u": u.astype(np.int64), "v": v.astype(np.int64), "role": role},
        edge_attrs={
            "sign": np.concatenate(signs)[order],
            "edge_type": np.concatenate(kinds)[order],
            "filled": np.concatenate(filled)[order],
        },
        meta={
            "name": "flyvis_fib25",
            "source": f"flyvis {FLYVIS.version} ({FLYVIS_FILE})",
            "licence": "MIT",
            "reference": REFERENCE,
            "extent": extent,
            "n_syn_fill": n_syn_fill,
            "weights": "mean synapse counts (unsigned); signs in edge_attrs['sign']",
            "coords": "column centres (u + v/2, sqrt(3) v/2), column spacing 1",
            "cell_types": cell_types,
            "edge_types": edge_types,
            "roles": list(ROLES),
            "input_units": [str(name) for name in spec["input_units"]],
            "output_units": [str(name) for name in spec["output_units"]],
        },
    )
