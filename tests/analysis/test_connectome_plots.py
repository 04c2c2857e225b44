import os
import subprocess
import sys
import warnings

import matplotlib
import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from ccnn.analysis.connectome_plots import (
    ADJACENCY_LABEL,
    BOUNDARY_LABEL,
    GLASS_BRAIN_LABEL,
    plot_adjacency,
    plot_connectome,
    plot_glass_brain,
)
from ccnn.data.connectomes.connectome import Connectome

BLOCKS = np.array([2, 0, 1, 2, 0, 1, 1, 2, 0, 2])  # shuffled, with ties: the sort must be stable
NAMES = ["visual", "motor", "frontal"]


def block_connectome(coords_dim=3, seed=0, meta=True):
    rng = np.random.default_rng(seed)
    n = len(BLOCKS)
    weights = rng.lognormal(size=(n, n)) * (rng.random((n, n)) < 0.6)
    weights[rng.random((n, n)) < 0.2] *= -1  # |w| is what is drawn
    coords = None if coords_dim is None else rng.uniform(-60, 60, size=(n, coords_dim))
    return Connectome(
        weights,
        coords=coords,
        node_attrs={"block": BLOCKS, "hemisphere": np.arange(n) % 2},
        meta={"block_names": NAMES} if meta else None,
    )


def panel(fig, label):
    (ax,) = [ax for ax in fig.axes if ax.get_label() == label]
    return ax


def boundaries(ax):
    lines = [line for line in ax.get_lines() if line.get_label() == BOUNDARY_LABEL]
    vertical = sorted(line.get_xdata()[0] for line in lines if line.get_xdata()[0] == line.get_xdata()[1])
    horizontal = sorted(line.get_ydata()[0] for line in lines if line.get_ydata()[0] == line.get_ydata()[1])
    return vertical, horizontal


def test_heat_map_is_log_weights_in_stable_block_order_with_block_lines_and_names():
    conn = block_connectome()
    fig = plot_adjacency(conn)
    ax = panel(fig, ADJACENCY_LABEL)
    (image,) = [artist for artist in ax.get_images() if isinstance(artist, AxesImage)]

    order = np.argsort(BLOCKS, kind="stable")
    expected = np.log10(1 + np.abs(conn.weights.double().numpy()))[np.ix_(order, order)]
    np.testing.assert_allclose(np.asarray(image.get_array()), expected, rtol=1e-12)
    assert not np.array_equal(order, np.arange(len(BLOCKS)))  # the reordering is really exercised

    vertical, horizontal = boundaries(ax)
    n_blocks = len(np.unique(BLOCKS))
    assert len(vertical) == len(horizontal) == n_blocks - 1
    np.testing.assert_array_equal(vertical, [2.5, 5.5])  # 3 nodes in block 0, 3 in block 1, 4 in block 2
    np.testing.assert_array_equal(horizontal, [2.5, 5.5])
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("source region", "target region")


def test_order_by_hemisphere_none_and_linear_colour():
    conn = block_connectome(meta=False)
    hemisphere = np.arange(len(BLOCKS)) % 2
    ax = panel(plot_adjacency(conn, order_by="hemisphere", log=False), ADJACENCY_LABEL)
    order = np.argsort(hemisphere, kind="stable")
    np.testing.assert_allclose(
        ax.get_images()[0].get_array(), conn.weights.double().numpy()[np.ix_(order, order)]
    )
    assert len(boundaries(ax)[0]) == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hemisphere 0", "hemisphere 1"]

    ax = panel(plot_adjacency(conn, order_by=None), ADJACENCY_LABEL)
    expected = np.log10(1 + np.abs(conn.weights.double().numpy()))
    np.testing.assert_allclose(ax.get_images()[0].get_array(), expected)
    assert boundaries(ax) == ([], [])


def test_auto_order_falls_back_to_hemisphere_then_stored_order():
    w = np.arange(16.0).reshape(4, 4)
    hemi = Connectome(w, node_attrs={"hemisphere": [1, 0, 1, 0]})
    ax = panel(plot_adjacency(hemi, log=False), ADJACENCY_LABEL)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), w[np.ix_([1, 3, 0, 2], [1, 3, 0, 2])])
    ax = panel(plot_adjacency(Connectome(w), log=False), ADJACENCY_LABEL)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), w)


def test_order_by_missing_attribute_lists_available_ones():
    with pytest.raises(ValueError, match=r"order_by.*\['block', 'hemisphere'\].*'module'"):
        plot_adjacency(block_connectome(), order_by="module")
    with pytest.raises(ValueError, match=r"order_by.*\[\].*'block'"):
        plot_connectome(Connectome(np.eye(3)), order_by="block")


def test_block_names_that_do_not_cover_the_blocks_are_rejected():
    conn = Connectome(np.eye(3), node_attrs={"block": [0, 1, 2]}, meta={"block_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"meta\['block_names'\].*0 to 1.*\[0, 1, 2\]"):
        plot_adjacency(conn)


def test_plot_connectome_with_3d_coords_has_both_panels_and_saves_a_png(tmp_path):
    path = tmp_path / "figures" / "connectome.png"
    conn = block_connectome()
    fig = plot_connectome(conn, path=path, title="synthetic")
    assert isinstance(fig, Figure)
    assert sorted(ax.get_label() for ax in fig.axes if ax.get_label()) == [ADJACENCY_LABEL, GLASS_BRAIN_LABEL]

    # nilearn draws the three views inside the glass-brain panel: each holds the N nodes.
    brain = panel(fig, GLASS_BRAIN_LABEL).get_position()
    views = [
        ax
        for ax in fig.axes
        if any(
            isinstance(c, PathCollection) and len(c.get_offsets()) == conn.num_nodes for c in ax.collections
        )
    ]
    assert len(views) == 3
    assert all(brain.contains(*ax.get_position().get_points().mean(0)) for ax in views)
    assert panel(fig, ADJACENCY_LABEL).get_position().x0 > brain.x1  # side by side

    assert path.stat().st_size > 0
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 2 * pixels.shape[0]  # wide: two panels
    assert pixels[..., :3].std() > 0.05  # not blank
    assert sorted(p.name for p in path.parent.iterdir()) == ["connectome.png"]  # no temp file left


@pytest.mark.parametrize("coords_dim", [None, 2])
def test_plot_connectome_without_3d_coords_has_only_the_adjacency(tmp_path, coords_dim):
    path = tmp_path / "adjacency.png"
    fig = plot_connectome(block_connectome(coords_dim=coords_dim), path=path)
    assert [ax.get_label() for ax in fig.axes] == [ADJACENCY_LABEL]
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["adjacency.png"]


@pytest.mark.parametrize("coords_dim", [None, 2])
def test_glass_brain_needs_3d_coords(coords_dim):
    with pytest.raises(ValueError, match=r"connectome\.coords.*\(N, 3\)"):
        plot_glass_brain(block_connectome(coords_dim=coords_dim))


def test_glass_brain_threshold_keeps_the_strongest_pairs():
    conn = block_connectome()
    fig = plot_glass_brain(conn, edge_threshold="90%")
    strength = (np.abs(conn.weights.double().numpy()) + np.abs(conn.weights.double().numpy().T)) / 2
    pairs = strength[np.tril_indices(len(BLOCKS), k=-1)]
    expected = int((pairs >= np.percentile(pairs, 90)).sum())
    assert panel(fig, GLASS_BRAIN_LABEL).get_title().startswith(f"glass brain: {expected} edges")
    plot_glass_brain(conn, edge_threshold=1e9)  # no edge left: still draws the nodes


@pytest.mark.parametrize("n", [3, 6, 40])
def test_glass_brain_draws_few_edges_and_close_strengths_without_warnings(n):
    rng = np.random.default_rng(n)
    weights = 0.78 + 0.001 * rng.random((n, n))  # all strengths round to 0.78
    conn = Connectome(
        weights, coords=rng.uniform(-50, 50, (n, 3)), node_attrs={"hemisphere": np.arange(n) % 2}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_glass_brain(conn)
    assert panel(fig, GLASS_BRAIN_LABEL).get_title().startswith("glass brain: ")


@pytest.mark.parametrize("bad", ["99", "101%", "x%", -1.0, float("nan")])
def test_bad_edge_threshold_is_rejected(bad):
    with pytest.raises(ValueError, match="edge_threshold"):
        plot_glass_brain(block_connectome(), edge_threshold=bad)


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="connectome"):
        plot_connectome(np.eye(3))
    with pytest.raises(ValueError, match=r"path.*\.png.*out\.pdf"):
        plot_connectome(block_connectome(), path=tmp_path / "out.pdf")
    assert list(tmp_path.iterdir()) == []


def test_drawing_into_given_axes_returns_their_figure():
    fig = Figure(figsize=(12, 4))
    left, right = fig.add_axes((0.0, 0.1, 0.6, 0.8)), fig.add_axes((0.68, 0.1, 0.25, 0.8))
    assert plot_glass_brain(block_connectome(), ax=left, title="brain") is fig
    assert plot_adjacency(block_connectome(), ax=right, title="W") is fig
    assert (left.get_title(), right.get_title()) == ("brain", "W")


@pytest.mark.slow  # a fresh interpreter imports torch and lightning: ~10-20 s
def test_plotting_leaves_pyplot_and_the_backend_alone():
    # In a fresh interpreter with a backend chosen up front, as in a notebook: importing the
    # module and drawing an adjacency matrix do not import nilearn's plotting (which calls
    # matplotlib.use); drawing a glass brain with it opens no pyplot figure and keeps the backend.
    code = """
import sys
import matplotlib
assert matplotlib.get_backend() == "pdf"
import numpy as np
from ccnn.analysis.connectome_plots import plot_connectome
from ccnn.data.connectomes.connectome import Connectome
rng = np.random.default_rng(0)
plot_connectome(Connectome(rng.random((6, 6)), node_attrs={"block": [0, 0, 1, 1, 2, 2]}))
assert "nilearn.plotting" not in sys.modules
plot_connectome(Connectome(rng.random((6, 6)), coords=rng.uniform(-50, 50, (6, 3))))
import matplotlib.pyplot as plt
assert plt.get_fignums() == [], plt.get_fignums()
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
print("ok")
"""
    env = {**os.environ, "MPLBACKEND": "pdf"}  # a switch to another backend would show
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_plotting_in_process_opens_no_pyplot_figure():
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    plot_connectome(block_connectome())
    plot_glass_brain(block_connectome())
    assert plt.get_fignums() == before
    assert matplotlib.get_backend() == backend
