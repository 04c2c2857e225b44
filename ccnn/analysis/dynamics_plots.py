"""Figures of a recovered neural assembly: W, latents and types, φ and ψ, rollouts, Ω.

Every function takes plain tensors and returns a :class:`matplotlib.figure.Figure`, built
without pyplot (no display needed, and the caller's backend is left alone);
:func:`save_figures` writes them as PNG atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor

from ccnn._io import atomic_write

__all__ = [
    "plot_connectivity",
    "plot_functions",
    "plot_latents",
    "plot_rollout",
    "plot_stimulus",
    "save_figures",
]


def _scatter_fit(ax, true: Tensor, learned: Tensor, label: str) -> None:
    true, learned = true.double().flatten(), learned.double().flatten()
    if true.numel() > 200_000:  # a readable, light scatter
        keep = torch.randperm(true.numel(), generator=torch.Generator().manual_seed(0))[:200_000]
        true_s, learned_s = true[keep], learned[keep]
    else:
        true_s, learned_s = true, learned
    ax.scatter(true_s, learned_s, s=1, alpha=0.3, color="k", rasterized=True)
    r = torch.corrcoef(torch.stack([true, learned]))[0, 1]
    slope = ((true - true.mean()) * (learned - learned.mean())).sum() / (true - true.mean()).pow(2).sum()
    lo, hi = float(true.min()), float(true.max())
    ax.plot([lo, hi], [lo, hi], color="tab:red", lw=1, label="identity")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"learned {label}")
    ax.set_title(f"R² = {float(r**2):.4f}, slope = {float(slope):.3f}")
    ax.legend(loc="upper left", frameon=False)


#: Label of the normalised connectivity (identifiability: ψ rises by 2 over the activity range).
W_LABEL = "W (normalised: ψ plateau ±1, W carries the scale)"


def plot_connectivity(learned: Tensor, true: Tensor | None = None) -> Figure:
    """Learned against true W (scatter), and the true and learned matrices side by side with the
    same colour limits; without truth, the learned matrix and the histogram of its weights."""
    fig = Figure(figsize=(14, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    shown = min(200, learned.shape[0])
    matrices = [("learned W", learned)] if true is None else [("true W", true), ("learned W", learned)]
    values = torch.cat([m.detach().double().flatten() for _, m in matrices])
    limit = float(values.abs().quantile(0.99)) if values.numel() < 2**24 else float(values.abs().max())
    limit = limit if limit > 0 else 1.0
    if true is not None:
        _scatter_fit(axes[0], true, learned, "W (normalised)")
        panels = axes[1:]
    else:
        weights = learned.detach().double().flatten()
        axes[2].hist(weights[weights != 0].cpu(), bins=80, color="0.4")
        axes[2].set_xlabel(f"learned {W_LABEL}")
        axes[2].set_ylabel("connections (count)")
        axes[2].set_title("learned weights (non-zero)")
        panels = axes[:1]
        axes[1].set_axis_off()
    for ax, (name, matrix) in zip(panels, matrices, strict=True):
        image = ax.imshow(matrix[:shown, :shown].detach().cpu(), cmap="bwr", vmin=-limit, vmax=limit)
        ax.set_title(f"{name} (first {shown} neurons)" if shown < matrix.shape[0] else name)
        ax.set_xlabel("sender j")
        ax.set_ylabel("receiver i")
    fig.colorbar(image, ax=list(panels), shrink=0.85, extend="both").set_label("W (normalised)")
    fig.suptitle(f"{W_LABEL}; colour limits ±{limit:.3g} (99th percentile of |W|), shared", fontsize=9)
    return fig


def _type_colours(n_types: int):
    return matplotlib.colormaps.get_cmap("tab10" if n_types <= 10 else "tab20")


def _type_legend(ax, n_types: int, prefix: str = "recovered type") -> None:
    cmap = _type_colours(n_types)
    handles = [
        Line2D([], [], color=cmap(t % cmap.N), lw=2, label=f"{prefix} {t}") for t in range(min(n_types, 12))
    ]
    ax.legend(handles=handles, frameon=False, fontsize=7, loc="best")


def plot_latents(latents: Tensor, types: Tensor, true_types: Tensor | None = None) -> Figure:
    """Latents a_i (first two dimensions): colour = recovered type, marker = true type."""
    fig = Figure(figsize=(5, 4.2), layout="constrained")
    ax = fig.subplots()
    a = latents.detach().cpu()
    second = a[:, 1] if a.shape[1] > 1 else torch.zeros(len(a))
    markers = "osD^v<>p*h"
    n_types = int(types.max()) + 1 if len(types) else 1
    cmap = _type_colours(n_types)
    colours = [cmap(int(t) % cmap.N) for t in types.cpu()]
    groups = torch.zeros(len(a), dtype=torch.long) if true_types is None else true_types.cpu()
    for g in groups.unique().tolist():
        rows = (groups == g).nonzero().squeeze(1).tolist()
        ax.scatter(
            a[rows, 0], second[rows], c=[colours[i] for i in rows], marker=markers[g % len(markers)], s=12
        )
    handles = [Line2D([], [], color=cmap(t % cmap.N), marker="o", ls="", label=f"recovered type {t}")
               for t in range(min(n_types, 12))]  # fmt: skip
    if true_types is not None and len(groups.unique()) <= 8:
        handles += [Line2D([], [], color="k", marker=markers[g % len(markers)], ls="", label=f"true type {g}")
                    for g in groups.unique().tolist()]  # fmt: skip
    ax.legend(handles=handles, frameon=False, fontsize=7)
    ax.set_xlabel("latent a₀ (a.u.)")
    ax.set_ylabel("latent a₁ (a.u.)" if a.shape[1] > 1 else "(one latent dimension)")
    ax.set_title(f"latents: {n_types} recovered types")
    return fig


def _zoom(grid: Tensor, phi: Tensor, width: float = 3.0) -> Tensor:
    """Grid points with |x| <= width (all of them when the grid is narrower)."""
    inside = grid.abs() <= width
    return inside if int(inside.sum()) >= 10 else torch.ones_like(inside)


def plot_functions(
    grid: Tensor,
    phi: Tensor,
    types: Tensor,
    psi: Tensor,
    phi_true: Tensor | None = None,
    psi_true: Tensor | None = None,
) -> Figure:
    """φ per neuron coloured by recovered type, over the full range and zoomed to |x| <= 3 where
    the types differ most, and ψ (normalised), with the truth dashed.

    Shapes: grid (G,), phi (N, G), psi (G,) or (N, G); the truths alike.
    """
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    n_types = int(types.max()) + 1 if len(types) else 1
    cmap = _type_colours(n_types)
    step = max(1, len(phi) // 200)
    zoom = _zoom(grid, phi)
    for ax, keep, title in ((axes[0], torch.ones_like(zoom), "full range"), (axes[1], zoom, "|x| ≤ 3")):
        for i in range(0, len(phi), step):
            ax.plot(grid[keep], phi[i][keep], color=cmap(int(types[i]) % cmap.N), lw=1.2, alpha=0.7)
        if phi_true is not None:
            for row in phi_true.unique(dim=0):
                ax.plot(grid[keep], row[keep], "k--", lw=1)
        ax.set_title(f"φ(x, a_i) by recovered type, {title} (truth dashed)")
        ax.set_xlabel("activity x (a.u.)")
        ax.set_ylabel("φ(x): dx/dt without input (a.u. per unit time)")
    _type_legend(axes[0], n_types)
    psi_rows = psi.reshape(-1, len(grid))
    for row in psi_rows[:: max(1, len(psi_rows) // 200)]:
        axes[2].plot(grid, row, color="tab:blue", lw=0.5, alpha=0.6)
    if psi_true is not None:
        for row in psi_true.reshape(-1, len(grid)).unique(dim=0)[:20]:
            axes[2].plot(grid, row, "k--", lw=1)
    axes[2].set_title("ψ, normalised to a plateau of ±1 (truth dashed)")
    axes[2].set_xlabel("sender activity x_j (a.u.)")
    axes[2].set_ylabel("ψ(x_j) (normalised)")
    return fig


def plot_rollout(predicted: Tensor, true: Tensor, r2: Tensor, neurons: int = 5, dt: float = 1.0) -> Figure:
    """Traces of a few neurons (learned solid, recorded dashed) and R² across neurons over time,
    on a 0.9–1.0 scale (steps where R² is below 0.9 are marked, not hidden)."""
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    time = torch.arange(len(true)) * dt
    unit = "time (recording's units)" if dt != 1.0 else "step"
    for k, i in enumerate(torch.linspace(0, true.shape[1] - 1, neurons).long().tolist()):
        color = matplotlib.colormaps.get_cmap("tab10")(k)
        axes[0].plot(time, true[:, i], "--", color=color, lw=1)
        axes[0].plot(time, predicted[:, i], color=color, lw=1, label=f"neuron {i}")
    axes[0].set_xlabel(unit)
    axes[0].set_ylabel("activity x (a.u.)")
    axes[0].set_title("rollout (solid) vs recording (dashed)")
    axes[0].legend(frameon=False, fontsize=7)
    steps = torch.arange(len(r2))
    axes[1].plot(steps, r2.clamp(min=0.895), color="k", label="R² (values < 0.9 drawn at the bottom edge)")
    axes[1].axhline(0.9, color="tab:red", lw=0.8, ls=":", label="R² = 0.9")
    below = (r2 < 0.9).nonzero()
    if len(below):
        first = int(below[0])
        axes[1].axvline(first, color="tab:red", lw=0.8, label=f"first below 0.9: step {first}")
    axes[1].set_ylim(0.895, 1.0005)
    axes[1].set_xlabel("steps of the rollout")
    axes[1].set_ylabel("R² across neurons")
    axes[1].set_title(f"rollout R² over the horizon (min {float(r2.min()):.3f})")
    axes[1].legend(frameon=False, fontsize=7, loc="lower left")
    return fig


def plot_stimulus(learned: Tensor, true: Tensor, grid_side: int | None = None) -> Figure:
    """Learned Ω* against true Ω (scatter), and one frame of each as an image when on a grid."""
    fig = Figure(figsize=(13 if grid_side else 4.5, 4), layout="constrained")
    axes = fig.subplots(1, 3 if grid_side else 1, squeeze=False)
    _scatter_fit(axes[0, 0], true, learned, "Ω")
    if grid_side:
        frame = len(true) // 2
        pair = torch.stack([true[frame, : grid_side**2], learned[frame, : grid_side**2]]).double()
        low, high = float(pair.min()), float(pair.max())
        for ax, values, name in ((axes[0, 1], true, "true Ω"), (axes[0, 2], learned, "learned Ω*")):
            side = grid_side
            image = ax.imshow(
                values[frame, : side * side].reshape(side, side), cmap="viridis", vmin=low, vmax=high
            )
            ax.set_title(f"{name}, frame {frame}")
            ax.set_axis_off()
        fig.colorbar(image, ax=list(axes[0, 1:]), shrink=0.85).set_label("Ω (gain of the input, a.u.)")
    return fig


def save_figures(figures: dict[str, Figure], directory: str | os.PathLike) -> list[Path]:
    """Write each figure as ``<name>.png`` (atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        with atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        paths.append(path)
    return paths
