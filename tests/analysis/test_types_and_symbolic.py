import pytest
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics import adjusted_rand_score

from ccnn.analysis.neuron_types import cluster_medians, cluster_profiles
from ccnn.analysis.symbolic import symbolic_regression

F64 = torch.float64


def type_profiles(noise=1e-6, seed=0):
    """φ = -c x + s tanh x over a wide range: types differing in s differ by ~2 % of φ's size."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.linspace(-40, 40, 100, dtype=F64)
    params = torch.tensor([[1, 1], [2, 1], [1, 2], [2, 2]], dtype=F64)
    types = torch.arange(4).repeat_interleave(25)
    s, c = params[types].unbind(1)
    profiles = -c[:, None] * grid + s[:, None] * torch.tanh(grid)
    return profiles + noise * torch.randn(profiles.shape, generator=g, dtype=F64), types


def test_gap_cut_recovers_types_that_a_fixed_threshold_merges():
    profiles, types = type_profiles()
    labels = cluster_profiles(profiles)
    assert adjusted_rand_score(types, labels) == 1.0
    assert cluster_profiles(profiles, threshold=0.1).unique().numel() < 4  # the paper's fixed cut merges s


def test_fixed_threshold_matches_scipy():
    profiles, _ = type_profiles(noise=0.3)
    normalised = profiles / profiles.pow(2).mean().sqrt() / profiles.shape[1] ** 0.5
    reference = fcluster(linkage(normalised.numpy(), method="average"), t=0.05, criterion="distance")
    assert adjusted_rand_score(reference, cluster_profiles(profiles, threshold=0.05)) == 1.0


def test_one_type_stays_one_cluster_and_labels_are_ordered():
    profiles, _ = type_profiles()
    assert cluster_profiles(profiles[:25]).unique().tolist() == [0]
    labels = cluster_profiles(profiles.flip(0))
    assert labels[0] == 0 and labels.max() == 3
    with pytest.raises(ValueError, match="threshold"):
        cluster_profiles(profiles, threshold=-1.0)


def test_cluster_medians_snaps_rows():
    values = torch.tensor([[0.0], [1.0], [5.0], [10.0], [11.0], [12.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    assert cluster_medians(values, labels).squeeze(1).tolist() == [1.0, 1.0, 1.0, 11.0, 11.0, 11.0]


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (lambda x: -x + torch.tanh(x), {"x": -1.0, "tanh(x)": 1.0}),
        (lambda x: -2 * x + 3 * torch.tanh(x / 2), {"x": -2.0, "tanh(x/2)": 3.0}),
        (lambda x: torch.tanh(x / 8), {"tanh(x/8)": 1.0}),
        (lambda x: 0.5 + torch.sin(x), {"1": 0.5, "sin(x)": 1.0}),
    ],
)
def test_symbolic_regression_finds_the_sparse_formula(function, expected):
    x = torch.linspace(-10, 10, 300, dtype=F64)
    fit = symbolic_regression(x, function(x))
    assert fit.coefficients == pytest.approx(expected)
    assert fit.r2 > 1 - 1e-9


def test_symbolic_regression_reports_the_best_fit_when_nothing_is_exact():
    x = torch.linspace(-3, 3, 200, dtype=F64)
    fit = symbolic_regression(x, torch.exp(x), max_terms=2)
    assert len(fit.coefficients) == 1  # a second term does not divide the residual by 100
    greedy = symbolic_regression(x, torch.exp(x), max_terms=2, min_gain=1.0)
    assert len(greedy.coefficients) == 2
    assert fit.r2 < greedy.r2 < 1 - 1e-4
    with pytest.raises(ValueError, match="backend"):
        symbolic_regression(x, x, backend="nope")
