"""PyTorch's decomposed recurrent cells on a CPU: what a dependent step costs beyond its
kernels' FLOPs and bytes, as a calibrated profile measured it.

Where no fused kernel runs the recurrence (``nn.RNN`` and ``nn.GRU`` on a CPU read their
weights in place and run each step as a chain of small ops), every op of a step goes through
the dispatcher and autograd. A profile written by ``costmodel calibrate`` prices a step of one
implementation (the record's family, e.g. ``gru``) and phase, keyed ``"<family>.<phase>"``
(for the LSTM, which oneDNN runs fused (:mod:`costmodel.implementations.onednn_rnn`), the same
terms are fitted as its residual per step):

    step  = step GEMM + step pointwise kernels                        (the roofline's terms)
          + step_latency_s                                            dispatch per op and step
          + step_weight_passes * weight_pass_s(W_hh)                  dW_hh written every step

- ``step_latency_s`` replaces the per-kernel latency of the step's kernels: ``step_gemm*``
  carries it, ``step_pointwise*`` none (the profile measured the step, not each launch).
- ``step_weight_passes``: extra passes over the step's weights per step (the cell graph
  writes and accumulates a dW_hh every step; an implementation may re-stream W_hh). One pass
  reads and writes the weights at the rate the ``memory.elementwise`` curve gives that many
  bytes: cheap while the weights sit in a cache, main-memory bandwidth above the last level.
- Whole steps: curves ``memory.rnn_step.<family>.<phase>.m<m>`` are the module's own time
  per step at batch m (gates and dispatch included, measured at two sequence lengths). Where
  a profile has them, the step GEMM's time comes from them and the step's other kernels take
  none of their own.

The coefficients are fitted per family and phase by ``costmodel calibrate``
(``validation/fit.py``); without a profile the tables are empty and every term here vanishes.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from costmodel.cost import is_step, is_step_gemm
from costmodel.efficiency import STEP_KIND, Efficiency
from costmodel.hardware import Hardware

WEIGHT_PASS_MOVES = 2  # one extra pass over the weights reads and writes them (dW += ...)


def whole_step_kind(eff: Efficiency, family: str, phase: str) -> str | None:
    """``rnn_step.<family>.<phase>`` where the profile has whole-step curves for this
    implementation and phase (``memory.rnn_step.<family>.<phase>.m<m>``), else None."""
    kind = f"{STEP_KIND}.{family}.{phase}"
    return kind if eff.step_batches(kind) else None


def whole_step_of(k: Mapping, eff: Efficiency, family: str) -> str | None:
    """The whole-step curve kind that prices kernel ``k`` (one of a step's ``step_*``
    kernels), or None."""
    return whole_step_kind(eff, family, k["phase"]) if is_step(k["name"]) else None


def inside_whole_step(k: Mapping, whole: str | None) -> bool:
    """A step kernel other than the step GEMM under a measured whole step: no time of its
    own (the step GEMM carries the step)."""
    return bool(whole) and not is_step_gemm(k["name"])


def latency_s(k: Mapping, eff: Efficiency, family: str, whole: str | None = None) -> float:
    """A kernel's latency floor. Where the profile has a step latency for this family and
    phase (or a measured whole step, which includes the dispatch), it replaces the per-kernel
    latency of the step's kernels: ``step_gemm*`` carries it, the step's pointwise kernels
    none; every other kernel keeps ``eff.kernel_latency_s``."""
    key = f"{family}.{k['phase']}"
    if (whole or key in eff.step_latency_s) and is_step(k["name"]):
        return eff.step_latency_s.get(key, 0.0) if is_step_gemm(k["name"]) else 0.0
    return eff.kernel_latency_s


def step_weight_passes_s(k: Mapping, resident, hw: Hardware, eff: Efficiency, family: str,
                         dtype: str = "fp32"):
    """The profile's ``step_weight_passes`` of this family and phase times one pass over the
    step GEMM's ``resident`` weight bytes (0 for every other kernel)."""
    passes = (eff.step_weight_passes.get(f"{family}.{k['phase']}", 0.0)
              if is_step_gemm(k["name"]) else 0.0)
    return passes * weight_pass_s(resident, hw, eff, dtype)


def weight_pass_s(resident, hw: Hardware, eff: Efficiency, dtype: str = "fp32"):
    """One pass over ``resident`` weight bytes (read + write) at the rate a pointwise op of
    that size reaches (``memory.elementwise``: cache-resident sizes run faster than DRAM)."""
    moved = WEIGHT_PASS_MOVES * np.asarray(resident, dtype=float)
    return moved / (hw.hbm_bytes_per_s * eff.memory(moved, "elementwise", dtype))
