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


def plot_connectivity(learned: Tensor, true: Tensor | None = None) -> Figure:
    """Learned against true W (or, without truth, the learned W and its histogram)."""
    fig = Figure(figsize=(9, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    if true is not None:
        _scatter_fit(axes[0], true, learned, "W")
    else:
        axes[0].set_axis_off()
    limit = float(learned.abs().quantile(0.99)) if learned.numel() < 2**24 else float(learned.abs().max())
    shown = min(200, learned.shape[0])
    image = axes[1].imshow(learned[:shown, :shown].cpu(), cmap="bwr", vmin=-limit, vmax=limit)
    axes[1].set_title(f"learned W (first {shown} neurons)" if shown < learned.shape[0] else "learned W")
    axes[1].set_xlabel("sender j")
    axes[1].set_ylabel("receiver i")
    fig.colorbar(image, ax=axes[1], shrink=0.8)
    return fig


def plot_latents(latents: Tensor, types: Tensor, true_types: Tensor | None = None) -> Figure:
    """Latents a_i (first two dimensions) coloured by recovered type, marked by true type."""
    fig = Figure(figsize=(4.5, 4), layout="constrained")
    ax = fig.subplots()
    a = latents.detach().cpu()
    second = a[:, 1] if a.shape[1] > 1 else torch.zeros(len(a))
    markers = "osD^v<>p*h"
    groups = torch.zeros(len(a), dtype=torch.long) if true_types is None else true_types.cpu()
    for g in groups.unique().tolist():
        rows = groups == g
        ax.scatter(
            a[rows, 0],
            second[rows],
            c=types[rows].cpu(),
            cmap="tab20",
            vmin=0,
            vmax=19,
            marker=markers[g % len(markers)],
            s=12,
            label=None if true_types is None else f"true type {g}",
        )
    ax.set_xlabel("a₀")
    ax.set_ylabel("a₁")
    ax.set_title(f"latents: {int(types.max()) + 1} recovered types")
    if true_types is not None and len(groups.unique()) <= 8:
        ax.legend(frameon=False, fontsize=7)
    return fig


def plot_functions(
    grid: Tensor,
    phi: Tensor,
    types: Tensor,
    psi: Tensor,
    phi_true: Tensor | None = None,
    psi_true: Tensor | None = None,
) -> Figure:
    """φ per neuron coloured by recovered type and ψ (normalised), with the truth dashed.

    Shapes: grid (G,), phi (N, G), psi (G,) or (N, G); the truths alike.
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    n_types = int(types.max()) + 1 if len(types) else 1
    cmap = matplotlib.colormaps.get_cmap("tab10" if n_types <= 10 else "tab20")
    step = max(1, len(phi) // 200)
    for i in range(0, len(phi), step):
        axes[0].plot(grid, phi[i], color=cmap(int(types[i]) % cmap.N), lw=1.2, alpha=0.7)
    if phi_true is not None:
        for row in phi_true.unique(dim=0):
            axes[0].plot(grid, row, "k--", lw=1)
    axes[0].set_title("φ(x, a_i) by recovered type (truth dashed)")
    axes[0].set_xlabel("x")
    psi_rows = psi.reshape(-1, len(grid))
    for row in psi_rows[:: max(1, len(psi_rows) // 200)]:
        axes[1].plot(grid, row, color="tab:blue", lw=0.5, alpha=0.6)
    if psi_true is not None:
        for row in psi_true.reshape(-1, len(grid)).unique(dim=0)[:20]:
            axes[1].plot(grid, row, "k--", lw=1)
    axes[1].set_title("ψ, normalised (truth dashed)")
    axes[1].set_xlabel("x")
    return fig


def plot_rollout(predicted: Tensor, true: Tensor, r2: Tensor, neurons: int = 5, dt: float = 1.0) -> Figure:
    """Traces of a few neurons (learned solid, recorded dashed) and R² across neurons over time."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    time = torch.arange(len(true)) * dt
    for k, i in enumerate(torch.linspace(0, true.shape[1] - 1, neurons).long().tolist()):
        color = matplotlib.colormaps.get_cmap("tab10")(k)
        axes[0].plot(time, true[:, i], "--", color=color, lw=1)
        axes[0].plot(time, predicted[:, i], color=color, lw=1)
    axes[0].set_xlabel("time" if dt != 1.0 else "step")
    axes[0].set_title("rollout (solid) vs recording (dashed)")
    axes[1].plot(torch.arange(len(r2)), r2.clamp_min(-1), color="k")
    axes[1].axhline(0.9, color="tab:red", lw=0.8, ls=":")
    axes[1].set_ylim(-1.05, 1.05)
    axes[1].set_xlabel("steps")
    axes[1].set_ylabel("R² across neurons")
    axes[1].set_title("rollout R² over the horizon")
    return fig


def plot_stimulus(learned: Tensor, true: Tensor, grid_side: int | None = None) -> Figure:
    """Learned Ω* against true Ω (scatter), and one frame of each as an image when on a grid."""
    fig = Figure(figsize=(13 if grid_side else 4.5, 4), layout="constrained")
    axes = fig.subplots(1, 3 if grid_side else 1, squeeze=False)
    _scatter_fit(axes[0, 0], true, learned, "Ω")
    if grid_side:
        frame = len(true) // 2
        for ax, values, name in ((axes[0, 1], true, "true Ω"), (axes[0, 2], learned, "learned Ω*")):
            ax.imshow(values[frame, : grid_side * grid_side].reshape(grid_side, grid_side), cmap="viridis")
            ax.set_title(f"{name}, frame {frame}")
            ax.set_axis_off()
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
