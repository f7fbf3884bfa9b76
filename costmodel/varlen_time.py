"""Time of a variable-length batch on a device: packed against padded to the longest.

Every time is the roofline with the time layer (:func:`costmodel.roofline.predict`, the function
``costmodel compare`` and ``costmodel.predict`` use), evaluated where PyTorch runs the work:

* **padded**: the record at ``n = max(lengths), batch = B``, as a plain tensor: for a
  recurrence cuDNN's model with PyTorch's algorithm choice (``get_algo``, persistent kernels
  where its heuristics allow); for attention the dense ``B x n_max^2`` kernel ``--attention
  auto`` picks. (A key-padding mask, which a padded encoder needs for correct results, can only
  make it slower: flash refuses a mask, and the layer's inference fast path runs math with one.)
* **packed**, split by what a kernel's work follows:

  - per-token kernels (projections, FFN, norms, the recurrence's hoisted input GEMM and its
    weight gradient, a cuDNN call's fixed cost): one launch over all ``sum(L_i)`` tokens, the
    record at ``n = sum(L_i), batch = 1`` (a PackedSequence's ``data`` and a nested/jagged
    tensor's values buffer are ``[sum(L_i), d]``);
  - per-step kernels (``step_*``: the recurrence's dependent steps): a packed recurrence runs
    ``max(L)`` steps whose batch shrinks as sequences end, ``b_t = #{i: L_i >= t}`` (PyTorch
    sorts a PackedSequence by length; cuDNN's var-seq-length API). With lengths sorted
    descending, batch ``b`` runs ``L_(b) - L_(b+1)`` steps, each priced as the record's step
    at ``n = 1, batch = b``. PyTorch never runs a persistent cuDNN kernel for a packed input
    (``get_algo`` in aten/src/ATen/native/cudnn/RNN.cpp: "Persistent algos typically don't
    work for packed inputs"), so the packed steps take ``ALGO_STANDARD``;
  - the attention core (``scores``, ``softmax``, ``av`` or ``flash_attention``, forward and
    backward): per sequence, ``sum(L_i^2)`` work. A fused kernel (flash, memory-efficient,
    cuDNN) runs the batch as one varlen launch over per-sequence tiles (FlashAttention's
    ``flash_attn_varlen_func`` with ``cu_seqlens``; PyTorch's SDPA on jagged nested tensors;
    the ``TransformerEncoder`` inference fast path, which turns a key-padding mask into a
    nested tensor): one kernel whose FLOPs and bytes are the sums over sequences. The math
    kernels on a nested tensor run sequence by sequence (one launch each).

Times are in seconds; ``mode`` "inference" is the forward (``eval()``, ``inference_mode``),
"training" a forward, backward and one optimizer update (``Timing.training_s``). Lengths come
as a ``(S, B)`` integer array: ``S`` batches of ``B`` sequences, all priced at once.
"""

from __future__ import annotations

import numpy as np

from costmodel.api import ATTENTION_CORE
from costmodel.cost import Cost
from costmodel.hardware import Hardware

#: The name prefix of a per-dependent-step kernel (the records' convention, which the roofline
#: and cuDNN's model also key on).
STEP_PREFIX = "step_"
MODES = ("inference", "training")
#: What PyTorch runs for each batching (module docstring), stated in the CLI's JSON.
ASSUMPTIONS = {
    "recurrence_padded": "n_max steps at batch B (cuDNN: the algorithm PyTorch's get_algo picks)",
    "recurrence_packed": "PackedSequence: n_max steps at batch #{L_i >= t} (cuDNN: ALGO_STANDARD, "
                         "get_algo never runs a persistent kernel on a packed input)",
    "attention_padded": "dense B x n_max^2, the kernel --attention auto picks, no mask",
    "attention_packed": "one varlen launch over per-sequence tiles, sum L_i^2 work (flash-attn "
                        "varlen, SDPA on jagged nested tensors, TransformerEncoder's nested "
                        "fast path); math kernels one launch per sequence",
    "other_kernels": "padded: n_max * B rows; packed: sum L_i rows",
}
#: The kernel kind of a fused attention kernel (flash, memory-efficient, cuDNN).
FUSED_ATTENTION_KIND = "attention"


def is_step(name: str) -> bool:
    """A kernel launched once per dependent step (``lstm.layer0.step_gemm_backward``)."""
    return name.rsplit(".", 1)[-1].startswith(STEP_PREFIX)


def is_core(name: str) -> bool:
    """A kernel of the attention core, forward or backward (``self_attn.flash_attention``)."""
    return name.removesuffix(".backward").rsplit(".", 1)[-1] in ATTENTION_CORE


def packed_rnn_params(hw: Hardware) -> dict | None:
    """cuDNN's fitted parameters on ``hw`` with ``ALGO_STANDARD`` fixed (a packed input is
    never persistent, module docstring); None where cuDNN's model does not apply."""
    from costmodel.implementations import cudnn_rnn, uses_cudnn_rnn

    if not uses_cudnn_rnn(hw, None, None):
        return None
    table = cudnn_rnn.fitted_table()
    return {**cudnn_rnn.params_for(table, hw.architecture), "algo": cudnn_rnn.ALGOS[0]}


def _timing(record: Cost, hw: Hardware, mode: str, dtype: str, rnn_params=None, **values):
    from costmodel.roofline import predict

    return predict(record, hw, dtype=dtype, mode=mode, rnn_params=rnn_params, **values)


def _total_s(timing, mode: str) -> np.ndarray:
    return np.asarray(timing.forward_s if mode == "inference" else timing.training_s, float)


def _rows_s(timing, keep) -> np.ndarray:
    """Seconds of the rows whose name ``keep`` accepts (count x per-launch lower bound)."""
    return sum((np.asarray(r["count"], float) * np.asarray(r["lower_s"], float)
                for r in timing.kernels if keep(r["name"])), np.zeros(()))


PARTS = ("tokens", "steps", "core")


def padded_parts(record: Cost, hw: Hardware, lengths: np.ndarray, mode: str,
                 dtype: str = "fp32") -> dict:
    """``{"tokens", "steps", "core"}`` seconds of each batch (row of ``lengths``) padded to
    its longest sequence: the step rows, the attention-core rows and the rest (with fixed
    per-call costs and the optimizer update) of the record at ``n = max, batch = B``."""
    lengths = np.asarray(lengths)
    timing = _timing(record, hw, mode, dtype, n=lengths.max(axis=1), batch=lengths.shape[1])
    steps, core = _rows_s(timing, is_step), _rows_s(timing, is_core)
    parts = {"tokens": _total_s(timing, mode) - steps - core, "steps": steps, "core": core}
    return {k: np.broadcast_to(v, lengths.shape[:1]).astype(float) for k, v in parts.items()}


def packed_parts(record: Cost, hw: Hardware, lengths: np.ndarray, mode: str,
                 dtype: str = "fp32") -> dict:
    """``{"tokens", "steps", "core"}`` seconds of each batch (row of ``lengths``) packed
    (module docstring)."""
    lengths = -np.sort(-np.asarray(lengths), axis=1)  # descending, as PyTorch packs them
    params = packed_rnn_params(hw)
    tokens = _timing(record, hw, mode, dtype, params, n=lengths.sum(axis=1), batch=1)
    parts = {"tokens": _total_s(tokens, mode) - _rows_s(tokens, is_step)
             - _rows_s(tokens, is_core),
             "steps": _steps_s(record, hw, lengths, mode, dtype, params),
             "core": _core_s(record, hw, lengths, mode, dtype)}
    return {k: np.broadcast_to(v, lengths.shape[:1]).astype(float) for k, v in parts.items()}


def padded_s(record: Cost, hw: Hardware, lengths: np.ndarray, mode: str,
             dtype: str = "fp32") -> np.ndarray:
    """Seconds of each batch (row of ``lengths``) padded to its longest sequence."""
    return sum(padded_parts(record, hw, lengths, mode, dtype).values())


def packed_s(record: Cost, hw: Hardware, lengths: np.ndarray, mode: str,
             dtype: str = "fp32") -> np.ndarray:
    """Seconds of each batch (row of ``lengths``) packed (module docstring)."""
    return sum(packed_parts(record, hw, lengths, mode, dtype).values())


def _steps_s(record, hw, lengths, mode, dtype, params) -> np.ndarray:
    """``sum_b (L_(b) - L_(b+1)) * step(batch=b)`` over the sorted rows of ``lengths``."""
    batches = np.arange(1, lengths.shape[1] + 1)
    step = _timing(record, hw, mode, dtype, params, n=1, batch=batches)
    per_step_s = np.broadcast_to(_rows_s(step, is_step), batches.shape)
    runs = lengths - np.concatenate([lengths[:, 1:], np.zeros_like(lengths[:, :1])], axis=1)
    return runs @ per_step_s  # runs[:, b-1]: steps that run at batch b


def _core_s(record, hw, lengths, mode, dtype) -> np.ndarray:
    """The attention core per sequence: a fused kernel as one varlen launch (FLOPs, bytes and
    L2-resident bytes summed over the sequences), the math kernels one launch per sequence."""
    from costmodel.efficiency import Efficiency
    from costmodel.implementations.sdpa import resolve
    from costmodel.roofline import _fused_attention_time, family_of, kernel_time

    record = resolve(record, hw, dtype, mode)[0]
    eff, family = Efficiency.for_hardware(hw), family_of(record)
    total = np.zeros(lengths.shape[0])
    for k in record.kernel_values(dtype=dtype, n=lengths, batch=1):
        if not is_core(k["name"]) or (mode == "inference" and k["phase"] != "forward"):
            continue
        fused = k["kind"] == FUSED_ATTENTION_KIND
        if fused and eff.cublas is not None and k["shape"] is not None:  # fitted GPU kernel
            row = _fused_attention_time(k, hw, eff, dtype, sequences_axis=1)
        else:
            if fused:
                k = {**k, **{f: np.broadcast_to(np.asarray(k[f], float), lengths.shape).sum(
                    axis=1) for f in ("flops", "bytes", "resident_bytes")}}
            row = kernel_time(k, hw, eff, dtype, False, True, family)
        seconds = np.asarray(row["count"], float) * np.asarray(row["lower_s"], float)
        total = total + (np.broadcast_to(seconds, lengths.shape[:1]) if fused
                         else np.broadcast_to(seconds, lengths.shape).sum(axis=1))
    return total


def padding_time(record: Cost, hw: Hardware, lengths, dtype: str = "fp32") -> dict:
    """``{"time_inference_s" | "time_training_s": {"padded", "packed", "waste",
    "waste_fraction"}}`` for one batch of ``lengths`` (a list of whole numbers >= 1)."""
    from costmodel.varlen import check_lengths, compared

    batch = np.asarray([check_lengths(lengths)])
    return {f"time_{mode}_s": compared(float(padded_s(record, hw, batch, mode, dtype)[0]),
                                       float(packed_s(record, hw, batch, mode, dtype)[0]))
            for mode in MODES}
