r"""Structure → function: pairs of structural (SC) and functional (FC) connectivity per subject.

Each subject of a cohort gives one sample, a dict with

* ``sc`` (N, N): the structural connectivity (``weights``, after the ``transforms``);
* ``distances`` (N, N) or ``None``: fibre lengths where the cohort has them (``hcp``,
  ``gw``), else Euclidean distances between region centres, else ``None``;
* ``fc`` (N, N): the functional connectivity of the subject's BOLD series;
* ``coords`` (N, 3) or ``None``: region centres;
* ``subject``: the subject id.

FC is computed with nilearn's :class:`~nilearn.connectome.ConnectivityMeasure` on the
z-scored (T, N) time series :math:`X` (the transpose of ``node_attrs["bold"]``, (N, T)), with
the empirical covariance :math:`\Sigma = X^\top X / T` (no shrinkage unless ``shrinkage=True``,
which uses Ledoit–Wolf), as one of

* ``"correlation"``: :math:`C_{ij} = \Sigma_{ij} / \sqrt{\Sigma_{ii}\Sigma_{jj}}` (Pearson r,
  diagonal 1);
* ``"partial correlation"``: with the precision :math:`P = \Sigma^{-1}`,
  :math:`C_{ij} = -P_{ij} / \sqrt{P_{ii}P_{jj}}` (diagonal 1);
* ``"tangent"``: :math:`C = \log(\bar\Sigma^{-1/2} \Sigma \bar\Sigma^{-1/2})`, the subject's
  covariance in the tangent space at the group mean :math:`\bar\Sigma` (Varoquaux et al. 2010,
  MICCAI). The group mean depends on the subjects, so it is fitted on the **training
  subjects only** and every subject (training and held-out) is projected at that mean: a
  held-out subject never shapes anyone's FC.

Splits: ``"loso"`` (leave one subject out: fold ``k`` holds out subject ``k``, at least 3
subjects) or ``"kfold"`` (``n_folds`` shuffled folds, seeded by ``seed``). There is **no
separate validation set**: a LOSO fold has a single held-out subject, so ``val`` is the test
split (the same subjects); select hyper-parameters across folds, never on one fold's ``val``.

Folder cohorts: :func:`~ccnn.data.connectomes.datasets.load_connectome_cohort` reads the SC
files of the folder; the BOLD series are read from a ``bold/`` sub-folder (one (N, T) matrix
per subject, ``.npy``, ``.csv``, ``.tsv`` or ``.txt``, named by subject id like the SC files),
or, failing that, precomputed FC from an ``fc/`` sub-folder (one (N, N) matrix per subject;
``fc_kind`` must then be ``"correlation"``, taken as given). An in-memory
:class:`~ccnn.data.connectomes.datasets.ConnectomeCohort` whose connectomes carry
``node_attrs["bold"]`` (N, T) or ``node_attrs["fc"]`` (N, N) is accepted too.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ccnn.data import Connectome, ConnectomeCohort, StructureFunctionDataModule
    >>> rng = np.random.default_rng(0)
    >>> subjects = [Connectome(np.ones((4, 4)), node_attrs={"bold": rng.normal(size=(4, 50))})
    ...             for _ in range(3)]
    >>> cohort = ConnectomeCohort("toy", subjects, pd.DataFrame(index=["a", "b", "c"]))
    >>> dm = StructureFunctionDataModule(cohort=cohort, split="loso", fold=1)
    >>> dm.subjects("train"), dm.subjects("test"), dm.n_regions
    (['a', 'c'], ['b'], 4)
    >>> dm.arrays("train")["fc"].shape
    torch.Size([2, 4, 4])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from nilearn.connectome import ConnectivityMeasure
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.model_selection import KFold
from torch import Tensor
from torch.utils.data import DataLoader

from ccnn._validation import check_choice, check_int, describe
from ccnn.data._split_loaders import SplitLoaders
from ccnn.data.connectomes.connectome import Connectome
from ccnn.data.connectomes.datasets import ConnectomeCohort, _subject_of, load_connectome_cohort

__all__ = ["FC_KINDS", "SPLITS", "StructureFunctionDataModule", "collate_pairs"]

FC_KINDS = ("correlation", "partial correlation", "tangent")
SPLITS = ("loso", "kfold")
_SERIES_SUFFIXES = (".npy", ".csv", ".tsv", ".txt")
_PARTS = ("train", "val", "test")


def collate_pairs(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack per-subject samples: ``sc``, ``fc`` (and ``distances``, ``coords`` where present)
    become (B, N, N) / (B, N, 3) tensors, ``subject`` a list of B ids; a field that is ``None``
    for the subjects stays ``None``."""
    batch: dict[str, Any] = {"subject": [s["subject"] for s in samples]}
    for key in ("sc", "distances", "fc", "coords"):
        values = [s[key] for s in samples]
        batch[key] = None if any(v is None for v in values) else torch.stack(values)
    return batch


def _read_series(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.asarray(np.load(path), dtype=np.float64)
    delimiter = "," if path.suffix.lower() == ".csv" else ("\t" if path.suffix.lower() == ".tsv" else None)
    return np.loadtxt(path, delimiter=delimiter, ndmin=2)


def _folder_attrs(folder: Path, subjects: list[str]) -> tuple[str, list[np.ndarray]] | None:
    """("bold" | "fc", one array per subject) from the folder's ``bold/`` or ``fc/`` sub-folder."""
    for kind in ("bold", "fc"):
        sub = folder / kind
        if not sub.is_dir():
            continue
        found: dict[str, Path] = {}
        for path in sorted(sub.iterdir()):
            subject = _subject_of(path.stem, subjects) if path.suffix.lower() in _SERIES_SUFFIXES else None
            if subject is not None:
                found[subject] = path
        missing = [s for s in subjects if s not in found]
        if missing:
            raise ValueError(f"cohort: no {kind} file in {sub} for subject(s) {missing[:5]}")
        return kind, [_read_series(found[s]) for s in subjects]
    return None


class StructureFunctionDataModule(SplitLoaders, L.LightningDataModule):
    """Per-subject (SC, distances, FC) pairs of a cohort, split by subject (module docstring).

    Args:
        cohort: ``"hcp"``, ``"gw"``, a folder (SC files plus a ``bold/`` or ``fc/`` sub-folder)
            or a :class:`~ccnn.data.connectomes.datasets.ConnectomeCohort` whose connectomes
            carry ``node_attrs["bold"]`` (N, T) or ``node_attrs["fc"]`` (N, N).
        fc_kind: ``"correlation"``, ``"partial correlation"`` or ``"tangent"`` (fitted on the
            training subjects only).
        split: ``"loso"`` (leave one subject out) or ``"kfold"``.
        n_folds: folds of ``"kfold"`` (at most the number of subjects).
        fold: the held-out subject (``"loso"``) or fold (``"kfold"``).
        seed: shuffles the k-fold assignment.
        batch_size: subjects per batch.
        shrinkage: Ledoit–Wolf shrinkage of the covariance (default: the empirical covariance,
            so that ``"correlation"`` FC is exactly Pearson r).
        transforms: applied to the SC (:func:`~ccnn.data.connectomes.transforms.parse_transforms`).
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        *,
        cohort: str | os.PathLike[str] | ConnectomeCohort = "hcp",
        fc_kind: str = "correlation",
        split: str = "loso",
        n_folds: int = 5,
        fold: int = 0,
        seed: int = 0,
        batch_size: int = 1,
        shrinkage: bool = False,
        transforms: Sequence[str | Callable[[Connectome], Connectome]] | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["cohort"] if isinstance(cohort, ConnectomeCohort) else None)
        self.fc_kind = check_choice(fc_kind, "fc_kind", FC_KINDS)
        self.split_kind = check_choice(split, "split", SPLITS)
        self.n_folds = check_int(n_folds, "n_folds", minimum=2)
        self.fold = check_int(fold, "fold", minimum=0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        if not isinstance(shrinkage, bool):
            raise TypeError(f"shrinkage: expected a bool, got {describe(shrinkage)}")
        self.shrinkage, self.num_workers = shrinkage, num_workers
        self.cohort = self._load(cohort, transforms)
        kind, series = self._signals()
        self.split = self._split()
        self.fc = self._fc(kind, series)  # (S, N, N) float64

    # ------------------------------------------------------------------ construction
    def _load(self, cohort: Any, transforms: Any) -> ConnectomeCohort:
        if isinstance(cohort, ConnectomeCohort):
            loaded = cohort.transform(transforms) if transforms else cohort
            self._extra: tuple[str, list[np.ndarray]] | None = None
            self.cohort_name = loaded.name
            return loaded
        if not isinstance(cohort, str | os.PathLike):
            raise TypeError(
                f"cohort: expected a name, a folder or a ConnectomeCohort, got {describe(cohort)}"
            )
        try:
            loaded = load_connectome_cohort(cohort, transforms=transforms)
        except ValueError as error:
            raise ValueError(f"cohort: {error}") from error
        folder = Path(cohort)
        self._extra = _folder_attrs(folder, loaded.subjects) if folder.is_dir() else None
        self.cohort_name = str(cohort)
        return loaded

    def _signals(self) -> tuple[str, list[np.ndarray]]:
        """("bold", (N, T) per subject) or ("fc", (N, N) per subject), checked."""
        subjects, n = self.cohort.subjects, self.cohort.num_nodes
        if self._extra is not None:
            kind, arrays = self._extra
        else:
            kinds = [next((k for k in ("bold", "fc") if k in c.node_attrs), None) for c in self.cohort]
            kind = next((k for k in ("bold", "fc") if all(x == k for x in kinds)), None)
            if kind is None:
                lacking = [s for s, k in zip(subjects, kinds, strict=True) if k is None] or subjects
                raise ValueError(
                    f"cohort: expected a BOLD series node_attrs['bold'] (N, T) or an FC matrix "
                    f"node_attrs['fc'] (N, N) for every subject of {self.cohort.name!r}; subject(s) "
                    f"{lacking[:5]} have neither"
                )
            arrays = [c.node_attrs[kind].double().cpu().numpy() for c in self.cohort]
        for subject, array in zip(subjects, arrays, strict=True):
            if array.ndim != 2 or array.shape[0] != n or (kind == "fc" and array.shape[1] != n):
                expected = f"({n}, T)" if kind == "bold" else f"({n}, {n})"
                raise ValueError(
                    f"cohort: expected {kind} of shape {expected} for subject {subject!r} (the SC has "
                    f"{n} regions), got {array.shape}"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{kind}: expected finite values for subject {subject!r}, got NaN/inf")
        if kind == "fc" and self.fc_kind != "correlation":
            raise ValueError(
                f"fc_kind: {self.fc_kind!r} needs BOLD time series; cohort {self.cohort.name!r} has "
                "only precomputed FC (use fc_kind='correlation')"
            )
        if kind == "bold":
            for subject, bold in zip(subjects, arrays, strict=True):
                if bold.shape[1] < 3:
                    raise ValueError(
                        f"bold: expected at least 3 time points, got {bold.shape[1]} for {subject!r}"
                    )
                spread = bold.std(1)
                flat = np.flatnonzero(spread <= 1e-12 * max(1.0, float(np.abs(bold).max())))
                if flat.size:
                    labels = self.cohort[subjects.index(subject)].labels
                    name = f" ({labels[flat[0]]})" if labels is not None else ""
                    raise ValueError(
                        f"bold: subject {subject!r} has a constant series in region {int(flat[0])}{name}"
                        f"{f' and {flat.size - 1} more' if flat.size > 1 else ''}; FC is undefined there"
                    )
        return kind, arrays

    def _split(self) -> dict[str, np.ndarray]:
        count = len(self.cohort)
        if self.split_kind == "loso":
            if count < 3:
                raise ValueError(f"split: 'loso' needs at least 3 subjects, the cohort has {count}")
            if self.fold >= count:
                raise ValueError(f"fold: expected an int in [0, {count}) (one per subject), got {self.fold}")
            test = np.array([self.fold])
        else:
            if self.n_folds > count:
                raise ValueError(f"n_folds: expected at most the {count} subjects, got {self.n_folds}")
            if self.fold >= self.n_folds:
                raise ValueError(f"fold: expected an int in [0, {self.n_folds}), got {self.fold}")
            splitter = KFold(self.n_folds, shuffle=True, random_state=self.seed)
            test = np.sort(list(splitter.split(np.arange(count)))[self.fold][1])
        train = np.setdiff1d(np.arange(count), test)
        return {"train": train, "val": test, "test": test}  # no separate validation (docstring)

    def _fc(self, kind: str, arrays: list[np.ndarray]) -> Tensor:
        if kind == "fc":
            return torch.from_numpy(np.stack(arrays))
        series = []
        for bold in arrays:
            x = bold.T - bold.T.mean(0)
            series.append(x / x.std(0))  # (T, N), z-scored per region
        estimator = LedoitWolf(store_precision=False) if self.shrinkage else EmpiricalCovariance()
        measure = ConnectivityMeasure(cov_estimator=estimator, kind=self.fc_kind, standardize=False)
        if self.fc_kind == "tangent":  # the group mean from the training subjects only
            measure.fit([series[i] for i in self.split["train"]])
            fc = measure.transform(series)
        else:
            fc = measure.fit_transform(series)
        return torch.from_numpy(np.asarray(fc, dtype=np.float64))

    # ------------------------------------------------------------------ public access
    @property
    def n_regions(self) -> int:
        """Regions N."""
        return self.cohort.num_nodes

    def _indices(self, split: str) -> np.ndarray:
        if split == "all":
            return np.arange(len(self.cohort))
        return self.split[check_choice(split, "split", (*_PARTS, "all"))]

    def subjects(self, split: str = "train") -> list[str]:
        """Subject ids of ``split`` (``"train"``, ``"val"`` = ``"test"``, or ``"all"``)."""
        ids = self.cohort.subjects
        return [ids[i] for i in self._indices(split)]

    def sample(self, index: int, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
        """Subject ``index``'s pair: ``sc``, ``distances``, ``fc``, ``coords``, ``subject``."""
        c = self.cohort[index]
        distances, coords = c.distances, c.coords
        return {
            "sc": c.weights.to(dtype),
            "distances": None if distances is None else distances.to(dtype),
            "fc": self.fc[index].to(dtype),
            "coords": None if coords is None else coords.to(dtype),
            "subject": self.cohort.subjects[index],
        }

    def arrays(self, split: str = "train", dtype: torch.dtype = torch.float64) -> dict[str, Any]:
        """All subjects of ``split`` at once (for closed-form models fitted on every training
        subject): ``sc``, ``distances``, ``fc`` (S, N, N), ``coords`` (S, N, 3) (``None``
        where the cohort lacks them) and ``subject`` (S ids)."""
        return collate_pairs([self.sample(int(i), dtype) for i in self._indices(split)])

    def group_fc(self, split: str = "train") -> Tensor:
        r"""Mean FC over the subjects of ``split``, :math:`\frac{1}{S}\sum_s C_s` (N, N), float64:
        the group template that individual predictions must beat (Zalesky et al. 2024)."""
        return self.fc[torch.as_tensor(self._indices(split))].mean(0)

    # ------------------------------------------------------------------ loaders
    def _loader(self, part: str, shuffle: bool) -> DataLoader:
        samples = [self.sample(int(i)) for i in self.split[part]]
        return DataLoader(
            samples, batch_size=self.batch_size, shuffle=shuffle, collate_fn=collate_pairs,
            num_workers=self.num_workers,
        )  # fmt: skip

    def __repr__(self) -> str:
        sizes = {k: len(v) for k, v in self.split.items()}
        return (
            f"StructureFunctionDataModule({self.cohort_name!r}, fc_kind={self.fc_kind!r}, "
            f"split={self.split_kind!r}, fold={self.fold}, subjects={len(self.cohort)}, "
            f"regions={self.n_regions}, sizes={sizes})"
        )
