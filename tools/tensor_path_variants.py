"""Score zzc0721-mm's 16-bit and TF32 rows under four ways of pricing the tensor path
(docs/validation.md, "Looked at, not changed: one tensor-path efficiency").

    python tools/tensor_path_variants.py

The model's large-n rate is written as datasheet peak x sustained fraction F x efficiency E
(E read off the shipped prediction); the variants keep E per architecture or pool it
leave-one-GPU-out (the median over the other GPUs' rows), with F on or off. Prints the median,
p90 and signed median of predicted / measured time - 1 per variant, and per GPU for the pooled
ones. Nothing here changes the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware, matmul_peak
from costmodel.reference import zzc0721_mm


def tensor_rows() -> pd.DataFrame:
    f = zzc0721_mm.scored()
    t = f[f.dtype.isin(["fp16", "bf16", "tf32"])].reset_index(drop=True)
    hw = {g: load_hardware(g) for g in t.gpu.unique()}
    t["peak"] = [matmul_peak(hw[g], "fp32" if d == "tf32" else d, allow_tf32=d == "tf32")
                 for g, d in zip(t.gpu, t.dtype)]
    t["F"] = [hw[g].sustained_fraction() for g in t.gpu]
    t["measured_rate"] = t.measured_tflops * 1e12
    t["model_rate"] = 1e12 / t.predicted_model_s
    t["E"] = t.model_rate / (t.peak * t.F)
    return t


def stats(rate, rows) -> str:
    err = rows.measured_rate.to_numpy() / np.asarray(rate) - 1  # predicted time / measured - 1
    return (f"{100 * np.median(np.abs(err)):.1f} / {100 * np.quantile(np.abs(err), 0.9):.1f} %,"
            f" signed {100 * np.median(err):+.1f} %")


def pooled(t: pd.DataFrame, use_f: bool) -> np.ndarray:
    out = np.empty(len(t))
    for i, r in t.iterrows():
        other = t[t.gpu != r.gpu]
        f_other = other.F if use_f else 1.0
        e = np.median(other.measured_rate / (other.peak * f_other))
        out[i] = r.peak * (r.F if use_f else 1.0) * e
    return out


def main() -> None:
    t = tensor_rows()
    print(f"{len(t)} rows")
    print("shipped: per-architecture SGEMM E, F on  ", stats(t.model_rate, t))
    print("per-architecture SGEMM E, F off          ", stats(t.peak * t.E, t))
    for use_f in (True, False):
        rate = pooled(t, use_f)
        print(f"one pooled tensor E, F {'on ' if use_f else 'off'}              ", stats(rate, t))
        for gpu in sorted(t.gpu.unique()):
            held = (t.gpu == gpu).to_numpy()
            print(f"    {gpu:16s}", stats(rate[held], t[held]))


if __name__ == "__main__":
    main()
