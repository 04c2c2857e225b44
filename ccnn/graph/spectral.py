r"""Spectral embeddings of (directed, weighted) graphs: ASE and LSE.

Orientation
-----------
As everywhere in ccnn, ``adjacency[i, j]`` is the weight of the edge **from node j to node i**
(rows are targets / postsynaptic units, as in :attr:`torch.nn.Linear.weight`). The
random-dot-product-graph literature and graspologic use the transpose, with rows as sources.
Here we write

.. math::

    M = A^\top, \qquad M_{ji} = A_{ij} = \text{weight of the edge } j \to i,

so that the formulas below read as in that literature.

Adjacency spectral embedding (ASE)
----------------------------------
Sussman et al. (2012): take the ``dim`` largest singular triplets of :math:`M`,
:math:`M \approx U_d \Sigma_d V_d^\top`, and set

.. math::

    X = U_d \Sigma_d^{1/2} \;(\text{source, out-embedding}), \qquad
    Y = V_d \Sigma_d^{1/2} \;(\text{target, in-embedding}).

Then :math:`X Y^\top = U_d \Sigma_d V_d^\top` is the best rank-``dim`` approximation of
:math:`M` (Eckart--Young), and the score of an edge :math:`j \to i` is

.. math::

    \operatorname{score}(j \to i) = X_j \cdot Y_i \approx M_{ji} = A_{ij}.

In a random dot product graph, :math:`P(j \to i) = x_j \cdot y_i`, and :math:`X, Y` estimate
the latent positions consistently up to an orthogonal transformation (Athreya et al. 2018).
Concatenating ``[source, target]`` gives graspologic's ``concat=True`` output for directed
graphs (``latent_left_`` and ``latent_right_`` side by side).

Laplacian spectral embedding (LSE)
----------------------------------
Rohe, Chatterjee & Yu (2011), for directed graphs Rohe, Qin & Yu (2016): embed instead the
degree-normalised matrix

.. math::

    L = D_\text{out}^{-1/2} \, M \, D_\text{in}^{-1/2}, \qquad
    L_{ji} = \frac{M_{ji}}{\sqrt{(d^\text{out}_j + \tau)(d^\text{in}_i + \tau)}},

with out-strength :math:`d^\text{out}_j = \sum_i |M_{ji}|` (a column sum of :math:`|A|`),
in-strength :math:`d^\text{in}_i = \sum_j |M_{ji}|` (a row sum of :math:`|A|`) and
:math:`1/\sqrt{0} := 0`, so a node without edges gets the zero vector rather than NaN. With
:math:`\tau = 0` this is graspologic's ``DAD`` form; with :math:`\tau > 0` its regularised
``R-DAD`` form (Qin & Rohe 2013), whose default :math:`\tau` is the mean degree. (graspologic
sums signed weights; the absolute values here agree with it for non-negative graphs and keep
the square roots real for signed connectomes.) Scores then approximate :math:`L`, not
:math:`M`.

Undirected graphs
-----------------
With ``directed=False`` the graph is first symmetrised, :math:`S = (A + A^\top) / 2`, and
eigen-decomposed, :math:`S = Q \Lambda Q^\top`, keeping the ``dim`` eigenvalues of largest
:math:`|\lambda|`:

.. math::

    X = Q_d |\Lambda_d|^{1/2}, \qquad Y = X \operatorname{sign}(\Lambda_d), \qquad
    X Y^\top = Q_d \Lambda_d Q_d^\top.

``source`` is graspologic's undirected ASE (:math:`U_d \Sigma_d^{1/2}` of the SVD of
:math:`S`, whose singular values are :math:`|\lambda|`) up to column signs. ``target``
equals ``source`` except that the columns of negative eigenvalues (disassortative
structure) change sign, so that ``source[j] · target[i]`` keeps the sign of :math:`\lambda`
and still approximates :math:`S_{ij}`; when every kept eigenvalue is positive,
``source == target``.

References
----------
* D. L. Sussman, M. Tang, D. E. Fishkind, C. E. Priebe (2012). A consistent adjacency
  spectral embedding for stochastic blockmodel graphs. *JASA* 107(499), 1119--1128.
* K. Rohe, S. Chatterjee, B. Yu (2011). Spectral clustering and the high-dimensional
  stochastic blockmodel. *Annals of Statistics* 39(4), 1878--1915.
* T. Qin, K. Rohe (2013). Regularized spectral clustering under the degree-corrected
  stochastic blockmodel. *NeurIPS* 26.
* K. Rohe, T. Qin, B. Yu (2016). Co-clustering directed graphs to discover asymmetries and
  directional communities. *PNAS* 113(45), 12679--12684.
* A. Athreya et al. (2018). Statistical inference on random dot product graphs: a survey.
  *JMLR* 18(226), 1--92.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import check_int, check_real, describe
from ccnn.graph._adjacency import check_adjacency

__all__ = ["SpectralEmbedding", "spectral_embedding"]

ArrayLike = Tensor | np.ndarray | Sequence[Any]

#: Above this many nodes, ``method="auto"`` uses the randomized solver (unless ``dim`` is large).
FULL_SOLVER_MAX_NODES = 2000

#: Extra columns and subspace iterations of the randomized solver (Halko et al. 2011).
_OVERSAMPLES = 10
_POWER_ITERATIONS = 12
#: Fixed seed of the randomized solver's test matrix, drawn on the CPU so that every device
#: starts from the same numbers.
_SEED = 0


class SpectralEmbedding(NamedTuple):
    r"""Result of :func:`spectral_embedding`.

    Attributes:
        source: ``(N, dim)`` or ``(B, N, dim)`` out-embedding :math:`X = U_d \Sigma_d^{1/2}`;
            row ``j`` describes node ``j`` as the sender of edges.
        target: same shape, in-embedding :math:`Y = V_d \Sigma_d^{1/2}`; row ``i`` describes
            node ``i`` as the receiver of edges.
        values: ``(dim,)`` or ``(B, dim)`` singular values :math:`\sigma_1 \ge \dots \ge
            \sigma_d \ge 0` of the embedded matrix (for ``directed=False``: :math:`|\lambda|`).

    The score of the edge ``j → i`` is ``source[j] · target[i]``.
    """

    source: Tensor
    target: Tensor
    values: Tensor

    def scores(self) -> Tensor:
        """All edge scores in ccnn orientation, ``(N, N)`` or ``(B, N, N)``.

        ``scores()[..., i, j] = source[j] · target[i]`` scores the edge ``j → i``; it is the
        best rank-``dim`` approximation of the embedded matrix (the adjacency, or the
        normalised matrix of ``laplacian=True``) in the orientation of ``adjacency``.
        """
        return self.target @ self.source.transpose(-1, -2)

    def concat(self) -> Tensor:
        """``[source, target]`` side by side, ``(..., N, 2 dim)`` (graspologic's ``concat=True``)."""
        return torch.cat([self.source, self.target], dim=-1)


def spectral_embedding(
    adjacency: ArrayLike,
    dim: int,
    *,
    directed: bool = True,
    laplacian: bool = False,
    regularizer: float | Literal["mean"] | None = None,
    method: Literal["auto", "full", "randomized"] = "auto",
) -> SpectralEmbedding:
    r"""Adjacency (ASE) or Laplacian (LSE) spectral embedding of one graph or a batch.

    See the module docstring (:mod:`ccnn.graph.spectral`) for the definitions. In short, with
    ``adjacency[i, j]`` the edge ``j → i`` and :math:`M = A^\top \approx U_d \Sigma_d V_d^\top`
    (the ``dim`` largest singular values), ``source = U_d Σ_d^{1/2}`` and
    ``target = V_d Σ_d^{1/2}``, so that ``source[j] · target[i] ≈ adjacency[i, j]``.

    Args:
        adjacency: ``(N, N)`` or ``(B, N, N)`` weighted adjacency, ``adjacency[..., i, j]``
            the edge ``j → i``; a tensor, NumPy array or nested list. The diagonal (self
            loops) is used as given.
        dim: embedding dimension, ``1 <= dim <= N``.
        directed: ``True`` embeds the out- and in-roles of each node separately (SVD of
            :math:`M`). ``False`` embeds the symmetrised graph :math:`(A + A^\top)/2` by its
            eigenvalues of largest magnitude; then ``target`` equals ``source`` up to the sign
            of the columns of negative eigenvalues.
        laplacian: embed :math:`D_\text{out}^{-1/2} M D_\text{in}^{-1/2}` (graspologic's
            ``DAD``, or ``R-DAD`` with ``regularizer``) instead of :math:`M`. Degrees are
            sums of absolute weights; nodes of zero degree embed to zero.
        regularizer: only with ``laplacian=True``: :math:`\tau \ge 0` added to every in- and
            out-degree (``R-DAD``), or ``"mean"`` for the mean degree of each graph
            (total absolute weight / N, graspologic's default). ``None`` (default) is
            :math:`\tau = 0` (``DAD``).
        method: ``"full"`` uses :func:`torch.linalg.svd` (or :func:`torch.linalg.eigh` when
            undirected); ``"randomized"`` a seeded randomized subspace iteration (Halko,
            Martinsson & Tropp 2011) with ``dim + max(10, dim)`` columns and 12 power
            iterations: much faster for large ``N`` and small ``dim``, accurate when the
            ``dim``-th singular value stands clear of the next ones (planted structure above
            noise), approximate when the spectrum is flat there; ``"auto"`` picks ``"full"``
            for ``N <= 2000`` or ``dim > N / 4``, else ``"randomized"``.

    Returns:
        :class:`SpectralEmbedding` ``(source, target, values)``: ``source`` and ``target``
        of shape ``(N, dim)`` (``(B, N, dim)`` for batched input), ``values`` of shape
        ``(dim,)`` (``(B, dim)``), on the device of ``adjacency``. Floating inputs keep their
        dtype (float16/bfloat16 are computed in float32); integer and bool inputs give
        float32. Each column's sign is fixed so that the entry of largest magnitude of
        ``source`` is positive, which makes results reproducible across runs and devices.

    Raises:
        TypeError: ``adjacency`` is not a tensor/array (or is complex), or a flag is not a bool.
        ValueError: ``adjacency`` is not ``(N, N)`` / ``(B, N, N)``, has ``N = 0`` or
            non-finite entries; ``dim`` is not an int in ``[1, N]``; ``regularizer`` is
            negative or given without ``laplacian=True``; ``method`` is unknown.

    Example:
        Nodes 0-2 project onto nodes 3-5 (``adjacency[i, j] = 1`` for ``j < 3 <= i``),
        a rank-1 graph that a 1-dimensional embedding reproduces exactly:

        >>> import torch
        >>> from ccnn.graph import spectral_embedding
        >>> a = torch.zeros(6, 6)
        >>> a[3:, :3] = 1.0
        >>> emb = spectral_embedding(a, 1)
        >>> tuple(emb.source.shape), tuple(emb.target.shape), tuple(emb.values.shape)
        ((6, 1), (6, 1), (1,))
        >>> torch.allclose(emb.scores(), a, atol=1e-5)
        True
        >>> round(float(emb.source[0] @ emb.target[4]), 4)  # edge 0 → 4 exists
        1.0
        >>> abs(round(float(emb.source[4] @ emb.target[0]), 4))  # edge 4 → 0 does not
        0.0
    """
    adj = check_adjacency(adjacency)
    n = adj.shape[-1]
    dim = check_int(dim, "dim", minimum=1)
    if dim > n:
        raise ValueError(f"dim: expected an int in [1, N] = [1, {n}] (N nodes), got {dim}")
    for name, flag in (("directed", directed), ("laplacian", laplacian)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name}: expected a bool, got {describe(flag)}")
    tau = _check_regularizer(regularizer, laplacian)
    if method not in ("auto", "full", "randomized"):
        raise ValueError(f"method: expected 'auto', 'full' or 'randomized', got {describe(method)}")
    use_full = method == "full" or (method == "auto" and (n <= FULL_SOLVER_MAX_NODES or 4 * dim > n))

    out_dtype = adj.dtype if adj.is_floating_point() else torch.float32
    work_dtype = adj.dtype if adj.dtype in (torch.float32, torch.float64) else torch.float32
    batched = adj.dim() == 3
    m = adj.to(work_dtype)
    if not batched:
        m = m.unsqueeze(0)
    m = m.transpose(-1, -2)  # M[b, j, i] = edge j → i: rows are sources
    if not directed:
        m = (m + m.transpose(-1, -2)) / 2
    if laplacian:
        m = _normalise(m, tau, symmetric=not directed)

    if directed:
        u, s, v = _svd_full(m, dim) if use_full else _svd_randomized(m, dim)
        sign_of_value = None
    else:
        lam, q = _eigh_full(m, dim) if use_full else _eigh_randomized(m, dim)
        s, u, v = lam.abs(), q, q
        sign_of_value = torch.where(lam < 0, -1.0, 1.0).to(q.dtype)

    # Deterministic signs: the largest-|.| entry of every source column is positive.
    peak = torch.gather(u, -2, u.abs().argmax(dim=-2, keepdim=True))
    flip = torch.where(peak < 0, -1.0, 1.0).to(u.dtype)
    root = s.clamp_min(0).sqrt().unsqueeze(-2)
    source = u * (flip * root)
    target = v * (flip * root)
    if sign_of_value is not None:
        target = target * sign_of_value.unsqueeze(-2)

    if not batched:
        source, target, s = source[0], target[0], s[0]
    return SpectralEmbedding(source.to(out_dtype), target.to(out_dtype), s.to(out_dtype))


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------


def _check_regularizer(regularizer: Any, laplacian: bool) -> float | str | None:
    if regularizer is None:
        return None
    if not laplacian:
        raise ValueError(
            f"regularizer: expected None unless laplacian=True, got {describe(regularizer)} "
            "with laplacian=False"
        )
    if isinstance(regularizer, str):
        if regularizer != "mean":
            raise ValueError(
                f"regularizer: expected a float >= 0, 'mean' or None, got {describe(regularizer)}"
            )
        return regularizer
    return check_real(regularizer, "regularizer", positive=False)


# ---------------------------------------------------------------------------------------
# Normalisation and solvers (all on (B, N, N) tensors, rows = sources)
# ---------------------------------------------------------------------------------------


def _inv_sqrt(degree: Tensor) -> Tensor:
    """``1 / sqrt(degree)``, with 0 where the degree is 0."""
    positive = degree > 0
    return torch.where(positive, degree.clamp_min(torch.finfo(degree.dtype).tiny).rsqrt(), 0.0)


def _normalise(m: Tensor, tau: float | str | None, *, symmetric: bool) -> Tensor:
    """``D_out^{-1/2} M D_in^{-1/2}`` with ``tau`` added to the (absolute) degrees."""
    weight = m.abs()
    out_degree = weight.sum(-1)  # (B, N): out-strength of source j
    in_degree = out_degree if symmetric else weight.sum(-2)  # (B, N): in-strength of target i
    if tau == "mean":
        shift = weight.sum((-2, -1)).unsqueeze(-1) / m.shape[-1]
        out_degree, in_degree = out_degree + shift, in_degree + shift
    elif tau is not None:
        out_degree, in_degree = out_degree + tau, in_degree + tau
    lap = _inv_sqrt(out_degree).unsqueeze(-1) * m * _inv_sqrt(in_degree).unsqueeze(-2)
    if symmetric:  # remove rounding asymmetry
        lap = (lap + lap.transpose(-1, -2)) / 2
    return lap


def _svd_full(m: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    return u[..., :dim], s[..., :dim], vh[..., :dim, :].transpose(-1, -2)


def _test_matrix(m: Tensor, columns: int) -> Tensor:
    generator = torch.Generator().manual_seed(_SEED)
    return torch.randn(m.shape[-1], columns, generator=generator, dtype=m.dtype).to(m.device)


def _range_basis(m: Tensor, dim: int, *, symmetric: bool) -> Tensor:
    """Orthonormal ``(B, N, q)`` basis of the dominant left singular subspace of ``m``."""
    columns = min(m.shape[-1], dim + max(_OVERSAMPLES, dim))
    basis = torch.linalg.qr(m @ _test_matrix(m, columns)).Q
    mt = m if symmetric else m.transpose(-1, -2)
    for _ in range(_POWER_ITERATIONS):
        basis = torch.linalg.qr(m @ torch.linalg.qr(mt @ basis).Q).Q
    return basis


def _svd_randomized(m: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    basis = _range_basis(m, dim, symmetric=False)
    u_small, s, vh = torch.linalg.svd(basis.transpose(-1, -2) @ m, full_matrices=False)
    return (basis @ u_small)[..., :dim], s[..., :dim], vh[..., :dim, :].transpose(-1, -2)


def _top_by_magnitude(lam: Tensor, vectors: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    order = lam.abs().argsort(dim=-1, descending=True, stable=True)[..., :dim]
    lam = torch.gather(lam, -1, order)
    vectors = torch.gather(vectors, -1, order.unsqueeze(-2).expand(*vectors.shape[:-1], dim))
    return lam, vectors


def _eigh_full(m: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    lam, vectors = torch.linalg.eigh(m)
    return _top_by_magnitude(lam, vectors, dim)


def _eigh_randomized(m: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    basis = _range_basis(m, dim, symmetric=True)
    small = basis.transpose(-1, -2) @ m @ basis  # Rayleigh-Ritz
    lam, w = torch.linalg.eigh((small + small.transpose(-1, -2)) / 2)
    lam, w = _top_by_magnitude(lam, w, dim)
    return lam, basis @ w
