"""Tests of ccnn.nn.link_decoders against hand calculations."""

from __future__ import annotations

import math

import pytest
import torch

from ccnn.nn.link_decoders import (
    DirectedInnerProductDecoder,
    GravityDecoder,
    InnerProductDecoder,
    build_decoder,
)

EDGES = torch.tensor([[0, 1, 2], [1, 2, 0]])  # 0 -> 1, 1 -> 2, 2 -> 0


def test_inner_product_is_symmetric_and_matches_a_dot_product():
    z = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    decoder = InnerProductDecoder()
    assert decoder.input_dim(2) == 2
    assert torch.allclose(decoder(z, EDGES), torch.tensor([1.0, 1.0, 1.5]))
    assert torch.equal(decoder(z, EDGES), decoder(z, EDGES.flip(0)))


def test_directed_decoder_uses_source_of_j_target_of_i_and_both_biases():
    decoder = DirectedInnerProductDecoder(latent_dim=1)
    assert decoder.input_dim(1) == 4
    # columns: source u, target v, out-bias a, in-bias b
    z = torch.tensor([[2.0, 0.0, 1.0, 0.0], [0.0, 3.0, 0.0, 0.5], [1.0, 1.0, 0.0, 0.0]])
    # 0 -> 1: u0 v1 + a0 + b1 = 6 + 1 + 0.5; 1 -> 2: u1 v2 + a1 + b2 = 0; 2 -> 0: u2 v0 + a2 + b0 = 0
    assert torch.allclose(decoder(z, EDGES), torch.tensor([7.5, 0.0, 0.0]))
    # the reverse 1 -> 0: u1 v0 + a1 + b0 = 0, unlike 0 -> 1
    assert decoder(z, torch.tensor([[1], [0]])).item() == 0.0


def test_gravity_decoder_follows_salha_et_al():
    decoder = GravityDecoder(latent_dim=2, lam=2.0, eps=0.0 + 1e-12)
    z = torch.tensor([[0.0, 0.0, 1.0], [3.0, 4.0, 2.0], [0.0, 1.0, -1.0]])  # positions, mass
    logits = decoder(z, EDGES)
    # 0 -> 1: m1 - 2 log(25); 1 -> 2: m2 - 2 log(9 + 9); 2 -> 0: m0 - 2 log(1)
    expected = torch.tensor([2.0 - 2 * math.log(25.0), -1.0 - 2 * math.log(18.0), 1.0])
    assert torch.allclose(logits, expected, atol=1e-5)
    assert decoder.input_dim(2) == 3


def test_unknown_decoder_is_named():
    with pytest.raises(
        ValueError, match=r"decoder: expected one of \('inner', 'directed', 'gravity'\), got 'mlp'"
    ):
        build_decoder("mlp", 4)
    with pytest.raises(ValueError, match="lam: expected a finite float > 0"):
        build_decoder("gravity", 4, lam=0.0)
