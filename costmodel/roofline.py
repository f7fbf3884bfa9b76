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
``conv``) when ``cudnn_allow_tf32`` (torch default True) on NVIDIA devices (ROCm's MIOpen:
full fp32 unless opted in, which this does not model). Pointwise kernels use the fp32
vector peak. All rates come from the hardware data; efficiencies from
``costmodel/data/priors.toml`` or a calibrated profile.

A calibrated profile (``costmodel calibrate``; its ``[efficiency]`` table, see
:meth:`Efficiency.from_table`) may refine this per device: efficiency curves per kernel kind
(and dtype), ``latency_mode = "add"`` (a CPU runs one op after another: ``lower = max(compute,
memory) + latency``), and per implementation (the record's family, e.g. ``lstm``) and phase a
``work_scale`` on the kernels' compute/memory time (``step_scale`` for the step GEMMs,
``pointwise_scale`` for the rest). What PyTorch's CPU implementations cost beyond that lives in
their modules, which this one calls for each kernel and phase: per dependent step
:mod:`costmodel.implementations.autograd_cells` (dispatch per op and step, dW accumulated every
step, measured whole steps carried by the step GEMM), per call
:func:`costmodel.implementations.call_s` (the profile's call latency, oneDNN's weight re-layout
and fresh gate buffers, :mod:`costmodel.implementations.onednn_rnn`). A profile given as the
hardware (``load_hardware("profile.toml")``) brings its efficiency with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from costmodel import conventions as C
from costmodel.cost import Cost, is_step_gemm
from costmodel.efficiency import MATMUL_KINDS, STEP_KIND, Efficiency  # noqa: F401 (re-exported)
from costmodel.hardware import Hardware, matmul_peak
from costmodel.implementations import autograd_cells
from costmodel.implementations.cudnn_stack import DEFAULT as DEFAULT_STACK
from costmodel.numeric import dtype_bytes_of
from costmodel.roofline_gpu import TERMS, cublas_kernel, cublas_time  # noqa: F401 (TERMS)
from costmodel.roofline_gpu import fused_attention_time as _fused_attention_time  # varlen_time

CUDNN_KINDS = ("rnn_gemm", "conv")
# a GEMM of these kinds with no more rows than the largest measured step batch is a skinny
# GEMM like a recurrent step (a Linear on a few tokens): the per-row-count step curves apply
SKINNY_KINDS = ("gemm", "rnn_gemm")


@dataclass(frozen=True)
class Timing:
    """Predicted times in seconds (arrays when the inputs were arrays)."""

    forward_s: np.ndarray
    forward_upper_s: np.ndarray
    backward_s: np.ndarray
    optimizer_s: np.ndarray
    training_s: np.ndarray
    training_upper_s: np.ndarray
    binding: np.ndarray  # "compute" / "memory" / "latency" (most forward time), or "host"
    arithmetic_intensity: np.ndarray  # forward FLOPs per byte moved
    fraction_of_peak: np.ndarray  # time at each kernel's own peak / predicted time (forward)
    kernels: tuple[dict, ...] = field(default=(), compare=False)
    mode: str = "training"
    #: the attention kernel assumed (costmodel.implementations.sdpa.Dispatch) or None
    attention: object = field(default=None, compare=False)


def _peak(kind: str, hw: Hardware, dtype: str, allow_tf32: bool, cudnn_allow_tf32: bool):
    if kind in MATMUL_KINDS:
        # cuDNN's TF32-on default is NVIDIA's: on ROCm, MIOpen's RNN and conv math is full
        # fp32 unless opted in (PyTorch PR #190711: "On ROCm, TF32 is strictly opt-in:
        # conv/RNN precision flags default to full fp32")
        tf32 = ((cudnn_allow_tf32 and hw.vendor == "NVIDIA") if kind in CUDNN_KINDS
                else allow_tf32)
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
    ``family`` (the implementation, e.g. "lstm") selects a calibrated profile's terms (the
    per-step ones from :mod:`costmodel.implementations.autograd_cells`).
    With fitted cuBLAS parameters (``eff.cublas``, a GPU) cuBLAS GEMMs and PyTorch's pointwise
    kernels take :mod:`costmodel.implementations.cublas`'s times."""
    if eff.cublas is not None and cublas_kernel(k):
        return cublas_time(k, hw, eff, dtype, allow_tf32)
    if eff.cublas is not None and k["kind"] == "attention" and k["shape"] is not None:
        return _fused_attention_time(k, hw, eff, dtype)
    if k["kind"] == "attention" or (k["shape"] is not None and len(k["shape"]) > 3):
        # a fused kernel's shape is not a GEMM's; a batched GEMM's (m, n, k, GEMMs) is
        # cuBLAS's tiles and waves: the generic roofline keeps no occupancy term for either
        k = {**k, "shape": None}
    flops = np.asarray(k["flops"], dtype=float) * k["concurrent"]
    nbytes = np.asarray(k["bytes"], dtype=float) * k["concurrent"]
    occupancy = _occupancy(k["shape"], k["concurrent"], hw, eff)
    peak = _peak(k["kind"], hw, dtype, allow_tf32, cudnn_allow_tf32)
    step = is_step_gemm(k["name"])
    scale = eff.scale_of(family, k["phase"], k["kind"], step)
    # a measured whole step (gates and dispatch included) replaces the step GEMM's curve
    whole = autograd_cells.whole_step_of(k, eff, family)
    compute_eff, memory_eff = (eff.compute(flops, STEP_KIND if step else k["kind"], dtype),
                               eff.memory(nbytes, STEP_KIND if step else k["kind"], dtype))
    rows_m = k["shape"][0] if k["shape"] and (step or k["kind"] in SKINNY_KINDS) else None
    by_rows = (None if rows_m is None else
               eff.step_memory(nbytes, rows_m, dtype, whole if step and whole else STEP_KIND))
    if by_rows is not None:  # measured per row count: the rate already includes compute
        use = True if step else np.asarray(rows_m) <= max(eff.step_batches())
        compute_eff = np.where(use, np.inf, compute_eff)
        memory_eff = np.where(use, by_rows, memory_eff)
    compute_s = scale * flops / (peak * compute_eff * occupancy)
    saturation = (np.minimum(1.0, occupancy / eff.hbm_saturation_sm_fraction)
                  if eff.hbm_saturation_sm_fraction else 1.0)
    rate = hw.hbm_bytes_per_s * memory_eff * saturation / scale
    resident = np.asarray(k["resident_bytes"], dtype=float) * k["concurrent"]
    fits = (resident > 0) & (resident <= (hw.l2_bytes or 0) * eff.l2_usable_fraction)
    cached = np.where(fits, resident, 0.0)
    memory_s = (nbytes - cached) / rate + cached / (rate * eff.l2_bandwidth_ratio)
    latency_s = np.full_like(compute_s, autograd_cells.latency_s(k, eff, family, whole))
    if autograd_cells.inside_whole_step(k, whole):
        compute_s = memory_s = latency_s = np.zeros_like(compute_s)
    memory_s = memory_s + autograd_cells.step_weight_passes_s(k, resident, hw, eff, family,
                                                              dtype)
    terms = np.stack(np.broadcast_arrays(compute_s, memory_s, latency_s))
    lower = (np.maximum(compute_s, memory_s) + latency_s if eff.latency_mode == "add"
             else terms.max(axis=0))
    return {"name": k["name"], "phase": k["phase"], "count": k["count"],
            "flops": flops, "bytes": nbytes, "peak_flops_per_s": peak,
            "ideal_s": flops / peak,
            "compute_s": compute_s, "memory_s": memory_s, "latency_s": latency_s,
            "lower_s": lower, "upper_s": terms.sum(axis=0),
            "binding": np.asarray(TERMS)[terms.argmax(axis=0)]}


def predict(record: Cost, hw: Hardware, *, eff: Efficiency | None = None, dtype: str = "fp32",
            optimizer: str = "adam", allow_tf32: bool = False, cudnn_allow_tf32: bool = True,
            implementation: str | None = None, mode: str = "training", rnn_params=None,
            cudnn_stack: str = DEFAULT_STACK, **values) -> Timing:
    """Roofline time of ``record`` on ``hw`` at ``values`` (n, batch, sizes; arrays broadcast).

    ``mode``: "training" (a train-mode forward, dropout on, then backward and the update) or
    "inference" (``eval()`` under ``inference_mode``: dropout off, the backward, optimizer and
    training fields NaN). A Transformer record is first rebuilt as PyTorch runs it on ``hw``
    in that mode (:func:`costmodel.implementations.sdpa.resolve`; ``Timing.attention``); a
    profile's terms measured on inference runs price an inference forward where it has them
    (:meth:`Efficiency.for_inference`).

    ``training_s`` is forward + backward + one optimizer update (a memory-bound pass over the
    parameters, see ``conventions.OPTIMIZER_UPDATE_FLOPS``). ``eff`` defaults to the profile's
    own efficiency when ``hw`` is a calibrated profile, else the priors. ``implementation``
    selects a profile's per-family terms (default: the record's class name, e.g. "lstm").
    On an NVIDIA GPU without a profile and without an explicit ``eff``, the recurrent kernels
    are priced by cuDNN's implementation model (:mod:`costmodel.implementations.cudnn_rnn`)
    with ``rnn_params`` (phase -> ``PhaseParams``; default: the fitted file's) and the step
    floor of the cuDNN generation ``cudnn_stack`` (:mod:`costmodel.implementations.cudnn_stack`:
    "auto", the default, "deepbench" or "pr62143").
    """
    from costmodel.implementations import call_s, recurrent_rows
    from costmodel.implementations.sdpa import resolve

    record, attention = resolve(record, hw, dtype, mode)
    eff_given, eff = eff, Efficiency.for_hardware(hw) if eff is None else eff
    if mode == "inference":  # a profile's terms measured on inference runs, where it has them
        eff = eff.for_inference()
    family = implementation or family_of(record)
    kernels = [k for k in record.kernel_values(dtype=dtype, optimizer=optimizer, **values)
               if mode == "training" or k["phase"] == "forward"]  # inference: no backward
    rows = [kernel_time(k, hw, eff, dtype, allow_tf32, cudnn_allow_tf32, family)
            for k in kernels]
    rows = recurrent_rows(rows, kernels, hw, dtype, eff_given, rnn_params, cudnn_allow_tf32,
                          cudnn_stack)
    numbers = record.vectorize(("params", "flops", "bytes"))(dtype=dtype, optimizer=optimizer,
                                                             **values)
    weight_bytes = np.asarray(numbers["params"], dtype=float) * dtype_bytes_of(dtype)
    totals = {}
    for phase in ("forward", "backward"):
        chosen = [r for r in rows if r["phase"] == phase]
        fixed_s = call_s(family, phase, kernels, weight_bytes, hw, eff, dtype)
        totals[phase] = sum((r["count"] * r["lower_s"] for r in chosen), np.asarray(fixed_s))
        totals[phase + "_upper"] = sum((r["count"] * r["upper_s"] for r in chosen),
                                       np.asarray(fixed_s))
    by_term = {t: sum((r["count"] * np.where(r["binding"] == t, r["lower_s"], 0.0)
                       for r in rows if r["phase"] == "forward"), np.zeros(())) for t in TERMS}
    stacked = np.stack(np.broadcast_arrays(*(by_term[t] for t in TERMS)))
    binding = np.asarray(TERMS)[stacked.argmax(axis=0)]
    binding = _host_bound(totals, kernels, hw, dtype, binding)
    update = _optimizer_update(numbers["params"], optimizer, dtype, hw, eff)
    flops, nbytes = numbers["flops"], numbers["bytes"]
    at_peak = sum((r["count"] * r["ideal_s"] for r in rows if r["phase"] == "forward"),
                  np.zeros(()))
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(nbytes > 0, flops / nbytes, np.inf)
        fraction = np.where(totals["forward"] > 0, at_peak / totals["forward"], 0.0)
    training = totals["forward"] + totals["backward"] + update["lower_s"]
    training_upper = totals["forward_upper"] + totals["backward_upper"] + update["upper_s"]
    backward, optimizer_s = totals["backward"], update["lower_s"]
    if mode == "inference":  # no backward pass, no update: nothing to report
        backward, optimizer_s, training, training_upper = (
            np.full_like(np.asarray(totals["forward"], dtype=float), np.nan) for _ in range(4))
    return Timing(totals["forward"], totals["forward_upper"], backward, optimizer_s,
                  training, training_upper, binding, intensity, fraction, tuple(rows), mode,
                  attention)


def _host_bound(totals: dict, kernels: list[dict], hw: Hardware, dtype: str, binding):
    """Each phase at least its host-issue time where ``hw`` has measured host costs and the
    record a recurrence (:mod:`costmodel.implementations.host_issue`; ``totals`` updated in
    place, this function's own dict); ``binding`` "host" where the forward is host-bound. Not
    on a calibrated profile's own path: its measured steps already hold its host's costs."""
    from costmodel.implementations import host_issue

    if (getattr(hw, "host", None) is None or getattr(hw, "efficiency", None)
            or not host_issue.applies(kernels)):
        return binding
    for phase in ("forward", "backward"):
        host_s = host_issue.phase_s(hw.host, kernels, phase, hw, dtype)
        if phase == "forward":
            binding = np.where(host_s > totals["forward"], "host", binding)
        for key in (phase, phase + "_upper"):
            totals[key] = np.maximum(totals[key], host_s)
    return binding


def family_of(record: Cost) -> str:
    """``"LSTM(768, 768)"`` -> ``"lstm"``: the key of a profile's per-family terms."""
    return record.name.split("(")[0].strip().lower()


def _optimizer_update(params, optimizer: str, dtype: str, hw: Hardware, eff: Efficiency):
    from costmodel.numeric import optimizer_states_of

    states = optimizer_states_of(optimizer)
    moved = (C.OPTIMIZER_BASE_TENSORS_MOVED + 2 * states) * dtype_bytes_of(dtype)
    kernel = {"name": "optimizer_update", "kind": "optimizer", "phase": "update",
              "count": 1, "concurrent": 1, "shape": None, "resident_bytes": 0,
              "flops": np.asarray(params, dtype=float) * C.OPTIMIZER_UPDATE_FLOPS[optimizer],
              "bytes": np.asarray(params, dtype=float) * moved}
    update = kernel_time(kernel, hw, eff, dtype, False, False)
    # no parameters, no update: nothing is launched (not even the per-op floor)
    launched = np.asarray(params, dtype=float) > 0
    return {**update, **{key: np.where(launched, update[key], 0.0)
                         for key in ("compute_s", "memory_s", "latency_s", "lower_s",
                                     "upper_s")}}


