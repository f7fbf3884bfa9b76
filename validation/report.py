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
    """Log-log predicted vs measured, datasheet roofline and calibrated model, y = x line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("status") == "ok"]
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    for key, label, marker in (("baseline_s", "datasheet roofline", "x"),
                               ("calibrated_s", "calibrated model", "o")):
        pairs = [(r["measured_s"], r[key]) for r in done if r.get(key)]
        if pairs:
            x, y = zip(*pairs)
            ax.scatter(x, y, label=label, marker=marker, s=18, alpha=0.75)
    values = [v for r in done for v in (r["measured_s"], r.get("baseline_s"),
                                        r.get("calibrated_s")) if v]
    if values:
        lo, hi = min(values) / 2, max(values) * 2
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, label="predicted = measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured time (s)")
    ax.set_ylabel("predicted time (s)")
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
