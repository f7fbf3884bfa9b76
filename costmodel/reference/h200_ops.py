"""NeuSight's per-op shapes timed on a named H200 under NeuSight's own protocol (session 6,
``validation/gpu_ops.py``): the unseen-GPU check of the cuBLAS / pointwise model.

Data (``costmodel/data/reference/h200-ops-{gemm,vec}.json``, made by
``tools/import_h200_probe.py`` from ``validation/results/gpu-h200-s6/``): every 4th shipped
NeuSight shape under 5 ms (GEMMs from its H100 tables, pointwise ops from its A100 40GB
table), FP32, PyTorch 2.11 + CUDA 13.0, the mean of the 5 fastest of 25 single-call CUDA-event
timings. Scored with the cuBLAS / pointwise model fitted as ``compare``'s is, on NeuSight's
rows and DeepBench's GEMMs, but without these rows: the H200 is held out of its own score. The
shipped parameters take its GEMM rows in (:func:`neusight.fit`): the second Hopper part beside
NeuSight's H100, so a held-out H100 is priced from a Hopper GEMM set.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from costmodel.reference import neusight, published

NAME = "h200-ops"
FITTED = neusight.FITTED  # the file whose parameters it scores; nothing fitted on these rows
FILES = ("h200-ops-gemm", "h200-ops-vec")
PROTOCOL = "fitted on NeuSight's GPUs, H200 unseen"
FIXED_PROTOCOL = True  # --no-leave-one-gpu-out changes nothing here
SCORE_NOTE = ("the cuBLAS / pointwise parameters refitted on NeuSight's rows without these "
              "(the H200 held out; the shipped cublas.toml includes its GEMM rows)")


def rows() -> pd.DataFrame:
    """One row per shape, in :mod:`.neusight`'s columns, with this source's name."""
    (gemm,), (vec,) = (published.files(name) for name in FILES)
    out = pd.DataFrame(neusight._gemm_rows(gemm) + neusight._vec_rows(vec))
    out["source"] = NAME
    return out


def fit(train: pd.DataFrame | None = None) -> dict:
    """The parameters of NeuSight's rows (and DeepBench's GEMMs) without these: the shipped
    ``cublas.toml`` takes the GEMM rows in too (:func:`neusight.fit`), so the H200's own
    score refits without them (``train`` is not used: the H200 is the one GPU here)."""
    return _without_h200()


@lru_cache(maxsize=1)
def _without_h200() -> dict:
    return neusight.fit(neusight.rows(), measured=rows().iloc[:0])


@lru_cache(maxsize=2)
def _scored() -> pd.DataFrame:
    frame = rows().reset_index(drop=True)
    return neusight.scored_with(frame, neusight.predict(frame, fit()))


def scored(leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>``; ``leave_one_gpu_out``
    changes nothing (the H200 is never among the fitted rows)."""
    return _scored().copy()
