"""The structure → function figure: FC matrices, regional coupling panels, distributions (issue 19)."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from ccnn.analysis.structure_function import (
    COUPLING_PREFIX,
    DISTRIBUTION_LABEL,
    MATRIX_PREFIX,
    plot_sc_to_fc,
)
from ccnn.models.structure_function import fc_similarity

N = 8


def fc_and_predictions(seed=0):
    rng = np.random.default_rng(seed)
    empirical = np.corrcoef(rng.standard_normal((N, 40)))
    noise = rng.standard_normal((N, N))
    close = empirical + 0.05 * (noise + noise.T)
    far = 5 * np.abs(noise + noise.T)  # mostly outside the empirical range: drawn rescaled
    return empirical, {"close": close, "far": far}


def axes_by_label(fig):
    return {ax.get_label(): ax for ax in fig.axes}


def test_matrices_coupling_bars_and_distributions_are_drawn_and_saved(tmp_path):
    empirical, predictions = fc_and_predictions()
    path = tmp_path / "figs" / "sc_to_fc.png"
    fig = plot_sc_to_fc(empirical, predictions, labels=[f"region {i}" for i in range(N)], path=path)
    assert isinstance(fig, Figure)
    axes = axes_by_label(fig)
    for name in ("empirical", "close", "far"):
        ax = axes[MATRIX_PREFIX + name]
        assert any(isinstance(child, AxesImage) for child in ax.get_children())
        assert ax.get_xlabel() == ax.get_ylabel() == "region"
    title = axes[MATRIX_PREFIX + "close"].get_title()
    assert f"group r = {fc_similarity(predictions['close'], empirical):.3f}" in title
    assert "clipped to [" in axes[MATRIX_PREFIX + "close"].get_title()  # a few off the range
    assert "off FC scale: drawn rescaled" in axes[MATRIX_PREFIX + "far"].get_title()
    drawn = axes[MATRIX_PREFIX + "far"].get_images()[0].get_array()
    off = ~np.eye(N, dtype=bool)
    assert np.asarray(drawn)[off].mean() == pytest.approx(empirical[off].mean())
    for name in ("close", "far"):
        ax = axes[COUPLING_PREFIX + name]
        assert len(ax.patches) == N  # one bar per region
        assert ax.get_ylabel() == "regional coupling r" and "highest region" in ax.get_title()
    distributions = axes[DISTRIBUTION_LABEL]
    assert distributions.get_ylabel() == "regional coupling r"
    assert [t.get_text() for t in distributions.get_xticklabels()] == ["close", "far"]
    colour_bar_labels = {ax.get_ylabel() for ax in fig.axes}
    assert {"Pearson r (FC)", "regional coupling r"} <= colour_bar_labels
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(path.parent.glob(".*.tmp"))  # written atomically


def test_region_coordinates_give_a_glass_brain_per_model():
    empirical, predictions = fc_and_predictions(seed=1)
    coords = np.random.default_rng(1).uniform(-60, 60, (N, 3))
    fig = plot_sc_to_fc(empirical, {"close": predictions["close"]}, coords=coords)
    axes = axes_by_label(fig)
    brain = axes[COUPLING_PREFIX + "close"]
    assert not brain.patches  # no bars: nilearn drew its views over this axes
    assert len(fig.axes) > 5  # + nilearn's view axes
    assert "regional coupling r, mean" in brain.get_title()
    assert "regional coupling r" in {ax.get_ylabel() for ax in fig.axes}  # its colour bar


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"predictions": {}}, TypeError, "non-empty dict"),
        ({"predictions": {"m": np.eye(4)}}, ValueError, r"expected shape \(8, 8\)"),
        ({"coords": np.zeros((N, 2))}, ValueError, r"coords: expected \(8, 3\)"),
        ({"labels": ["a"]}, ValueError, "labels: expected 8 region names"),
        ({"path": "figure.pdf"}, ValueError, "ending in .png"),
    ],
)
def test_bad_inputs_are_refused_before_drawing(kwargs, error, match):
    empirical, predictions = fc_and_predictions()
    with pytest.raises(error, match=match):
        plot_sc_to_fc(empirical, **{"predictions": predictions, **kwargs})
