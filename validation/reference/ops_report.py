"""Leave-one-GPU-out figures of the cuBLAS/pointwise model on NeuSight's per-op and per-layer
rows, beside the uncalibrated roofline (``Efficiency.ideal()``) and the old priors::

    python -m validation.reference.ops_report [--sample FRACTION]

Prints one table per source: median / p90 / worst absolute relative error per GPU and family.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.reference import neusight, neusight_layers, published
from costmodel.roofline import kernel_time


def _kernel(op: dict, elements_bytes: float) -> dict:
    if op["kind"] == "gemm":
        m, n, k, b, w = (float(op[x]) for x in ("m", "n", "k", "batch", "weight_batch"))
        return {"name": "gemm", "kind": "gemm", "phase": "forward", "count": 1,
                "concurrent": 1, "shape": (m, n, k), "resident_bytes": 0,
                "flops": cublas.MATMUL_FLOPS_PER_MAC * b * m * n * k,
                "bytes": 4.0 * (b * (m * k + m * n) + w * k * n)}
    return {"name": "pointwise", "kind": "elementwise", "phase": "forward", "count": 1,
            "concurrent": 1, "shape": None, "resident_bytes": 0, "flops": 0.0,
            "bytes": elements_bytes}


def baseline_seconds(op: dict, gpu: str, eff: Efficiency) -> float:
    """One op through the generic roofline (no cuBLAS parameters) with ``eff``."""
    nbytes = 0.0 if op["kind"] == "gemm" else float(
        cublas.pointwise_bytes(op["elements"], op["op_class"], neusight.DTYPE))
    k = _kernel(op, nbytes)
    return float(kernel_time(k, load_hardware(gpu), eff, "fp32", False, True)["lower_s"])


def _ops_of(frame: pd.DataFrame):
    for r in frame.itertuples():
        if r.family in ("bmm", "linear"):
            yield [{"kind": "gemm", "m": r.m, "n": r.n, "k": r.k, "batch": r.batch,
                    "weight_batch": r.weight_batch}]
        elif r.family == "transformer_layer":
            yield r.ops
        else:
            yield [{"kind": "pointwise", "op_class": r.op_class, "elements": r.elements}]


def baselines(frame: pd.DataFrame) -> dict:
    out = {}
    for label, eff in (("ideal", Efficiency.ideal()), ("priors", Efficiency.priors())):
        out[label] = np.asarray([sum(baseline_seconds(op, gpu, eff) for op in ops)
                                 for gpu, ops in zip(frame.gpu, _ops_of(frame))])
    return out


def report(module, frame: pd.DataFrame, by=("gpu", "family")) -> pd.DataFrame:
    logo = published.leave_one_gpu_out(frame, module.fit, module.predict)
    table = published.summary(frame, logo, by).add_prefix("logo_").rename(
        columns={"logo_rows": "rows"})
    for label, predicted in baselines(frame).items():
        table[f"{label}_median"] = published.summary(frame, predicted, by)["median"]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=float, default=1.0, help="fraction of per-op rows")
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    ops = neusight.rows()
    if args.sample < 1:
        ops = ops.groupby(["gpu", "family"]).sample(frac=args.sample, random_state=0)
    ops = ops.reset_index(drop=True)
    print("neusight per-op, leave-one-GPU-out (fractions)")
    print(report(neusight, ops).round(3).to_string())
    layers = neusight_layers.rows()
    print("\nneusight per-layer forward (sum of the layer's ops), leave-one-GPU-out")
    print(report(neusight_layers, layers, ("gpu", "mode")).round(3).to_string())


if __name__ == "__main__":
    main()
