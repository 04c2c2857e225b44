"""Figures of a structural connectome: a sorted adjacency heat map and a glass-brain view.

:func:`plot_connectome` is the entry point: it puts the glass brain (when the nodes have 3-D
coordinates) and the adjacency matrix, sorted into blocks, side by side and can save the figure
as a PNG, atomically. :func:`plot_adjacency` and :func:`plot_glass_brain` draw one panel each.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so importing
this module or plotting never switches a notebook's backend or leaves pyplot figures open.
nilearn (which imports pyplot) is only imported when a glass brain is drawn.

Orientation follows :class:`~ccnn.data.connectomes.connectome.Connectome`: ``weights[i, j]`` is the
connection from source ``j`` to target ``i``, so the heat map has targets on its rows and
sources on its columns.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ccnn._io import atomic_write
from ccnn._validation import describe
from ccnn.data.connectomes.connectome import Connectome

__all__ = ["plot_adjacency", "plot_connectome", "plot_glass_brain"]

#: Node attributes tried, in order, by ``order_by="auto"`` and for the node colours.
_GROUP_KEYS = ("block", "hemisphere")
#: Label of the lines that mark block boundaries on the heat map (a leading "_" keeps them out
#: of legends).
BOUNDARY_LABEL = "_block_boundary"
#: Labels of the panel axes, so that callers can find them among nilearn's helper axes.
ADJACENCY_LABEL = "adjacency"
GLASS_BRAIN_LABEL = "glass_brain"
#: Most group names written on the axes / in a legend before they would overlap.
_MAX_TICK_GROUPS = 40
_MAX_LEGEND_GROUPS = 12
_DPI = 120


# ---------------------------------------------------------------------- public functions


def plot_adjacency(
    connectome: Connectome,
    *,
    order_by: str | None = "auto",
    log: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Heat map of the weight matrix with the nodes sorted into blocks.

    Args:
        connectome: the connectome to draw.
        order_by: name of a 1-D entry of ``connectome.node_attrs`` (e.g. ``"block"`` or
            ``"hemisphere"``) to sort the nodes by, with a stable sort so that nodes keep their
            order within a block; ``"auto"`` uses ``"block"`` if present, else
            ``"hemisphere"``, else the stored order; ``None`` keeps the stored order. Thin
            lines mark the boundaries between blocks, and the blocks are named on the axes,
            by ``connectome.meta["<order_by>_names"]`` (a list indexed by the attribute's
            value, e.g. ``meta["block_names"]``) when present and by their value otherwise.
        log: colour by ``log10(1 + |w|)``; otherwise by the signed weights (a diverging map
            centred on zero when some are negative).
        ax: axes to draw into; a new figure is made when ``None``.
        title: axes title; by default it says what the nodes are sorted by.

    Returns:
        The figure holding the heat map (that of ``ax`` when given). The image is an
        :class:`~matplotlib.image.AxesImage` on the axes labelled ``"adjacency"``, with targets
        on the rows and sources on the columns; its colour bar is a child (inset) axes.
    """
    _check_connectome(connectome)
    if not isinstance(log, bool):
        raise TypeError(f"log: expected a bool, got {describe(log)}")
    _check_title(title)
    key = _resolve_order_by(connectome, order_by)
    if ax is None:
        fig = Figure(figsize=(6.8, 6.2))
        ax = fig.add_axes((0.15, 0.13, 0.68, 0.79))
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {describe(ax)}")
    _draw_adjacency(ax, connectome, key, log=log, title=title)
    return _root_figure(ax)


def plot_glass_brain(
    connectome: Connectome,
    *,
    edge_threshold: str | float = "99%",
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Glass-brain view of the connectome, drawn by :func:`nilearn.plotting.plot_connectome`.

    The graph drawn is undirected: the strength of the edge between nodes ``i`` and ``j`` is
    ``(|w_ij| + |w_ji|) / 2``; self-connections are not drawn. Nodes sit at
    ``connectome.coords``, read as MNI coordinates in millimetres, and are coloured by their
    ``"block"`` attribute, else their ``"hemisphere"`` one, when present (with a legend when
    there are at most 12 groups).

    Args:
        connectome: the connectome to draw; ``coords`` must have shape ``(N, 3)``.
        edge_threshold: edges weaker than this are hidden: a number ``>= 0`` (a strength) or a
            percentile such as ``"99%"``, taken over the strengths of all node pairs, zeros
            included, as nilearn does (so ``"99%"`` keeps about 1 % of all pairs).
        ax: axes whose area nilearn splits into the sagittal, coronal and axial views and an
            edge colour bar. nilearn places its axes where ``ax`` is when called, so the
            figure should have no layout engine. A new figure is made when ``None``.
        title: title above the views; by default it gives the edge threshold.

    Returns:
        The figure holding the views (that of ``ax`` when given); ``ax`` is labelled
        ``"glass_brain"``.
    """
    _check_connectome(connectome)
    _check_title(title)
    coords = _coords_3d(connectome)
    strengths = _symmetric_strengths(connectome)
    threshold, threshold_text = _resolve_edge_threshold(edge_threshold, strengths)
    if ax is None:
        fig = Figure(figsize=(9.0, 3.8))
        ax = fig.add_axes((0.01, 0.12, 0.98, 0.76))
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes or None, got {describe(ax)}")
    _draw_glass_brain(ax, connectome, coords, strengths, threshold, threshold_text, title)
    return _root_figure(ax)


def plot_connectome(
    connectome: Connectome,
    *,
    path: str | os.PathLike[str] | None = None,
    edge_threshold: str | float = "99%",
    order_by: str | None = "auto",
    title: str | None = None,
) -> Figure:
    """The glass brain and the sorted adjacency matrix of a connectome, side by side.

    The glass brain is drawn only when ``connectome.coords`` has shape ``(N, 3)``; otherwise
    the figure holds the adjacency matrix alone.

    Args:
        connectome: the connectome to draw.
        path: if given, the figure is also written there as a PNG (the name must end in
            ``.png``; missing parent folders are made). The file is written under a temporary
            name in the same folder and then renamed, so it is never seen half-written.
        edge_threshold: glass-brain edge threshold, as in :func:`plot_glass_brain`.
        order_by: node attribute to sort the adjacency matrix by, as in :func:`plot_adjacency`.
        title: figure title (none by default).

    Returns:
        The figure. Its panel axes carry the labels ``"glass_brain"`` and ``"adjacency"``.
    """
    _check_connectome(connectome)
    _check_title(title)
    key = _resolve_order_by(connectome, order_by)
    target = _check_png_path(path)
    top = 0.86 if title else 0.9
    if connectome.coords is not None and connectome.coords.shape[1] == 3:
        strengths = _symmetric_strengths(connectome)
        threshold, threshold_text = _resolve_edge_threshold(edge_threshold, strengths)
        fig = Figure(figsize=(16.0, 6.0))
        # No layout engine: nilearn places its view axes where the glass-brain axes is when it
        # draws, so the panels must not move afterwards.
        brain_ax = fig.add_axes((0.01, 0.16, 0.56, top - 0.22))
        adjacency_ax = fig.add_axes((0.66, 0.14, 0.26, top - 0.16))
        _draw_glass_brain(
            brain_ax, connectome, _coords_3d(connectome), strengths, threshold, threshold_text, None
        )
    else:
        fig = Figure(figsize=(6.8, 6.2))
        adjacency_ax = fig.add_axes((0.15, 0.13, 0.68, top - 0.11))
    _draw_adjacency(adjacency_ax, connectome, key, log=True, title=None)
    if title:
        fig.suptitle(title, fontsize=14)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target) as handle:
            fig.savefig(handle, format="png", dpi=_DPI, facecolor="white", bbox_inches="tight")
    return fig


# ---------------------------------------------------------------------- adjacency


def _draw_adjacency(
    ax: Axes, connectome: Connectome, key: str | None, *, log: bool, title: str | None
) -> None:
    weights = connectome.weights.detach().cpu().double().numpy()
    n = weights.shape[0]
    if key is None:
        order, groups = np.arange(n), None
    else:
        values = _group_values(connectome, key)
        order = np.argsort(values, kind="stable")
        groups = values[order]
    shown = weights[np.ix_(order, order)]

    if log:
        data, cmap, vmin, vmax = np.log10(1.0 + np.abs(shown)), "viridis", 0.0, None
        colour_label = "log10(1 + |w|)"
    elif (shown < 0).any():
        limit = float(np.abs(shown).max())
        data, cmap, vmin, vmax = shown, "RdBu_r", -limit, limit
        colour_label = "weight w"
    else:
        data, cmap, vmin, vmax = shown, "viridis", 0.0, None
        colour_label = "weight w"
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", aspect="equal")
    ax.set_label(ADJACENCY_LABEL)
    ax.set_xlabel("source region")
    ax.set_ylabel("target region")

    if groups is not None:
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        ends = np.r_[starts[1:], n]
        # White on viridis, grey where white is the colour of zero; thinner when blocks are many.
        style = {
            "color": "0.35" if cmap == "RdBu_r" else "white",
            "lw": min(0.8, 16 / len(starts)),
            "alpha": 0.9,
            "label": BOUNDARY_LABEL,
        }
        for edge in starts[1:]:
            ax.axvline(edge - 0.5, **style)
            ax.axhline(edge - 0.5, **style)
        if len(starts) <= _MAX_TICK_GROUPS:
            names = _group_names(connectome, key, groups[starts])
            centres = (starts + ends - 1) / 2
            size = 8 if len(starts) <= 16 else 6
            ax.set_xticks(centres, names, rotation=90, fontsize=size)
            ax.set_yticks(centres, names, fontsize=size)
            ax.tick_params(length=0)
        default_title = f"adjacency, sorted by {key} ({len(starts)} groups)"
    else:
        if connectome.labels is not None and n <= _MAX_TICK_GROUPS:
            size = 8 if n <= 16 else 6
            ax.set_xticks(np.arange(n), connectome.labels, rotation=90, fontsize=size)
            ax.set_yticks(np.arange(n), connectome.labels, fontsize=size)
        default_title = "adjacency"
    ax.set_title(default_title if title is None else title)

    # An inset colour bar follows the image once the equal aspect has shrunk the axes box.
    cax = ax.inset_axes((1.03, 0.0, 0.04, 1.0))
    colorbar = _root_figure(ax).colorbar(image, cax=cax)
    colorbar.set_label(colour_label)


def _resolve_order_by(connectome: Connectome, order_by: Any) -> str | None:
    if order_by is None:
        return None
    if not isinstance(order_by, str):
        raise TypeError(f"order_by: expected a node attribute name, 'auto' or None, got {describe(order_by)}")
    available = sorted(connectome.node_attrs)
    if order_by == "auto":
        return next((key for key in _GROUP_KEYS if key in connectome.node_attrs), None)
    if order_by not in connectome.node_attrs:
        raise ValueError(
            f"order_by: expected 'auto', None or one of the node attributes {available}, got {order_by!r}"
        )
    return order_by


def _group_values(connectome: Connectome, key: str) -> np.ndarray:
    """The node attribute ``key`` as a 1-D NumPy array (an ``(N, 1)`` one is flattened)."""
    value = connectome.node_attrs[key].detach().cpu()
    if value.dim() == 2 and value.shape[1] == 1:
        value = value[:, 0]
    if value.dim() != 1:
        raise ValueError(
            f"node_attrs[{key!r}]: expected one value per node, shape ({connectome.num_nodes},), "
            f"to group nodes by, got shape {tuple(value.shape)}"
        )
    array = value.numpy()
    return array.astype(np.int64) if array.dtype == np.bool_ else array


def _group_names(connectome: Connectome, key: str, values: np.ndarray) -> list[str]:
    """Names of the groups with the given attribute values, from ``meta[f"{key}_names"]`` if any."""
    meta_key = f"{key}_names"
    names = connectome.meta.get(meta_key)
    if names is None:
        return [_format_value(key, v) for v in values]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError(
            f"meta[{meta_key!r}]: expected a list of names indexed by the {key!r} value, "
            f"got {describe(names)}"
        )
    integral = (
        np.all(np.equal(np.mod(values, 1), 0)) if values.dtype.kind == "f" else values.dtype.kind in "iu"
    )
    if not integral or values.min() < 0 or values.max() >= len(names):
        raise ValueError(
            f"meta[{meta_key!r}]: expected a name for every {key!r} value (integers 0 to "
            f"{len(names) - 1}), got values {values.tolist()}"
        )
    return [names[int(v)] for v in values]


def _format_value(key: str, value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"


# ---------------------------------------------------------------------- glass brain


def _draw_glass_brain(
    ax: Axes,
    connectome: Connectome,
    coords: np.ndarray,
    strengths: np.ndarray,
    threshold: float,
    threshold_text: str,
    title: str | None,
) -> None:
    from nilearn import plotting  # imports pyplot: only when a glass brain is drawn

    n = connectome.num_nodes
    pairs = strengths[np.tril_indices(n, k=-1)]
    kept = pairs[(pairs >= threshold) & (pairs > 0)]
    colours, legend = _node_colours(connectome)
    if kept.size:
        high = float(kept.max())
        low = threshold if threshold > 0 else float(kept.min())
        # nilearn's colour bar rounds its ends to 2 significant digits and breaks when they meet.
        if f"{low:.2g}" == f"{high:.2g}":
            low = 0.0 if high > 0 else high - 1.0
        edge_vmin, edge_vmax = low, high
    else:
        edge_vmin = edge_vmax = None
    # Reds without its near-white start, so that the weakest edges shown stay visible.
    edge_cmap = ListedColormap(matplotlib.colormaps["Reds"](np.linspace(0.3, 1.0, 256)), name="Reds_visible")
    ax.set_label(GLASS_BRAIN_LABEL)
    # Hide the weaker edges here rather than through nilearn's edge_threshold, which warns when
    # the threshold exceeds every strength.
    shown = np.where(strengths >= threshold, strengths, 0.0)
    plotting.plot_connectome(
        shown,
        coords,
        node_color=colours,
        node_size=float(np.clip(1500.0 / n, 6.0, 40.0)),
        edge_cmap=edge_cmap,
        edge_vmin=edge_vmin,
        edge_vmax=edge_vmax,
        axes=ax,
        colorbar=bool(kept.size),
        # nilearn's widths grow with strength, from 1 to 3 points: too wide for a crowd of edges.
        edge_kwargs={"linewidth": 0.6} if kept.size > 200 else None,
        node_kwargs={"edgecolors": "black", "linewidths": 0.3},
    )
    ax.set_title(f"glass brain: {kept.size} edges, {threshold_text}" if title is None else title, fontsize=12)
    if legend:
        handles = [
            Line2D(
                [], [], marker="o", linestyle="", markerfacecolor=colour, markeredgecolor="black", label=name
            )
            for name, colour in legend
        ]
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(handles), 6),
            frameon=False,
            fontsize=8,
        )


def _coords_3d(connectome: Connectome) -> np.ndarray:
    coords = connectome.coords
    if coords is None:
        raise ValueError(
            "connectome.coords: expected (N, 3) MNI node coordinates to draw a glass brain, got None"
        )
    if coords.shape[1] != 3:
        raise ValueError(
            f"connectome.coords: expected (N, 3) MNI node coordinates to draw a glass brain, "
            f"got shape {tuple(coords.shape)}"
        )
    return coords.detach().cpu().double().numpy()


def _symmetric_strengths(connectome: Connectome) -> np.ndarray:
    """``(|W| + |W|ᵀ) / 2`` with a zero diagonal, as float64 NumPy."""
    strength = np.abs(connectome.weights.detach().cpu().double().numpy())
    strength = (strength + strength.T) / 2
    np.fill_diagonal(strength, 0.0)
    return strength


def _resolve_edge_threshold(edge_threshold: Any, strengths: np.ndarray) -> tuple[float, str]:
    """The edge threshold as a strength, and a short text saying how it was chosen."""
    expected = "a percentile string such as '99%' (0 to 100) or a number >= 0"
    if isinstance(edge_threshold, str):
        text = edge_threshold.strip()
        try:
            percentile = float(text[:-1]) if text.endswith("%") else math.nan
        except ValueError:
            percentile = math.nan
        if not 0 <= percentile <= 100:
            raise ValueError(f"edge_threshold: expected {expected}, got {edge_threshold!r}")
        n = strengths.shape[0]
        pairs = strengths[np.tril_indices(n, k=-1)]
        value = float(np.percentile(pairs, percentile)) if pairs.size else 0.0
        return value, f"strength ≥ {percentile:g}th percentile ({value:.3g})"
    if isinstance(edge_threshold, bool) or not isinstance(edge_threshold, int | float):
        raise TypeError(f"edge_threshold: expected {expected}, got {describe(edge_threshold)}")
    if not (math.isfinite(edge_threshold) and edge_threshold >= 0):
        raise ValueError(f"edge_threshold: expected {expected}, got {edge_threshold!r}")
    return float(edge_threshold), f"strength ≥ {edge_threshold:.3g}"


def _node_colours(connectome: Connectome) -> tuple[Any, list[tuple[str, Any]]]:
    """Per-node colours by block (else hemisphere), and the (name, colour) pairs of a legend."""
    key = next((k for k in _GROUP_KEYS if k in connectome.node_attrs), None)
    if key is None:
        return "black", []
    values = _group_values(connectome, key)
    unique, index = np.unique(values, return_inverse=True)
    k = len(unique)
    if k <= 10:
        palette = matplotlib.colormaps["tab10"](np.arange(k))
    elif k <= 20:
        palette = matplotlib.colormaps["tab20"](np.arange(k))
    else:
        palette = matplotlib.colormaps["turbo"](np.linspace(0.05, 0.95, k))
    colours = palette[index]
    legend: list[tuple[str, Any]] = []
    if k <= _MAX_LEGEND_GROUPS:
        legend = list(zip(_group_names(connectome, key, unique), palette, strict=True))
    return colours, legend


# ---------------------------------------------------------------------- checks


def _root_figure(ax: Axes) -> Figure:
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: ``figure`` of a (sub)figure is the root figure
        return ax.figure.figure


def _check_connectome(connectome: Any) -> None:
    if not isinstance(connectome, Connectome):
        raise TypeError(f"connectome: expected a ccnn.data.Connectome, got {describe(connectome)}")


def _check_title(title: Any) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title: expected a string or None, got {describe(title)}")


def _check_png_path(path: Any) -> Path | None:
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a file path ending in .png or None, got {describe(path)}")
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ValueError(f"path: expected a file path ending in .png, got {str(target)!r}")
    return target
