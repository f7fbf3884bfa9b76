"""Re-price the measured rows of a `costmodel validate --device ...` run with a catalogue GPU's
model (what `compare --gpu NAME` uses) instead of the run's calibrated profile:

    python tools/rescore_validation.py validation/results/gpu-h200-s6/run2/cuda-h200-validation.csv h200

prints median / p90 / signed median of |predicted / measured - 1| per family and mode, beside
the run's own calibrated and datasheet-roofline columns (docs/validation.md, "GPU, measured:
one named H200", quotes its output).
"""

from __future__ import annotations

import sys

import pandas as pd
from costmodel.validation.modules import Config, cost_record
from costmodel.validation.validate import _predicted

from costmodel.hardware import load_hardware


def rescored(path: str, gpu: str) -> pd.DataFrame:
    """The run's measured rows with ``catalogue_s`` and ``catalogue_err_pct`` (signed)."""
    hw = load_hardware(gpu)
    frame = pd.read_csv(path)
    frame = frame[frame.status == "ok"].reset_index(drop=True)
    configs = [Config(r.family, int(r.n), int(r.d), int(r.batch), r.mode, r.dtype)
               for r in frame.itertuples()]
    frame["catalogue_s"] = [_predicted(cost_record(c), hw, c) for c in configs]
    frame["catalogue_err_pct"] = (frame.catalogue_s / frame.measured_s - 1) * 100
    return frame


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    def stats(g):
        err = g.catalogue_err_pct
        return pd.Series({"rows": len(g), "catalogue_median": err.abs().median(),
                          "catalogue_p90": err.abs().quantile(0.9),
                          "catalogue_signed": err.median(),
                          "calibrated_median": g.calibrated_err_pct.median(),
                          "roofline_median": g.baseline_err_pct.median()})

    table = frame.groupby(["family", "mode"]).apply(stats, include_groups=False)
    table.loc[("all", "all"), :] = stats(frame)
    return table.round(1)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    pd.set_option("display.width", 160)
    print(f"{argv[0]} re-priced with the catalogue model of {argv[1]!r}")
    print(summary(rescored(*argv)).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
