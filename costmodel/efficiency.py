"""Reading efficiency tables: the shipped priors (``costmodel/data/priors.toml``) and a
calibrated profile's ``[efficiency]`` table (see :meth:`costmodel.roofline.Efficiency.from_table`
for the keys). Kept apart from the roofline arithmetic; the public names stay importable from
:mod:`costmodel.roofline`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


@lru_cache(maxsize=1)
def priors(cls):
    text = resources.files("costmodel").joinpath("data", "priors.toml").read_text()
    raw = tomllib.loads(text)
    return cls(
        compute_flops=tuple(raw["compute_efficiency"]["flops"]),
        compute_efficiency=tuple(raw["compute_efficiency"]["efficiency"]),
        memory_bytes=tuple(raw["memory_efficiency"]["bytes"]),
        memory_efficiency=tuple(raw["memory_efficiency"]["efficiency"]),
        kernel_latency_s=raw["latency"]["kernel_latency_s"],
        tile_m=raw["occupancy"]["tile_m"],
        tile_n=raw["occupancy"]["tile_n"],
        split_k_min_depth=raw["occupancy"]["split_k_min_depth"],
        hbm_saturation_sm_fraction=raw["occupancy"]["hbm_saturation_sm_fraction"],
        l2_usable_fraction=raw["cache"]["l2_usable_fraction"],
        l2_bandwidth_ratio=raw["cache"]["l2_bandwidth_ratio"],
        source="priors (costmodel/data/priors.toml)",
    )


_SCALARS = ("kernel_latency_s", "tile_m", "tile_n", "split_k_min_depth",
            "hbm_saturation_sm_fraction",
            "l2_usable_fraction", "l2_bandwidth_ratio", "latency_mode", "source")
_TABLES = ("work_scale", "pointwise_scale", "step_latency_s", "call_latency_s",
           "step_weight_passes", "call_weight_passes", "step_scale")
_LATENCY_MODES = ("max", "add")


def efficiency_from_table(cls, raw: Mapping, origin: str):
    def fail(field_name, problem):
        raise ValueError(f"{origin}: field 'efficiency.{field_name}': {problem}")

    known = {*_SCALARS, *_TABLES, "curves", "compute_flops", "compute_efficiency",
             "memory_bytes", "memory_efficiency"}
    for key in sorted(set(raw) - known):
        fail(key, f"unknown key; allowed: {', '.join(sorted(known))}")
    values = {k: raw[k] for k in _SCALARS if k in raw}
    if values.get("latency_mode", "max") not in _LATENCY_MODES:
        fail("latency_mode", f"{values['latency_mode']!r} is not one of {_LATENCY_MODES}")
    for xs, ys in (("compute_flops", "compute_efficiency"), ("memory_bytes", "memory_efficiency")):
        if xs in raw or ys in raw:
            values[xs], values[ys] = _checked_curve(raw.get(xs), raw.get(ys), xs, fail)
    curves = {}
    for key, table in dict(raw.get("curves", {})).items():
        if not isinstance(table, Mapping) or key.split(".")[0] not in ("compute", "memory"):
            fail(f"curves.{key}", "must be a table named compute.<kind> or memory.<kind>")
        curves[key] = _checked_curve(table.get("x"), table.get("efficiency"), f"curves.{key}", fail)
    tables = {}
    for name in _TABLES:
        table = dict(raw.get(name, {}))
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                fail(f"{name}.{key}", f"must be a non-negative number, got {value!r}")
        tables[name] = {k: float(v) for k, v in table.items()}
    values.setdefault("source", f"calibrated profile ({origin})")
    return cls(**values, curves=curves, **tables)


def _checked_curve(xs, ys, name, fail):
    if (not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
                   for v in xs + ys) or sorted(xs) != xs):
        fail(name, "needs two equally long lists of positive numbers, sizes ascending")
    return tuple(float(v) for v in xs), tuple(float(v) for v in ys)
