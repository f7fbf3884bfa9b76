"""CRNN: a convolutional front end over a mel spectrogram, a bidirectional GRU, pooling, dense.

The Phase 2 architecture of the valence/arousal study (seed document 000, section 1.3)::

    input (batch, 1, n_mels, n)                       n = frames (1292 in the document)
    3 x [Conv2d(c_in -> c, 3x3, padding=1) + ReLU + MaxPool2d(2x2)]
                                                      n: 1292 -> 646 -> 323 -> 161
    frequency reduction -> (batch, 161, features)     mean over height (features = 128)
                                                      or flatten (features = 128 * 16)
    GRU(features, 256, num_layers=2, bidirectional=True, batch_first=True)
    temporal pooling (161 x 512 -> 512)               mean, or attention: Linear(512, 1)
                                                      scores, softmax over time, weighted sum
    Linear(512 -> 2)                                  valence, arousal

Built from the family records (``Conv2d``, ``MaxPool2d``, ``ReLU``, ``GRU``, ``Linear``) in a
``Sequential``, so the GRU's ``n`` is the conv stack's ``out_len`` and the parts
(conv1, relu1, pool1, ..., reduce, gru, pool, fc) show where the cost goes.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_choice, check_size
from costmodel.compose import Sequential, combine
from costmodel.cost import Cost, Kernel
from costmodel.models.conv import Conv2d, MaxPool2d, conv2d_out_size, maxpool2d_out_size
from costmodel.models.layers import Linear, ReLU
from costmodel.models.primitives import mm_flops, pointwise_part
from costmodel.models.recurrent import GRU

FREQ_REDUCTIONS = ("mean", "flatten")
POOLINGS = ("mean", "attention")
#: A mean over k values: k - 1 adds and 1 divide, counted 1 FLOP per value read; its
#: backward spreads each output gradient, divided, over the k inputs: 1 FLOP per input.
MEAN_FLOPS_PER_INPUT = 1


def _labelled(record: Cost, label: str) -> Cost:
    """``record`` renamed ``label``; its kernels renamed ``label`` / ``label.<what>``."""
    def rename(kernel: Kernel) -> Kernel:
        head, _, tail = kernel.name.partition(".")
        if head in ("conv", "maxpool", record.name):
            return dataclasses.replace(kernel, name=label + ("." + tail if tail else ""))
        return dataclasses.replace(kernel, name=f"{label}.{kernel.name}")

    extra = record.input_grad_cost
    return dataclasses.replace(record, name=label,
                               kernels=tuple(rename(k) for k in record.kernels),
                               notes=(record.name,) + record.notes,
                               input_grad_cost=None if extra is None else dataclasses.replace(
                                   extra, kernels=tuple(rename(k) for k in extra.kernels)))


def _positive(size) -> bool:
    """False only for a size known to be below 1 (symbolic sizes pass)."""
    return not (sp.sympify(size).is_number and size < 1)


def _conv_blocks(n_mels, channels, kernel_size, padding, pool) -> tuple[list[Cost], object]:
    """The conv/ReLU/pool blocks (each on its own input length n) and the final height."""
    parts, height, c_in = [], n_mels, 1
    for i, c_out in enumerate(channels, start=1):
        conv = Conv2d(c_in, c_out, kernel_size, padding=padding, input_height=height,
                      input_requires_grad=i > 1)
        height = conv2d_out_size(height, S.n, kernel_size, padding=padding)[0]
        pooled = maxpool2d_out_size(height, S.n, pool)[0] if _positive(height) else 0
        if not _positive(pooled):
            raise ValueError(f"n_mels={n_mels} is too small for {len(channels)} conv/pool "
                             f"blocks: block {i} leaves {pooled} frequency bins")
        relu = ReLU(features=c_out * height)  # (batch, c_out, height, n) elements
        pooling = MaxPool2d(pool, channels=c_out, input_height=height, input_requires_grad=True)
        height = pooled
        parts += [_labelled(conv, f"conv{i}"), _labelled(relu, f"relu{i}"),
                  _labelled(pooling, f"pool{i}")]
        c_in = c_out
    return parts, height


def _mean(label: str, inputs, outputs, out_len) -> Cost:
    """A mean reduction reading ``inputs`` values and writing ``outputs``; saves nothing."""
    flops = inputs * MEAN_FLOPS_PER_INPUT
    moved = (inputs + outputs) * S.dtype_bytes
    return Cost(name=label, elementwise_flops=flops, elementwise_flops_backward=flops,
                bytes=moved, out_len=out_len,
                kernels=(Kernel(label, "reduction", "forward", flops, moved),
                         Kernel(f"{label}.backward", "elementwise", "backward", flops, moved)))


def _reduce_frequency(kind: str, channels, height) -> tuple[Cost, object]:
    """(batch, C, H, n) -> (batch, n, features): the part and the GRU's input size."""
    elements = S.batch * channels * height * S.n
    if kind == "mean":
        return _mean("reduce", elements, S.batch * channels * S.n, S.n), channels
    # permute(0, 3, 1, 2).reshape(batch, n, C*H): a copy, no FLOPs; nothing saved.
    copy = dataclasses.replace(pointwise_part("reduce", elements, 0, 0), name="reduce")
    return copy, channels * height


def _attention_pool(features) -> Cost:
    """scores = h W^T + b; w = softmax over time; out = w^T h. Output length 1.

    The GRU's batch_first output is a transposed view of its time-major output, so the
    scores Linear first makes (and saves) a contiguous copy, and the weighted sum saves the
    view's storage: h is saved twice, as PyTorch eager does for batch >= 2 (at batch 1 the
    view is contiguous, no copy is made, and h is saved once).
    """
    b, n = S.batch, S.n
    copy = pointwise_part("pool.contiguous", b * n * features, 0, 0)
    scores = _labelled(Linear(features, 1, input_requires_grad=True), "pool.scores")  # saves the copy
    # at batch 1 the view is already contiguous: no copy, the same storage as the weighted
    # sum saves, so it is counted once (Min(b - 1, 1) is 0 at b = 1, else 1)
    scores = dataclasses.replace(scores, activation_bytes=scores.activation_bytes
                                 * sp.Min(b - 1, 1))
    softmax = pointwise_part("pool.softmax", b * n, C.SOFTMAX_FLOPS, C.SOFTMAX_BACKWARD_FLOPS,
                             saves="output")
    # w^T: [b, 1, n] @ h: [b, n, F] -> [b, 1, F]; saves h (w is the softmax's saved output).
    fwd = mm_flops(b, n, features)
    # dw = dy: [b, 1, F] @ h^T: [b, F, n]; dh = w: [b, n, 1] @ dy: [b, 1, F]
    bwd = mm_flops(b, features, n) + mm_flops(b * n, 1, features)
    moved = (b * n + b * n * features + b * features) * S.dtype_bytes
    weighted = Cost(name="pool.weighted_sum", matmul_flops=fwd, matmul_flops_backward=bwd,
                    bytes=moved, activation_bytes=b * n * features * S.dtype_bytes,
                    depth_forward=1, depth_backward=1,
                    kernels=(Kernel("pool.weighted_sum", "gemm", "forward", fwd, moved),
                             Kernel("pool.weighted_sum.backward", "gemm", "backward", bwd,
                                    2 * moved)))
    return combine("pool", (copy, scores, softmax, weighted), out_len=1)


def CRNN(n_mels=128, channels=(32, 64, 128), kernel_size=3, padding=1, pool=2,
         hidden_size=256, num_layers=2, bidirectional=True, out_features=2,
         freq_reduction="mean", pooling="mean", **gru_options) -> Cost:
    """The CRNN of seed document 000, section 1.3, on ``batch`` spectrograms of ``n`` frames.

    ``gru_options`` go to :func:`costmodel.GRU` (``implementation``, ``schedule``, ...).
    The GRU's sequence length is the conv stack's output length (161 for n = 1292).
    """
    n_mels = check_size("n_mels", n_mels)
    if not isinstance(channels, (tuple, list)) or not channels:
        raise ValueError(f"channels={channels!r} must be a non-empty tuple of channel counts")
    channels = tuple(check_size("channels", c) for c in channels)
    check_choice("freq_reduction", freq_reduction, FREQ_REDUCTIONS)
    check_choice("pooling", pooling, POOLINGS)
    blocks, height = _conv_blocks(n_mels, channels, kernel_size, padding, pool)
    reduce, gru_input = _reduce_frequency(freq_reduction, channels[-1], height)
    rnn = GRU(gru_input, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
              batch_first=True, input_requires_grad=True, **gru_options)
    features = (2 if bidirectional else 1) * check_size("hidden_size", hidden_size)
    if pooling == "mean":
        pooled = _mean("pool", S.batch * S.n * features, S.batch * features, 1)
    else:
        pooled = _attention_pool(features)
    fc = _labelled(Linear(features, out_features, input_requires_grad=True), "fc")
    name = (f"CRNN(n_mels={n_mels}, channels={channels}, hidden_size={hidden_size}, "
            f"num_layers={num_layers}, bidirectional={bidirectional}, "
            f"freq_reduction={freq_reduction!r}, pooling={pooling!r})")
    return Sequential(*blocks, reduce, _labelled(rnn, "gru"), pooled, fc, name=name)
