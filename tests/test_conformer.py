"""ConformerBlock against a small PyTorch Conformer block written here (torchaudio's
ConformerLayer layout, time-major). Params, forward/backward matmul FLOPs and saved bytes
exact.

FlopCounterMode counts the depthwise convolution's grad_weight d_model times (it ignores
groups, see test_conv.py): the counter is ours plus (d - 1) x that convolution's forward.
With dropout 0 the CPU runs the flash attention op, which FlopCounterMode leaves uncounted:
torch's own flash formulas are mapped onto it (test_attention.torch_flops).
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import assert_three_routes_agree, num_params, saved_bytes
from test_attention import torch_flops
from torch import nn

import costmodel as cm
from costmodel import symbols as S


def ffn(d, f, p):
    return nn.Sequential(nn.LayerNorm(d), nn.Linear(d, f), nn.SiLU(), nn.Dropout(p),
                         nn.Linear(f, d), nn.Dropout(p))


class ConformerRef(nn.Module):
    def __init__(self, d, h, f, K, p):
        super().__init__()
        self.ffn1, self.ffn2 = ffn(d, f, p), ffn(d, f, p)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, h, dropout=p)
        self.attn_dropout = nn.Dropout(p)
        self.conv_norm = nn.LayerNorm(d)
        self.conv = nn.Sequential(
            nn.Conv1d(d, 2 * d, 1), nn.GLU(dim=1),
            nn.Conv1d(d, d, K, padding=(K - 1) // 2, groups=d), nn.BatchNorm1d(d), nn.SiLU(),
            nn.Conv1d(d, d, 1), nn.Dropout(p))
        self.final_norm = nn.LayerNorm(d)

    def forward(self, x):  # x: (n, b, d)
        x = 0.5 * self.ffn1(x) + x
        y = self.attn_norm(x)
        x = self.attn_dropout(self.attn(y, y, y, need_weights=False)[0]) + x
        x = self.conv(self.conv_norm(x).permute(1, 2, 0)).permute(2, 0, 1) + x
        x = 0.5 * self.ffn2(x) + x
        return self.final_norm(x)


configs = st.fixed_dictionaries({
    "h": st.integers(1, 3), "hd": st.integers(1, 4), "f": st.integers(1, 12),
    "K": st.sampled_from([1, 3, 5]), "n": st.integers(2, 7), "b": st.integers(1, 3),
    "dropout": st.sampled_from([0.0, 0.1]),  # n >= 2: BatchNorm needs 2 values per channel
})


@settings(max_examples=20, deadline=None)
@given(c=configs)
def test_conformer_matches_torch(c):
    d = c["h"] * c["hd"]
    kernel = "flash" if c["dropout"] == 0 else "math"
    rec = cm.ConformerBlock(d, c["h"], c["f"], c["K"], c["dropout"], attention=kernel,
                            mask_bytes=S.dtype_bytes)  # CPU eager: dropout noise in fp32
    got = rec.evaluate(n=c["n"], batch=c["b"])
    torch.manual_seed(0)
    ref = ConformerRef(d, c["h"], c["f"], c["K"], c["dropout"])
    x = torch.randn(c["n"], c["b"], d)
    fwd, bwd = torch_flops(ref, x, flash_formulas=True)
    assert got["params"] == num_params(ref)
    # autograd also keeps BatchNorm's running_mean and running_var (2 d fp32 buffers): module
    # state that exists anyway, not activations, so not in our count
    assert got["activation_bytes"] + 2 * d * 4 == saved_bytes(ref, x)
    assert got["matmul_flops"] == fwd
    depthwise = 2 * c["b"] * c["n"] * d * c["K"]
    assert got["matmul_flops_backward"] + (d - 1) * depthwise == bwd


def test_conformer_golden():
    """d=16, h=2, f=32, K=5, n=6, b=2 (t=12 tokens), dropout 0.1 (math attention).

    params: each FFN LayerNorm 32 + Linear(16, 32) 544 + Linear(32, 16) 528 = 1104, two:
    2208; attention LayerNorm 32 + in_proj 16*48 + 48 = 816 + out_proj 272 = 1120;
    convolution module LayerNorm 32 + Conv1d(16, 32, 1) 544 + depthwise 16*5 + 16 = 96
    + BatchNorm 32 + Conv1d(16, 16, 1) 272 = 976; final LayerNorm 32: 4336.
    forward matmul: FFNs 2 * (2*12*16*32 + 2*12*32*16) = 49152; attention in_proj
    2*12*16*48 = 18432, scores and values 2 * 2*(2*2*6)*8*6 = 4608, out_proj 2*12*16*16
    = 6144; convolutions 2*12*32*16 = 12288, 2*12*16*5 = 1920, 2*12*16*16 = 6144:
    49152 + 29184 + 20352 = 98688. Backward: every product's dX and dW (the first LayerNorm
    is the only op whose input needs no gradient), the attention core's four products:
    2 * (98688 - 4608) + 2 * 4608 = 197376.
    """
    got = cm.ConformerBlock(16, 2, 32, 5, 0.1).evaluate(n=6, batch=2)
    assert got["params"] == 2208 + 1120 + 976 + 32 == 4336
    assert got["matmul_flops"] == 49152 + 29184 + 20352 == 98688
    assert got["matmul_flops_backward"] == 2 * (98688 - 4608) + 2 * 4608 == 197376


def test_conformer_params_formula():
    """Params per block, written out: two FFNs 2 (2d + 2df + f + d), attention
    2d + 4d^2 + 4d, convolution module 2d + (2d^2 + 2d) + (dK + d) + 2d + (d^2 + d),
    final LayerNorm 2d."""
    d, f = sp.symbols("d f", positive=True, integer=True)
    expected = (2 * (2 * d + 2 * d * f + f + d) + 2 * d + 4 * d ** 2 + 4 * d
                + 2 * d + 2 * d ** 2 + 2 * d + 31 * d + d + 2 * d + d ** 2 + d + 2 * d)
    assert sp.expand(cm.ConformerBlock("d", 4, "f").params - expected) == 0


def test_conformer_depth_and_parts():
    """FFN 2 + attention 4 (math: q/k/v, scores, values, out) + convolutions 3 + FFN 2."""
    rec = cm.ConformerBlock("d", "h", dropout=0.1)
    assert rec.depth_forward == rec.depth_backward == 11
    names = [p.name for p in rec.parts]
    assert names[:3] == ["ffn1.norm", "ffn1.linear1", "ffn1.silu"]
    assert "conv.depthwise" in names and "conv.batchnorm" in names and \
        names[-1] == "final_layer_norm"
    assert cm.ConformerBlock("d", "h", dropout=0.0, attention="flash").depth_forward == 10


def test_symbolic_equals_evaluate_equals_vectorize():
    assert_three_routes_agree(cm.ConformerBlock("d", 2, "f", 3), {"d": 8, "f": 12},
                              n=7, batch=3)


@pytest.mark.parametrize("call, words", [
    (lambda: cm.ConformerBlock(16, 2, depthwise_conv_kernel_size=4), ("kernel_size=4", "odd")),
    (lambda: cm.ConformerBlock(16, 3), ("embed_dim=16", "num_heads=3")),
    (lambda: cm.ConformerBlock(0, 2), ("d_model=0",)),
    (lambda: cm.ConformerBlock(16, 2, ffn_dim=0), ("ffn_dim=0",)),
    (lambda: cm.ConformerBlock(16, 2, dropout=2.0), ("dropout",)),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert all(w in str(err.value) for w in words)
