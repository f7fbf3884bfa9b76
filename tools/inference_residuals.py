"""Where a CPU validation's inference error comes from (docs/validation.md, "Inference shares
the forward's tail"): per family, measured inference / train-mode forward time of the same
configuration, how the two predictions' errors correlate and how many of the inference rows
above 25 % are above 25 % in forward too; then, as a diagnostic only, the inference terms
fitted on the validation's own inference rows (in-sample: the test set, so an upper bound of
what inference terms can do, never a validation figure). Reads committed files only.

    python tools/inference_residuals.py \
        validation/results/cpu-amd-epyc-1t-s3.toml \
        validation/results/cpu-amd-epyc-1t-s3-validation.json
"""

from __future__ import annotations

import json
import sys

import numpy as np

from costmodel.efficiency import INFERENCE, Efficiency
from costmodel.hardware import load_hardware
from costmodel.roofline import predict
from costmodel.validation import fit
from costmodel.validation.modules import FAMILIES, Config, cost_record
from costmodel.validation.report import error_stats

TAIL_PCT = 25.0  # the p90 target of issue 4: a row above it is in the tail
FIELDS = ("family", "n", "d", "batch", "mode", "dtype")


def pairs(rows: list[dict], family: str) -> list[tuple[dict, dict]]:
    """(inference row, train-mode forward row) of every configuration timed in both."""
    forward = {tuple(r[k] for k in FIELDS[:4]): r for r in rows if r["mode"] == "forward"}
    return [(r, forward[key]) for r in rows if r["mode"] == INFERENCE and r["family"] == family
            and (key := tuple(r[k] for k in FIELDS[:4])) in forward]


def residuals(rows: list[dict]) -> None:
    for family in FAMILIES:
        both = pairs(rows, family)
        ratio = np.array([i["measured_s"] / f["measured_s"] for i, f in both])
        signed = np.log([[r["calibrated_s"] / r["measured_s"] for r in pair] for pair in both])
        tail = [i["calibrated_err_pct"] > TAIL_PCT for i, _ in both]
        shared = sum(t and f["calibrated_err_pct"] > TAIL_PCT for t, (_, f) in zip(tail, both))
        print(f"{family}: {len(both)} configurations; measured inference / forward median "
              f"{np.median(ratio):.3f} (p10 {np.percentile(ratio, 10):.2f}, p90 "
              f"{np.percentile(ratio, 90):.2f}); signed log errors correlate "
              f"{np.corrcoef(signed.T)[0, 1]:.2f}; inference rows above {TAIL_PCT:g} %: "
              f"{sum(tail)}, of which above it in forward too: {shared}")


def in_sample(profile: str, rows: list[dict]) -> None:
    hw = load_hardware(profile)
    base = {k: v for k, v in hw.efficiency.items() if k not in fit.TERMS_FITTED}
    served = [r for r in rows if r["mode"] == INFERENCE]
    fitted = fit.fit_families([{**{k: r[k] for k in FIELDS}, "measured_s": r["measured_s"]}
                               for r in served], hw, base)
    table = dict(hw.efficiency)
    for name, values in fitted.items():
        table[name] = {**table.get(name, {}), **{k: v for k, v in values.items()
                                                 if k.endswith("." + INFERENCE)}}
    eff = Efficiency.from_table(table)
    errors = {}
    for r in served:
        cfg = Config(**{k: r[k] for k in FIELDS})
        t = float(predict(cost_record(cfg), hw, eff=eff, n=cfg.n, batch=cfg.batch,
                          mode=INFERENCE).forward_s)
        errors.setdefault(cfg.family, []).append(
            (r["calibrated_err_pct"], abs(t - r["measured_s"]) / r["measured_s"] * 100))
    errors["all"] = [e for values in errors.values() for e in values]
    print("in-sample (inference terms fitted on these very rows), median / p90 |error| %:")
    for group, values in errors.items():
        before, after = (error_stats([v[i] for v in values]) for i in (0, 1))
        print(f"  {group}: profile {before['median_pct']:.1f} / {before['p90_pct']:.1f} -> "
              f"fitted on the grid {after['median_pct']:.1f} / {after['p90_pct']:.1f} "
              f"({len(values)} rows)")


def main(profile: str, validation: str) -> None:
    with open(validation, encoding="utf-8") as f:
        rows = [r for r in json.load(f)["rows"] if r.get("status") == "ok"]
    residuals(rows)
    in_sample(profile, rows)


if __name__ == "__main__":
    main(*sys.argv[1:3])
