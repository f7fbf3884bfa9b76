"""LLMCompass's real-GPU measurements (PrincetonUniversity/LLMCompass @ 2e015fd, ISCA'24
artifact, ``ae/figure5/*/real_hardware``) on an A100 80GB (SXM4 inferred from the simulator's
2039 GB/s): 16-bit matmuls (skinny M included), softmax, LayerNorm (no affine), GELU (tanh
approximation), and the per-op times of one GPT-3 175B layer split 4 ways (tensor parallel) in
prefill (batch 8, 2048 tokens) and decode (batch 8, one token, 3072 cached).

What was timed: 50 calls of ``time.time(); op; torch.cuda.synchronize(); time.time()``, the
median: wall-clock, so each op carries Python dispatch and the synchronize
(``WALL_CLOCK_EXTRA_S`` on top of the CUDA-event floor of the fitted set). fp16 or bf16 is
UNCERTAIN (the test declares fp16, the run helper builds bf16 tensors); the A100 runs both at
the same tensor peak, so fp16 is assumed. The layer's LayerNorm rows had launch overhead
subtracted by LLMCompass (no floor there); its AllReduce rows were not measured and are left out.

Leave-one-GPU-out: this source holds one GPU, so its parameters come from NeuSight's per-op
rows (other GPUs: the A100 PCIe parts share the architecture), all fp32; the 16-bit GEMM
efficiency is assumed equal to the fp32 one (no 16-bit rows of another GPU to fit it on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.implementations import cublas
from costmodel.reference import neusight, published

NAME = "llmcompass"
FITTED = cublas.FITTED
DTYPE = "fp16"
WALL_CLOCK_EXTRA_S = 10e-6  # eager dispatch + synchronize: 5-20 us per op (performance notes)
D_MODEL, HEADS, TENSOR_PARALLEL, FFN_MULT = 12288, 96, 4, 4  # GPT-3 175B, split 4 ways
LAYER = {"prefill": {"batch": 8, "queries": 2048, "keys": 2048},
         "decode": {"batch": 8, "queries": 1, "keys": 3072}}
SECONDS = 1.0
MS = 1e-3


def _gemm(m, n, k, batch=1):
    return {"kind": "gemm", "m": m, "n": n, "k": k, "batch": batch, "weight_batch": batch}


def _point(op_class, elements, width, floor=True):
    return {"kind": "pointwise", "op_class": op_class, "elements": elements, "width": width,
            "floor": floor}


def layer_ops(stage: str) -> dict:
    """The ops of one GPT-3 layer on one of 4 GPUs, by LLMCompass's category name."""
    shape = LAYER[stage]
    tokens, heads = shape["batch"] * shape["queries"], HEADS // TENSOR_PARALLEL
    head_dim, part = D_MODEL // HEADS, D_MODEL // TENSOR_PARALLEL
    scores = shape["batch"] * heads * shape["queries"] * shape["keys"]
    return {"Q_K_V": [_gemm(tokens, part, D_MODEL)] * 3,  # LLMCompass: 3 x one projection
            "Q_mul_K": [_gemm(shape["queries"], shape["keys"], head_dim,
                              shape["batch"] * heads)],
            "A_mul_V": [_gemm(shape["queries"], head_dim, shape["keys"], shape["batch"] * heads)],
            "Wo_proj": [_gemm(tokens, D_MODEL, part)],
            "W1_proj": [_gemm(tokens, FFN_MULT * part, D_MODEL)],
            "W2_proj": [_gemm(tokens, D_MODEL, FFN_MULT * part)],
            "Softmax": [_point("softmax", scores, shape["keys"])],
            "LayerNorm_MHA": [_point("layernorm", tokens * D_MODEL, D_MODEL, floor=False)],
            "LayerNorm_FFN": [_point("layernorm", tokens * D_MODEL, D_MODEL, floor=False)],
            "GeLU": [_point("activation", tokens * FFN_MULT * part, FFN_MULT * part)]}


def rows() -> pd.DataFrame:
    (entry,) = published.files("llmcompass-")
    origin, data = published.origin_of(entry), published.read_json(entry)
    gpu = published.gpu_name(origin, "a100-sxm4-80gb")
    common = {"source": NAME, "gpu": gpu, "phase": "forward", "dtype": DTYPE,
              "repo": data["repo"], "commit": data["commit"]}
    out = []
    sets = data.get("datasets", {})
    for key, family, op_class in (("matmul_A100", "gemm", None),
                                  ("softmax_A100", "softmax", "softmax"),
                                  ("layernorm_A100", "layernorm", "layernorm"),
                                  ("gelu_A100", "activation", "activation")):
        where = f"{origin}: dataset {key}"
        for i, row in enumerate(sets[key]["rows"]):
            measured = row.get("time_ms", row.get("time_ms_derived"))
            seconds = published.number(where, i, {"time": measured}, "time") * MS
            if family == "gemm":
                m, n, k = (published.number(where, i, row, f) for f in ("M", "N", "K"))
                ops = [_gemm(m, n, k)]
            elif "numel" in row:
                n = published.number(where, i, row, "numel")
                ops = [_point(op_class, n, n)]
            else:
                m, n = (published.number(where, i, row, f) for f in ("M", "N"))
                ops = [_point(op_class, m * n, n)]
            out.append({**common, "family": family, "row": i, "measured_s": seconds,
                        "ops": tuple(ops), "path_or_url": sets[key]["path"]})
    for key, stage in (("transformer_A100", "prefill"), ("transformerAR_A100", "decode")):
        measured = sets[key]["seconds"]
        for name, ops in layer_ops(stage).items():
            out.append({**common, "family": f"layer_op_{stage}", "row": name,
                        "measured_s": published.number(f"{origin}: dataset {key}", 0, measured,
                                                       name) * SECONDS,
                        "ops": tuple(ops), "path_or_url": sets[key]["path"]})
    return pd.DataFrame(out)


def fit(train: pd.DataFrame) -> dict:
    """Parameters from NeuSight's per-op rows of every GPU but the ones held out here."""
    held = {"a100-sxm4-80gb"} - set(train.gpu)
    ops = neusight.rows()
    return neusight.fit(ops[~ops.gpu.isin(held)].reset_index(drop=True))


def op_seconds(op: dict, hw, p: dict) -> float:
    floor = (p["floor_s"] + WALL_CLOCK_EXTRA_S) if op.get("floor", True) else 0.0
    if op["kind"] == "gemm":
        return float(cublas.gemm_time_s(op["m"], op["n"], op["k"], op["batch"], hw, DTYPE, p,
                                        op["weight_batch"], floor))
    nbytes = cublas.pointwise_bytes(op["elements"], op["op_class"], DTYPE, op["width"])
    return float(cublas.pointwise_time_s(nbytes, op["op_class"], hw, p, floor))


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    return published.predict_ops(frame, params, op_seconds)


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    """The generic roofline with ``eff`` over each row's ops (score.py's baselines)."""
    return published.baseline(frame, eff, frame["ops"])
