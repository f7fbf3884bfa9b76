"""Attention-kernel times on an A100 from public threads (``attention-a100.json``):
pytorch/pytorch#126122 (SDPA flash and cuDNN kernels, us) and facebookresearch/xformers#587
(a cutlass flash-style kernel and plain PyTorch matmul-softmax-matmul attention, f16 and f32).

Assumed where the threads do not say (UNCERTAIN in the transcription): the A100 is the
catalogue's ``a100`` (SXM4 40GB); #126122's rows are a bf16, non-causal forward; xformers'
rows before its backward table are forward passes. The FlexAttention column and the backward
row are kept in the data but not scored (no model of either here).

Models, through :mod:`costmodel.implementations.cublas`:
``math`` (xformers "vanilla"): scores ``[B*H] (S x D) @ (D x S)``, softmax over S, then
``[B*H] (S x S) @ (S x D)``, each a kernel of its own;
``flash`` (flash, cuDNN, xformers' cutlass kernels): the same two GEMMs' work in one kernel,
reading Q, K, V and writing O once (the S x S scores never leave the chip).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.numeric import dtype_bytes_of
from costmodel.reference import neusight, published

NAME = "attention"
FITTED = cublas.FITTED
US = 1e-6
GPU = "a100"  # "A100 (variant not stated)": the catalogue's default A100
DTYPES = {"f16": "fp16", "f32": "fp32", None: "bf16"}  # None: #126122, assumed bf16
KERNELS = {"flash_us": "flash", "cudnn_us": "flash", "pr587_us": "flash", "main_us": "flash",
           "vanilla_us": "math"}
# xformers' f32 cutlass kernel runs on TF32 tensor cores: its 64 x 16 x 1024^2 x 32 forward does
# 4 * 64 * 16 * 1024^2 * 32 = 275 GFLOP in 4.84 ms = 57 TFLOP/s, above the 19.5 fp32 peak
FUSED_FP32_USES_TF32 = True
QKVO = 4  # tensors of B x S x H x D a fused kernel reads or writes once: Q, K, V, O


def rows() -> pd.DataFrame:
    (entry,) = published.files("attention-a100")
    origin, data = published.origin_of(entry), published.read_json(entry)
    out = []
    for source in data["sources"]:
        for i, row in enumerate(source["rows"]):
            if "bwd" == row.get("direction"):
                continue
            where = f"{origin}: source {source['id']}"
            b, s, h, d = (published.number(where, i, row, f) for f in (
                ("B", "M", "H", "K") if "B" in row else ("batch", "seq", "heads", "head_dim")))
            for column, model in KERNELS.items():
                if column in row:
                    out.append({"source": NAME, "gpu": GPU, "family": "attention",
                                "phase": "forward", "dtype": DTYPES[row.get("dtype")],
                                "kernel": column[:-3], "model": model, "batch": b, "seq": s,
                                "heads": h, "head_dim": d, "row": i,
                                "measured_s": published.number(where, i, row, column) * US,
                                "repo": source["url"], "commit": "",
                                "path_or_url": source["url"]})
    return pd.DataFrame(out)


def fit(train: pd.DataFrame) -> dict:
    """NeuSight's per-op parameters (the held-out A100 rows of this source are its only rows;
    NeuSight's A100 PCIe parts are other GPUs of the same architecture)."""
    return neusight.fit(neusight.rows())


def seconds(row, hw, p: dict) -> float:
    heads = row.batch * row.heads
    tf32 = FUSED_FP32_USES_TF32 and row.model == "flash" and row.dtype == "fp32"
    compute = [cublas.gemm_terms(row.seq, row.seq, row.head_dim, heads, hw, row.dtype, p,
                                 allow_tf32=tf32),
               cublas.gemm_terms(row.seq, row.head_dim, row.seq, heads, hw, row.dtype, p,
                                 allow_tf32=tf32)]
    if row.model == "flash":
        qkvo = QKVO * heads * row.seq * row.head_dim * dtype_bytes_of(row.dtype)
        memory_s = qkvo / (hw.hbm_bytes_per_s * p["gemm_memory_efficiency"])
        return p["floor_s"] + max(sum(c for c, _ in compute), memory_s)
    gemms = sum(p["floor_s"] + max(c, m) for c, m in compute)
    scores = heads * row.seq * row.seq
    softmax = cublas.pointwise_time_s(cublas.pointwise_bytes(scores, "softmax", row.dtype,
                                                             row.seq), "softmax", hw, p)
    return float(gemms + softmax)


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    out = []
    for row in frame.itertuples():
        hw = load_hardware(row.gpu)
        out.append(seconds(row, hw, cublas.params_for(params, hw)))
    return np.asarray(out)


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    """The generic roofline with ``eff``: the two GEMMs, plus the softmax pass for ``math``."""
    ops = []
    for r in frame.itertuples():
        heads = r.batch * r.heads
        gemms = [{"kind": "gemm", "m": r.seq, "n": r.seq, "k": r.head_dim, "batch": heads,
                  "weight_batch": heads},
                 {"kind": "gemm", "m": r.seq, "n": r.head_dim, "k": r.seq, "batch": heads,
                  "weight_batch": heads}]
        softmax = {"kind": "pointwise", "op_class": "softmax", "elements": heads * r.seq ** 2,
                   "width": r.seq}
        ops.append(gemms + ([softmax] if r.model == "math" else []))
    return published.baseline(frame, eff, ops)
