"""CSR sparse linear map with a hand-written backward pass.

PyTorch's own autograd through ``sparse_csr_tensor(...) @ dense`` is correct but slow on
the CPU (131 ms forward + backward at 4096², 1 % density, batch 256, against about 15 ms
here; see ``benchmarks/connectome_linear_speed.py``). Both gradients are themselves sparse
kernels:

* ``grad_input = grad_output @ W``: a CSR matrix product with the transposed structure,
  which is precomputed once per mask;
* ``grad_values = (grad_outputᵀ @ input)`` sampled at the connections only: an SDDMM
  (``torch.sparse.sampled_addmm``), O(nnz · batch) instead of O(out · in · batch).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class CSRStructure(NamedTuple):
    """Index arrays of a fixed sparsity pattern (row-major edge order) and of its transpose."""

    crow: Tensor  # (out + 1,)
    col: Tensor  # (nnz,)
    t_crow: Tensor  # (in + 1,)
    t_col: Tensor  # (nnz,)
    transpose_order: Tensor  # (nnz,): values[transpose_order] are the values of Wᵀ in its row order
    shape: tuple[int, int]


def csr_structure(rows: Tensor, cols: Tensor, shape: tuple[int, int]) -> CSRStructure:
    """Build the structure from edge indices sorted row-major (as ``nonzero`` returns them)."""
    n_out, n_in = shape
    transpose_order = torch.argsort(cols * n_out + rows, stable=True)
    return CSRStructure(
        crow=_compressed(rows, n_out),
        col=cols,
        t_crow=_compressed(cols[transpose_order], n_in),
        t_col=rows[transpose_order],
        transpose_order=transpose_order,
        shape=shape,
    )


def _compressed(sorted_index: Tensor, n: int) -> Tensor:
    counts = torch.bincount(sorted_index, minlength=n)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def _spmm(
    crow: Tensor,
    col: Tensor,
    values: Tensor,
    shape: tuple[int, int],
    dense: Tensor,
    bias: Tensor | None = None,
) -> Tensor:
    """``CSR(shape) @ dense`` (+ ``bias`` per row) into a fresh ``(shape[0], batch)`` tensor.

    ``torch.sparse.mm`` zero-fills a result and copies it around the kernel (about 1 ms per
    call at 4096 × 256 on the 2-core CPU); ``addmm`` into an uninitialised ``out`` with
    ``beta=0`` skips both, and with a bias (``beta=1``) adds it in the same pass.
    """
    weight = torch.sparse_csr_tensor(crow, col, values, shape)
    if dense.device.type != "cpu":  # measured on the CPU only: elsewhere the plain product
        product = torch.sparse.mm(weight, dense)
        return product if bias is None else product + bias[:, None]
    out = dense.new_empty(shape[0], dense.shape[1])
    if bias is None:
        return torch.addmm(out, weight, dense, beta=0.0, out=out)
    return torch.addmm(bias[:, None].expand_as(out), weight, dense, out=out)


class CSRLinearFunction(torch.autograd.Function):
    """``y = x @ Wᵀ (+ b)`` for a CSR weight ``W`` (out × in) given by its ``values``.

    ``x``: (batch, in); ``values``: (nnz,) in the row-major order of ``structure``; ``bias``:
    (out,) or None; returns (batch, out), a transposed view of an (out, batch) tensor (free to
    transpose again for a next sparse layer).
    """

    @staticmethod
    def forward(
        ctx, x: Tensor, values: Tensor, structure: CSRStructure, bias: Tensor | None = None
    ) -> Tensor:  # type: ignore[override]
        # The CPU kernel wants the dense operand as a contiguous (in, batch) matrix; it is
        # free when x comes from another sparse layer (whose output is that transposed view).
        x_t = x.t().contiguous()
        ctx.structure = structure
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x_t, values)
        return _spmm(structure.crow, structure.col, values, structure.shape, x_t, bias).t()

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x_t, values = ctx.saved_tensors
        s: CSRStructure = ctx.structure
        grad_x = grad_values = grad_bias = None
        grad_y_t = grad_y.t().contiguous()  # (out, batch)
        if ctx.needs_input_grad[0]:
            values_t = values.index_select(0, s.transpose_order)
            grad_x = _spmm(s.t_crow, s.t_col, values_t, (s.shape[1], s.shape[0]), grad_y_t).t()
        if ctx.needs_input_grad[1]:
            # SDDMM: (grad_yᵀ @ x) at the connections only. beta=0 ignores the pattern's
            # values (reusing them avoids a zero-filled allocation); a column-major x makes
            # each sampled dot product a contiguous read.
            pattern = torch.sparse_csr_tensor(s.crow, s.col, values.detach(), s.shape)
            grad_values = torch.sparse.sampled_addmm(pattern, grad_y_t, x_t.t(), beta=0.0).values()
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = grad_y_t.sum(1)
        return grad_x, grad_values, None, grad_bias
