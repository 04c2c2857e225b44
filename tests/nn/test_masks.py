"""Tests for ccnn.nn.masks.

Random generators are checked against their definitions: exact counts where the model
fixes them, and empirical frequencies against the target probability within a binomial
5-sigma band where it does not (a false alarm has probability ~6e-7 per check).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest
import torch

from ccnn.nn.masks import (
    density,
    distance_dependent,
    erdos_renyi,
    expand_regions,
    grid_positions,
    modular,
    tile_positions,
    watts_strogatz,
)


def assert_binomial(hits: int, trials: int, p: float, *, sigmas: float = 5.0) -> None:
    """Assert that ``hits / trials`` is within ``sigmas`` binomial standard errors of ``p``."""
    freq = hits / trials
    tol = sigmas * math.sqrt(p * (1 - p) / trials) + 1e-12
    assert abs(freq - p) <= tol, f"frequency {freq:.5f} vs p={p:.5f} (tolerance {tol:.5f}, n={trials})"


# ---------------------------------------------------------------------------------------
# density
# ---------------------------------------------------------------------------------------


def test_density_counts_nonzero_entries():
    assert density(torch.tensor([[True, False], [False, False]])) == 0.25
    assert density(np.array([[0.5, -1.0, 0.0]])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="mask"):
        density(torch.zeros(0, 3))


# ---------------------------------------------------------------------------------------
# erdos_renyi
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_out", "n_in", "rho", "expected"),
    [(10, 20, 0.3, 60), (7, 3, 1.0, 21), (50, 40, 1e-6, 1), (1, 1, 0.2, 1), (9, 11, 0.5, 50)],
)
def test_erdos_renyi_exact_edge_count(n_out, n_in, rho, expected):
    mask = erdos_renyi(n_out, n_in, rho, seed=3)
    assert mask.shape == (n_out, n_in)
    assert mask.dtype == torch.bool
    assert mask.device.type == "cpu"
    assert int(mask.sum()) == expected == max(1, round(rho * n_out * n_in))


def test_erdos_renyi_without_self_loops():
    n = 30
    for seed in range(5):
        mask = erdos_renyi(n, n, 0.25, self_loops=False, seed=seed)
        assert not mask.diagonal().any()
        assert int(mask.sum()) == round(0.25 * n * (n - 1))
    # Full density fills every off-diagonal position and nothing else.
    full = erdos_renyi(n, n, 1.0, self_loops=False, seed=0)
    assert torch.equal(full, ~torch.eye(n, dtype=torch.bool))


@pytest.mark.parametrize("self_loops", [True, False])
def test_erdos_renyi_is_uniform_over_allowed_positions(self_loops):
    # Under G(n, M) each allowed position is occupied with probability M / N_allowed.
    n, rho, draws = 5, 0.4, 3000
    gen = torch.Generator().manual_seed(11)
    counts = sum(erdos_renyi(n, n, rho, self_loops=self_loops, generator=gen).long() for _ in range(draws))
    n_allowed = n * n if self_loops else n * (n - 1)
    p = round(rho * n_allowed) / n_allowed
    allowed = torch.ones(n, n, dtype=torch.bool)
    if not self_loops:
        allowed.fill_diagonal_(False)
        assert int(counts.diagonal().sum()) == 0
    for hits in counts[allowed].tolist():
        assert_binomial(hits, draws, p)


def test_erdos_renyi_seeding():
    a = erdos_renyi(20, 30, 0.2, seed=1)
    assert torch.equal(a, erdos_renyi(20, 30, 0.2, seed=1))
    assert not torch.equal(a, erdos_renyi(20, 30, 0.2, seed=2))
    assert torch.equal(a, erdos_renyi(20, 30, 0.2, generator=torch.Generator().manual_seed(1)))
    torch.manual_seed(0)
    b = erdos_renyi(20, 30, 0.2)
    torch.manual_seed(0)
    assert torch.equal(b, erdos_renyi(20, 30, 0.2))


@pytest.mark.parametrize("rho", [0, 0.0, 1.5, -0.1, float("nan"), float("inf")])
def test_erdos_renyi_rejects_bad_density(rho):
    with pytest.raises(ValueError, match=r"density: expected a value in \(0, 1\]"):
        erdos_renyi(4, 4, rho)


def test_erdos_renyi_errors():
    with pytest.raises(ValueError, match=r"density: expected a value in \(0, 1\], got 0"):
        erdos_renyi(4, 4, 0)
    with pytest.raises(TypeError, match="density"):
        erdos_renyi(4, 4, "0.5")
    with pytest.raises(ValueError, match=r"self_loops.*\(3, 4\)"):
        erdos_renyi(3, 4, 0.5, self_loops=False)
    with pytest.raises(ValueError, match="self_loops"):
        erdos_renyi(1, 1, 0.5, self_loops=False)
    with pytest.raises(ValueError, match="n_out"):
        erdos_renyi(0, 4, 0.5)
    with pytest.raises(TypeError, match="n_in"):
        erdos_renyi(4, 2.5, 0.5)
    with pytest.raises(ValueError, match="not both"):
        erdos_renyi(4, 4, 0.5, seed=0, generator=torch.Generator())
    with pytest.raises(TypeError, match="seed"):
        erdos_renyi(4, 4, 0.5, seed=1.5)


# ---------------------------------------------------------------------------------------
# watts_strogatz
# ---------------------------------------------------------------------------------------


def ring_lattice(n: int, k: int) -> torch.Tensor:
    """Reference ring lattice from the definition: i ~ i +- 1, ..., i +- k/2 (mod n)."""
    adj = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for offset in range(1, k // 2 + 1):
            adj[i, (i + offset) % n] = True
            adj[i, (i - offset) % n] = True
    return adj


@pytest.mark.parametrize(("n", "k"), [(10, 4), (12, 2), (7, 6), (50, 8)])
def test_watts_strogatz_p0_is_ring_lattice(n, k):
    assert torch.equal(watts_strogatz(n, k, 0.0, seed=5), ring_lattice(n, k))


@pytest.mark.parametrize("p", [0.05, 0.3, 1.0])
def test_watts_strogatz_structure(p):
    n, k = 60, 6
    for seed in range(3):
        mask = watts_strogatz(n, k, p, seed=seed)
        assert mask.shape == (n, n) and mask.dtype == torch.bool
        assert torch.equal(mask, mask.T)
        assert not mask.diagonal().any()
        assert int(mask.triu().sum()) == n * k // 2
    # Rewiring actually happens.
    assert not torch.equal(watts_strogatz(n, k, p, seed=0), ring_lattice(n, k))


def test_watts_strogatz_small_world_properties():
    n, k = 200, 8

    def graph(p: float, seed: int) -> nx.Graph:
        return nx.from_numpy_array(watts_strogatz(n, k, p, seed=seed).numpy().astype(np.int8))

    lattice_clustering = 3 * (k - 2) / (4 * (k - 1))  # exact value for the ring lattice
    random_clustering = k / (n - 1)  # expected value for G(n, p) with the same mean degree
    assert nx.average_clustering(graph(0.0, 0)) == pytest.approx(lattice_clustering)
    assert nx.average_clustering(graph(0.01, 0)) > 0.85 * lattice_clustering
    assert nx.average_clustering(graph(1.0, 0)) < 3 * random_clustering

    # A few shortcuts collapse the path length (lattice: about n / (2k) = 12.5).
    lattice_path = nx.average_shortest_path_length(graph(0.0, 0))
    small_world = graph(0.1, 0)
    assert nx.is_connected(small_world)
    assert nx.average_shortest_path_length(small_world) < 0.5 * lattice_path


def test_watts_strogatz_seeding():
    a = watts_strogatz(40, 4, 0.5, seed=7)
    assert torch.equal(a, watts_strogatz(40, 4, 0.5, seed=7))
    assert torch.equal(a, watts_strogatz(40, 4, 0.5, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(a, watts_strogatz(40, 4, 0.5, seed=8))


def test_watts_strogatz_errors():
    with pytest.raises(ValueError, match=r"k: expected an even int.*got 3"):
        watts_strogatz(10, 3, 0.1)
    with pytest.raises(ValueError, match=r"k: .*k < n = 10.*got 10"):
        watts_strogatz(10, 10, 0.1)
    with pytest.raises(ValueError, match=r"k: .*got 12"):
        watts_strogatz(10, 12, 0.1)
    with pytest.raises(ValueError, match="k"):
        watts_strogatz(10, 0, 0.1)
    with pytest.raises(ValueError, match=r"p: expected a value in \[0, 1\]"):
        watts_strogatz(10, 4, 1.2)
    with pytest.raises(ValueError, match="p"):
        watts_strogatz(10, 4, float("nan"))
    with pytest.raises(ValueError, match="not both"):
        watts_strogatz(10, 4, 0.1, seed=0, generator=torch.Generator())


# ---------------------------------------------------------------------------------------
# distance_dependent
# ---------------------------------------------------------------------------------------


def test_distance_dependent_matches_exponential_profile():
    # All 2000 output units sit at the origin; the input units sit at four points whose
    # Euclidean distances from it are 0, sqrt(2), 2 and 5 (a 3-4-5 triangle, so that an
    # L1 or squared distance would give visibly different frequencies).
    n_out, per_point = 2000, 500
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0], [3.0, 4.0]])
    dists = [0.0, math.sqrt(2.0), 2.0, 5.0]
    coords_out = torch.zeros(n_out, 2)
    coords_in = points.repeat_interleave(per_point, dim=0)
    scale, p_max = 2.0, 0.8

    mask = distance_dependent(coords_out, coords_in, scale, p_max=p_max, seed=0)
    assert mask.shape == (n_out, 4 * per_point) and mask.dtype == torch.bool
    for b, d in enumerate(dists):
        block = mask[:, b * per_point : (b + 1) * per_point]
        assert_binomial(int(block.sum()), block.numel(), p_max * math.exp(-d / scale))


def test_distance_dependent_bins_on_random_layout():
    # Points scattered on a line; bin pairs by distance and compare within each bin.
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1500, 1, generator=gen, dtype=torch.float64) * 10
    scale = 1.5
    mask = distance_dependent(x, x.numpy(), scale, seed=2)
    dist = (x - x.T).abs().flatten()
    probs = torch.exp(-dist / scale)
    bins = (dist / 0.5).long()
    n_bins = int(bins.max()) + 1
    trials = torch.bincount(bins, minlength=n_bins)
    hits = torch.bincount(bins, weights=mask.flatten().double(), minlength=n_bins)
    # The expected count in a bin is the sum of its pairs' probabilities (Poisson-binomial).
    expected = torch.bincount(bins, weights=probs, minlength=n_bins)
    var = torch.bincount(bins, weights=probs * (1 - probs), minlength=n_bins)
    checked = trials >= 1000
    assert int(checked.sum()) >= 15
    assert ((hits - expected).abs()[checked] <= 5 * var[checked].sqrt() + 1e-9).all()


def test_distance_dependent_self_loops_and_seeding():
    xy = torch.rand(50, 3, generator=torch.Generator().manual_seed(0))
    with_loops = distance_dependent(xy, xy, 0.5, seed=4)
    assert with_loops.diagonal().all()  # d = 0 and p_max = 1 give a sure connection
    without = distance_dependent(xy, xy, 0.5, self_loops=False, seed=4)
    assert not without.diagonal().any()
    off = ~torch.eye(50, dtype=torch.bool)
    assert torch.equal(with_loops[off], without[off])
    assert torch.equal(
        without, distance_dependent(xy, xy, 0.5, self_loops=False, generator=torch.Generator().manual_seed(4))
    )
    assert not torch.equal(without, distance_dependent(xy, xy, 0.5, self_loops=False, seed=5))
    # Far apart clouds never connect when exp(-d / scale) underflows.
    far = distance_dependent(xy, xy + 1e4, 0.5, seed=0)
    assert not far.any()


def test_distance_dependent_errors():
    xy = torch.rand(5, 2)
    for bad_scale in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale: expected a finite value > 0"):
            distance_dependent(xy, xy, bad_scale)
    with pytest.raises(ValueError, match=r"coords_in: expected shape \(any, 2\).*got \(5, 3\)"):
        distance_dependent(xy, torch.rand(5, 3), 1.0)
    with pytest.raises(ValueError, match="coords_out: expected shape"):
        distance_dependent(torch.rand(5), xy, 1.0)
    nan_xy = xy.clone()
    nan_xy[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"coords_in: expected finite values.*\(2, 1\)"):
        distance_dependent(xy, nan_xy, 1.0)
    with pytest.raises(ValueError, match=r"p_max: expected a value in \(0, 1\]"):
        distance_dependent(xy, xy, 1.0, p_max=0.0)
    with pytest.raises(ValueError, match="self_loops"):
        distance_dependent(xy, torch.rand(4, 2), 1.0, self_loops=False)
    with pytest.raises(TypeError, match="coords_out"):
        distance_dependent("abc", xy, 1.0)


# ---------------------------------------------------------------------------------------
# modular
# ---------------------------------------------------------------------------------------


def test_modular_block_densities():
    sizes = [300, 500, 200]
    p_in, p_out = 0.3, 0.05
    mask = modular(sizes, p_in, p_out, seed=0)
    n = sum(sizes)
    assert mask.shape == (n, n) and mask.dtype == torch.bool
    assert not mask.diagonal().any()
    bounds = np.cumsum([0, *sizes])
    for a in range(len(sizes)):
        for b in range(len(sizes)):
            block = mask[bounds[a] : bounds[a + 1], bounds[b] : bounds[b + 1]]
            if a == b:
                # The (empty) diagonal is not a trial.
                assert_binomial(int(block.sum()), sizes[a] * (sizes[a] - 1), p_in)
            else:
                assert_binomial(int(block.sum()), block.numel(), p_out)


def test_modular_is_directed_and_self_loops_optional():
    mask = modular([400, 400], 0.5, 0.5, self_loops=True, seed=1)
    assert not torch.equal(mask, mask.T)
    assert_binomial(int(mask.diagonal().sum()), 800, 0.5)
    exact = modular(np.array([2, 1, 3]), 1.0, 0.0, seed=0)
    expected = torch.block_diag(torch.ones(2, 2), torch.ones(1, 1), torch.ones(3, 3)).bool()
    expected.fill_diagonal_(False)
    assert torch.equal(exact, expected)


def test_modular_seeding():
    a = modular([10, 20], 0.4, 0.1, seed=3)
    assert torch.equal(a, modular([10, 20], 0.4, 0.1, seed=3))
    assert torch.equal(a, modular([10, 20], 0.4, 0.1, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(a, modular([10, 20], 0.4, 0.1, seed=4))


def test_modular_errors():
    with pytest.raises(ValueError, match=r"sizes\[1\]: expected an int >= 1, got 0"):
        modular([3, 0, 2], 0.5, 0.1)
    with pytest.raises(TypeError, match=r"sizes\[0\]"):
        modular([2.5], 0.5, 0.1)
    with pytest.raises(ValueError, match="sizes"):
        modular([], 0.5, 0.1)
    with pytest.raises(TypeError, match="sizes"):
        modular(5, 0.5, 0.1)
    with pytest.raises(ValueError, match="p_in"):
        modular([3], 1.5, 0.1)
    with pytest.raises(ValueError, match="p_out"):
        modular([3], 0.5, -0.1)


# ---------------------------------------------------------------------------------------
# expand_regions
# ---------------------------------------------------------------------------------------

# Region connectome, row = target region, column = source region.
REGION_W = torch.tensor(
    [
        [0.0, 2.0, 0.0],
        [0.5, 0.0, 0.0],
        [1.0, 3.0, 4.0],
    ]
)
OUT_REGIONS = [0, 0, 1, 2, 2, 1]
IN_REGIONS = [2, 1, 0, 0, 1, 2]


def test_expand_regions_hand_built_example():
    mask = expand_regions(REGION_W, OUT_REGIONS, IN_REGIONS)
    # Written out by hand: row u is the region row of OUT_REGIONS[u], read at columns
    # IN_REGIONS = [2, 1, 0, 0, 1, 2].
    expected = torch.tensor(
        [
            [0, 1, 0, 0, 1, 0],  # region 0 gets input from region 1 only
            [0, 1, 0, 0, 1, 0],
            [0, 0, 1, 1, 0, 0],  # region 1 gets input from region 0 only
            [1, 1, 1, 1, 1, 1],  # region 2 gets input from every region
            [1, 1, 1, 1, 1, 1],
            [0, 0, 1, 1, 0, 0],
        ],
        dtype=torch.bool,
    )
    assert mask.dtype == torch.bool
    assert torch.equal(mask, expected)
    # Same thing, entry by entry from the definition.
    for u, ru in enumerate(OUT_REGIONS):
        for v, rv in enumerate(IN_REGIONS):
            assert bool(mask[u, v]) == bool(REGION_W[ru, rv] != 0)


def test_expand_regions_weighted():
    weights = expand_regions(REGION_W, OUT_REGIONS, IN_REGIONS, weighted=True)
    assert weights.dtype == torch.float32
    for u, ru in enumerate(OUT_REGIONS):
        for v, rv in enumerate(IN_REGIONS):
            assert float(weights[u, v]) == float(REGION_W[ru, rv])
    w64 = expand_regions(REGION_W.double().numpy(), OUT_REGIONS, IN_REGIONS, weighted=True)
    assert w64.dtype == torch.float64
    assert torch.equal(w64.float(), weights)
    as_bool = expand_regions(REGION_W != 0, OUT_REGIONS, IN_REGIONS, weighted=True)
    assert as_bool.dtype == torch.float32
    assert torch.equal(as_bool, (weights != 0).float())


def test_expand_regions_input_kinds():
    reference = expand_regions(REGION_W, OUT_REGIONS, IN_REGIONS)
    variants = [
        (REGION_W.numpy(), np.array(OUT_REGIONS), np.array(IN_REGIONS, dtype=np.int32)),
        (REGION_W.tolist(), torch.tensor(OUT_REGIONS), IN_REGIONS),
        (SimpleNamespace(weights=REGION_W), OUT_REGIONS, IN_REGIONS),  # a Connectome stand-in
        (SimpleNamespace(weights=REGION_W.numpy()), OUT_REGIONS, IN_REGIONS),
    ]
    for region_mask, out_regions, in_regions in variants:
        assert torch.equal(expand_regions(region_mask, out_regions, in_regions), reference)
    # Rectangular region matrix and empty unit lists.
    rect = torch.tensor([[1, 0, 0, 1]])
    assert torch.equal(expand_regions(rect, [0, 0], [3, 1]), torch.tensor([[True, False], [True, False]]))
    assert expand_regions(rect, [], [0, 1]).shape == (0, 2)


def test_expand_regions_is_deterministic_without_unit_density():
    state = torch.get_rng_state()
    expand_regions(REGION_W, OUT_REGIONS, IN_REGIONS)
    assert torch.equal(state, torch.get_rng_state())  # no random numbers drawn


def test_expand_regions_unit_density_subsamples():
    region = torch.tensor([[1.0, 0.0], [2.0, 3.0]])
    out_regions = torch.arange(2).repeat_interleave(300)
    in_regions = torch.arange(2).repeat_interleave(400)
    full = expand_regions(region, out_regions, in_regions)
    q = 0.3
    sub = expand_regions(region, out_regions, in_regions, unit_density=q, seed=0)
    assert sub.dtype == torch.bool
    assert not (sub & ~full).any()  # never adds a connection
    assert_binomial(int(sub.sum()), int(full.sum()), q)

    weighted = expand_regions(region, out_regions, in_regions, unit_density=q, weighted=True, seed=0)
    full_w = expand_regions(region, out_regions, in_regions, weighted=True)
    assert torch.equal(weighted != 0, sub)
    assert torch.equal(weighted[sub], full_w[sub])

    same = expand_regions(
        region, out_regions, in_regions, unit_density=q, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(sub, same)
    assert not torch.equal(sub, expand_regions(region, out_regions, in_regions, unit_density=q, seed=1))
    assert torch.equal(expand_regions(region, out_regions, in_regions, unit_density=1.0, seed=0), full)


def test_expand_regions_errors():
    with pytest.raises(ValueError, match=r"out_regions: expected region indices in \[0, 2\].*got 3"):
        expand_regions(REGION_W, [0, 3, 1], IN_REGIONS)
    with pytest.raises(ValueError, match=r"in_regions: .*\[0, 2\].*got -1 at position 1"):
        expand_regions(REGION_W, OUT_REGIONS, [0, -1])
    with pytest.raises(TypeError, match="out_regions: expected integer"):
        expand_regions(REGION_W, [0.0, 1.0], IN_REGIONS)
    with pytest.raises(ValueError, match="in_regions: expected shape"):
        expand_regions(REGION_W, OUT_REGIONS, [[0, 1]])
    with pytest.raises(ValueError, match=r"region_mask: expected shape \(any, any\)"):
        expand_regions(torch.ones(3), OUT_REGIONS, IN_REGIONS)
    bad = REGION_W.clone()
    bad[1, 2] = float("inf")
    with pytest.raises(ValueError, match="region_mask: expected finite"):
        expand_regions(bad, OUT_REGIONS, IN_REGIONS)
    with pytest.raises(TypeError, match="region_mask"):
        expand_regions(object(), OUT_REGIONS, IN_REGIONS)
    with pytest.raises(ValueError, match=r"unit_density: expected a value in \(0, 1\]"):
        expand_regions(REGION_W, OUT_REGIONS, IN_REGIONS, unit_density=0.0)
    with pytest.raises(ValueError, match="not both"):
        expand_regions(
            REGION_W, OUT_REGIONS, IN_REGIONS, unit_density=0.5, seed=0, generator=torch.Generator()
        )
    with pytest.raises(ValueError, match="not both"):
        expand_regions(REGION_W, OUT_REGIONS, IN_REGIONS, seed=0, generator=torch.Generator())


def test_tile_positions_follow_the_extent_of_the_reference():
    line = torch.stack([torch.linspace(0.2, 0.6, 7), torch.full((7,), 0.5)], 1)
    tiled = tile_positions(5, line)
    torch.testing.assert_close(tiled[:, 0], torch.linspace(0.2, 0.6, 5))
    assert (tiled[:, 1] == 0.5).all()
    # an image's grid is tiled by the same grid, rescaled to its box
    torch.testing.assert_close(tile_positions(16, grid_positions(64)), grid_positions(16))
    box = grid_positions(9) * torch.tensor([2.0, 0.5]) + 1
    torch.testing.assert_close(tile_positions(4, box), grid_positions(4) * torch.tensor([2.0, 0.5]) + 1)
    assert torch.equal(tile_positions(3, torch.ones(4, 3)), torch.ones(3, 3))  # one point: all there
    with pytest.raises(ValueError, match=r"^n: expected"):
        tile_positions(0, line)
    with pytest.raises(ValueError, match=r"^like: expected"):
        tile_positions(3, torch.ones(4))
