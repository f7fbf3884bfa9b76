"""PyTorch's SDPA dispatch (costmodel.implementations.sdpa): the table per device, dtype, mode,
mask and head dim, each case with the PyTorch rule it encodes; on this CPU, the CPU rules
checked against torch itself (profiler op names of real module forwards)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.profiler import ProfilerActivity, profile

import costmodel as cm
from costmodel.hardware import load_hardware
from costmodel.implementations import sdpa
from costmodel.implementations.sdpa import CPU, Target, dispatch

A100, H100 = Target("cuda", (8, 0)), Target("cuda", (9, 0))
A10, T4, V100 = Target("cuda", (8, 6)), Target("cuda", (7, 5)), Target("cuda", (7, 0))
MI300 = Target("rocm", (8, 0))

# (target, dtype, mode, keywords, kernel, the PyTorch rule)
TABLE = [
    (A100, "fp16", "training", {}, "flash", "can_use_flash_attention: fp16 on sm80"),
    (A100, "bf16", "inference", {}, "flash", "check_dtypes_flash_attention: bf16 on sm80"),
    (A100, "fp32", "training", {}, "memory-efficient",
     "check_dtypes_low_precision refuses fp32 for flash; mem-efficient takes fp32"),
    (A100, "fp16", "training", {"mask": "padding"}, "memory-efficient",
     "check_for_attn_mask: flash refuses an attn_mask"),
    (A100, "fp16", "training", {"mask": "causal"}, "flash",
     "multi_head_attention_forward: causal -> is_causal, no attn_mask; flash takes it"),
    (A100, "fp16", "training", {"head_dim": 320}, "memory-efficient",
     "check_head_dim_size_flash: head_dim <= 256"),
    (A100, "fp32", "training", {"head_dim": 30}, "math",
     "minimum_gemm_alignment: fp32 on sm80 needs head_dim % 4 == 0"),
    (A100, "fp16", "training", {"head_dim": 60}, "flash",
     "check_head_dim_size_flash: head_dim <= 256 (the composite pads it to a multiple of 8)"),
    (A10, "fp16", "training", {"head_dim": 200}, "memory-efficient",
     "check_requires_grad_and_head_dim_gt192_...: sm86-89 training head_dim in (192, 224]"),
    (A10, "fp16", "inference", {"head_dim": 200}, "flash", "the sm86 rule: training only"),
    (A10, "fp16", "training", {"head_dim": 240, "dropout": 0.1}, "memory-efficient",
     "sm86-89: head_dim in (224, 256] only without dropout"),
    (A10, "fp16", "training", {"head_dim": 240}, "flash", "sm86-89: (224, 256], no dropout"),
    (H100, "fp16", "training", {}, "cudnn",
     "check_prefer_cudnn_attention: cuDNN first on sm90 (cuDNN > 9.15)"),
    (H100, "fp16", "training", {"dropout": 0.1}, "cudnn",
     "any dropout: measured on an H200, torch 2.11 + cuDNN 9.19 (validation/results/"
     "gpu-h200-s6/run1: ScaledDotProductCudnnAttentionBackward0 at dropout 0.1)"),
    (H100, "fp16", "training", {"head_dim": 192}, "flash",
     "check_cudnn_tensor_shapes: head_dim <= 128 (flash takes <= 256)"),
    (H100, "fp32", "training", {}, "memory-efficient", "cuDNN and flash are fp16/bf16 only"),
    (T4, "fp16", "training", {}, "memory-efficient",
     "check_flash_attention_hardware_support: sm80..sm121; mem-efficient sm50+"),
    (T4, "bf16", "training", {}, "math", "mem-efficient below sm80: fp16 and fp32 only"),
    (V100, "fp32", "training", {"head_dim": 30}, "memory-efficient",
     "minimum_gemm_alignment: sm70 fp32 has no tensor cores, alignment 1"),
    (MI300, "fp16", "training", {}, "flash", "ROCm (AOTriton): the sm80 rules, no cuDNN"),
    (A100, "fp16", "training", {"need_weights": True}, "math",
     "multi_head_attention_forward: need_weights=True takes bmm + softmax"),
    (A100, "fp16", "inference", {"batch_first": True, "num_heads": 12}, "flash",
     "native_multi_head_attention_cuda: fast path, no mask -> SDPA"),
    (A100, "fp16", "inference", {"batch_first": True, "num_heads": 12, "mask": "causal"},
     "math", "the encoder layer's fast path passes src_mask: a mask -> math kernels"),
    (A100, "fp16", "inference", {"batch_first": True, "num_heads": 3}, "flash",
     "odd num_heads: no fast path, the module path's SDPA"),
    (CPU, "fp32", "training", {}, "flash", "select_sdp_backend_cpp: flash first"),
    (CPU, "fp32", "training", {"dropout": 0.1}, "math", "check_for_dropout: CPU flash needs 0"),
    (CPU, "fp32", "inference", {"dropout": 0.1}, "flash", "eval: dropout_p = 0"),
    (CPU, "fp32", "inference", {"batch_first": True, "num_heads": 2}, "math",
     "native_multi_head_attention_cpu: bmm_nt, masked_softmax, bmm_nn"),
    (CPU, "fp32", "inference", {"batch_first": True, "num_heads": 2, "bias": False}, "flash",
     "the fast path needs in_proj_bias"),
]


@pytest.mark.parametrize("target, dtype, mode, kw, kernel, rule", TABLE,
                         ids=[f"{t.kind}{t.sm}-{d}-{m}-{k}" for t, d, m, k, *_ in TABLE])
def test_dispatch_table(target, dtype, mode, kw, kernel, rule):
    kw = {"head_dim": 64, **kw}
    assert dispatch(target, dtype, mode, **kw).kernel == kernel, rule


def test_every_kernel_maps_onto_a_cost_record():
    # memory-efficient and cuDNN keep O(n) statistics and recompute in backward, like flash
    assert sdpa.RECORD_OF == {"flash": "flash", "memory-efficient": "flash",
                              "cudnn": "flash", "math": "math"}


def test_targets_of_the_catalogue():
    assert sdpa.target_of(load_hardware("a100")).sm == (8, 0)
    assert sdpa.target_of(load_hardware("h100")).prefers_cudnn
    assert sdpa.target_of(load_hardware("mi300x")).kind == "rocm"
    assert sdpa.target_of("cpu") == CPU


def test_bad_arguments_name_themselves():
    for kw, word in (({"mode": "eval"}, "mode"), ({"mask": "sliding"}, "mask"),
                     ({"module": "rnn"}, "module")):
        with pytest.raises(ValueError, match=word):
            dispatch(CPU, **{"mode": "training", **kw})


# ---- the CPU rules against torch: the op names a real forward runs -------------------------

def _observed(fn) -> str:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    names = {e.key for e in prof.key_averages()}
    if "aten::_native_multi_head_attention" in names:
        assert "aten::bmm" in names  # the CPU fast path's math kernels
        return "math"
    if "aten::_scaled_dot_product_flash_attention_for_cpu" in names:
        return "flash"
    assert "aten::bmm" in names
    return "math"


CPU_CASES = [(mode, dropout, batch_first, causal, heads)
             for mode in ("training", "inference") for dropout in (0.0, 0.1)
             for batch_first in (False, True) for causal in (False, True) for heads in (2, 3)]


@pytest.mark.parametrize("mode, dropout, batch_first, causal, heads", CPU_CASES)
def test_cpu_encoder_layer_dispatch_matches_torch(mode, dropout, batch_first, causal, heads):
    d, n, b = 8 * heads, 6, 2
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d, heads, 16, dropout, batch_first=batch_first)
    x = torch.randn((b, n, d) if batch_first else (n, b, d))
    kw = dict(src_mask=nn.Transformer.generate_square_subsequent_mask(n), is_causal=True) \
        if causal else {}
    if mode == "training":
        got = _observed(lambda: layer.train()(x, **kw))
    else:
        layer.eval()
        with torch.inference_mode():
            got = _observed(lambda: layer(x, **kw))
    want = dispatch(CPU, "fp32", mode, dropout=dropout, head_dim=8, num_heads=heads,
                    mask="causal" if causal else "none", batch_first=batch_first)
    assert got == want.kernel, want.rule


@pytest.mark.parametrize("mode", ["training", "inference"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_cpu_multihead_attention_dispatch_matches_torch(mode, need_weights, padding,
                                                        batch_first):
    mha = nn.MultiheadAttention(16, 2, batch_first=batch_first)
    x = torch.randn((2, 5, 16) if batch_first else (5, 2, 16))
    kw = dict(need_weights=need_weights)
    if padding:  # the last key of the second sequence is padding
        kw["key_padding_mask"] = torch.tensor([[False] * 5, [False] * 4 + [True]])
    if mode == "training":
        got = _observed(lambda: mha.train()(x, x, x, **kw))
    else:
        mha.eval()
        with torch.inference_mode():
            got = _observed(lambda: mha(x, x, x, **kw))
    want = dispatch(CPU, "fp32", mode, head_dim=8, num_heads=2, need_weights=need_weights,
                    batch_first=batch_first, module="mha",
                    mask="padding" if padding else "none")
    assert got == want.kernel, want.rule


# ---- resolution of records ----------------------------------------------------------------

def test_auto_without_a_device_is_the_cpu_training_choice():
    # torch's CPU in training: math with dropout, its flash kernel without
    assert cm.TransformerEncoderLayer(64, 2).config.kernel == "math"
    assert cm.TransformerEncoderLayer(64, 2, dropout=0.0).config.kernel == "flash"
    at = dict(n=7, batch=3)
    assert cm.MultiheadAttention(16, 2).evaluate(**at) == cm.MultiheadAttention(
        16, 2, attention="math").evaluate(**at)  # need_weights=True


def test_resolved_record_equals_the_explicit_constructor():
    layer = cm.TransformerEncoderLayer(64, 2, 128, dropout=0.1)
    record, choice = sdpa.resolve(layer, load_hardware("a100"), "fp32", "training")
    assert choice.kernel == "memory-efficient" and record.config.kernel == "flash"
    explicit = cm.TransformerEncoderLayer(64, 2, 128, dropout=0.1, attention="flash")
    assert record.evaluate(n=9, batch=2) == explicit.evaluate(n=9, batch=2)
    # inference: eval() turns dropout off
    infer, _ = sdpa.resolve(layer, load_hardware("a100"), "fp32", "inference")
    no_dropout = cm.TransformerEncoderLayer(64, 2, 128, dropout=0.0, attention="flash")
    assert infer.evaluate(n=9, batch=2) == no_dropout.evaluate(n=9, batch=2)


def test_stacks_resolve_too():
    stack = cm.TransformerEncoder(cm.TransformerEncoderLayer(64, 2, 128), 3)
    record, choice = sdpa.resolve(stack, load_hardware("h100"), "bf16", "training")
    assert choice.kernel == "cudnn"  # sm90 prefers cuDNN, dropout 0.1 included (H200 run)
    want = cm.TransformerEncoder(cm.TransformerEncoderLayer(64, 2, 128, attention="flash"), 3)
    assert record.evaluate(n=5, batch=2) == want.evaluate(n=5, batch=2)


# ---- inference peak memory: math n^2, fused O(n) --------------------------------------------

@settings(max_examples=30, deadline=None)
@given(heads=st.integers(1, 8), width=st.sampled_from([8, 16, 64]), n=st.integers(1, 3000),
       batch=st.integers(1, 16))
def test_inference_peak_quadratic_for_math_linear_for_fused(heads, width, n, batch):
    from costmodel.compare import inference_bytes

    d = heads * width
    layer = {k: cm.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, attention=k)
             for k in ("math", "flash")}
    f = {k: (lambda m, k=k: inference_bytes(layer[k], n=m, batch=batch)) for k in layer}
    # fused: weights, K/V and the working set, all linear in n beyond the weights
    assert f["flash"](2 * n) - f["flash"](n) == n * (f["flash"](2) - f["flash"](1))
    # math: the two n x n score tensors per head (fp32: 4 bytes) come on top of the weights,
    # and the peak is convex in n (its increments grow)
    weights = layer["math"].evaluate(n=1, batch=1)["weight_bytes"]
    assert f["math"](n) >= weights + 2 * batch * heads * n * n * 4
    assert f["math"](2 * n) - f["math"](n) >= n * (f["math"](2) - f["math"](1))


def test_inference_peak_golden():
    """d=8, h=2, ffn=16, n=4, batch=1, fp32, math. Weights: in_proj 8*24+24=216, out_proj 72,
    linear1 144, linear2 136, norms 32 = 600 params = 2400 B. K, V: 2*4*8*4 = 256 B.
    Attention stage: input + q 2*4*8*4 = 256, scores and probabilities 2*2*4*4*4 = 256: 512.
    FFN stage: input 128 + 2*4*16*4 = 640. Peak 2400 + 256 + 640 = 3296."""
    from costmodel.compare import inference_bytes

    layer = cm.TransformerEncoderLayer(8, 2, 16, dropout=0.0, attention="math")
    assert inference_bytes(layer, n=4, batch=1) == 3296
    # n=64: K, V 2*64*8*4 = 4096; attention stage 2*64*8*4 + 2*2*64*64*4 = 4096 + 65536
    # beats the FFN's 64*8*4 + 2*64*16*4 = 10240
    assert inference_bytes(layer, n=64, batch=1) == 2400 + 4096 + 4096 + 65536


def test_validation_times_inference_as_users_run_it():
    """costmodel validate's inference mode: eval() under inference_mode (dropout off, nothing
    saved); its prediction asks the roofline for the inference-mode record."""
    from costmodel.validation.modules import Config, step_function, torch_module
    from costmodel.validation.timing import Device
    from costmodel.validation.validate import grid

    cfg = Config("transformer", 8, 64, 2, "inference")
    module = torch_module(cfg, Device("cpu", 1, "cpu"))
    out = step_function(cfg, module)(torch.randn(8, 2, 64))
    assert not module.training and out.is_inference()
    assert {c.mode for c in grid("quick")} == {"inference", "training"}


def _allocated(layer, x) -> dict:
    """Bytes each op allocates (self) during one inference forward, from torch's profiler."""
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU],
                                         profile_memory=True) as prof:
        layer(x)
    return {e.key: e.self_cpu_memory_usage for e in prof.key_averages()
            if e.self_cpu_memory_usage > 0}


def test_cpu_inference_score_memory_against_torch():
    """What the inference-memory row claims, on torch's CPU: the fast path's math kernels
    allocate the [b, h, n, n] scores (once: bmm_nt; bmm_nn reuses q's storage and its softmax
    allocates nothing, so our two-copy count, the sdpa-math and need_weights paths' softmax
    writing a new tensor, is an upper bound there); the flash path allocates O(n)."""
    b, d, h = 2, 64, 4
    torch.manual_seed(0)
    layer = {bf: nn.TransformerEncoderLayer(d, h, 4 * d, 0.0, batch_first=bf).eval()
             for bf in (True, False)}
    n = 128
    fast = _allocated(layer[True], torch.randn(b, n, d))
    assert fast["aten::bmm"] == b * h * n * n * 4  # 2*4*128*128*4 = 524,288
    totals = [sum(_allocated(layer[False], torch.randn(m, b, d)).values()) for m in (64, 256)]
    assert totals[1] / totals[0] < 5  # 4x the tokens: about 4x the bytes (quadratic: 16x)


def test_multihead_attention_records_resolve_per_device():
    """nn.MultiheadAttention called directly (need_weights=True) runs math everywhere; with
    need_weights=False the device decides."""
    a100 = load_hardware("a100")
    direct = cm.MultiheadAttention(64, 4)
    assert sdpa.resolve(direct, a100, "fp16", "training")[1].kernel == "math"
    sdpa_call = cm.MultiheadAttention(64, 4, need_weights=False, dropout=0.1)
    assert sdpa_call.config.attention == "math"  # the CPU in training, dropout 0.1
    record, choice = sdpa.resolve(sdpa_call, a100, "fp16", "training")
    assert choice.kernel == "flash"
    want = cm.MultiheadAttention(64, 4, need_weights=False, dropout=0.1, attention="flash")
    assert record.evaluate(n=9, batch=2) == want.evaluate(n=9, batch=2)
    # cross-attention never takes the fast path: SDPA (here, CPU flash in inference)
    cross = cm.MultiheadAttention(64, 4, kdim=32, vdim=32, need_weights=False,
                                  batch_first=True)
    assert sdpa.resolve(cross, "cpu", "fp32", "inference")[1].kernel == "flash"
    assert sdpa.resolve(cm.MultiheadAttention(64, 4, need_weights=False, batch_first=True),
                        "cpu", "fp32", "inference")[1].kernel == "math"  # the fast path


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["cpu", "cuda", "rocm"]),
       sm=st.sampled_from([(5, 2), (6, 0), (7, 0), (7, 5), (8, 0), (8, 6), (8, 9), (9, 0)]),
       dtype=st.sampled_from(["fp32", "fp16", "bf16"]), mode=st.sampled_from(sdpa.MODES),
       mask=st.sampled_from(sdpa.MASKS), head_dim=st.integers(1, 512),
       heads=st.integers(1, 16), dropout=st.sampled_from([0.0, 0.0625, 0.1, 0.5]),
       need_weights=st.booleans(), batch_first=st.booleans(),
       module=st.sampled_from(sdpa.MODULES))
def test_dispatch_invariants(kind, sm, dtype, mode, mask, head_dim, heads, dropout,
                             need_weights, batch_first, module):
    """Rules that hold for every input: need_weights is always math (bmm path, or the fast
    path's math kernels); the CPU has only flash and math; flash and cuDNN never take fp32,
    flash no padding mask; cuDNN only on CUDA; every kernel maps onto a cost record."""
    t = sdpa.CPU if kind == "cpu" else Target(kind, sm if kind == "cuda" else (8, 0))
    got = dispatch(t, dtype, mode, mask=mask, head_dim=head_dim, num_heads=heads,
                   dropout=dropout, need_weights=need_weights, batch_first=batch_first,
                   module=module)
    assert got.kernel in sdpa.KERNELS and got.record == sdpa.RECORD_OF[got.kernel]
    if need_weights:
        assert got.kernel == "math"
    if kind == "cpu":
        assert got.kernel in ("flash", "math")
    elif got.kernel in ("flash", "cudnn"):  # cuDNN takes an attn_mask (check_attn_mask_shape)
        assert dtype != "fp32" and t.sm >= (8, 0)
        assert got.kernel == "cudnn" or mask != "padding"
    if got.kernel == "cudnn":
        assert kind == "cuda" and head_dim <= sdpa.CUDNN_MAX_HEAD_DIM


@pytest.mark.parametrize("mode", ["training", "inference"])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("batch_first", [False, True])
def test_cpu_decoder_layer_dispatch_matches_torch(mode, dropout, batch_first):
    """TransformerDecoderLayer has no fast path: its self- and cross-attention go through SDPA
    in both modes (eval: dropout 0)."""
    d, h, n, b = 16, 2, 5, 2
    torch.manual_seed(0)
    layer = nn.TransformerDecoderLayer(d, h, 32, dropout, batch_first=batch_first)
    shape = (lambda m: (b, m, d)) if batch_first else (lambda m: (m, b, d))
    tgt, memory = torch.randn(shape(n)), torch.randn(shape(n + 2))
    if mode == "training":
        got = _observed(lambda: layer.train()(tgt, memory))
    else:
        layer.eval()
        with torch.inference_mode():
            got = _observed(lambda: layer(tgt, memory))
    want = dispatch(CPU, "fp32", mode, dropout=dropout, head_dim=8, num_heads=h,
                    batch_first=batch_first, module="decoder_layer")
    assert got == want.kernel, want.rule
