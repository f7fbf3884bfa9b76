"""Per-family fits on whole modules and the profile document.

For one module and phase the calibrated roofline (without family terms) gives ``work`` (the
sum over kernels of count * max(compute, memory)), ``fixed`` (count * kernel latency) and
``steps`` (dependent recurrent steps: kernels named ``step_gemm*``). The fit is
``measured - fixed = work_scale * work + step_latency_s * steps + call_latency_s +
step_weight_passes * weight_s`` (weight_s: one read + write of the steps' weights at the
measured pointwise rate for that many bytes, i.e. cache-resident or main memory by size),
all four non-negative, least squares in relative error. The backward phase is fitted on a training
step minus the calibrated forward and optimizer update.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np

from costmodel.hardware import load_hardware
from costmodel.roofline import Efficiency, family_of, predict, weight_pass_s

from .modules import Config, cost_record
from .report import to_toml

MIN_WORK_SCALE = 0.05  # a fit that wants less than this is degenerate: keep the roofline's work


def hardware_from_profile(profile: dict):
    """A :class:`costmodel.hardware.Hardware` (with its efficiency) from a profile dict."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profile.toml"
        path.write_text(to_toml(profile), encoding="utf-8")
        hw = load_hardware(str(path))
    return hw


def decompose(cfg: Config, hw, eff: Efficiency) -> dict:
    """Per phase: work, fixed and steps of the roofline; plus the update time."""
    record = cost_record(cfg)
    timing = predict(record, hw, eff=eff, dtype=cfg.dtype, n=cfg.n, batch=cfg.batch)
    out = {"update_s": float(timing.optimizer_s), "family": family_of(record)}
    values = record.kernel_values(dtype=cfg.dtype, n=cfg.n, batch=cfg.batch)
    kernels = {ph: [k for k in values if k["phase"] == ph] for ph in ("forward", "backward")}
    for phase in ("forward", "backward"):
        rows = [r for r in timing.kernels if r["phase"] == phase]
        out[phase] = {
            "work": sum(float(r["count"] * np.maximum(r["compute_s"], r["memory_s"]))
                        for r in rows),
            # the step's own kernels get the fitted step latency instead of kernel latency
            "fixed": sum(float(r["count"] * r["latency_s"]) for r in rows
                         if not r["name"].startswith("step_")),
            "steps": sum(float(r["count"]) for r in rows if r["name"].startswith("step_gemm")),
            "weight": sum(float(r["count"]) * float(weight_pass_s(
                k["resident_bytes"] * k["concurrent"], hw, eff, cfg.dtype))
                for r, k in zip(rows, kernels[phase]) if r["name"].startswith("step_gemm")),
        }
    return out


def nonneg_relative_fit(work, steps, targets, measured, weight=None) -> tuple:
    """(scale, step_s, call_s, passes) >= 0 minimising sum(((fit - target) / measured)^2)."""
    weight = np.zeros_like(work) if weight is None else weight
    X = np.column_stack([work, steps, np.ones_like(work), weight]) / measured[:, None]
    y = np.asarray(targets) / measured
    best, best_cost = (1.0, 0.0, 0.0, 0.0), np.inf
    for keep in itertools.product((True, False), repeat=3):
        cols = [0] + [i + 1 for i, k in enumerate(keep) if k]
        coef, *_ = np.linalg.lstsq(X[:, cols], y, rcond=None)
        if coef[0] < MIN_WORK_SCALE or (coef[1:] < 0).any():
            continue
        full = np.zeros(4)
        full[cols] = coef
        cost = float(((X @ full - y) ** 2).sum())
        if cost < best_cost:
            best, best_cost = tuple(float(c) for c in full), cost
    return best


def fit_families(measurements: list[dict], hw, table: dict) -> dict:
    """``work_scale``, ``step_latency_s`` and ``call_latency_s`` tables from module timings
    (``measurements``: Config fields + ``measured_s``)."""
    eff = Efficiency.from_table(table)
    terms = {"work_scale": {}, "step_latency_s": {}, "call_latency_s": {},
             "step_weight_passes": {}}
    parts = {}
    for m in measurements:
        cfg = Config(**{k: m[k] for k in ("family", "n", "d", "batch", "mode", "dtype")})
        parts[cfg.key] = (cfg, decompose(cfg, hw, eff), m["measured_s"])
    forward = {_base(c): v for c, *v in parts.values() if c.mode == "forward"}
    for phase in ("forward", "backward"):
        groups: dict[str, list] = {}
        for cfg, dec, measured in parts.values():
            if cfg.mode != ("forward" if phase == "forward" else "training"):
                continue
            target = measured - dec[phase]["fixed"]
            if phase == "backward":
                if _base(cfg) not in forward:
                    continue
                fwd = forward[_base(cfg)][0]["forward"]
                target -= _calibrated(fwd, terms, dec["family"], "forward")
                target -= dec["update_s"]
            groups.setdefault(dec["family"], []).append((dec[phase], target, measured))
        for family, rows in groups.items():
            work, steps, weight, target, measured = (np.asarray(v, dtype=float) for v in zip(
                *[(r["work"], r["steps"], r["weight"], t, m) for r, t, m in rows]))
            if phase == "forward":  # a forward step writes no dW_hh: its one read of W_hh
                weight = np.zeros_like(weight)  # is already the step GEMM's own traffic
            scale, step_s, call_s, passes = nonneg_relative_fit(work, steps, target, measured,
                                                                weight)
            key = f"{family}.{phase}"
            terms["work_scale"][key] = scale
            terms["step_latency_s"][key] = step_s
            terms["call_latency_s"][key] = call_s
            terms["step_weight_passes"][key] = passes
    return terms


def _base(cfg: Config) -> tuple:
    return cfg.family, cfg.n, cfg.d, cfg.batch, cfg.dtype


def _calibrated(part: dict, terms: dict, family: str, phase: str) -> float:
    key = f"{family}.{phase}"
    return (part["fixed"] + terms["work_scale"].get(key, 1.0) * part["work"]
            + terms["step_latency_s"].get(key, 0.0) * part["steps"]
            + terms["call_latency_s"].get(key, 0.0)
            + terms["step_weight_passes"].get(key, 0.0) * part["weight"])
