"""Variable-length batches: packed sequences against padding to the longest.

A batch given as a list of lengths. Padded, every sequence runs to the longest: the record at
``n = max(lengths), batch = len(lengths)``. Packed (PyTorch's ``PackedSequence`` for a
recurrence; nested/jagged tensors or FlashAttention's varlen kernels for attention), each
sequence costs what it costs alone, and counts are linear in the batch, so the packed count is
the sum of the record at ``n = L_i, batch = 1``: the same formula, substituted per sequence. For
a recurrence that is the sum of the lengths times the per-step cost; for attention's score
products the sum of the squared lengths. The padding waste is padded - packed.

Counts only (FLOPs, training FLOPs, activation memory, inference KV/state): a packed batch's
time depends on how the kernels group the sequences (a PackedSequence step runs the sequences
still alive; varlen attention one kernel), which is not modelled here.
"""

from __future__ import annotations

import numpy as np

from costmodel.cost import Cost

#: The quantities compared (all linear in the batch, so a packed batch is a sum).
QUANTITIES = ("flops", "flops_training", "matmul_flops", "activation_bytes", "state_bytes")


def check_lengths(lengths) -> tuple[int, ...]:
    """The lengths as ints; ValueError naming ``lengths`` and the bad entry otherwise."""
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
        raise ValueError(f"lengths={lengths!r} must be a list of whole numbers >= 1")
    out = tuple(lengths)
    if not out:
        raise ValueError("lengths=[] must hold at least one sequence length")
    for i, value in enumerate(out):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"lengths[{i}]={value!r} must be a whole number >= 1 (a packed "
                             f"batch has no empty sequence)")
    return tuple(int(v) for v in out)


def padding(record: Cost, lengths, dtype: str = "fp32") -> dict:
    """``{quantity: {"padded", "packed", "waste", "waste_fraction"}}`` for a batch of
    ``lengths`` (see the module docstring)."""
    lengths = check_lengths(lengths)
    padded = record.evaluate(n=max(lengths), batch=len(lengths), dtype=dtype)
    alone = {L: record.evaluate(n=L, batch=1, dtype=dtype) for L in set(lengths)}
    out = {}
    for q in QUANTITIES:
        packed = sum(alone[L][q] for L in lengths)
        waste = padded[q] - packed
        out[q] = {"padded": padded[q], "packed": packed, "waste": waste,
                  "waste_fraction": waste / padded[q] if padded[q] else 0.0}
    return out
