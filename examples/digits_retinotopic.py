"""A retinotopic digits classifier in plain PyTorch (no Lightning): ConnectomeLinear in your own loop.

A classifier of scikit-learn's bundled 8×8 digits
(offline) whose first layer is wired like an early visual area, each hidden unit connected
to the pixels near its own position (:func:`ccnn.nn.masks.distance_dependent`), and
trained with a distance-weighted wiring cost.

Usage::

    python examples/digits_retinotopic.py --config examples/digits_retinotopic.yaml \
        [--epochs 5] [--out_dir runs/x]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from jsonargparse import CLI
from rich.progress import Progress
from torch import nn

from ccnn._io import atomic_write
from ccnn.nn import ConnectomeLinear, masks
from ccnn.nn.regularizers import DistanceWiringCost


def grid(n: int) -> torch.Tensor:
    """Positions of n units on a square grid in [0, 1]² (n must be a perfect square)."""
    side = round(n**0.5)
    if side * side != n:
        raise ValueError(f"hidden: expected a perfect square (units sit on a square grid), got {n}")
    axis = torch.linspace(0, 1, side)
    return torch.cartesian_prod(axis, axis)


def digits_example(
    hidden: int = 144,
    scale: float = 0.15,
    backend: str = "auto",
    wiring_weight: float = 1e-3,
    epochs: int = 40,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    out_dir: str = "runs/example_digits",
) -> dict:
    """Train the retinotopic digits classifier and write ``summary.json`` to ``out_dir``.

    Args:
        hidden: number of hidden units (a perfect square: they tile the image plane).
        scale: length scale of the wiring, p(connect) = exp(-distance / scale).
        backend: ConnectomeLinear backend ("auto", "dense" or "sparse").
        wiring_weight: weight of the distance-weighted L1 wiring cost.
        epochs: passes over the training set.
        batch_size: examples per step.
        lr: Adam learning rate.
        seed: seeds the mask, the initialisation and the data split.
        out_dir: where the summary goes.
    """
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(x))
    train, test = order[:split], order[split:]

    pixels = grid(64)
    units = grid(hidden)
    mask = masks.distance_dependent(units, pixels, scale, seed=seed)
    retina = ConnectomeLinear(64, hidden, mask, backend=backend).attach_positions(pixels, units)
    model = nn.Sequential(retina, nn.ReLU(), nn.Linear(hidden, 10))
    wiring = DistanceWiringCost()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    print(model)

    start = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task("training", total=epochs)
        for _ in range(epochs):
            for batch in train[torch.randperm(len(train))].split(batch_size):
                loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
                loss = loss + wiring_weight * wiring(model)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            progress.update(task, advance=1, description=f"loss {loss.item():.3f}")
    with torch.no_grad():
        accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
        summary = {
            "test_accuracy": round(accuracy, 4),
            "density": round(retina.density, 4),
            "backend": retina.backend,
            "wiring_cost": round(wiring(model).item(), 4),
            "mean_connection_length": round(float(retina.distances()[retina.mask].mean()), 4),
            "seconds": round(time.perf_counter() - start, 2),
        }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Write to a temporary name, then rename: a crash never leaves a half-written summary.
    with atomic_write(out / "summary.json") as handle:
        handle.write(json.dumps(summary, indent=2).encode())
    print(
        f"test accuracy {summary['test_accuracy']:.3f} | density {summary['density']:.3f} | "
        f"wiring cost {summary['wiring_cost']:.3f} | {summary['seconds']:.1f} s | {out / 'summary.json'}"
    )
    return summary


if __name__ == "__main__":
    CLI(digits_example)
