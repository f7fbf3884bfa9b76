"""Attention-kernel times on an A100 from public threads (``attention-a100.json``):
pytorch/pytorch#126122 (SDPA flash and cuDNN kernels, us) and facebookresearch/xformers#587
(xformers' cutlass flash-style kernel, which PyTorch ships as its memory-efficient kernel, and
plain PyTorch matmul-softmax-matmul attention, f16 and f32).

What the threads say (checked against the threads' text, 2026-11-30): #126122's script sets
``causal = False``, builds ``torch.bfloat16`` q, k, v, runs under ``torch.no_grad()`` (forward
only) and times with ``triton.testing.do_bench`` (CUDA events over many calls); its figures
agree: 4 * 4096^2 * 32 * 64 = 137 GFLOP in 799 us = 172 TFLOP/s, 55 % of the bf16 peak
(forward + backward, 3.5x, would be 190 % of it). Still assumed: the A100 is the catalogue's
``a100`` (SXM4 40GB; the thread does not name the variant); xformers' rows before its "A100
bw" table are forwards without a bias (its f16 K = 32 row is 30 % of the peak as a forward,
75 % as a backward: the forward reading is the plausible one). The FlexAttention column and
the backward row are kept in the data but not scored (no model of either here).

Models: fused rows (flash, cuDNN, xformers' cutlass = memory-efficient) through
:mod:`costmodel.implementations.fused_attention` (what ``compare`` uses for the fused record)
with parameters fitted here per kernel and dtype class; ``math`` rows (xformers "vanilla":
``[B*H] (S x D) @ (D x S)``, softmax over S, ``[B*H] (S x S) @ (S x D)``, each a kernel of its
own) through :mod:`costmodel.implementations.cublas` with the shipped NeuSight fit (no
parameter of them is fitted on these rows).

Protocols (all rows are one GPU, so leave-one-GPU-out cannot score them):
leave-one-shape-out (:func:`leave_one_shape_out`: every row of a (batch, seq, heads,
head_dim) shape predicted by parameters fitted on the other shapes' rows) and
leave-one-source-out (:func:`leave_one_source_out`: one thread's rows predicted by the other
thread's fit; a kernel the other thread did not measure takes the pooled set).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware
from costmodel.implementations import cublas, fused_attention
from costmodel.reference import neusight, published

NAME = "attention"
FITTED = fused_attention.FITTED
US = 1e-6
GPU = "a100"  # "A100 (variant not stated)": the catalogue's default A100
DTYPES = {"f16": "fp16", "f32": "fp32", None: "bf16"}  # None: #126122's script, bf16
# column -> the PyTorch SDPA kernel it measured (xformers' cutlass kernel, before and after
# PR 587, is what PyTorch runs as "memory-efficient"); vanilla -> the math kernels
KERNELS = {"flash_us": "flash", "cudnn_us": "cudnn", "pr587_us": "memory-efficient",
           "main_us": "memory-efficient", "vanilla_us": "math"}
SHAPE = ("batch", "seq", "heads", "head_dim")
# search ranges: a fraction of the tensor peak; vector FLOPs per score (exp counts several:
# max, subtract, exp, sum, scale is 5 in costmodel.conventions.SOFTMAX_FLOPS)
EFFICIENCY_GRID = np.geomspace(0.1, 1.0, 49)
SCORE_FLOPS_GRID = np.concatenate([[0.0], np.geomspace(0.5, 64.0, 43)])
ROUNDS = 3


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
                ("B", "M", "H", "K") if "B" in row else SHAPE))
            for column, kernel in KERNELS.items():
                if column in row:
                    out.append({"source": NAME, "gpu": GPU,
                                "family": "attention", "phase": "forward",
                                "dtype": DTYPES[row.get("dtype")], "kernel": column[:-3],
                                "sdpa_kernel": kernel,
                                "model": "math" if kernel == "math" else "flash",
                                "batch": b, "seq": s, "heads": h, "head_dim": d, "row": i,
                                "measured_s": published.number(where, i, row, column) * US,
                                "repo": source["url"], "commit": "",
                                "path_or_url": source["url"], "thread": source["id"]})
    return pd.DataFrame(out)


def _fused_seconds(frame: pd.DataFrame, p: dict) -> np.ndarray:
    """Seconds of fused rows, all priced with the one parameter set ``p``."""
    out = np.empty(len(frame))
    for (gpu, dtype, kernel), idx in frame.groupby(["gpu", "dtype",
                                                    "sdpa_kernel"]).indices.items():
        f = frame.iloc[idx]
        out[idx] = fused_attention.fused_attention_s(f.seq, f.seq, f.head_dim,
                                                     f.batch * f.heads, load_hardware(gpu),
                                                     dtype, p, kernel=kernel)
    return out


def _fit_one(frame: pd.DataFrame, floor_s: float) -> dict:
    """efficiency and score_flops minimising the mean |log(predicted / measured)|."""
    best = {"efficiency": 0.5, "score_flops": 8.0, "floor_s": floor_s}
    measured = frame.measured_s.to_numpy()
    for _ in range(ROUNDS):
        for key, grid in (("efficiency", EFFICIENCY_GRID), ("score_flops", SCORE_FLOPS_GRID)):
            losses = [np.mean(np.abs(np.log(_fused_seconds(frame, {**best, key: v})
                                            / measured))) for v in grid]
            best[key] = float(grid[int(np.argmin(losses))])
    return best


def fit(train: pd.DataFrame) -> dict:
    """Per SDPA kernel and dtype class, and pooled, from the training rows' fused kernels;
    the floor is NeuSight's launch floor (its fit on all rows: these rows are 0.7-27 ms)."""
    fused = train[train.model == "flash"].reset_index(drop=True)
    if not len(fused):
        raise ValueError("reference 'attention': no fused-kernel rows to fit on (its rows are "
                         "all one GPU, so leave-one-GPU-out holds every one out); its held-out "
                         "figures are leave-one-shape-out and leave-one-source-out: python -m "
                         "costmodel.validation.reference.ops_report")
    floor_s = float(neusight.fitted_on_all()["cross"]["floor_s"])
    out = {fused_attention.POOLED: {**_fit_one(fused, floor_s), "rows": _described(fused)},
           "kernel": {}}
    classes = fused.dtype.map(fused_attention.dtype_class)
    for (kernel, cls), idx in fused.groupby([fused.sdpa_kernel, classes]).indices.items():
        sub = fused.iloc[idx].reset_index(drop=True)
        if sub[list(SHAPE)].drop_duplicates().shape[0] >= 2:  # two parameters, two shapes
            out["kernel"].setdefault(kernel, {})[cls] = {**_fit_one(sub, floor_s),
                                                         "rows": _described(sub)}
    return out


def _described(frame: pd.DataFrame) -> list[str]:
    counts = frame.groupby(["thread", "kernel", "dtype"]).size()
    return [f"{t} {k} {d}: {n} rows" for (t, k, d), n in counts.items()]


def _math_seconds(row, hw) -> float:
    p = cublas.params_for(cublas.shipped(), hw)
    heads = row.batch * row.heads
    gemms = (cublas.gemm_time_s(row.seq, row.seq, row.head_dim, heads, hw, row.dtype, p)
             + cublas.gemm_time_s(row.seq, row.head_dim, row.seq, heads, hw, row.dtype, p))
    scores = heads * row.seq * row.seq
    softmax = cublas.pointwise_time_s(cublas.pointwise_bytes(scores, "softmax", row.dtype,
                                                             row.seq), "softmax", hw, p)
    return float(gemms + softmax)


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    out = []
    for row in frame.itertuples():
        hw = load_hardware(row.gpu)
        if row.model == "math":
            out.append(_math_seconds(row, hw))
            continue
        p = fused_attention.params_of(params, row.sdpa_kernel, row.dtype)
        out.append(float(fused_attention.fused_attention_s(
            row.seq, row.seq, row.head_dim, row.batch * row.heads, hw, row.dtype, p,
            kernel=row.sdpa_kernel)))
    return np.asarray(out)


def leave_one_shape_out(frame: pd.DataFrame) -> np.ndarray:
    """predicted[shape == x] = predict(those rows, fit(rows of every other shape))."""
    return published.leave_one_out(frame, frame[list(SHAPE)].apply(tuple, axis=1), fit,
                                   predict)


def leave_one_source_out(frame: pd.DataFrame) -> np.ndarray:
    """predicted[thread == t] = predict(those rows, fit(the other threads' rows))."""
    return published.leave_one_out(frame, frame.thread, fit, predict)


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


fitted_toml = published.fitted_toml


# the short name a plot's title gives (SCORE_NOTE: the whole protocol)
PROTOCOL = "leave-one-shape-out"
SCORE_NOTE = ("every row of one shape predicted from a fit on the other shapes "
              "(leave-one-shape-out) on the one GPU these threads measured (A100): not an "
              "unseen-GPU figure; leave-one-source-out: python -m "
              "costmodel.validation.reference.ops_report")


def scored(leave_one_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` for the fitted model
    (leave-one-shape-out unless told otherwise: the rows are all one GPU, so leaving the GPU
    out would leave nothing to fit), the datasheet roofline and the priors."""
    from costmodel.efficiency import Efficiency

    frame = rows().reset_index(drop=True)
    frame["predicted_model_s"] = (leave_one_shape_out(frame) if leave_one_out
                                  else predict(frame, fit(frame)))
    frame["predicted_roofline_s"] = baseline(frame, Efficiency.ideal())
    frame["predicted_priors_s"] = baseline(frame, Efficiency.priors())
    for model in ("model", "roofline", "priors"):
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame["measured_s"] - 1.0
    return frame
