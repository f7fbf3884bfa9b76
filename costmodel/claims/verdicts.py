"""Evaluate every claim of the ledger and judge it: the verdict records.

Verdicts (``STATUSES``):

holds            the computed value lies in the interval the written form admits;
convention       it does only under a named convention (MAC vs FLOP, one bias vector,
                 MiB vs MB, a GPU variant, ...): the convention is named;
off              it does not: the computed value, the factor claimed / computed and the most
                 likely cause (the ledger's notes) are given;
measured         checked against a recorded run of the benchmarks (data/claims/measurements.json,
                 ``costmodel measure-claims``): the measured value, whether the claim holds
                 on what was measured (the factor when not), the device and date, and for a
                 claim about a GPU the roofline prediction for it, labelled as such; claims
                 whose run is not recorded are "not computable yet" with the benchmark named;
not_computable   literature results, judgements, and measurements not yet run, with the reason.

Tolerance by written form, on the claimed value in its own unit: exact = half a unit of the
last significant digit written (trailing zeros of an integer are not significant), or, when
nothing else fits, the computed value truncated to those digits (up to, not including, a whole
unit further from zero: "a factor of 131" for 1.05^100 = 131.50 holds, the reason says it is
truncated; 4 is never "3"); approx
and about = 10 %; power_of_ten = the nearest power of ten (a factor sqrt(10)); range = inside
[lo, hi], ends read to their digits; at_least / at_most / more_than / less_than one-sided.
A computed interval that is an uncertainty (an unstated batch size) must overlap the claimed
interval; a computed span (all of "1-3 us") must lie inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import sympy as sp

from costmodel.claims.evaluators import REGISTRY, MissingConstructor, Outcome, fmt
from costmodel.claims.ledger import UNITS, Claim, load
from costmodel.claims.vocabulary import STATUSES

LABELS = {"holds": "holds", "convention": "holds under a convention", "off": "off",
          "measured": "measured", "not_computable": "not computable"}
#: A factor this close to 1 is reported as a rounding-level difference.
ROUNDING_LEVEL = 0.02
APPROX = 0.10  # the tolerance of approx / about
#: The reason's words for a computed value that the claim's digits truncate, not round.
TRUNCATED = "the figure written is the computed value truncated to its digits, not rounded"
#: Claimed values below this print in exponent form (1e-15, not 0).
SMALL = 1e-3
#: Trailing zeros of an integer from here up are read as not significant ("37,000" is
#: 37 thousand to two digits); below it ("100 us", "50 steps") every digit counts.
THOUSANDS = 1000
INF = math.inf


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    status: str
    computed: object = None  # SI: number, (lo, hi) or a big-O string
    convention: str = ""
    factor: float | None = None
    reason: str = ""


# ----- the interval a written value admits ---------------------------------------------------
def half_unit(x: float) -> float:
    """Half a unit of the last significant digit of ``x`` as written (shortest repr)."""
    if float(x).is_integer() and abs(x) >= 1:
        digits = str(int(abs(x)))
        zeros = len(digits) - len(digits.rstrip("0")) if abs(x) >= THOUSANDS else 0
        return 0.5 * 10 ** zeros
    mantissa, _, exponent = repr(float(x)).partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10 ** (-decimals + int(exponent or 0))


def admitted(claim: Claim, scale: float) -> tuple[float, float]:
    """The interval of SI values the claim admits, its unit read as ``scale``."""
    c, w = claim.claimed, claim.written
    if w == "range":
        lo, hi = c
        return (lo - half_unit(lo)) * scale, (hi + half_unit(hi)) * scale
    if w == "approx_range":
        lo, hi = c
        return lo * (1 - APPROX) * scale, hi * (1 + APPROX) * scale
    interval = {
        "exact": (c - half_unit(c), c + half_unit(c)),
        "approx": (c * (1 - APPROX), c * (1 + APPROX)),
        "about": (c * (1 - APPROX), c * (1 + APPROX)),
        "power_of_ten": (c / math.sqrt(10), c * math.sqrt(10)),
        "at_least": (c, INF), "more_than": (c, INF),
        "at_most": (-INF, c), "less_than": (-INF, c),
    }[w]
    return interval[0] * scale, interval[1] * scale


def truncated(claim: Claim, scale: float) -> tuple[float, float] | None:
    """The open interval of SI values that the claim's digits (exact, or a range's ends)
    truncate: at an end away from zero up to the next unit, which is excluded, else the
    rounding interval's end; None for the other written forms."""
    c, w = claim.claimed, claim.written
    if w not in ("exact", "range"):
        return None
    first, last = c if w == "range" else (c, c)
    lo = first - (2 if first < 0 else 1) * half_unit(first)
    hi = last + (2 if last >= 0 else 1) * half_unit(last)
    return lo * scale, hi * scale


def _truncates(computed, span: bool, lo: float, hi: float) -> bool:
    """``computed`` (its every end) lies strictly inside (lo, hi): where the rounding interval
    has not already admitted it, an end is the next unit, never a value cut to the digits."""
    ends = computed if isinstance(computed, tuple) else (computed,)
    return _fits(computed, span, lo, hi) and all(lo < e < hi for e in ends)


def _fits(computed, span: bool, lo: float, hi: float) -> bool:
    eps = 1e-9 * max(abs(lo) if math.isfinite(lo) else 0, abs(hi) if math.isfinite(hi) else 0)
    if isinstance(computed, tuple):
        a, b = computed
        return (lo - eps <= a and b <= hi + eps) if span else (a <= hi + eps and b >= lo - eps)
    return lo - eps <= computed <= hi + eps


def _terms(text: str) -> frozenset:
    inner = text.strip()[2:-1]
    expr = sp.expand(sp.sympify(inner.replace("^", "**").replace("·", "*")))
    return frozenset(sp.Mul(*[f for f in sp.Mul.make_args(t) if not f.is_number])
                     for t in sp.Add.make_args(expr))


def _center(x) -> float:
    if isinstance(x, tuple):
        a, b = x
        return math.sqrt(a * b) if a > 0 and b > 0 else (a + b) / 2
    return float(x)


def _claimed_center(claim: Claim, scale: float) -> float:
    c = claim.claimed
    return _center(tuple(c) if isinstance(c, tuple) else c) * scale


# ----- judging ------------------------------------------------------------------------------
def _not_computable(claim: Claim, outcome: Outcome) -> Verdict:
    parts = [outcome.reason, claim.notes, f"benchmark: {claim.measure}" if claim.measure else ""]
    return Verdict(claim, "not_computable", reason="; ".join(p for p in parts if p))


def _big_o(claim: Claim, outcome: Outcome) -> Verdict:
    for convention, value in ((None, outcome.value), *outcome.alternatives):
        if value is not None and _terms(value) == _terms(claim.claimed):
            status = "holds" if convention is None else "convention"
            return Verdict(claim, status, outcome.value, convention or "", None,
                           _join(convention and f"holds if {convention}", outcome.detail,
                                 claim.notes))
    return Verdict(claim, "off", outcome.value, "", None,
                   _join(f"computed {outcome.value}", claim.notes, outcome.detail))


def _join(*parts) -> str:
    return "; ".join(p for p in parts if p)


def judge(claim: Claim, outcome: Outcome) -> Verdict:
    """The verdict on ``claim`` given its evaluator's ``outcome``."""
    if not outcome.computable:
        return _not_computable(claim, outcome)
    if outcome.measured:
        return _measured(claim, outcome)
    if claim.written == "big_o":
        return _big_o(claim, outcome)
    scale, unit_alternatives = UNITS[claim.unit]
    lo, hi = admitted(claim, scale)
    candidates = [(None, outcome.value, lo, hi)] if outcome.value is not None else []
    candidates += [(name, value, lo, hi) for name, value in outcome.alternatives]
    if outcome.value is not None:
        candidates += [(name, outcome.value, *admitted(claim, factor))
                       for name, factor in unit_alternatives]
    for convention, value, a, b in candidates:
        if _fits(value, outcome.span and convention is None, a, b):
            status = "holds" if convention is None else "convention"
            return Verdict(claim, status, outcome.value if outcome.value is not None else value,
                           convention or "", None,
                           _join(convention and f"holds if {convention}", outcome.detail,
                                 claim.notes))
    cut = truncated(claim, scale)
    if cut and outcome.value is not None and _truncates(outcome.value, outcome.span, *cut):
        return Verdict(claim, "holds", outcome.value, "", None,
                       _join(TRUNCATED, outcome.detail, claim.notes))
    computed = outcome.value if outcome.value is not None else outcome.alternatives[0][1]
    factor = _claimed_center(claim, scale) / _center(computed)
    level = "rounding-level difference" if abs(factor - 1) <= ROUNDING_LEVEL else ""
    return Verdict(claim, "off", computed, "", factor,
                   _join(f"computed {show(computed, claim.unit)}, claimed/computed = "
                         f"{factor:.3g}", level, claim.notes, outcome.detail))


def _measured(claim: Claim, outcome: Outcome) -> Verdict:
    """Judge the measured value as any computed one, then say so: "measured", whether it
    holds on what was measured, the GPU predictions judged the same way, and the run."""
    inner = judge(claim, replace(outcome, measured="", predicted=(), detail=""))
    holds = inner.status in ("holds", "convention")
    said = ("holds on what was measured" + (f" ({inner.convention})" if inner.convention
                                            else "") if holds else
            f"off on what was measured: measured {show(inner.computed, claim.unit)}, "
            f"claimed/measured = {inner.factor:.3g}")
    predictions = []
    for label, value in outcome.predicted:
        fits = judge(claim, Outcome(value=value)).status in ("holds", "convention")
        predictions.append(f"{label}: {show(value, claim.unit)}, where the claim "
                           f"{'would hold' if fits else 'would not hold'}")
    return Verdict(claim, "measured", inner.computed, inner.convention,
                   None if holds else inner.factor,
                   _join(said, outcome.detail, *predictions, outcome.measured, claim.notes))


def evaluate(claim: Claim) -> Verdict:
    try:
        outcome = REGISTRY[claim.evaluator](claim.arguments)
    except MissingConstructor as missing:
        outcome = Outcome(computable=False, reason=f"not computable yet: waits on {missing}")
    return judge(claim, outcome)


def check_claims(doc: str | None = None, statuses=None) -> list[Verdict]:
    """Every claim of the ledger (of ``doc``) judged, optionally only ``statuses``."""
    if statuses:
        unknown = sorted(set(statuses) - set(STATUSES))
        if unknown:
            raise ValueError(f"--verdict {unknown[0]!r} is not one of: {', '.join(STATUSES)}")
    out = [evaluate(c) for c in load(doc)]
    return [v for v in out if not statuses or v.status in statuses]


# ----- display ------------------------------------------------------------------------------
def show(value, unit: str) -> str:
    """A computed SI value in the claim's unit."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    scale = UNITS[unit][0]
    suffix = f" {unit}" if unit else ""
    if isinstance(value, tuple):
        return f"{fmt(_round(value[0] / scale))} to {fmt(_round(value[1] / scale))}{suffix}"
    return f"{fmt(_round(value / scale))}{suffix}"


def _round(x: float):
    return int(x) if float(x).is_integer() else float(f"{x:.4g}")


PREFIX = {"exact": "", "approx": "≈ ", "about": "about ", "power_of_ten": "≈ ",
          "at_least": "≥ ", "at_most": "≤ ", "more_than": "> ", "less_than": "< ", "big_o": ""}


def show_claimed(claim: Claim) -> str:
    c, suffix = claim.claimed, f" {claim.unit}" if claim.unit else ""
    if claim.written in ("range", "approx_range"):
        about = "≈ " if claim.written == "approx_range" else ""
        return f"{about}{fmt(c[0])} to {fmt(c[1])}{suffix}"
    if claim.written == "big_o":
        return c
    shown = f"{c:.3g}" if isinstance(c, float) and c < SMALL else fmt(c)
    return f"{PREFIX[claim.written]}{shown}{suffix}"
