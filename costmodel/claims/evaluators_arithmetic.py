"""Arithmetic evaluators: a document's own sums, products, ratios, powers and underflow points.

An arithmetic claim is checked on the inputs the document itself states (its "4.8 GFLOPs",
its "0.006"); each such input is a claim of its own, checked against the model elsewhere in
the ledger. So a wrong model number is reported once, where it is stated, and the arithmetic
built on it is reported as arithmetic. Inputs may be ranges ``[lo, hi]``: the result is then
the span of values the document's range implies (interval arithmetic).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from costmodel.claims.evaluators import Outcome, evaluator, fmt, need

#: numpy's float types for the dtype names the documents use.
_FLOAT_TYPES = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64}


def _iv(x) -> tuple[float, float]:
    if isinstance(x, (list, tuple)):
        lo, hi = x
        return float(lo), float(hi)
    return float(x), float(x)


def _result(lo: float, hi: float, detail: str, params: Mapping) -> Outcome:
    """A number, or an interval: a span of claimed values, or with ``uncertain`` set (the
    document's ranges bound one unknown value, e.g. a ratio of two utilizations) an
    uncertainty interval."""
    if math.isclose(lo, hi, rel_tol=1e-12):
        return Outcome(value=lo, detail=detail)
    return Outcome(value=(min(lo, hi), max(lo, hi)), span=not params.get("uncertain"),
                   detail=detail)


def _show(x) -> str:
    return f"[{fmt(x[0])}, {fmt(x[1])}]" if isinstance(x, (list, tuple)) else fmt(x)


@evaluator("product")
def product(params: Mapping) -> Outcome:
    (factors,) = need(params, "factors")
    lo = hi = 1.0
    for f in factors:
        a, b = _iv(f)
        corners = (lo * a, lo * b, hi * a, hi * b)
        lo, hi = min(corners), max(corners)
    return _result(lo, hi, " x ".join(_show(f) for f in factors) + f" = {fmt(lo)}"
                   + ("" if lo == hi else f" to {fmt(hi)}"), params)


@evaluator("quotient")
def quotient(params: Mapping) -> Outcome:
    num, den = need(params, "numerator", "denominator")
    (a, b), (c, d) = _iv(num), _iv(den)
    lo, hi = a / d, b / c
    return _result(lo, hi, f"{_show(num)} / {_show(den)} = {fmt(lo)}"
                   + ("" if lo == hi else f" to {fmt(hi)}"), params)


@evaluator("sum")
def total(params: Mapping) -> Outcome:
    (terms,) = need(params, "terms")
    lo = sum(_iv(t)[0] for t in terms)
    hi = sum(_iv(t)[1] for t in terms)
    return _result(lo, hi, " + ".join(_show(t) for t in terms) + f" = {fmt(lo)}"
                   + ("" if lo == hi else f" to {fmt(hi)}"), params)


@evaluator("difference")
def difference(params: Mapping) -> Outcome:
    a, b = need(params, "minuend", "subtrahend")
    return Outcome(value=a - b, detail=f"{fmt(a)} - {fmt(b)} = {fmt(a - b)}")


@evaluator("relative_change")
def relative_change(params: Mapping) -> Outcome:
    """``new / old - 1``: an "improvement of x %"."""
    old, new = need(params, "old", "new")
    value = new / old - 1
    return Outcome(value=value, detail=f"{fmt(new)} / {fmt(old)} - 1 = {value:.4f}")


@evaluator("relative_reduction")
def relative_reduction(params: Mapping) -> Outcome:
    """``1 - new / old``: an "error reduction of x %"."""
    old, new = need(params, "old", "new")
    value = 1 - new / old
    return Outcome(value=value, detail=f"1 - {fmt(new)} / {fmt(old)} = {value:.4f}")


@evaluator("midpoint")
def midpoint(params: Mapping) -> Outcome:
    (lo, hi), = need(params, "range")
    return Outcome(value=(lo + hi) / 2, detail=f"({fmt(lo)} + {fmt(hi)}) / 2")


@evaluator("stated_count")
def stated_count(params: Mapping) -> Outcome:
    """A count made outside the library and recorded with how (e.g. a document's words)."""
    value, how = need(params, "value", "how")
    return Outcome(value=value, detail=how)


@evaluator("gradient_factor")
def gradient_factor(params: Mapping) -> Outcome:
    """``(norm * derivative) ** steps``: the BPTT product of per-step Jacobian norms."""
    norm, steps = need(params, "norm", "steps")
    derivative = params.get("derivative", 1)
    per_step = norm * derivative
    value = per_step ** steps
    shown = fmt(norm) if derivative == 1 else f"({fmt(norm)} x {fmt(derivative)})"
    return Outcome(value=value, detail=f"{shown}^{steps} = {value:.4g} "
                   f"(log10 = {steps * math.log10(per_step):.2f})")


@evaluator("smallest_float")
def smallest_float(params: Mapping) -> Outcome:
    """The smallest positive normal of ``dtype`` (IEEE 754: 2^(1 - bias)); the smallest
    subnormal is the alternative."""
    (dtype,) = need(params, "dtype")
    info = np.finfo(_FLOAT_TYPES[dtype])
    tiny, sub = float(info.tiny), float(info.smallest_subnormal)
    return Outcome(value=tiny, detail=f"{dtype} smallest normal {tiny:.4g}, "
                   f"smallest subnormal {sub:.4g}",
                   alternatives=((f"{dtype} smallest subnormal", sub),))


def _first_step_below(per_step: float, log_bound: float, inclusive: bool = False) -> int:
    """The smallest t with per_step ** t < bound (<= when ``inclusive``), 0 < per_step < 1,
    in logarithms so that fp64's 2^-1075 does not underflow the bound itself."""
    log_p = math.log(per_step)
    t = max(1, math.floor(log_bound / log_p) - 1)
    while not (t * log_p < log_bound or (inclusive and math.isclose(t * log_p, log_bound))):
        t += 1
    return t


@evaluator("underflow_steps")
def underflow_steps(params: Mapping) -> Outcome:
    """Steps until ``per_step ** t`` leaves ``dtype``'s range.

    ``below``: "zero" (IEEE with subnormals, as PyTorch runs by default: the value rounds to 0
    below half the smallest subnormal), "normal" (flush-to-zero: below the smallest normal),
    or a number the document states (its "10^-38"). The other readings are alternatives.
    """
    per_step, dtype = need(params, "per_step", "dtype")
    below = params.get("below", "zero")
    info = np.finfo(_FLOAT_TYPES[dtype])
    sub, tiny = float(info.smallest_subnormal), float(info.tiny)
    # round-to-nearest-even sends x <= sub / 2 to exactly 0
    bounds = {"zero": math.log(sub) - math.log(2), "normal": math.log(tiny)}
    names = {"zero": f"{dtype} with subnormals: exactly 0 at or below {sub:.3g} / 2",
             "normal": f"flush-to-zero: below the {dtype} smallest normal {tiny:.3g}"}
    if not isinstance(below, str):
        bounds["stated"], names["stated"] = math.log(below), f"below the stated {below:.3g}"
        below = "stated"
    steps = {k: _first_step_below(per_step, b, inclusive=k == "zero") for k, b in bounds.items()}
    detail = "; ".join(f"{names[k]}: t = {steps[k]}" for k in steps)
    alternatives = tuple((names[k], steps[k]) for k in steps if k != below)
    return Outcome(value=steps[below], detail=f"{fmt(per_step)}^t; {detail}",
                   alternatives=alternatives)
