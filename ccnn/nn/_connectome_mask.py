"""Masks, signs and sharing indices of :class:`~ccnn.nn.ConnectomeLinear`, parsed into edge lists.

A mask arrives dense (bool or weighted tensor / array), as a torch sparse tensor, or as a
``ccnn.data.Connectome`` (dense or sparse weights). It leaves as an :class:`EdgeMask`: the
connections in row-major order (row = output unit, then column = input unit), which is the
order of ``dense.nonzero()`` and of a coalesced COO tensor's indices, so that a connectome of
45,000 neurons is never expanded to an N × N matrix on the sparse path.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ccnn._validation import as_tensor, check_finite, check_shape, describe

__all__ = ["EdgeMask", "parse_mask", "parse_share_by", "parse_sign"]


class EdgeMask(NamedTuple):
    """Connections of an ``(n_out, n_in)`` mask in row-major order."""

    rows: Tensor  # (E,) long
    cols: Tensor  # (E,) long
    strength: Tensor | None  # (E,) |weight| of a weighted mask, None for a binary one
    coords: Tensor | None  # positions of a Connectome's nodes, or None
    shape: tuple[int, int]

    def dense_connected(self) -> Tensor:
        connected = torch.zeros(self.shape, dtype=torch.bool)
        connected[self.rows, self.cols] = True
        return connected

    def dense_strength(self) -> Tensor | None:
        if self.strength is None:
            return None
        dense = self.strength.new_zeros(self.shape)
        dense[self.rows, self.cols] = self.strength
        return dense


def _is_sparse(tensor: Any) -> bool:
    return isinstance(tensor, Tensor) and tensor.layout != torch.strided


def _sparse_entries(tensor: Tensor, name: str, shape: tuple[int, int], meaning: str) -> tuple[Tensor, Tensor]:
    """Coalesced ``(indices (2, E), values (E,))`` of a torch sparse matrix, on the CPU."""
    check_shape(tensor, shape, name, meaning=meaning)
    coo = tensor.detach().cpu().to_sparse_coo().coalesce()
    return coo.indices(), coo.values()


def parse_mask(mask: Any, n_out: int, n_in: int) -> EdgeMask:
    """The connections of ``mask`` (module docstring), with a weighted mask's strengths."""
    coords = None
    if not isinstance(mask, Tensor | np.ndarray | list | tuple) and hasattr(mask, "weights"):
        coords = getattr(mask, "coords", None)  # a ccnn.data.Connectome, by duck typing
        mask = mask.weights
    meaning = "(out_features, in_features)"
    if _is_sparse(mask):
        indices, values = _sparse_entries(mask, "mask", (n_out, n_in), meaning)
        if values.dtype != torch.bool:
            values = values.double() if values.dtype == torch.float64 else values.float()
            check_finite(values, "mask")
        keep = values != 0 if values.dtype != torch.bool else values
        rows, cols, values = indices[0][keep], indices[1][keep], values[keep]
    else:
        dense = as_tensor(mask, "mask").detach().cpu()
        check_shape(dense, (n_out, n_in), "mask", meaning=meaning)
        if dense.dtype != torch.bool:
            dense = dense.double() if dense.dtype == torch.float64 else dense.float()
            check_finite(dense, "mask")
        rows, cols = dense.nonzero(as_tuple=True)
        values = dense[rows, cols]
    if rows.numel() == 0:
        raise ValueError(f"mask: expected at least one connection, got an all-zero ({n_out}, {n_in}) mask")
    strength = None
    if values.dtype != torch.bool and not bool((values == 1).all()):
        strength = values.abs()
    return EdgeMask(rows, cols, strength, coords, (n_out, n_in))


def _values_at(tensor: Tensor, edges: EdgeMask, name: str, meaning: str) -> Tensor:
    """Entries of a dense or sparse ``(n_out, n_in)`` tensor at the mask's connections."""
    if not _is_sparse(tensor):
        return tensor[edges.rows, edges.cols]
    indices, values = _sparse_entries(tensor, name, edges.shape, meaning)
    n_in = edges.shape[1]
    keys = indices[0] * n_in + indices[1]  # sorted: the tensor is coalesced
    wanted = edges.rows * n_in + edges.cols
    position = torch.searchsorted(keys, wanted).clamp(max=max(len(keys) - 1, 0))
    found = keys.numel() > 0 and bool((keys[position] == wanted).all())
    if not found:
        raise ValueError(
            f"{name}: expected an entry at every connection of the mask, got a sparse tensor lacking some"
        )
    return values[position]


def parse_sign(sign: Any, edges: EdgeMask) -> tuple[Tensor | None, bool]:
    """``(sign, per_input)``: a ±1 float32 sign per input unit ``(n_in,)`` (``per_input`` True),
    or per connection ``(E,)`` read from an ``(n_out, n_in)`` dense or sparse matrix; or
    ``(None, False)`` without a sign."""
    if sign is None:
        return None, False
    n_out, n_in = edges.shape
    meaning = "(in_features,) or (out_features, in_features)"
    tensor = (sign if _is_sparse(sign) else as_tensor(sign, "sign")).detach().cpu()
    if tensor.dim() == 1:
        check_shape(tensor, (n_in,), "sign", meaning=meaning)
        values = tensor
    else:
        if not _is_sparse(tensor):
            check_shape(tensor, (n_out, n_in), "sign", meaning=meaning)
        values = _values_at(tensor, edges, "sign", meaning)
    valid = (values == 1) | (values == -1)
    if not bool(valid.all()):
        bad = values[~valid].unique()[:5].tolist()
        raise ValueError(
            f"sign: expected entries in {{-1, +1}} (at the mask's connections), got other values {bad}"
        )
    # A fresh contiguous copy: the buffer must not alias the caller's (possibly expanded) tensor.
    return values.to(torch.float32, memory_format=torch.contiguous_format, copy=True), tensor.dim() == 1


def parse_share_by(share_by: Any, edges: EdgeMask) -> tuple[Tensor, Tensor]:
    """``(index, types)``: each connection's position ``(E,)`` (long, 0 … T−1) in ``types``, the
    ``T`` distinct type labels (sorted) that occur.

    ``share_by`` holds one non-negative integer per connection: a ``(E,)`` vector in the
    mask's row-major connection order, or an ``(out_features, in_features)`` dense or sparse
    matrix read at the connections.
    """
    n_connections = edges.rows.numel()
    meaning = f"({n_connections},) one per connection in row-major order, or (out_features, in_features)"
    tensor = share_by if _is_sparse(share_by) else as_tensor(share_by, "share_by")
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() or tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(f"share_by: expected integer connection types, got {describe(share_by)}")
    if tensor.dim() == 1:
        if tensor.numel() != n_connections:
            raise ValueError(f"share_by: expected shape {meaning}, got {tuple(tensor.shape)}")
        types = tensor.long()
    else:
        if not _is_sparse(tensor):
            check_shape(tensor, edges.shape, "share_by", meaning=meaning)
        types = _values_at(tensor, edges, "share_by", meaning).long()
    if bool((types < 0).any()):
        raise ValueError(f"share_by: expected types >= 0, got minimum {int(types.min())}")
    # Renumber to 0 … T−1 so that no parameter is left without a connection.
    unique, index = torch.unique(types, return_inverse=True)
    return index, unique
