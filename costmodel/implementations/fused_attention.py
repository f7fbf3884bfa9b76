"""Time of PyTorch's fused attention kernels (flash, memory-efficient, cuDNN) on NVIDIA GPUs.

:mod:`costmodel.implementations.sdpa` says which kernel runs; this module prices it. A fused
kernel gives each thread block ``Q_TILE_ROWS`` query rows of one (batch, head) and streams
every key block past them, so the kernel runs ``ceil(batch * heads * ceil(n / Q_TILE_ROWS) /
SMs)`` waves and its last wave may be partly empty (tile quantisation). Per block the work is
the two products on the tensor cores and the softmax on each score (exp, max, sum, scale on
the fp32 units), one after the other within a warp::

    compute_s = max((products_flops / (tensor_peak * efficiency)
                     + scores * score_flops / fp32_peak) / quantisation,
                    the longest block's share of that work on one SM)
    memory_s  = (q, k, v, o bytes) / hbm_bytes_per_s
    fused_s   = floor_s + max(compute_s, memory_s)

``products_flops`` are 2 products of ``2 * pairs * head_dim`` per (batch, head) forward and
``FLASH_BACKWARD_PRODUCTS`` = 5 backward (flash-attention's convention: backward = 2.5 x
forward, :mod:`costmodel.models.attention`), each at the head dim the kernel pads to
(:func:`tiles`: flash to a multiple of 32; the memory-efficient kernel's P @ V to its
kMaxK); scores are recomputed in backward. The tensor
peak is the 16-bit one, or TF32 for fp32 (the memory-efficient kernel, xformers' cutlass
kernel, runs fp32 on TF32 tensor cores: its 64 x 16 x 1024^2 x 256 forward does 1.1 TFLOP in
27.2 ms = 40.5 TFLOP/s, above the A100's 19.5 fp32 peak). ``efficiency`` and ``score_flops``
are fitted per kernel and dtype class (``costmodel/data/fitted/sdpa.toml``, ``python -m
costmodel.reference.fit attention``) from the published threads' rows; a kernel or dtype
class without rows takes the pooled set.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import numpy as np

from costmodel.hardware import Hardware, matmul_peak
from costmodel.models.attention import FLASH_BACKWARD_PRODUCTS, FORWARD_PRODUCTS
from costmodel.numeric import dtype_bytes_of

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FITTED = "sdpa"
Q_TILE_ROWS = 128  # query rows per thread block (flash-attention 2's kBlockM on sm80)
HEAD_DIM_GRANULE = 32  # flash-attention 2 instantiates head dims 32, 64, 96, ..., 256
# PyTorch's memory-efficient kernel (xformers' cutlass AttentionKernel<..., kQueriesPerBlock,
# kKeysPerBlock, kMaxK>, mem_eff_attention/kernels/cutlassF.h, sm80): the first whose kMaxK
# holds the head dim runs; (kMaxK, kQueriesPerBlock): 64x64_rf (kMaxK 64), 64x128_rf (128),
# 32x128_gmem (no limit: the output is accumulated in global memory 128 columns at a time).
# The rf kernels' P @ V runs kMaxK columns whatever the head dim (the MMA covers the whole
# register tile; predication only masks the loads).
MEMORY_EFFICIENT_TILES = ((64, 64), (128, 64), (None, 32))
GMEM_VALUE_COLUMNS = 128  # 32x128_gmem: value columns per pass
MATMUL_FLOPS_PER_MAC = 2  # one multiply-add = 2 FLOPs (costmodel.conventions)
QKVO = 4  # tensors of batch x n x heads x head_dim read or written once: q, k, v, o
BACKWARD_QKVO = 2 * QKVO  # + dO read, dQ dK dV written (and q, k, v, o read again)
POOLED = "pooled"  # the parameter set of every kernel and dtype class together
# PyTorch's flash (FlashAttention-2) and memory-efficient (xformers cutlass) kernels are sm80
# code: mma.sync, no wgmma. On Hopper mma.sync issues at Ampere's per-SM-per-clock rate, half
# Hopper's: dense fp16 2048 FLOP/clk/SM on the A100 (312 TFLOP/s / 108 SMs / 1.41 GHz) against
# 4096 on the H100 SXM (989.4 / 132 / 1.83 GHz), TF32 1024 against 2048. Corroborated:
# FlashAttention-2 reaches 50-73 % of the A100's peak (Dao, arXiv 2307.08691) but "only 35 %"
# of the H100's (Shah et al., FlashAttention-3, arXiv 2407.08608); measured on an H200 (session
# 6), fmha_cutlassF_f32 ran at about the speed this model predicts for an A100. cuDNN's SDPA
# (sm90 kernels with wgmma on Hopper) runs at the full rate.
SM80_KERNELS = ("flash", "memory-efficient")
# Blackwell (B200): tcgen05 runs 8192 dense fp16 FLOP/clk/SM (2.25 PFLOP/s / 148 SMs / 1.856
# GHz); mma.sync is assumed to keep the 2048 of Ampere and Hopper, a quarter: an extrapolation,
# no B200 timing of these kernels was found (cuDNN's SDPA, first on sm100, runs at the full rate)
LEGACY_MMA_FRACTION = {"hopper": 0.5, "blackwell": 0.25}
PHASES = ("forward", "backward")


def dtype_class(dtype: str) -> str:
    """"16-bit" (fp16, bf16: the same tensor peak on Ampere and later) or the dtype itself."""
    return "16-bit" if dtype in ("fp16", "bf16") else dtype


def params_of(params: Mapping, kernel: str, dtype: str) -> dict:
    """The fitted set of ``kernel`` (flash, memory-efficient, cudnn) and ``dtype``'s class, or
    the pooled set where the fit had no rows of it."""
    chosen = params.get("kernel", {}).get(kernel, {}).get(dtype_class(dtype))
    return dict(chosen if chosen is not None else params[POOLED])


def kernel_for(hw: Hardware, dtype: str, head_dim=None) -> str:
    """The fused kernel SDPA picks on ``hw`` for ``dtype`` (:func:`costmodel.implementations.
    sdpa.dispatch` with no mask and no dropout: a record does not carry the call's mask and
    dropout down to its kernels, so those rules are not applied here); "memory-efficient"
    where the rules fall through to math (the fused record was asked for explicitly)."""
    from costmodel.implementations import sdpa

    known = None if head_dim is None else int(head_dim)
    kernel = sdpa.dispatch(sdpa.target_of(hw), dtype, "inference", head_dim=known).kernel
    return "memory-efficient" if kernel == "math" else kernel


def tiles(kernel: str, head_dim) -> tuple:
    """(query rows per block, Q @ K^T depth, P @ V columns) ``kernel`` computes for
    ``head_dim``: the head dim padded to what the kernel instantiates."""
    head_dim = np.asarray(head_dim, float)
    padded = np.ceil(head_dim / HEAD_DIM_GRANULE) * HEAD_DIM_GRANULE
    if kernel != "memory-efficient":  # flash; cuDNN assumed alike
        return Q_TILE_ROWS, padded, padded
    rows = np.full(head_dim.shape, float(MEMORY_EFFICIENT_TILES[-1][1]))
    columns = np.ceil(head_dim / GMEM_VALUE_COLUMNS) * GMEM_VALUE_COLUMNS
    for max_k, q_rows in reversed(MEMORY_EFFICIENT_TILES[:-1]):
        rows = np.where(head_dim <= max_k, q_rows, rows)
        columns = np.where(head_dim <= max_k, max_k, columns)
    return rows, padded, columns


def legacy_mma_fraction(hw: Hardware, kernel: str) -> float:
    """The share of ``hw``'s tensor peak an sm80 (mma.sync) ``kernel`` can reach: 0.5 on
    Hopper (:data:`LEGACY_MMA_FRACTION`), 1 for cuDNN's kernels and on other architectures."""
    if kernel not in SM80_KERNELS:
        return 1.0
    return LEGACY_MMA_FRACTION.get(getattr(hw, "architecture", ""), 1.0)


def quantisation(heads_batch, q_len, hw: Hardware, q_rows=Q_TILE_ROWS):
    """Used fraction of the SM slots over the kernel's waves (1: the last wave is full)."""
    return _used_fraction(np.asarray(heads_batch, float) * np.ceil(np.asarray(q_len, float)
                                                                   / q_rows), hw)


def _used_fraction(blocks, hw: Hardware):
    waves = np.ceil(blocks / hw.sm_count)
    return blocks / (waves * hw.sm_count)


def fused_attention_s(q_len, kv_len, head_dim, heads_batch, hw: Hardware, dtype: str,
                      p: Mapping, phase: str = "forward", pairs=None, kernel: str = "flash",
                      sequences_axis=None):
    """Seconds of one fused attention kernel; ``pairs``: (query, key) pairs per (batch, head)
    it computes (default ``q_len * kv_len``; fewer under a causal mask); ``p``: one kernel's
    parameters (:func:`params_of`); ``kernel``: which one (:func:`tiles`); arrays broadcast.
    ``sequences_axis``: the axis along which the arrays hold the sequences of ONE varlen launch
    (flash's cu_seqlens): work, blocks and bytes are summed over it before the wave
    quantisation and the floor, which are paid once (a batch of equal lengths costs what the
    dense launch of that batch costs)."""
    if phase not in PHASES:
        raise ValueError(f"phase={phase!r} is not one of: {', '.join(PHASES)}")
    if not hw.sm_count:
        raise ValueError(f"{hw.name}: field 'sm_count': needed for the fused attention model")
    q_len, kv_len, head_dim, heads_batch = np.broadcast_arrays(*(np.asarray(v, float) for v in (
        q_len, kv_len, head_dim, heads_batch)))
    pairs = q_len * kv_len if pairs is None else np.asarray(pairs, float)
    products = FORWARD_PRODUCTS if phase == "forward" else FLASH_BACKWARD_PRODUCTS
    q_rows, depth, columns = tiles(kernel, head_dim)
    # q: [bh, n, d] @ k^T: [bh, d, L] then P: [bh, n, L] @ v: [bh, L, d], padded as run
    product_flops = (products / FORWARD_PRODUCTS * MATMUL_FLOPS_PER_MAC * pairs
                     * (depth + columns) * heads_batch)
    tensor = (matmul_peak(hw, dtype, allow_tf32=True) * hw.sustained_fraction()
              * legacy_mma_fraction(hw, kernel))
    vector = hw.peak_flops_per_s("fp32") * hw.sustained_fraction()
    passes = products / FORWARD_PRODUCTS  # backward recomputes the scores and forms dS
    work_s = (product_flops / (tensor * p["efficiency"])
              + passes * pairs * heads_batch * p["score_flops"] / vector)
    blocks = heads_batch * np.ceil(q_len / q_rows)
    moved = (QKVO if phase == "forward" else BACKWARD_QKVO) * heads_batch * head_dim * (
        q_len + kv_len) / 2 * dtype_bytes_of(dtype)
    # one block runs on one SM: no launch ends before its longest block (a varlen launch's
    # blocks differ; a dense launch's are equal, and there this bound is never the larger)
    block_s = work_s * np.minimum(q_rows, q_len) / (q_len * heads_batch) * hw.sm_count
    if sequences_axis is not None:
        work_s, blocks, moved = (np.sum(v, axis=sequences_axis) for v in (work_s, blocks, moved))
        block_s = np.max(block_s, axis=sequences_axis)
    compute_s = np.maximum(work_s / _used_fraction(blocks, hw), block_s)
    return p["floor_s"] + np.maximum(compute_s, moved / hw.hbm_bytes_per_s)


@lru_cache(maxsize=1)
def shipped() -> dict:
    """The fitted parameters shipped in ``costmodel/data/fitted/sdpa.toml``."""
    text = resources.files("costmodel").joinpath("data", "fitted", f"{FITTED}.toml").read_text()
    return tomllib.loads(text)
