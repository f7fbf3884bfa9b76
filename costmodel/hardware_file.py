"""Checking one hardware file (the schema of :mod:`costmodel.hardware`'s docstring): every
figure a positive number with its provenance in shipped files, bare numbers allowed in a user's
file; one ``ValueError`` naming the file, the field and the problem. Split out of
``hardware.py`` (the catalogue, names and peaks stay there)."""

from __future__ import annotations

import datetime as dt
import functools
import math
from types import MappingProxyType
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from costmodel.hardware import (
    _FIGURE_KEYS, _PROFILE_KEYS, _PROVENANCE_KEYS, _TOP_KEYS, _UNSUPPORTED_KEYS, ARCHITECTURES,
    CONFIDENCE, DTYPES, FIGURES, MEMORY_TECHNOLOGIES, OPTIONAL_FIGURES, PEAK_KEYS, PRINTED,
    Hardware, Provenance, normalize_name)


#: rates checked against MIN_RATE: below a million per second no device of this century
#: runs, and far below it the times overflow to infinity (a peak of 1e-300 FLOP/s)
RATE_FIELDS = ("peak_flops_per_s", "hbm_bytes_per_s")
MIN_RATE = 1e6


def _fail(origin: str, field: str, problem: str):
    raise ValueError(f"{origin}: field '{field}': {problem}")


def _number(origin: str, field: str, raw: Any, integer: bool = False):
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        _fail(origin, field, f"must be a number, got {type(raw).__name__} {raw!r}")
    if not math.isfinite(raw) or raw <= 0:
        _fail(origin, field, f"must be a positive finite number, got {raw!r}")
    if integer and raw != int(raw):
        _fail(origin, field, f"must be a whole number, got {raw!r}")
    if field.startswith(RATE_FIELDS) and raw < MIN_RATE:
        _fail(origin, field, f"{raw!r} per second is below {MIN_RATE:.0e}: a unit error? "
                             "(FLOP/s and bytes/s, e.g. 19.5e12 and 1.555e12)")
    return int(raw) if integer else float(raw)


def _text(origin: str, field: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        _fail(origin, field, f"must be a non-empty string, got {raw!r}")
    return raw


def _provenance(origin: str, field: str, raw: dict, strict: bool, peak: bool) -> Provenance:
    missing = [k for k in _PROVENANCE_KEYS if k not in raw]
    if strict and missing:
        _fail(origin, field, f"missing provenance {missing} (shipped files need all of "
                             f"{list(_PROVENANCE_KEYS)})")
    text = {k: _text(origin, f"{field}.{k}", raw[k])
            for k in ("quote", "source", "confidence", "derivation", "printed") if k in raw}
    read = raw.get("read")  # TOML parses `read = 2026-11-22` as a date
    if read is not None and (type(read) is not dt.date):
        _fail(origin, f"{field}.read", f"must be a TOML date such as 2026-11-22, got {read!r}")
    for key, allowed in (("confidence", tuple(CONFIDENCE)), ("printed", PRINTED)):
        if key in text and text[key] not in allowed:
            _fail(origin, f"{field}.{key}", f"{text[key]!r} is not one of {', '.join(allowed)}")
    if "printed" in text and not peak:
        _fail(origin, f"{field}.printed", "applies only to peak_flops_per_s entries")
    if strict and peak and "printed" not in text:
        _fail(origin, f"{field}.printed", f"missing; say whether the quote was {PRINTED}")
    derived = text.get("confidence") == "d" or text.get("printed") == "sparse"
    if derived and "derivation" not in text:
        _fail(origin, f"{field}.derivation", "required when confidence is 'd' or printed is "
                                             "'sparse': show how the value follows")
    return Provenance(read=read, **text)


def _technology(origin: str, field: str, raw: Any) -> str:
    if not isinstance(raw, str) or raw not in MEMORY_TECHNOLOGIES:
        _fail(origin, field, f"{raw!r} is not one of {', '.join(MEMORY_TECHNOLOGIES)}")
    return raw


def _figure(origin: str, field: str, raw: Any, strict: bool, peak: bool = False, check=None):
    """(value, Provenance | None) from a figure table, or from a bare value in a user file;
    ``check(origin, field, raw)`` validates the value (default: a positive number)."""
    check = check or functools.partial(_number, integer=field == "sm_count")
    if not isinstance(raw, dict):
        if strict:
            _fail(origin, field, "must be a table with value and provenance "
                                 f"({', '.join(_PROVENANCE_KEYS)})")
        return check(origin, field, raw), None
    unknown = sorted(set(raw) - _FIGURE_KEYS)
    if unknown:
        _fail(origin, field, f"unknown key(s) {unknown}; allowed: {sorted(_FIGURE_KEYS)}")
    if "value" not in raw:
        _fail(origin, field, "missing 'value'")
    value = check(origin, f"{field}.value", raw["value"])
    return value, _provenance(origin, field, raw, strict, peak)


def _peaks(origin: str, raw: Any, strict: bool):
    field = "peak_flops_per_s"
    if not isinstance(raw, dict):
        _fail(origin, field, "must be a table of dtype entries, e.g. [peak_flops_per_s.fp16]")
    unknown = sorted(set(raw) - set(PEAK_KEYS))
    if unknown:
        _fail(origin, f"{field}.{unknown[0]}", f"unknown dtype key; allowed: {', '.join(PEAK_KEYS)}")
    missing = [k for k in DTYPES if k not in raw]
    if strict and missing:
        _fail(origin, field, f"missing {missing}: give a figure or `supported = false` + reason")
    peaks, unsupported, provenance = {}, {}, {}
    for key in PEAK_KEYS:
        entry, name = raw.get(key), f"{field}.{key}"
        if isinstance(entry, dict) and "supported" in entry:
            extra = sorted(set(entry) - _UNSUPPORTED_KEYS)
            if entry["supported"] is not False or extra:
                _fail(origin, name, "an unsupported entry is `supported = false` with a reason"
                                    + (f"; unexpected {extra}" if extra else ""))
            unsupported[key] = _text(origin, f"{name}.reason", entry.get("reason"))
        elif entry is not None:
            peaks[key], prov = _figure(origin, name, entry, strict, peak=True)
            if prov is not None:
                provenance[name] = prov
    if not peaks:
        _fail(origin, field, "gives no supported peak")
    return peaks, unsupported, provenance


def parse(text: str, origin: str, strict: bool) -> Hardware:
    """The :class:`Hardware` of one file's ``text``; ``strict``: a shipped file's rules."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{origin}: not valid TOML: {err}") from None
    unknown = sorted(set(data) - _TOP_KEYS - (set() if strict else set(_PROFILE_KEYS)))
    if unknown:
        _fail(origin, unknown[0], f"unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
    required = ("name", "short_names", "vendor", "architecture", "memory_technology", *FIGURES,
                "peak_flops_per_s") if strict else (
        "name", "hbm_bytes_per_s", "peak_flops_per_s")
    for key in required:
        if key not in data:
            _fail(origin, key, "missing (required)")
    shorts = data.get("short_names", [])
    if not isinstance(shorts, list):
        _fail(origin, "short_names", f"must be a list of strings, got {shorts!r}")
    for short in shorts:
        if _text(origin, "short_names", short) != normalize_name(short):
            _fail(origin, "short_names", f"{short!r} must be written as {normalize_name(short)!r}")
    figures, provenance = {}, {}
    for key in (*FIGURES, *OPTIONAL_FIGURES):
        if key in data:
            figures[key], prov = _figure(origin, key, data[key], strict)
            if prov is not None:
                provenance[key] = prov
    peaks, unsupported, peak_provenance = _peaks(origin, data["peak_flops_per_s"], strict)
    architecture = data.get("architecture", "")
    if architecture and architecture not in ARCHITECTURES:
        _fail(origin, "architecture", f"{architecture!r} is not one of {', '.join(ARCHITECTURES)}")
    memory = ""
    if "memory_technology" in data:
        memory, prov = _figure(origin, "memory_technology", data["memory_technology"], strict,
                               check=_technology)
        if prov is not None:
            provenance["memory_technology"] = prov
    for key in _PROFILE_KEYS:
        if key in data and not isinstance(data[key], dict):
            _fail(origin, key, f"must be a table, e.g. [{key}]")
    return Hardware(
        name=_text(origin, "name", data["name"]), short_names=tuple(shorts),
        vendor=_text(origin, "vendor", data.get("vendor", "unknown")),
        notes=_text(origin, "notes", data["notes"]) if "notes" in data else "",
        architecture=_text(origin, "architecture", architecture) if architecture else "",
        memory_technology=memory,
        memory_bytes=figures.get("memory_bytes"), hbm_bytes_per_s=figures["hbm_bytes_per_s"],
        sm_count=figures.get("sm_count"), l2_bytes=figures.get("l2_bytes"),
        boost_clock_hz=figures.get("boost_clock_hz"),
        sustained_clock_hz=figures.get("sustained_clock_hz"), peaks=MappingProxyType(peaks),
        unsupported=MappingProxyType(unsupported),
        provenance=MappingProxyType({**provenance, **peak_provenance}), origin=origin,
        efficiency=MappingProxyType(data["efficiency"]) if "efficiency" in data else None,
        calibration=MappingProxyType(data["calibration"]) if "calibration" in data else None,
        host=_host(origin, data["host"]) if "host" in data else None)


def _host(origin: str, table: dict):
    from costmodel.implementations.host_issue import HostCosts

    return HostCosts.from_table(table, origin)
