"""Baidu DeepBench's dense GEMM timings (``costmodel/data/reference/deepbench-gemm-train-*.json``):
fp32 ``cublasSgemm`` on V100, T4, P100, M40, Titan X (Maxwell), Titan X (Pascal), Titan Xp and
GTX 1080 Ti, with the skinny shapes NeuSight lacks (the batch side N = 8-128: a Linear on a
few tokens, C(M x N) = A(M x K) B(K x N) being the same problem as PyTorch's (N x K) @ (K x M)).

What was timed (the files' ``what``): the wall-clock average of 400 back-to-back calls after a
warm-up (each launch hides behind the kernel before it: no per-call floor, ``floor_applies``
0), CUDA 10.1 on the V100 and T4, 7.5 or 8.0 on the rest. Only the fp32 sheets are read: the
16-bit sheets are two different things (tensor-core mixed precision on the V100 and T4, fp16
storage with fp32 math on the P100). Rows: ``m`` = the smaller of M, N (the rows side of the
model's tiles), ``n`` the other, ``k`` = K; the transposes (N/T) are kept as a column, not
modelled.

Leave-one-GPU-out: the parameters come from NeuSight's rows and these rows of every other GPU
(:func:`costmodel.reference.neusight.fit` takes them in); the shipped ``cublas.toml`` is written
by the ``neusight`` source (:func:`costmodel.reference.fit.writer`), which reads these rows too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.reference import deepbench_rnn, published

NAME = "deepbench-gemm"
FITTED = cublas.FITTED
PREFIX = "deepbench-gemm-train-"
DTYPE = "fp32"
BACK_TO_BACK_FLOOR = 0.0  # floor_applies: 400 back-to-back calls, no launch gap per call
GPUS = {**deepbench_rnn.GPUS, "NV_T4": "t4"}  # the RNN sheets' GPUs; the T4 has GEMM rows only
MS = 1e-3
# CUDA 7.5 / 8.0 sheets (every GPU but the V100 and T4): their few-row times are erratic (P100:
# 16 rows of a 4096 x 4096 weight take 2.3x as long as 32 rows) and their cuBLAS is older than
# any PyTorch build calls; rows run with CUDA >= 10 set the small-M kernel's efficiency where
# the training rows hold any (column ``current_cublas``)
CURRENT_CUDA_MAJOR = 10


def _file_rows(entry) -> list[dict]:
    origin, data = published.origin_of(entry), published.read_json(entry)
    if data.get("gpu") not in GPUS:
        raise ValueError(f"{origin}: field 'gpu': {data.get('gpu')!r} is not one of "
                         f"{', '.join(GPUS)}")
    gpu = published.gpu_name(origin, GPUS[data["gpu"]])
    cuda = str((data.get("specs_sheet") or {}).get("CUDA Version", "0"))
    common = {"source": NAME, "gpu": gpu, "family": "gemm", "phase": "forward",
              "dtype": DTYPE, "repo": data["source"], "commit": data["repo_head_commit"],
              "path_or_url": data["url"], "batch": 1.0, "weight_batch": 1.0,
              "floor_applies": BACK_TO_BACK_FLOOR,
              "current_cublas": int(cuda.split(".")[0]) >= CURRENT_CUDA_MAJOR}
    out = []
    for i, row in enumerate(data.get("rows") or []):
        if row.get("dtype") != DTYPE:
            continue
        big_m, big_n, k = (published.number(origin, i, row, f) for f in ("M", "N", "K"))
        out.append({**common, "row": row["row"], "sheet": row.get("sheet"), "m": min(big_m, big_n),
                    "n": max(big_m, big_n), "k": k,
                    "transposes": f"{row.get('transA', '?')}{row.get('transB', '?')}",
                    "measured_s": published.number(origin, i, row, "time_ms") * MS})
    return out


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    return tuple(r for e in published.files(PREFIX) for r in _file_rows(e))


def rows() -> pd.DataFrame:
    """One row per fp32 measurement, with provenance (file's commit and URL, sheet row)."""
    return pd.DataFrame(list(_records()))


def fit(train: pd.DataFrame) -> dict:
    """NeuSight's rows of the GPUs not held out here, with these training rows."""
    from costmodel.reference import neusight

    held = set(rows().gpu) - set(train.gpu)
    ops = neusight.rows()
    return neusight.fit(ops[~ops.gpu.isin(held)].reset_index(drop=True), gemm_rows=train)


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """Seconds per row through :func:`cublas.gemm_time_s` (what compare uses), no floor."""
    out = np.empty(len(frame))
    for gpu, idx in frame.groupby("gpu").indices.items():
        hw = load_hardware(gpu)
        p, g = cublas.params_for(params, hw), frame.iloc[idx]
        out[idx] = cublas.gemm_time_s(g.m, g.n, g.k, g.batch, hw, DTYPE, p, g.weight_batch,
                                      p["floor_s"] * g.floor_applies.to_numpy())
    return out


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    ops = [[{"kind": "gemm", "m": r.m, "n": r.n, "k": r.k, "batch": r.batch,
             "weight_batch": r.weight_batch}] for r in frame.itertuples()]
    return published.baseline(frame, eff, ops)
