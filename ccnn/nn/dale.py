r"""Dale's-law layers: separate excitatory and inhibitory populations.

Two ways to make a network obey Dale's principle (every unit is either excitatory or
inhibitory: all its outgoing weights share one sign), as compared by Cornford et al.,
"Learning to live with Dale's principle: ANNs with separate excitatory and inhibitory units",
ICLR 2021:

* **ColumnEI** (ColEI): a plain weight matrix whose columns (presynaptic units) carry a fixed
  sign. Build it with :class:`ccnn.nn.ConnectomeLinear` and ``sign=dale_signs(n_in)``.
* **DANN** (:class:`DANNLinear`): only excitatory units project between layers; each layer
  has its own feed-forward inhibitory interneurons, which subtract a learned, non-negative
  combination of the same inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ccnn._validation import check_int, describe

__all__ = ["DANNLinear", "dale_signs"]


def dale_signs(
    n_units: int, excitatory_fraction: float = 0.8, seed: int | None = 0, *, shuffle: bool = True
) -> Tensor:
    r"""A Dale's-law sign per presynaptic unit: ``+1`` excitatory, ``-1`` inhibitory.

    Exactly :math:`k = \mathrm{round}(f\,n)` units are excitatory (``f`` the fraction, ``n``
    the number of units), clipped to :math:`1 \le k \le n - 1` when :math:`n \ge 2` so that both
    populations exist (a single unit is excitatory). Which units are excitatory is a seeded
    random choice (``shuffle=True``): a network whose units sit on a grid in index order then
    gets no spatial block of inhibitory units. With ``shuffle=False`` the first :math:`k`
    units are excitatory (contiguous populations, convenient to read a weight matrix).

    Pass the result as ``ConnectomeLinear(..., sign=dale_signs(in_features))`` for a ColumnEI
    layer (Cornford et al., ICLR 2021): every effective weight keeps its column's sign
    through training.

    Args:
        n_units: number of presynaptic units (``in_features`` of the layer), >= 1.
        excitatory_fraction: fraction of excitatory units, strictly between 0 and 1
            (cortex: about 0.8).
        seed: seed of the random choice; ``None`` draws it from torch's global RNG.
        shuffle: choose the excitatory units at random (default) or take the first ones.

    Returns:
        (n_units,) float32 tensor of ±1.

    Example:
        >>> dale_signs(5, 0.6, shuffle=False)
        tensor([ 1.,  1.,  1., -1., -1.])
        >>> int((dale_signs(10, 0.8) > 0).sum())
        8
    """
    n_units = check_int(n_units, "n_units", minimum=1)
    ok = isinstance(excitatory_fraction, int | float) and not isinstance(excitatory_fraction, bool)
    if not ok or not 0 < excitatory_fraction < 1:
        raise ValueError(
            f"excitatory_fraction: expected a float strictly between 0 and 1, "
            f"got {describe(excitatory_fraction)}"
        )
    n_exc = round(excitatory_fraction * n_units)
    n_exc = 1 if n_units == 1 else min(max(n_exc, 1), n_units - 1)
    signs = torch.where(torch.arange(n_units) < n_exc, 1.0, -1.0)
    if not shuffle:
        return signs
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or None, got {describe(seed)}")
    generator = torch.Generator()
    generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()) if seed is None else seed)
    return signs[torch.randperm(n_units, generator=generator)]


class DANNLinear(nn.Module):
    r"""A Dale's ANN layer (DANN; Cornford et al., ICLR 2021).

    .. math::
        h = W_{EE}\,x \;-\; W_{EI}\,(W_{IE}\,x) \;+\; b,
        \qquad W_{EE}, W_{IE}, W_{EI} \ge 0,

    where :math:`x` is the activity of the excitatory units of the previous layer
    (non-negative, e.g. after a ReLU), :math:`W_{EE}` (out × in) the excitatory → excitatory
    weights, :math:`W_{IE}` (n_inhibitory × in) the excitatory → inhibitory weights of this
    layer's feed-forward interneurons and :math:`W_{EI}` (out × n_inhibitory) their
    inhibitory projections. Only the excitatory units :math:`h` project onwards, so every
    unit keeps one sign of effect. The layer computes the inhibitory units explicitly
    (cost :math:`O(n_\text{in}(n_\text{out} + n_\text{inh}))` per sample); its effective
    weight :attr:`weight` is :math:`W = W_{EE} - W_{EI} W_{IE}`.

    **Non-negativity.** Each matrix is stored as an unconstrained parameter ``raw_*`` and
    used through its absolute value, :math:`W_{EE} = |\tilde W_{EE}|` (the parametrisation
    :class:`ccnn.nn.ConnectomeLinear` uses for Dale signs): whatever an optimiser does to
    the raw parameters, the weights stay :math:`\ge 0`, with no projection step to call.

    **Initialisation** (:meth:`reset_parameters`; in the spirit of the paper: inhibition
    centres the excitatory drive). With :math:`d` = ``in_features``:

    * :math:`W_{EE} \sim \mathrm{Exp}` with mean and standard deviation :math:`\sigma =
      \sqrt{2/d}`;
    * :math:`W_{IE}`: random non-negative rows whose mean is the mean row of :math:`W_{EE}`,
      :math:`W_{IE,ij} = V_{ij}\,\mu_j / \bar V_j` with :math:`V \sim \mathrm{Exp}(1)`,
      :math:`\bar V_j = \frac{1}{n_\text{inh}}\sum_i V_{ij}` and
      :math:`\mu_j = \frac{1}{n_\text{out}} \sum_k W_{EE,kj}`;
    * :math:`W_{EI} = 1/n_\text{inh}`; :math:`b = 0`.

    Then :math:`W_{EI} W_{IE}` has every row equal to :math:`\mu`, so the effective weight
    :math:`W_{kj} = W_{EE,kj} - \mu_j` has columns that sum to exactly zero: for any input,
    the mean of :math:`h - b` over the output units is 0, and for a fixed input each
    :math:`h_k - b_k` has mean 0 over initialisations and variance
    :math:`\sigma^2 (1 - 1/n_\text{out}) \lVert x\rVert^2`. With ReLU inputs
    :math:`x = \max(z, 0)` of symmetric :math:`z` (variance :math:`v`,
    :math:`\mathbb{E}[x^2] = v/2`) this is :math:`\approx v`: the variance is kept from layer
    to layer, as with He initialisation. (Rows of :math:`W_{IE}` all equal to :math:`\mu`
    would give the same balance, but identical interneurons receive identical gradients and
    would stay identical forever; random rows with the same mean break that symmetry.) The
    paper's second ingredient, Fisher-corrected learning rates for the inhibitory
    parameters, is an optimiser matter and not part of this layer.

    Args:
        in_features: number of excitatory inputs.
        out_features: number of excitatory outputs.
        n_inhibitory: number of inhibitory interneurons; default 10 % of ``out_features``
            (rounded), at least 1.
        bias: learn an additive bias.

    Shapes:
        input (\*, in_features) → output (\*, out_features).

    Example:
        >>> layer = DANNLinear(20, 10)
        >>> layer.n_inhibitory, layer(torch.rand(4, 20)).shape
        (1, torch.Size([4, 10]))
        >>> bool((layer.weight_ee >= 0).all() and (layer.weight_ie >= 0).all())
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_inhibitory: int | None = None,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        if n_inhibitory is None:
            n_inhibitory = max(1, round(0.1 * self.out_features))
        self.n_inhibitory = check_int(n_inhibitory, "n_inhibitory", minimum=1)
        factory = {"device": device, "dtype": dtype}
        self.raw_weight_ee = nn.Parameter(torch.empty(self.out_features, self.in_features, **factory))
        self.raw_weight_ie = nn.Parameter(torch.empty(self.n_inhibitory, self.in_features, **factory))
        self.raw_weight_ei = nn.Parameter(torch.empty(self.out_features, self.n_inhibitory, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @property
    def weight_ee(self) -> Tensor:
        r"""Excitatory → excitatory weights :math:`W_{EE} \ge 0`, (out_features, in_features)."""
        return self.raw_weight_ee.abs()

    @property
    def weight_ie(self) -> Tensor:
        r"""Excitatory → inhibitory weights :math:`W_{IE} \ge 0`, (n_inhibitory, in_features)."""
        return self.raw_weight_ie.abs()

    @property
    def weight_ei(self) -> Tensor:
        r"""Inhibitory → excitatory weights :math:`W_{EI} \ge 0`, (out_features, n_inhibitory)."""
        return self.raw_weight_ei.abs()

    @property
    def weight(self) -> Tensor:
        r"""Effective weight :math:`W_{EE} - W_{EI} W_{IE}`, (out_features, in_features).

        For analysis (wiring cost, modularity): the layer's output is ``x @ weight.T + bias``.
        Differentiable.
        """
        return self.weight_ee - self.weight_ei @ self.weight_ie

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Balanced initialisation (see the class docstring); uses torch's global RNG."""
        sigma = math.sqrt(2.0 / self.in_features)
        w_ee = torch.empty_like(self.raw_weight_ee).exponential_(1.0 / sigma)
        mean_row = w_ee.mean(0)  # μ_j, (in,)
        v = torch.empty_like(self.raw_weight_ie).exponential_(1.0)
        w_ie = v * (mean_row / v.mean(0).clamp(min=torch.finfo(v.dtype).tiny))
        self.raw_weight_ee.copy_(w_ee)
        self.raw_weight_ie.copy_(w_ie)
        self.raw_weight_ei.fill_(1.0 / self.n_inhibitory)
        if self.bias is not None:
            self.bias.zero_()

    def forward(self, input: Tensor) -> Tensor:
        if input.shape[-1] != self.in_features:
            raise ValueError(
                f"input: expected last dimension in_features={self.in_features}, "
                f"got shape {tuple(input.shape)}"
            )
        inhibitory = F.linear(input, self.weight_ie)  # (*, n_inhibitory)
        return F.linear(input, self.weight_ee, self.bias) - F.linear(inhibitory, self.weight_ei)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"n_inhibitory={self.n_inhibitory}, bias={self.bias is not None}"
        )
