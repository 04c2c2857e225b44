"""A deterministic procedural movie: the default external stimulus Ω(t) of simulations."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["procedural_movie"]


def procedural_movie(
    n_frames: int = 256, size: int = 32, *, low: float = 0.7, high: float = 1.2, seed: int = 0
) -> Tensor:
    """A (n_frames, size, size) float32 movie with values in [low, high].

    A drifting sinusoidal grating whose orientation turns slowly, plus two Gaussian blobs
    moving on Lissajous paths: smooth in space and time, so a coordinate network can fit
    it, and rich enough that every pixel varies. The same arguments give the same movie
    (the seed only sets phases and directions). The published stimulus values lie in
    about 0.7–1.2, hence the default range.
    """
    if not (isinstance(n_frames, int) and n_frames >= 1 and isinstance(size, int) and size >= 2):
        raise ValueError(f"n_frames, size: expected ints >= 1 and >= 2, got {n_frames!r}, {size!r}")
    if not low < high:
        raise ValueError(f"low, high: expected low < high, got {low}, {high}")
    gen = torch.Generator().manual_seed(seed)
    phases = 2 * math.pi * torch.rand(6, generator=gen, dtype=torch.float64)
    t = torch.linspace(0, 1, n_frames, dtype=torch.float64)[:, None, None]
    axis = torch.linspace(0, 1, size, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    angle = phases[0] + math.pi * t  # half a turn over the movie
    grating = torch.sin(
        2 * math.pi * 3 * (x * torch.cos(angle) + y * torch.sin(angle)) - 8 * math.pi * t + phases[1]
    )
    movie = 0.6 * grating
    for k, (fx, fy) in enumerate(((2, 3), (3, 1))):
        cx = 0.5 + 0.35 * torch.sin(2 * math.pi * fx * t + phases[2 + 2 * k])
        cy = 0.5 + 0.35 * torch.sin(2 * math.pi * fy * t + phases[3 + 2 * k])
        movie = movie + torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.12**2))
    movie = (movie - movie.min()) / (movie.max() - movie.min())
    return (low + (high - low) * movie).float()
