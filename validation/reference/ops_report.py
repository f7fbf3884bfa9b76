"""Leave-one-GPU-out figures of the cuBLAS/pointwise model on NeuSight's per-op and per-layer
rows (LLMCompass's leave-one-family-out, the attention threads' leave-one-shape-out and
leave-one-source-out: one GPU each), beside the uncalibrated roofline
(``Efficiency.ideal()``) and the old priors::

    python -m costmodel.validation.reference.ops_report [--sample FRACTION]

Prints one table per source: median / p90 / worst absolute relative error per GPU and family.
"""

from __future__ import annotations

import argparse

import pandas as pd

from costmodel.efficiency import Efficiency
from costmodel.reference import attention, llmcompass, neusight, neusight_layers, published


def baselines(module, frame: pd.DataFrame) -> dict:
    return {label: module.baseline(frame, eff)
            for label, eff in (("ideal", Efficiency.ideal()), ("priors", Efficiency.priors()))}


def report(module, frame: pd.DataFrame, by=("gpu", "family")) -> pd.DataFrame:
    """LOGO median / p90 / worst per group, with the ideal roofline's and the priors' medians."""
    logo = published.leave_one_gpu_out(frame, module.fit, module.predict)
    table = published.summary(frame, logo, by).add_prefix("logo_").rename(
        columns={"logo_rows": "rows"})
    for label, predicted in baselines(module, frame).items():
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
    print("\nneusight per-layer (sum of the layer's ops), leave-one-GPU-out")
    print(report(neusight_layers, layers, ("gpu", "phase", "mode")).round(3).to_string())
    print("\nllmcompass (A100 SXM4 80GB, 16-bit; kernel parameters from NeuSight's fp32 rows;"
          " timing terms leave-one-family-out)")
    rows = llmcompass.rows()
    lofo = llmcompass.leave_one_family_out(rows)
    table = published.summary(rows, lofo, ("family",)).add_prefix("lofo_")
    for label, predicted in baselines(llmcompass, rows).items():
        table[f"{label}_median"] = published.summary(rows, predicted, ("family",))["median"]
    print(table.round(3).to_string())
    for stage in llmcompass.LAYER:
        mine = (rows.family == f"layer_op_{stage}").to_numpy()
        total, measured = lofo[mine].sum(), rows.measured_s[mine].sum()
        print(f"GPT-3 layer {stage}: sum of ops predicted {total * 1e3:.3f} ms, measured "
              f"{measured * 1e3:.3f} ms, error {total / measured - 1:+.1%}")
    att = attention.rows()
    for label, predicted in (("leave-one-shape-out", attention.leave_one_shape_out(att)),
                             ("leave-one-source-out", attention.leave_one_source_out(att))):
        print(f"\nattention threads (A100), {label}; math rows: shipped NeuSight fit")
        print(published.summary(att, predicted, ("model", "kernel", "dtype")).round(3)
              .to_string())

if __name__ == "__main__":
    main()
