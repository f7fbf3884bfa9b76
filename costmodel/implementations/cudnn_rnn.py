"""cuDNN's RNN/LSTM/GRU on an NVIDIA GPU: the kernels it launches for a record's recurrence
and what they cost beyond FLOPs and bytes.

PyTorch's ``nn.RNN/LSTM/GRU`` on CUDA make three cuDNN calls per layer pass, and Baidu
DeepBench times exactly these (``costmodel/data/reference/deepbench-rnn-*.json``):

    forward           call_s + steps * (floor + step GEMM)   h_{t-1}: [B, P] @ W_hh^T: [P, G*H]
    backward_data     call_s + steps * (floor + step GEMM)   dgates: [B, G*H] @ W_hh, as sequential
    backward_weights  call_s + bulk GEMM                      dW = dgates^T @ [x, h] over all steps

    floor     = step_cycles / boost clock   (the step's launches and fused gate kernel: GPU work
                that runs at the SM clock)
    step GEMM = max(core, memory)           (the SMs' work and the weight stream overlap)
      core    = FLOPs / (math peak * compute_efficiency * occupancy)   occupancy: output tiles
                in waves on the SMs (a skinny step at small batch leaves SMs idle)
              + elements * flops_per_element / fp32 rate   work per element moved that does
                not shrink with the batch (the kernel's padded tile columns, loads,
                conversions), on the CUDA cores: a tensor core does not speed it up
      memory  = bytes / (bandwidth * stream * memory_efficiency): W_hh is re-read every step,
                from L2 (at the priors' l2_bandwidth_ratio) when it fits in the usable L2, else
                HBM; stream: the priors' fraction of datasheet bandwidth a transfer of that size
                reaches (Calculon); memory_efficiency is fitted at most 1 (no faster than that)

The GEMM's seconds per unit of each term and the peaks: :mod:`costmodel.implementations.
cudnn_gemm` (split from here; the fit builds its basis from the same function).

Why the core side and a clock-cycle floor: DeepBench's P100 (3584 cores at 1.30 GHz, 732 GB/s
HBM2) runs every large-H step 1.2x (forward) to 1.35x (backward_data) slower than a GTX
1080 Ti (3584 cores at 1.58 GHz, 484 GB/s): the ratio of their clocks, not of their
bandwidths, so on Pascal the step is bound by the cores, with the HBM stream below it.
``call_s`` (a fixed cost per call and layer pass: launches, workspace set-up), ``step_cycles``,
the two efficiencies and ``flops_per_element`` are fitted per phase from DeepBench by
``python -m costmodel.reference.fit`` into ``costmodel/data/fitted/cudnn_rnn.toml``, per
architecture and across architectures (the transfer set for a GPU whose generation has no
measurements). Gate arithmetic and cuDNN's
fused pointwise kernels are inside the fitted floor: the record's ``step_pointwise*`` kernels
take no time of their own here. The hoisted input projection and the input gradient (not in
DeepBench: it times ``CUDNN_SKIP_INPUT``) are bulk GEMMs like backward_weights and take its
parameters (no call cost of their own).

Per batch: cuDNN picks its step kernel by the batch, and each kernel adds its own serial chain
along K and weight passes (:mod:`costmodel.implementations.cudnn_batch`), fitted per measured
architecture with the terms above and used only on that architecture's devices.

Math: PyTorch runs an fp16 RNN with FLOAT math (``promote_rnn_math_type``) and
``CUDNN_TENSOR_OP_MATH``: tensor cores from Volta on, the fp32 units before (DeepBench's P100
"pseudo fp16" rows); fp32 uses TF32 where ``torch.backends.cudnn.allow_tf32`` (default True).
Bidirectional directions and wavefront layers are the kernels' ``concurrent`` copies: their
work adds; the per-step floor is paid once (DeepBench's stack) or once per copy (the cuDNN 8
stack, :mod:`costmodel.implementations.cudnn_stack`).

Regimes: :func:`select_algo` (:mod:`costmodel.implementations.cudnn_algo`). A
PERSIST_STATIC kernel keeps W_hh on chip: no published timings were found, so its step is the
STANDARD step without the weight traffic and without the per-batch terms (an extrapolation,
stated as such). A PERSIST_STATIC_SMALL_H step is a fitted share of the STANDARD step plus
its own work, from the only published timings of that algorithm, PyTorch PR #62143's
(:mod:`costmodel.implementations.cudnn_small_h`); it applies to stacked (wavefront) and
bidirectional layers too, as PyTorch's choice of it does not look at either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np

from costmodel.cost import own_name
from costmodel.hardware import ARCHITECTURES, Hardware
from costmodel.implementations import cublas, cudnn_small_h, cudnn_stack
from costmodel.implementations.cudnn_algo import ALGOS, select_algo  # noqa: F401 (re-export)
from costmodel.implementations.cudnn_batch import (  # noqa: F401 (batch_parts: re-export)
    BATCH_TERMS, BATCH_TILES, batch_parts, batch_s)
from costmodel.implementations.cudnn_gemm import (  # noqa: F401 (re-exports)
    NO_TENSOR_CORES, busy_fraction, element_peak, gemm_parts, gemm_terms, math_peak)
from costmodel.implementations.cudnn_gemm import core_memory as _core_memory

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FITTED = "cudnn_rnn"  # costmodel/data/fitted/<FITTED>.toml
PHASES = ("forward", "backward_data", "backward_weights")
# one step floor for every cell: DeepBench's grid confounds cell and size (its vanilla RNNs
# are all H >= 1760, its GRUs long), so per-cell floors fitted there (tried: forward medians
# 6-10 % instead of 9-14 %) extrapolate to 68 us per step for a small RNN: not kept
TERMS = ("call_s", "step_cycles", "compute_efficiency", "flops_per_element",
         "memory_efficiency")
ACROSS = "all"  # the parameter set fitted on every architecture: the transfer set
# bulk GEMMs over all steps that no DeepBench RNN row times (CUDNN_SKIP_INPUT): cuBLAS-priced
CUBLAS_BULK = ("input_projection", "grad_input")
GATES_TO_CELL = {1: "rnn", 4: "lstm", 3: "gru"}
CELL_GATES = {cell: gates for gates, cell in GATES_TO_CELL.items()}


@dataclass(frozen=True)
class PhaseParams:
    """The fitted terms of one cuDNN call (see the module docstring)."""

    call_s: float
    step_cycles: float
    compute_efficiency: float
    flops_per_element: float
    memory_efficiency: float
    # per BATCH_TILES entry; zeros: no per-batch terms (a generation DeepBench did not measure)
    serial_cycles_per_k: tuple[float, ...] = (0.0,) * len(BATCH_TILES)
    stream_passes: tuple[float, ...] = (0.0,) * len(BATCH_TILES)

    def step_s(self, hw: Hardware) -> float:
        """The per-step floor in seconds on ``hw``: ``step_cycles`` at its boost clock."""
        if not hw.boost_clock_hz:
            raise ValueError(f"hardware {hw.name!r} has no boost_clock_hz: cuDNN's per-step "
                             "floor is counted in clock cycles")
        return self.step_cycles / hw.boost_clock_hz


def params_for(table: Mapping, architecture: str) -> dict[str, PhaseParams]:
    """The phase parameters of ``architecture`` from a fitted table (``{arch: {phase: {term:
    value}}}``): its own set with its per-batch kernel terms, else the newest older
    generation fitted (the fixed costs are the library's, and they fell with its versions:
    cuDNN 5 on Maxwell paid 3-5x the per-step floor of cuDNN 6 on Pascal, so the newest
    measured is the nearest), else the set fitted across all architectures; a borrowed set
    keeps of its per-batch terms only what all batch tiles share, as the rest is one cuDNN
    version's kernel choices (:mod:`costmodel.implementations.cudnn_batch`)."""
    key = transfer_set(table, architecture)
    return {phase: _phase_params(table[key][phase], per_batch=key == architecture)
            for phase in PHASES}


def _phase_params(values: Mapping, per_batch: bool = True) -> PhaseParams:
    """One phase's set; ``per_batch`` False (a borrowed set): each per-batch term keeps only
    what every batch tile shares (its least value over the tiles), not one version's choice
    among them."""
    batch = {t: tuple(float(v) for v in values[t]) for t in BATCH_TERMS if t in values}
    for term, got in batch.items():
        if len(got) != len(BATCH_TILES):
            raise ValueError(f"field {term!r}: {len(got)} values, need one per batch tile "
                             f"{BATCH_TILES}")
    if not per_batch:
        batch = {t: (min(got),) * len(got) for t, got in batch.items()}
    return PhaseParams(**{t: float(values[t]) for t in TERMS}, **batch)


def transfer_set(table: Mapping, architecture: str) -> str:
    """The key of ``table`` whose parameters a device of ``architecture`` uses."""
    if architecture in table:
        return architecture
    order = list(ARCHITECTURES)
    if architecture in order:
        older = [a for a in table if a in order and order.index(a) < order.index(architecture)]
        if older:
            return max(older, key=order.index)
    return ACROSS


@lru_cache(maxsize=1)
def fitted_table() -> dict:
    """``costmodel/data/fitted/cudnn_rnn.toml``'s parameters (``[params.<arch>.<phase>]``)."""
    path = resources.files("costmodel").joinpath("data", "fitted", f"{FITTED}.toml")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return raw["params"]


def kernel_rows(kernels: list[dict], hw: Hardware, dtype: str, params: Mapping[str, PhaseParams],
                eff, cudnn_allow_tf32: bool = True, cublas_params: Mapping | None = None
                ) -> tuple[dict[int, dict], list[dict]]:
    """The rows of the recurrent kernels of an evaluated kernel list (``Cost.kernel_values``)
    as cuDNN runs them, keyed by their index, and one fixed-cost row per cuDNN call (one per
    layer pass and phase). ``params``: phase -> :class:`PhaseParams`, and optionally ``algo``
    (one of :data:`ALGOS`) to fix the regime as a benchmark did. Rows have
    :func:`costmodel.roofline.kernel_time`'s keys plus ``implementation`` and ``call`` (the
    cuDNN call: forward, backward_data, backward_weights); a step row's ``latency_s`` holds
    its floor and its batch tile's terms (:mod:`costmodel.implementations.cudnn_batch`).
    ``cublas_params``: the device's fitted cuBLAS set, which prices :data:`CUBLAS_BULK`;
    ``params["stack"]``: the library generation's step floor (:mod:`cudnn_stack`; absent:
    DeepBench's)."""
    owned, calls = {}, []
    layers = sum(_base(k) == "step_gemm" for k in kernels)
    for i, k in enumerate(kernels):
        call = _call_of(k)
        if call is None:
            continue
        p = params[call]
        step = _base(k).startswith("step_")
        if _base(k).startswith("step_pointwise"):  # fused: inside the fitted step floor
            owned[i] = _row(k, call, np.zeros(()), np.zeros(()), 0.0, math_peak(hw, dtype))
            continue
        if _base(k) in CUBLAS_BULK and cublas_params is not None:
            owned[i] = _bulk_row(k, call, hw, dtype, cublas_params, cudnn_allow_tf32)
            continue
        cell = _cell_of(k, call) if step else None
        algo = params.get("algo") or (_algo(k, hw, dtype, layers, call, cell) if step else None)
        static = (np.asarray(algo) == ALGOS[1]) if step else False
        unit = gemm_parts(k, hw, dtype, eff, cudnn_allow_tf32, static)
        core_s, memory_s = _core_memory(unit, p)
        # STANDARD's per-batch step kernel; PERSIST_STATIC is another one (no weights read)
        # the step floor of the library generation assumed (cudnn_stack: DeepBench's default)
        latency_s = (p.step_s(hw) * cudnn_stack.floor_factor(
            params.get("stack"), call, k["concurrent"])
            + np.where(static, 0.0, batch_s(k, hw, p, unit["memory"])) if step else 0.0)
        if step:  # PERSIST_STATIC_SMALL_H: a share of the STANDARD step plus its own work
            ratio, work = cudnn_small_h.step_terms(
                np.asarray(algo) == ALGOS[2], call, _step_shape(k, call)[1],
                CELL_GATES.get(cell, 1), params.get("small_h"))
            core_s, memory_s = core_s * ratio, memory_s * ratio
            at_peak_s = (np.asarray(k["flops"], dtype=float) * np.asarray(k["concurrent"], float)
                         / math_peak(hw, dtype, cudnn_allow_tf32))
            latency_s = latency_s * ratio + work * at_peak_s
        owned[i] = _row(k, call, core_s, memory_s, latency_s,
                        math_peak(hw, dtype, cudnn_allow_tf32))
        if _base(k) in ("step_gemm", "step_gemm_backward", "weight_gradients"):
            calls.append(_row({"name": f"cudnn_call.{call}", "phase": k["phase"], "count": 1,
                               "flops": 0.0, "bytes": 0.0}, call, np.zeros(()),
                              np.zeros(()), p.call_s, 1.0))
    return owned, calls


def step_algo(kernels: list[dict], k: Mapping, hw: Hardware, dtype: str):
    """The regime PyTorch picks for a step kernel of an evaluated kernel list (one of
    :data:`ALGOS`, an array when the sizes are): a step GEMM's own, a gate kernel's that of its
    layer's step GEMM (a persistent kernel runs the gates inside itself); None for a kernel that
    is not a cuDNN step."""
    call = _call_of(k)
    if call is None or not _base(k).startswith("step_"):
        return None
    if _base(k).startswith("step_pointwise"):
        prefix = k["name"][:-len(_base(k))]
        gemm = [g for g in kernels if g["name"][:-len(_base(g))] == prefix
                and _base(g).startswith("step_gemm") and _call_of(g) == call]
        if not gemm:
            return ALGOS[0]
        k = gemm[0]
    layers = sum(_base(g) == "step_gemm" for g in kernels)
    return _algo(k, hw, dtype, layers, call, _cell_of(k, call))


def _bulk_row(k: Mapping, call: str, hw: Hardware, dtype: str, p: Mapping,
              cudnn_allow_tf32: bool) -> dict:
    """The input projection (and input gradient) over all steps: one plain GEMM that cuDNN
    launches inside its call, priced by the cuBLAS model fitted on GEMM measurements
    (DeepBench's RNN sheets skip the input, so no RNN row constrains it); its launch cost is
    the call's fixed cost."""
    m, n, depth = k["shape"][:3]
    compute_s, memory_s = cublas.gemm_terms(m, n, depth, k.get("concurrent", 1), hw, dtype, p,
                                            allow_tf32=cudnn_allow_tf32)
    return _row(k, call, compute_s, memory_s, 0.0, math_peak(hw, dtype, cudnn_allow_tf32))


def _base(k: Mapping) -> str:
    """A kernel's own name without the prefixes composition adds (``gru.layer0.x`` -> ``x``)."""
    return own_name(k["name"])


def _call_of(k: Mapping) -> str | None:
    """The cuDNN call a record kernel belongs to, or None for a kernel cuDNN does not run."""
    base = _base(k)
    if base in ("step_gemm", "step_pointwise"):
        return "forward"
    if base in ("step_gemm_backward", "step_pointwise_backward"):
        return "backward_data"
    if k["kind"] == "rnn_gemm" and base in ("weight_gradients", "input_projection",
                                            "grad_input"):
        return "backward_weights"  # bulk GEMMs: backward_weights is the one DeepBench times
    return None


def _cell_of(k: Mapping, call: str) -> str | None:
    """The cell of a step kernel from gates = G*H / width: exact for an unprojected layer; a
    deeper wavefront cell's width is input + hidden (2H); None otherwise (projection)."""
    batch, gates_hidden, width = _step_shape(k, call)
    ratio = np.asarray(gates_hidden, dtype=float) / np.asarray(width, dtype=float)
    for scale in (1, 2):
        cells = [GATES_TO_CELL[g] for g in GATES_TO_CELL if np.all(ratio * scale == g)]
        if cells:
            return cells[0]
    return None


def _step_shape(k: Mapping, call: str):
    """(batch, G*H, width) of a forward or backward step GEMM."""
    m, n, depth = k["shape"][:3]
    return (m, n, depth) if call == "forward" else (m, depth, n)


def _algo(k: Mapping, hw: Hardware, dtype: str, layers: int, call: str, cell: str | None):
    """The regime of a step kernel (STANDARD where the cell is unknown), H from G*H and the
    step's width standing in for the input size. Where copies run side by side (directions,
    wavefront layers) PERSIST_STATIC, which needs one unidirectional layer, becomes STANDARD;
    PERSIST_STATIC_SMALL_H stays (PyTorch picks it by H alone)."""
    batch, gates_hidden, width = _step_shape(k, call)
    if cell is None:
        return ALGOS[0]
    hidden = np.asarray(gates_hidden) // CELL_GATES[cell]
    algo = select_algo(cell, hidden, width, layers, 1, batch, k["count"], dtype, hw,
                       forward=call == "forward")
    if float(np.max(k["concurrent"])) > 1:
        return np.where(algo == ALGOS[1], ALGOS[0], algo)
    return algo


def _row(k: Mapping, call: str, core_s, memory_s, latency_s, peak: float) -> dict:
    flops = np.asarray(k["flops"], dtype=float) * np.asarray(k.get("concurrent", 1), float)
    terms = np.stack(np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                           for v in (core_s, memory_s, latency_s))))
    lower = np.maximum(core_s, memory_s) + latency_s  # the SMs' work overlaps the stream
    return {"name": k["name"], "phase": k["phase"], "count": k["count"], "flops": flops,
            "bytes": np.asarray(k["bytes"], dtype=float), "peak_flops_per_s": peak,
            "ideal_s": flops / peak, "compute_s": terms[0], "memory_s": terms[1],
            "latency_s": terms[2], "lower_s": lower, "upper_s": terms.sum(axis=0),
            "binding": np.asarray(("compute", "memory", "latency"))[terms.argmax(axis=0)],
            "implementation": FITTED, "call": call}
