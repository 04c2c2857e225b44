"""Analysis of learned dynamics: closed-form regression, neuron types, symbolic forms, plots."""
