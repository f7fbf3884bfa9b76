"""Evaluators on device figures: the hardware catalogue, core counts derived from its peaks,
peak-rate times, and the parallel width a recurrent step offers a GPU.

Device numbers come only from ``costmodel/data/hardware/*.toml`` (via ``load_hardware``);
nothing here hard-codes a figure of a device.
"""

from __future__ import annotations

from typing import Mapping

from costmodel import conventions as C
from costmodel.claims.evaluators import Outcome, evaluator, fmt, need
from costmodel.claims.evaluators_models import step_outputs
from costmodel.hardware import load_hardware

#: A catalogue peak quoted to three significant figures (19.5 TFLOPS) is known to within
#: half a unit of its last digit: the relative half-width for a value v is 0.5 * 10^(e-2) / v.
QUOTED_DIGITS = 3


def figure(hw, name: str) -> float:
    if name.startswith("peak_flops_per_s."):
        return hw.peak_flops_per_s(name.split(".", 1)[1])
    return getattr(hw, name)


@evaluator("device_figure")
def device_figure(params: Mapping) -> Outcome:
    """``figure`` of ``device``; ``variants`` (other catalogue names) as alternatives. With
    ``variant_only`` only the named variants apply (the claim names no variant)."""
    device, name = need(params, "device", "figure")
    hw = load_hardware(device)
    alternatives = tuple((load_hardware(v).name, figure(load_hardware(v), name))
                         for v in params.get("variants", []))
    shown = "; ".join(f"{label}: {fmt(v)}" for label, v in
                      ((hw.name, figure(hw, name)), *alternatives))
    value = None if params.get("variant_only") else figure(hw, name)
    if value is None:
        alternatives = ((hw.name, figure(hw, name)), *alternatives)
    return Outcome(value=value, detail=f"{name}: {shown}", alternatives=alternatives)


def _half_unit(value: float) -> float:
    from math import floor, log10
    return 0.5 * 10 ** (floor(log10(value)) - (QUOTED_DIGITS - 1))


def cuda_cores(device: str) -> tuple[float, float]:
    """FP32 lanes = fp32 peak / (FLOPs per FMA x boost clock), over the quoted peak's
    rounding interval."""
    hw = load_hardware(device)
    peak, clock = hw.peak_flops_per_s("fp32"), hw.boost_clock_hz
    half = _half_unit(peak)
    return ((peak - half) / (C.FLOPS_PER_MAC * clock), (peak + half) / (C.FLOPS_PER_MAC * clock))


@evaluator("cuda_cores")
def cuda_cores_evaluator(params: Mapping) -> Outcome:
    (device,) = need(params, "device")
    lo, hi = cuda_cores(device)
    hw = load_hardware(device)
    return Outcome(value=(lo, hi), detail=f"{hw.name}: fp32 peak {fmt(hw.peaks['fp32'])} / "
                   f"(2 FLOPs per FMA x {fmt(hw.boost_clock_hz)} Hz) = {fmt(lo)} to {fmt(hi)} "
                   f"lanes ({hw.sm_count} SMs)")


@evaluator("peak_time")
def peak_time(params: Mapping) -> Outcome:
    """``flops / (efficiency x peak)`` seconds; flops and efficiency may be [lo, hi]."""
    flops, device, dtype = need(params, "flops", "device", "dtype")
    eff = params.get("efficiency", 1)
    peak = load_hardware(device).peak_flops_per_s(dtype)
    f_lo, f_hi = flops if isinstance(flops, list) else (flops, flops)
    e_lo, e_hi = eff if isinstance(eff, list) else (eff, eff)
    lo, hi = f_lo / (e_hi * peak), f_hi / (e_lo * peak)
    value = lo if lo == hi else (lo, hi)
    shown = flops if isinstance(flops, list) else fmt(flops)
    return Outcome(value=value, span=lo != hi, detail=f"{shown} FLOPs / ({eff} x {fmt(peak)} "
                   f"FLOP/s, {device} {dtype}) = {lo:.4g} to {hi:.4g} s")


@evaluator("step_utilization")
def step_utilization(params: Mapping) -> Outcome:
    """A recurrent step's independent outputs over the device's FP32 lanes (the documents'
    "utilization" arithmetic: parallel operations / cores)."""
    (device,) = need(params, "device")
    lo, hi = cuda_cores(device)
    cores = round((lo + hi) / 2)
    outputs, units = step_outputs(params)
    b = params.get("batch", 1)
    return Outcome(value=outputs / cores, detail=f"{fmt(outputs)} step-GEMM outputs / "
                   f"{fmt(cores)} lanes = {outputs / cores:.4g}",
                   alternatives=(("hidden units only (one gate)", units / cores),
                                 ("one parallel operation per sequence in the batch",
                                  b / cores)))
