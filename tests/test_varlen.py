"""Packed against padded batches (costmodel.varlen): torch's PackedSequence as the oracle."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_sequence
from torch.utils.flop_counter import FlopCounterMode

import costmodel as cm
from costmodel.varlen import check_lengths, padding
from test_decode import run


def _meta_flops(module, x) -> int:
    """Forward FLOPs FlopCounterMode counts; on 'meta' nn.LSTM/GRU/RNN decompose into
    counted matmuls (the CPU oneDNN kernel counts 0), packed or not."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(x)
    return counter.get_total_flops()


@settings(max_examples=8, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), d=st.integers(1, 12),
       h=st.integers(1, 12), lengths=st.lists(st.integers(1, 9), min_size=1, max_size=4))
def test_packed_and_padded_matmul_flops_equal_torch(kind, d, h, lengths):
    lengths = sorted(lengths, reverse=True)
    module = getattr(nn, kind)(d, h).to("meta")
    packed = pack_sequence([torch.empty(L, d, device="meta") for L in lengths])
    padded = torch.empty(max(lengths), len(lengths), d, device="meta")
    got = padding(getattr(cm, kind)(d, h), lengths)["matmul_flops"]
    assert got["packed"] == _meta_flops(module, packed)
    assert got["padded"] == _meta_flops(module, padded)


def test_attention_packs_to_the_sum_of_squared_lengths():
    """Flash attention's two products: 2 * 2*hd*L^2 per head per sequence, padded max^2."""
    E, h, lengths = 64, 4, (50, 30, 20)
    layer = cm.TransformerEncoderLayer(E, h, 128, dropout=0.0, attention="flash")
    score = lambda L: 2 * 2 * h * (E // h) * L * L  # noqa: E731  (q k^T and p v)
    linear = lambda L: 2 * L * (E * 3 * E + E * E + 2 * E * 128)  # noqa: E731
    got = padding(layer, lengths)["matmul_flops"]
    assert got["packed"] == sum(score(L) + linear(L) for L in lengths)
    assert got["padded"] == len(lengths) * (score(50) + linear(50))


def test_no_waste_when_every_length_is_the_same():
    out = padding(cm.LSTM(16, 16), [7, 7, 7])
    assert all(v["waste"] == 0 for v in out.values())


@pytest.mark.parametrize("lengths,word", [([], "lengths"), ([3, 0], r"lengths\[1\]"),
                                          ("12", "lengths"), ([2.5], r"lengths\[0\]")])
def test_bad_lengths_name_the_argument(lengths, word):
    with pytest.raises(ValueError, match=word):
        check_lengths(lengths)


def test_cli_padding_json_equals_library_and_refuses_zero():
    code, out, _ = run("padding", "--lengths", "5,3,2", "--d", "16", "--models", "gru",
                       "--format", "json")
    assert code == 0
    assert json.loads(out)["models"]["gru"] == padding(cm.GRU(16, 16), [5, 3, 2])
    code, out, err = run("padding", "--lengths", "5,0,2", "--d", "16")
    assert code == 2 and not out and "lengths[1]=0" in err and err.count("\n") == 1
