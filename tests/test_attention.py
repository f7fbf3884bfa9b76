"""MultiheadAttention against torch's nn.MultiheadAttention on the CPU (train mode).

Which kernel the CPU runs (torch 2.13, fp32, training mode):
* need_weights=True (a direct call's default): bmm -> _softmax -> bmm (baddbmm with a mask).
* need_weights=False, dropout 0: aten._scaled_dot_product_flash_attention_for_cpu and its
  _backward. FlopCounterMode has no formula for these two ops and counts 0 for them: we map
  torch's own flash formulas (sdpa_flop_count, sdpa_backward_flop_count, used for the CUDA
  flash/efficient/cudnn ops) onto them and match that exactly.
* need_weights=False, dropout > 0: the math backend (bmm, _safe_softmax, dropout, bmm).
"""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import (sdpa_backward_flop_count,
                                      sdpa_flop_count)

import costmodel as cm
from costmodel import symbols as S
from oracle import matmul_flops
from oracle import assert_three_routes_agree
from oracle import num_params as params_of
from oracle import saved_bytes as torch_saved

aten = torch.ops.aten
#: torch's flash-attention formulas applied to the CPU flash ops it leaves uncounted.
CPU_FLASH_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu:
        lambda q, k, v, *args, out_shape=None, **kw: sdpa_flop_count(q, k, v),
    aten._scaled_dot_product_flash_attention_for_cpu_backward:
        lambda g, q, k, v, *args, out_shape=None, **kw: sdpa_backward_flop_count(g, q, k, v),
}


def torch_flops(module, *inputs, flash_formulas=False, **kwargs):
    """(forward, backward) FlopCounterMode totals; inputs do not require grad."""
    return matmul_flops(module, *inputs,
                        custom_mapping=CPU_FLASH_FORMULAS if flash_formulas else None, **kwargs)


class OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.__name__)
        return func(*args, **(kwargs or {}))


def inputs_for(E, n, b, n_src=None, kdim=None, vdim=None, batch_first=True):
    """(query, key, value) as the costmodel assumes: self-attention passes one tensor three
    times; cross-attention one memory tensor for key and value when their widths agree."""
    def tensor(length, width):
        return torch.randn(b, length, width) if batch_first else torch.randn(length, b, width)
    x = tensor(n, E)
    if kdim is None and vdim is None:
        return x, x, x
    key = tensor(n_src, kdim or E)
    value = key if (kdim or E) == (vdim or E) else tensor(n_src, vdim or E)
    return x, key, value


configs = st.fixed_dictionaries({
    "heads": st.integers(1, 4), "head_dim": st.integers(1, 6), "n": st.integers(1, 12),
    "b": st.integers(1, 4), "n_src": st.integers(1, 12), "bias": st.booleans(),
    "add_bias_kv": st.booleans(), "add_zero_attn": st.booleans(),
    "kdim": st.none() | st.integers(1, 24), "vdim": st.none() | st.integers(1, 24),
    "batch_first": st.booleans(), "dropout": st.sampled_from([0.0, 0.25]),
})


def build_both(c, **kw):
    E = c["heads"] * c["head_dim"]
    args = dict(dropout=c["dropout"], bias=c["bias"], add_bias_kv=c["add_bias_kv"],
                add_zero_attn=c["add_zero_attn"], kdim=c["kdim"], vdim=c["vdim"],
                batch_first=c["batch_first"])
    rec = cm.MultiheadAttention(E, c["heads"], **args, mask_bytes=S.dtype_bytes, **kw)
    torch.manual_seed(0)
    mod = nn.MultiheadAttention(E, c["heads"], **args)
    ins = inputs_for(E, c["n"], c["b"], c["n_src"], c["kdim"], c["vdim"], c["batch_first"])
    return rec.evaluate(n=c["n"], batch=c["b"], n_src=c["n_src"]), mod, ins


@settings(max_examples=25, deadline=None)
@given(c=configs)
# batch 1 with batch_first: the transposed memory is contiguous, saved once for k and v
@example(c=dict(heads=1, head_dim=1, n=1, b=1, n_src=1, bias=False, add_bias_kv=False,
                add_zero_attn=False, kdim=2, vdim=2, batch_first=True, dropout=0.0))
def test_math_need_weights_matches_torch(c):
    """The direct call: need_weights=True, bmm path, every argument drawn."""
    r, mod, ins = build_both(c)
    assert r["params"] == params_of(mod)
    assert (r["matmul_flops"], r["matmul_flops_backward"]) == torch_flops(mod, *ins)
    assert r["activation_bytes"] == torch_saved(mod, *ins)


@settings(max_examples=25, deadline=None)
@given(c=configs)
def test_sdpa_paths_match_torch(c):
    """need_weights=False: flash for CPU with dropout 0, the math backend with dropout."""
    kernel = "flash" if c["dropout"] == 0 else "math"
    r, mod, ins = build_both(c, need_weights=False, attention=kernel)
    counted = torch_flops(mod, *ins, need_weights=False, flash_formulas=True)
    assert (r["matmul_flops"], r["matmul_flops_backward"]) == counted
    assert r["activation_bytes"] == torch_saved(mod, *ins, need_weights=False)


@settings(max_examples=10, deadline=None)
@given(c=configs)
def test_forced_math_backend_without_dropout(c):
    c = {**c, "dropout": 0.0}
    r, mod, ins = build_both(c, need_weights=False, attention="math")
    with sdpa_kernel(SDPBackend.MATH):
        counted = torch_flops(mod, *ins, need_weights=False)
        saved = torch_saved(mod, *ins, need_weights=False)
    assert (r["matmul_flops"], r["matmul_flops_backward"]) == counted
    assert r["activation_bytes"] == saved


def test_cpu_backends_and_raw_counter():
    """Golden numbers, E=8, h=2, n=5, batch=3, self-attention.

    projections: in_proj 2*15*8*24 = 5760, out_proj 2*15*8*8 = 1920;
    one attention product: 2 * (3*2*5) * 4 * 5 = 1200.
    """
    E, h, n, b = 8, 2, 5, 3
    x = torch.randn(b, n, E)
    torch.manual_seed(0)
    mod = nn.MultiheadAttention(E, h, batch_first=True)
    with OpLog() as log:
        mod(x, x, x, need_weights=False)[0].sum().backward()
    assert "_scaled_dot_product_flash_attention_for_cpu.default" in log.ops
    assert "_scaled_dot_product_flash_attention_for_cpu_backward.default" in log.ops
    # raw FlopCounterMode counts 0 for the CPU flash ops: projections only
    # forward 5760 + 1920 = 7680; backward dW(in_proj) 5760 + dX, dW(out_proj) 2*1920 = 9600
    assert torch_flops(mod, x, x, x, need_weights=False) == (7680, 9600)
    # with torch's flash formulas: + 2*1200 forward, + 5*1200 backward (scores recomputed)
    assert torch_flops(mod, x, x, x, need_weights=False, flash_formulas=True) == (10080, 15600)
    flash = cm.MultiheadAttention(E, h, attention="flash", need_weights=False)
    got = flash.evaluate(n=n, batch=b)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (10080, 15600)
    # need_weights=True: bmm path, 2 products forward, 4 backward
    assert torch_flops(mod, x, x, x) == (10080, 9600 + 4 * 1200)
    # dropout in training: the math backend
    drop = nn.MultiheadAttention(E, h, dropout=0.1, batch_first=True)
    with OpLog() as log:
        drop(x, x, x, need_weights=False)[0].sum().backward()
    assert "bmm.default" in log.ops and "_safe_softmax.default" in log.ops
    assert not any("flash" in op for op in log.ops)


@pytest.mark.parametrize("need_weights", [True, False])
def test_causal_math_counts_dense(need_weights):
    E, h, n, b = 8, 2, 6, 2
    x = torch.randn(b, n, E)
    mask = nn.Transformer.generate_square_subsequent_mask(n)
    mod = nn.MultiheadAttention(E, h, batch_first=True)
    kw = dict(need_weights=need_weights, attn_mask=mask, is_causal=True)
    # the math backend is forced below, so the record names it (auto would be CPU flash)
    rec = cm.MultiheadAttention(E, h, causal=True, need_weights=need_weights,
                                attention="math").evaluate(n=n, batch=b)
    with sdpa_kernel(SDPBackend.MATH):
        assert (rec["matmul_flops"], rec["matmul_flops_backward"]) == torch_flops(mod, x, x, x,
                                                                                  **kw)
        assert rec["activation_bytes"] == torch_saved(mod, x, x, x, **kw)


def test_causal_flash_counts_the_triangle():
    """FlopCounterMode's flash formula ignores is_causal; we count n(n+1)/2 pairs per head.

    E=8, h=2, n=6, b=2: dense product 2*(2*2*6)*4*6 = 1152, triangle 2*(2*2)*4*21 = 672.
    """
    E, h, n, b = 8, 2, 6, 2
    x = torch.randn(b, n, E)
    mask = nn.Transformer.generate_square_subsequent_mask(n)
    mod = nn.MultiheadAttention(E, h, batch_first=True)
    fwd, bwd = torch_flops(mod, x, x, x, need_weights=False, attn_mask=mask, is_causal=True,
                           flash_formulas=True)
    rec = cm.MultiheadAttention(E, h, attention="flash", need_weights=False, causal=True)
    got = rec.evaluate(n=n, batch=b)
    assert fwd - got["matmul_flops"] == 2 * (1152 - 672)
    assert bwd - got["matmul_flops_backward"] == 5 * (1152 - 672)
    assert got["activation_bytes"] == torch_saved(mod, x, x, x, need_weights=False,
                                                  attn_mask=mask, is_causal=True)


def _core(kernel):
    rec = cm.MultiheadAttention("E", "h", attention=kernel, need_weights=False)
    return next(p for p in rec.parts if p.name.endswith("_attention"))


def test_score_memory_quadratic_for_math_linear_for_flash():
    math_bytes = sp.Poly(_core("math").activation_bytes, S.n)
    flash_bytes = sp.Poly(_core("flash").activation_bytes, S.n)
    assert math_bytes.degree() == 2 and flash_bytes.degree() == 1
    h = sp.Symbol("h", positive=True, integer=True)
    # the probabilities: batch * h * n^2 elements of s bytes
    assert math_bytes.coeff_monomial(S.n ** 2) == S.batch * h * S.dtype_bytes
    # doubling n: the math score part x4 exactly, the flash logsumexp x2
    assert sp.simplify(_core("flash").activation_bytes.subs(S.n, 2 * S.n)
                       - 2 * _core("flash").activation_bytes) == 0


@pytest.mark.parametrize("kernel, depth", [("math", 4), ("flash", 3)])
def test_depth_independent_of_n(kernel, depth):
    rec = cm.MultiheadAttention("E", "h", attention=kernel, need_weights=False)
    assert rec.depth_forward == rec.depth_backward == depth


def test_kv_cache_state_bytes():
    assert cm.MultiheadAttention(16, 4).state_bytes == 2 * S.batch * S.n * 16 * S.dtype_bytes
    cross = cm.MultiheadAttention(16, 4, kdim=8, vdim=8)
    assert cross.state_bytes == 2 * S.batch * S.n_src * 16 * S.dtype_bytes


@pytest.mark.parametrize("kw", [dict(), dict(attention="flash", need_weights=False),
                                dict(kdim="k", vdim="v", add_bias_kv=True, dropout=0.1)])
def test_symbolic_equals_evaluate_equals_vectorize(kw):
    rec = cm.MultiheadAttention("E", "h", **kw)
    sizes = {"E": 12, "h": 3, **({"k": 5, "v": 7} if "kdim" in kw else {})}
    assert_three_routes_agree(rec, sizes, n=7, batch=3, n_src=4)
    assert rec.evaluate(n=7, batch=3, n_src=4, **sizes) == cm.MultiheadAttention(12, 3, **{**kw, **(
        {"kdim": 5, "vdim": 7} if "kdim" in kw else {})}).evaluate(n=7, batch=3, n_src=4)


@settings(max_examples=15, deadline=None)
@given(c=configs, kernel=st.sampled_from(["math", "flash"]))
def test_monotone_in_every_size(c, kernel):
    """Growing any size never lowers any quantity, while the layout stays the same: a kdim or
    vdim that becomes equal to embed_dim switches torch to the packed projection, and kdim
    == vdim means one memory tensor feeds both (saved once)."""
    E, h = c["heads"] * c["head_dim"], c["heads"]
    kw = dict(attention=kernel, need_weights=False, kdim=c["kdim"], vdim=c["vdim"],
              add_bias_kv=c["add_bias_kv"])
    at = dict(n=c["n"], batch=c["b"], n_src=c["n_src"])
    base = cm.MultiheadAttention(E, h, **kw).evaluate(**at)
    grown = [cm.MultiheadAttention(E, h, **kw).evaluate(**{**at, key: at[key] + 1})
             for key in at]
    if E + h not in (c["kdim"], c["vdim"]):
        grown.append(cm.MultiheadAttention(E + h, h, **kw).evaluate(**at))
    for dim, other in (("kdim", "vdim"), ("vdim", "kdim")):
        if c[dim] is not None and c[dim] + 1 not in (E, c[other]):
            grown.append(cm.MultiheadAttention(E, h, **{**kw, dim: c[dim] + 1}).evaluate(**at))
    for bigger in grown:
        assert all(bigger[q] >= base[q] for q in cm.FIELDS)


@pytest.mark.parametrize("call, words", [
    (lambda: cm.MultiheadAttention(10, 3), ("embed_dim=10", "num_heads=3")),
    (lambda: cm.MultiheadAttention(0, 1), ("embed_dim",)),
    (lambda: cm.MultiheadAttention(8, -2), ("num_heads",)),
    (lambda: cm.MultiheadAttention(8.0, 2), ("embed_dim",)),
    (lambda: cm.MultiheadAttention(float("nan"), 2), ("embed_dim",)),
    (lambda: cm.MultiheadAttention(8, 2, kdim=0), ("kdim",)),
    (lambda: cm.MultiheadAttention(8, 2, attention="sparse"), ("attention",)),
    (lambda: cm.MultiheadAttention(8, 2, attention="flash"), ("need_weights",)),
    (lambda: cm.MultiheadAttention(8, 2, dropout=2.0), ("dropout",)),
    (lambda: cm.MultiheadAttention(8, 2, kdim=4, causal=True), ("causal",)),
    (lambda: cm.MultiheadAttention(8, 2, causal="yes"), ("causal",)),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert all(w in str(err.value) for w in words)



def test_need_weights_averages_the_weights_over_heads_as_its_own_reduction():
    """nn.MultiheadAttention's default (need_weights=True, average_attn_weights=True) returns
    attn_output_weights.mean(dim=1) (functional.py multi_head_attention_forward): one more
    pass over P [b, h, n, L] writing [b, n, L]. b=2, h=4, n=L=64, fp32: P is 2*4*64*64*4 =
    131,072 B, so the pass moves 131,072 + 32,768 = 163,840 B and adds one FLOP per entry
    (32,768); without need_weights there is no such kernel."""
    import costmodel as cm

    def forward_kernels(**kw):
        rec = cm.MultiheadAttention(32, 4, **kw)
        return {k["name"]: k for k in rec.kernel_values(n=64, batch=2, dtype="fp32")
                if k["phase"] == "forward"}

    with_weights = forward_kernels()
    (avg,) = [k for name, k in with_weights.items() if name.endswith("average_weights")]
    assert avg["kind"] == "reduction"
    assert float(avg["bytes"]) == 2 * 4 * 64 * 64 * 4 * (1 + 1 / 4) == 163_840
    assert float(avg["flops"]) == 2 * 4 * 64 * 64
    without = forward_kernels(need_weights=False)
    assert not any(name.endswith("average_weights") for name in without)
    # no backward: the averaged weights are an output no loss usually reads
    rec = cm.MultiheadAttention(32, 4)
    assert not any("average_weights" in k["name"] and k["phase"] == "backward"
                   for k in rec.kernel_values(n=64, batch=2, dtype="fp32"))


def test_torch_runs_the_head_mean_the_need_weights_record_prices():
    """The oracle for the kernel above: PyTorch's MHA with its defaults runs mean.dim over
    the [b, h, n, L] weights; with need_weights=False it does not."""

    class Means(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is aten.mean.dim:
                self.shapes.append(tuple(args[0].shape))
            return func(*args, **(kwargs or {}))

    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(2, 64, 32)
    with torch.no_grad():
        with Means() as seen:
            mha(x, x, x)
        assert seen.shapes == [(2, 4, 64, 64)]
        with Means() as seen:
            mha(x, x, x, need_weights=False)
        assert seen.shapes == []
