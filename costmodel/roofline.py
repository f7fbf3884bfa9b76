"""Roofline time for a cost record on a device, kernel by kernel, vectorised over numpy grids.

For every kernel on the critical path (``Cost.kernels``)::

    compute_s = flops / (peak * compute_efficiency(flops) * occupancy)
    memory_s  = bytes / (bandwidth * memory_efficiency(bytes) * min(1, occupancy / sat))
                (the L2-resident share of the bytes at ``l2_bandwidth_ratio`` x bandwidth)
    latency_s = kernel_latency_s
    lower = max(compute_s, memory_s, latency_s)      upper = compute_s + memory_s + latency_s

and the module's time is the sum over kernels of ``count * lower`` (or ``upper``). A kernel's
``concurrent`` copies run together: their work adds, their latency does not. ``occupancy`` is
the waves term: a GEMM with T output tiles on S SMs keeps T / (ceil(T/S) * S) of them busy, so
a skinny recurrent step at small batch cannot use the whole GPU.

Which peak applies follows PyTorch's math modes: cuBLAS matmuls (``gemm``, ``attention``) use
TF32 for fp32 only when ``allow_tf32`` (torch default False); cuDNN kernels (``rnn_gemm``,
``conv``) when ``cudnn_allow_tf32`` (torch default True). Pointwise kernels use the fp32
vector peak. All rates come from the hardware data; efficiencies from
``costmodel/data/priors.toml`` or a calibrated profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np

from costmodel import conventions as C
from costmodel.cost import Cost
from costmodel.hardware import Hardware, matmul_peak

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

MATMUL_KINDS = ("gemm", "attention", "rnn_gemm", "conv")
CUDNN_KINDS = ("rnn_gemm", "conv")
TERMS = ("compute", "memory", "latency")


@dataclass(frozen=True)
class Efficiency:
    """Fractions of peak and latencies; priors, an ideal roofline, or a calibrated profile."""

    compute_flops: tuple[float, ...] = (1.0,)
    compute_efficiency: tuple[float, ...] = (1.0,)
    memory_bytes: tuple[float, ...] = (1.0,)
    memory_efficiency: tuple[float, ...] = (1.0,)
    kernel_latency_s: float = 0.0
    tile_m: int = 0  # 0: no occupancy term
    tile_n: int = 0
    hbm_saturation_sm_fraction: float = 0.0
    l2_usable_fraction: float = 0.0
    l2_bandwidth_ratio: float = 1.0
    source: str = "ideal"

    @classmethod
    def ideal(cls) -> "Efficiency":
        """The datasheet roofline: peak rates, no latency, no occupancy or cache terms."""
        return cls()

    @classmethod
    def priors(cls) -> "Efficiency":
        return _priors()

    def compute(self, flops):
        return _interp_log(flops, self.compute_flops, self.compute_efficiency)

    def memory(self, nbytes):
        return _interp_log(nbytes, self.memory_bytes, self.memory_efficiency)


@lru_cache(maxsize=1)
def _priors() -> Efficiency:
    text = resources.files("costmodel").joinpath("data", "priors.toml").read_text()
    raw = tomllib.loads(text)
    return Efficiency(
        compute_flops=tuple(raw["compute_efficiency"]["flops"]),
        compute_efficiency=tuple(raw["compute_efficiency"]["efficiency"]),
        memory_bytes=tuple(raw["memory_efficiency"]["bytes"]),
        memory_efficiency=tuple(raw["memory_efficiency"]["efficiency"]),
        kernel_latency_s=raw["latency"]["kernel_latency_s"],
        tile_m=raw["occupancy"]["tile_m"],
        tile_n=raw["occupancy"]["tile_n"],
        hbm_saturation_sm_fraction=raw["occupancy"]["hbm_saturation_sm_fraction"],
        l2_usable_fraction=raw["cache"]["l2_usable_fraction"],
        l2_bandwidth_ratio=raw["cache"]["l2_bandwidth_ratio"],
        source="priors (costmodel/data/priors.toml)",
    )


def _interp_log(x, xs, ys):
    x = np.maximum(np.asarray(x, dtype=float), 1.0)
    return np.interp(np.log(x), np.log(np.asarray(xs, dtype=float)), np.asarray(ys))


@dataclass(frozen=True)
class Timing:
    """Predicted times in seconds (arrays when the inputs were arrays)."""

    forward_s: np.ndarray
    forward_upper_s: np.ndarray
    backward_s: np.ndarray
    optimizer_s: np.ndarray
    training_s: np.ndarray
    training_upper_s: np.ndarray
    binding: np.ndarray  # "compute" / "memory" / "latency": the term with most forward time
    arithmetic_intensity: np.ndarray  # forward FLOPs per byte moved
    fraction_of_peak: np.ndarray  # time at each kernel's own peak / predicted time (forward)
    kernels: tuple[dict, ...] = field(default=(), compare=False)


def _peak(kind: str, hw: Hardware, dtype: str, allow_tf32: bool, cudnn_allow_tf32: bool):
    if kind in MATMUL_KINDS:
        tf32 = cudnn_allow_tf32 if kind in CUDNN_KINDS else allow_tf32
        return matmul_peak(hw, dtype, tf32)
    return hw.peak_flops_per_s("fp32")  # pointwise work runs on the vector units


def _occupancy(shape, concurrent, hw: Hardware, eff: Efficiency):
    if shape is None or not eff.tile_m or not hw.sm_count:
        return 1.0
    m, n = (np.asarray(v, dtype=float) for v in shape[:2])
    tiles = np.ceil(m / eff.tile_m) * np.ceil(n / eff.tile_n) * concurrent
    waves = np.ceil(tiles / hw.sm_count)
    return tiles / (waves * hw.sm_count)


def kernel_time(k: Mapping, hw: Hardware, eff: Efficiency, dtype: str,
                allow_tf32: bool, cudnn_allow_tf32: bool) -> dict:
    """Terms of one kernel from its evaluated ``flops, bytes, concurrent, shape, resident``."""
    flops = np.asarray(k["flops"], dtype=float) * k["concurrent"]
    nbytes = np.asarray(k["bytes"], dtype=float) * k["concurrent"]
    occupancy = _occupancy(k["shape"], k["concurrent"], hw, eff)
    peak = _peak(k["kind"], hw, dtype, allow_tf32, cudnn_allow_tf32)
    compute_s = flops / (peak * eff.compute(flops) * occupancy)
    saturation = (np.minimum(1.0, occupancy / eff.hbm_saturation_sm_fraction)
                  if eff.hbm_saturation_sm_fraction else 1.0)
    rate = hw.hbm_bytes_per_s * eff.memory(nbytes) * saturation
    resident = np.asarray(k["resident_bytes"], dtype=float) * k["concurrent"]
    fits = (resident > 0) & (resident <= (hw.l2_bytes or 0) * eff.l2_usable_fraction)
    cached = np.where(fits, resident, 0.0)
    memory_s = (nbytes - cached) / rate + cached / (rate * eff.l2_bandwidth_ratio)
    latency_s = np.full_like(compute_s, eff.kernel_latency_s)
    terms = np.stack(np.broadcast_arrays(compute_s, memory_s, latency_s))
    return {"name": k["name"], "phase": k["phase"], "count": k["count"],
            "flops": flops, "bytes": nbytes, "peak_flops_per_s": peak,
            "ideal_s": flops / peak,
            "compute_s": compute_s, "memory_s": memory_s, "latency_s": latency_s,
            "lower_s": terms.max(axis=0), "upper_s": terms.sum(axis=0),
            "binding": np.asarray(TERMS)[terms.argmax(axis=0)]}


def predict(record: Cost, hw: Hardware, *, eff: Efficiency | None = None, dtype: str = "fp32",
            optimizer: str = "adam", allow_tf32: bool = False, cudnn_allow_tf32: bool = True,
            **values) -> Timing:
    """Roofline time of ``record`` on ``hw`` at ``values`` (n, batch, sizes; arrays broadcast).

    ``training_s`` is forward + backward + one optimizer update (a memory-bound pass over the
    parameters, see ``conventions.OPTIMIZER_UPDATE_FLOPS``).
    """
    eff = Efficiency.priors() if eff is None else eff
    kernels = record.kernel_values(dtype=dtype, optimizer=optimizer, **values)
    rows = [kernel_time(k, hw, eff, dtype, allow_tf32, cudnn_allow_tf32) for k in kernels]
    totals = {}
    for phase in ("forward", "backward"):
        chosen = [r for r in rows if r["phase"] == phase]
        totals[phase] = sum((r["count"] * r["lower_s"] for r in chosen), np.zeros(()))
        totals[phase + "_upper"] = sum((r["count"] * r["upper_s"] for r in chosen), np.zeros(()))
    by_term = {t: sum((r["count"] * np.where(r["binding"] == t, r["lower_s"], 0.0)
                       for r in rows if r["phase"] == "forward"), np.zeros(())) for t in TERMS}
    stacked = np.stack(np.broadcast_arrays(*(by_term[t] for t in TERMS)))
    binding = np.asarray(TERMS)[stacked.argmax(axis=0)]
    numbers = record.vectorize()(dtype=dtype, optimizer=optimizer, **values)
    update = _optimizer_update(numbers["params"], optimizer, dtype, hw, eff)
    flops, nbytes = numbers["flops"], numbers["bytes"]
    at_peak = sum((r["count"] * r["ideal_s"] for r in rows if r["phase"] == "forward"),
                  np.zeros(()))
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(nbytes > 0, flops / nbytes, np.inf)
        fraction = np.where(totals["forward"] > 0, at_peak / totals["forward"], 0.0)
    training = totals["forward"] + totals["backward"] + update["lower_s"]
    training_upper = totals["forward_upper"] + totals["backward_upper"] + update["upper_s"]
    return Timing(totals["forward"], totals["forward_upper"], totals["backward"],
                  update["lower_s"], training, training_upper, binding, intensity, fraction,
                  tuple(rows))


def _optimizer_update(params, optimizer: str, dtype: str, hw: Hardware, eff: Efficiency):
    from costmodel.cost import dtype_bytes_of, optimizer_states_of

    states = optimizer_states_of(optimizer)
    moved = (C.OPTIMIZER_BASE_TENSORS_MOVED + 2 * states) * dtype_bytes_of(dtype)
    kernel = {"name": "optimizer_update", "kind": "elementwise", "phase": "update",
              "count": 1, "concurrent": 1, "shape": None, "resident_bytes": 0,
              "flops": np.asarray(params, dtype=float) * C.OPTIMIZER_UPDATE_FLOPS[optimizer],
              "bytes": np.asarray(params, dtype=float) * moved}
    return kernel_time(kernel, hw, eff, dtype, False, False)


