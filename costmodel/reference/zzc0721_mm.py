"""The best torch.mm throughput of contributed runs on named GPUs, fp32, TF32, fp16 and bf16
(zzc0721/torch-performance-test-data, ``database.md``): the cuBLAS model's peak rate per GPU
and precision, the tensor-core path included, on GPUs and precisions none of its fits has seen.

Data (``costmodel/data/reference/zzc0721-mm.json``, made by ``tools/import_zzc0721_mm.py`` from
the repository at a pinned commit): per run, the best TFLOP/s of ``test.py`` over n = 1024,
2048, 4096, 8192, 10240 (``torch.mm`` of two n x n matrices, 30 back-to-back calls between two
CUDA events after 10 warm-ups), in fp32 with TF32 off, TF32 on, fp16 and bf16. Runs of devices
the catalogue has: 26 rows on 18 GPUs from an M40 to a B200.

Scored as the time of 10^12 FLOPs at the best rate: ``measured_s = 1 / TFLOP/s``; the model's
rate is the best over the same n of ``2 n^3 / max(compute, memory)``
(:func:`costmodel.implementations.cublas.gemm_terms`: 30 back-to-back calls hide the per-op
floor), its parameters NeuSight's fit (what ``cublas.toml`` holds) refitted without the GPU
scored wherever the GPU is in it (NeuSight's GPUs, DeepBench's GEMM GPUs, the H200's own
rows), as :mod:`.kernelbench_ops` does. Nothing is fitted on these rows. The datasheet
roofline beside it: the matmul peak PyTorch reaches (:func:`costmodel.hardware.matmul_peak`).

Left out: fp32 rows of the GPUs whose catalogue ``sustained_clock_hz`` was derived from this
repository's fp32 timing of the same GPU (:data:`CLOCK_FROM_HERE`: scoring them would score
the derivation); bf16 rows of GPUs with no bf16 peak in the catalogue (before Ampere PyTorch
runs bf16 off the tensor path, 2-6 TFLOP/s here, and the catalogue gives no rate for it).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware, matmul_peak
from costmodel.implementations import cublas
from costmodel.reference import deepbench_gemm, neusight, published

NAME = "zzc0721-mm"
FITTED = neusight.FITTED  # the file whose parameters it scores; nothing fitted on these rows
FILE = "zzc0721-mm.json"
PROTOCOL = "leave-one-GPU-out (NeuSight's fit), nothing fitted on these rows"
FIXED_PROTOCOL = True
REQUIRED = ("row", "device", "gpu", "fp32", "tf32", "fp16", "bf16", "note")
DTYPES = ("fp32", "tf32", "fp16", "bf16")
SIZES = (1024, 2048, 4096, 8192, 10240)  # test.py's matrix_sizes (February 2025 on)
TFLOP = 1e12
# catalogue entries whose sustained_clock_hz is this repository's fp32 torch.mm of that GPU
# (its database.md or the issue that fed it): their fp32 rows are the derivation's input
CLOCK_FROM_HERE = ("a100-pcie-40gb", "b200-sxm-180gb", "h100-pcie-80gb", "h100-sxm5-80gb",
                   "l4", "rtx-a6000")


def rows() -> pd.DataFrame:
    """One row per run and precision with a number (see the module docstring for what is
    left out)."""
    origin, provenance, raw = published.load(FILE, REQUIRED)
    clock_names = {load_hardware(g).name for g in CLOCK_FROM_HERE}
    out = []
    for i, row in enumerate(raw):
        hw = load_hardware(row["gpu"])
        for dtype in DTYPES:
            if row[dtype] is None:
                continue
            if dtype == "fp32" and hw.name in clock_names:
                continue
            if dtype == "bf16" and "bf16" not in hw.peaks:
                continue
            rate = published.number(origin, i, row, dtype)
            out.append({"source": NAME, "gpu": published.gpu_name(origin, row["gpu"]),
                        "family": "gemm", "phase": "forward", "dtype": dtype,
                        "measured_s": TFLOP / (rate * TFLOP), "measured_tflops": rate,
                        "device": row["device"], "note": row["note"],
                        "repo": provenance["repo"], "commit": provenance["commit"],
                        "path_or_url": provenance["url"], "row": int(row["row"])})
    if not out:
        raise ValueError(f"{origin}: field 'rows': no measurements")
    return pd.DataFrame(out)


def best_rate(hw, dtype: str, p: dict) -> float:
    """FLOP/s of the fastest of test.py's square torch.mm sizes on ``hw`` (``dtype`` "tf32":
    fp32 with TF32 allowed)."""
    allow_tf32 = dtype == "tf32"
    math = "fp32" if allow_tf32 else dtype
    n = np.asarray(SIZES, dtype=float)
    compute_s, memory_s = cublas.gemm_terms(n, n, n, 1, hw, math, p, allow_tf32=allow_tf32)
    return float(np.max(cublas.MATMUL_FLOPS_PER_MAC * n ** 3 / np.maximum(compute_s, memory_s)))


def _trained_on(gpu: str) -> bool:
    """Whether ``gpu`` has rows in the cuBLAS fit (NeuSight's, DeepBench's GEMMs, the H200's)."""
    name = load_hardware(gpu).name
    trained = (set(neusight.rows().gpu) | set(deepbench_gemm.rows().gpu)
               | set(neusight.measured_gemm_rows().gpu))
    return name in {load_hardware(g).name for g in trained}


@lru_cache(maxsize=32)
def _params_without(gpu: str) -> dict:
    """NeuSight's fit without every row of ``gpu`` (its NeuSight rows, its DeepBench GEMM rows,
    this project's own rows of it); the shipped fit where it has none."""
    if not _trained_on(gpu):
        return neusight.fitted_on_all()
    name = load_hardware(gpu).name
    other = lambda frame: frame[[load_hardware(g).name != name for g in frame.gpu]]  # noqa: E731
    return neusight.fit(other(neusight.rows()), gemm_rows=other(deepbench_gemm.rows()),
                        measured=neusight.measured_gemm_rows(gpu))


def fit(train: pd.DataFrame | None = None) -> dict:
    """Nothing is fitted on these rows (the parameters are NeuSight's, per held-out GPU)."""
    return {}


@lru_cache(maxsize=1)
def _scored() -> pd.DataFrame:
    frame = rows().reset_index(drop=True)
    model, roofline = np.empty(len(frame)), np.empty(len(frame))
    for i, r in enumerate(frame.itertuples()):
        hw = load_hardware(r.gpu)
        p = cublas.params_for(_params_without(r.gpu), hw)
        model[i] = TFLOP / best_rate(hw, r.dtype, p)
        roofline[i] = TFLOP / matmul_peak(hw, "fp32" if r.dtype == "tf32" else r.dtype,
                                          allow_tf32=r.dtype == "tf32")
    frame["predicted_model_s"] = model
    frame["predicted_roofline_s"] = roofline
    for name in ("model", "roofline"):
        frame[f"error_{name}"] = frame[f"predicted_{name}_s"] / frame["measured_s"] - 1.0
    return frame


def scored(leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` (the model, the datasheet
    roofline)."""
    return _scored().copy()


def main() -> None:
    f = scored()
    f["tensor"] = np.where(f.dtype.isin(["fp16", "bf16"]), "fp16/bf16", f.dtype)
    g = f.groupby(["gpu", "tensor"])
    pd.set_option("display.width", 200)
    print(pd.concat({"rows": g.size(),
                     "median %": g.error_model.agg(lambda s: 100 * s.abs().median()),
                     "signed %": g.error_model.agg(lambda s: 100 * s.median()),
                     "roofline %": g.error_roofline.agg(lambda s: 100 * s.abs().median())},
                    axis=1).round(1).to_string())


if __name__ == "__main__":
    main()
