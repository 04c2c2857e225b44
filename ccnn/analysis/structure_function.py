"""Figure of structure → function predictions: predicted vs empirical FC, and regional coupling.

:func:`plot_sc_to_fc` draws, from group-mean matrices (e.g. the out-of-fold predictions of
``benchmarks/sc_to_fc.py`` averaged over the held-out subjects):

* a row of FC matrices, the empirical one first, then each model's prediction, on one colour
  scale (that of the empirical off-diagonal entries) with a shared colour bar; each title gives
  the model's group r (:func:`~ccnn.models.structure_function.evaluation.fc_similarity`);
* per model, the regional coupling r
  (:func:`~ccnn.models.structure_function.evaluation.regional_coupling`): on a glass brain
  (:func:`nilearn.plotting.plot_markers`) when region coordinates are given, each on its own
  colour scale (so that the pattern across regions shows even when r varies little), else as
  bars by region index on one y scale;
* the distributions of regional r across models on one scale (box plot, regions as points).

The figure is built without pyplot (nilearn, which imports pyplot, only for a glass brain) and
without a layout engine: nilearn places its view axes where the panel axes is when it draws.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from ccnn._io import atomic_write
from ccnn._validation import as_tensor, check_finite, describe
from ccnn.analysis.connectome_plots import _check_png_path, _root_figure
from ccnn.models.structure_function.evaluation import fc_similarity, regional_coupling

__all__ = ["COUPLING_PREFIX", "DISTRIBUTION_LABEL", "MATRIX_PREFIX", "plot_sc_to_fc"]

#: Axes labels: ``"fc:empirical"``, ``"fc:<model>"``, ``"coupling:<model>"`` and the distributions.
MATRIX_PREFIX = "fc:"
COUPLING_PREFIX = "coupling:"
DISTRIBUTION_LABEL = "coupling_distribution"
_DPI = 100
_TITLES_IN = 1.55  # room for the figure title and four-line matrix titles
#: A prediction with more of its off-diagonal outside the empirical range is drawn rescaled.
_MOSTLY_OFF_SCALE = 0.5
#: Narrowest colour range of a glass brain, so that rounding noise is not coloured.
_MIN_COLOUR_SPAN = 0.02
_MATRIX_IN, _GAP_IN, _LEFT_IN, _RIGHT_IN, _SLOT_H_IN = 2.8, 0.8, 0.9, 1.5, 3.1


def plot_sc_to_fc(
    empirical: Any,
    predictions: Mapping[str, Any],
    coords: Any = None,
    labels: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Predicted vs empirical FC matrices, regional coupling r per model, and its distributions.

    Args:
        empirical: ``(N, N)`` empirical (group-mean) FC.
        predictions: model name → ``(N, N)`` predicted (group-mean) FC, in drawing order.
        coords: ``(N, 3)`` region centres in MNI millimetres for glass brains, or None (bars).
        labels: N region names, or None; the best and worst coupled regions are named in the
            coupling titles, and on the bar plots' ticks when N <= 40.
        path: if given, the figure is also written there as a PNG, atomically (the name must
            end in ``.png``; missing parent folders are made).

    Returns:
        The figure. Its panels carry the labels ``"fc:empirical"``, ``"fc:<model>"``,
        ``"coupling:<model>"`` and ``"coupling_distribution"``.
    """
    emp = _matrix(empirical, "empirical")
    n = emp.shape[0]
    if not isinstance(predictions, Mapping) or not predictions:
        raise TypeError(
            f"predictions: expected a non-empty dict of name -> (N, N), got {describe(predictions)}"
        )
    preds = {str(name): _matrix(value, f"predictions[{name!r}]", n) for name, value in predictions.items()}
    xyz = None if coords is None else _coords(coords, n)
    if labels is not None and (isinstance(labels, str) or len(labels) != n):
        raise ValueError(f"labels: expected {n} region names or None, got {describe(labels)}")
    target = _check_png_path(path)
    coupling = {name: regional_coupling(p, emp).numpy() for name, p in preds.items()}

    k, m = len(preds) + 1, len(preds)
    rows = math.ceil((m + 1) / 2)
    width = _LEFT_IN + k * _MATRIX_IN + (k - 1) * _GAP_IN + _RIGHT_IN
    top_h = _TITLES_IN + _MATRIX_IN + 0.7  # titles, matrices, x labels
    height = top_h + rows * (_SLOT_H_IN + 0.9) + 0.3
    fig = Figure(figsize=(width, height))

    def box(x: float, y_from_top: float, w: float, h: float) -> tuple[float, float, float, float]:
        return (x / width, 1 - (y_from_top + h) / height, w / width, h / height)

    # Row of FC matrices on the empirical off-diagonal range.
    off = ~np.eye(n, dtype=bool)
    low, high = float(emp[off].min()), float(emp[off].max())
    norm = TwoSlopeNorm(0.0, low, high) if low < 0 < high else Normalize(low, high)
    fc_cmap = _with_grey_nan(matplotlib.colormaps["RdBu_r" if low < 0 < high else "viridis"])
    for i, (name, matrix) in enumerate([("empirical", emp), *preds.items()]):
        ax = fig.add_axes(box(_LEFT_IN + i * (_MATRIX_IN + _GAP_IN), _TITLES_IN, _MATRIX_IN, _MATRIX_IN))
        ax.set_label(MATRIX_PREFIX + name)
        title = "empirical (group mean)\ndiagonal in grey"
        if name != "empirical":
            title = f"{name}\ngroup r = {fc_similarity(matrix, emp):.3f}"
            outside = float(((matrix[off] < low) | (matrix[off] > high)).mean())
            if outside > _MOSTLY_OFF_SCALE:  # not on the FC scale (e.g. log SC): match it to it
                matrix = _match_mean_and_sd(matrix, emp, off)
                outside = float(((matrix[off] < low) | (matrix[off] > high)).mean())
                title += "\noff FC scale: drawn rescaled, a·P + b"
            if outside > 0:
                share = f"{100 * outside:.0f}%" if outside >= 0.01 else "<1%"
                title += f"\n{share} clipped to [{low:.2f}, {high:.2f}]"
        image = ax.imshow(np.where(off, matrix, np.nan), cmap=fc_cmap, norm=norm, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("region")
        ax.set_ylabel("region")
    cax = fig.add_axes(box(width - _RIGHT_IN + 0.25, _TITLES_IN, 0.18, _MATRIX_IN))
    fig.colorbar(image, cax=cax).set_label("Pearson r (FC)")

    # Regional coupling, one panel per model, then the distributions (the common scale).
    values = np.concatenate([r[np.isfinite(r)] for r in coupling.values()])
    r_range = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    slot_w = (width - _LEFT_IN - _RIGHT_IN - _GAP_IN) / 2
    slots = [
        (_LEFT_IN + (s % 2) * (slot_w + _GAP_IN), top_h + 0.5 + (s // 2) * (_SLOT_H_IN + 0.9))
        for s in range(m + 1)
    ]
    for i, ((x, y), (name, r)) in enumerate(zip(slots, coupling.items(), strict=False)):
        if xyz is None:
            ax = fig.add_axes(box(x, y, slot_w, _SLOT_H_IN))
            _draw_coupling_bars(ax, r, labels, r_range, _model_colour(i))
        else:  # a colour bar of its own: the scale of this model's regions
            ax = fig.add_axes(box(x, y, slot_w - 1.0, _SLOT_H_IN))
            cax = fig.add_axes(box(x + slot_w - 0.75, y + 0.35, 0.15, _SLOT_H_IN - 0.7))
            _draw_coupling_brain(ax, cax, r, xyz)
        ax.set_label(COUPLING_PREFIX + name)
        ax.set_title(_coupling_title(name, r, labels), fontsize=10)
    x, y = slots[m]  # clear of the colour bar label of the glass brain to its left
    ax = fig.add_axes(box(x + 0.5, y, slot_w - 0.5, _SLOT_H_IN))
    ax.set_label(DISTRIBUTION_LABEL)
    _draw_distributions(ax, coupling)
    fig.suptitle("structure → function: predicted vs empirical FC and regional coupling", fontsize=13)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target) as handle:
            fig.savefig(handle, format="png", dpi=_DPI, facecolor="white", bbox_inches="tight")
    return fig


def _draw_coupling_brain(ax: Axes, cax: Axes, r: np.ndarray, xyz: np.ndarray) -> None:
    from nilearn import plotting  # imports pyplot: only when a glass brain is drawn

    finite = np.isfinite(r)
    low, high = (float(r[finite].min()), float(r[finite].max())) if finite.any() else (0.0, 1.0)
    # Linear, as nilearn maps node colours from node_vmin to node_vmax.
    if high - low < _MIN_COLOUR_SPAN:  # (near) constant, e.g. the template's r = 1: one colour
        middle = (high + low) / 2
        low, high = middle - _MIN_COLOUR_SPAN / 2, middle + _MIN_COLOUR_SPAN / 2
    norm = Normalize(low, high)
    plotting.plot_markers(
        r[finite],
        xyz[finite],
        node_size=float(np.clip(2500.0 / len(r), 8.0, 60.0)),
        node_cmap="viridis",
        node_vmin=norm.vmin,
        node_vmax=norm.vmax,
        alpha=0.9,
        axes=ax,
        colorbar=False,
        node_kwargs={"edgecolors": "black", "linewidths": 0.2},
    )
    _root_figure(ax).colorbar(ScalarMappable(norm, "viridis"), cax=cax).set_label("regional coupling r")


def _draw_coupling_bars(
    ax: Axes, r: np.ndarray, labels: Any, r_range: tuple[float, float], colour: Any
) -> None:
    index = np.arange(len(r))
    finite = np.isfinite(r)
    ax.bar(index[finite], r[finite], width=0.8, color=colour)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xlim(-0.5, len(r) - 0.5)
    ax.set_ylim(min(0.0, r_range[0]) - 0.05, max(0.0, r_range[1]) + 0.05)  # the same for every model
    ax.set_xlabel("region")
    ax.set_ylabel("regional coupling r")
    if labels is not None and len(r) <= 40:
        ax.set_xticks(index, [str(label) for label in labels], rotation=90, fontsize=7)


def _model_colour(index: int) -> Any:
    return matplotlib.colormaps["tab10"](index % 10)


def _coupling_title(name: str, r: np.ndarray, labels: Any) -> str:
    finite = np.isfinite(r)
    if not finite.any():
        return f"{name}: regional coupling undefined (constant rows)"
    title = f"{name}: regional coupling r, mean {np.nanmean(r):.3f}"
    if labels is not None:
        best, worst = int(np.nanargmax(r)), int(np.nanargmin(r))
        title += f"\nhighest {labels[best]} ({r[best]:.2f}), lowest {labels[worst]} ({r[worst]:.2f})"
    if not finite.all():
        title += f"; {int((~finite).sum())} regions undefined, not drawn"
    return title


def _draw_distributions(ax: Axes, coupling: Mapping[str, np.ndarray]) -> None:
    names = list(coupling)
    data = [r[np.isfinite(r)] for r in coupling.values()]
    colours = [_model_colour(i) for i in range(len(names))]
    positions = np.arange(1, len(names) + 1)
    parts = ax.boxplot(data, positions=positions, widths=0.5, showfliers=False, patch_artist=True)
    jitter = np.random.default_rng(0)
    for position, values, colour, patch in zip(positions, data, colours, parts["boxes"], strict=True):
        patch.set_facecolor((*colour[:3], 0.35))
        ax.scatter(position + jitter.uniform(-0.18, 0.18, len(values)), values, s=5, color=colour, alpha=0.6)
    ax.set_xticks(positions, names, rotation=20, fontsize=9)
    ax.set_xlabel("model")
    ax.set_ylabel("regional coupling r")
    ax.set_title("regional coupling across regions (box: quartiles, dots: regions)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _match_mean_and_sd(matrix: np.ndarray, reference: np.ndarray, off: np.ndarray) -> np.ndarray:
    """``a * matrix + b`` with the off-diagonal mean and sd of ``reference`` (a > 0)."""
    sd = matrix[off].std()
    scale = reference[off].std() / sd if sd > 0 else 0.0
    return (matrix - matrix[off].mean()) * scale + reference[off].mean()


def _with_grey_nan(cmap: Colormap) -> Colormap:
    return cmap.with_extremes(bad="lightgrey")


def _matrix(value: Any, name: str, n: int | None = None) -> np.ndarray:
    tensor = as_tensor(value, name)
    if tensor.dim() != 2 or tensor.shape[0] != tensor.shape[1] or tensor.shape[0] < 3:
        raise ValueError(f"{name}: expected a square matrix (N, N) with N >= 3, got {tuple(tensor.shape)}")
    if n is not None and tensor.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n}, {n}) like empirical, got {tuple(tensor.shape)}")
    tensor = tensor.detach().cpu().double()
    check_finite(tensor, name)
    return tensor.numpy()


def _coords(value: Any, n: int) -> np.ndarray:
    tensor = as_tensor(value, "coords").detach().cpu().double()
    if tuple(tensor.shape) != (n, 3):
        raise ValueError(f"coords: expected ({n}, 3) MNI coordinates or None, got {tuple(tensor.shape)}")
    check_finite(tensor, "coords")
    return tensor.numpy()
