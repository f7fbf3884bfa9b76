"""The host side of a recurrence on a GPU: the CPU time to issue cuDNN's kernels, which the GPU
cannot beat. A phase takes ``max(GPU time, host time)``: kernels are queued asynchronously,
so whichever side is slower sets the pace (the other waits)::

    host forward  = call_s          + issued forward kernels  * kernel_s
    host backward = backward_call_s + issued backward kernels * kernel_s

    call_s           one inference / train-mode forward call of the module beyond its kernels
                     (Python module call, cuDNN descriptors and workspace queries)
    backward_call_s  the backward of a training step beyond its kernels (autograd engine,
                     the backward-data and backward-weights calls, gradient accumulation)
    kernel_s         host time per kernel cuDNN issues in its step loop (a cuBLAS call plus
                     the gate kernel's launch in the GEMM-per-step regime)

Issued kernels: a STANDARD (GEMM-per-step) step kernel is launched once per step and per
concurrent copy (direction, wavefront layer); a persistent kernel (PERSIST_STATIC,
PERSIST_STATIC_SMALL_H) once per call, with its gate arithmetic inside; a bulk GEMM once.

Why: on the session-6 H200 (a cloud VM) the calls were host-bound: host time per call 0.97x
the CUDA-event time, 13-16 us of host per step kernel against 4.2-4.4 us for a raw launch,
and machine-to-machine spread 1.2-1.8x (docs/validation.md, "GPU, measured: one named H200").
The launch micro-benchmarks did not predict it (7.2 vs 14.2 us per kernel on two machines
with 4.24 vs 4.40 us raw launches), so the terms are measured the way they bind: a fp32
``nn.LSTM`` call timed at a few sequence lengths (``costmodel calibrate --device cuda`` does,
:func:`fit`), written to a profile's ``[host]`` table, and applied to a catalogue GPU with
``compare --host PROFILE`` (:func:`with_host`); the profile's own path does not take it (its
measured steps already hold that host's costs). Without one (the default) there is no host
term: DeepBench's fitted per-step floors hold what its bare-metal hosts cost. Not modelled:
the optimizer update's host cost, and Transformer layers (their eager ops' host cost is the
fitted per-op floor, :func:`costmodel.implementations.op_floor`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodel.implementations.cudnn_algo import ALGOS

FIELDS = ("kernel_s", "call_s", "backward_call_s")
PERSISTENT = ALGOS[1:]  # persist_static, persist_static_small_h: one launch per call
#: the module calibrate times, and the lengths: one step (the call's fixed cost) and two long
#: sequences (the cost per issued kernel). fp32 LSTM at H 256 (above the small-h limit of
#: 192: GEMM-per-step), batch 1: a step's GPU work (~3 us on an H200) far below any host's
#: issue cost, so the time is the host's. The session-6 H200 length grid (H 1024, batch 32)
#: ran 11 us of GPU per step against 15-24 us of host: the two did not fully overlap and its
#: slope over-states the host (module grid inference over-predicted, docs/validation.md)
PROBE = {"family": "lstm", "hidden": 256, "batch": 1, "dtype": "fp32",
         "lengths": (1, 100, 400)}


@dataclass(frozen=True)
class HostCosts:
    """Host seconds (see the module docstring); ``source``: where they were measured."""

    kernel_s: float
    call_s: float
    backward_call_s: float
    source: str = ""

    def __post_init__(self):
        for name in FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"'host.{name}': {value!r} must be a number >= 0 (seconds)")

    @classmethod
    def from_table(cls, table: Mapping, origin: str = "") -> HostCosts:
        """From a profile's ``[host]`` table; a missing or unknown key is an error naming it."""
        where = f"{origin}: " if origin else ""
        unknown = sorted(set(table) - set(FIELDS) - {"source"})
        if unknown:
            raise ValueError(f"{where}field 'host.{unknown[0]}': unknown key; allowed: "
                             f"{', '.join((*FIELDS, 'source'))}")
        for name in FIELDS:
            if name not in table:
                raise ValueError(f"{where}field 'host.{name}': missing (required)")
        try:
            return cls(**{k: table[k] for k in FIELDS}, source=str(table.get("source", "")))
        except ValueError as err:
            raise ValueError(f"{where}field {err}") from None

    def as_table(self) -> dict:
        return {**{k: float(getattr(self, k)) for k in FIELDS}, "source": self.source}

    def note(self) -> str:
        who = (self.source.split(":")[0] if self.source.startswith("preset ")
               else "measured by calibrate")
        return (f"host-issue bound, {who}: {self.kernel_s * 1e6:.1f} us per issued "
                f"kernel, {self.call_s * 1e6:.0f} us per call, {self.backward_call_s * 1e6:.0f}"
                f" us per backward")


#: Named host costs a user without a profile can give (``--host NAME``): name -> what they
#: are. Each is computed from shipped measurements by the fit calibrate uses, not typed in.
PRESETS = {"h200-cloud-vm": "the three session-6 H200 cloud VMs (cuDNN 9.19, PyTorch 2.11): "
                            "their fp32 LSTM H 1024 batch 32 length grid, median machine "
                            "(costmodel.reference.h200_rnn.host_costs)"}


def preset(name: str) -> HostCosts:
    """The :class:`HostCosts` of preset ``name`` (:data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"host: {name!r} is not a preset; presets: {', '.join(PRESETS)}")
    import dataclasses

    from costmodel.reference import h200_rnn

    return dataclasses.replace(h200_rnn.host_costs(), source=f"preset {name}: {PRESETS[name]}")


def with_host(hw, source):
    """``hw`` (a Hardware, or a name or file to load) with the host costs of ``source`` (a
    profile path or Hardware with a ``[host]`` table, a preset name of :data:`PRESETS`, or
    :class:`HostCosts`); ``None`` leaves ``hw`` as it is, unloaded."""
    import dataclasses

    from costmodel.hardware import load_hardware

    if source is None:
        return hw
    hw = hw if hasattr(hw, "peaks") else load_hardware(hw)
    if getattr(hw, "efficiency", None):
        raise ValueError(f"host: {hw.name} is a calibrated profile, whose measured steps already "
                         "include its host; give the catalogue GPU (e.g. --gpu h100) with "
                         "--host PROFILE")
    if isinstance(source, str) and source in PRESETS:
        source = preset(source)
    elif isinstance(source, str) and not (source and Path(source).is_file()):
        raise ValueError(f"host: {source!r} is neither a profile file (`costmodel calibrate "
                         f"--device cuda` writes one) nor a preset ({', '.join(PRESETS)})")
    if not isinstance(source, HostCosts):
        profile = source if hasattr(source, "host") else load_hardware(source)
        if profile.host is None:
            raise ValueError(f"host: {getattr(profile, 'origin', '') or source} has no [host] "
                             "table (`costmodel calibrate --device cuda` writes one)")
        source = profile.host
    return dataclasses.replace(hw, host=source)


def applies(kernels: Sequence[Mapping]) -> bool:
    """The host term prices records with a recurrence (a step GEMM among ``kernels``)."""
    return any(_base(k["name"]).startswith("step_gemm") for k in kernels)


def issued(kernels: Sequence[Mapping], phase: str, hw, dtype: str):
    """Kernels the host launches in ``phase`` (an array when the sizes are) of a record's
    evaluated ``kernels`` on ``hw``: per step and concurrent copy in the GEMM-per-step regime,
    one per call for a persistent step kernel (the regime PyTorch picks,
    :func:`costmodel.implementations.cudnn_rnn.step_algo`; a device without an architecture
    gets none), ``count`` for the rest."""
    from costmodel.implementations.cudnn_rnn import step_algo

    total = np.zeros(())
    for k in kernels:
        if k["phase"] != phase:
            continue
        count = np.asarray(k["count"], dtype=float)
        algo = step_algo(kernels, k, hw, dtype)
        if algo is not None:
            copies = count * np.asarray(k.get("concurrent", 1), dtype=float)
            count = np.where(np.isin(np.asarray(algo), PERSISTENT), 1.0, copies)
        total = total + count
    return total


def phase_s(host: HostCosts, kernels: Sequence[Mapping], phase: str, hw, dtype: str):
    """Host seconds of ``phase`` (forward or backward): its fixed cost and issued kernels."""
    fixed = host.call_s if phase == "forward" else host.backward_call_s
    return fixed + issued(kernels, phase, hw, dtype) * host.kernel_s


def fit(points: Sequence[Mapping], source: str = "") -> HostCosts:
    """Host costs from timed calls of one module (:data:`PROBE`): ``points`` with ``steps``,
    ``inference_s`` (one inference call), ``forward_backward_s`` (forward + backward of a
    training step, no update) and the kernels the model issues there (``forward_kernels``,
    ``backward_kernels``, :func:`issued`). ``kernel_s``: the least-squares slope of the
    inference time over the issued kernels (every length); the fixed costs: what the shortest
    call (one step: all fixed cost) takes beyond its kernels (each at least 0)."""
    if len(points) < 3:
        raise ValueError(f"host fit: {len(points)} timed lengths, need at least 3")
    kernels = np.array([p["forward_kernels"] for p in points], dtype=float)
    if np.ptp(kernels) <= 0:
        raise ValueError("host fit: every timed length issues the same kernels")
    times = np.array([p["inference_s"] for p in points], dtype=float)
    kernel_s = max(0.0, float(np.polyfit(kernels, times, 1)[0]))
    short = min(points, key=lambda p: p["steps"])
    call_s = max(0.0, short["inference_s"] - short["forward_kernels"] * kernel_s)
    backward = max(0.0, short["forward_backward_s"] - call_s
                   - (short["forward_kernels"] + short["backward_kernels"]) * kernel_s)
    return HostCosts(kernel_s, float(call_s), float(backward), source)


def issued_by(record, hw, dtype: str, **at) -> dict:
    """Phase -> kernels the host issues for ``record`` on ``hw`` at ``at`` (n, batch, ...)
    in a training step (the forward is the inference call's)."""
    kernels = record.kernel_values(dtype=dtype, optimizer="adam", **at)
    return {phase: issued(kernels, phase, hw, dtype) for phase in ("forward", "backward")}


def probe_points(timed: Sequence[Mapping], hw, module: Mapping = PROBE) -> list[dict]:
    """:func:`fit`'s points from timed calls of ``module`` (``steps``, ``inference_s``,
    ``forward_backward_s`` each), with the kernels the model issues at each length on ``hw``."""
    import costmodel as cm

    record = getattr(cm, module["family"].upper())(module["hidden"], module["hidden"])
    out = []
    for t in timed:
        counts = issued_by(record, hw, module["dtype"], n=int(t["steps"]), batch=module["batch"])
        out.append({**t, "forward_kernels": float(counts["forward"]),
                    "backward_kernels": float(counts["backward"])})
    return out


def _base(name: str) -> str:
    from costmodel.cost import own_name

    return own_name(name)
