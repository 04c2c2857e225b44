"""The dynamics GNN's figures: labelled axes, shared colour limits, the R² panel on 0.9–1.0."""

import torch

from ccnn.analysis import dynamics_plots as plots


def labelled(fig):
    """Every axis that shows data (not a colour bar) has both labels."""
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or not ax.axison:
            continue
        assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


def test_connectivity_shows_true_and_learned_on_one_colour_scale():
    gen = torch.Generator().manual_seed(0)
    true = torch.randn(30, 30, generator=gen)
    learned = 2 * true  # a different range: the limits must still be shared
    fig = plots.plot_connectivity(learned, true)
    labelled(fig)
    images = [image for ax in fig.axes for image in ax.get_images()]
    assert len(images) == 2
    assert images[0].get_clim() == images[1].get_clim()
    assert "normalised" in fig.get_suptitle()
    alone = plots.plot_connectivity(learned)  # no truth: the matrix and a histogram
    labelled(alone)


def test_functions_have_a_zoomed_phi_panel_and_a_type_legend():
    grid = torch.linspace(-20, 20, 201)
    phi = torch.stack([-grid + torch.tanh(grid), -2 * grid + torch.tanh(grid)])
    fig = plots.plot_functions(grid, phi, torch.tensor([0, 1]), torch.tanh(grid))
    labelled(fig)
    full, zoom, _ = (ax for ax in fig.axes if ax.get_label() != "<colorbar>")
    assert zoom.get_xlim()[1] < 4 < full.get_xlim()[1]
    assert [t.get_text() for t in full.get_legend().get_texts()] == ["recovered type 0", "recovered type 1"]


def test_rollout_r2_is_shown_on_0_9_to_1_and_the_drop_is_marked():
    r2 = torch.cat([torch.ones(50), torch.linspace(1, 0.5, 50)])
    truth = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    fig = plots.plot_rollout(truth, truth, r2)
    labelled(fig)
    panel = fig.axes[1]
    low, high = panel.get_ylim()
    assert 0.85 < low < 0.9 and high >= 1.0
    first = int((r2 < 0.9).nonzero()[0])
    assert any(f"step {first}" in t.get_text() for t in panel.get_legend().get_texts())
