import itertools

import numpy as np
import pytest
import torch
from scipy.stats import linregress
from sklearn.metrics import r2_score
from sklearn.metrics.cluster import contingency_matrix

from ccnn.metrics import ConnectivityR2, RolloutR2, TypeAccuracy, horizon_below, r2_by_horizon


def test_connectivity_r2_and_slope_match_scipy_linregress():
    gen = torch.Generator().manual_seed(0)
    true = torch.randn(40, 40, generator=gen)
    learned = 2.5 * true + 0.3 * torch.randn(40, 40, generator=gen) + 0.1
    metric = ConnectivityR2()
    metric.update(learned[:15], true[:15])  # pooled over updates (as over DDP ranks)
    metric.update(learned[15:], true[15:])
    result = metric.compute()
    reference = linregress(true.flatten().numpy(), learned.flatten().numpy())
    assert result["slope"].item() == pytest.approx(reference.slope, rel=1e-9)
    assert result["r2"].item() == pytest.approx(reference.rvalue**2, rel=1e-9)


def test_connectivity_r2_is_one_for_a_rescaled_copy():
    true = torch.randn(10, 10)
    result = ConnectivityR2()(-0.5 * true, true)
    assert result["r2"].item() == pytest.approx(1.0) and result["slope"].item() == pytest.approx(-0.5)


def brute_force_majority_accuracy(clusters, types):
    correct = 0
    for c in set(clusters):
        members = [t for k, t in zip(clusters, types, strict=True) if k == c]
        correct += max(members.count(t) for t in set(members))
    return correct / len(types)


def test_type_accuracy_matches_brute_force_and_contingency_matrix():
    rng = np.random.default_rng(0)
    types = rng.integers(0, 4, 200)
    clusters = np.where(rng.random(200) < 0.8, (types + 1) % 4, rng.integers(0, 5, 200))  # relabelled + noise
    metric = TypeAccuracy(num_clusters=5, num_types=4)
    metric.update(torch.tensor(clusters[:120]), torch.tensor(types[:120]))
    metric.update(torch.tensor(clusters[120:]), torch.tensor(types[120:]))
    value = metric.compute().item()
    assert value == pytest.approx(brute_force_majority_accuracy(list(clusters), list(types)))
    assert value == pytest.approx(contingency_matrix(types, clusters).max(0).sum() / 200)


def test_type_accuracy_of_a_permuted_labelling_is_one():
    types = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for perm in itertools.permutations(range(4)):
        assert TypeAccuracy(4, 4)(torch.tensor(perm)[types], types).item() == 1.0


def test_r2_by_horizon_matches_sklearn_per_step():
    gen = torch.Generator().manual_seed(1)
    true = torch.randn(50, 30, generator=gen, dtype=torch.float64)
    predicted = true + torch.linspace(0, 2, 50, dtype=torch.float64)[:, None] * torch.randn(
        50, 30, generator=gen, dtype=torch.float64
    )
    curve = r2_by_horizon(predicted, true)
    for t in (0, 10, 49):
        assert curve[t].item() == pytest.approx(r2_score(true[t].numpy(), predicted[t].numpy()))
    assert curve[0] == 1.0
    first = horizon_below(curve, 0.9)
    assert curve[:first].min() >= 0.9 and curve[first] < 0.9
    assert horizon_below(torch.ones(5)) is None


def test_rollout_r2_pools_rollouts_at_the_horizons():
    gen = torch.Generator().manual_seed(2)
    true = [torch.randn(11, 20, generator=gen, dtype=torch.float64) for _ in range(2)]
    predicted = [t + 0.3 * torch.randn(11, 20, generator=gen, dtype=torch.float64) for t in true]
    metric = RolloutR2(horizons=(4, 10))
    for p, t in zip(predicted, true, strict=True):
        metric.update(p, t)
    values = metric.compute()
    for k, step in enumerate((4, 10)):
        pooled_true = torch.cat([t[step] for t in true]).numpy()
        pooled_pred = torch.cat([p[step] for p in predicted]).numpy()
        assert values[k].item() == pytest.approx(r2_score(pooled_true, pooled_pred))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ConnectivityR2()(torch.ones(3, 3), torch.ones(2, 2)), "learned: expected the shape"),
        (
            lambda: TypeAccuracy(2, 2)(torch.tensor([0, 3]), torch.tensor([0, 1])),
            r"clusters: expected labels in \[0, 1\]",
        ),
        (lambda: RolloutR2((400,))(torch.ones(10, 3), torch.ones(10, 3)), "at least 401 steps"),
        (lambda: r2_by_horizon(torch.ones(3), torch.ones(3)), "predicted: expected"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


DDP_SCRIPT = r"""
import os, sys, torch, torch.distributed as dist
from ccnn.metrics import ConnectivityR2, RolloutR2, TypeAccuracy
rank, out = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", rank=rank, world_size=2)
gen = torch.Generator().manual_seed(0)
true_w = torch.randn(2, 30, 30, generator=gen, dtype=torch.float64)
learned_w = 1.7 * true_w + 0.4 * torch.randn(2, 30, 30, generator=gen, dtype=torch.float64)
types = torch.randint(0, 3, (2, 50), generator=gen)
noise = torch.randint(0, 4, (2, 50), generator=gen)
clusters = torch.where(torch.rand(2, 50, generator=gen) < 0.7, types, noise)
true_x = torch.randn(2, 9, 20, generator=gen, dtype=torch.float64)
pred_x = true_x + 0.5 * torch.randn(2, 9, 20, generator=gen, dtype=torch.float64)
metrics = [ConnectivityR2(), TypeAccuracy(4, 3), RolloutR2((3, 8))]
metrics[0].update(learned_w[rank], true_w[rank])
metrics[1].update(clusters[rank], types[rank])
metrics[2].update(pred_x[rank], true_x[rank])
values = [m.compute() for m in metrics]
torch.save({"r2": values[0]["r2"], "slope": values[0]["slope"], "acc": values[1], "rollout": values[2]},
           f"{out}.{rank}")
if rank == 0:  # one process, all the data (no sync: a local reference)
    single = [ConnectivityR2(sync_on_compute=False), TypeAccuracy(4, 3, sync_on_compute=False),
              RolloutR2((3, 8), sync_on_compute=False)]
    for r in range(2):
        single[0].update(learned_w[r], true_w[r]); single[1].update(clusters[r], types[r])
        single[2].update(pred_x[r], true_x[r])
    values = [m.compute() for m in single]
    torch.save({"r2": values[0]["r2"], "slope": values[0]["slope"], "acc": values[1], "rollout": values[2]},
               f"{out}.single")
dist.barrier()  # both ranks are done; skip gloo's C++ teardown, which can abort at exit
os._exit(0)
"""


def test_metrics_under_ddp_equal_the_single_process_values(tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(29800 + os.getpid() % 500)}
    out = tmp_path / "values"
    procs = [subprocess.Popen([sys.executable, str(script), str(r), str(out)], env=env) for r in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    single = torch.load(f"{out}.single")
    for rank in range(2):
        values = torch.load(f"{out}.{rank}")
        for key in single:
            torch.testing.assert_close(values[key], single[key])
