r"""Fitting generative network models: the energy over an (η, γ) grid, many points at once.

For each wiring rule, :func:`fit_generative` grows synthetic networks with as many edges as the
target at every point of an (η, γ) grid (:func:`~ccnn.graph.generative.generate`, batched over
grid points) and scores each against the target by the energy of Betzel et al. (NeuroImage
2016), the largest of four Kolmogorov–Smirnov statistics
(:func:`~ccnn.graph.generative.generative_energy`). The best model is the rule and grid point
of lowest energy (mean over ``n_repeats`` networks per point).

By default the growth starts from an empty network; Betzel et al. seed it with the edges
common to all subjects: pass such a seed as ``seed_adjacency``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor

from ccnn._validation import as_tensor, check_choice, check_finite, check_int, describe
from ccnn.graph.generative.energy import KS_STATISTICS, generative_energy
from ccnn.graph.generative.rules import F64, RULES, check_binary_graph, check_distances
from ccnn.graph.generative.simulate import generate

__all__ = ["DEFAULT_GRID", "GenerativeFit", "fit_generative"]

#: Default η and γ values: -7 to 7 in steps of 1 (the parameter range of Akarca et al. 2021).
DEFAULT_GRID = tuple(float(v) for v in range(-7, 8))
# Elements of the (points, N, N) working tensors in one batch when batch_size is not given.
_BATCH_ELEMENTS = 2**24


@dataclass
class GenerativeFit:
    """Energies of generative network models over rules × η × γ, and the best model.

    Attributes:
        rules: the rules fitted, in order.
        eta, gamma: the grid values ``(E,)`` and ``(G,)``.
        energies: ``(R, E, G)`` energy per rule and grid point (mean over repeats).
        repeat_energies: ``(R, E, G, n_repeats)`` the energy of every synthetic network.
        statistics: ``(R, E, G, 4)`` the four KS statistics (mean over repeats), in the order
            degree, clustering, betweenness, edge length.
        best_rule, best_eta, best_gamma, best_energy: the lowest mean energy and where.
        n_edges: edges of the target (and of every synthetic network).
        n_repeats, seed: as passed.
    """

    rules: tuple[str, ...]
    eta: Tensor
    gamma: Tensor
    energies: Tensor
    repeat_energies: Tensor
    statistics: Tensor
    n_edges: int
    n_repeats: int
    seed: int
    best_rule: str = field(init=False)
    best_eta: float = field(init=False)
    best_gamma: float = field(init=False)
    best_energy: float = field(init=False)

    def __post_init__(self) -> None:
        flat = int(torch.nan_to_num(self.energies, nan=torch.inf).argmin())
        r, rest = divmod(flat, self.eta.numel() * self.gamma.numel())
        i, j = divmod(rest, self.gamma.numel())
        self.best_rule = self.rules[r]
        self.best_eta, self.best_gamma = float(self.eta[i]), float(self.gamma[j])
        self.best_energy = float(self.energies[r, i, j])

    def best(self, rule: str) -> dict[str, float]:
        """The best grid point of one rule: ``{"eta", "gamma", "energy"}``."""
        check_choice(rule, "rule", self.rules)
        grid = self.energies[self.rules.index(rule)]
        i, j = divmod(int(torch.nan_to_num(grid, nan=torch.inf).argmin()), self.gamma.numel())
        return {"eta": float(self.eta[i]), "gamma": float(self.gamma[j]), "energy": float(grid[i, j])}

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists, floats, str) for JSON."""
        return {
            "rules": list(self.rules),
            "eta": self.eta.tolist(),
            "gamma": self.gamma.tolist(),
            "energies": self.energies.tolist(),
            "repeat_energies": self.repeat_energies.tolist(),
            "statistics": self.statistics.tolist(),
            "statistic_names": list(KS_STATISTICS),
            "n_edges": self.n_edges,
            "n_repeats": self.n_repeats,
            "seed": self.seed,
            "best_rule": self.best_rule,
            "best_eta": self.best_eta,
            "best_gamma": self.best_gamma,
            "best_energy": self.best_energy,
            "best_per_rule": {rule: self.best(rule) for rule in self.rules},
        }


def _grid(values: Any, name: str) -> Tensor:
    grid = as_tensor(list(DEFAULT_GRID) if values is None else values, name).to(F64).reshape(-1)
    if grid.numel() == 0:
        raise ValueError(f"{name}: expected at least one grid value, got {describe(values)}")
    check_finite(grid, name)
    return grid


def fit_generative(
    target: Any,
    distances: Any,
    *,
    rules: Sequence[str] = RULES,
    eta: Any = None,
    gamma: Any = None,
    n_repeats: int = 1,
    seed: int = 0,
    seed_adjacency: Any = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> GenerativeFit:
    r"""Energy of every rule at every (η, γ) grid point against ``target`` (module docstring).

    Args:
        target: ``(N, N)`` symmetric graph (non-zero = edge; weights are ignored).
        distances: ``(N, N)`` symmetric, positive between distinct nodes (Euclidean distances
            or fibre lengths); the run uses its device (GPU when it is on one).
        rules: names from :data:`~ccnn.graph.generative.rules.RULES` (default: all 13).
        eta, gamma: grid values (default :data:`DEFAULT_GRID`, -7 to 7 in steps of 1).
        n_repeats: synthetic networks per grid point (their energies are averaged).
        seed: network r of grid point (i, j) uses the seed
            ``seed + (i * len(gamma) + j) * n_repeats + r`` (see :func:`generate`), the same for
            every rule. ``"spatial"`` ignores γ: it is grown once per η (with the seeds of
            j = 0) and its energies repeated along γ.
        seed_adjacency: ``(N, N)`` graph to grow from (default: empty).
        batch_size: grid points grown together (default: as many as fit in about
            :math:`2^{24}` elements of ``(points, N, N)``).
        progress: show a rich progress bar.

    Returns:
        A :class:`GenerativeFit`.
    """
    log_dist = check_distances(distances)
    n, device = log_dist.shape[-1], log_dist.device
    observed = check_binary_graph(target, "target", n, device)
    if observed.dim() != 2:
        raise ValueError(f"target: expected one graph (N, N), got shape {tuple(observed.shape)}")
    n_edges = int(observed.triu(1).sum())
    if isinstance(rules, str) or not isinstance(rules, Sequence) or not rules:
        raise ValueError(f"rules: expected a non-empty sequence of names from {RULES}, got {describe(rules)}")
    rules = tuple(check_choice(rule, "rules", RULES) for rule in rules)
    eta_grid, gamma_grid = _grid(eta, "eta").to(device), _grid(gamma, "gamma").to(device)
    n_repeats = check_int(n_repeats, "n_repeats", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    size = batch_size if batch_size is not None else max(1, _BATCH_ELEMENTS // (n * n))
    size = check_int(size, "batch_size", minimum=1)
    dist = torch.as_tensor(distances, device=device)
    n_eta, n_gamma = eta_grid.numel(), gamma_grid.numel()
    # (i, j, r) of every network, flattened in that order
    i_all, j_all, r_all = torch.meshgrid(
        torch.arange(n_eta), torch.arange(n_gamma), torch.arange(n_repeats), indexing="ij"
    )
    i_all, j_all, r_all = i_all.reshape(-1), j_all.reshape(-1), r_all.reshape(-1)
    statistics = torch.full((len(rules), n_eta, n_gamma, n_repeats, 4), torch.nan, dtype=F64)
    everything = torch.ones_like(i_all, dtype=torch.bool)
    jobs = [(rule, (j_all == 0) if rule == "spatial" else everything) for rule in rules]
    total = sum(int(keep.sum()) for _, keep in jobs)
    with Progress(
        TextColumn("generative fit: {task.fields[rule]}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), transient=True, disable=not progress,
    ) as bar:  # fmt: skip
        task = bar.add_task("networks", total=total, rule=rules[0])
        for index, (rule, keep) in enumerate(jobs):
            bar.update(task, rule=rule)
            i, j, r = i_all[keep], j_all[keep], r_all[keep]
            seeds = (seed + (i * n_gamma + j) * n_repeats + r).tolist()
            for start in range(0, len(seeds), size):
                part = slice(start, start + size)
                graphs = generate(
                    rule, eta_grid[i[part].to(device)], gamma_grid[j[part].to(device)], dist, n_edges,
                    seed=seeds[part], seed_adjacency=seed_adjacency,
                )  # fmt: skip
                values = generative_energy(graphs, observed, dist, components=True).cpu()
                statistics[index, i[part], j[part], r[part]] = values
                bar.update(task, advance=len(seeds[part]))
            if rule == "spatial":  # γ has no effect: the same networks for every γ
                statistics[index] = statistics[index, :, :1].expand_as(statistics[index])
    repeat_energies = statistics.amax(-1)
    return GenerativeFit(
        rules=rules,
        eta=eta_grid.cpu(),
        gamma=gamma_grid.cpu(),
        energies=repeat_energies.mean(-1),
        repeat_energies=repeat_energies,
        statistics=statistics.mean(-2),
        n_edges=n_edges,
        n_repeats=n_repeats,
        seed=seed,
    )
