"""A linear layer whose connections follow a connectome."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ccnn._validation import as_tensor, check_finite, check_shape, describe
from ccnn.nn._connectome_edits import SPARSE_BUFFERS as _SPARSE_BUFFERS
from ccnn.nn._connectome_edits import StructuralEditsMixin, reorder_parameter
from ccnn.nn._connectome_mask import parse_mask, parse_share_by, parse_sign
from ccnn.nn._csr import CSRLinearFunction, CSRStructure, csr_structure
from ccnn.nn._masked_dense import MaskedLinearFunction

__all__ = [
    "AUTO_SPARSE_MAX_DENSITY",
    "AUTO_SPARSE_MAX_DENSITY_GPU",
    "AUTO_SPARSE_MIN_SIZE",
    "AUTO_SPARSE_MIN_SIZE_GPU",
    "ConnectomeLinear",
    "reorder_parameter",
]

Mode = Literal["hard", "soft", "init"]
Backend = Literal["auto", "dense", "sparse"]

# "auto" picks the sparse backend at or below this density. benchmarks/connectome_linear_speed.py
# (4096², batch 256, forward + backward, 2-core CPU) put the crossover with nn.Linear at 8.8 % and
# 10.6 % in two runs on one host, above 10 % on another (where nn.Linear was slower); at 5 % the
# sparse backend was 1.8-3.7x faster. 5 % keeps a margin for other batch sizes and machines.
AUTO_SPARSE_MAX_DENSITY = 0.05
# Below this many weights the sparse kernels' fixed overheads dominate: stay dense.
AUTO_SPARSE_MIN_SIZE = 1 << 16
# On a GPU, dense matmuls are so fast that sparsity pays only for large, very sparse layers: on an
# H200 at 1 % density the sparse backend ran 0.89x nn.Linear's speed at 4096² (batch 256) and 7.4x
# at 16384² (batch 1024). The GPU rule takes sparse at ≤ 1 % from 8192² (the midpoint) up.
AUTO_SPARSE_MAX_DENSITY_GPU = 0.01
AUTO_SPARSE_MIN_SIZE_GPU = 1 << 26


class ConnectomeLinear(StructuralEditsMixin, nn.Module):
    r"""Drop-in replacement for :class:`torch.nn.Linear` with connectome-constrained weights.

    .. math::
        y = x \, W_\text{eff}^\top + b, \qquad
        W_\text{eff} = \sigma \odot |W| \odot M

    where :math:`M` is the connectivity mask (rows: postsynaptic / output units, columns:
    presynaptic / input units) and :math:`\sigma \in \{-1, +1\}` an optional Dale's-law sign
    (without it, :math:`\sigma \odot |W|` is just :math:`W`). The *mode* sets what the mask does:

    * ``"hard"``: :math:`M` is binary; weights outside it are exactly zero in every forward
      pass and receive exactly zero gradient.
    * ``"soft"``: weights outside the mask exist but are scaled by ``off_mask_scale``
      (:math:`M_{ij} = 1` inside, ``off_mask_scale`` outside); :meth:`mask_penalty` returns
      their L1 norm to be added to the loss.
    * ``"init"``: the mask only shapes the initialisation (out-of-mask weights start at 0
      and are free afterwards; combined with ``sign`` they stay 0, since
      :math:`\partial |w| / \partial w = 0` at 0).

    With ``sign``, every effective weight keeps the sign of its presynaptic unit through any
    optimiser step (ColEI networks, Cornford et al., ICLR 2021).

    Initialisation (:meth:`reset_parameters`) draws :math:`W_{ij} \sim U(-1/\sqrt{k_i},
    1/\sqrt{k_i})` with :math:`k_i` the real in-degree of unit :math:`i` (the number of its
    connections in the mask), so that, like ``nn.Linear`` with fan-in :math:`n`,
    :math:`\mathrm{Var}(y_i) = \tfrac{1}{3}\,\mathbb{E}[x^2]` whatever the density. A
    weighted mask (e.g. synapse counts :math:`s_{ij}`) scales each initial weight by
    :math:`s_{ij} / \sqrt{\langle s_{ij}^2 \rangle_j}`, which keeps that variance.

    Backends give identical outputs and gradients:

    * ``"dense"``: masked dense matmul (any mode; works with ``torch.compile``);
    * ``"sparse"``: parameters only for connections that exist (``mode="hard"``), CSR
      sparse kernels with a hand-written backward; much faster at low density;
    * ``"auto"``: by the device given at construction (the CPU when none), from measured
      crossovers: sparse for hard masks at density ≤ :data:`AUTO_SPARSE_MAX_DENSITY` with at
      least :data:`AUTO_SPARSE_MIN_SIZE` weights on the CPU, at density ≤
      :data:`AUTO_SPARSE_MAX_DENSITY_GPU` with at least :data:`AUTO_SPARSE_MIN_SIZE_GPU`
      weights on a GPU; dense otherwise. A layer keeps its backend when moved with ``.to()``;
      :meth:`to_backend` converts it.

    Args:
        in_features: number of input (presynaptic) units.
        out_features: number of output (postsynaptic) units.
        mask: (out_features, in_features) bool or weighted tensor / array, a torch sparse
            tensor (never densified on the sparse backend), or a :class:`ccnn.data.Connectome`,
            dense or sparse (its ``weights``; its ``coords`` become the unit positions of a
            square layer).
        mode: ``"hard"``, ``"soft"`` or ``"init"``.
        sign: optional ±1 per input unit (in_features,) or per connection
            (out_features, in_features), dense or sparse.
        bias: learn an additive bias.
        backend: ``"auto"``, ``"dense"`` or ``"sparse"``.
        off_mask_scale: factor applied to out-of-mask weights in ``"soft"`` mode.
        weighted_init: let a weighted mask scale the initialisation.
        share_by: optional connection types that share one weight (flyvis' parameter tying,
            Lappalainen et al. 2024): a ``(num_connections,)`` integer vector in the mask's
            row-major connection order, or an ``(out_features, in_features)`` dense or sparse
            integer matrix read at the connections. The layer then learns one strength
            :math:`\theta_t` per type, :math:`W_{ij} = \theta_{t(ij)} \, s_{ij}` with
            :math:`s_{ij}` the weighted mask's entry (e.g. a synapse count) or 1, and with a
            sign :math:`\sigma_{ij} |\theta_{t(ij)}| s_{ij}`; the gradient of :math:`\theta_t`
            sums over the type's connections. Needs ``mode="hard"`` and the sparse backend
            (``"auto"`` picks it); :attr:`shared_types` lists the type labels in parameter order.

    Shapes:
        input (\*, in_features) → output (\*, out_features).

    Example:
        >>> from ccnn.nn import ConnectomeLinear, masks
        >>> layer = ConnectomeLinear(64, 32, masks.erdos_renyi(32, 64, 0.1, seed=0))
        >>> layer(torch.randn(8, 64)).shape
        torch.Size([8, 32])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        mask: Any,
        *,
        mode: Mode = "hard",
        sign: Any = None,
        bias: bool = True,
        backend: Backend = "auto",
        off_mask_scale: float = 0.1,
        weighted_init: bool = True,
        share_by: Any = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {describe(value)}")
        if mode not in ("hard", "soft", "init"):
            raise ValueError(f"mode: expected 'hard', 'soft' or 'init', got {mode!r}")
        if backend not in ("auto", "dense", "sparse"):
            raise ValueError(f"backend: expected 'auto', 'dense' or 'sparse', got {backend!r}")
        if not (isinstance(off_mask_scale, int | float) and 0 <= off_mask_scale <= 1):
            raise ValueError(f"off_mask_scale: expected a float in [0, 1], got {off_mask_scale!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.mode = mode
        self.off_mask_scale = float(off_mask_scale)
        factory = {"device": device, "dtype": dtype}

        edges = parse_mask(mask, out_features, in_features)
        coords = edges.coords
        self.num_connections = int(edges.rows.numel())
        if share_by is not None and backend == "dense":
            raise ValueError("backend: share_by ties weights on the sparse backend; use 'sparse' or 'auto'")
        if share_by is not None and mode != "hard":
            raise ValueError(f"mode: share_by needs mode='hard', got mode={mode!r}")
        chosen = "sparse" if share_by is not None and backend == "auto" else backend
        on_gpu = device is not None and torch.device(device).type == "cuda"
        self.backend = _choose_backend(chosen, mode, self.density, out_features * in_features, on_gpu)
        sign, sign_per_input = parse_sign(sign, edges)  # (in,) per input, (E,) per connection, or None

        strength = edges.strength
        # With share_by, W = θ_type · s keeps the weighted mask's own entries (e.g. synapse counts).
        if share_by is None and strength is not None and weighted_init:
            # Per-row RMS normalisation keeps each unit's input variance (see docstring).
            in_degree = torch.bincount(edges.rows, minlength=out_features).clamp(min=1)
            row_ms = torch.zeros(out_features, dtype=strength.dtype)
            row_ms.index_add_(0, edges.rows, strength.pow(2))
            row_rms = (row_ms / in_degree).sqrt().clamp(min=torch.finfo(strength.dtype).tiny)
            strength = strength / row_rms[edges.rows]
        elif share_by is None:
            strength = None

        if self.backend == "dense":
            self.raw_weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
            self.register_buffer("connectivity", edges.dense_connected().to(device))
            if sign is not None and not sign_per_input:
                dense_sign = torch.ones(out_features, in_features)
                dense_sign[edges.rows, edges.cols] = sign
                sign = dense_sign
            # A per-input sign stays a vector: it broadcasts over rows and costs in_features floats.
            self.register_buffer("sign", None if sign is None else sign.to(**factory))
            self.register_buffer("_multiplier", None, persistent=False)
            self._sync_multiplier()
            if strength is not None:
                dense_strength = torch.zeros(out_features, in_features, dtype=strength.dtype)
                dense_strength[edges.rows, edges.cols] = strength
                strength = dense_strength
            init_scale = None if strength is None else strength.to(**factory)
            self.register_buffer("edge_type", None)
            self.register_buffer("shared_types", None)
        else:
            rows, cols = edges.rows, edges.cols
            if share_by is None:
                edge_type = shared_types = None
                self.raw_values = nn.Parameter(torch.empty(rows.numel(), **factory))
            else:
                edge_type, shared_types = parse_share_by(share_by, edges)
                self.raw_values = nn.Parameter(torch.empty(shared_types.numel(), **factory))
            self.register_buffer("edge_type", None if edge_type is None else edge_type.to(device))
            self.register_buffer("shared_types", None if shared_types is None else shared_types.to(device))
            self.register_buffer("rows", rows.to(device))
            structure = csr_structure(rows, cols, (out_features, in_features))
            for name in _SPARSE_BUFFERS:
                self.register_buffer(name, getattr(structure, name).to(device))
            if sign is not None and sign_per_input:
                sign = sign[cols]
            self.register_buffer("sign", None if sign is None else sign.to(**factory))
            init_scale = None if strength is None else strength.to(**factory)
        self.register_buffer("_init_scale", init_scale, persistent=False)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("in_positions", None)
        self.register_buffer("out_positions", None)
        if coords is not None and in_features == out_features:
            self.attach_positions(coords)
        self.reset_parameters()

    # ------------------------------------------------------------------ structure
    @property
    def density(self) -> float:
        """Fraction of the out_features × in_features possible connections in the mask."""
        return self.num_connections / (self.out_features * self.in_features)

    @property
    def mask(self) -> Tensor:
        """The binary connectivity mask, (out_features, in_features) bool."""
        if self.backend == "dense":
            return self.connectivity
        mask = torch.zeros(self.out_features, self.in_features, dtype=torch.bool, device=self.rows.device)
        mask[self.rows, self.col] = True
        return mask

    def in_degree(self) -> Tensor:
        """Number of connections onto each output unit, (out_features,) long."""
        if self.backend == "dense":
            return self.connectivity.sum(1)
        return self.crow.diff()

    def _sync_multiplier(self) -> None:
        """Dense backend: derive the float multiplier of the weights from the mask.

        Hard mode: the mask as 0/1 floats (a float multiply runs much faster than a bool
        one), or None for a full mask, which then costs exactly what nn.Linear costs. Soft
        mode: 1 inside the mask, ``off_mask_scale`` outside. Init mode: None.
        """
        self.num_connections = int(self.connectivity.sum())
        full = self.num_connections == self.connectivity.numel()
        if self.mode == "init" or (self.mode == "hard" and full):
            self._multiplier = None
            return
        outside = self.off_mask_scale if self.mode == "soft" else 0.0
        self._multiplier = torch.where(self.connectivity, 1.0, outside).to(self.raw_weight.dtype)

    def _structure(self) -> CSRStructure:
        return CSRStructure(
            self.crow, self.col, self.t_crow, self.t_col, self.transpose_order, self.mask_shape
        )

    # ------------------------------------------------------------------ weights
    def reset_parameters(self) -> None:
        """Re-initialise with in-degree-scaled uniform weights (see the class docstring)."""
        bound = self.in_degree().clamp(min=1).to(self._param.dtype).rsqrt()
        with torch.no_grad():
            if self.backend == "dense":
                weight = torch.rand_like(self.raw_weight).mul_(2).sub_(1).mul_(bound[:, None])
                if self.mode != "soft":
                    weight.mul_(self.connectivity)
            elif self.edge_type is not None:
                # One strength per type: the mean bound of its connections, over their RMS entry s.
                count = torch.bincount(self.edge_type, minlength=len(self.raw_values)).clamp(min=1)
                type_bound = torch.zeros_like(self.raw_values).index_add_(0, self.edge_type, bound[self.rows])
                if self._init_scale is not None:
                    mean_square = torch.zeros_like(self.raw_values).index_add_(
                        0, self.edge_type, self._init_scale.pow(2)
                    )
                    type_bound /= (mean_square / count).sqrt().clamp(min=torch.finfo(type_bound.dtype).tiny)
                type_bound /= count
                weight = torch.rand_like(self.raw_values).mul_(2).sub_(1).mul_(type_bound)
            else:
                weight = torch.rand_like(self.raw_values).mul_(2).sub_(1).mul_(bound[self.rows])
            if self._init_scale is not None and self.edge_type is None:
                weight.mul_(self._init_scale)
            self._param.copy_(weight)
            if self.bias is not None:
                self.bias.copy_(torch.rand_like(self.bias).mul_(2).sub_(1).mul_(bound))

    @property
    def _param(self) -> nn.Parameter:
        return self.raw_weight if self.backend == "dense" else self.raw_values

    def _signed(self, raw: Tensor) -> Tensor:
        return raw if self.sign is None else self.sign * raw.abs()

    def _effective_values(self) -> Tensor:
        """Sparse backend: effective weight of each connection, (nnz,)."""
        if self.edge_type is None:
            return self._signed(self.raw_values)
        shared = self.raw_values.index_select(0, self.edge_type)  # backward sums per type
        if self._init_scale is not None:
            shared = shared * self._init_scale
        return self._signed(shared)

    def _effective_dense(self) -> Tensor:
        """Dense backend: effective weight matrix, (out_features, in_features)."""
        weight = self._signed(self.raw_weight)
        return weight if self._multiplier is None else weight * self._multiplier

    @property
    def weight(self) -> Tensor:
        """Effective weight as a dense (out_features, in_features) tensor, like ``nn.Linear.weight``.

        Differentiable: gradients flow back to the stored parameters.
        """
        if self.backend == "dense":
            return self._effective_dense()
        return self._scatter(self._effective_values())

    def sparse_weight(self) -> Tensor:
        """Effective weight as a sparse COO ``(out_features, in_features)`` tensor (sparse backend).

        For connectome-sized layers, where :attr:`weight` would be an N × N dense matrix.
        Differentiable through its values. Entries are in the mask's row-major order.
        """
        if self.backend == "dense":
            raise ValueError(
                "backend: sparse_weight needs the sparse backend; use .weight or .to_backend('sparse')"
            )
        index = torch.stack([self.rows, self.col])
        return torch.sparse_coo_tensor(index, self._effective_values(), self.mask_shape, is_coalesced=True)

    def mask_penalty(self, p: float = 1.0) -> Tensor:
        r"""Penalty on out-of-mask weights, :math:`\sum_{ij \notin M} |W_{\text{eff},ij}|^p`.

        Meaningful for ``"soft"`` and ``"init"`` modes; zero for ``"hard"``.
        """
        if self.mode == "hard":
            return self._param.new_zeros(())
        return (self._effective_dense().abs().pow(p) * ~self.connectivity).sum()

    # ------------------------------------------------------------------ forward
    def forward(self, input: Tensor) -> Tensor:
        if input.shape[-1] != self.in_features:
            raise ValueError(
                f"input: expected last dimension in_features={self.in_features}, "
                f"got shape {tuple(input.shape)}"
            )
        if self.backend == "dense":
            signed = self._signed(self.raw_weight)
            if self._multiplier is None:
                return F.linear(input, signed, self.bias)
            return MaskedLinearFunction.apply(input, signed, self._multiplier, self.bias)
        flat = input.reshape(-1, self.in_features)
        out = CSRLinearFunction.apply(flat, self._effective_values(), self._structure(), self.bias)
        return out.reshape(*input.shape[:-1], self.out_features)

    # ------------------------------------------------------------------ positions
    def attach_positions(self, in_positions: Any, out_positions: Any = None) -> ConnectomeLinear:
        """Attach spatial positions of the units, used by the wiring-cost regularisers.

        Args:
            in_positions: (in_features, d) positions of the presynaptic units.
            out_positions: (out_features, d) positions of the postsynaptic units; defaults
                to ``in_positions`` for a square (recurrent) layer.
        Returns:
            self, for chaining.
        """
        pos_in = as_tensor(in_positions, "in_positions", dtype=self._param.dtype)
        check_shape(pos_in, (self.in_features, None), "in_positions", meaning="(in_features, dim)")
        check_finite(pos_in, "in_positions")
        if out_positions is None:
            if self.in_features != self.out_features:
                raise ValueError(
                    "out_positions: required for a non-square layer "
                    f"({self.out_features} outputs, {self.in_features} inputs), got None"
                )
            pos_out = pos_in
        else:
            pos_out = as_tensor(out_positions, "out_positions", dtype=self._param.dtype)
            check_shape(
                pos_out, (self.out_features, pos_in.shape[1]), "out_positions", meaning="(out_features, dim)"
            )
            check_finite(pos_out, "out_positions")
        self.in_positions = pos_in.to(self._param.device).clone()
        self.out_positions = pos_out.to(self._param.device).clone()
        return self

    @property
    def has_positions(self) -> bool:
        return self.in_positions is not None

    def distances(self, metric: Literal["euclidean", "manhattan"] = "euclidean") -> Tensor:
        """Distances between output and input units, (out_features, in_features)."""
        if not self.has_positions:
            raise ValueError("distances: this layer has no positions; call attach_positions() first")
        if metric not in ("euclidean", "manhattan"):
            raise ValueError(f"metric: expected 'euclidean' or 'manhattan', got {metric!r}")
        return torch.cdist(self.out_positions, self.in_positions, p=2.0 if metric == "euclidean" else 1.0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        # Positions are optional buffers: adopt them from a checkpoint that has them.
        for name in ("in_positions", "out_positions"):
            if prefix + name in state_dict and getattr(self, name) is None:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        if self.backend == "sparse":
            self._adopt_sparse_structure(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if self.backend == "dense":
            self._sync_multiplier()
        else:
            self.num_connections = int(self.rows.numel())

    @torch.no_grad()
    def _adopt_sparse_structure(self, state_dict: dict[str, Any], prefix: str) -> None:
        """Sparse backend: resize the structure to a checkpoint's connection count (a pruned layer).

        Only when the checkpoint has another number of connections; the values are then copied
        in by the ordinary loading. Initial-scale factors follow their (row, column).
        """
        rows, col = state_dict.get(prefix + "rows"), state_dict.get(prefix + "col")
        if not isinstance(rows, Tensor) or not isinstance(col, Tensor) or rows.shape == self.rows.shape:
            return
        device = self.rows.device
        if self._init_scale is not None:  # matched by (row, column), without a dense matrix
            keys = self.rows * self.in_features + self.col
            wanted = rows.to(device) * self.in_features + col.to(device)
            self._init_scale = self._init_scale[torch.searchsorted(keys, wanted).clamp(max=len(keys) - 1)]
        if self.edge_type is None:  # shared strengths keep their size: one per type
            self.raw_values.data = self.raw_values.data.new_empty(rows.shape)
            self.raw_values.grad = None
        for name in (*_SPARSE_BUFFERS, "rows", "sign", "edge_type"):
            if getattr(self, name) is not None and isinstance(state_dict.get(prefix + name), Tensor):
                setattr(self, name, getattr(self, name).new_empty(state_dict[prefix + name].shape))

    def sign_matrix(self) -> Tensor | None:
        """Dale's-law signs as a dense (out_features, in_features) ±1 matrix, or None."""
        if self.sign is None:
            return None
        if self.backend == "dense":
            return self.sign.expand(self.out_features, self.in_features)
        matrix = self.sign.new_ones(self.out_features, self.in_features)
        matrix[self.rows, self.col] = self.sign
        return matrix

    @torch.no_grad()
    def to_backend(self, backend: Literal["dense", "sparse"]) -> ConnectomeLinear:
        """A new layer with the other storage and the same mask, signs, weights and bias."""
        if self.edge_type is not None:
            raise ValueError("backend: a layer with share_by exists on the sparse backend only")
        mask = self.mask if self._init_scale is None else self._strength_matrix()
        other = ConnectomeLinear(
            self.in_features, self.out_features, mask, mode=self.mode, sign=self.sign_matrix(),
            bias=self.bias is not None, backend=backend, off_mask_scale=self.off_mask_scale,
            device=self._param.device, dtype=self._param.dtype,
        )  # fmt: skip
        raw = self.raw_weight if self.backend == "dense" else self._scatter(self.raw_values)
        other._param.copy_(raw if other.backend == "dense" else raw[other.rows, other.col])
        if self.bias is not None:
            other.bias.copy_(self.bias)
        if self.has_positions:
            other.attach_positions(self.in_positions, self.out_positions)
        return other

    def _scatter(self, values: Tensor) -> Tensor:
        dense = values.new_zeros(self.out_features, self.in_features)
        return dense.index_put((self.rows, self.col), values)

    def _strength_matrix(self) -> Tensor:
        if self.backend == "dense":
            return self._init_scale * self.connectivity
        return self._scatter(self._init_scale)

    @property
    def mask_shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)

    def extra_repr(self) -> str:
        parts = [
            f"in_features={self.in_features}",
            f"out_features={self.out_features}",
            f"mode={self.mode}",
            f"density={self.density:.4g}",
            f"backend={self.backend}",
            f"bias={self.bias is not None}",
        ]
        if self.mode == "soft":
            parts.append(f"off_mask_scale={self.off_mask_scale:g}")
        if self.edge_type is not None:
            parts.append(f"shared_by={len(self.raw_values)} types")
        if self.sign is not None:
            per_connection = self.sign if self.backend == "sparse" else self.sign_matrix()[self.mask]
            excitatory = per_connection > 0
            parts.append(f"dale=excitatory {float(excitatory.float().mean()):.0%} of connections")
        if self.has_positions:
            parts.append(f"positions={self.in_positions.shape[1]}d")
        return ", ".join(parts)


def _choose_backend(backend: str, mode: str, density: float, size: int, on_gpu: bool = False) -> str:
    if backend == "sparse" and mode != "hard":
        raise ValueError(
            f"backend: 'sparse' stores only in-mask weights and needs mode='hard', got mode={mode!r}"
        )
    if backend != "auto":
        return backend
    if on_gpu:
        sparse = (
            mode == "hard" and density <= AUTO_SPARSE_MAX_DENSITY_GPU and size >= AUTO_SPARSE_MIN_SIZE_GPU
        )
    else:
        sparse = mode == "hard" and density <= AUTO_SPARSE_MAX_DENSITY and size >= AUTO_SPARSE_MIN_SIZE
    return "sparse" if sparse else "dense"
