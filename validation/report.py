"""Writing results (atomically, via costmodel.files): a small TOML writer for profiles, error statistics, CSV,
JSON and the log-log predicted-vs-measured plot (matplotlib, Agg backend)."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from costmodel.files import write_atomic

PERCENTILE = 90


# ---- TOML ---------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum()
    return key if bare else json.dumps(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: dict, prefix: str = "") -> str:
    """Nested dicts as TOML tables (scalars first, then sub-tables)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            lines += ["", f"[{name}]", to_toml(value, name).rstrip("\n")]
    return "\n".join(line for line in lines) + "\n"


# ---- statistics -----------------------------------------------------------------------------

def abs_pct_error(predicted: float, measured: float) -> float:
    return abs(predicted - measured) / measured * 100.0


def error_stats(errors: list[float]) -> dict:
    """Median, 90th percentile and worst absolute percentage error (``None`` when empty)."""
    values = np.asarray([e for e in errors if e is not None and math.isfinite(e)], dtype=float)
    if values.size == 0:
        return {"count": 0, "median_pct": None, "p90_pct": None, "worst_pct": None}
    return {"count": int(values.size), "median_pct": float(np.median(values)),
            "p90_pct": float(np.percentile(values, PERCENTILE)),
            "worst_pct": float(values.max())}


# ---- outputs -----------------------------------------------------------------------------

CSV_COLUMNS = ("family", "n", "d", "batch", "mode", "dtype", "status", "measured_s",
               "spread_s", "repeats", "baseline_s", "calibrated_s", "baseline_err_pct",
               "calibrated_err_pct", "measured_saved_bytes", "predicted_saved_bytes",
               "measured_peak_bytes", "reason")


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(data) -> str:
    return json.dumps(data, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v))


def plot(rows: list[dict], path, title: str) -> None:
    """Log-log predicted vs measured (calibrated model; datasheet roofline as crosses), y = x
    line: :func:`costmodel.plot_roofline.plot_validation`, the figure every validation uses."""
    from costmodel.plot_roofline import plot_validation
    from costmodel.plots import FORMATS, to_bytes

    done = [r for r in rows if r.get("status") == "ok" and r.get("calibrated_s")]
    if not done:
        return
    measured = [r["measured_s"] for r in done]
    fig = plot_validation(measured, [r["calibrated_s"] for r in done], ["calibrated model"] *
                          len(done), title=title,
                          extra={"datasheet roofline": [r.get("baseline_s") or float("nan")
                                                        for r in done]})
    write_atomic(path, to_bytes(fig, FORMATS[".png"]))
