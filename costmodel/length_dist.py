"""Batches drawn from a length distribution: the EXPECTED padding waste over random batches.

A distribution of whole-number lengths >= 1, from a spec or observed lengths:

* ``lognormal:MEDIAN:SIGMA``: ``L = ceil(X)``, ``X`` lognormal with median ``MEDIAN`` and log
  standard deviation ``SIGMA``, so ``P(L <= m) = Phi((ln m - ln MEDIAN) / SIGMA)`` for whole
  ``m >= 1`` (``X > 0``, so ``L >= 1``). The support ends at the first ``m`` with
  ``P(L > m) <= TAIL_MASS``; the mass beyond (at most ``TAIL_MASS``) is dropped and the rest
  renormalised (``truncated_mass`` says how much).
* ``uniform:LO:HI``: every whole length ``LO..HI`` (inclusive) equally likely.
* observed lengths (a file, one per line or a CSV column): their empirical distribution, a batch
  drawing with replacement.

A batch is ``B`` independent draws. Expected counts are exact (up to float64 rounding and the
dropped tail): counts are linear in the batch, so ``E[packed] = B * sum_m p(m) f(m, 1)``, and the
longest of ``B`` draws has ``P(M <= m) = F(m)^B``, so ``E[padded] = sum_m (F(m)^B - F(m-1)^B)
f(m, B)`` (the discrete form of integrating the CDF of the maximum). Expected times have no
such form (a packed batch's time depends on the whole sorted batch, not on its sum or its
maximum alone), so they are a Monte Carlo mean over ``samples`` batches drawn with numpy's
``default_rng(seed)``; both are stated in the output with the standard error of each mean.
The waste fraction of an expectation is ``E[padded - packed] / E[padded]``: the share of the work
of many batches that is padding.

Bucketing (a common practice): batches formed from length-sorted pools instead of at random.
Pools of ``BUCKET_BATCHES * B`` draws are sorted and cut into consecutive batches of ``B``
(Hugging Face transformers' ``get_length_grouped_indices``: megabatches of up to 50 batches,
sorted by length); counts and times are then Monte Carlo means over the same seeded draws.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from costmodel.cost import Cost

#: The lognormal support ends where the mass beyond is at most this (module docstring).
TAIL_MASS = 1e-12
#: The most support points a distribution may have (memory: a few float64 arrays of it).
MAX_SUPPORT = 1 << 22
DEFAULT_SAMPLES, DEFAULT_SEED = 1000, 0
#: The most lengths a Monte Carlo draws (samples x batch): bounds its memory.
MAX_DRAWS = 10 ** 7
#: Batches per length-sorted pool (transformers' get_length_grouped_indices megabatch cap).
BUCKET_BATCHES = 50
KINDS = ("lognormal", "uniform")
SPEC_HELP = "lognormal:MEDIAN:SIGMA (MEDIAN > 0, SIGMA > 0) or uniform:LO:HI (1 <= LO <= HI)"


@dataclass(frozen=True)
class LengthDistribution:
    """Whole lengths ``support`` (ascending) with probabilities ``pmf`` (summing to 1)."""

    label: str
    support: np.ndarray
    pmf: np.ndarray
    truncated_mass: float = 0.0

    def as_dict(self) -> dict:
        return {"distribution": self.label, "support_min": int(self.support[0]),
                "support_max": int(self.support[-1]), "truncated_mass": self.truncated_mass}


def parse(spec: str, name: str = "lengths_dist") -> LengthDistribution:
    """A distribution from ``lognormal:MEDIAN:SIGMA`` or ``uniform:LO:HI``; ValueError naming
    ``name`` (the CLI: its option) and what is allowed otherwise."""
    kind, *args = str(spec).split(":")
    try:
        if kind not in KINDS or len(args) != 2:
            raise ValueError
        if kind == "uniform":
            return uniform(*(int(a) for a in args))
        return lognormal(*(float(a) for a in args))
    except ValueError as err:
        detail = f" ({err})" if str(err) else ""
        raise ValueError(f"{name}={spec!r} must be {SPEC_HELP}{detail}") from None


def uniform(lo: int, hi: int) -> LengthDistribution:
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 <= LO <= HI, got LO={lo}, HI={hi}")
    if hi - lo + 1 > MAX_SUPPORT:
        raise ValueError(f"HI - LO + 1 = {hi - lo + 1:,} lengths, more than {MAX_SUPPORT:,}")
    support = np.arange(lo, hi + 1)
    return LengthDistribution(f"uniform:{lo}:{hi}", support,
                              np.full(support.shape, 1.0 / support.size))


def lognormal(median: float, sigma: float) -> LengthDistribution:
    if not (median > 0 and sigma > 0 and math.isfinite(median) and math.isfinite(sigma)):
        raise ValueError(f"need MEDIAN > 0 and SIGMA > 0, got {median:g}, {sigma:g}")
    z_tail = _z_above(TAIL_MASS)
    last = math.ceil(median * math.exp(sigma * z_tail))
    if last > MAX_SUPPORT:
        raise ValueError(f"its 1 - {TAIL_MASS:g} quantile, {last:,} tokens, is above "
                         f"{MAX_SUPPORT:,}: use a smaller SIGMA or MEDIAN, or observed lengths")
    support = np.arange(1, last + 1)
    phi = np.frompyfunc(lambda x: 0.5 * math.erfc(-x / math.sqrt(2)), 1, 1)
    cdf = phi((np.log(support) - math.log(median)) / sigma).astype(float)
    pmf = np.diff(cdf, prepend=0.0)
    kept = float(cdf[-1])
    return LengthDistribution(f"lognormal:{median:g}:{sigma:g}", support, pmf / kept,
                              1.0 - kept)


def _z_above(mass: float) -> float:
    """The standard normal z with P(Z > z) = mass (bisection on erfc; no scipy)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * math.erfc(mid / math.sqrt(2)) > mass else (lo, mid)
    return hi


def observed(lengths, label: str = "observed") -> LengthDistribution:
    """The empirical distribution of observed ``lengths`` (whole numbers >= 1)."""
    from costmodel.varlen import check_lengths

    values, counts = np.unique(np.asarray(check_lengths(lengths)), return_counts=True)
    return LengthDistribution(f"{label} ({counts.sum():,} lengths)", values,
                              counts / counts.sum())


def read_lengths(text: str, column: str | None = None, name: str = "lengths_file") -> tuple:
    """Lengths from a file's text: one whole number per line, or with ``column`` the named
    column of a CSV with a header. ValueError naming ``name``, the line and the entry."""
    if column is None:
        rows = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        reader = csv.DictReader(io.StringIO(text))
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{name}: no column {column!r} (columns: "
                             f"{', '.join(reader.fieldnames or []) or 'none'})")
        rows = [(i, (row[column] or "").strip()) for i, row in enumerate(reader, 2)]
    if not rows:
        raise ValueError(f"{name} holds no lengths: one whole number >= 1 per line")
    out = []
    for line, value in rows:
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise ValueError(f"{name}: line {line}: {value!r} is not a whole number >= 1")
        out.append(int(value))
    return tuple(out)


def check_batch(batch) -> int:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch={batch!r} must be a whole number >= 1")
    return int(batch)


def max_pmf(dist: LengthDistribution, batch: int) -> np.ndarray:
    """P(max of ``batch`` draws = m) over ``dist.support``: F(m)^B - F(m-1)^B."""
    cdf = np.cumsum(dist.pmf)
    return np.diff((cdf / cdf[-1]) ** check_batch(batch), prepend=0.0)


def expected_counts(record: Cost, dist: LengthDistribution, batch: int,
                    dtype: str = "fp32") -> dict:
    """``{quantity: compared(E[padded], E[packed])}``, exact (module docstring)."""
    from costmodel.varlen import QUANTITIES, compared

    at = record.vectorize(QUANTITIES)
    padded, alone = (at(n=dist.support, batch=b, dtype=dtype) for b in (check_batch(batch), 1))
    weights = max_pmf(dist, batch)
    return {q: compared(float(np.sum(weights * np.broadcast_to(padded[q], weights.shape))),
                        batch * float(np.sum(dist.pmf * np.broadcast_to(alone[q],
                                                                        dist.pmf.shape))))
            for q in QUANTITIES}


def draw(dist: LengthDistribution, batch: int, samples: int = DEFAULT_SAMPLES,
         seed: int = DEFAULT_SEED, bucketed: bool = False) -> np.ndarray:
    """``(samples, batch)`` lengths: independent draws, or with ``bucketed`` pools of
    ``BUCKET_BATCHES`` batches sorted by length and cut into batches."""
    batch = check_batch(batch)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r} must be a whole number >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a whole number >= 0")
    if samples * batch > MAX_DRAWS:
        raise ValueError(f"samples x batch = {samples:,} x {batch:,} lengths to draw, more "
                         f"than {MAX_DRAWS:,}: use fewer samples")
    lengths = np.random.default_rng(seed).choice(dist.support, size=(samples, batch),
                                                 p=dist.pmf)
    if not bucketed:
        return lengths
    pools = -(-samples // BUCKET_BATCHES)
    flat = lengths.reshape(-1)
    cut = [np.sort(flat[i * BUCKET_BATCHES * batch:(i + 1) * BUCKET_BATCHES * batch])
           for i in range(pools)]
    return np.concatenate(cut).reshape(samples, batch)


def sampled(padded: np.ndarray, packed: np.ndarray) -> dict:
    """:func:`costmodel.varlen.compared` of the means, with each mean's standard error."""
    from costmodel.varlen import compared

    padded, packed = np.asarray(padded, float), np.asarray(packed, float)
    out = compared(float(padded.mean()), float(packed.mean()))
    return {**out, "padded_stderr": _stderr(padded), "packed_stderr": _stderr(packed),
            "waste_stderr": _stderr(padded - packed)}


def _stderr(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (0 for one value)."""
    return float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0


def expected_max(dist: LengthDistribution, batch: int) -> float:
    """E[longest of ``batch`` draws] = sum_m m * P(max = m)."""
    return float(np.sum(dist.support * max_pmf(dist, batch)))
