"""``costmodel validate``: time a held-out grid of RNN, LSTM, GRU and Transformer layers and
report predicted vs measured per configuration, with median / p90 / worst absolute percentage
error for the datasheet-only roofline and for the calibrated model.

The grid never contains the sizes calibration used (see ``calibrate.PLANS``). A configuration
the calibrated model predicts above ``max_config_s`` is skipped and recorded; one that runs out
of memory is recorded and the run goes on; after every configuration the JSON and CSV are
rewritten atomically, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from costmodel.roofline import Efficiency, predict

from . import require_torch
from .modules import (FAMILIES, VALIDATE_MODES, Config, cost_record, memory_record,
                      peak_allocated_bytes, saved_bytes)
from .modules import time_config
from costmodel.files import write_atomic

from .report import abs_pct_error, error_stats, plot, to_csv, to_json
from .timing import Device, typical

GRIDS = {  # (n values, d values, batch values)
    "full": ([16, 64, 256, 1024, 4096], [64, 256, 1024, 2048], [1, 8, 64]),
    "quick": ([16, 64], [64], [1]),
}
SHUFFLE_SEED = 0  # the grid is timed in a fixed shuffled order
SAVED_BYTES_LIMIT = 2 ** 28  # measure saved tensors only where one forward stays this small


def grid(name: str, families=FAMILIES, modes=VALIDATE_MODES,
         dtype: str = "fp32") -> list[Config]:
    ns, ds, batches = GRIDS[name]
    return [Config(f, n, d, b, m, dtype)
            for f, d, n, b, m in itertools.product(families, ds, ns, batches, modes)]


def _predicted(record, hw, cfg: Config, **kw) -> float:
    """The prediction for what ``cfg.mode`` times: an inference forward (eval mode, the
    attention kernel PyTorch's inference path picks), a training-mode forward, or a step."""
    mode = "inference" if cfg.mode == "inference" else "training"
    t = predict(record, hw, dtype=cfg.dtype, n=cfg.n, batch=cfg.batch, mode=mode, **kw)
    return float(t.training_s if cfg.mode == "training" else t.forward_s)


def _memory(cfg: Config, device: Device, hw) -> dict:
    from costmodel.implementations.sdpa import resolve

    # the attention kernel this device runs in training (device-free records count the CPU's)
    record = resolve(memory_record(cfg, device.kind), hw, cfg.dtype, "training")[0]
    numbers = record.evaluate(n=cfg.n, batch=cfg.batch, dtype=cfg.dtype)
    out = {"predicted_saved_bytes": int(numbers["activation_bytes"])}
    if cfg.mode != "training":
        return {}
    if device.kind == "cuda":
        out["measured_peak_bytes"] = peak_allocated_bytes(cfg, device)
    elif numbers["activation_bytes"] <= SAVED_BYTES_LIMIT:
        out["measured_saved_bytes"] = saved_bytes(cfg, device)
    return out


def run_one(cfg: Config, device: Device, baseline_hw, calibrated_hw, max_config_s: float,
            budget_s: float, quiet_s: float = 0.0) -> dict:
    """One grid point: predictions, then (unless skipped) the measurement and errors."""
    record = cost_record(cfg)
    base = _predicted(record, baseline_hw, cfg, eff=Efficiency.ideal())
    calibrated = _predicted(record, calibrated_hw, cfg)
    row = {**cfg.as_dict(), "baseline_s": base, "calibrated_s": calibrated}
    if calibrated > max_config_s:
        return {**row, "status": "skipped",
                "reason": f"predicted {calibrated:.3g} s a call > --max-config-s {max_config_s}"}
    torch = require_torch()
    try:
        m = time_config(cfg, device, budget_s=budget_s, quiet_s=quiet_s)
        row.update(_memory(cfg, device, calibrated_hw))
    except (torch.OutOfMemoryError, MemoryError) as err:
        if device.kind == "cuda":
            torch.cuda.empty_cache()
        return {**row, "status": "oom", "reason": f"out of memory: {str(err)[:120]}"}
    row.update(status="ok", spread_s=m.p90_s - m.p10_s, repeats=m.repeats, round_medians_s=[])
    return _with_measurement(row, m.median_s)


def _with_measurement(row: dict, median_s: float) -> dict:
    """Add one round's median; ``measured_s`` is the median of the round medians
    (:func:`.timing.typical`), and the errors follow it."""
    rounds = [*row.get("round_medians_s", []), median_s]
    measured = typical(rounds)
    return {**row, "round_medians_s": rounds, "measured_s": measured,
            "baseline_err_pct": abs_pct_error(row["baseline_s"], measured),
            "calibrated_err_pct": abs_pct_error(row["calibrated_s"], measured)}


def summary(rows: list[dict]) -> dict:
    """Error statistics over the measured rows, overall and per family and mode."""
    done = [r for r in rows if r.get("status") == "ok"]
    out = {"measured": len(done),
           "skipped": sum(r.get("status") == "skipped" for r in rows),
           "oom": sum(r.get("status") == "oom" for r in rows),
           "baseline": error_stats([r["baseline_err_pct"] for r in done]),
           "calibrated": error_stats([r["calibrated_err_pct"] for r in done]), "groups": {}}
    modes = dict.fromkeys(r["mode"] for r in rows)  # in the order timed
    for family, mode in itertools.product(FAMILIES, modes):
        chosen = [r for r in done if r["family"] == family and r["mode"] == mode]
        if chosen:
            out["groups"][f"{family}.{mode}"] = {
                "baseline": error_stats([r["baseline_err_pct"] for r in chosen]),
                "calibrated": error_stats([r["calibrated_err_pct"] for r in chosen])}
    return out


def write_results(rows: list[dict], meta: dict, stem: Path, final: bool) -> dict:
    report = {"meta": meta, "summary": summary(rows), "complete": final, "rows": rows}
    write_atomic(stem.with_suffix(".json"), to_json(report))
    write_atomic(stem.with_suffix(".csv"), to_csv(rows))
    if final:
        plot(rows, stem.with_suffix(".png"), plot_title(meta, report["summary"]))
    return report


def plot_title(meta: dict, summary: dict) -> str:
    """Two lines: the device, then median / p90 |error| of both models."""
    return (f"{meta['device']} ({meta['kind']}, threads={meta['threads']}), torch {meta['torch']}"
            f"\n|error| median / p90: datasheet {_pct(summary['baseline'])}, calibrated "
            f"{_pct(summary['calibrated'])} ({summary['measured']} configurations)")


def _pct(stats: dict) -> str:
    if stats["median_pct"] is None:
        return "-"
    return f"{stats['median_pct']:.1f} / {stats['p90_pct']:.1f} %"


def validate(device: Device, configs: list[Config], baseline_hw, calibrated_hw, stem: Path,
             meta: dict, max_config_s: float, budget_s: float, progress, rounds: int = 1,
             quiet_s: float = 0.0) -> dict:
    """Time ``configs`` in a fixed shuffled order (families and sizes interleaved, so a
    disturbance spreads instead of hitting one family); ``rounds`` > 1 times every measured
    configuration again, in alternating order, keeping the median of the round medians."""
    rows: list[dict] = []
    configs = list(configs)
    random.Random(SHUFFLE_SEED).shuffle(configs)
    try:
        for i, cfg in enumerate(configs, 1):
            row = run_one(cfg, device, baseline_hw, calibrated_hw, max_config_s, budget_s,
                          quiet_s)
            rows.append(row)
            progress(_line(i, len(configs), row))
            write_results(rows, meta, stem, final=False)
        for round_ in range(2, rounds + 1):
            indices = range(len(rows))
            for i in (reversed(indices) if round_ % 2 == 0 else indices):
                if rows[i]["status"] == "ok":
                    cfg = Config(**{k: rows[i][k] for k in Config.__dataclass_fields__})
                    m = time_config(cfg, device, budget_s=budget_s, quiet_s=quiet_s)
                    rows[i] = _with_measurement(rows[i], m.median_s)
                    progress(f"[round {round_}] " + _line(i + 1, len(rows), rows[i]))
            write_results(rows, meta, stem, final=False)
    except KeyboardInterrupt:
        progress(f"interrupted after {len(rows)} of {len(configs)} configurations; kept")
        meta = {**meta, "interrupted": True}
    return write_results(rows, meta, stem, final=True)


def _line(i: int, total: int, row: dict) -> str:
    head = f"[{i}/{total}] {Config(**{k: row[k] for k in Config.__dataclass_fields__}).key}"
    if row["status"] != "ok":
        return f"{head}: {row['status']} ({row['reason']})"
    return (f"{head}: measured {row['measured_s'] * 1e3:.3g} ms, datasheet "
            f"{row['baseline_err_pct']:.0f} % off, calibrated {row['calibrated_err_pct']:.0f} % off")
