"""NeuSight's published per-op measurements (sitar-lab/NeuSight @ 6945927, ASPLOS'25 artifact):
torch.bmm, nn.Linear and pointwise ops (add, mul, pow, div, their tensor-scalar forms, relu,
gelu, tanh, LayerNorm, softmax) on A100 PCIe 40/80 GB, H100 SXM, L4 and T4.

What was timed: one PyTorch 2.1 op (CUDA 12.1) on fp32 tensors (torch default: no TF32, the
kernels are ``*sgemm*``), CUDA events around a single call, the mean of the 5 fastest of 25
(so small ops sit on a 7-10 us floor). Shapes, as NeuSight writes them:
``bmm``: randn(B, M, N) @ randn(B, N, K): m = M, k = N, n = K, B GEMMs;
``linear``: nn.Linear(N, K) on randn(B, M, N): one GEMM with m = B * M, k = N, n = K;
pointwise: one (B, H) tensor, B * H elements. The per-layer rows are :mod:`.neusight_layers`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cublas, cublas_fit
from costmodel.reference import published

NAME = "neusight"
FITTED = cublas.FITTED
DTYPE = "fp32"  # torch.randn's default; sgemm kernels (no TF32)
MS = 1e-3


def _common(provenance: dict, gpu: str) -> dict:
    return {"source": NAME, "gpu": gpu, "phase": "forward", "dtype": DTYPE,
            "repo": provenance["repo"], "commit": provenance["commit"],
            "path_or_url": provenance["url"]}


def _gemm_rows(entry) -> list[dict]:
    origin = published.origin_of(entry)
    provenance, raw = published.table(entry, ("row", "op", "B", "M", "N", "K", "latency_ms"))
    gpu = published.gpu_name(origin, provenance["device"])
    kernels = provenance.get("kernel_names", [])
    out = []
    for i, row in enumerate(raw):
        b, m, n, k = (published.number(origin, i, row, f) for f in ("B", "M", "N", "K"))
        linear = row["op"] == "linear"
        if row["op"] not in ("bmm", "linear"):
            raise ValueError(f"{origin}: row {i}: field 'op': {row['op']!r} is not bmm or linear")
        out.append({**_common(provenance, gpu), "family": row["op"], "row": row["row"],
                    "m": b * m if linear else m, "n": k, "k": n,
                    "batch": 1.0 if linear else b, "weight_batch": 1.0 if linear else b,
                    "kernel": kernels[row["kernel"]] if kernels else "",
                    "measured_s": published.number(origin, i, row, "latency_ms") * MS})
    return out


def _vec_rows(entry) -> list[dict]:
    origin = published.origin_of(entry)
    provenance, raw = published.table(entry, ("row", "op", "B", "H", "latency_ms"))
    gpu = published.gpu_name(origin, provenance["device"])
    out = []
    for i, row in enumerate(raw):
        published.choice(origin, i, row, "op", sorted(cublas.OP_CLASS))
        op_class = cublas.OP_CLASS[row["op"]]
        width = published.number(origin, i, row, "H")
        elements = published.number(origin, i, row, "B") * width
        out.append({**_common(provenance, gpu), "family": op_class, "op_class": op_class,
                    "op": row["op"], "row": row["row"], "elements": elements, "width": width,
                    "measured_s": published.number(origin, i, row, "latency_ms") * MS})
    return out


def rows() -> pd.DataFrame:
    """One row per published per-op measurement (GEMM and pointwise)."""
    return pd.DataFrame(list(_records()))


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    out = [r for e in published.files("neusight-bmm-") + published.files("neusight-linear-")
           for r in _gemm_rows(e)]
    out += [r for e in published.files("neusight-vec-") for r in _vec_rows(e)]
    return tuple(out)


def fit(train: pd.DataFrame, gemm_rows: pd.DataFrame | None = None,
        measured: pd.DataFrame | None = None) -> dict:
    """Parameters from the training rows plus the layer-trace nodes of the same GPUs (timed
    alone like the per-op rows; smaller tensors, so they pin the floor and the L2 speedup),
    DeepBench's GEMM rows (``gemm_rows``; default: those of every GPU but NeuSight's GPUs held
    out of ``train``: the skinny shapes that pin ``skinny_efficiency``) and this project's own
    GEMM measurements of GPUs NeuSight lacks (``measured``; default: the session-6 H200's GEMM
    rows, :mod:`costmodel.reference.h200_ops`, timed under NeuSight's protocol; an empty frame
    leaves them out, as the H200's own score does). The H200 is the second Hopper part: with
    it a held-out H100 is priced from a Hopper GEMM set, not the cross-architecture one (H100
    bmm 10.6 -> 7.8 %, linear 7.3 -> 3.7 %). Its pointwise rows stay out: the op floor is
    fitted jointly on every pointwise row and is the host's and PyTorch version's as much as
    the GPU's (the H200's host and PyTorch 2.11 are not NeuSight's; with them the shared
    floor moved 12.1 -> 13.2 us for every GPU), while a GEMM's time is the device's (the H200
    ran NeuSight's H100 shapes at 1.013x the H100's times)."""
    from costmodel.reference import deepbench_gemm, neusight_layers

    nodes = neusight_layers.node_rows(set(train.gpu))
    if gemm_rows is None:
        held = set(rows().gpu) - set(train.gpu)
        gemm_rows = deepbench_gemm.rows()
        gemm_rows = gemm_rows[~gemm_rows.gpu.isin(held)]
    if measured is None:
        measured = measured_gemm_rows()
    return cublas_fit.fit(pd.concat([train, nodes, gemm_rows, measured], ignore_index=True),
                          load_hardware)


def measured_gemm_rows(without: str | None = None) -> pd.DataFrame:
    """This project's own GEMM rows that :func:`fit` takes in by default (the session-6
    H200's, :mod:`costmodel.reference.h200_ops`), less those of GPU ``without`` (a source
    that scores that GPU holds its rows out)."""
    from costmodel.reference import h200_ops

    own = h200_ops.rows()
    return own[own.family.isin(cublas_fit.GEMM_FAMILIES) & (own.gpu != without)]


@lru_cache(maxsize=1)
def fitted_on_all() -> dict:
    """:func:`fit` on every row: what ``cublas.toml`` holds, computed (not read from the file,
    so sources that build on it do not depend on the order the fit script writes files in)."""
    return fit(rows())


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """Seconds per row through :mod:`costmodel.implementations.cublas` (what compare uses)."""
    out = np.empty(len(frame))
    for gpu, idx in frame.groupby("gpu").indices.items():
        hw = load_hardware(gpu)
        p = cublas.params_for(params, hw)
        sub = frame.iloc[idx]
        gemm = sub.family.isin(cublas_fit.GEMM_FAMILIES).to_numpy()
        if gemm.any():
            g = sub[gemm]
            out[idx[gemm]] = cublas.gemm_time_s(g.m, g.n, g.k, g.batch, hw, DTYPE, p,
                                                g.weight_batch)
        for op_class, jdx in sub[~gemm].groupby("op_class").indices.items():
            chosen = idx[~gemm][jdx]
            nbytes = cublas.pointwise_bytes(frame.elements.iloc[chosen], op_class, DTYPE,
                                            frame.width.iloc[chosen])
            out[chosen] = cublas.pointwise_time_s(nbytes, op_class, hw, p)
    return out


def scored_with(frame: pd.DataFrame, predicted) -> pd.DataFrame:
    """``frame`` with ``predicted_<model>_s`` and ``error_<model>`` for the model
    (``predicted``), the datasheet roofline and the generic priors (the sources that score
    NeuSight-style rows with parameters of their own: h200-ops, kernelbench-ops)."""
    frame = frame.copy()
    frame["predicted_model_s"] = predicted
    frame["predicted_roofline_s"] = baseline(frame, Efficiency.ideal())
    frame["predicted_priors_s"] = baseline(frame, Efficiency.priors())
    for model in ("model", "roofline", "priors"):
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame["measured_s"] - 1.0
    return frame


def ops_of(frame: pd.DataFrame) -> list[list[dict]]:
    """Each row as the op dicts :func:`costmodel.reference.published.baseline` prices."""
    out = []
    for r in frame.itertuples():
        if r.family in cublas_fit.GEMM_FAMILIES:
            out.append([{"kind": "gemm", "m": r.m, "n": r.n, "k": r.k, "batch": r.batch,
                         "weight_batch": r.weight_batch}])
        else:
            out.append([{"kind": "pointwise", "op_class": r.op_class, "elements": r.elements,
                         "width": r.width}])
    return out


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    return published.baseline(frame, eff, ops_of(frame))


fitted_toml = published.fitted_toml
