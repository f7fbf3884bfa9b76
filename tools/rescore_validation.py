"""Re-price the measured rows of a `costmodel validate --device ...` run with a catalogue GPU's
model (what `compare --gpu NAME` uses) instead of the run's calibrated profile:

    python tools/rescore_validation.py validation/results/gpu-h200-s6/run2/cuda-h200-validation.csv h200

prints median / p90 / signed median of |predicted / measured - 1| per family and mode, beside
the run's own calibrated and datasheet-roofline columns (docs/validation.md, "GPU, measured:
one named H200", quotes its output). GPU may be a profile path too. A third argument, a
`gpu_probe` result of the same machine, adds the host-issue costs `costmodel calibrate` would
have measured there (its fp32 LSTM length grid, costmodel.implementations.host_issue.fit), or
a profile whose [host] table calibrate wrote (what `compare --host` reads):

    python tools/rescore_validation.py RUN/cuda-h200-validation.csv h200 RUN/gpu-probe-h200.json
    python tools/rescore_validation.py RUN/cuda-h200-validation.csv h200 RUN/cuda-h200.toml
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd
from costmodel.validation.modules import Config, cost_record
from costmodel.validation.validate import _predicted

from costmodel.hardware import load_hardware


def probe_host(path: str, hw):
    """Host-issue costs from a ``gpu_probe`` result's length grid (session 6's LSTM H 1024,
    batch 32: ``h200_rnn.HOST_MODULE``)."""
    from costmodel.implementations import host_issue
    from costmodel.reference.h200_rnn import HOST_MODULE as probe

    rows = json.loads(Path(path).read_text(encoding="utf-8"))["rnn"]
    timed = [{"steps": r["timesteps"], "inference_s": r["inference_ms"] / 1e3,
              "forward_backward_s": r["forward_backward_ms"] / 1e3} for r in rows
             if r["grid"] == "length" and r["cell"] == probe["family"]
             and r["dtype"] == probe["dtype"] and r["hidden"] == probe["hidden"]
             and r["batch"] == probe["batch"]]
    return host_issue.fit(host_issue.probe_points(timed, hw, probe), f"{path}: length grid")


def rescored(path: str, gpu: str, probe: str | None = None) -> pd.DataFrame:
    """The run's measured rows with ``catalogue_s`` and ``catalogue_err_pct`` (signed)."""
    from costmodel.implementations.host_issue import with_host

    hw = load_hardware(gpu)
    if probe is not None and probe.endswith(".toml"):  # a profile's measured [host] table
        hw = with_host(hw, probe)
    elif probe is not None:
        if not hw.architecture:  # a session-6 profile: the probed device's catalogue entry
            device = json.loads(Path(probe).read_text(encoding="utf-8"))["environment"]["device"]
            hw = dataclasses.replace(hw, architecture=load_hardware(device).architecture)
        hw = with_host(hw, probe_host(probe, hw))
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
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    pd.set_option("display.width", 160)
    try:
        frame = rescored(*argv)
    except (OSError, ValueError, KeyError) as err:  # a missing file, a profile without [host]
        print(f"rescore_validation: {err}", file=sys.stderr)
        return 2
    host = f", host-issue costs from {argv[2]}" if len(argv) == 3 else ""
    print(f"{argv[0]} re-priced with the model of {argv[1]!r}{host}")
    print(summary(frame).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
