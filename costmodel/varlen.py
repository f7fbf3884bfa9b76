"""Variable-length batches: packed sequences against padding to the longest.

A batch given as a list of lengths. Padded, every sequence runs to the longest: the record at
``n = max(lengths), batch = len(lengths)``. Packed (PyTorch's ``PackedSequence`` for a
recurrence; nested/jagged tensors or FlashAttention's varlen kernels for attention), each
sequence costs what it costs alone, and counts are linear in the batch, so the packed count is
the sum of the record at ``n = L_i, batch = 1``: the same formula, substituted per sequence. For
a recurrence that is the sum of the lengths times the per-step cost; for attention's score
products the sum of the squared lengths. The padding waste is padded - packed.

Counts here (FLOPs, training FLOPs, activation memory, inference KV/state); a packed batch's
time, which depends on how the kernels group the sequences (a PackedSequence step runs the
sequences still alive, varlen attention one kernel), is :mod:`costmodel.varlen_time`; batches
drawn from a length distribution, :func:`expected_padding` with :mod:`costmodel.length_dist`
(docs/padding.md).
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
    return {q: compared(padded[q], sum(alone[L][q] for L in lengths)) for q in QUANTITIES}


def compared(padded, packed) -> dict:
    """``{"padded", "packed", "waste", "waste_fraction"}``: waste = padded - packed, as a
    fraction of padded (0 where padded is 0)."""
    waste = padded - packed
    return {"padded": padded, "packed": packed, "waste": waste,
            "waste_fraction": waste / padded if padded else 0.0}


def batch_counts(record: Cost, lengths, dtype: str = "fp32") -> dict:
    """``{quantity: (padded, packed)}`` arrays, one entry per row (batch) of the ``(S, B)``
    integer array ``lengths`` (float64: for means over many batches)."""
    lengths = np.asarray(lengths)
    at = record.vectorize(QUANTITIES)
    padded = at(n=lengths.max(axis=1), batch=lengths.shape[1], dtype=dtype)
    alone = at(n=lengths, batch=1, dtype=dtype)
    return {q: (np.broadcast_to(padded[q], lengths.shape[:1]),
                np.broadcast_to(alone[q], lengths.shape).sum(axis=1)) for q in QUANTITIES}


def expected_padding(record: Cost, dist, batch: int, hw=None, dtype: str = "fp32",
                     samples: int | None = None, seed: int | None = None) -> dict:
    """The expected waste over batches of ``batch`` draws from ``dist``
    (:mod:`costmodel.length_dist`): ``counts`` exact; with a device ``hw``, ``times`` (a
    seeded Monte Carlo, :mod:`costmodel.varlen_time`); ``bucketed``: counts (and times) of
    batches cut from length-sorted pools, Monte Carlo over the same draws. ``monte_carlo``
    states the sample count and seed."""
    from costmodel import length_dist as ld
    from costmodel.varlen_time import MODES, packed_s, padded_s

    samples = ld.DEFAULT_SAMPLES if samples is None else samples
    seed = ld.DEFAULT_SEED if seed is None else seed
    out = {"counts": ld.expected_counts(record, dist, batch, dtype),
           "monte_carlo": {"samples": samples, "seed": seed, "generator": "numpy default_rng",
                           "bucket_batches": ld.BUCKET_BATCHES}}
    random, sorted_ = (ld.draw(dist, batch, samples, seed, bucketed=b) for b in (False, True))
    out["bucketed"] = {"counts": {q: ld.sampled(*pair)
                                  for q, pair in batch_counts(record, sorted_, dtype).items()}}
    if hw is not None:
        out["times"], out["bucketed"]["times"] = (
            {f"time_{m}_s": ld.sampled(padded_s(record, hw, lengths, m, dtype),
                                       packed_s(record, hw, lengths, m, dtype)) for m in MODES}
            for lengths in (random, sorted_))
    return out


def report(records: dict, *, lengths=None, dist=None, batch: int | None = None, hw=None,
           dtype: str = "fp32", samples: int | None = None, seed: int | None = None) -> dict:
    """What ``costmodel padding`` shows for ``records`` (name -> record): one batch of
    ``lengths`` (:func:`padding`, with a device ``hw`` also
    :func:`costmodel.varlen_time.padding_time`), or batches of ``batch`` draws from ``dist``
    (:func:`expected_padding`); with ``hw`` its name and what PyTorch runs for each batching."""
    from costmodel.length_dist import expected_max
    from costmodel.varlen_time import ASSUMPTIONS, padding_time

    if (lengths is None) == (dist is None):
        raise ValueError("give one of lengths= (one batch) or dist= (a length distribution)")
    head = {"gpu": hw.name, "assumptions": ASSUMPTIONS} if hw is not None else {}
    if dist is None:
        return {**head, "lengths": list(check_lengths(lengths)),
                "models": {name: {**padding(r, lengths, dtype),
                                  **(padding_time(r, hw, lengths, dtype) if hw else {})}
                           for name, r in records.items()}}
    return {**head, **dist.as_dict(), "batch": batch,
            "expected_max_length": expected_max(dist, batch),
            "models": {name: expected_padding(r, dist, batch, hw, dtype, samples, seed)
                       for name, r in records.items()}}
