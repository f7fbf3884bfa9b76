"""Transformer layers and stacks against torch (CPU, train mode, so never the fast path).

Backends: with dropout > 0 the CPU runs sdpa's math backend (attention="math"); with dropout 0
it runs _scaled_dot_product_flash_attention_for_cpu (attention="flash"), which FlopCounterMode
counts only through torch's own flash formulas mapped onto it (see test_attention.py).
Dropout masks: CPU eager saves them in the input dtype, hence mask_bytes=symbols.dtype_bytes.
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

import costmodel as cm
from costmodel import symbols as S
from test_attention import torch_flops
from oracle import assert_three_routes_agree
from oracle import num_params as params_of
from oracle import saved_bytes as torch_saved

configs = st.fixed_dictionaries({
    "heads": st.integers(1, 3), "head_dim": st.integers(1, 4), "ff": st.integers(1, 24),
    "n": st.integers(1, 8), "n_src": st.integers(1, 8), "b": st.integers(1, 3),
    "dropout": st.sampled_from([0.0, 0.1]), "activation": st.sampled_from(["relu", "gelu"]),
    "norm_first": st.booleans(), "bias": st.booleans(), "batch_first": st.booleans(),
    "forced_math": st.booleans(), "layers": st.integers(1, 3),
})


def layer_args(c):
    return dict(dim_feedforward=c["ff"], dropout=c["dropout"], activation=c["activation"],
                batch_first=c["batch_first"], norm_first=c["norm_first"], bias=c["bias"])


def kernel_of(c):
    return "flash" if c["dropout"] == 0 and not c["forced_math"] else "math"


def tensor(c, length, d):
    return torch.randn((c["b"], length, d) if c["batch_first"] else (length, c["b"], d))


def measure(mod, *inputs, forced_math=False):
    """(params, forward, backward, saved) as torch reports them."""
    if forced_math:
        with sdpa_kernel(SDPBackend.MATH):
            return measure(mod, *inputs)
    fwd, bwd = torch_flops(mod, *inputs, flash_formulas=True)
    return params_of(mod), fwd, bwd, torch_saved(mod, *inputs)


def ours(rec, c):
    r = rec.evaluate(n=c["n"], batch=c["b"], n_src=c["n_src"])
    return r["params"], r["matmul_flops"], r["matmul_flops_backward"], r["activation_bytes"]


@settings(max_examples=25, deadline=None)
@given(c=configs)
def test_encoder_layer_and_stack_match_torch(c):
    d, h = c["heads"] * c["head_dim"], c["heads"]
    rec = cm.TransformerEncoderLayer(d, h, **layer_args(c), attention=kernel_of(c),
                                     mask_bytes=S.dtype_bytes)
    torch.manual_seed(0)
    mod = nn.TransformerEncoderLayer(d, h, **layer_args(c))
    x = tensor(c, c["n"], d)
    assert ours(rec, c) == measure(mod, x, forced_math=c["forced_math"])
    stack = nn.TransformerEncoder(mod, c["layers"], norm=nn.LayerNorm(d),
                                  enable_nested_tensor=False)
    got = cm.TransformerEncoder(rec, c["layers"], norm=cm.LayerNorm(d))
    assert ours(got, c) == measure(stack, x, forced_math=c["forced_math"])


@settings(max_examples=25, deadline=None)
@given(c=configs)
def test_decoder_layer_and_stack_match_torch(c):
    d, h = c["heads"] * c["head_dim"], c["heads"]
    rec = cm.TransformerDecoderLayer(d, h, **layer_args(c), attention=kernel_of(c),
                                     mask_bytes=S.dtype_bytes)
    torch.manual_seed(0)
    mod = nn.TransformerDecoderLayer(d, h, **layer_args(c))
    tgt, memory = tensor(c, c["n"], d), tensor(c, c["n_src"], d)
    assert ours(rec, c) == measure(mod, tgt, memory, forced_math=c["forced_math"])
    stack = nn.TransformerDecoder(mod, c["layers"])
    # batch_first: each layer saves its own contiguous copy of the memory (none at batch 1
    # or n_src 1); time-major: all layers save the one memory tensor
    got = cm.TransformerDecoder(rec, c["layers"])
    assert ours(got, c) == measure(stack, tgt, memory, forced_math=c["forced_math"])


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_causal_self_attention(kind):
    """Math: dense FLOPs as FlopCounterMode counts. Flash: the kept triangle.

    d=8, h=2, n=6, b=2: dense product 2*(2*2*6)*4*6 = 1152, triangle 2*(2*2)*4*21 = 672;
    the flash record is 2*(1152-672) = 960 below the counter forward, 5*480 = 2400 backward.
    """
    d, h, n, b, n_src = 8, 2, 6, 2, 3
    mask = nn.Transformer.generate_square_subsequent_mask(n)
    x, memory = torch.randn(b, n, d), torch.randn(b, n_src, d)
    for kernel, dropout in (("math", 0.1), ("flash", 0.0)):
        make = cm.TransformerEncoderLayer if kind == "encoder" else cm.TransformerDecoderLayer
        rec = make(d, h, 16, dropout, batch_first=True, attention=kernel, causal=True,
                   mask_bytes=S.dtype_bytes).evaluate(n=n, batch=b, n_src=n_src)
        torch.manual_seed(0)
        if kind == "encoder":
            mod = nn.TransformerEncoderLayer(d, h, 16, dropout, batch_first=True)
            args, kw = (x,), dict(src_mask=mask, is_causal=True)
        else:
            mod = nn.TransformerDecoderLayer(d, h, 16, dropout, batch_first=True)
            args, kw = (x, memory), dict(tgt_mask=mask, tgt_is_causal=True)
        fwd, bwd = torch_flops(mod, *args, flash_formulas=True, **kw)
        gap = (0, 0) if kernel == "math" else (960, 2400)
        assert (fwd - rec["matmul_flops"], bwd - rec["matmul_flops_backward"]) == gap
        assert rec["activation_bytes"] == torch_saved(mod, *args, **kw)


def test_golden_encoder_layer():
    """d=8, h=2, ff=16, n=5, batch=3 (15 tokens), dropout 0.1, math on the CPU.

    forward: in_proj 2*15*8*24 = 5760, scores and av 2*1200 = 2400, out_proj 2*15*8*8 = 1920,
    linear1 2*15*8*16 = 3840, linear2 3840: 17760.
    backward: in_proj dW 5760; 4 products 4800; out_proj dX+dW 3840; linear1, linear2 dX+dW
    4*3840 = 15360: 29760.
    """
    rec = cm.TransformerEncoderLayer(8, 2, 16, batch_first=True).evaluate(n=5, batch=3)
    assert (rec["matmul_flops"], rec["matmul_flops_backward"]) == (17760, 29760)
    # params: in_proj 8*24+24, out_proj 8*8+8, linear1 8*16+16, linear2 16*8+8, 2 norms 2*16
    assert rec["params"] == 216 + 72 + 144 + 136 + 32 == 600


def test_breakdown_names_and_sums():
    rec = cm.TransformerEncoderLayer("d", "h", "f")
    names = [p.name for p in rec.parts]
    assert names == ["self_attn", "dropout1", "residual1", "norm1", "linear1", "activation",
                     "dropout", "linear2", "dropout2", "residual2", "norm2"]
    for q in ("params", "matmul_flops", "activation_bytes", "elementwise_flops_backward"):
        assert sp.simplify(sum(p.get(q) for p in rec.parts) - rec.get(q)) == 0
    # attention="auto" without a device: PyTorch's CPU in training with dropout 0.1 runs math
    assert rec.config.d_model == S.size_symbol("d") and rec.config.attention == "auto"
    assert rec.config.kernel == "math"
    kernel_names = {k.name for k in rec.kernels}
    assert {"self_attn.in_proj", "self_attn.out_proj", "linear1", "linear2.grad_input"} \
        <= kernel_names


def test_stack_is_layers_in_series():
    layer = cm.TransformerEncoderLayer("d", "h", "f", attention="flash", dropout=0.0)
    stack = cm.TransformerEncoder(layer, "L")
    L = S.size_symbol("L")
    for q in ("params", "matmul_flops", "activation_bytes", "state_bytes", "depth_forward"):
        assert sp.simplify(stack.get(q) - L * layer.get(q)) == 0
    # later layers add the grad-input matmul of in_proj: 2 * batch*n * 3d * d each
    d = S.size_symbol("d")
    extra = (L - 1) * 2 * S.batch * S.n * 3 * d * d
    assert sp.simplify(stack.matmul_flops_backward - L * layer.matmul_flops_backward
                       - extra) == 0


@pytest.mark.parametrize("kernel, depth", [("math", 6), ("flash", 5)])
def test_depth_independent_of_n(kernel, depth):
    rec = cm.TransformerEncoderLayer("d", "h", attention=kernel, dropout=0.0)
    assert rec.depth_forward == rec.depth_backward == depth
    dec = cm.TransformerDecoderLayer("d", "h", attention=kernel, dropout=0.0)
    assert dec.depth_forward == 2 * depth - 2  # two attentions, one FFN


def test_kv_cache_state_bytes():
    d, s = S.size_symbol("d"), S.dtype_bytes
    assert cm.TransformerEncoderLayer("d", "h").state_bytes == 2 * S.batch * S.n * d * s
    dec = cm.TransformerDecoder(cm.TransformerDecoderLayer("d", "h"), 3)
    assert sp.simplify(dec.state_bytes - 3 * 2 * S.batch * (S.n + S.n_src) * d * s) == 0


def test_attention_memory_quadratic_for_math_linear_for_flash():
    def saved(kernel):
        rec = cm.TransformerEncoderLayer("d", "h", "f", dropout=0.0, attention=kernel)
        return sp.Poly(rec.activation_bytes, S.n)
    assert saved("math").degree() == 2 and saved("flash").degree() == 1


@pytest.mark.parametrize("make", [cm.TransformerEncoderLayer, cm.TransformerDecoderLayer])
def test_symbolic_equals_evaluate_equals_vectorize(make):
    rec = cm.TransformerDecoder(make("d", "h", "f"), "L") if make is cm.TransformerDecoderLayer \
        else cm.TransformerEncoder(make("d", "h", "f", norm_first=True), "L")
    sizes = {"d": 12, "h": 3, "f": 20, "L": 2}
    assert_three_routes_agree(rec, sizes, n=7, batch=3, n_src=5)


@settings(max_examples=15, deadline=None)
@given(c=configs)
def test_monotone_in_every_size(c):
    d, h = c["heads"] * c["head_dim"], c["heads"]
    args = layer_args(c)
    at = dict(n=c["n"], batch=c["b"], n_src=c["n_src"])

    def ev(d=d, ff=c["ff"], layers=c["layers"], **where):
        layer = cm.TransformerDecoderLayer(d, h, **{**args, "dim_feedforward": ff},
                                           attention=kernel_of(c))
        return cm.TransformerDecoder(layer, layers).evaluate(**{**at, **where})
    base = ev()
    grown = [ev(d=d + h), ev(ff=c["ff"] + 1), ev(layers=c["layers"] + 1)]
    grown += [ev(**{k: v + 1}) for k, v in at.items()]
    for bigger in grown:
        assert all(bigger[q] >= base[q] for q in cm.FIELDS)


@pytest.mark.parametrize("call, words", [
    (lambda: cm.TransformerEncoderLayer(10, 3), ("d_model=10", "nhead=3")),
    (lambda: cm.TransformerEncoderLayer(8, 2, activation="swish"), ("activation",)),
    (lambda: cm.TransformerEncoderLayer(8, 2, activation=torch.relu), ("activation",)),
    (lambda: cm.TransformerDecoderLayer(8, 2, attention="paged"), ("attention",)),
    (lambda: cm.TransformerEncoderLayer(0, 2), ("d_model",)),
    (lambda: cm.TransformerEncoderLayer(8, 2, dim_feedforward=-4), ("dim_feedforward",)),
    (lambda: cm.TransformerEncoderLayer(8, 2, dim_feedforward=3.5), ("dim_feedforward",)),
    (lambda: cm.TransformerEncoderLayer(float("nan"), 2), ("d_model",)),
    (lambda: cm.TransformerEncoderLayer(8, 2, dropout=-0.1), ("dropout",)),
    (lambda: cm.TransformerEncoder(cm.TransformerEncoderLayer(8, 2), 0), ("num_layers",)),
    (lambda: cm.TransformerEncoder(cm.TransformerDecoderLayer(8, 2), 2), ("encoder_layer",)),
    (lambda: cm.TransformerDecoder(cm.Linear(8, 8), 2), ("decoder_layer",)),
    (lambda: cm.TransformerEncoder(cm.TransformerEncoderLayer(8, 2), 2, attention="x"),
     ("attention",)),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert all(w in str(err.value) for w in words)
