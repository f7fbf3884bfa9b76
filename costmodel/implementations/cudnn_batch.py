"""cuDNN's step kernel per batch, as DeepBench measured it (:mod:`costmodel.implementations.
cudnn_rnn` adds these terms to each STANDARD step).

The library picks its step kernel by the batch, rounded up to a column tile of 8-128, and each
kernel adds to the step, beside its floor and GEMM, ``serial_cycles_per_k[tile]`` clock cycles
per unit of the step GEMM's reduction depth K (a chain of dependent K iterations: DeepBench's
Pascal backward_data step at batch 32 takes 150-200 cycles per unit of K = G*H for every cell
and H = 256-4096, while its FLOPs vary 256x) and ``stream_passes[tile]`` passes over the
weights that do not overlap the GEMM (Pascal's batch-16 forward of a large LSTM streams at
about a fifth of the bandwidth, 1.5x faster on the P100's HBM2 than on GP102). Fitted per
measured architecture with the other terms (``[params.<arch>.<phase>]``) and used only on
that architecture's devices: they are one cuDNN version's kernel choices (cuDNN 7.6 on the
V100 shows no batch-32 chain: 14-33 cycles per unit of K at every tile), so another generation
borrows the other terms and, of these, only what every tile shares (the least over tiles).
Fitted jointly, the other terms no longer carry cuDNN 6's per-batch slowness: the held-out
V100 is predicted from Pascal's terms 5x better on fp32 backward than from a batch-blind fit.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from costmodel.hardware import Hardware

# the batch rounded up to a column tile of the step GEMM, a power of two from 8 to 128
# (DeepBench's batches are 1-4, 8, 16, 32, 64, 128); a larger batch runs the 128-column kernel
BATCH_TILES = (8, 16, 32, 64, 128)
BATCH_TERMS = ("serial_cycles_per_k", "stream_passes")  # one value per BATCH_TILES entry


def batch_parts(kernel: Mapping, hw: Hardware, memory_s) -> dict:
    """Per step launch, the seconds per unit of each per-batch term and the batch tile:
    ``serial`` (one clock cycle per unit of the reduction depth K: the step GEMM's chain of
    dependent K iterations), ``stream`` (one pass over the weights: ``memory_s``, the
    stream at efficiency 1), ``tile`` (the index into :data:`BATCH_TILES`)."""
    batch, depth = (np.asarray(v, dtype=float) for v in (kernel["shape"][0],
                                                          kernel["shape"][2]))
    tile = np.minimum(np.searchsorted(BATCH_TILES, batch, side="left"), len(BATCH_TILES) - 1)
    return {"serial": depth / hw.boost_clock_hz, "stream": np.asarray(memory_s, dtype=float),
            "tile": tile}


def batch_s(kernel: Mapping, hw: Hardware, p, memory_s):
    """Seconds of the per-batch terms of one step launch (``p``: a ``PhaseParams``):
    ``serial_cycles_per_k`` cycles per unit of K plus ``stream_passes`` un-overlapped passes
    over the weights, both those of the launch's batch tile."""
    unit = batch_parts(kernel, hw, memory_s)
    serial = np.asarray(p.serial_cycles_per_k)[unit["tile"]]
    passes = np.asarray(p.stream_passes)[unit["tile"]]
    return serial * unit["serial"] + passes * unit["stream"]
