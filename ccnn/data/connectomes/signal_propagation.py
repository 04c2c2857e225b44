r"""The C. elegans signal-propagation atlas (Randi et al. 2023), read from the wormneuroatlas wheel.

Randi, Sharma, Dvali & Leifer (2023), *Neural signal propagation atlas of Caenorhabditis
elegans*, Nature 623:406–414, stimulated single neurons optogenetically in whole-brain imaged
worms and recorded how every other identified neuron responded. The measured atlas ships as
``data/funatlas.h5`` inside the **wormneuroatlas 0.0.7.3** wheel (GPL-3; the package is never
installed or imported here: :func:`~ccnn.data.connectomes.package_data.package_data` fetches the
wheel and extracts that one file, whose SHA-256 is checked). Two strains:

* ``"wt"``: wild type, 300 neurons;
* ``"unc31"``: *unc-31* mutants, whose dense-core-vesicle (neuropeptide) release is impaired,
  so that responses travel mostly through synapses and gap junctions.

For each ordered pair the file holds, in the ccnn orientation (row ``i`` responds, column ``j``
is stimulated, as ``Connectome.weights[i, j]`` = ``j`` → ``i``):

* ``response[i, j]``: mean ΔF/F of ``i`` in a window after stimulating ``j``;
* ``q[i, j]``: the false-discovery-rate-corrected p value (Storey's q) of the test that ``i``
  responds to ``j`` at all; NaN where the pair was never observed or could not be tested;
* ``trials[i, j]``: how many stimulations of ``j`` were observed with ``i`` identified.

A pair is *functionally connected* when ``q < 0.05`` (the paper's threshold): 1,151 of the
23,902 tested wild-type pairs between two different neurons (``unc31``: 357 of 9,119). The two
AWC neurons are named by their asymmetric fate (``AWCON`` / ``AWCOFF``) rather than by side, so
they do not match the ``AWCL`` / ``AWCR`` of anatomical connectomes and are left out by
:meth:`SignalPropagationAtlas.restrict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import check_choice, check_probability, describe
from ccnn.data.connectomes.package_data import PackageSource, check_sha256, package_data

__all__ = ["STRAINS", "WORMNEUROATLAS", "SignalPropagationAtlas", "load_signal_propagation_atlas"]

#: The wheel holding the atlas (GPL-3 data; read in place, never vendored).
WORMNEUROATLAS = PackageSource("wormneuroatlas", "wormneuroatlas", "0.0.7.3", ["data/funatlas.h5"])
#: SHA-256 of ``data/funatlas.h5`` in wormneuroatlas 0.0.7.3 (compiled 2023-06-28).
FUNATLAS_SHA256 = "53a99055667b853e1d3d6be573ec2613d38c9f6989f302ec38ecd38dd50c7975"
#: The strains in the file.
STRAINS = ("wt", "unc31")
_REFERENCE = (
    "Randi F, Sharma AK, Dvali S, Leifer AM (2023). Neural signal propagation atlas of "
    "Caenorhabditis elegans. Nature 623:406-414"
)


@dataclass(frozen=True)
class SignalPropagationAtlas:
    """Responses of neurons (rows) to the stimulation of single neurons (columns).

    Attributes:
        neurons: the ``N`` neuron names, in row and column order.
        response: ``(N, N)`` mean ΔF/F of neuron ``i`` after stimulating ``j`` (NaN: not observed).
        q: ``(N, N)`` q value of the response test (NaN: not tested).
        trials: ``(N, N)`` number of observed stimulations of ``j`` with ``i`` identified.
        strain: ``"wt"`` or ``"unc31"``.
        source: where the data were read from.
    """

    neurons: tuple[str, ...]
    response: Tensor
    q: Tensor
    trials: Tensor
    strain: str
    source: str

    @property
    def num_neurons(self) -> int:
        return len(self.neurons)

    def tested(self) -> Tensor:
        """``(N, N)`` bool: pairs with a q value, self-responses (the diagonal) excluded."""
        off_diagonal = ~torch.eye(self.num_neurons, dtype=torch.bool, device=self.q.device)
        return torch.isfinite(self.q) & off_diagonal

    def connected(self, q_threshold: float = 0.05) -> Tensor:
        """``(N, N)`` bool: tested pairs with ``q < q_threshold`` (functionally connected)."""
        q_threshold = check_probability(q_threshold, "q_threshold", allow_zero=False)
        return self.tested() & (torch.nan_to_num(self.q, nan=1.0) < q_threshold)

    def restrict(self, names: Sequence[str]) -> tuple[SignalPropagationAtlas, list[int]]:
        """The atlas on the neurons that ``names`` also has, in the order of ``names``.

        Args:
            names: neuron names, e.g. ``Connectome.labels`` of ``load_connectome("celegans_herm")``.

        Returns:
            ``(atlas, index)``: the restricted atlas and, for each of its neurons, its position
            in ``names`` (so that ``weights[index][:, index]`` is the matching connectome).

        Raises:
            ValueError: if no neuron is shared.
        """
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise TypeError(f"names: expected a sequence of neuron names, got {describe(names)}")
        position = {name: k for k, name in enumerate(self.neurons)}
        index = [k for k, name in enumerate(names) if name in position]
        if not index:
            raise ValueError(
                f"names: expected C. elegans neuron names such as {list(self.neurons[:3])}, "
                f"got none in common with the atlas (first given: {list(names[:3])})"
            )
        rows = torch.tensor([position[names[k]] for k in index])
        restricted = SignalPropagationAtlas(
            neurons=tuple(names[k] for k in index),
            response=self.response[rows][:, rows],
            q=self.q[rows][:, rows],
            trials=self.trials[rows][:, rows],
            strain=self.strain,
            source=self.source,
        )
        return restricted, index

    def __repr__(self) -> str:
        tested = int(self.tested().sum())
        return (
            f"SignalPropagationAtlas(strain={self.strain!r}, neurons={self.num_neurons}, "
            f"tested_pairs={tested}, connected_pairs={int(self.connected().sum())})"
        )


def load_signal_propagation_atlas(
    strain: str = "wt", *, root: str | Path | None = None
) -> SignalPropagationAtlas:
    """Load Randi et al. 2023's signal-propagation atlas (module docstring for the contents).

    Args:
        strain: ``"wt"`` (wild type) or ``"unc31"`` (neuropeptide release impaired).
        root: a folder holding ``data/funatlas.h5``; by default wormneuroatlas 0.0.7.3's wheel,
            fetched once into ccnn's cache (nothing is installed).

    Example:
        >>> atlas = load_signal_propagation_atlas("wt")  # doctest: +SKIP
        >>> atlas  # doctest: +SKIP
        SignalPropagationAtlas(strain='wt', neurons=300, tested_pairs=23902, connected_pairs=1151)
    """
    import h5py  # only this loader needs it

    strain = check_choice(strain, "strain", STRAINS)
    folder = Path(root) if root is not None else package_data(WORMNEUROATLAS)
    path = folder / "data" / "funatlas.h5"
    if not path.is_file():
        raise ValueError(f"root: expected a folder holding data/funatlas.h5, got {folder}")
    if root is None:
        check_sha256(path, FUNATLAS_SHA256, WORMNEUROATLAS)
    with h5py.File(path, "r") as archive:
        neurons = tuple(name.decode() for name in archive["neuron_ids"][:])
        group = archive[strain]
        arrays = {key: np.asarray(group[key][:]) for key in ("dFF", "q", "occ1")}
    return SignalPropagationAtlas(
        neurons=neurons,
        response=torch.from_numpy(arrays["dFF"].astype(np.float64)),
        q=torch.from_numpy(arrays["q"].astype(np.float64)),
        trials=torch.from_numpy(arrays["occ1"].astype(np.int64)),
        strain=strain,
        source=f"wormneuroatlas {WORMNEUROATLAS.version}, data/funatlas.h5 ({_REFERENCE})",
    )
