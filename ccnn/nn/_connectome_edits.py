"""Structural edits of a :class:`~ccnn.nn.ConnectomeLinear` in place: permuting units and pruning.

A mixin, so that the layer's file keeps to its construction, weights and forward pass. The
methods keep an optimiser's per-parameter state in step with the parameters they reorder or
shrink (BIMT's unit swaps, :class:`ccnn.callbacks.WiringPruning`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_shape, describe
from ccnn.nn._csr import csr_structure

__all__ = ["SPARSE_BUFFERS", "StructuralEditsMixin", "reorder_parameter"]

#: Buffers of the sparse backend's CSR structure (and of its transpose).
SPARSE_BUFFERS = ("crow", "col", "t_crow", "t_col", "transpose_order")


class StructuralEditsMixin:
    """``permute_outputs`` / ``permute_inputs`` / ``prune_`` of :class:`~ccnn.nn.ConnectomeLinear`."""

    # ------------------------------------------------------------------ permutations
    @torch.no_grad()
    def permute_outputs(self, perm: Tensor, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Reorder output units in place: new unit ``i`` is old unit ``perm[i]``.

        Weights, mask, signs and bias move with their unit; positions stay (they belong to
        the slots, not the units). With ``optimizer``, its per-parameter state moves too.
        """
        self._permute(perm, dim=0, optimizer=optimizer)
        if self.bias is not None:
            reorder_parameter(self.bias, perm, 0, optimizer)

    @torch.no_grad()
    def permute_inputs(self, perm: Tensor, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Reorder input units in place: new input ``j`` is old input ``perm[j]``."""
        self._permute(perm, dim=1, optimizer=optimizer)

    def _permute(self, perm: Tensor, dim: int, optimizer: torch.optim.Optimizer | None) -> None:
        size = self.out_features if dim == 0 else self.in_features
        perm = torch.as_tensor(perm, dtype=torch.long, device=self._param.device)
        if perm.shape != (size,) or not torch.equal(
            perm.sort().values, torch.arange(size, device=perm.device)
        ):
            raise ValueError(f"perm: expected a permutation of range({size}), got {describe(perm)}")
        if self.backend == "dense":
            reorder_parameter(self.raw_weight, perm, dim, optimizer)
            self.connectivity.copy_(self.connectivity.index_select(dim, perm))
            for name in ("sign", "_init_scale"):
                buf = getattr(self, name)
                if buf is None:
                    continue
                if buf.dim() == 2:
                    buf.copy_(buf.index_select(dim, perm))
                elif dim == 1:  # a per-input sign vector moves with its input
                    buf.copy_(buf[perm])
            self._sync_multiplier()
            return
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(size, device=perm.device)
        rows, cols = self.rows, self.col
        if dim == 0:
            rows = inverse[rows]
        else:
            cols = inverse[cols]
        order = torch.argsort(rows * self.in_features + cols)
        if self.edge_type is None:  # shared strengths belong to types, not to connections
            reorder_parameter(self.raw_values, order, 0, optimizer)
        for name in ("sign", "_init_scale", "edge_type"):
            buf = getattr(self, name)
            if buf is not None:
                buf.copy_(buf[order])
        self.rows.copy_(rows[order])
        structure = csr_structure(self.rows, cols[order], self.mask_shape)
        for name in SPARSE_BUFFERS:
            getattr(self, name).copy_(getattr(structure, name))

    # ------------------------------------------------------------------ pruning
    @torch.no_grad()
    def prune_(
        self,
        remove: Any,
        optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None = None,
    ) -> int:
        r"""Delete connections from the hard mask, in place: :math:`M \leftarrow M \wedge \lnot R`.

        The removed connections are exactly zero in every later forward pass and get exactly
        zero gradient, as if the layer had been built with the smaller mask (used by
        :class:`ccnn.callbacks.WiringPruning`). :attr:`num_connections`, :attr:`density`,
        :attr:`mask` and :meth:`in_degree` follow; a ``state_dict`` saved afterwards loads
        into a layer built with the original mask.

        * Dense backend: the mask buffer loses the connections, their stored weights are
          set to 0, and with ``optimizer`` their per-weight state (Adam's moments) is zeroed
          too, so the raw weights stay 0 as well. The parameter keeps its shape: any
          optimiser goes on working, also without ``optimizer``, and under DDP.
        * Sparse backend: the connections leave the CSR structure and the parameter vector
          ``raw_values`` shrinks to the remaining ones (the same ``Parameter`` object with new
          data; its ``.grad`` shrinks alike). Pass every ``optimizer`` that holds it: its
          state tensors of the parameter's size shrink with it (without that, a stateful
          optimiser such as Adam fails at its next step on a size mismatch). A changing
          parameter size does not work under ``DistributedDataParallel``, whose gradient
          buckets are sized once: prune dense layers there.

        Args:
            remove: (out_features, in_features) bool tensor or array; ``True`` marks a
                connection to delete. Each must be a connection currently in the mask.
            optimizer: the optimiser, or a list of them, holding this layer's parameters
                (see above); ``None`` touches no optimiser state.

        Returns:
            The number of connections removed.

        Raises:
            ValueError: ``mode`` is not ``"hard"``; ``remove`` has the wrong shape, marks a
                connection that is not in the mask, or every remaining connection.
            TypeError: ``remove`` is not boolean.

        Example:
            >>> from ccnn.nn import ConnectomeLinear
            >>> layer = ConnectomeLinear(3, 2, torch.ones(2, 3, dtype=torch.bool))
            >>> layer.prune_(torch.tensor([[True, False, False], [False, False, True]]))
            2
            >>> layer.mask.int().tolist(), layer.num_connections
            ([[0, 1, 1], [1, 1, 0]], 4)
        """
        if self.mode != "hard":
            raise ValueError(f"mode: prune_ needs a layer with mode='hard', got mode={self.mode!r}")
        remove = as_tensor(remove, "remove")
        if remove.dtype != torch.bool:
            raise TypeError(
                f"remove: expected a bool (out_features, in_features) tensor, got {describe(remove)}"
            )
        check_shape(remove, self.mask_shape, "remove", meaning="(out_features, in_features)")
        remove = remove.to(self._param.device)
        outside = remove & ~self.mask
        if bool(outside.any()):
            first = tuple(int(i) for i in outside.nonzero()[0])
            raise ValueError(
                f"remove: expected connections of the mask only, got {int(outside.sum())} outside it "
                f"(first at {first})"
            )
        count = int(remove.sum())
        if count == 0:
            return 0
        if count == self.num_connections:
            raise ValueError(
                f"remove: would delete all {count} connections of the layer; at least one must stay"
            )
        optimizers = _as_optimizers(optimizer)
        param = self._param
        if self.backend == "dense":
            # A new tensor, not an in-place edit: the buffer may share memory with the caller's mask.
            self.connectivity = self.connectivity & ~remove
            param.masked_fill_(remove, 0)
            if param.grad is not None:
                param.grad.masked_fill_(remove, 0)
            for opt in optimizers:
                for value in opt.state.get(param, {}).values():
                    if isinstance(value, Tensor) and value.shape == param.shape:
                        value.masked_fill_(remove, 0)
            self._sync_multiplier()
            return count
        keep = (~remove[self.rows, self.col]).nonzero().squeeze(1)
        for name in ("sign", "_init_scale", "edge_type"):
            buf = getattr(self, name)
            if buf is not None:
                setattr(self, name, buf[keep])
        rows, cols = self.rows[keep], self.col[keep]
        structure = csr_structure(rows, cols, self.mask_shape)
        self.rows = rows
        for name in SPARSE_BUFFERS:
            setattr(self, name, getattr(structure, name))
        self.num_connections = int(rows.numel())
        if self.edge_type is not None:  # the shared strengths stay: a type may lose connections
            return count
        for opt in optimizers:
            state = opt.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, Tensor) and value.shape == param.shape:
                    state[key] = value[keep]
        grad = param.grad
        param.grad = None
        param.data = param.data[keep]
        if grad is not None:
            param.grad = grad[keep]
        return count


@torch.no_grad()
def reorder_parameter(
    param: Tensor, index: Tensor, dim: int, optimizer: torch.optim.Optimizer | None = None
) -> None:
    """``param ← param.index_select(dim, index)`` in place, and the same for its optimiser state.

    Keeping the Parameter object (and reordering e.g. Adam's moments alongside) means an
    optimiser keeps working after units are permuted.
    """
    param.copy_(param.index_select(dim, index))
    if optimizer is not None and param in optimizer.state:
        for value in optimizer.state[param].values():
            if isinstance(value, Tensor) and value.shape == param.shape:
                value.copy_(value.index_select(dim, index))


def _as_optimizers(optimizer: Any) -> list[torch.optim.Optimizer]:
    """``None``, one optimiser or a sequence of them, as a list."""
    if optimizer is None:
        return []
    items = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else optimizer
    if not isinstance(items, Sequence) or not all(isinstance(o, torch.optim.Optimizer) for o in items):
        raise TypeError(f"optimizer: expected a torch optimizer or a list of them, got {describe(optimizer)}")
    return list(items)
