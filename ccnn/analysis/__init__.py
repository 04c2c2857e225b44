"""Analysis of learned dynamics: closed-form regression, neuron types, symbolic forms, plots."""

__all__ = ["plot_connectome"]


def __getattr__(name: str):
    # Lazy: the plotting module needs matplotlib, and nilearn when drawing a glass brain.
    if name == "plot_connectome":
        from ccnn.analysis.connectome_plots import plot_connectome

        return plot_connectome
    raise AttributeError(f"module 'ccnn.analysis' has no attribute {name!r}")
