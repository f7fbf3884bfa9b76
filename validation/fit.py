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
from costmodel.numeric import dtype_bytes_of
from costmodel.roofline import MATMUL_KINDS, Efficiency, family_of, weight_copy_s, predict
from costmodel.roofline import weight_pass_s

from .modules import Config, cost_record
from .report import to_toml

# fresh weight-size buffers per call: in backward every family (a training step allocates new
# gradients, zero_grad(set_to_none=True)); in forward only implementations that copy their
# weights per call: oneDNN's LSTM (aten::mkldnn_rnn_layer) re-lays out W_ih and W_hh into new
# buffers each call (measured: one page fault per 4 KiB of weights on a 1024- or 2048-wide
# LSTM, 2-3 us each on this KVM guest); nn.RNN/GRU and Linear read theirs in place
WEIGHT_COPY_FAMILIES = ("lstm",)
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
    params = float(record.evaluate(n=cfg.n, batch=cfg.batch, dtype=cfg.dtype)["params"])
    fresh = float(weight_copy_s(params * dtype_bytes_of(cfg.dtype), hw, eff, cfg.dtype))
    for phase in ("forward", "backward"):
        rows = [r for r in timing.kernels if r["phase"] == phase]
        work = [(float(r["count"] * np.maximum(r["compute_s"], r["memory_s"])),
                 k["kind"] in MATMUL_KINDS) for r, k in zip(rows, kernels[phase])]
        out[phase] = {
            "work": sum(w for w, matmul in work if matmul),
            "pointwise": sum(w for w, matmul in work if not matmul),
            "fresh": fresh,
            # the step's own kernels get the fitted step latency instead of kernel latency
            "fixed": sum(float(r["count"] * r["latency_s"]) for r in rows
                         if not r["name"].startswith("step_")),
            "steps": sum(float(r["count"]) for r in rows if r["name"].startswith("step_gemm")),
            "weight": sum(float(r["count"]) * float(weight_pass_s(
                k["resident_bytes"] * k["concurrent"], hw, eff, cfg.dtype))
                for r, k in zip(rows, kernels[phase]) if r["name"].startswith("step_gemm")),
        }
    return out


TERMS_FITTED = ("work_scale", "pointwise_scale", "step_latency_s", "call_latency_s",
                "step_weight_passes", "call_weight_passes")
REQUIRED = 2  # work_scale and pointwise_scale always take part (at least MIN_WORK_SCALE)


def nonneg_relative_fit(work, steps, targets, measured, weight=None, pointwise=None,
                        fresh=None) -> tuple:
    """(scale, step_s, call_s, passes[, pointwise_scale, call_passes]) >= 0 minimising
    sum(((fit - target) / measured)^2). Without ``pointwise`` (and ``fresh``) the old
    four-term fit: one scale for all work."""
    zeros = np.zeros_like(work)
    columns = [work, zeros if pointwise is None else pointwise, steps, np.ones_like(work),
               zeros if weight is None else weight, zeros if fresh is None else fresh]
    X = np.column_stack(columns) / measured[:, None]
    y = np.asarray(targets) / measured
    best, best_cost = np.array([1.0, 1.0, 0, 0, 0, 0]), np.inf
    optional = len(columns) - REQUIRED
    for keep in itertools.product((True, False), repeat=optional):
        cols = list(range(REQUIRED)) + [i + REQUIRED for i, k in enumerate(keep) if k]
        cols = [c for c in cols if c < REQUIRED or np.any(X[:, c])]
        if pointwise is None:
            cols = [c for c in cols if c != 1]
        coef, *_ = np.linalg.lstsq(X[:, cols], y, rcond=None)
        floors = np.where(np.asarray(cols) < REQUIRED, MIN_WORK_SCALE, 0.0)
        if (coef < floors).any():
            continue
        full = np.zeros(len(columns))
        full[cols] = coef
        cost = float(((X @ full - y) ** 2).sum())
        if cost < best_cost:
            best, best_cost = full, cost
    if pointwise is None:
        best[1] = best[0]
        return tuple(float(c) for c in (best[0], best[2], best[3], best[4]))
    return tuple(float(c) for c in (best[0], best[2], best[3], best[4], best[1], best[5]))


def fit_families(measurements: list[dict], hw, table: dict) -> dict:
    """``work_scale``, ``step_latency_s`` and ``call_latency_s`` tables from module timings
    (``measurements``: Config fields + ``measured_s``)."""
    eff = Efficiency.from_table(table)
    terms = {name: {} for name in TERMS_FITTED}
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
            work, pointwise, steps, weight, fresh, target, measured = (
                np.asarray(v, dtype=float) for v in zip(*[
                    (r["work"], r["pointwise"], r["steps"], r["weight"], r["fresh"], t, m)
                    for r, t, m in rows]))
            if phase == "forward":  # a forward step writes no dW_hh: its one read of W_hh
                weight = np.zeros_like(weight)  # is already the step GEMM's own traffic
                if family not in WEIGHT_COPY_FAMILIES:
                    fresh = np.zeros_like(fresh)
            fitted = nonneg_relative_fit(work, steps, target, measured, weight, pointwise, fresh)
            key = f"{family}.{phase}"
            for name, value in zip(("work_scale", "step_latency_s", "call_latency_s",
                                    "step_weight_passes", "pointwise_scale",
                                    "call_weight_passes"), fitted):
                terms[name][key] = value
    return terms


def _base(cfg: Config) -> tuple:
    return cfg.family, cfg.n, cfg.d, cfg.batch, cfg.dtype


def _calibrated(part: dict, terms: dict, family: str, phase: str) -> float:
    key = f"{family}.{phase}"
    return (part["fixed"] + terms["work_scale"].get(key, 1.0) * part["work"]
            + terms["pointwise_scale"].get(key, 1.0) * part["pointwise"]
            + terms["call_weight_passes"].get(key, 0.0) * part["fresh"]
            + terms["step_latency_s"].get(key, 0.0) * part["steps"]
            + terms["call_latency_s"].get(key, 0.0)
            + terms["step_weight_passes"].get(key, 0.0) * part["weight"])
