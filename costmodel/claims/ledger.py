"""The claims ledger: every quantitative claim of the seed documents, as data.

One TOML file per document in ``costmodel/data/claims/`` (named after the document's stem)::

    doc = "000_c097fca48dd3337e.txt"     # the document's file name
    title = "..."

    [[claim]]
    id = "000-017"                       # <document number>-<running number>, unique
    line = 172                           # line of the document (1-based)
    quote = "Utilization: 256/6,912 = 3.7%"   # short, verbatim
    quantity = "utilization"             # one of QUANTITIES
    claimed = 3.7                        # number, [lo, hi], or a big-O string
    unit = "%"                           # one of UNITS ("" for a plain number)
    written = "exact"                    # one of WRITTEN: how the document wrote it
    evaluator = "step_utilization"       # a name in evaluators.REGISTRY
    params = { kind = "rnn", hidden_size = 256, input_size = 128, device = "a100" }
    inferred = { input_size = 128 }      # optional: values the text never states ...
    inferred_reason = "..."              # ... and why the numbers pin them down
    notes = "..."                        # optional: the cause of a discrepancy, context
    contradicts = ["000-018"]            # optional: claims this one cannot stand with
    measure = "..."                      # required for needs_measurement: the benchmark

Stated and inferred params are merged (a key may not be in both) when a claim is evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Mapping

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

QUANTITIES = ("params", "flops", "memory_bytes", "depth", "steps", "ratio", "speedup",
              "gradient_factor", "time", "utilization", "count", "length", "bandwidth",
              "throughput", "intensity", "big_o", "score", "cost", "rate", "dimension")
#: How a document wrote a value, and the interval of truth it admits (see verdicts.py):
#: exact = to the digits written (half a unit of the last significant digit; or the value
#: truncated to them, less than a unit further from zero);
#: approx (≈, ~) and about = within 10 %; power_of_ten = nearest power of ten
#: (within a factor sqrt(10)); range = inside [lo, hi] as written (approx_range: "about
#: 50-100", the ends widened 10 %); at_least / at_most and
#: more_than / less_than = one-sided; big_o = the same leading terms.
WRITTEN = ("exact", "approx", "about", "power_of_ten", "range", "approx_range", "at_least",
           "at_most",
           "more_than", "less_than", "big_o")
#: Unit -> (SI factor, alternatives as (convention, factor)). Decimal prefixes first, as
#: costmodel.conventions says (MB = 10**6 bytes); the binary and mixed readings are
#: conventions a verdict may name.
UNITS = MappingProxyType({
    "": (1, ()), "%": (0.01, ()), "x": (1, ()), "K": (1e3, ()), "M": (1e6, ()),
    "B": (1e9, ()),
    "bytes": (1, ()),
    "KB": (1e3, (("KiB: 1 KB = 1,024 bytes", 1024),)),
    "MB": (1e6, (("MiB: 1 MB = 2^20 bytes", 2 ** 20),
                 ("mixed: 1 MB = 1,000 KiB = 1,024,000 bytes", 1000 * 1024))),
    "GB": (1e9, (("GiB: 1 GB = 2^30 bytes", 2 ** 30),)),
    "TB/s": (1e12, ()), "GB/s": (1e9, ()),
    "FLOPs": (1, ()), "MFLOPs": (1e6, ()), "GFLOPs": (1e9, ()), "TFLOPS": (1e12, ()),
    "FLOPs/byte": (1, ()),
    "us": (1e-6, ()), "ms": (1e-3, ()), "s": (1, ()), "min": (60, ()), "h": (3600, ()),
    "days": (86400, ()), "fps": (1, ()), "$": (1, ()),
})
_REQUIRED = ("id", "line", "quote", "quantity", "claimed", "written", "evaluator")
_OPTIONAL = ("unit", "params", "inferred", "inferred_reason", "notes", "contradicts",
             "measure")
_PACKAGE_FOLDER = ("data", "claims")


@dataclass(frozen=True)
class Claim:
    id: str
    doc: str
    line: int
    quote: str
    quantity: str
    claimed: object  # float | int | tuple[lo, hi] | str
    written: str
    evaluator: str
    unit: str = ""
    params: Mapping = field(default_factory=dict)
    inferred: Mapping = field(default_factory=dict)
    inferred_reason: str = ""
    notes: str = ""
    contradicts: tuple[str, ...] = ()
    measure: str = ""

    @property
    def arguments(self) -> dict:
        """Stated and inferred params merged: what the evaluator receives."""
        return {**self.params, **self.inferred}


def _fail(origin: str, where: str, problem: str):
    raise ValueError(f"{origin}: {where}: {problem}")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_claimed(origin: str, cid: str, claimed, written: str):
    if written == "big_o":
        if not (isinstance(claimed, str) and claimed.startswith("O(")):
            _fail(origin, cid, f"claimed={claimed!r}: a big_o claim is a string 'O(...)'")
    elif written in ("range", "approx_range"):
        if not (isinstance(claimed, list) and len(claimed) == 2 and all(map(_number, claimed))
                and claimed[0] <= claimed[1]):
            _fail(origin, cid, f"claimed={claimed!r}: a range is [lo, hi] with lo <= hi")
    elif not _number(claimed):
        _fail(origin, cid, f"claimed={claimed!r}: written={written!r} needs a finite number")


def _claim(origin: str, doc: str, raw: Mapping) -> Claim:
    cid = str(raw.get("id", "?"))
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    missing = [k for k in _REQUIRED if k not in raw]
    if unknown or missing:
        _fail(origin, cid, f"unknown keys {unknown}, missing keys {missing}")
    for key in ("id", "quote", "quantity", "written", "evaluator", "unit", "notes",
                "inferred_reason", "measure"):
        if key in raw and not isinstance(raw[key], str):
            _fail(origin, cid, f"{key} must be a string")
    if not isinstance(raw["line"], int) or raw["line"] < 1:
        _fail(origin, cid, "line must be a positive integer")
    if raw["quantity"] not in QUANTITIES:
        _fail(origin, cid, f"quantity={raw['quantity']!r} is not one of {QUANTITIES}")
    if raw["written"] not in WRITTEN:
        _fail(origin, cid, f"written={raw['written']!r} is not one of {WRITTEN}")
    if raw.get("unit", "") not in UNITS:
        _fail(origin, cid, f"unit={raw.get('unit')!r} is not one of {list(UNITS)}")
    _check_claimed(origin, cid, raw["claimed"], raw["written"])
    params, inferred = raw.get("params", {}), raw.get("inferred", {})
    if not isinstance(params, dict) or not isinstance(inferred, dict):
        _fail(origin, cid, "params and inferred must be tables")
    if set(params) & set(inferred):
        _fail(origin, cid, f"keys both stated and inferred: {sorted(set(params) & set(inferred))}")
    if inferred and not raw.get("inferred_reason"):
        _fail(origin, cid, "inferred params need an inferred_reason")
    contradicts = raw.get("contradicts", [])
    if not isinstance(contradicts, list) or not all(isinstance(c, str) for c in contradicts):
        _fail(origin, cid, "contradicts must be a list of claim ids")
    claimed = tuple(raw["claimed"]) if isinstance(raw["claimed"], list) else raw["claimed"]
    return Claim(id=cid, doc=doc, line=raw["line"], quote=raw["quote"],
                 quantity=raw["quantity"], claimed=claimed, written=raw["written"],
                 evaluator=raw["evaluator"], unit=raw.get("unit", ""),
                 params=MappingProxyType(dict(params)),
                 inferred=MappingProxyType(dict(inferred)),
                 inferred_reason=raw.get("inferred_reason", ""), notes=raw.get("notes", ""),
                 contradicts=tuple(contradicts), measure=raw.get("measure", ""))


def parse(text: str, origin: str) -> tuple[Claim, ...]:
    """The claims of one ledger file; ValueError naming the file and claim on bad input."""
    data = tomllib.loads(text)
    doc = data.get("doc")
    if not isinstance(doc, str) or not doc:
        _fail(origin, "doc", "each ledger file names its document: doc = '<file name>'")
    prefix = doc.split("_", 1)[0]
    claims = tuple(_claim(origin, doc, raw) for raw in data.get("claim", []))
    for c in claims:
        if not c.id.startswith(prefix + "-"):
            _fail(origin, c.id, f"ids of {doc} start with '{prefix}-'")
    return claims


def check(claims: tuple[Claim, ...]) -> None:
    """Whole-ledger rules: unique ids, known evaluators, contradictions that exist,
    a ``measure`` on every claim that waits for a benchmark."""
    from costmodel.claims.evaluators import REGISTRY

    ids = [c.id for c in claims]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate claim ids: {duplicates}")
    known = set(ids)
    for c in claims:
        if c.evaluator not in REGISTRY:
            raise ValueError(f"{c.id}: evaluator {c.evaluator!r} is not in the registry")
        if set(c.contradicts) - known or c.id in c.contradicts:
            unknown = sorted(set(c.contradicts) - known)
            raise ValueError(f"{c.id}: contradicts unknown ids {unknown} (or itself)")
        if c.evaluator == "needs_measurement" and not c.measure:
            raise ValueError(f"{c.id}: a claim waiting for a benchmark names it in 'measure'")


def load(doc: str | None = None) -> tuple[Claim, ...]:
    """Every claim of the packaged ledger (of one document when ``doc`` is given: a file name,
    its stem, or its number prefix such as "002" or "2"), checked."""
    folder = resources.files("costmodel").joinpath(*_PACKAGE_FOLDER)
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".toml"))
    claims = tuple(c for f in files for c in parse(f.read_text(encoding="utf-8"), f.name))
    check(claims)
    if doc is None:
        return claims
    number = doc.strip().zfill(3) if doc.strip().isdigit() else None  # "2" -> "002"
    chosen = tuple(c for c in claims if doc in (c.doc, c.doc.rsplit(".", 1)[0],
                                                 c.doc.split("_", 1)[0])
                   or c.doc.split("_", 1)[0] == number)
    if not chosen:
        names = sorted({c.doc for c in claims})
        raise ValueError(f"--doc {doc!r} matches no document; documents: {', '.join(names)}")
    return chosen


def documents() -> list[str]:
    return sorted({c.doc for c in load()})
