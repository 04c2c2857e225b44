r"""A connectome-constrained linear stochastic network whose analytic FC is fitted to empirical FC.

The model (an Ornstein–Uhlenbeck process on the connectome; Galán 2008, Saggio et al. 2016,
Gilson et al. 2016 "Estimation of directed effective connectivity from fMRI functional
connectivity hints at asymmetries of cortical connectome")

.. math:: dx = (-x + g\,W x)\,dt + \mathrm{diag}(\sigma)\,d\xi

has, when :math:`A = -I + gW` is stable, the stationary covariance :math:`\Sigma` solving the
continuous Lyapunov equation :math:`A\Sigma + \Sigma A^\top + Q = 0`, :math:`Q =
\mathrm{diag}(\sigma^2)`; the model FC is the correlation matrix of :math:`\Sigma`.

* :func:`solve_lyapunov`: :math:`\Sigma` by eigendecomposition, differentiable.
* :func:`covariance_to_correlation`.
* :class:`LinearDynamicsFC`: the model, coupling a :class:`~ccnn.nn.ConnectomeLinear` masked by
  and initialised from SC, fitted by gradient descent (:meth:`LinearDynamicsFC.fit`).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from ccnn._validation import (
    as_tensor,
    check_choice,
    check_finite,
    check_int,
    check_nonnegative,
    check_real,
    check_shape,
    describe,
)
from ccnn.models.structure_function.evaluation import upper_triangle
from ccnn.nn import ConnectomeLinear

__all__ = ["LinearDynamicsFC", "covariance_to_correlation", "solve_lyapunov"]


def solve_lyapunov(a: Tensor, q: Tensor) -> Tensor:
    r"""Solution :math:`\Sigma` of :math:`A\Sigma + \Sigma A^\top + Q = 0` for a stable real A.

    With the eigendecomposition :math:`A = V D V^{-1}` (``torch.linalg.eig``, complex),
    :math:`\Sigma = V X V^H` where

    .. math:: X_{ij} = \frac{(V^{-1} Q V^{-H})_{ij}}{-(d_i + \bar d_j)},

    the real part returned. Every eigenvalue must have a negative real part (else no stationary
    covariance exists); A must be diagonalisable (generic matrices are). Differentiable with
    respect to A and Q (gradients are finite when the eigenvalues are distinct). O(N³).

    Args:
        a: ``(N, N)`` real, stable.
        q: ``(N, N)`` real symmetric (positive semi-definite for a covariance).

    Returns:
        ``(N, N)`` real, in the dtype of ``a``.

    Example:
        >>> solve_lyapunov(-torch.eye(2, dtype=torch.float64), 2 * torch.eye(2, dtype=torch.float64))
        tensor([[1., 0.],
                [0., 1.]], dtype=torch.float64)
    """
    if not isinstance(a, Tensor) or not isinstance(q, Tensor):
        raise TypeError(f"a: expected tensors a and q, got {describe(a)} and {describe(q)}")
    n = a.shape[-1]
    check_shape(a, (n, n), "a", meaning="(N, N)")
    check_shape(q, (n, n), "q", meaning="(N, N) like a")
    d, v = torch.linalg.eig(a)
    if bool((d.real >= 0).any()):
        raise ValueError(
            f"a: expected a stable matrix (eigenvalues with Re < 0), got max Re {float(d.real.max()):.4g}"
        )
    v_inv = torch.linalg.inv(v)
    rhs = v_inv @ q.to(v.dtype) @ v_inv.mH
    x = rhs / -(d[:, None] + d.conj()[None, :])
    return (v @ x @ v.mH).real.to(a.dtype)


def covariance_to_correlation(cov: Tensor) -> Tensor:
    r""":math:`C_{ij} = \Sigma_{ij} / \sqrt{\Sigma_{ii}\Sigma_{jj}}`, unit diagonal; ``(N, N)``.

    Example:
        >>> covariance_to_correlation(torch.tensor([[4.0, 2.0], [2.0, 4.0]]))
        tensor([[1.0000, 0.5000],
                [0.5000, 1.0000]])
    """
    scale = cov.diagonal(dim1=-2, dim2=-1).clamp(min=torch.finfo(cov.dtype).tiny).rsqrt()
    corr = cov * scale[..., :, None] * scale[..., None, :]
    return corr.diagonal_scatter(torch.ones_like(scale), dim1=-2, dim2=-1)


def _spectral_radius(w: Tensor) -> Tensor:
    return torch.linalg.eigvals(w).abs().max()


class LinearDynamicsFC(nn.Module):
    r"""Linear stochastic network on the connectome; ``forward()`` is its model FC ``(N, N)``.

    .. math:: dx = (-x + g\,W x)\,dt + \mathrm{diag}(\sigma)\,d\xi, \qquad
              A\Sigma + \Sigma A^\top + \mathrm{diag}(\sigma^2) = 0, \quad A = -I + gW,

    and the model FC is the correlation matrix of :math:`\Sigma` (:func:`solve_lyapunov`).

    * :math:`W` = ``self.coupling.weight``, a :class:`~ccnn.nn.ConnectomeLinear` (dense backend,
      hard mask, no bias) whose mask is the SC (a weighted mask: zero entries are absent
      connections, exactly zero with zero gradient) and whose weights start at
      :math:`\mathrm{SC} / \rho(\mathrm{SC})` (:math:`\rho` the spectral radius). Learnable
      with ``learn_coupling=True``, else frozen.
    * the gain :math:`g = \mathrm{sigmoid}(\theta) / \rho(W)`, with :math:`\rho` of the
      current :math:`W`: the normalised gain :math:`g\rho(W) = \mathrm{sigmoid}(\theta) < 1`
      (:attr:`normalised_gain`) keeps every eigenvalue of :math:`gW` inside the unit disc, so
      A is stable whatever the optimiser does.
    * :math:`\sigma_i = \mathrm{softplus}(s_i)` per region with ``per_region_noise=True``;
      otherwise :math:`\sigma = 1` (a common :math:`\sigma` scales :math:`\Sigma` and leaves
      FC unchanged).

    Args:
        sc: ``(N, N)`` non-negative structural connectivity (``sc[i, j]``: from j to i).
        gain: initial normalised gain :math:`g\rho(W)` in (0, 1).
        per_region_noise: learn :math:`\sigma_i`.
        learn_coupling: learn the in-mask weights of W (else only the gain, and the noise).

    Example:
        >>> sc = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.2], [0.5, 0.2, 0.0]])
        >>> model = LinearDynamicsFC(sc, gain=0.5)
        >>> fc = model()
        >>> fc.shape, bool(torch.allclose(fc.diagonal(), torch.ones(3, dtype=torch.float64)))
        (torch.Size([3, 3]), True)
    """

    def __init__(
        self,
        sc: Any,
        *,
        gain: float = 0.5,
        per_region_noise: bool = False,
        learn_coupling: bool = True,
    ) -> None:
        super().__init__()
        weights = as_tensor(sc, "sc")
        if weights.is_complex() or weights.dtype == torch.bool:
            raise TypeError(f"sc: expected real values, got {describe(sc)}")
        weights = weights.detach().to(torch.float64)
        n = weights.shape[-1] if weights.dim() == 2 else 0
        if weights.dim() != 2 or weights.shape != (n, n) or n < 2:
            raise ValueError(f"sc: expected shape (N, N) with N >= 2, got {tuple(weights.shape)}")
        check_finite(weights, "sc")
        check_nonnegative(weights, "sc")
        if not bool((weights != 0).any()):
            raise ValueError("sc: expected at least one connection, got an all-zero matrix")
        check_real(gain, "gain", positive=True)
        if not gain < 1:
            raise ValueError(f"gain: expected a float in (0, 1), got {describe(gain)}")
        for name, flag in (("per_region_noise", per_region_noise), ("learn_coupling", learn_coupling)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {describe(flag)}")
        self.n = n
        self.coupling = ConnectomeLinear(n, n, weights, bias=False, backend="dense", dtype=torch.float64)
        with torch.no_grad():
            self.coupling.raw_weight.copy_(weights / _spectral_radius(weights))
        self.coupling.raw_weight.requires_grad_(learn_coupling)
        self.gain_logit = nn.Parameter(torch.logit(torch.tensor(float(gain), dtype=torch.float64)))
        if per_region_noise:
            # softplus(log(e - 1)) = 1
            self.noise_raw = nn.Parameter(torch.full((n,), 0.5413248546129181, dtype=torch.float64))
        else:
            self.register_parameter("noise_raw", None)

    @property
    def normalised_gain(self) -> Tensor:
        r""":math:`g\rho(W) = \mathrm{sigmoid}(\theta) \in (0, 1)`."""
        return torch.sigmoid(self.gain_logit)

    def gain(self) -> Tensor:
        """The gain g of the dynamics (``normalised_gain / rho(W)``)."""
        return self.normalised_gain / _spectral_radius(self.coupling.weight)

    def noise(self) -> Tensor:
        r""":math:`\sigma`, ``(N,)``: softplus of the per-region parameters, or ones."""
        if self.noise_raw is None:
            return torch.ones(self.n, dtype=torch.float64, device=self.gain_logit.device)
        return nn.functional.softplus(self.noise_raw)

    def system_matrix(self) -> Tensor:
        """:math:`A = -I + gW`, ``(N, N)``."""
        w = self.coupling.weight
        eye = torch.eye(self.n, dtype=w.dtype, device=w.device)
        return -eye + self.normalised_gain / _spectral_radius(w) * w

    def covariance(self) -> Tensor:
        r"""Stationary covariance :math:`\Sigma`, ``(N, N)``."""
        return solve_lyapunov(self.system_matrix(), torch.diag(self.noise() ** 2))

    def forward(self) -> Tensor:
        """Model FC, the correlation matrix of :meth:`covariance`, ``(N, N)`` float64."""
        cov = self.covariance()
        return covariance_to_correlation((cov + cov.T) / 2)

    def fit(
        self,
        fc_target: Any,
        steps: int = 200,
        lr: float = 0.05,
        *,
        loss: Literal["correlation", "mse"] = "correlation",
    ) -> list[float]:
        r"""Fit to an empirical FC by Adam; returns the loss of every step.

        ``loss="correlation"`` minimises :math:`1 - r` (Pearson r of the strict upper
        triangles, :func:`~ccnn.models.structure_function.fc_similarity`): the pattern of FC,
        blind to its overall scale. ``loss="mse"`` minimises the mean squared error of the
        upper triangles, which also fits the level of the correlations.

        Args:
            fc_target: ``(N, N)`` empirical FC.
            steps: Adam steps (>= 1).
            lr: learning rate (> 0).
            loss: ``"correlation"`` or ``"mse"``.
        """
        target = as_tensor(fc_target, "fc_target").detach().to(torch.float64)
        check_shape(target, (self.n, self.n), "fc_target", meaning="(N, N) like sc")
        check_finite(target, "fc_target")
        steps = check_int(steps, "steps", minimum=1)
        lr = check_real(lr, "lr", positive=True)
        check_choice(loss, "loss", ("correlation", "mse"))
        y = upper_triangle(target.to(self.gain_logit.device))
        yc = y - y.mean()
        params = [p for p in self.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=lr)
        history = []
        for _ in range(steps):
            optimiser.zero_grad()
            pred = upper_triangle(self())
            if loss == "mse":
                value = (pred - y).pow(2).mean()
            else:
                pc = pred - pred.mean()
                value = 1 - (pc * yc).sum() / (pc.norm() * yc.norm())
            value.backward()
            optimiser.step()
            history.append(float(value.detach()))
        return history
