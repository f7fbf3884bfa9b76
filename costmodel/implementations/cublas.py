"""cuBLAS GEMMs and PyTorch's pointwise kernels on NVIDIA GPUs: time from tiles, waves and
per-architecture efficiencies fitted to published measurements.

A GEMM ``[batch] x (m x k) @ (k x n)`` runs as thread blocks that each own one output tile.
cuBLAS picks among tile sizes (NeuSight's kernel names show ``sgemm_128x128``, ``128x64``,
``64x64``, ...); smaller tiles run several blocks per SM, so one "slot" of an SM holds
``BASE_TILE / tile`` blocks. With ``T`` tiles on ``S`` SMs the kernel runs
``ceil(T / (S * blocks_per_sm))`` waves, each costing one base tile's work on one SM::

    compute_s = waves * (2 * BASE_TILE_ELEMENTS * k_per_split
                         / (peak_per_sm * efficiency * tile_factor) + wave_overhead_s)
    memory_s  = bytes / (hbm_bytes_per_s * memory_efficiency)  (x l2_speedup if it fits in L2)
    skinny_s  = 2 * batch * ceil8(m) * n * k / (peak * efficiency * skinny_efficiency)
                + wave_overhead_s                            (GEMV / small-M kernels)
    gemm_s    = floor_s + max(min(compute_s, skinny_s), memory_s)
                                          (the fastest kernel: cuBLAS's heuristic)

Too few tiles for one wave: the reduction is split (split-K) while each split keeps
``SPLIT_K_MIN_DEPTH`` of k. A plain GEMM (one call, ``batch`` and ``weight_batch`` 1: a
Linear, ``torch.matmul`` of two matrices) may also be split in two where that saves time
(``PLAIN_SPLITS``): 128 tiles on 108 SMs run as two waves unsplit, as three half-depth waves
split. The measured times of such calls follow the split, those of strided-batched calls (a
bmm) do not: NeuSight's Linears at 1-1.5 waves ran 21-82 % faster than whole unsplit waves
predict, its bmm rows there within 10 %; KernelBench's ``torch.matmul`` of 1024 x 4096 by
4096 x 2048 took 1.19 ms on an A100, 2048 x 2048 by 2048 x 2048 (same FLOPs, 256 tiles)
1.26 ms. (Which kernels cuBLAS ran is not in the data: the profiler kept the first name.)
``wave_overhead_s``: a wave's fixed time (loading the first
operand tiles, writing the output tile: memory latency, which does not scale with the peak).
``peak_per_sm`` is the matmul peak PyTorch reaches (:func:`costmodel.hardware.matmul_peak`:
fp32 without TF32 by default) scaled by the part's sustained clock
(``Hardware.sustained_fraction``: L4, T4, A100 PCIe 40GB, H100 SXM and PCIe do not hold their boost
clock through an SGEMM), over its SMs.

PyTorch's pointwise kernels (add, mul, relu, gelu, tanh, LayerNorm, softmax, dropout) are
priced by :mod:`costmodel.implementations.pointwise` (its names stay importable from here).
All fitted numbers live in
``costmodel/data/fitted/cublas.toml`` (``python -m costmodel.reference.fit neusight``), per
architecture where the training rows hold that architecture, else (GEMM values) those of an
architecture that runs the same SGEMM kernels (``SGEMM_KERNELS``), else the cross-architecture
set (``params["cross"]``), each with the rows it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import numpy as np

from costmodel.hardware import Hardware, matmul_peak

# PyTorch's pointwise kernels live in their own module; names kept importable from here
from costmodel.implementations.pointwise import (  # noqa: F401
    KIND_CLASS,
    LAYERNORM_CACHED_ROW_BYTES,
    OP_CLASS,
    POINTWISE_MOVES,
    SOFTMAX_SMEM_BYTES,
    SOFTMAX_UNCACHED_EXTRA_READS,
    efficiency_for,
    extra_row_reads,
    pointwise_bytes,
    pointwise_memory_s,
    pointwise_time_s,
)
from costmodel.numeric import dtype_bytes_of

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FITTED = "cublas"
BASE_TILE = (128, 128)  # the large sgemm/hgemm tile: one block fills an SM slot
# tiles cuBLAS chooses among for fp32 and 16-bit GEMMs (NeuSight's kernel names: 128x128 in
# 55 %, 128x64 in 20 %, 64x64 and 128x32 in 5 % each of 16,513 bmm/linear rows)
TILES = ((128, 128), (128, 64), (64, 64))
# Few rows (a Linear on a few tokens, a decode step): cuBLAS also has GEMV / small-tile kernels
# that work on the rows that exist, padded to SKINNY_ROW_ALIGN, with no 128-row tile and no wave
# quantisation, at a lower rate (``skinny_efficiency`` of the tile rate, fitted to DeepBench's
# skinny rows: ``costmodel.reference.deepbench_gemm``). The heuristic takes whichever is faster
# at every m, so the time has no regime step (the old m < 64 switch doubled it at m = 64).
SKINNY_ROW_ALIGN = 8  # rows padded to a multiple of 8 (one warp's MMA / vector-load granule)
L2_USABLE_FRACTION = 0.5  # of the L2 that holds an op's tensors between calls (A100: two halves)
SPLIT_K_MIN_DEPTH = 256  # each split of the reduction keeps at least this much of k
# the extra split counts a plain GEMM may take beyond filling one wave: 2 only, taken wherever
# it is faster. Chosen on NeuSight's Linear rows, in-sample, each variant refitted (median
# |error|, A100 40GB / 80GB / H100 / L4 / T4): none 4.8 / 4.9 / 3.5 / 9.9 / 6.0 %; 2 splits
# 3.5 / 3.6 / 3.7 / 8.5 / 5.3; up to 4 or 16 splits, with or without the partial sums' traffic,
# 4.1-4.6 on the A100s (their 1-3 wave Linears 5-20 % too fast); 2 splits only below 2-4
# waves, or only where they save 10-22 %, 4.2-4.6. At many waves the split acts as a finer
# wave granule (half a wave's depth), which the measured times favour over whole waves
# (KernelBench's 2048^3 on the A100 is the exception: 17 % too fast with it).
PLAIN_SPLITS = (2,)
MATMUL_FLOPS_PER_MAC = 2  # one multiply-add = 2 FLOPs (costmodel.conventions)
# The SGEMM kernel generation cuBLAS runs per architecture, from the kernel names NeuSight's
# profiler recorded (cuBLAS 12.1 via PyTorch 2.1): the T4 (Turing) runs volta_sgemm_* (all
# 3,016 of its rows), the L4 (Ada) ampere_sgemm_* like the A100s (every bmm row; its Linears
# also cutlass_80_simt_sgemm_*), the V100 volta_sgemm_* (the generation's own kernels). The
# H100 runs sm80_xmma_gemm_* and cutlass_80_simt_* kernels, which no other GPU in the data
# runs: it is in no group. Which tiles the heuristic picks is the kernels' (a bmm with n = 64
# takes 0.58-0.62 of the n = 128 time on the H100 and T4, which have 64-wide tiles, 0.96-0.97
# on the A100s, which run every bmm on ampere_sgemm_128x128), so a held-out architecture
# borrows the GEMM values of one running its kernels rather than the cross-architecture pool.
SGEMM_KERNELS = {"volta": "volta_sgemm", "turing": "volta_sgemm",
                 "ampere": "ampere_sgemm", "ada": "ampere_sgemm"}
# the GEMM values of a fitted set (what a kernel sibling lends; the floor and the pointwise
# fractions are not the SGEMM kernels')
GEMM_KEYS = ("gemm_efficiency", "gemm_memory_efficiency", "wave_overhead_s", "l2_speedup",
             "tile_factor", "skinny_efficiency")


def params_for(params: Mapping, hw: Hardware) -> dict:
    """The fitted set for ``hw``'s architecture; without GEMM values of its own, the GEMM
    values of an architecture that runs the same SGEMM kernels (:func:`kernel_sibling`); else
    the cross-architecture set."""
    sets = params.get("architecture", {})
    own = dict(sets.get(hw.architecture, {}))
    sibling = kernel_sibling(sets, hw.architecture)
    borrowed = ({k: v for k, v in sets[sibling].items() if k in GEMM_KEYS}
                if sibling and "gemm_efficiency" not in own else {})
    return {**dict(params["cross"]), **borrowed, **{k: v for k, v in own.items() if k != "rows"},
            "pointwise_efficiency": efficiency_for(params, hw)}


def set_used(params: Mapping, architecture: str) -> str:
    """Whose GEMM values :func:`params_for` gives a device of ``architecture``: the
    architecture itself, the kernel sibling it borrows from, or "cross" (the
    cross-architecture set: an architecture no fit has rows of, e.g. Blackwell)."""
    sets = params.get("architecture", {})
    if "gemm_efficiency" in sets.get(architecture, {}):
        return architecture
    return kernel_sibling(sets, architecture) or "cross"


def kernel_sibling(sets: Mapping, architecture: str) -> str | None:
    """Another architecture in ``sets`` with GEMM values whose cuBLAS runs the same SGEMM
    kernels as ``architecture`` (SGEMM_KERNELS), or None: their tile choices and per-tile rates
    are the kernels', so they transfer where a cross-architecture pool does not."""
    family = SGEMM_KERNELS.get(architecture)
    if family is None:
        return None
    same = sorted(a for a, v in sets.items() if a != architecture
                  and SGEMM_KERNELS.get(a) == family and "gemm_efficiency" in v)
    return same[0] if same else None


def peak_per_sm(hw: Hardware, dtype: str, allow_tf32: bool = False) -> float:
    """Matmul FLOP/s of one SM at the sustained clock (torch default: no TF32)."""
    if not hw.sm_count:
        raise ValueError(f"{hw.name}: field 'sm_count': needed for the GEMM waves model")
    return matmul_peak(hw, dtype, allow_tf32) * hw.sustained_fraction() / hw.sm_count


def gemm_time_s(m, n, k, batch, hw: Hardware, dtype: str, p: Mapping, weight_batch=None,
                floor_s: float | None = None):
    """Seconds of ``batch`` GEMMs (m x k) @ (k x n) on ``hw``; arrays broadcast.
    ``weight_batch``: how many distinct (k x n) operands (default ``batch``; 1 for a Linear).
    ``p``: one architecture's parameters (:func:`params_for`)."""
    compute_s, memory_s = gemm_terms(m, n, k, batch, hw, dtype, p, weight_batch)
    return (p["floor_s"] if floor_s is None else floor_s) + np.maximum(compute_s, memory_s)


def gemm_terms(m, n, k, batch, hw: Hardware, dtype: str, p: Mapping, weight_batch=None,
               allow_tf32: bool = False):
    """(compute_s, memory_s) of :func:`gemm_time_s`, without the floor."""
    m, n, k, batch = (np.asarray(v, dtype=float) for v in (m, n, k, batch))
    weights = batch if weight_batch is None else np.asarray(weight_batch, dtype=float)
    slot_flops = MATMUL_FLOPS_PER_MAC * BASE_TILE[0] * BASE_TILE[1]
    rate = peak_per_sm(hw, dtype, allow_tf32) * p["gemm_efficiency"]
    best = np.full(np.broadcast(m, n, k, batch, weights).shape, np.inf)
    most = np.floor(k / SPLIT_K_MIN_DEPTH)  # the most splits that keep SPLIT_K_MIN_DEPTH each
    plain = (batch == 1) & (weights == 1)
    for (tm, tn), factor in zip(TILES, p["tile_factor"]):
        per_slot = (BASE_TILE[0] * BASE_TILE[1]) // (tm * tn)
        tiles = batch * np.ceil(m / tm) * np.ceil(n / tn)
        slots = hw.sm_count * per_slot
        fill = np.maximum(1.0, np.minimum(most, np.floor(slots / tiles)))
        for splits in (fill, *(np.where(plain & (s <= most), s, fill) for s in PLAIN_SPLITS)):
            waves = np.ceil(tiles * splits / slots)
            wave_s = slot_flops * np.ceil(k / splits) / (rate * factor) + p["wave_overhead_s"]
            best = np.minimum(best, waves * wave_s)
    best = np.minimum(best, skinny_s(m, n, k, batch, hw.sm_count, rate, p))
    moved = dtype_bytes_of(dtype) * (batch * (m * k + m * n) + weights * k * n)
    return best, moved / (memory_rate(moved, hw, p) * p["gemm_memory_efficiency"])


def skinny_s(m, n, k, batch, sm_count: int, rate, p: Mapping):
    """Seconds of the small-M kernel: the rows padded to SKINNY_ROW_ALIGN over all SMs at
    ``skinny_efficiency`` of the tile rate ``rate`` (FLOP/s per SM), one wave's fixed time."""
    padded = np.ceil(m / SKINNY_ROW_ALIGN) * SKINNY_ROW_ALIGN
    return (MATMUL_FLOPS_PER_MAC * batch * padded * n * k
            / (rate * sm_count * p["skinny_efficiency"]) + p["wave_overhead_s"])


def memory_rate(moved, hw: Hardware, p: Mapping):
    """Bytes/s before efficiency: HBM, or ``l2_speedup`` x HBM where all ``moved`` bytes fit
    in ``L2_USABLE_FRACTION`` of the L2 (an op run again on the same tensors finds them there,
    as every repeated-call benchmark does)."""
    fits = np.asarray(moved, float) <= (hw.l2_bytes or 0) * L2_USABLE_FRACTION
    return hw.hbm_bytes_per_s * np.where(fits, p.get("l2_speedup", 1.0), 1.0)


@lru_cache(maxsize=1)
def shipped() -> dict:
    """The fitted parameters shipped in ``costmodel/data/fitted/cublas.toml``."""
    text = resources.files("costmodel").joinpath("data", "fitted", f"{FITTED}.toml").read_text()
    return tomllib.loads(text)
