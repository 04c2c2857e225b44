r"""Composable transforms of structural connectomes (:class:`ccnn.data.Connectome` → Connectome).

Each transform returns a new :class:`Connectome` with new weights and the same distances,
coordinates, labels, node attributes and metadata (plus a record of the transform in
``meta["transforms"]``). They compose with :class:`Compose`, and :func:`parse_transforms`
builds a pipeline from short strings (``"log1p"``, ``"threshold:0.2"``) as written in
YAML configs.

=====================  ========================================================================
``log1p``              :math:`w \mapsto \log(1 + w)` (needs :math:`w \ge 0`): tames streamline
                       counts spanning several orders of magnitude.
``normalise:max``      :math:`W / \max|W|`.
``normalise:row_sum``  each row divided by its sum of :math:`|w|` (rows with none are kept).
``normalise:waytotal`` row i divided by ``node_attrs["waytotal"][i]`` (FSL probtrackx: the
                       streamlines sent from seed region i).
``threshold:d``        keep the strongest fraction d of connections (:meth:`Connectome.mask`).
``binarise``           1 where a connection exists, else 0.
``symmetrise``         :math:`(W + W^\top) / 2`.
``pass_to_ranks``      each nonzero weight replaced by its rank among the nonzero weights
                       divided by their count + 1, so in (0, 1) (ties get their mean rank).
``remove_self_loops``  zero diagonal.
=====================  ========================================================================

Every transform also works on sparse connectomes (:attr:`Connectome.is_sparse`) without
densifying them: it acts on the stored nonzero values (all of the above map 0 to 0, and
``symmetrise`` adds the sparse transpose). Per-edge attributes (``edge_attrs``) follow the
connections that remain when a transform only changes values or drops connections (``log1p``,
``normalise``, ``threshold``, ``binarise``, ``pass_to_ranks``, ``remove_self_loops``); when it
creates new connections (``symmetrise``) there is no value for them and ``edge_attrs`` are
dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from scipy.stats import rankdata
from torch import Tensor

from ccnn.data.connectomes.connectome import Connectome, _sparse

__all__ = [
    "TRANSFORMS",
    "Binarise",
    "Compose",
    "Log1p",
    "Normalise",
    "PassToRanks",
    "RemoveSelfLoops",
    "Symmetrise",
    "ThresholdDensity",
    "parse_transforms",
]


def _replace_weights(connectome: Connectome, weights: Tensor, record: str) -> Connectome:
    meta = dict(connectome.meta)
    meta["transforms"] = [*meta.get("transforms", []), record]
    result = Connectome(
        weights,
        distances=connectome._distances,
        coords=connectome.coords,
        labels=connectome.labels,
        node_attrs=connectome.node_attrs,
        meta=meta,
    )
    result.edge_attrs = _carried_edge_attrs(connectome, result)
    return result


def _carried_edge_attrs(before: Connectome, after: Connectome) -> dict[str, Tensor]:
    """``before.edge_attrs`` restricted to the connections of ``after`` if those are a subset of
    the old ones (both in edge order), else empty (new connections have no attribute values)."""
    if not before.edge_attrs:
        return {}
    n = before.num_nodes
    old_rows, old_cols, _ = before.edges()
    new_rows, new_cols, _ = after.edges()
    old_keys, new_keys = old_rows * n + old_cols, new_rows * n + new_cols  # increasing in edge order
    if new_keys.numel() and not old_keys.numel():
        return {}
    position = torch.searchsorted(old_keys, new_keys).clamp_max(max(old_keys.numel() - 1, 0))
    if new_keys.numel() and not bool((old_keys[position] == new_keys).all()):
        return {}
    return {name: value[position] for name, value in before.edge_attrs.items()}


def _sparse_like(connectome: Connectome, values: Tensor, keep: Tensor | None = None) -> Tensor:
    """Sparse weights with the connectome's connections (those where ``keep``) and new values."""
    rows, cols, _ = connectome.edges()
    indices = torch.stack([rows, cols])
    if keep is not None:
        indices, values = indices[:, keep], values[keep]
    return _sparse(indices, values, connectome.num_nodes)


def _check_nonnegative(connectome: Connectome, name: str) -> None:
    w = connectome.weights.values() if connectome.is_sparse else connectome.weights
    if w.numel() and bool((w < 0).any()):
        raise ValueError(
            f"{name}: expected non-negative weights, got a minimum of {float(w.min()):.4g}"
            f"{_subject(connectome)}"
        )


def _subject(connectome: Connectome) -> str:
    subject = connectome.meta.get("subject")
    return "" if subject is None else f" (subject {subject})"


class Log1p:
    """:math:`w \\mapsto \\log(1 + w)`; weights must be non-negative."""

    def __call__(self, connectome: Connectome) -> Connectome:
        _check_nonnegative(connectome, "log1p")
        if connectome.is_sparse:
            values = torch.log1p(connectome.weights.values())
            return _replace_weights(connectome, _sparse_like(connectome, values), "log1p")
        return _replace_weights(connectome, torch.log1p(connectome.weights), "log1p")

    def __repr__(self) -> str:
        return "Log1p()"


class Normalise:
    """Divide by the largest |w| (``"max"``), each row's sum of |w| (``"row_sum"``) or each
    row's ``node_attrs["waytotal"]`` (``"waytotal"``)."""

    modes = ("max", "row_sum", "waytotal")

    def __init__(self, mode: str = "max") -> None:
        if mode not in self.modes:
            raise ValueError(f"normalise: expected a mode in {self.modes}, got {mode!r}")
        self.mode = mode

    def __call__(self, connectome: Connectome) -> Connectome:
        if connectome.is_sparse:
            return self._sparse(connectome)
        w = connectome.weights
        if self.mode == "max":
            scale = w.abs().max().clamp_min(torch.finfo(w.dtype).tiny)
        elif self.mode == "row_sum":
            rows = w.abs().sum(1, keepdim=True)
            scale = torch.where(rows > 0, rows, torch.ones_like(rows))
        else:
            if "waytotal" not in connectome.node_attrs:
                raise ValueError(
                    "normalise:waytotal: expected node_attrs['waytotal'] (streamlines per seed region), "
                    f"got node attributes {sorted(connectome.node_attrs)}{_subject(connectome)}"
                )
            waytotal = connectome.node_attrs["waytotal"].to(w.dtype).reshape(-1, 1)
            if bool((waytotal <= 0).any()):
                raise ValueError(f"normalise:waytotal: expected positive waytotals{_subject(connectome)}")
            scale = waytotal
        return _replace_weights(connectome, w / scale, f"normalise:{self.mode}")

    def _sparse(self, connectome: Connectome) -> Connectome:
        rows, _, values = connectome.edges()
        n = connectome.num_nodes
        if self.mode == "max":
            largest = values.abs().max() if values.numel() else values.new_zeros(())
            scale = largest.clamp_min(torch.finfo(values.dtype).tiny)
        elif self.mode == "row_sum":
            row_sums = values.new_zeros(n).index_add_(0, rows, values.abs())
            scale = torch.where(row_sums > 0, row_sums, torch.ones_like(row_sums))[rows]
        else:
            if "waytotal" not in connectome.node_attrs:
                raise ValueError(
                    "normalise:waytotal: expected node_attrs['waytotal'] (streamlines per seed region), "
                    f"got node attributes {sorted(connectome.node_attrs)}{_subject(connectome)}"
                )
            waytotal = connectome.node_attrs["waytotal"].to(values.dtype).reshape(-1)
            if bool((waytotal <= 0).any()):
                raise ValueError(f"normalise:waytotal: expected positive waytotals{_subject(connectome)}")
            scale = waytotal[rows]
        weights = _sparse_like(connectome, values / scale)
        return _replace_weights(connectome, weights, f"normalise:{self.mode}")

    def __repr__(self) -> str:
        return f"Normalise({self.mode!r})"


class ThresholdDensity:
    """Keep the strongest ``round(density · N²)`` connections (by |w|). Every entry tied with
    the weakest kept one is kept too, so a symmetric connectome stays symmetric."""

    def __init__(self, density: float) -> None:
        if not 0 < float(density) <= 1:
            raise ValueError(f"threshold: expected a density in (0, 1], got {density!r}")
        self.density = float(density)

    def __call__(self, connectome: Connectome) -> Connectome:
        if connectome.is_sparse:
            values = connectome.weights.values()
            strength = values.abs()
            n = connectome.num_nodes
            k = min(round(self.density * n * n), strength.numel())
            keep = (
                strength >= strength.topk(k).values[-1] if k else torch.zeros_like(strength, dtype=torch.bool)
            )
            weights = _sparse_like(connectome, values, keep)
            return _replace_weights(connectome, weights, f"threshold:{self.density:g}")
        w = connectome.weights
        strength = w.abs().flatten()
        k = min(round(self.density * strength.numel()), int((strength > 0).sum()))
        if k == 0:
            return _replace_weights(connectome, torch.zeros_like(w), f"threshold:{self.density:g}")
        cutoff = strength.topk(k).values[-1]
        kept = torch.where((w.abs() >= cutoff) & (w != 0), w, torch.zeros_like(w))
        return _replace_weights(connectome, kept, f"threshold:{self.density:g}")

    def __repr__(self) -> str:
        return f"ThresholdDensity({self.density:g})"


class Binarise:
    """1 where a connection exists (w ≠ 0), else 0."""

    def __call__(self, connectome: Connectome) -> Connectome:
        w = connectome.weights
        if connectome.is_sparse:
            weights = _sparse_like(connectome, torch.ones_like(w.values()))
            return _replace_weights(connectome, weights, "binarise")
        return _replace_weights(connectome, (w != 0).to(w.dtype), "binarise")

    def __repr__(self) -> str:
        return "Binarise()"


class Symmetrise:
    """:math:`(W + W^\\top) / 2`."""

    def __call__(self, connectome: Connectome) -> Connectome:
        w = connectome.weights
        if connectome.is_sparse:  # sparse sum, coalesced; cancelling entries are dropped
            return _replace_weights(connectome, ((w + w.t()) / 2).coalesce(), "symmetrise")
        return _replace_weights(connectome, (w + w.T) / 2, "symmetrise")

    def __repr__(self) -> str:
        return "Symmetrise()"


class PassToRanks:
    """Nonzero weights → rank / (number of nonzero weights + 1); zeros stay zero."""

    def __call__(self, connectome: Connectome) -> Connectome:
        _check_nonnegative(connectome, "pass_to_ranks")
        w = connectome.weights
        if connectome.is_sparse:
            values = w.values()
            ranks = rankdata(values.cpu().double().numpy()) / (values.numel() + 1) if values.numel() else []
            ranked_values = torch.as_tensor(ranks, dtype=values.dtype, device=values.device)
            return _replace_weights(connectome, _sparse_like(connectome, ranked_values), "pass_to_ranks")
        nonzero = w != 0
        ranked = torch.zeros_like(w)
        values = w[nonzero].cpu().double().numpy()
        if values.size:
            ranks = rankdata(values) / (values.size + 1)
            ranked[nonzero] = torch.as_tensor(ranks, dtype=w.dtype, device=w.device)
        return _replace_weights(connectome, ranked, "pass_to_ranks")

    def __repr__(self) -> str:
        return "PassToRanks()"


class RemoveSelfLoops:
    """Zero the diagonal."""

    def __call__(self, connectome: Connectome) -> Connectome:
        if connectome.is_sparse:
            rows, cols, values = connectome.edges()
            weights = _sparse_like(connectome, values, rows != cols)
            return _replace_weights(connectome, weights, "remove_self_loops")
        w = connectome.weights.clone()
        w.fill_diagonal_(0)
        return _replace_weights(connectome, w, "remove_self_loops")

    def __repr__(self) -> str:
        return "RemoveSelfLoops()"


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Connectome], Connectome]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, connectome: Connectome) -> Connectome:
        for transform in self.transforms:
            connectome = transform(connectome)
        return connectome

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


#: Transform names for :func:`parse_transforms`, with their argument converters.
Transform = Callable[[Connectome], Connectome]
TRANSFORMS: dict[str, tuple[Callable[..., Transform], Callable[[str], Any] | None]] = {
    "log1p": (Log1p, None),
    "normalise": (Normalise, str),
    "threshold": (ThresholdDensity, float),
    "binarise": (Binarise, None),
    "symmetrise": (Symmetrise, None),
    "pass_to_ranks": (PassToRanks, None),
    "remove_self_loops": (RemoveSelfLoops, None),
}


def parse_transforms(specs: Sequence[str | Callable[[Connectome], Connectome]] | None) -> Compose:
    """A :class:`Compose` from names (``"log1p"``), ``"name:argument"`` strings
    (``"threshold:0.2"``, ``"normalise:row_sum"``) or callables, in order."""
    if specs is None:
        return Compose([])
    if isinstance(specs, str):
        raise TypeError(f"transforms: expected a list of transform names, got the string {specs!r}")
    transforms = []
    for spec in specs:
        if callable(spec):
            transforms.append(spec)
            continue
        if not isinstance(spec, str):
            raise TypeError(f"transforms: expected names or callables, got {spec!r}")
        name, _, argument = spec.partition(":")
        if name not in TRANSFORMS:
            raise ValueError(f"transforms: unknown transform {name!r}; expected one of {sorted(TRANSFORMS)}")
        build, convert = TRANSFORMS[name]
        if convert is None:
            if argument:
                raise ValueError(f"transforms: {name!r} takes no argument, got {spec!r}")
            transforms.append(build())
        else:
            if not argument:
                raise ValueError(f"transforms: {name!r} needs an argument ('{name}:value'), got {spec!r}")
            try:
                transforms.append(build(convert(argument)))
            except ValueError as error:
                raise ValueError(f"transforms: {spec!r}: {error}") from error
    return Compose(transforms)
