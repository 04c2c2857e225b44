r"""Similarity of functional connectivity matrices and the Zalesky benchmark of SC → FC predictions.

Two FC matrices are compared by the Pearson correlation of their strict upper triangles
(``np.triu_indices(N, 1)``): the diagonal (1 by construction) and the mirrored lower triangle
would only inflate the agreement.

* :func:`upper_triangle`: the strict upper triangle as a vector, ``(N, N) → (N(N-1)/2,)``
  (batched: ``(B, N, N) → (B, N(N-1)/2)``).
* :func:`fc_similarity`: Pearson r of two FC matrices (a float), or of B pairs (a ``(B,)``
  tensor).
* :func:`regional_coupling`: per-region structure–function coupling, the Pearson r of each
  region's row of predicted and empirical FC, ``(N, N) → (N,)`` (batched: ``(B, N)``).
* :func:`zalesky_report`: the group-level, individual-level, template and identifiability
  numbers of a set of per-subject predictions (Zalesky et al. 2024; Amico & Goñi 2018).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, describe

__all__ = [
    "fc_similarity",
    "fc_similarity_matrix",
    "regional_coupling",
    "upper_triangle",
    "zalesky_report",
]


def _as_matrices(value: Any, name: str) -> Tensor:
    tensor = as_tensor(value, name)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name}: expected real values, got {describe(value)}")
    tensor = tensor.to(torch.float64)
    if tensor.dim() not in (2, 3) or tensor.shape[-1] != tensor.shape[-2] or tensor.shape[-1] < 3:
        raise ValueError(
            f"{name}: expected a square matrix (N, N) or a batch (B, N, N) with N >= 3, "
            f"got shape {tuple(tensor.shape)}"
        )
    check_finite(tensor, name)
    return tensor


def upper_triangle(m: Any) -> Tensor:
    r"""Strict upper triangle of ``(N, N)`` or ``(B, N, N)`` matrices, row by row.

    The entries :math:`m_{ij}`, :math:`i < j`, in the order of ``np.triu_indices(N, 1)``:
    ``(N(N-1)/2,)`` or ``(B, N(N-1)/2)``, in the input's dtype.

    Example:
        >>> upper_triangle(torch.arange(9.0).reshape(3, 3))
        tensor([1., 2., 5.])
    """
    tensor = as_tensor(m, "m")
    if tensor.dim() not in (2, 3) or tensor.shape[-1] != tensor.shape[-2]:
        raise ValueError(f"m: expected shape (N, N) or (B, N, N), got {tuple(tensor.shape)}")
    n = tensor.shape[-1]
    rows, cols = torch.triu_indices(n, n, 1, device=tensor.device)
    return tensor[..., rows, cols]


def _pearson(x: Tensor, y: Tensor) -> Tensor:
    """Pearson r along the last dim, broadcasting; NaN where one side is constant."""
    x = x - x.mean(-1, keepdim=True)
    y = y - y.mean(-1, keepdim=True)
    return (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))


def fc_similarity(a: Any, b: Any) -> float | Tensor:
    r"""Pearson r of two FC matrices over the strict upper triangle.

    .. math:: r(A, B) = \frac{\sum_{i<j} (a_{ij} - \bar a)(b_{ij} - \bar b)}
              {\sqrt{\sum_{i<j} (a_{ij} - \bar a)^2}\,\sqrt{\sum_{i<j} (b_{ij} - \bar b)^2}},

    with the means over the :math:`N(N-1)/2` pairs :math:`i < j`. NaN when one triangle is
    constant.

    Args:
        a, b: ``(N, N)`` each, or ``(B, N, N)`` each (B pairs), or one ``(N, N)`` against a
            ``(B, N, N)`` batch.

    Returns:
        a float for two matrices, else a ``(B,)`` float64 tensor.

    Example:
        >>> a = torch.tensor([[1.0, 0.2, 0.4], [0.2, 1.0, 0.9], [0.4, 0.9, 1.0]])
        >>> round(fc_similarity(a, 2 * a + 1), 6)
        1.0
    """
    x, y = _as_matrices(a, "a"), _as_matrices(b, "b")
    if x.shape[-1] != y.shape[-1] or (x.dim() == y.dim() == 3 and x.shape[0] != y.shape[0]):
        raise ValueError(
            f"b: expected the shape of a {tuple(x.shape)} (or a batch of it), got {tuple(y.shape)}"
        )
    r = _pearson(upper_triangle(x), upper_triangle(y))
    return float(r) if r.dim() == 0 else r


def fc_similarity_matrix(a: Any, b: Any) -> Tensor:
    r"""All pairwise similarities ``R[s, t] = r(a_s, b_t)`` of two batches, ``(S, T)`` float64.

    Example:
        >>> fc = torch.eye(4).repeat(2, 1, 1) + 0.1 * torch.rand(2, 4, 4)
        >>> fc_similarity_matrix(fc, fc).shape
        torch.Size([2, 2])
    """
    x, y = _as_matrices(a, "a"), _as_matrices(b, "b")
    if x.dim() != 3 or y.dim() != 3 or x.shape[-1] != y.shape[-1]:
        raise ValueError(f"b: expected a batch (T, N, N) matching a {tuple(x.shape)}, got {tuple(y.shape)}")
    return _pearson(upper_triangle(x)[:, None, :], upper_triangle(y)[None, :, :])


def regional_coupling(predicted: Any, empirical: Any) -> Tensor:
    r"""Per-region coupling: Pearson r of each region's predicted and empirical FC profile.

    For region :math:`i`, with :math:`p_{ij}` the predicted and :math:`f_{ij}` the empirical FC,
    the correlation over the other :math:`N - 1` regions :math:`j \ne i` (the diagonal, 1 by
    construction, is left out):

    .. math:: r_i = \frac{\sum_{j \ne i} (p_{ij} - \bar p_i)(f_{ij} - \bar f_i)}
              {\sqrt{\sum_{j \ne i} (p_{ij} - \bar p_i)^2}\,\sqrt{\sum_{j \ne i} (f_{ij} - \bar f_i)^2}},
              \qquad \bar p_i = \frac{1}{N - 1} \sum_{j \ne i} p_{ij},

    the regional structure–function coupling of Vázquez-Rodríguez et al. ("Gradients of
    structure–function tethering across neocortex", PNAS 2019), here with any predicted FC
    in place of their regression on structural predictors. Row :math:`i` is used, so for
    asymmetric matrices it is the profile of targets :math:`i`. NaN for a region whose row is
    constant on either side.

    Args:
        predicted: ``(N, N)`` predicted FC, or a batch ``(B, N, N)``.
        empirical: the empirical FC, of the same shape as ``predicted``.

    Returns:
        ``(N,)`` or ``(B, N)`` float64 tensor of :math:`r_i`.

    Example:
        >>> fc = torch.tensor([[1.0, 0.2, 0.4, 0.1], [0.2, 1.0, 0.9, 0.3],
        ...                    [0.4, 0.9, 1.0, 0.5], [0.1, 0.3, 0.5, 1.0]])
        >>> regional_coupling(2 * fc + 1, fc).round(decimals=6)
        tensor([1., 1., 1., 1.], dtype=torch.float64)
    """
    pred, emp = _as_matrices(predicted, "predicted"), _as_matrices(empirical, "empirical")
    if pred.shape != emp.shape:
        raise ValueError(
            f"empirical: expected the shape of predicted {tuple(pred.shape)}, got {tuple(emp.shape)}"
        )
    n = pred.shape[-1]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=pred.device)
    # Boolean indexing keeps row-major order: N - 1 entries per row.
    rows_pred = pred[..., off_diagonal].reshape(*pred.shape[:-2], n, n - 1)
    rows_emp = emp[..., off_diagonal].reshape(*emp.shape[:-2], n, n - 1)
    return _pearson(rows_pred, rows_emp)


def zalesky_report(predicted: Any, empirical: Any, others: Any = None) -> dict[str, float]:
    r"""Group, individual, template and identifiability scores of per-subject FC predictions.

    For held-out subjects :math:`s = 1..S` with predictions :math:`P_s` (from their own SC) and
    empirical FC :math:`F_s`, and the empirical FC :math:`F^\text{train}_u` of the training
    subjects ``others`` (:math:`u = 1..U`), with :math:`r` of :func:`fc_similarity`:

    * ``group_r`` :math:`= r(\bar P, \bar F)`, the means over the held-out subjects;
    * ``individual_r_mean``, ``individual_r_std``: mean and population standard deviation
      (ddof 0) over s of :math:`r(P_s, F_s)`;
    * ``group_template_r_mean``: mean over s of :math:`r(T_s, F_s)`, where the template
      :math:`T_s` is the average FC of **every subject except s**: all training subjects
      ``others`` and the other held-out subjects :math:`F_t, t \ne s`,
      :math:`T_s = \big(\sum_u F^\text{train}_u + \sum_{t \ne s} F_t\big) / (U + S - 1)`. In
      leave-one-subject-out (S = 1) it is the mean of the training FCs, the trivial benchmark
      of Zalesky et al. ("Predicting an individual's functional connectivity from their
      structural connectome: evaluation of evidence, recommendations, and future prospects",
      Netw. Neurosci. 2024);
    * ``beats_template_fraction``: the fraction of s with :math:`r(P_s, F_s) > r(T_s, F_s)` (by more
      than 10⁻⁹, so that the template ties with itself);
    * ``identifiability``: mean over s of :math:`r(P_s, F_s) - \frac{1}{S-1} \sum_{t \ne s}
      r(P_s, F_t)` over the **held-out** subjects only (the S × S similarity matrix of
      predictions against empirical FCs), the own-minus-others differential identifiability of
      Amico & Goñi ("The quest for identifiability in human functional connectomes", Sci. Rep.
      2018). Exactly 0 for a prediction that is the same for every subject; positive when each
      prediction is closer to its own subject's FC than to the others'. NaN when S = 1.

    For leave-one-subject-out, pool the folds: pass every subject's out-of-fold prediction as
    ``predicted`` (S = all subjects) and ``others=None``; the template of s is then the mean of
    the other subjects' FCs, i.e. the training set of fold s.

    Args:
        predicted: ``(S, N, N)`` predicted FC of the held-out subjects (or ``(N, N)`` for one).
        empirical: ``(S, N, N)`` their empirical FC, in the same order.
        others: ``(U, N, N)`` empirical FC of the training subjects not in ``empirical``, or
            None (U = 0). S + U >= 2.

    Returns:
        a dict of floats with the keys above (``individual_r_std`` is 0 for S = 1).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> fc = torch.rand(4, 5, 5, generator=g)
        >>> fc = (fc + fc.mT) / 2
        >>> rep = zalesky_report(fc[:2], fc[:2], fc[2:])
        >>> rep["individual_r_mean"], rep["beats_template_fraction"]
        (1.0, 1.0)
    """
    pred, emp = _as_matrices(predicted, "predicted"), _as_matrices(empirical, "empirical")
    if pred.dim() == 2:
        pred = pred[None]
    if emp.dim() == 2:
        emp = emp[None]
    if pred.shape != emp.shape:
        raise ValueError(
            f"empirical: expected the shape of predicted {tuple(pred.shape)}, got {tuple(emp.shape)}"
        )
    n = pred.shape[-1]
    if others is None:
        train = pred.new_zeros(0, n, n)
    else:
        train = _as_matrices(others, "others")
        if train.dim() == 2:
            train = train[None]
        if train.shape[-1] != n:
            raise ValueError(f"others: expected shape (U, {n}, {n}), got {tuple(train.shape)}")
    s, u = pred.shape[0], train.shape[0]
    if s + u < 2:
        raise ValueError(
            f"others: expected at least one subject besides the held-out one (the template needs "
            f"another subject), got {u} with {s} held out"
        )
    own = _pearson(upper_triangle(pred), upper_triangle(emp))  # (S,)
    total = emp.sum(0) + train.sum(0)
    templates = (total[None] - emp) / (s + u - 1)  # everyone but s
    template_r = _pearson(upper_triangle(templates), upper_triangle(emp))
    if s > 1:
        cross = _pearson(upper_triangle(pred)[:, None, :], upper_triangle(emp)[None, :, :])  # (S, S)
        other_mean = (cross.sum(1) - cross.diagonal()) / (s - 1)
        identifiability = float((own - other_mean).mean())
    else:
        identifiability = float("nan")
    return {
        "group_r": float(_pearson(upper_triangle(pred.mean(0)), upper_triangle(emp.mean(0)))),
        "individual_r_mean": float(own.mean()),
        "individual_r_std": float(own.std(unbiased=False)) if s > 1 else 0.0,
        "group_template_r_mean": float(template_r.mean()),
        # A tie (the template itself, up to rounding) does not beat the template.
        "beats_template_fraction": float((own - template_r > 1e-9).double().mean()),
        "identifiability": identifiability,
    }
