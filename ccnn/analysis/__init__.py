"""Analysis of learned dynamics: closed-form regression, neuron types, symbolic forms, plots."""

__all__ = [
    "BrainAgeBiasCorrection",
    "brain_age_gap",
    "brain_age_report",
    "plot_connectome",
    "plot_sc_to_fc",
]

_BRAIN_AGE = ("BrainAgeBiasCorrection", "brain_age_gap", "brain_age_report")


def __getattr__(name: str):
    # Lazy: the plotting modules need matplotlib, and nilearn when drawing a glass brain.
    if name == "plot_connectome":
        from ccnn.analysis.connectome_plots import plot_connectome

        return plot_connectome
    if name == "plot_sc_to_fc":
        from ccnn.analysis.structure_function import plot_sc_to_fc

        return plot_sc_to_fc
    if name in _BRAIN_AGE:
        from ccnn.analysis import brain_age

        return getattr(brain_age, name)
    raise AttributeError(f"module 'ccnn.analysis' has no attribute {name!r}")
