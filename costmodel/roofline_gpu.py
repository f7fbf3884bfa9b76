"""The fitted GPU models' per-kernel terms, for :func:`costmodel.roofline.kernel_time`: a GEMM
or pointwise kernel priced by :mod:`costmodel.implementations.cublas` (tiles and waves, the
per-op floor), a fused SDPA kernel by :mod:`costmodel.implementations.fused_attention`. Each
returns the roofline's row (compute, memory, latency terms, lower and upper bounds, the binding
term). Split out of ``roofline.py``, which keeps the generic arithmetic and ``predict``."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from costmodel.efficiency import Efficiency
from costmodel.hardware import Hardware, matmul_peak
from costmodel.implementations import cublas, fused_attention
from costmodel.kernel import is_step

TERMS = ("compute", "memory", "latency")


def cublas_kernel(k: Mapping) -> bool:
    """A kernel cuBLAS or PyTorch's pointwise kernels run (not a fused recurrent step)."""
    if is_step(k["name"]):
        return False
    return (k["kind"] == "gemm" and k["shape"] is not None) or k["kind"] in cublas.KIND_CLASS


def cublas_time(k: Mapping, hw: Hardware, eff: Efficiency, dtype: str, allow_tf32: bool):
    p = eff.cublas
    flops = np.asarray(k["flops"], dtype=float) * k["concurrent"]
    nbytes = np.asarray(k["bytes"], dtype=float) * k["concurrent"]
    if k["kind"] == "gemm":
        m, n, depth = k["shape"][:3]
        # an optional 4th shape entry: GEMMs batched inside the launch (a bmm over heads)
        batch = k["concurrent"] * (k["shape"][3] if len(k["shape"]) > 3 else 1)
        peak = matmul_peak(hw, dtype, allow_tf32)
        compute_s, memory_s = cublas.gemm_terms(m, n, depth, batch, hw, dtype, p,
                                                allow_tf32=allow_tf32)
    else:
        peak = hw.peak_flops_per_s("fp32")  # pointwise work runs on the vector units
        compute_s = flops / peak
        memory_s = cublas.pointwise_memory_s(nbytes, cublas.KIND_CLASS[k["kind"]], hw, p)
    compute_s, memory_s = np.broadcast_arrays(np.asarray(compute_s, float),
                                              np.asarray(memory_s, float))
    latency_s = np.full_like(compute_s, p["floor_s"])
    terms = np.stack([compute_s, memory_s, latency_s])
    return {"name": k["name"], "phase": k["phase"], "count": k["count"],
            "flops": flops, "bytes": nbytes, "peak_flops_per_s": peak, "ideal_s": flops / peak,
            "compute_s": compute_s, "memory_s": memory_s, "latency_s": latency_s,
            "lower_s": latency_s + np.maximum(compute_s, memory_s), "upper_s": terms.sum(axis=0),
            "binding": np.asarray(TERMS)[terms.argmax(axis=0)]}


def fused_attention_time(k: Mapping, hw: Hardware, eff: Efficiency, dtype: str,
                          sequences_axis=None) -> dict:
    """A fused SDPA kernel (flash, memory-efficient, cuDNN) on a GPU with fitted parameters:
    :mod:`costmodel.implementations.fused_attention`, the kernel PyTorch dispatches for
    ``hw`` and ``dtype`` (:func:`~costmodel.implementations.fused_attention.kernel_for`).
    ``sequences_axis``: the shape's arrays hold the sequences of one varlen launch along it
    (one head dim), priced as one launch (``fused_attention_s``'s ``sequences_axis``)."""
    shape = np.broadcast_arrays(*(np.asarray(v, float) for v in k["shape"][:5]))
    if sequences_axis is not None:
        head_dim = float(np.unique(shape[2]).item())  # one record: one head dim
        kernel = fused_attention.kernel_for(hw, dtype, head_dim)
        p = fused_attention.params_of(fused_attention.shipped(), kernel, dtype)
        total = np.asarray(fused_attention.fused_attention_s(
            shape[0], shape[1], head_dim, shape[3], hw, dtype, p, k["phase"], shape[4],
            kernel, sequences_axis), float)
        floor_s = np.full(total.shape, p["floor_s"])
        k = {**k, **{f: np.sum(np.broadcast_to(np.asarray(k[f], float), shape[0].shape),
                               axis=sequences_axis) for f in ("flops", "bytes")}}
        shape = [total]
    else:
        total, floor_s = np.zeros_like(shape[0]), np.zeros_like(shape[0])
    for head_dim in (np.unique(shape[2]) if sequences_axis is None else ()):
        at = shape[2] == head_dim  # the kernel SDPA picks depends on the head dim
        kernel = fused_attention.kernel_for(hw, dtype, head_dim)
        p = fused_attention.params_of(fused_attention.shipped(), kernel, dtype)
        q_len, kv_len, _, heads_batch, pairs = (v[at] for v in shape)
        total[at] = fused_attention.fused_attention_s(q_len, kv_len, head_dim, heads_batch, hw,
                                                      dtype, p, k["phase"], pairs, kernel)
        floor_s[at] = p["floor_s"]
    total = total * k["concurrent"]
    flops = np.asarray(k["flops"], dtype=float) * k["concurrent"]
    nbytes = np.asarray(k["bytes"], dtype=float) * k["concurrent"]
    peak = matmul_peak(hw, dtype, True)
    latency_s = floor_s
    compute_s = total - latency_s
    memory_s = nbytes / hw.hbm_bytes_per_s
    terms = np.stack(np.broadcast_arrays(compute_s, memory_s, latency_s))
    return {"name": k["name"], "phase": k["phase"], "count": k["count"],
            "flops": flops, "bytes": nbytes, "peak_flops_per_s": peak, "ideal_s": flops / peak,
            "compute_s": compute_s, "memory_s": memory_s, "latency_s": latency_s,
            "lower_s": total, "upper_s": terms.sum(axis=0),
            "binding": np.asarray(TERMS)[terms.argmax(axis=0)]}
