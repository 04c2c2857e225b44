"""Random weighted graphs for the tests of ccnn.graph (rows = targets, as in ccnn)."""

import numpy as np


def random_weights(n=30, p=0.2, seed=0, symmetric=False):
    """(n, n) weights in [0.1, 3) on a fraction ``p`` of the pairs, no self-connections."""
    rng = np.random.default_rng(seed)
    w = (rng.random((n, n)) < p) * rng.uniform(0.1, 3.0, (n, n))
    np.fill_diagonal(w, 0.0)
    if symmetric:
        w = np.triu(w, 1)
        w = w + w.T
    return w
