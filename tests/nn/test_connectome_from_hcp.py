"""A connectome-constrained layer built from a real diffusion-MRI connectome (HCP subject 0).

The region connectome (94 AAL2 regions, log streamline counts thresholded to a density of 0.2)
is expanded to 4 units per region; the fibre lengths between regions become the distances of a
distance-weighted L1 wiring cost between units.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ccnn.data import load_connectome
from ccnn.nn import ConnectomeLinear, masks
from ccnn.nn.regularizers import DistanceWiringCost

UNITS_PER_REGION = 4
TRANSFORMS = ["log1p", "threshold:0.2", "symmetrise"]
STEPS = 100
WIRING_STRENGTH = 1e-5  # λ: Σ|W|·d is ~10⁵ (mm) at the start, the task's MSE ~1


@pytest.fixture(scope="module")
def hcp():
    """Region connectome, unit → region map, unit mask and unit distances (fibre lengths, mm)."""
    connectome = load_connectome("hcp", 0, transforms=TRANSFORMS)
    regions = torch.arange(connectome.num_nodes).repeat_interleave(UNITS_PER_REGION)
    mask = masks.expand_regions(connectome, regions, regions)
    lengths = connectome.distances.float()
    distances = lengths[regions[:, None], regions[None, :]]
    return connectome, regions, mask, distances


def _task(n_units, mask):
    """A regression target that the masked layer can fit: a random teacher with the same mask."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(128, n_units, generator=gen)
    in_degree = mask.sum(1, keepdim=True).clamp(min=1)
    teacher = torch.randn(n_units, n_units, generator=gen) * mask / in_degree.sqrt()
    return x, x @ teacher.T


def _train(mask, distances, strength):
    n_units = mask.shape[0]
    x, y = _task(n_units, mask)
    torch.manual_seed(1)  # the same initial weights for every strength
    layer = ConnectomeLinear(n_units, n_units, mask)
    cost = DistanceWiringCost(distances)
    initial_weight = layer.weight.detach().clone()
    optimiser = torch.optim.Adam(layer.parameters(), lr=1e-2)
    losses = []
    for _ in range(STEPS):
        mse = F.mse_loss(layer(x), y)
        loss = mse + strength * cost(layer.weight) if strength else mse
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(mse.item())
    return {"layer": layer, "losses": losses, "initial_weight": initial_weight}


@pytest.fixture(scope="module")
def trained(hcp):
    _, _, mask, distances = hcp
    # 376 × 376 matrices gain nothing from a second thread, and on a busy 2-core machine the threads'
    # contention made the two trainings ~20x slower (0.7 s against 16 s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {strength: _train(mask, distances, strength) for strength in (0.0, WIRING_STRENGTH)}
    finally:
        torch.set_num_threads(threads)


def test_region_connectome_after_transforms(hcp):
    connectome, regions, _, _ = hcp
    assert connectome.num_nodes == 94 and len(regions) == 94 * UNITS_PER_REGION
    assert connectome.is_symmetric
    assert connectome.density == pytest.approx(0.2, abs=0.005)
    assert float(connectome.weights.diagonal().abs().sum()) == 0  # no self-connections in the SC
    # Streamline counts reach ~10⁷; after log1p the weights are below log(1 + 10⁷) ≈ 16.1.
    assert 5 < float(connectome.weights.max()) < 16.2


def test_unit_mask_is_the_region_connectome_expanded(hcp):
    connectome, regions, mask, _ = hcp
    k = UNITS_PER_REGION
    region_edges = connectome.weights != 0
    assert mask.shape == (94 * k, 94 * k) and mask.dtype == torch.bool
    # Units of region a are the rows (and columns) 4a..4a+3: each region entry becomes a 4 × 4 block.
    expected = region_edges.repeat_interleave(k, dim=0).repeat_interleave(k, dim=1)
    assert torch.equal(mask, expected)
    # A few region pairs by hand: the strongest connection, a missing one, and a region to itself.
    a, b = divmod(int(connectome.weights.argmax()), connectome.num_nodes)
    assert bool(mask[k * a : k * a + k, k * b : k * b + k].all())
    missing = (~region_edges & ~torch.eye(connectome.num_nodes, dtype=torch.bool)).nonzero()
    c, d = (int(i) for i in missing[len(missing) // 2])
    assert not bool(mask[k * c : k * c + k, k * d : k * d + k].any())
    assert not bool(mask[k * 7 : k * 8, k * 7 : k * 8].any())
    assert bool(mask[k * a + 3, k * b]) and bool(mask[k * b, k * a + 3])  # symmetric, like the SC
    # Each region edge becomes k² unit edges out of k² times as many pairs: the density is unchanged.
    assert int(mask.sum()) == k * k * connectome.num_edges
    assert masks.density(mask) == connectome.density
    layer = ConnectomeLinear(len(regions), len(regions), mask)
    assert layer.num_connections == int(mask.sum()) and layer.density == connectome.density


def test_unit_distances_are_fibre_lengths(hcp):
    connectome, regions, mask, distances = hcp
    lengths = connectome.distances
    for u, v in [(0, 5), (17, 200), (375, 2), (101, 103)]:
        assert float(distances[u, v]) == pytest.approx(float(lengths[u // 4, v // 4]))
        assert int(regions[u]) == u // 4
    # Every allowed connection has a measured tract, of a plausible length in mm.
    connected = distances[mask]
    assert float(connected.min()) > 0 and float(connected.max()) < 300
    assert torch.equal(distances, distances.T)


def test_wiring_cost_matches_a_hand_computation(hcp, trained):
    connectome, _, mask, distances = hcp
    weight = trained[0.0]["initial_weight"].double()
    cost = DistanceWiringCost(distances)(weight)
    # By regions: the sum of |W| over each 4 × 4 block, times the region-pair fibre length.
    k, n = UNITS_PER_REGION, connectome.num_nodes
    block_sums = weight.abs().reshape(n, k, n, k).sum((1, 3))
    by_regions = float((block_sums * connectome.distances.double()).sum())
    assert float(cost) == pytest.approx(by_regions, rel=1e-5)
    # And one entry at a time over the connections of the first 20 units.
    rows, cols = mask[:20].nonzero(as_tuple=True)
    partial = sum(
        abs(float(weight[i, j])) * float(connectome.distances[i // k, j // k])
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
    )
    assert float(DistanceWiringCost(distances[:20])(weight[:20])) == pytest.approx(partial, rel=1e-5)
    assert float(cost) > 0


@pytest.mark.parametrize("strength", [0.0, WIRING_STRENGTH])
def test_training_keeps_masked_weights_at_zero_and_lowers_the_loss(hcp, trained, strength):
    _, _, mask, _ = hcp
    run = trained[strength]
    layer = run["layer"]
    assert layer.backend == "dense"
    weight = layer.weight.detach()
    assert int(torch.count_nonzero(weight[~mask])) == 0
    assert int(torch.count_nonzero(layer.raw_weight.detach()[~mask])) == 0
    assert not torch.equal(weight, run["initial_weight"])  # the in-mask weights did train
    losses = run["losses"]
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])


def test_wiring_cost_shrinks_long_connections(hcp, trained):
    _, _, mask, distances = hcp
    d = distances[mask]
    long, short = d > d.quantile(0.75), d < d.quantile(0.25)
    summary = {}
    for strength, run in trained.items():
        w = run["layer"].weight.detach().abs()[mask]
        correlation = float(np.corrcoef(w.numpy(), d.numpy())[0, 1])
        summary[strength] = (correlation, float(w[long].mean() / w[short].mean()))
    (r_free, ratio_free), (r_wired, ratio_wired) = summary[0.0], summary[WIRING_STRENGTH]
    assert r_wired < r_free - 0.1, summary
    assert ratio_wired < 0.5 * ratio_free, summary
    # The cost itself went down, although the free network's grew.
    cost = DistanceWiringCost(distances)
    initial = float(cost(trained[0.0]["initial_weight"]))
    final = {strength: float(cost(run["layer"].weight.detach())) for strength, run in trained.items()}
    assert final[WIRING_STRENGTH] < 0.5 * initial < final[0.0], (initial, final)
