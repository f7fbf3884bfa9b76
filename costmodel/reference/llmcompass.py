"""LLMCompass's real-GPU measurements (PrincetonUniversity/LLMCompass @ 2e015fd, ISCA'24
artifact, ``ae/figure5/*/real_hardware``) on an A100 80GB (SXM4 inferred from the simulator's
2039 GB/s): 16-bit matmuls (skinny M included), softmax, LayerNorm (no affine), GELU (tanh
approximation), and the per-op times of one GPT-3 175B layer split 4 ways (tensor parallel) in
prefill (batch 8, 2048 tokens) and decode (batch 8, one token, 3072 cached).

What was timed (software_model/*.py run_on_gpu, read at b95c6c9): 3 warm-up calls, then 50
of ``time.time(); op; torch.cuda.synchronize(); time.time()``, the median: wall-clock. Softmax
and the matmuls are eager ops (``torch.softmax``, ``torch.matmul``); LayerNorm and GELU are
``@torch.compile``'d functions, so each of their calls also runs TorchDynamo's guards and
Inductor's Python wrapper before its one Triton kernel: their small sizes sit on a 48-53 us
floor where eager softmax sits on 13 us. Those are properties of the measurement, not of the
kernel, so they are per-source timing terms (:data:`TIMING`) that this module adds on top
of what ``compare`` predicts for the kernels (compare never includes them): per eager op the
synchronize and host clock beyond NeuSight's CUDA-event floor, one term for an eager
pointwise op (``wall_clock_extra_s``) and one for an eager GEMM (``gemm_wall_clock_extra_s``:
a cuBLAS call costs the host more than a pointwise launch; NeuSight's own H100 layer nodes,
timed alike, put a tiny Linear at 21.6 us and a tiny pointwise op at 12.4 us (medians), see
:func:`costmodel.reference.neusight_layers.tiny_op_times`), and ``compiled_call_s`` per
compiled call. Each is fitted on this source's training rows of its own kind (:func:`fit`);
scored leave-one-family-out (:func:`leave_one_family_out`: the LayerNorm rows' compiled-call
term comes from the GELU rows and vice versa; the softmax rows' eager term from the layers'
softmax ops, not from the GEMMs as it did while one term served both). fp16 or bf16 is
UNCERTAIN (the test declares fp16, the run helper builds fp16 tensors at b95c6c9); the A100
runs both at the same tensor peak. The layer's LayerNorm rows had launch overhead subtracted
by LLMCompass (no floor there; the decode one, 48 us, still looks like a compiled call's
floor and stays a miss); its AllReduce rows were not measured and are left out.

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
# its own file: the timing terms only (the kernel parameters are NeuSight's, in cublas.toml)
FITTED = "llmcompass_timing"
DTYPE = "fp16"
# per-call timing terms by how LLMCompass timed the op and what it launches (module docstring)
TIMING = {("eager", "pointwise"): "wall_clock_extra_s",
          ("eager", "gemm"): "gemm_wall_clock_extra_s",
          ("compiled", "pointwise"): "compiled_call_s"}
COMPILED_FAMILIES = ("layernorm", "activation")  # layernorm_gpu, gelu_gpu: @torch.compile
TIMING_GRID_S = np.concatenate([[0.0], np.geomspace(0.25e-6, 80e-6, 47)])
D_MODEL, HEADS, TENSOR_PARALLEL, FFN_MULT = 12288, 96, 4, 4  # GPT-3 175B, split 4 ways
LAYER = {"prefill": {"batch": 8, "queries": 2048, "keys": 2048},
         "decode": {"batch": 8, "queries": 1, "keys": 3072}}
SECONDS = 1.0
MS = 1e-3


def _gemm(m, n, k, batch=1):
    return {"kind": "gemm", "m": m, "n": n, "k": k, "batch": batch, "weight_batch": batch}


def _point(op_class, elements, width, floor=True, timing="eager"):
    return {"kind": "pointwise", "op_class": op_class, "elements": elements, "width": width,
            "floor": floor, "timing": timing}


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
            "GeLU": [_point("activation", tokens * FFN_MULT * part, FFN_MULT * part,
                            timing="compiled")]}


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
                ops = [_point(op_class, n, n, timing=_timing(family))]
            else:
                m, n = (published.number(where, i, row, f) for f in ("M", "N"))
                ops = [_point(op_class, m * n, n, timing=_timing(family))]
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


def _timing(family: str) -> str:
    return "compiled" if family in COMPILED_FAMILIES else "eager"


def _kernel_params() -> dict:
    """NeuSight's per-op fit (this source's A100 SXM4 80GB is not among NeuSight's GPUs, so
    no row of it is held out there)."""
    return neusight.fitted_on_all()


def fit(train: pd.DataFrame) -> dict:
    """NeuSight's kernel parameters plus the timing terms fitted on ``train``'s rows of this
    source (0 where ``train`` has none of a kind: leave-one-GPU-out holds all of them out)."""
    params = {**_kernel_params(), "timing": {term: 0.0 for term in TIMING.values()}}
    for kind, term in TIMING.items():
        rows = train[[any(_timing_kind(op) == kind and op.get("floor", True) for op in ops)
                      for ops in train["ops"]]] if len(train) else train
        if not len(rows):
            continue
        measured = rows.measured_s.to_numpy()
        losses = [np.mean(np.abs(np.log(predict(rows, _with(params, term, v)) / measured)))
                  for v in TIMING_GRID_S]
        params = _with(params, term, float(TIMING_GRID_S[int(np.argmin(losses))]))
    return params


def _timing_kind(op: dict) -> tuple[str, str]:
    """(how LLMCompass timed the op, what it launches): the key of its :data:`TIMING` term."""
    return op.get("timing", "eager"), "gemm" if op["kind"] == "gemm" else "pointwise"


def _with(params: dict, term: str, value: float) -> dict:
    return {**params, "timing": {**params["timing"], term: value}}


def leave_one_family_out(frame: pd.DataFrame) -> np.ndarray:
    """predicted[family == f] = predict(those rows, fit(every other family's rows))."""
    return published.leave_one_out(frame, frame.family, fit, predict)


def op_seconds(op: dict, hw, p: dict, timing: dict | None = None) -> float:
    """One op as compare prices the kernel, plus the timing term of how it was measured."""
    extra = (timing or {}).get(TIMING[_timing_kind(op)], 0.0)
    floor = (p["floor_s"] + extra) if op.get("floor", True) else 0.0
    if op["kind"] == "gemm":
        return float(cublas.gemm_time_s(op["m"], op["n"], op["k"], op["batch"], hw, DTYPE, p,
                                        op["weight_batch"], floor))
    nbytes = cublas.pointwise_bytes(op["elements"], op["op_class"], DTYPE, op["width"])
    return float(cublas.pointwise_time_s(nbytes, op["op_class"], hw, p, floor))


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    timing = params.get("timing", {})
    return published.predict_ops(frame, params, lambda op, hw, p: op_seconds(op, hw, p, timing))


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    """The generic roofline with ``eff`` over each row's ops (score.py's baselines)."""
    return published.baseline(frame, eff, frame["ops"])


def fitted_toml(params: dict) -> str:
    """The timing terms of a fit on every row (what ``python -m costmodel.reference.fit
    llmcompass`` writes; no prediction of ``compare`` reads them)."""
    return published.fitted_toml({"timing": params["timing"]})
