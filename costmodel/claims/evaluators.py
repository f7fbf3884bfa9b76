"""The registry of named claim evaluators and the record they return.

An evaluator is a plain function ``f(params) -> Outcome`` registered under a name with
:func:`evaluator`. A ledger entry names one; its ``params`` (stated and inferred, merged) are
the only input. Nothing from the ledger is ever evaluated as code: a name is looked up in
:data:`REGISTRY`, a model name in a fixed table of constructors (``evaluators_models``).

Values are SI: bytes, seconds, FLOPs, FLOP/s, plain ratios (a percentage is a fraction).
The families live in ``evaluators_arithmetic``, ``evaluators_models`` and
``evaluators_devices``; importing this module registers them all.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Mapping

#: An evaluator's result. ``value`` is a number, an interval ``(lo, hi)`` or a big-O string.
#: An interval is an *uncertainty* (the truth is one point inside, e.g. an unstated batch
#: size) unless ``span`` is set: then every value in it is claimed (a claimed "1-3 us" per
#: step from "1-5 % of peak"). ``alternatives`` are the values under other named conventions
#: (MAC vs FLOP, one bias vector, a GPU variant); ``value=None`` with alternatives means only
#: the named conventions apply. ``computable=False`` carries the ``reason`` (and any bound).
#: ``measured`` makes the verdict "measured" (see ``verdicts.judge``).


@dataclass(frozen=True)
class Outcome:
    value: object = None
    detail: str = ""
    alternatives: tuple[tuple[str, object], ...] = ()
    span: bool = False
    computable: bool = True
    reason: str = ""
    #: A measured value (``evaluators_measured``): what ran where and when. ``predicted``:
    #: (label, value) roofline predictions for the GPU a claim names, never measurements.
    measured: str = ""
    predicted: tuple[tuple[str, object], ...] = ()


class MissingConstructor(RuntimeError):
    """A costmodel constructor an evaluator needs is not available (yet)."""


REGISTRY: dict[str, Callable[[Mapping], Outcome]] = {}

NEEDS_BENCHMARK = "not computable yet: needs the validation benchmarks (issue 4)"


def evaluator(name: str):
    """Register ``f`` under ``name`` (each name once)."""
    def register(f: Callable[[Mapping], Outcome]):
        if name in REGISTRY:
            raise ValueError(f"evaluator {name!r} registered twice")
        REGISTRY[name] = f
        return f
    return register


def not_computable(reason: str, detail: str = "") -> Outcome:
    return Outcome(computable=False, reason=reason, detail=detail)


def need(params: Mapping, *keys: str) -> list:
    """The values of ``keys``; a ValueError naming the missing ones."""
    missing = [k for k in keys if k not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {missing}")
    return [params[k] for k in keys]


#: Integer-valued floats from here up print in exponent form (1e+12, not 1,000,000,000,000).
LARGE = 1e9


def fmt(x) -> str:
    """A number for detail texts: integers exact with separators, floats to 4 digits."""
    if isinstance(x, tuple):
        return f"{fmt(x[0])} to {fmt(x[1])}"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < LARGE):
        return f"{int(x):,}"
    return f"{x:.4g}"


# ----- evaluators that compute nothing: the reason is the result ----------------------------
@evaluator("needs_measurement")
def needs_measurement(params: Mapping) -> Outcome:
    """A time, utilization or speedup: only real runs can say. ``bound`` (optional) is what
    the formulas do say, written in the ledger with its arithmetic."""
    bound = params.get("bound", "")
    return not_computable(NEEDS_BENCHMARK + (f"; formula bound: {bound}" if bound else ""))


@evaluator("literature")
def literature(params: Mapping) -> Outcome:
    source = params.get("source", "the cited work")
    return not_computable(f"literature result ({source}): an accuracy, score or reported "
                          "figure, not a cost costmodel derives")


@evaluator("judgement")
def judgement(params: Mapping) -> Outcome:
    return not_computable("a judgement or estimate, not a quantity the formulas determine")


@evaluator("hypothetical")
def hypothetical(params: Mapping) -> Outcome:
    return not_computable("an illustrative (hypothetical) number, labelled so by the document")


for _module in ("evaluators_arithmetic", "evaluators_models", "evaluators_attention",
                "evaluators_devices", "evaluators_measured"):
    importlib.import_module(f"costmodel.claims.{_module}")
