"""Linear, Embedding, LayerNorm, activations and Dropout against torch (CPU eager)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import costmodel as cm
from costmodel import symbols as S
from oracle import matmul_flops as torch_flops
from oracle import assert_three_routes_agree
from oracle import num_params as params_of
from oracle import saved_bytes as torch_saved

dims = st.integers(1, 24)
lengths = st.integers(1, 12)
batches = st.integers(1, 4)


@settings(max_examples=25, deadline=None)
@given(i=dims, o=dims, bias=st.booleans(), n=lengths, b=batches, grad=st.booleans())
def test_linear_matches_torch(i, o, bias, n, b, grad):
    rec = cm.Linear(i, o, bias=bias, input_requires_grad=grad).evaluate(n=n, batch=b)
    layer = nn.Linear(i, o, bias=bias)
    x = torch.randn(b, n, i, requires_grad=grad)
    assert rec["params"] == params_of(layer)
    assert (rec["matmul_flops"], rec["matmul_flops_backward"]) == torch_flops(layer, x)
    assert rec["activation_bytes"] == torch_saved(layer, x)


def test_linear_golden():
    # forward 2 * (2*3 tokens) * 4 * 5 = 240; backward dW only: 2 * 5 * 6 * 4 = 240
    r = cm.Linear(4, 5).evaluate(n=3, batch=2)
    assert (r["matmul_flops"], r["matmul_flops_backward"]) == (240, 240)
    assert cm.Linear(4, 5, input_requires_grad=True).evaluate(n=3, batch=2)["matmul_flops_backward"] \
        == 2 * 240
    assert r["params"] == 4 * 5 + 5


@settings(max_examples=25, deadline=None)
@given(num=dims, d=dims, n=lengths, b=batches)
def test_embedding_matches_torch(num, d, n, b):
    rec = cm.Embedding(num, d, padding_idx=num - 1).evaluate(n=n, batch=b)
    emb = nn.Embedding(num, d, padding_idx=num - 1)
    idx = torch.randint(0, num, (b, n))
    assert rec["params"] == params_of(emb)
    assert (rec["matmul_flops"], rec["matmul_flops_backward"]) == torch_flops(emb, idx) == (0, 0)
    # the int64 indices: 8 bytes each
    assert rec["activation_bytes"] == torch_saved(emb, idx) == b * n * 8


@settings(max_examples=25, deadline=None)
@given(d=dims, affine=st.booleans(), bias=st.booleans(), n=lengths, b=batches)
def test_layernorm_matches_torch(d, affine, bias, n, b):
    rec = cm.LayerNorm(d, elementwise_affine=affine, bias=bias).evaluate(n=n, batch=b)
    norm = nn.LayerNorm(d, elementwise_affine=affine, bias=bias)
    x = torch.randn(b, n, d, requires_grad=True)
    assert rec["params"] == params_of(norm)
    # input (b*n*d*4) + mean and rstd (b*n*4 each), fp32
    assert rec["activation_bytes"] == torch_saved(norm, x) == (b * n * d + 2 * b * n) * 4
    assert rec["matmul_flops"] == 0


def test_layernorm_tuple_shape():
    rec = cm.LayerNorm((3, 4)).evaluate(n=2, batch=1)
    assert rec["params"] == params_of(nn.LayerNorm((3, 4))) == 24


@pytest.mark.parametrize("make, module", [
    (lambda d: cm.ReLU(features=d), nn.ReLU()),
    (lambda d: cm.GELU(features=d), nn.GELU()),
    (lambda d: cm.GELU("tanh", features=d), nn.GELU("tanh")),
    (lambda d: cm.Tanh(features=d), nn.Tanh()),
])
def test_activations_save_one_tensor(make, module):
    # the activation sits behind a trainable layer, so its input requires grad
    x = torch.randn(3, 5, 7, requires_grad=True)
    rec = make(7).evaluate(n=5, batch=3)
    assert rec["activation_bytes"] == torch_saved(module, x) == 3 * 5 * 7 * 4
    assert rec["params"] == 0 and rec["matmul_flops"] == 0


def test_dropout_mask_bytes():
    # CPU eager saves the scaled noise in the input dtype: 3*5*7 elements * 4 bytes = 420.
    # CUDA's native_dropout saves a bool mask: 105 bytes (the default, mask_bytes=1).
    x = torch.randn(3, 5, 7, requires_grad=True)
    assert torch_saved(nn.Dropout(0.5), x) == 420
    cpu = cm.Dropout(0.5, features=7, mask_bytes=S.dtype_bytes).evaluate(n=5, batch=3)
    assert cpu["activation_bytes"] == 420
    assert cm.Dropout(features=7).evaluate(n=5, batch=3)["activation_bytes"] == 105
    # p = 0 is the identity: nothing saved
    assert torch_saved(nn.Dropout(0.0), x) == 0
    assert cm.Dropout(0.0, features=7).evaluate(n=5, batch=3)["activation_bytes"] == 0


@pytest.mark.parametrize("build", [
    lambda: cm.Linear("i", "o"), lambda: cm.Embedding("v", "d"), lambda: cm.LayerNorm("d"),
    lambda: cm.GELU(features="d"), lambda: cm.Dropout(0.1, features="d"),
])
def test_symbolic_equals_evaluate_equals_vectorize(build):
    rec = build()
    sizes = {s.name: 6 for s in rec.free_symbols if s.name not in ("n", "batch", "s", "k_opt")}
    assert_three_routes_agree(rec, sizes, n=7, batch=3)


@settings(max_examples=15, deadline=None)
@given(i=dims, o=dims, n=lengths, b=batches)
def test_monotone_in_every_size(i, o, n, b):
    base = cm.Linear(i, o).evaluate(n=n, batch=b)
    for bigger in (cm.Linear(i + 1, o).evaluate(n=n, batch=b),
                   cm.Linear(i, o + 1).evaluate(n=n, batch=b),
                   cm.Linear(i, o).evaluate(n=n + 1, batch=b),
                   cm.Linear(i, o).evaluate(n=n, batch=b + 1)):
        assert all(bigger[q] >= base[q] for q in cm.FIELDS)


@pytest.mark.parametrize("call, word", [
    (lambda: cm.Linear(0, 3), "in_features"),
    (lambda: cm.Linear(3, -1), "out_features"),
    (lambda: cm.Linear(2.5, 3), "in_features"),
    (lambda: cm.Linear(float("nan"), 3), "in_features"),
    (lambda: cm.Linear(3, 3, bias="yes"), "bias"),
    (lambda: cm.Embedding(4, 3, padding_idx=4), "padding_idx"),
    (lambda: cm.LayerNorm(0), "normalized_shape"),
    (lambda: cm.LayerNorm(4, eps=-1.0), "eps"),
    (lambda: cm.GELU("fast"), "approximate"),
    (lambda: cm.Dropout(1.5), "p"),
    (lambda: cm.Dropout(0.5, mask_bytes=0), "mask_bytes"),
    (lambda: cm.ReLU(features=0), "features"),
])
def test_bad_input_names_the_argument(call, word):
    with pytest.raises(ValueError, match=word):
        call()
