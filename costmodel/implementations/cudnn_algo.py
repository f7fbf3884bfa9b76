"""Which cuDNN RNN algorithm PyTorch picks (``get_algo`` in aten/src/ATen/native/cudnn/RNN.cpp):
``PERSIST_STATIC_SMALL_H`` for small hidden sizes (cuDNN >= 8.2.1, sm >= 6.0),
``PERSIST_STATIC`` for some fp16 single-layer unidirectional cases on Volta and large Ampere and
newer, else ``STANDARD`` (GEMM per step). Split from :mod:`costmodel.implementations.cudnn_rnn`,
which prices what this picks."""

from __future__ import annotations

import numpy as np

from costmodel.hardware import Hardware

ALGOS = ("standard", "persist_static", "persist_static_small_h")
# compute capability major of each generation (PyTorch's heuristics test prop->major)
_MAJOR = {"maxwell": 5, "pascal": 6, "volta": 7, "turing": 7, "ampere": 8, "ada": 8,
          "hopper": 9, "blackwell": 10}
PERSIST_MIN_SMS = 98  # RNN.cpp: sm >= 8.0 with >= 98 SMs (excludes A30, A40, sm_86 parts)
PERSIST_MAX_HIDDEN = 1024  # use_persist_common_heuristics: hidden <= 1024, multiple of 128
PERSIST_MULTIPLE = 128
PERSIST_MAX_BATCH = 128  # use_persist_device_heuristics: batch <= 128, multiple of 8
PERSIST_BATCH_MULTIPLE = 8
# sm >= 8.0, RNN_RELU/TANH: not when batch >= 96 and hidden >= 896 ("poor performance")
PERSIST_RNN_SLOW = (96, 896)
# Volta: batch a multiple of 16 but not 80 or 112, or exactly 8; and (min steps, max batch)
VOLTA_BATCH_MULTIPLE, VOLTA_BAD_BATCHES, VOLTA_SMALL_BATCH = 16, (80, 112), 8
VOLTA_STEPS_TO_MAX_BATCH = ((40, 128), (20, 96), (10, 32))
# use_rnn_persist_small_h: largest hidden size per (cell, direction of the pass)
SMALL_H_MAX = {("rnn", True): 384, ("lstm", True): 192, ("gru", True): 192,
               ("rnn", False): 256, ("lstm", False): 128, ("gru", False): 128}
SMALL_H_MIN_MAJOR = 6  # use_rnn_persist_small_h: sm >= 6.0 (and cuDNN >= 8.2.1)
# PyTorch asks for PERSIST_STATIC_SMALL_H in bf16 too, but cuDNN 9.19 runs the GEMM-per-step
# kernels then (measured on an H200, session 6: bf16 nn.RNN h=256 launched an nvjet GEMM and
# elemWiseRNNcell per step; fp16 and fp32 ran RNN_blockPersist): no small-h kernel in bf16
SMALL_H_DTYPES = ("fp32", "fp16")


def select_algo(cell: str, hidden, input_size, layers: int, directions: int, batch, n,
                dtype: str, hw: Hardware, projected: bool = False, forward: bool = True):
    """The cuDNN algorithm PyTorch picks (``get_algo``): one of :data:`ALGOS` per element of
    the broadcast ``hidden, input_size, batch, n`` arrays."""
    hidden, input_size, batch, n = (np.asarray(v) for v in (hidden, input_size, batch, n))
    major = _MAJOR.get(hw.architecture, 0)
    if projected or dtype == "fp64":
        return np.full(np.broadcast(hidden, batch, n).shape, ALGOS[0])
    small = ((hidden <= SMALL_H_MAX[(cell, forward)]) & (major >= SMALL_H_MIN_MAJOR)
             & (dtype in SMALL_H_DTYPES))
    common = ((layers == 1) & (directions == 1) & (hidden <= PERSIST_MAX_HIDDEN)
              & (hidden % PERSIST_MULTIPLE == 0) & (input_size % PERSIST_MULTIPLE == 0))
    persist = common & (dtype == "fp16") & _persist_device(cell, hidden, batch, n, hw, major)
    return np.where(small, ALGOS[2], np.where(persist, ALGOS[1], ALGOS[0]))


def _persist_device(cell, hidden, batch, n, hw: Hardware, major: int):
    """``use_persist_device_heuristics``: Volta (not Turing) and large sm >= 8.0 parts."""
    if hw.architecture == "volta":
        size_ok = (((batch % VOLTA_BATCH_MULTIPLE == 0) & ~np.isin(batch, VOLTA_BAD_BATCHES))
                   | (batch == VOLTA_SMALL_BATCH))
        long_enough = np.zeros(np.broadcast(batch, n).shape, dtype=bool)
        for min_steps, max_batch in VOLTA_STEPS_TO_MAX_BATCH:
            long_enough = long_enough | ((n >= min_steps) & (batch <= max_batch))
        return size_ok & long_enough
    if major >= 8 and (hw.sm_count or 0) >= PERSIST_MIN_SMS and cell != "gru":
        ok = (batch % PERSIST_BATCH_MULTIPLE == 0) & (batch <= PERSIST_MAX_BATCH)
        slow_batch, slow_hidden = PERSIST_RNN_SLOW
        return ok & ((batch < slow_batch) | (hidden < slow_hidden)) if cell == "rnn" else ok
    return np.zeros(np.broadcast(hidden, batch).shape, dtype=bool)
