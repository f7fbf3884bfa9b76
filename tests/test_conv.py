"""Conv1d, Conv2d and MaxPool2d against PyTorch: params, FLOPs, saved bytes, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracle import matmul_flops, num_params, saved_bytes

import costmodel as cm
from costmodel import symbols as S
from costmodel.models.conv import conv2d_out_size, conv_out_size, maxpool2d_out_size

FP32 = 4


def numbers(record, **kw):
    return record.evaluate(dtype="fp32", **kw)


# ----- strategies -------------------------------------------------------------------------
def pair(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


@st.composite
def conv_configs(draw, dims):
    groups = draw(st.integers(1, 3))
    kernel_size = draw(pair(1, 4) if dims == 2 else st.integers(1, 4))
    padding_mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    stride = draw(pair(1, 3) if dims == 2 else st.integers(1, 3))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]),
                             pair(0, 2) if dims == 2 else st.integers(0, 2)))
    if padding == "same":
        stride = 1
    return dict(
        in_channels=groups * draw(st.integers(1, 3)),
        out_channels=groups * draw(st.integers(1, 3)),
        kernel_size=kernel_size, stride=stride, padding=padding,
        dilation=draw(pair(1, 2) if dims == 2 else st.integers(1, 2)),
        groups=groups, bias=draw(st.booleans()), padding_mode=padding_mode,
    )


def check_conv_against_torch(record, module, x):
    """params, shapes, FLOPs and saved bytes of one record vs one torch module and input."""
    batch, n = x.shape[0], x.shape[-1]
    got = numbers(record, n=n, batch=batch)
    assert got["params"] == num_params(module)
    forward, backward = matmul_flops(module, x)
    assert got["matmul_flops"] == forward
    # FlopCounterMode counts a grouped grad_weight groups times (it ignores groups): we count
    # the work the kernel does, so the counter is ours plus (groups - 1) x forward
    assert got["matmul_flops_backward"] + (getattr(module, "groups", 1) - 1) * forward == backward
    assert got["activation_bytes"] == saved_bytes(module, x)
    out = module(x)
    assert record.out_len.subs(S.n, n) == out.shape[-1]
    return out


# ----- Conv2d / Conv1d vs torch -----------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(cfg=conv_configs(2), height=st.integers(3, 9), n=st.integers(3, 12),
       batch=st.integers(1, 3), input_grad=st.booleans())
def test_conv2d_matches_torch(cfg, height, n, batch, input_grad):
    out_h, out_w = conv2d_out_size(height, n, cfg["kernel_size"], cfg["stride"],
                                   cfg["padding"], cfg["dilation"])
    assume(out_h >= 1 and out_w >= 1)
    try:
        module = torch.nn.Conv2d(**cfg)
        x = torch.randn(batch, cfg["in_channels"], height, n, requires_grad=input_grad)
        module(x)
    except RuntimeError:  # reflect padding wider than the input: torch refuses too
        assume(False)
    record = cm.Conv2d(**cfg, input_height=height, input_requires_grad=input_grad)
    out = check_conv_against_torch(record, module, x)
    assert (out_h, out_w) == tuple(out.shape[2:])


@settings(max_examples=25, deadline=None)
@given(cfg=conv_configs(1), n=st.integers(3, 12), batch=st.integers(1, 3),
       input_grad=st.booleans())
def test_conv1d_matches_torch(cfg, n, batch, input_grad):
    assume(conv_out_size(n, cfg["kernel_size"], cfg["stride"], cfg["padding"],
                         cfg["dilation"]) >= 1)
    module = torch.nn.Conv1d(**cfg)
    x = torch.randn(batch, cfg["in_channels"], n, requires_grad=input_grad)
    try:
        module(x)
    except RuntimeError:
        assume(False)
    check_conv_against_torch(cm.Conv1d(**cfg, input_requires_grad=input_grad), module, x)


def test_grouped_grad_weight_counts_the_real_work_not_flop_counter():
    """FlopCounterMode counts a grouped conv's grad_weight without dividing by groups.

    Conv2d(4, 6, 3, stride=2, padding=1, groups=2) on (2, 4, 9, 11): output 5 x 6.
    forward  = 2 * 2 * (5*6) * 6 * (4/2) * 9 = 12960 (FlopCounterMode: 12960)
    grad_weight per group: dy^T [3, 60] @ im2col(x) [60, 2*9] -> [3, 18], 2 groups:
             = 2 * 2 * (3 * 60 * 18) = 12960, the forward count again. FlopCounterMode
    reports 25920 = 2 * 2 * 30 * 6 * 4 * 9: its convolution_backward formula uses all 4 input
    channels per filter. We count the kernel's work; the note says so.
    """
    record = cm.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, input_height=9)
    got = numbers(record, n=11, batch=2)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (12960, 12960)
    module = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    assert matmul_flops(module, torch.randn(2, 4, 9, 11)) == (12960, 25920)
    assert record.notes


def test_same_padding_with_odd_total_saves_padded_copy():
    """Kernel 2 with 'same' pads one extra row and column with a copy, which is saved.

    Input (2, 4, 9, 11) -> padded copy (2, 4, 10, 12): 2*4*10*12*4 bytes = 3840 (measured).
    """
    record = cm.Conv2d(4, 6, 2, padding="same", input_height=9)
    assert numbers(record, n=11, batch=2)["activation_bytes"] == 2 * 4 * 10 * 12 * FP32
    assert record.out_len == S.n


# ----- MaxPool2d vs torch -----------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(kernel=pair(1, 3), stride=st.one_of(st.none(), pair(1, 3)), dilation=pair(1, 2),
       ceil_mode=st.booleans(), channels=st.integers(1, 4), height=st.integers(3, 9),
       n=st.integers(3, 12), batch=st.integers(1, 3), data=st.data())
def test_maxpool2d_matches_torch(kernel, stride, dilation, ceil_mode, channels, height, n,
                                 batch, data):
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    padding = data.draw(st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)))
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)
    out_h, out_w = maxpool2d_out_size(height, n, **args)
    assume(out_h >= 1 and out_w >= 1)
    module = torch.nn.MaxPool2d(**args)
    x = torch.randn(batch, channels, height, n, requires_grad=True)
    try:
        module(x)
    except RuntimeError:
        assume(False)
    record = cm.MaxPool2d(**args, channels=channels, input_height=height,
                          input_requires_grad=True)
    out = check_conv_against_torch(record, module, x)
    assert (out_h, out_w) == tuple(out.shape[2:])
    # Without grad on its input, pooling saves nothing.
    assert saved_bytes(module, x.detach()) == 0
    assert numbers(cm.MaxPool2d(**args, channels=channels, input_height=height),
                   n=n, batch=batch)["activation_bytes"] == 0


def test_maxpool2d_golden():
    """MaxPool2d(2) on (1, 32, 128, 1292): output 64 x 646.

    compares = 32 * 64 * 646 * (2*2) = 5292032; saved = input 32*128*1292*4 = 21168128 bytes
    plus int64 indices 32*64*646*8 = 10584064 bytes.
    """
    got = numbers(cm.MaxPool2d(2, channels=32, input_height=128, input_requires_grad=True),
                  n=1292)
    assert got["elementwise_flops"] == 32 * 64 * 646 * 4 == 5292032
    assert got["activation_bytes"] == 21168128 + 10584064
    assert got["params"] == got["matmul_flops"] == 0


# ----- golden numbers, symbols, properties ------------------------------------------------
def test_conv2d_golden_first_crnn_layer():
    """Conv2d(1, 32, 3, padding=1) on one 128 x 1292 mel spectrogram.

    params = 32*1*9 + 32 = 320; forward = 2 * 128*1292 * 32 * 1 * 9 = 95256576;
    backward = grad_weight only = 95256576; bias adds = 32*128*1292 = 5292032;
    saved = the input, 128*1292*4 = 661504 bytes.
    """
    got = numbers(cm.Conv2d(1, 32, 3, padding=1, input_height=128), n=1292)
    assert got["params"] == 320
    assert got["matmul_flops"] == got["matmul_flops_backward"] == 95256576
    assert got["elementwise_flops"] == 5292032
    assert got["activation_bytes"] == 661504
    assert got["depth_forward"] == got["depth_backward"] == 1


def test_symbolic_sizes_substitute_evaluate_vectorize_agree():
    record = cm.Conv2d("c", "k", 3, stride=2, padding=1, input_height="h",
                       input_requires_grad=True)
    sizes = dict(c=4, k=6, h=16)
    concrete = cm.Conv2d(4, 6, 3, stride=2, padding=1, input_height=16,
                         input_requires_grad=True)
    via_subs = numbers(record, n=37, batch=3, **sizes)
    assert via_subs == numbers(concrete, n=37, batch=3)
    vec = record.vectorize()(n=np.array([37]), batch=3, dtype=4, **sizes)
    for q, value in via_subs.items():
        assert vec[q][0] == pytest.approx(value)
    assert sp.simplify(record.out_len - (sp.floor((S.n - 1) / 2) + 1)) == 0


@pytest.mark.parametrize("record", [
    cm.Conv1d(3, 5, 3, stride=2, padding=1, input_requires_grad=True),
    cm.Conv2d(2, 4, (3, 5), stride=(1, 3), dilation=2, input_height=12),
    cm.MaxPool2d(3, 2, 1, ceil_mode=True, channels=3, input_height=12,
                 input_requires_grad=True),
])
def test_monotone_in_n_and_batch(record):
    f = record.vectorize()
    grid = f(n=np.arange(12, 80), batch=2)
    wider = f(n=np.arange(12, 80), batch=3)
    for q in cm.FIELDS:
        assert np.all(np.diff(grid[q]) >= 0), q
        assert np.all(wider[q] >= grid[q]), q


def test_stride_shortens_sequence_for_sequential():
    """Conv1d(stride=2) then Conv1d: the second sees n' = floor((n-1)/2)+1 frames."""
    first = cm.Conv1d(2, 4, 3, stride=2, padding=1)
    second = cm.Conv1d(4, 4, 3, padding=1, input_requires_grad=True)
    model = cm.Sequential(first, second)
    got = numbers(model, n=20)
    # second layer: 2 * 10 frames * 4 * 4 * 3 = 960 forward FLOPs
    assert got["matmul_flops"] == numbers(first, n=20)["matmul_flops"] + 960


# ----- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("make, words", [
    (lambda: cm.Conv2d(4, 6, 3, groups=3, input_height=8), ["in_channels=4", "groups=3"]),
    (lambda: cm.Conv1d(6, 4, 3, groups=3), ["out_channels=4", "groups=3"]),
    (lambda: cm.Conv2d(4, 6, 3, stride=2, padding="same", input_height=8), ["same", "stride"]),
    (lambda: cm.Conv1d(4, 6, 3, padding="full"), ["padding"]),
    (lambda: cm.Conv1d(4, 6, 3, padding_mode="mirror"), ["padding_mode"]),
    (lambda: cm.Conv1d(0, 6, 3), ["in_channels"]),
    (lambda: cm.Conv1d(4, 6, 0), ["kernel_size"]),
    (lambda: cm.Conv1d(4, 6, 3, stride=-1), ["stride"]),
    (lambda: cm.Conv1d(4, 6, 3, padding=-1), ["padding"]),
    (lambda: cm.Conv1d(4, 6, 3, groups=0), ["groups"]),
    (lambda: cm.Conv2d(4, 6, 3, input_height=0), ["input_height"]),
    (lambda: cm.Conv2d(4, 6, 5, input_height=3), ["input", "small"]),
    (lambda: cm.Conv2d(4, 6, (3, 3, 3), input_height=8), ["kernel_size"]),
    (lambda: cm.Conv2d(4, 6, 3, bias=1, input_height=8), ["bias"]),
    (lambda: cm.MaxPool2d(2, padding=2, channels=3, input_height=8), ["padding"]),
    (lambda: cm.MaxPool2d(2, channels=0, input_height=8), ["channels"]),
    (lambda: cm.MaxPool2d(9, channels=3, input_height=8), ["input_height"]),
    (lambda: cm.MaxPool2d(2.5, channels=3, input_height=8), ["kernel_size"]),
])
def test_bad_input_names_the_argument(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value)
