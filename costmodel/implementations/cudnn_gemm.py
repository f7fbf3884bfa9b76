"""The seconds of one cuDNN RNN GEMM launch per unit of each fitted term, and the peak it runs
at (:mod:`costmodel.implementations.cudnn_rnn` prices its kernels with these; the terms are
described in its docstring). Split from it; ``python -m costmodel.reference.fit`` builds its
basis from :func:`gemm_parts`, so the fit and the prediction share this arithmetic."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from costmodel.hardware import NO_TENSOR_CORES, Hardware, matmul_peak
from costmodel.numeric import dtype_bytes_of


def math_peak(hw: Hardware, dtype: str, cudnn_allow_tf32: bool = True) -> float:
    """The peak a cuDNN RNN GEMM in ``dtype`` runs at on ``hw`` (see :mod:`costmodel.implementations.cudnn_rnn`)."""
    if dtype in ("fp16", "bf16") and hw.architecture in NO_TENSOR_CORES:
        return matmul_peak(hw, "fp32", False)
    return matmul_peak(hw, dtype, cudnn_allow_tf32)


def element_peak(hw: Hardware, peak: float) -> float:
    """The rate of the per-element work (loads, conversions, the tile's padded columns'
    bookkeeping): the CUDA cores' fp32 rate, not a tensor-core peak (at most ``peak``, the
    GEMM's): DeepBench's V100 fp16 steps run 1.2-1.8x faster than fp32, not the peaks' 8x."""
    return min(peak, hw.peak_flops_per_s("fp32"))


def gemm_terms(kernel: Mapping, hw: Hardware, dtype: str, p, eff,
               cudnn_allow_tf32: bool = True, persistent=False):
    """(core_s, memory_s) of one launch of an evaluated kernel (``flops, bytes,
    resident_bytes, concurrent, shape``) as in cudnn_rnn's docstring (``p``: its
    ``PhaseParams``); ``persistent`` (bool array) drops the re-read weights. ``eff``: the
    priors (tiles, L2 fractions)."""
    return core_memory(gemm_parts(kernel, hw, dtype, eff, cudnn_allow_tf32, persistent), p)


def core_memory(unit: Mapping, p):
    """(core_s, memory_s) from :func:`gemm_parts`' units and a ``PhaseParams``' terms."""
    core_s = unit["compute"] / p.compute_efficiency + unit["element"] * p.flops_per_element
    return core_s, unit["memory"] / p.memory_efficiency


def gemm_parts(kernel: Mapping, hw: Hardware, dtype: str, eff, cudnn_allow_tf32: bool = True,
               persistent=False) -> dict:
    """The seconds of one launch per unit of each fitted term: ``compute`` (efficiency 1),
    ``element`` (1 FLOP per element moved), ``memory`` (efficiency 1)."""
    concurrent = np.asarray(kernel["concurrent"], dtype=float)
    flops = np.asarray(kernel["flops"], dtype=float) * concurrent
    nbytes = np.asarray(kernel["bytes"], dtype=float) * concurrent
    resident = np.asarray(kernel["resident_bytes"], dtype=float) * concurrent
    peak = math_peak(hw, dtype, cudnn_allow_tf32)
    compute_s = flops / (peak * busy_fraction(kernel["shape"], concurrent, hw, eff))
    element_s = nbytes / dtype_bytes_of(dtype) / element_peak(hw, peak)
    rate = hw.hbm_bytes_per_s * eff.memory(nbytes)  # the priors' (Calculon's) stream curve
    fits = (resident > 0) & (resident <= (hw.l2_bytes or 0) * eff.l2_usable_fraction)
    cached = np.where(fits, resident, 0.0)
    memory_s = (nbytes - cached) / rate + cached / (rate * eff.l2_bandwidth_ratio)
    memory_s = np.where(persistent, (nbytes - resident) / rate, memory_s)
    return {"compute": compute_s, "element": element_s, "memory": memory_s}


def busy_fraction(shape, concurrent, hw: Hardware, eff):
    """The share of SMs a GEMM's output tiles (the priors' tile, times the split-K factor)
    keep busy: min(1, tiles / SMs). cuDNN's step GEMMs pick among many tile shapes, so the
    whole-wave quantisation of the cuBLAS waves term is not applied (it put 2x steps between
    neighbouring DeepBench widths that the measurements do not show)."""
    if shape is None or not eff.tile_m or not hw.sm_count:
        return 1.0
    m, n, k = (np.asarray(v, dtype=float) for v in shape[:3])
    tiles = np.ceil(m / eff.tile_m) * np.ceil(n / eff.tile_n) * concurrent
    splits = np.maximum(1.0, np.minimum(np.floor(k / eff.split_k_min_depth),
                                        np.ceil(hw.sm_count / tiles)))
    return np.minimum(1.0, tiles * splits / hw.sm_count)
