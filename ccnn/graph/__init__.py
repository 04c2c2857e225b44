"""Graph algorithms in plain torch: batched over graphs, on CPU or GPU.

This package is the home of graph algorithms used across ccnn. It depends only on torch
(and :mod:`ccnn._validation`), never on the models, data or training layers, so that any of
them can use it. Every function takes a dense adjacency in the ccnn orientation,
``adjacency[..., i, j]`` = the edge **from node j to node i** (rows are targets, as in
:attr:`torch.nn.Linear.weight`), accepts one graph ``(N, N)`` or a batch ``(B, N, N)`` and
returns tensors on the input's device.

Available:

* :func:`spectral_embedding` -- adjacency (ASE) and Laplacian (LSE) spectral embeddings,
  directed or undirected, returning a :class:`SpectralEmbedding` ``(source, target, values)``.
* :mod:`~ccnn.graph.metrics` -- :func:`degree`, :func:`strength`, :func:`density`,
  :func:`clustering` (weighted: Onnela; directed: Fagiolo).
* :mod:`~ccnn.graph.paths` -- :func:`shortest_paths` (weights → lengths by a stated rule),
  :func:`characteristic_path_length`, :func:`global_efficiency`, :func:`local_efficiency`.

* :func:`modularity` of a partition (Newman; Leicht & Newman for directed graphs).

More is to come here: betweenness, community detection, null models, communication and
control.
"""

from ccnn.graph.communities import modularity
from ccnn.graph.metrics import clustering, degree, density, strength
from ccnn.graph.paths import characteristic_path_length, global_efficiency, local_efficiency, shortest_paths
from ccnn.graph.spectral import SpectralEmbedding, spectral_embedding

__all__ = [
    "SpectralEmbedding",
    "characteristic_path_length",
    "clustering",
    "degree",
    "density",
    "global_efficiency",
    "local_efficiency",
    "modularity",
    "shortest_paths",
    "spectral_embedding",
    "strength",
]
