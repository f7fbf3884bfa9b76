"""PyTorch's pointwise kernels on NVIDIA GPUs (add, mul, relu, gelu, tanh, LayerNorm, softmax,
dropout): they stream bytes, so their time is a floor plus bytes at an achieved fraction of
the datasheet bandwidth::

    pointwise_s = floor_s + bytes / (hbm_bytes_per_s * pointwise_efficiency[op_class])

``floor_s`` is the launch plus measurement floor of one op timed alone (CUDA events over a
single call: 7-12 us in NeuSight's data). The achieved fraction is a property of the memory
system more than of the SMs: NeuSight's A100s (HBM2/HBM2e) stream at 0.86-0.89 of the datasheet
figure, its L4 and T4 (GDDR6) at 0.74-0.79. So the fitted fractions are kept three ways
(:func:`efficiency_for`): the device's own architecture where the training rows hold it and
its memory family matches, else the memory family's (``Hardware.memory_family``: HBM or GDDR;
streaming classes only, see STREAMING_CLASSES), else the pooled set. Fitted values live in
``costmodel/data/fitted/cublas.toml`` beside the GEMM parameters
(:mod:`costmodel.implementations.cublas`, which re-exports these names).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from costmodel.hardware import Hardware
from costmodel.numeric import dtype_bytes_of

# bytes moved per element of the (rows x cols) tensor, by pointwise op class
POINTWISE_MOVES = {"binary": 3,  # add/mul/div/pow of two tensors: read a, read b, write
                   "scalar": 2,  # tensor op scalar: read, write
                   "activation": 2,  # relu, gelu, tanh
                   "layernorm": 2,  # read x, write y (statistics stay on chip)
                   "softmax": 2}  # read x, write y (one row per block)
OP_CLASS = {"add": "binary", "mul": "binary", "div": "binary", "pow": "binary",
            "sub": "binary", "truediv": "binary", "where": "binary",
            "addu": "scalar", "mulu": "scalar", "divu": "scalar", "powu": "scalar",
            "relu": "activation", "gelu": "activation", "tanh": "activation",
            "ln": "layernorm", "layernorm": "layernorm", "softmax": "softmax",
            "dropout": "activation"}  # no dropout rows measured: at an activation's rate
SOFTMAX_SMEM_BYTES = 48 * 1024  # CUDA's default shared memory per block (PyTorch SoftMax.cu)
SOFTMAX_UNCACHED_EXTRA_READS = 2  # max pass, sum pass, then the write pass reads again
# LayerNorm's second read of a row comes from cache up to 3072 fp32 values: read off NeuSight's
# A100 rows (0.7-0.85 of bandwidth at H <= 3072, 0.58 = 0.87 * 2/3 from H = 4096), not a source
LAYERNORM_CACHED_ROW_BYTES = 12 * 1024
# Classes whose achieved fraction transfers by memory family: one pass over the tensor, so the
# DRAM sets the rate (NeuSight, large tensors: T4 0.74-0.77 and L4 0.78 of their GDDR6
# datasheet figure, the A100s 0.87-0.89 of HBM2/2e). Not LayerNorm and softmax: one block per
# row, their rate follows the row length and the L2 (T4 0.70-0.72, L4 0.79-0.82 on the same
# GDDR6; the L4's 48 MB L2 holds tensors the T4's 4 MB cannot), so they keep the pooled set.
STREAMING_CLASSES = ("binary", "scalar", "activation")
# the roofline's kernel kinds -> the op class whose efficiency applies
KIND_CLASS = {"elementwise": "binary", "activation": "activation", "softmax": "softmax",
              "reduction": "layernorm", "dropout": "activation", "optimizer": "binary"}


def efficiency_for(params: Mapping, hw: Hardware) -> dict:
    """Achieved fraction of bandwidth per op class on ``hw``: the pooled set, overridden by
    ``hw``'s memory family's set (``params["memory"]``), overridden by its architecture's set
    when that was fitted on the same memory family (an A10's GDDR6 is not an A100's HBM)."""
    family = hw.memory_family
    own = params.get("architecture", {}).get(hw.architecture, {})
    same_memory = own.get("memory_family", family) == family
    return {**params["cross"].get("pointwise_efficiency", {}),
            **params.get("memory", {}).get(family, {}).get("pointwise_efficiency", {}),
            **(own.get("pointwise_efficiency", {}) if same_memory else {})}


def pointwise_time_s(nbytes, op_class: str, hw: Hardware, p: Mapping,
                     floor_s: float | None = None):
    """Seconds of one pointwise kernel moving ``nbytes`` (see POINTWISE_MOVES)."""
    return (p["floor_s"] if floor_s is None else floor_s) + pointwise_memory_s(
        nbytes, op_class, hw, p)


def pointwise_memory_s(nbytes, op_class: str, hw: Hardware, p: Mapping):
    """:func:`pointwise_time_s` without the floor."""
    from costmodel.implementations.cublas import memory_rate  # cublas imports this module

    efficiency = p["pointwise_efficiency"]
    if op_class not in efficiency:
        raise ValueError(f"op_class={op_class!r}: no fitted efficiency; known: "
                         f"{', '.join(sorted(efficiency))}")
    nbytes = np.asarray(nbytes, float)
    return nbytes / (memory_rate(nbytes, hw, p) * efficiency[op_class])


def pointwise_bytes(elements, op_class: str, dtype: str, row=None, moves=None):
    """Bytes a pointwise op of this class moves over ``elements`` of the output; ``row``: the
    length of the reduced last dimension (softmax, LayerNorm), where the kernel reads a row
    again once it no longer stays on chip (:func:`extra_row_reads`); ``moves``: tensors of the
    output's size read or written where known (a broadcast operand counts its share), else
    the class's POINTWISE_MOVES."""
    base = POINTWISE_MOVES[op_class] if moves is None else np.nan_to_num(
        np.asarray(moves, float), nan=POINTWISE_MOVES[op_class])  # NaN: not known
    extra = 0 if row is None else extra_row_reads(op_class, row, dtype)
    return (base + extra) * dtype_bytes_of(dtype) * np.asarray(elements, float)


def extra_row_reads(op_class: str, row, dtype: str):
    """Reads of the input beyond the first, by row length: PyTorch's softmax caches a row in
    shared memory while it fits a block's default 48 KiB (``cunn_SoftMaxForwardSmem``), else
    reads it three times (max, sum, write pass: ``cunn_SoftMaxForward``); its LayerNorm reads a
    row twice (statistics, then normalise), the second time from cache while the row is small
    (``LAYERNORM_CACHED_ROW_BYTES``)."""
    row_bytes = np.asarray(row, float) * dtype_bytes_of(dtype)
    if op_class == "softmax":
        return np.where(row_bytes < SOFTMAX_SMEM_BYTES, 0, SOFTMAX_UNCACHED_EXTRA_READS)
    if op_class == "layernorm":
        return np.where(row_bytes <= LAYERNORM_CACHED_ROW_BYTES, 0, 1)
    return np.zeros_like(row_bytes)
