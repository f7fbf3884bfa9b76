"""Which implementation runs a record's kernels on a device, and its time model.

The roofline (:mod:`costmodel.roofline`) prices any kernel from its FLOPs and bytes; an
implementation module says what a library really launches for a family and what that costs
beyond FLOPs and bytes (fixed costs per call, per-step floors, the GEMM regime it picks),
with parameters fitted to published measurements (``costmodel/data/fitted/<name>.toml``,
written by ``python -m costmodel.reference.fit``). Today: cuDNN's RNN/LSTM/GRU
(:mod:`costmodel.implementations.cudnn_rnn`) on NVIDIA GPUs, and PyTorch's SDPA dispatch
(:mod:`costmodel.implementations.sdpa`: which attention kernel runs). A calibrated profile (which
measured the device itself) and an explicitly given ``Efficiency`` keep the plain roofline for
those; a CPU profile's measured terms belong to PyTorch's CPU implementations: per step
:mod:`costmodel.implementations.autograd_cells` (dispatch per op and step, dW accumulated every
step, whole measured steps), per call :mod:`costmodel.implementations.onednn_rnn` (oneDNN's
weight re-layout, fresh gate buffers); :func:`call_s` sums a call's terms.
"""

from __future__ import annotations

from typing import Mapping

from costmodel.hardware import Hardware
from costmodel.implementations.cudnn_stack import DEFAULT as DEFAULT_STACK

RNN_IMPLEMENTATION_NOTE = ("cuDNN GEMM-per-step (ALGO_STANDARD; persistent kernels where "
                           "PyTorch picks them), fitted on Maxwell/Pascal DeepBench")


def uses_cudnn_rnn(hw: Hardware, eff_given, rnn_params) -> bool:
    """cuDNN's RNN model applies on an NVIDIA GPU that has no calibrated profile, unless the
    caller chose an ``Efficiency`` (e.g. ``Efficiency.ideal()``); explicit ``rnn_params``
    (a reference fit being scored) always select it."""
    if rnn_params is not None:
        return True
    return eff_given is None and not getattr(hw, "efficiency", None) and hw.vendor == "NVIDIA"


def recurrent_rows(rows: list[dict], kernels: list[dict], hw: Hardware, dtype: str,
                   eff_given, rnn_params: Mapping | None, cudnn_allow_tf32: bool,
                   cudnn_stack: str = DEFAULT_STACK) -> list[dict]:
    """``rows`` (the roofline's, one per kernel) with the recurrent kernels priced by cuDNN's
    model and one fixed-cost row per cuDNN call appended; ``rows`` unchanged where the model
    does not apply or the record has no recurrence. ``cudnn_stack``: the library generation
    whose step floor applies (:mod:`costmodel.implementations.cudnn_stack`); ``rnn_params``
    with a ``"stack"`` entry keep theirs."""
    if not uses_cudnn_rnn(hw, eff_given, rnn_params):
        return rows
    from costmodel.efficiency import Efficiency
    from costmodel.implementations import cudnn_rnn

    from costmodel.implementations import cudnn_stack as stack

    params = (rnn_params if rnn_params is not None
              else cudnn_rnn.params_for(cudnn_rnn.fitted_table(), hw.architecture))
    params = {"stack": stack.params_of(stack.resolve(cudnn_stack, hw)), **params}
    owned, calls = cudnn_rnn.kernel_rows(kernels, hw, dtype, params, Efficiency.priors(),
                                         cudnn_allow_tf32, Efficiency.for_hardware(hw).cublas)
    if not owned:
        return rows
    return [owned.get(i, row) for i, row in enumerate(rows)] + calls


def op_floor_s(hw: Hardware, eff_given=None) -> float | None:
    """The fixed time every GPU kernel of a prediction pays on ``hw`` (the fitted cuBLAS /
    pointwise model's ``floor_s``), or None where that model does not price the kernels (a
    CPU, a calibrated profile, an explicitly given ``Efficiency`` without it)."""
    from costmodel.efficiency import Efficiency

    eff = eff_given if eff_given is not None else Efficiency.for_hardware(hw)
    return None if eff.cublas is None else float(eff.cublas["floor_s"])


def op_floor(hw: Hardware, eff_given=None) -> str | None:
    """One line: what the per-op floor is and where its value comes from (compare states it:
    it is most of a decode step's time)."""
    floor_s = op_floor_s(hw, eff_given)
    if floor_s is None:
        return None
    return (f"{floor_s * 1e6:.1f} us per GPU op (one eager op timed alone: host dispatch + "
            "launch, fitted on NeuSight's PyTorch 2.1 timings, cublas.toml; docs/decode.md)")


def call_s(family: str, phase: str, kernels: list[dict], weight_bytes, hw: Hardware, eff,
           dtype: str = "fp32"):
    """A calibrated profile's fixed time per call of one implementation (``family``) and
    phase: its ``call_latency_s``, then oneDNN's weight re-layout and fresh gate buffers
    (:mod:`costmodel.implementations.onednn_rnn`); 0.0 where the profile has none (always
    without a profile). ``kernels``: the record's evaluated ones; ``weight_bytes``: all its
    parameters' bytes."""
    from costmodel.implementations import onednn_rnn

    return (eff.call_latency_s.get(f"{family}.{phase}", 0.0)
            + onednn_rnn.relayout_s(family, phase, weight_bytes, hw, eff, dtype)
            + onednn_rnn.fresh_buffers_s(family, phase, kernels, hw, eff, dtype))


def rnn_implementation(hw: Hardware, eff_given=None, cudnn_stack: str = DEFAULT_STACK) -> str:
    """One line: the RNN/LSTM/GRU regime the time rows assume on ``hw`` (compare states it),
    with the cuDNN library generation (``cudnn_stack``) where cuDNN's model applies."""
    if not uses_cudnn_rnn(hw, eff_given, None):
        source = "calibrated profile" if getattr(hw, "efficiency", None) else "priors"
        return f"roofline per kernel ({source}); no cuDNN implementation model"
    host = getattr(hw, "host", None)
    host_note = f"; {host.note()}" if host is not None else ""
    from costmodel.implementations import cudnn_rnn

    table = cudnn_rnn.fitted_table()
    fitted = set(table) - {cudnn_rnn.ACROSS}
    used = cudnn_rnn.transfer_set(table, hw.architecture)
    where = ("fitted on this architecture, with its per-batch step kernels"
             if used == hw.architecture else
             f"{used if used != cudnn_rnn.ACROSS else 'all'}'s set extrapolated to "
             f"{hw.architecture or 'this device'}")
    from costmodel.implementations import cudnn_stack as stack

    return (f"cuDNN GEMM-per-step (ALGO_STANDARD; persistent where PyTorch picks it, small-h "
            f"as a share of the STANDARD step fitted on PR #62143's timings), fitted on "
            f"{'/'.join(a.title() for a in sorted(fitted))} DeepBench, {where}; step floor: "
            f"{stack.note(cudnn_stack, hw)}{host_note}")
