"""LinearAttention and Linformer against small PyTorch reference modules written here.

Every product in both references is a matmul FlopCounterMode counts (linear maps, the
sequence projections E K and F V, the per-head bmm), so forward and backward matmul FLOPs
are checked exactly; the feature map, softmax and division are elementwise (not counted).
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import assert_three_routes_agree, matmul_flops, num_params, saved_bytes
from torch import nn

import costmodel as cm
from costmodel import symbols as S


def split_heads(t, h):
    b, length, width = t.shape
    return t.view(b, length, h, width // h).transpose(1, 2)  # (b, h, length, hd)


class LinearAttentionRef(nn.Module):
    """Katharopoulos et al. (2020), non-causal, phi(x) = elu(x) + 1."""

    def __init__(self, E, h, bias):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(E, E, bias=bias) for _ in range(4))

    def forward(self, x):  # x: (b, n, E)
        b, n, E = x.shape
        q = F.elu(split_heads(self.q_proj(x), self.h)) + 1
        k = F.elu(split_heads(self.k_proj(x), self.h)) + 1
        v = split_heads(self.v_proj(x), self.h)
        kv = k.transpose(-2, -1) @ v  # (b, h, hd, hd)
        z = k.sum(-2).unsqueeze(-1)  # (b, h, hd, 1)
        out = (q @ kv) / (q @ z)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, E))


class LinformerRef(nn.Module):
    """Wang et al. (2020): keys and values projected along the sequence to k rows."""

    def __init__(self, E, h, k, n, bias, share_kv):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(E, E, bias=bias) for _ in range(4))
        self.proj_k = nn.Parameter(torch.randn(k, n) / n)
        self.proj_v = self.proj_k if share_kv else nn.Parameter(torch.randn(k, n) / n)

    def forward(self, x):  # x: (b, n, E)
        b, n, E = x.shape
        q = split_heads(self.q_proj(x) * (E // self.h) ** -0.5, self.h)
        keys = split_heads(self.proj_k @ self.k_proj(x), self.h)  # [k, n] @ [b, n, E]
        values = split_heads(self.proj_v @ self.v_proj(x), self.h)
        p = torch.softmax(q @ keys.transpose(-2, -1), dim=-1)  # (b, h, n, k)
        return self.out_proj((p @ values).transpose(1, 2).reshape(b, n, E))


configs = st.fixed_dictionaries({
    "h": st.integers(1, 3), "hd": st.integers(1, 4), "n": st.integers(1, 9),
    "b": st.integers(1, 3), "bias": st.booleans(), "k": st.integers(1, 5),
    "share_kv": st.booleans(),
})


def check(record, ref, c):
    """params, matmul FLOPs and the bytes autograd saves (saved_tensors_hooks), exactly."""
    got = record.evaluate(n=c["n"], batch=c["b"])
    x = torch.randn(c["b"], c["n"], c["h"] * c["hd"])
    fwd, bwd = matmul_flops(ref, x)
    assert got["params"] == num_params(ref)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (fwd, bwd)
    assert got["activation_bytes"] == saved_bytes(ref, x)


@settings(max_examples=25, deadline=None)
@given(c=configs)
def test_linear_attention_matches_torch(c):
    E = c["h"] * c["hd"]
    torch.manual_seed(0)
    check(cm.LinearAttention(E, c["h"], c["bias"]), LinearAttentionRef(E, c["h"], c["bias"]), c)


@settings(max_examples=25, deadline=None)
@given(c=configs)
def test_linformer_matches_torch(c):
    E = c["h"] * c["hd"]
    torch.manual_seed(0)
    ref = LinformerRef(E, c["h"], c["k"], c["n"], c["bias"], c["share_kv"])
    check(cm.Linformer(E, c["h"], c["k"], c["bias"], c["share_kv"]), ref, c)


def test_golden_linear_attention():
    """E=8, h=2 (hd=4), n=5, b=2 (t=10).

    forward: q, k, v, out projections 4 * 2*10*8*8 = 5120; kv 2*(2*2*4)*5*4 = 640;
    num 2*(2*2*5)*4*4 = 640; den 2*(2*2*5)*4*1 = 160: 6560.
    backward: q, k, v dW 3*1280 (the input needs no grad), out_proj dX + dW 2560,
    kv, num, den two products each 2*(640 + 640 + 160) = 2880: 9280.
    params: 4 * (64 + 8) = 288.
    """
    got = cm.LinearAttention(8, 2).evaluate(n=5, batch=2)
    assert got["matmul_flops"] == 5120 + 640 + 640 + 160 == 6560
    assert got["matmul_flops_backward"] == 3 * 1280 + 2560 + 2880 == 9280
    assert got["params"] == 288


def test_golden_linformer():
    """E=8, h=2, k=3, n=5, b=2, separate E and F.

    forward: four projections 5120; E K and F V 2 * 2*(2*3)*5*8 = 960; scores and av
    2 * 2*(2*2*5)*4*3 = 960: 7040. params: 288 + 2 * 3*5 = 318.
    backward: q, k, v dW 3840, out_proj 2560, sequence projections dE and dK each 2 * 960,
    scores and av 2 * 960: 6400 + 1920 + 1920 = 10240.
    """
    got = cm.Linformer(8, 2, 3).evaluate(n=5, batch=2)
    assert got["matmul_flops"] == 5120 + 960 + 960 == 7040
    assert got["params"] == 288 + 30 == 318
    assert got["matmul_flops_backward"] == 3840 + 2560 + 1920 + 1920 == 10240


def test_memory_linear_in_n():
    """Saved activations: linear attention O(b n E) (no n^2, no n k); Linformer O(b h n k);
    math attention O(b h n^2)."""
    lin = sp.Poly(cm.LinearAttention("E", "h").activation_bytes.replace(
        sp.Min, lambda *args: 1), S.n)  # the copy switches are 1 for batch, n > 1
    former = sp.Poly(cm.Linformer("E", "h", "k").activation_bytes, S.n)
    full = sp.Poly(cm.MultiheadAttention("E", "h").activation_bytes, S.n)
    assert lin.degree() == 1 and former.degree() == 1 and full.degree() == 2
    k = S.size_symbol("k")
    assert k not in lin.free_symbols and k in former.coeff_monomial(S.n).free_symbols
    # attention matmul FLOPs: linear attention's and Linformer's are linear in n
    assert sp.Poly(cm.LinearAttention("E", "h").matmul_flops, S.n).degree() == 1
    assert sp.Poly(cm.Linformer("E", "h", "k").matmul_flops, S.n).degree() == 1
    # Linformer's E and F are sized by n: params grow with n
    assert S.n in cm.Linformer("E", "h", "k").params.free_symbols


def test_depth_constant():
    assert cm.LinearAttention("E", "h").depth_forward == 4
    assert cm.Linformer("E", "h", "k").depth_backward == 5


@pytest.mark.parametrize("make, sizes", [
    (lambda: cm.LinearAttention("E", 2), {"E": 8}),
    (lambda: cm.Linformer("E", 2, "k", share_kv=True), {"E": 8, "k": 3}),
])
def test_symbolic_equals_evaluate_equals_vectorize(make, sizes):
    assert_three_routes_agree(make(), sizes, n=7, batch=3)


@pytest.mark.parametrize("call, words", [
    (lambda: cm.Linformer(8, 2, k=0), ("k=0", ">= 1")),
    (lambda: cm.Linformer(8, 2, k=-3), ("k=-3",)),
    (lambda: cm.Linformer(8, 2, k=2.5), ("k=2.5",)),
    (lambda: cm.Linformer(8, 3, k=4), ("embed_dim=8", "num_heads=3")),
    (lambda: cm.LinearAttention(10, 4), ("embed_dim=10", "num_heads=4")),
    (lambda: cm.LinearAttention(8, 2, bias="yes"), ("bias",)),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert all(w in str(err.value) for w in words)
