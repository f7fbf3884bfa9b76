"""Roofline time for a cost record on a device, kernel by kernel, vectorised over numpy grids.

For every kernel on the critical path (``Cost.kernels``)::

    compute_s = flops / (peak * compute_efficiency(flops) * occupancy)
    memory_s  = bytes / (bandwidth * memory_efficiency(bytes) * min(1, occupancy / sat))
                (the L2-resident share of the bytes at ``l2_bandwidth_ratio`` x bandwidth)
    latency_s = kernel_latency_s
    lower = max(compute_s, memory_s, latency_s)      upper = compute_s + memory_s + latency_s

and the module's time is the sum over kernels of ``count * lower`` (or ``upper``). A kernel's
``concurrent`` copies run together: their work adds, their latency does not. ``occupancy`` is
the waves term: a GEMM with T work units on S SMs keeps T / (ceil(T/S) * S) of them busy, so
a skinny recurrent step at small batch cannot use the whole GPU. Units are output tiles,
times the split-K factor a BLAS library uses when there are too few tiles.

Which peak applies follows PyTorch's math modes: cuBLAS matmuls (``gemm``, ``attention``) use
TF32 for fp32 only when ``allow_tf32`` (torch default False); cuDNN kernels (``rnn_gemm``,
``conv``) when ``cudnn_allow_tf32`` (torch default True). Pointwise kernels use the fp32
vector peak. All rates come from the hardware data; efficiencies from
``costmodel/data/priors.toml`` or a calibrated profile.

A calibrated profile (``costmodel calibrate``; its ``[efficiency]`` table, see
:meth:`Efficiency.from_table`) may refine this per device: efficiency curves per kernel kind
(and dtype), ``latency_mode = "add"`` (a CPU runs one op after another: ``lower = max(compute,
memory) + latency``), and per implementation (the record's family, e.g. ``lstm``) and phase a
``work_scale`` on the kernels' compute/memory time, a ``step_latency_s`` per dependent recurrent
step (kernels named ``step_gemm*``) and a ``call_latency_s`` per call. A profile given as the
hardware (``load_hardware("profile.toml")``) brings its efficiency with it.
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
STEP_KIND = "rnn_step"  # curve kind of a recurrence's step GEMMs (else their kernel's kind)
_FALLBACK = {STEP_KIND: "rnn_gemm"}  # a profile without rnn_step curves uses rnn_gemm's
WEIGHT_PASS_MOVES = 2  # one extra pass over the weights reads and writes them (dW += ...)


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
    split_k_min_depth: int = 0  # 0: no split-K; else each split handles >= this much of k
    hbm_saturation_sm_fraction: float = 0.0
    l2_usable_fraction: float = 0.0
    l2_bandwidth_ratio: float = 1.0
    source: str = "ideal"
    # calibrated refinements (empty: the plain roofline above); keys documented in from_table
    curves: Mapping[str, tuple] = field(default_factory=dict, hash=False)
    latency_mode: str = "max"
    work_scale: Mapping[str, float] = field(default_factory=dict, hash=False)
    step_latency_s: Mapping[str, float] = field(default_factory=dict, hash=False)
    call_latency_s: Mapping[str, float] = field(default_factory=dict, hash=False)
    step_weight_passes: Mapping[str, float] = field(default_factory=dict, hash=False)

    @classmethod
    def ideal(cls) -> "Efficiency":
        """The datasheet roofline: peak rates, no latency, no occupancy or cache terms."""
        return cls()

    @classmethod
    def priors(cls) -> "Efficiency":
        return _priors()

    @classmethod
    def for_hardware(cls, hw: Hardware) -> "Efficiency":
        """The profile's own efficiency when ``hw`` is a calibrated profile, else the priors."""
        table = getattr(hw, "efficiency", None)
        return cls.from_table(table, hw.origin) if table else cls.priors()

    @classmethod
    def from_profile(cls, path) -> "Efficiency":
        """The ``[efficiency]`` table of a profile TOML written by ``costmodel calibrate``."""
        from costmodel.hardware import load_hardware

        hw = load_hardware(str(path))
        if not hw.efficiency:
            raise ValueError(f"{path}: field 'efficiency': missing (not a calibrated profile)")
        return cls.from_table(hw.efficiency, str(path))

    @classmethod
    def from_table(cls, raw: Mapping, origin: str = "profile") -> "Efficiency":
        """From a profile's ``[efficiency]`` table: the scalar fields of this class, the global
        ``compute_flops/compute_efficiency`` and ``memory_bytes/memory_efficiency`` curves,
        ``[efficiency.curves."compute.<kind>[.<dtype>]"]`` / ``"memory.<kind>[.<dtype>]"``
        tables with ``x`` and ``efficiency`` lists, and ``work_scale``, ``step_latency_s``,
        ``call_latency_s`` and ``step_weight_passes`` tables keyed ``"<family>.<phase>"``
        (family: rnn, lstm, gru, transformerencoderlayer, ...; phase: forward, backward).
        ``step_weight_passes``: extra passes over a step's weights per step (PyTorch's
        autograd cell graph writes and accumulates a dW_hh every step; an implementation may
        re-stream W_hh), one pass = read + write of the weights at the rate the
        ``memory.elementwise`` curve gives that many bytes, so the pass is cheap while the
        weights sit in a cache and costs main-memory bandwidth above the last-level cache.
        Curves named ``compute.rnn_step`` / ``memory.rnn_step`` (the skinny step GEMMs
        ``h: [batch, H] @ W_hh^T`` with W_hh re-read every step) take precedence over the
        ``rnn_gemm`` curves for kernels named ``step_gemm*``."""
        return _efficiency_from_table(cls, raw, origin)

    def compute(self, flops, kind: str = "", dtype: str = ""):
        xs, ys = self._curve("compute", kind, dtype, self.compute_flops, self.compute_efficiency)
        return _interp_log(flops, xs, ys)

    def memory(self, nbytes, kind: str = "", dtype: str = ""):
        xs, ys = self._curve("memory", kind, dtype, self.memory_bytes, self.memory_efficiency)
        return _interp_log(nbytes, xs, ys)

    def _curve(self, term, kind, dtype, xs, ys):
        for key in (f"{term}.{kind}.{dtype}", f"{term}.{kind}", f"{term}.{_FALLBACK.get(kind)}"):
            if key in self.curves:
                return self.curves[key]
        return xs, ys

    def family_terms(self, family: str, phase: str) -> tuple[float, float, float]:
        """(work_scale, step_latency_s, call_latency_s) of one implementation and phase."""
        key = f"{family}.{phase}"
        return (self.work_scale.get(key, 1.0), self.step_latency_s.get(key, 0.0),
                self.call_latency_s.get(key, 0.0))


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
        split_k_min_depth=raw["occupancy"]["split_k_min_depth"],
        hbm_saturation_sm_fraction=raw["occupancy"]["hbm_saturation_sm_fraction"],
        l2_usable_fraction=raw["cache"]["l2_usable_fraction"],
        l2_bandwidth_ratio=raw["cache"]["l2_bandwidth_ratio"],
        source="priors (costmodel/data/priors.toml)",
    )


_SCALARS = ("kernel_latency_s", "tile_m", "tile_n", "split_k_min_depth",
            "hbm_saturation_sm_fraction",
            "l2_usable_fraction", "l2_bandwidth_ratio", "latency_mode", "source")
_TABLES = ("work_scale", "step_latency_s", "call_latency_s", "step_weight_passes")
_LATENCY_MODES = ("max", "add")


def _efficiency_from_table(cls, raw: Mapping, origin: str) -> Efficiency:
    def fail(field_name, problem):
        raise ValueError(f"{origin}: field 'efficiency.{field_name}': {problem}")

    known = {*_SCALARS, *_TABLES, "curves", "compute_flops", "compute_efficiency",
             "memory_bytes", "memory_efficiency"}
    for key in sorted(set(raw) - known):
        fail(key, f"unknown key; allowed: {', '.join(sorted(known))}")
    values = {k: raw[k] for k in _SCALARS if k in raw}
    if values.get("latency_mode", "max") not in _LATENCY_MODES:
        fail("latency_mode", f"{values['latency_mode']!r} is not one of {_LATENCY_MODES}")
    for xs, ys in (("compute_flops", "compute_efficiency"), ("memory_bytes", "memory_efficiency")):
        if xs in raw or ys in raw:
            values[xs], values[ys] = _checked_curve(raw.get(xs), raw.get(ys), xs, fail)
    curves = {}
    for key, table in dict(raw.get("curves", {})).items():
        if not isinstance(table, Mapping) or key.split(".")[0] not in ("compute", "memory"):
            fail(f"curves.{key}", "must be a table named compute.<kind> or memory.<kind>")
        curves[key] = _checked_curve(table.get("x"), table.get("efficiency"), f"curves.{key}", fail)
    tables = {}
    for name in _TABLES:
        table = dict(raw.get(name, {}))
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                fail(f"{name}.{key}", f"must be a non-negative number, got {value!r}")
        tables[name] = {k: float(v) for k, v in table.items()}
    values.setdefault("source", f"calibrated profile ({origin})")
    return cls(**values, curves=curves, **tables)


def _checked_curve(xs, ys, name, fail):
    if (not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
                   for v in xs + ys) or sorted(xs) != xs):
        fail(name, "needs two equally long lists of positive numbers, sizes ascending")
    return tuple(float(v) for v in xs), tuple(float(v) for v in ys)


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
    m, n, k = (np.asarray(v, dtype=float) for v in shape[:3])
    tiles = np.ceil(m / eff.tile_m) * np.ceil(n / eff.tile_n) * concurrent
    if eff.split_k_min_depth:
        # too few output tiles: BLAS libraries split k across blocks (split-K), as far as
        # each split keeps split_k_min_depth of the reduction
        splits = np.maximum(1.0, np.minimum(np.floor(k / eff.split_k_min_depth),
                                            np.ceil(hw.sm_count / tiles)))
        tiles = tiles * splits
    waves = np.ceil(tiles / hw.sm_count)
    return tiles / (waves * hw.sm_count)


def kernel_time(k: Mapping, hw: Hardware, eff: Efficiency, dtype: str,
                allow_tf32: bool, cudnn_allow_tf32: bool, family: str = "") -> dict:
    """Terms of one kernel from its evaluated ``flops, bytes, concurrent, shape, resident``;
    ``family`` (the implementation, e.g. "lstm") selects a calibrated profile's terms."""
    flops = np.asarray(k["flops"], dtype=float) * k["concurrent"]
    nbytes = np.asarray(k["bytes"], dtype=float) * k["concurrent"]
    occupancy = _occupancy(k["shape"], k["concurrent"], hw, eff)
    peak = _peak(k["kind"], hw, dtype, allow_tf32, cudnn_allow_tf32)
    scale = eff.family_terms(family, k["phase"])[0]
    step = k["name"].startswith("step_gemm")
    curve_kind = STEP_KIND if step else k["kind"]
    compute_s = scale * flops / (peak * eff.compute(flops, curve_kind, dtype) * occupancy)
    saturation = (np.minimum(1.0, occupancy / eff.hbm_saturation_sm_fraction)
                  if eff.hbm_saturation_sm_fraction else 1.0)
    rate = hw.hbm_bytes_per_s * eff.memory(nbytes, curve_kind, dtype) * saturation / scale
    resident = np.asarray(k["resident_bytes"], dtype=float) * k["concurrent"]
    fits = (resident > 0) & (resident <= (hw.l2_bytes or 0) * eff.l2_usable_fraction)
    cached = np.where(fits, resident, 0.0)
    memory_s = (nbytes - cached) / rate + cached / (rate * eff.l2_bandwidth_ratio)
    latency_s = np.full_like(compute_s, _latency(k["name"], eff, family, k["phase"]))
    passes = eff.step_weight_passes.get(f"{family}.{k['phase']}", 0.0) if step else 0.0
    memory_s = memory_s + passes * weight_pass_s(resident, hw, eff, dtype)
    terms = np.stack(np.broadcast_arrays(compute_s, memory_s, latency_s))
    lower = (np.maximum(compute_s, memory_s) + latency_s if eff.latency_mode == "add"
             else terms.max(axis=0))
    return {"name": k["name"], "phase": k["phase"], "count": k["count"],
            "flops": flops, "bytes": nbytes, "peak_flops_per_s": peak,
            "ideal_s": flops / peak,
            "compute_s": compute_s, "memory_s": memory_s, "latency_s": latency_s,
            "lower_s": lower, "upper_s": terms.sum(axis=0),
            "binding": np.asarray(TERMS)[terms.argmax(axis=0)]}


def weight_pass_s(resident, hw: Hardware, eff: Efficiency, dtype: str = "fp32"):
    """One pass over ``resident`` weight bytes (read + write) at the rate a pointwise op of
    that size reaches (``memory.elementwise``: cache-resident sizes run faster than DRAM)."""
    moved = WEIGHT_PASS_MOVES * np.asarray(resident, dtype=float)
    return moved / (hw.hbm_bytes_per_s * eff.memory(moved, "elementwise", dtype))


def _latency(name: str, eff: Efficiency, family: str, phase: str) -> float:
    """A kernel's latency floor. Where a profile has a step latency for this family and phase,
    it replaces the per-kernel latency of the step's kernels (``step_gemm*`` carries it, the
    step's pointwise kernels none): fused implementations (oneDNN, cuDNN) do not launch each."""
    if f"{family}.{phase}" in eff.step_latency_s and name.startswith("step_"):
        return eff.family_terms(family, phase)[1] if name.startswith("step_gemm") else 0.0
    return eff.kernel_latency_s


def predict(record: Cost, hw: Hardware, *, eff: Efficiency | None = None, dtype: str = "fp32",
            optimizer: str = "adam", allow_tf32: bool = False, cudnn_allow_tf32: bool = True,
            implementation: str | None = None, **values) -> Timing:
    """Roofline time of ``record`` on ``hw`` at ``values`` (n, batch, sizes; arrays broadcast).

    ``training_s`` is forward + backward + one optimizer update (a memory-bound pass over the
    parameters, see ``conventions.OPTIMIZER_UPDATE_FLOPS``). ``eff`` defaults to the profile's
    own efficiency when ``hw`` is a calibrated profile, else the priors. ``implementation``
    selects a profile's per-family terms (default: the record's class name, e.g. "lstm").
    """
    eff = Efficiency.for_hardware(hw) if eff is None else eff
    family = implementation or family_of(record)
    kernels = record.kernel_values(dtype=dtype, optimizer=optimizer, **values)
    rows = [kernel_time(k, hw, eff, dtype, allow_tf32, cudnn_allow_tf32, family)
            for k in kernels]
    totals = {}
    for phase in ("forward", "backward"):
        chosen = [r for r in rows if r["phase"] == phase]
        call_s = eff.family_terms(family, phase)[2]
        totals[phase] = sum((r["count"] * r["lower_s"] for r in chosen), np.asarray(call_s))
        totals[phase + "_upper"] = sum((r["count"] * r["upper_s"] for r in chosen),
                                       np.asarray(call_s))
    by_term = {t: sum((r["count"] * np.where(r["binding"] == t, r["lower_s"], 0.0)
                       for r in rows if r["phase"] == "forward"), np.zeros(())) for t in TERMS}
    stacked = np.stack(np.broadcast_arrays(*(by_term[t] for t in TERMS)))
    binding = np.asarray(TERMS)[stacked.argmax(axis=0)]
    numbers = record.vectorize(("params", "flops", "bytes"))(dtype=dtype, optimizer=optimizer,
                                                             **values)
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


def family_of(record: Cost) -> str:
    """``"LSTM(768, 768)"`` -> ``"lstm"``: the key of a profile's per-family terms."""
    return record.name.split("(")[0].strip().lower()


def _optimizer_update(params, optimizer: str, dtype: str, hw: Hardware, eff: Efficiency):
    from costmodel.numeric import dtype_bytes_of, optimizer_states_of

    states = optimizer_states_of(optimizer)
    moved = (C.OPTIMIZER_BASE_TENSORS_MOVED + 2 * states) * dtype_bytes_of(dtype)
    kernel = {"name": "optimizer_update", "kind": "optimizer", "phase": "update",
              "count": 1, "concurrent": 1, "shape": None, "resident_bytes": 0,
              "flops": np.asarray(params, dtype=float) * C.OPTIMIZER_UPDATE_FLOPS[optimizer],
              "bytes": np.asarray(params, dtype=float) * moved}
    return kernel_time(kernel, hw, eff, dtype, False, False)


