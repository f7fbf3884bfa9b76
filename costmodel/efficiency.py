"""Efficiency: the fractions of peak, latencies and calibrated per-family terms the time
layer applies (:mod:`costmodel.roofline` does the arithmetic, the CPU implementations'
terms in :mod:`costmodel.implementations.autograd_cells` and ``onednn_rnn``). Read from the
shipped priors (``costmodel/data/priors.toml``) or a calibrated profile's ``[efficiency]``
table (see :meth:`Efficiency.from_table` for the keys). ``Efficiency`` stays importable from
:mod:`costmodel.roofline`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from costmodel.hardware import Hardware

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


MATMUL_KINDS = ("gemm", "attention", "rnn_gemm", "conv")
# NVIDIA generations whose GEMM and pointwise kernels follow costmodel.implementations.cublas
GPU_ARCHITECTURES = ("maxwell", "pascal", "volta", "turing", "ampere", "ada", "hopper",
                     "blackwell")
STEP_KIND = "rnn_step"  # curve kind of a recurrence's step GEMMs (else their kernel's kind)
# the phase key of a profile's terms measured on inference runs (eval() under inference_mode):
# "<family>.inference" in its tables, "memory.rnn_step.<family>.inference.m<m>" whole steps
INFERENCE = "inference"
# a profile without a kind's own curve uses another's: rnn_step -> rnn_gemm; the pointwise
# kinds the records name (activation, dropout, softmax) -> the generic elementwise curve
_FALLBACK = {STEP_KIND: "rnn_gemm", "activation": "elementwise", "dropout": "elementwise",
             "softmax": "elementwise"}


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
    pointwise_scale: Mapping[str, float] = field(default_factory=dict, hash=False)
    call_weight_passes: Mapping[str, float] = field(default_factory=dict, hash=False)
    fresh_sequence_passes: Mapping[str, float] = field(default_factory=dict, hash=False)
    step_scale: Mapping[str, float] = field(default_factory=dict, hash=False)
    # one architecture's cuBLAS/pointwise parameters (costmodel/data/fitted/cublas.toml, via
    # costmodel.implementations.cublas.params_for); None: the generic roofline above
    cublas: Mapping | None = field(default=None, hash=False)

    @classmethod
    def ideal(cls) -> "Efficiency":
        """The datasheet roofline: peak rates, no latency, no occupancy or cache terms."""
        return cls()

    @classmethod
    def priors(cls) -> "Efficiency":
        return _priors(cls)

    @classmethod
    def for_hardware(cls, hw: "Hardware", params: Mapping | None = None) -> "Efficiency":
        """The profile's own efficiency when ``hw`` is a calibrated profile; for a GPU the
        priors plus the fitted cuBLAS/pointwise parameters of its architecture (the
        cross-architecture set where none were fitted for it; ``params``: a fitted set to use
        instead of the shipped one); else the priors."""
        table = getattr(hw, "efficiency", None)
        if table:
            return cls.from_table(table, hw.origin)
        if hw.architecture in GPU_ARCHITECTURES and hw.sm_count:
            from costmodel.implementations import cublas

            chosen = cublas.params_for(cublas.shipped() if params is None else params, hw)
            return dataclasses.replace(cls.priors(), cublas=chosen,
                                       source=f"fitted {cublas.FITTED} ({hw.architecture})")
        return cls.priors()

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
        tables with ``x`` and ``efficiency`` lists, and tables keyed ``"<family>.<phase>"``
        (family: rnn, lstm, gru, transformerencoderlayer, ...; phase: forward, backward).
        Curves named ``compute.rnn_step`` / ``memory.rnn_step`` (the skinny step GEMMs
        ``h: [batch, H] @ W_hh^T`` with W_hh re-read every step) take precedence over the
        ``rnn_gemm`` curves for kernels named ``step_gemm*``; ``memory.<kind>.m<m>`` are
        per-row-count curves (:meth:`step_memory`). Scales, applied by the roofline:
        ``work_scale`` on a kernel's compute/memory time, ``step_scale`` instead for the step
        GEMMs (a library's skinny step runs at another rate than its bulk GEMMs),
        ``pointwise_scale`` instead for the non-matmul kernels (a fused cell's gate
        arithmetic runs at another rate than PyTorch's per-op kernels; see :meth:`scale_of`).
        ``call_latency_s``: a fixed time per call. The CPU implementations' terms, with their
        arithmetic: ``step_latency_s``, ``step_weight_passes`` and the whole-step curves
        ``memory.rnn_step.<family>.<phase>.m<m>`` in
        :mod:`costmodel.implementations.autograd_cells`; ``call_weight_passes`` (at the
        ``memory.weight_copy`` curve's rate) and ``fresh_sequence_passes`` in
        :mod:`costmodel.implementations.onednn_rnn`. Phase ``inference`` (keys
        ``"<family>.inference"``, whole steps ``memory.rnn_step.<family>.inference.m<m>``):
        the same terms measured on inference runs (:meth:`for_inference`)."""
        return _from_table(cls, raw, origin)

    def for_inference(self) -> "Efficiency":
        """The terms that price an inference forward (``eval()`` under ``inference_mode``).
        Where the profile measured inference (keys ``"<family>.inference"`` in its tables,
        whole-step curves ``memory.rnn_step.<family>.inference.m<m>``; ``costmodel
        calibrate`` fits them on inference runs), they stand in for that family's
        ``"<family>.forward"`` ones, a family's whole-step curves as one set; every other
        term stays. A profile without them comes back unchanged (``self``), so it predicts
        inference exactly as before: with the terms of a train-mode forward."""
        return _for_inference(self)

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

    def scale_of(self, family: str, phase: str, kind: str, step: bool = False) -> float:
        """The calibrated work scale of one kernel: ``step_scale`` for a recurrence's step
        GEMMs (falling back to ``work_scale``), ``work_scale`` for the other matmul kinds,
        ``pointwise_scale`` (falling back to ``work_scale``) for the rest."""
        key = f"{family}.{phase}"
        if step and key in self.step_scale:
            return self.step_scale[key]
        if kind not in MATMUL_KINDS and key in self.pointwise_scale:
            return self.pointwise_scale[key]
        return self.work_scale.get(key, 1.0)

    def step_batches(self, kind: str = STEP_KIND) -> list[int]:
        """The batch sizes (GEMM rows) m of the profile's ``memory.<kind>.m<m>`` curves."""
        prefix = f"memory.{kind}.m"
        return sorted(int(k[len(prefix):]) for k in self.curves
                      if k.startswith(prefix) and k[len(prefix):].isdigit())

    def step_memory(self, nbytes, batch, dtype: str = "", kind: str = STEP_KIND):
        """Memory efficiency of a step GEMM with ``batch`` rows from the per-batch curves
        ``memory.<kind>.m<m>`` (linear in log m between measured batch sizes; above the
        largest, compute-bound: time grows with m), or None where the profile has none."""
        ms = self.step_batches(kind)
        if not ms:
            return None
        batch = np.asarray(batch, dtype=float)
        position = np.interp(np.log(np.clip(batch, ms[0], ms[-1])), np.log(ms),
                             np.arange(len(ms)))  # fractional index among the curves
        out = sum(np.maximum(0.0, 1.0 - np.abs(position - i))  # linear between neighbours
                  * self.memory(nbytes, f"{kind}.m{m}", dtype) for i, m in enumerate(ms))
        return out * ms[-1] / np.maximum(batch, ms[-1])


def _for_inference(eff: Efficiency) -> Efficiency:
    suffix = "." + INFERENCE
    tables = {}
    for name in _TABLES:
        table = getattr(eff, name)
        measured = {k[:-len(suffix)] + ".forward": v for k, v in table.items()
                    if k.endswith(suffix)}
        if measured:
            tables[name] = {**table, **measured}
    whole = {key: _whole_step_key(key) for key in eff.curves}  # (family, phase, m) or None
    served = {k: w for k, w in whole.items() if w and w[1] == INFERENCE}
    if served:  # those families' forward whole steps give way to their inference ones
        replaced = {(family, "forward") for family, _, _ in served.values()}
        kept = {k: c for k, c in eff.curves.items() if not (whole[k] and whole[k][:2] in replaced)}
        tables["curves"] = {**kept, **{f"memory.{STEP_KIND}.{family}.forward.{m}": eff.curves[k]
                                       for k, (family, _, m) in served.items()}}
    return dataclasses.replace(eff, **tables) if tables else eff


def _whole_step_key(key: str) -> tuple[str, str, str] | None:
    """``memory.rnn_step.<family>.<phase>.m<m>`` -> (family, phase, "m<m>"), else None."""
    prefix = f"memory.{STEP_KIND}."
    parts = key[len(prefix):].split(".") if key.startswith(prefix) else []
    return tuple(parts) if len(parts) == 3 else None


def _interp_log(x, xs, ys):
    x = np.maximum(np.asarray(x, dtype=float), 1.0)
    return np.interp(np.log(x), np.log(np.asarray(xs, dtype=float)), np.asarray(ys))


@lru_cache(maxsize=1)
def _priors(cls):
    text = resources.files("costmodel").joinpath("data", "priors.toml").read_text()
    raw = tomllib.loads(text)
    return cls(
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
_TABLES = ("work_scale", "pointwise_scale", "step_latency_s", "call_latency_s",
           "step_weight_passes", "call_weight_passes", "step_scale", "fresh_sequence_passes")
_LATENCY_MODES = ("max", "add")


def _from_table(cls, raw: Mapping, origin: str):
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
