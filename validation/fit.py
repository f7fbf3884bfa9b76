"""The fits on module timings: whole recurrent steps and the per-family terms.

``fit_steps`` turns whole-step timings (a recurrent module at two sequence lengths) into
whole-step curves per family and phase. ``fit_families`` then fits, per family and phase, the
terms of :data:`TERMS_FITTED` on module timings: for one module the calibrated roofline
(without family terms) gives the time of its bulk GEMMs, its step GEMMs (the whole step, where
measured), its pointwise kernels, the number of dependent steps, one call, the passes over W_hh
a step (read + write at the measured pointwise rate for that many bytes) and one copy of all
weights into fresh memory; ``measured - fixed latencies`` is fitted as a non-negative
combination of them, least squares in relative error (:func:`nonneg_relative_fit`). The
backward phase is fitted on a training step minus the calibrated forward and optimizer update;
the inference phase, where calibration timed it, on inference runs (``eval()`` under
``inference_mode``, what users time) decomposed as ``predict(mode="inference")`` prices them.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np

from costmodel.cost import is_step, is_step_gemm
from costmodel.efficiency import INFERENCE
from costmodel.hardware import load_hardware
from costmodel.numeric import dtype_bytes_of
from costmodel.implementations.autograd_cells import weight_pass_s
from costmodel.implementations.onednn_rnn import fresh_sequence_s, weight_copy_s
from costmodel.implementations.sdpa import resolve
from costmodel.roofline import MATMUL_KINDS, STEP_KIND, Efficiency, family_of, predict

from .modules import Config, cost_record
from .report import to_toml

# fresh weight-size buffers per call: in backward every family (a training step allocates new
# gradients, zero_grad(set_to_none=True)); in forward only implementations that copy their
# weights per call: oneDNN's LSTM (aten::mkldnn_rnn_layer) re-lays out W_ih and W_hh into new
# buffers each call (measured: one page fault per 4 KiB of weights on a 1024- or 2048-wide
# LSTM, 2-3 us each on this KVM guest); nn.RNN/GRU and Linear read theirs in place
WEIGHT_COPY_FAMILIES = ("lstm",)
MIN_WORK_SCALE = 0.05  # a fit that wants less than this is degenerate: keep the roofline's work
EFF_RANGE = (1e-3, 8.0)  # efficiencies clipped here (cache-resident data beats DRAM copy)
BIN_FACTOR = 4.0  # points within a factor of 4 in size share one knot of a curve
MIN_STEP_SHARE = 0.05  # a whole step keeps at least this share of its measured difference


def _curve(points: list[tuple[float, float]]) -> dict | None:
    """Knots of an efficiency curve: median size and efficiency per factor-4 size bin."""
    points = [(x, min(max(e, EFF_RANGE[0]), EFF_RANGE[1])) for x, e in points if x > 0 and e > 0]
    if not points:
        return None
    bins: dict[int, list] = {}
    for x, e in points:
        bins.setdefault(int(np.floor(np.log(x) / np.log(BIN_FACTOR))), []).append((x, e))
    knots = [(float(np.median([p[0] for p in b])), float(np.median([p[1] for p in b])))
             for _, b in sorted(bins.items())]
    return {"x": [k[0] for k in knots], "efficiency": [k[1] for k in knots]}


def fit_steps(rows: list[dict], hw, table: dict) -> dict:
    """Whole-step curves ``memory.rnn_step.<family>.<phase>.m<batch>`` (x: the step GEMM's
    bytes, efficiency: those bytes over bandwidth x step time) from
    :func:`.modules.recurrent_step` rows. The time of one step is the measured difference
    per extra step minus the roofline's time (with ``table``'s curves) for the kernels that
    are not the step's own (the input projection and weight gradients grow with n too); the
    backward step is a training step's difference minus the forward one's. Rows timed in
    inference (``eval()`` under ``inference_mode``) give phase ``inference``: a forward step
    as users run it, which :meth:`Efficiency.for_inference` puts in the forward one's place."""
    eff = Efficiency.from_table(table)
    forward, points = {}, {}
    for r in sorted(rows, key=lambda r: r["mode"] != "forward"):  # forward rows first
        extra = r["n_long"] - r["n_short"]
        per_step = (r["long_s"] - r["short_s"]) / extra
        key = (r["family"], r["d"], r["batch"], r["dtype"])
        other, nbytes = _other_per_step(r, hw, eff)
        if r["mode"] == "forward":
            forward[key] = per_step
        if r["mode"] in ("forward", INFERENCE):  # a forward step, as trained or as served
            phase, t, x = r["mode"], per_step - other["forward"], nbytes["forward"]
        elif key in forward:
            phase, x = "backward", nbytes["backward"]
            t = per_step - forward[key] - other["backward"]
        else:
            continue
        t = max(t, MIN_STEP_SHARE * per_step, 1e-9)
        points.setdefault(f"memory.{STEP_KIND}.{r['family']}.{phase}.m{r['batch']}", []).append(
            (x, x / (hw.hbm_bytes_per_s * t)))
    return {k: c for k, c in ((k, _curve(v)) for k, v in points.items()) if c}


def _other_per_step(row: dict, hw, eff) -> tuple[dict, dict]:
    """Per phase: the roofline's time per extra step of the kernels outside the step, and
    the bytes of the step GEMM (the x of the whole-step curves)."""
    times, nbytes = [], {}
    for n in (row["n_short"], row["n_long"]):
        cfg = Config(row["family"], n, row["d"], row["batch"], "training", row["dtype"])
        timing = predict(cost_record(cfg), hw, eff=eff, dtype=cfg.dtype, n=n, batch=cfg.batch)
        times.append({ph: sum(float(k["count"] * k["lower_s"]) for k in timing.kernels
                              if k["phase"] == ph and not is_step(k["name"]))
                      for ph in ("forward", "backward")})
        nbytes = {k["phase"]: float(k["bytes"]) for k in timing.kernels
                  if is_step_gemm(k["name"])}
    extra = row["n_long"] - row["n_short"]
    return {ph: (times[1][ph] - times[0][ph]) / extra for ph in times[0]}, nbytes


def hardware_from_profile(profile: dict):
    """A :class:`costmodel.hardware.Hardware` (with its efficiency) from a profile dict."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profile.toml"
        path.write_text(to_toml(profile), encoding="utf-8")
        hw = load_hardware(str(path))
    return hw


def decompose(cfg: Config, hw, eff: Efficiency) -> dict:
    """Per phase the terms the family fit scales (see :data:`TERMS_FITTED`), in seconds or
    counts, from the uncalibrated roofline with ``eff``; plus the optimizer update time. An
    inference configuration is decomposed as predict(mode="inference") prices it (the record
    PyTorch's inference path runs, e.g. the Transformer's attention kernel without dropout;
    the profile's inference whole steps): its terms under "forward", none under "backward"."""
    mode = INFERENCE if cfg.mode == INFERENCE else "training"
    record = resolve(cost_record(cfg), hw, cfg.dtype, mode)[0]
    timing = predict(record, hw, eff=eff, dtype=cfg.dtype, n=cfg.n, batch=cfg.batch, mode=mode)
    out = {"update_s": float(timing.optimizer_s), "family": family_of(record)}
    values = record.kernel_values(dtype=cfg.dtype, n=cfg.n, batch=cfg.batch)
    kernels = {ph: [k for k in values if k["phase"] == ph] for ph in ("forward", "backward")}
    params = float(record.evaluate(n=cfg.n, batch=cfg.batch, dtype=cfg.dtype)["params"])
    fresh = float(weight_copy_s(params * dtype_bytes_of(cfg.dtype), hw, eff, cfg.dtype))
    for phase in ("forward", "backward"):
        rows = [r for r in timing.kernels if r["phase"] == phase]
        parts = {"work_scale": 0.0, "step_scale": 0.0, "pointwise_scale": 0.0}
        for r, k in zip(rows, kernels[phase]):
            busy = float(r["count"] * np.maximum(r["compute_s"], r["memory_s"]))
            if k["kind"] not in MATMUL_KINDS:
                parts["pointwise_scale"] += busy
            elif is_step_gemm(r["name"]):
                parts["step_scale"] += busy
            else:
                parts["work_scale"] += busy
        out[phase] = {
            **parts,
            "call_weight_passes": fresh,
            "fresh_sequence_passes": float(fresh_sequence_s(values, hw, eff, cfg.dtype)),
            # the step's own kernels get the fitted step latency instead of kernel latency
            "fixed": sum(float(r["count"] * r["latency_s"]) for r in rows
                         if not is_step(r["name"])),
            "step_latency_s": sum(float(r["count"]) for r in rows
                                  if is_step_gemm(r["name"])),
            "call_latency_s": 1.0,
            "step_weight_passes": sum(float(r["count"]) * float(weight_pass_s(
                k["resident_bytes"] * k["concurrent"], hw, eff, cfg.dtype))
                for r, k in zip(rows, kernels[phase]) if is_step_gemm(r["name"])),
        }
    return out


# the terms of the family fit, each a non-negative coefficient times a column of decompose()
TERMS_FITTED = ("work_scale", "step_scale", "pointwise_scale", "step_latency_s",
                "call_latency_s", "step_weight_passes", "call_weight_passes",
                "fresh_sequence_passes")
SCALES = ("work_scale", "step_scale", "pointwise_scale")  # >= MIN_WORK_SCALE where present


def nonneg_relative_fit(columns: dict, targets, measured) -> dict:
    """Coefficients for ``columns`` (name -> values per measurement) minimising
    sum(((sum_c coef_c * column_c - target) / measured)^2) with every coefficient >= 0 and
    the scales (:data:`SCALES`) >= MIN_WORK_SCALE: non-negative least squares on
    ``coef - floor``, solved exactly by trying every subset of free terms (the rest at their
    floor). An all-zero column takes no part (its coefficient: 1 for a scale, else 0)."""
    measured = np.asarray(measured, dtype=float)
    names = [c for c in columns if np.any(np.asarray(columns[c], dtype=float))]
    X = np.column_stack([np.asarray(columns[c], dtype=float) for c in names]) / measured[:, None]
    floors = np.array([MIN_WORK_SCALE if c in SCALES else 0.0 for c in names])
    y = np.asarray(targets, dtype=float) / measured - X @ floors
    best, best_cost = np.zeros(len(names)), float((y ** 2).sum())
    for keep in itertools.product((True, False), repeat=len(names)):
        cols = [i for i, k in enumerate(keep) if k]
        if not cols:
            continue
        coef, *_ = np.linalg.lstsq(X[:, cols], y, rcond=None)
        if (coef < 0).any():
            continue
        full = np.zeros(len(names))
        full[cols] = coef
        cost = float(((X @ full - y) ** 2).sum())
        if cost < best_cost:
            best, best_cost = full, cost
    out = {c: (1.0 if c in SCALES else 0.0) for c in columns}
    out.update({c: float(v) for c, v in zip(names, best + floors)})
    return out


# the module timings each phase's terms are fitted on, and the decomposition they use
PHASES_FITTED = {"forward": ("forward", "forward"), "backward": ("training", "backward"),
                 INFERENCE: (INFERENCE, "forward")}


def fit_families(measurements: list[dict], hw, table: dict) -> dict:
    """The tables of :data:`TERMS_FITTED` (keyed ``"<family>.<phase>"``) from module timings
    (``measurements``: Config fields + ``measured_s``): phase forward on train-mode forwards
    under no_grad, backward on training steps, inference on inference runs (where measured)."""
    eff = Efficiency.from_table(table)
    terms = {name: {} for name in TERMS_FITTED}
    parts = {}
    for m in measurements:
        cfg = Config(**{k: m[k] for k in ("family", "n", "d", "batch", "mode", "dtype")})
        parts[cfg.key] = (cfg, decompose(cfg, hw, eff), m["measured_s"])
    forward = {_base(c): v for c, *v in parts.values() if c.mode == "forward"}
    for phase, (mode, decomposed) in PHASES_FITTED.items():
        groups: dict[str, list] = {}
        for cfg, dec, measured in parts.values():
            if cfg.mode != mode:
                continue
            target = measured - dec[decomposed]["fixed"]
            if phase == "backward":
                if _base(cfg) not in forward:
                    continue
                fwd = forward[_base(cfg)][0]["forward"]
                target -= _calibrated(fwd, terms, dec["family"], "forward")
                target -= dec["update_s"]
            groups.setdefault(dec["family"], []).append((dec[decomposed], target, measured))
        for family, rows in groups.items():
            columns = {name: np.array([r[name] for r, _, _ in rows]) for name in TERMS_FITTED}
            if phase != "backward":  # a forward step writes no dW_hh: its one read of W_hh
                columns["step_weight_passes"][:] = 0.0  # is already the step GEMM's traffic
                if family not in WEIGHT_COPY_FAMILIES:
                    columns["call_weight_passes"][:] = 0.0
            fitted = nonneg_relative_fit(columns, [t for _, t, _ in rows],
                                         [m for _, _, m in rows])
            for name, value in fitted.items():
                terms[name][f"{family}.{phase}"] = value
    return terms


def _base(cfg: Config) -> tuple:
    return cfg.family, cfg.n, cfg.d, cfg.batch, cfg.dtype


def _calibrated(part: dict, terms: dict, family: str, phase: str) -> float:
    key = f"{family}.{phase}"
    default = lambda name: 1.0 if name in SCALES else 0.0
    return part["fixed"] + sum(terms[name].get(key, default(name)) * part[name]
                               for name in TERMS_FITTED)
