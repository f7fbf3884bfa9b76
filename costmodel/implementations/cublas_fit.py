"""Fitting :mod:`costmodel.implementations.cublas`'s parameters to measured rows.

Each parameter minimises the mean absolute log error ``mean |log(predicted / measured)|``
(a ratio error: 2x too fast and 2x too slow weigh the same) over the training rows, by
coordinate search over a log-spaced grid (no optimiser dependency; the grids bound every value
to a physical range). Per architecture where the rows hold it; the cross-architecture set from
all rows pooled (the formulas normalise each row by its device's datasheet figures).

Rows (a pandas DataFrame): ``gpu``, ``family`` (gemm, bmm, linear: GEMM rows; else pointwise
with ``op_class``), ``dtype``, ``measured_s``; GEMM rows ``m, n, k, batch, weight_batch`` and
optionally ``floor_applies`` (0 where calls ran back to back, so no per-call floor: DeepBench;
default 1); pointwise rows ``elements``. ``hw`` maps a gpu name to its Hardware.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from costmodel.implementations import cublas, pointwise

GEMM_FAMILIES = ("gemm", "bmm", "linear")
GEMM_COLUMNS = ("m", "n", "k", "batch", "weight_batch", "floor_applies")
# search ranges: fractions of a datasheet rate lie in (0, 1]; floors of one timed op in 1-40 us
EFFICIENCY_GRID = np.geomspace(0.05, 1.0, 61)
# a pointwise class has one parameter, so its grid can be fine: steps of 0.6 % (the 5 % steps
# of EFFICIENCY_GRID alone left up to 2.5 % of error on rows that sit on bandwidth)
POINTWISE_EFFICIENCY_GRID = np.geomspace(0.05, 1.0, 481)
# a GEMM streams its operands at least at the rate copies reach (80-90 % of the datasheet
# bandwidth, performance notes); a lower fitted value would only absorb compute misfit
MEMORY_EFFICIENCY_GRID = np.geomspace(0.6, 1.0, 21)
L2_SPEEDUP_GRID = np.geomspace(1.0, 8.0, 19)
TILE_FACTOR_GRID = np.geomspace(0.4, 1.0, 19)
FLOOR_GRID_S = np.geomspace(1e-6, 40e-6, 41)
WAVE_OVERHEAD_GRID_S = np.concatenate([[0.0], np.geomspace(0.1e-6, 20e-6, 24)])
ROUNDS = 3  # coordinate-search sweeps (the loss settles after two)
# rows with fewer rows than NeuSight's smallest (64) come only from DeepBench's skinny shapes:
# the small-M kernel's efficiency is fitted on them
SKINNY_FIT_ROWS = 64
SKINNY_OFF = 1e-9  # a small-M kernel this slow is never the fastest: left out while fitting


def _loss(predicted, measured) -> float:
    return float(np.mean(np.abs(np.log(predicted / measured))))


def _search(evaluate: Callable[[dict], np.ndarray], measured, start: dict, grids: dict) -> dict:
    best = dict(start)
    for _ in range(ROUNDS):
        for key, grid in grids.items():
            losses = [_loss(evaluate({**best, key: v}), measured) for v in grid]
            best[key] = float(grid[int(np.argmin(losses))])
    return best


def _groups(rows: pd.DataFrame, hw_of, columns) -> list:
    """(row indices, Hardware, dtype, {column: array}) per GPU and dtype, built once per fit;
    a column the rows lack, or a row lacks, is one (``floor_applies``)."""
    def column(c, idx):
        return rows[c].fillna(1.0).to_numpy(dtype=float)[idx] if c in rows else np.ones(len(idx))
    return [(idx, hw_of(gpu), dtype, {c: column(c, idx) for c in columns})
            for (gpu, dtype), idx in rows.groupby(["gpu", "dtype"]).indices.items()]


def _gemm_predict(rows: pd.DataFrame, hw_of, p: dict, floor_s: float, groups=None):
    out = np.empty(len(rows))
    for idx, hw, dtype, r in groups or _groups(rows, hw_of, GEMM_COLUMNS):
        out[idx] = cublas.gemm_time_s(r["m"], r["n"], r["k"], r["batch"], hw, dtype, p,
                                      r["weight_batch"], floor_s * r["floor_applies"])
    return out


def _pointwise_groups(rows: pd.DataFrame, hw_of) -> list:
    """(row indices, Hardware, op class, bytes) per GPU, class and dtype: bytes do not depend
    on the parameters, so they are counted once per fit."""
    out = []
    for (gpu, op_class, dtype), idx in rows.groupby(["gpu", "op_class", "dtype"]).indices.items():
        nbytes = cublas.pointwise_bytes(rows.elements.iloc[idx], op_class, dtype,
                                        rows.width.iloc[idx] if "width" in rows else None,
                                        rows.moves.iloc[idx] if "moves" in rows else None)
        out.append((idx, hw_of(gpu), op_class, np.asarray(nbytes)))
    return out


def _pointwise_predict(rows: pd.DataFrame, hw_of, p: dict, floor_s: float, groups=None):
    out = np.empty(len(rows))
    for idx, hw, op_class, nbytes in groups or _pointwise_groups(rows, hw_of):
        out[idx] = cublas.pointwise_time_s(nbytes, op_class, hw, p, floor_s)
    return out


def fit_gemm(rows: pd.DataFrame, hw_of, floor_s: float,
             skinny_efficiency: float | None = None) -> dict:
    """gemm_efficiency, gemm_memory_efficiency, wave_overhead_s, l2_speedup and the tile
    factors from GEMM rows; ``skinny_efficiency`` (the small-M kernel) from the rows with fewer
    than SKINNY_FIT_ROWS rows where this set has them, then the rest refitted with it; else the
    given value (the cross set's, not written into this set), else the kernel left out."""
    few = _few_rows(rows)
    values = _fit_tiles(rows, hw_of, floor_s, skinny_efficiency or SKINNY_OFF)
    if not len(few):
        return values
    skinny = _fit_skinny(few, hw_of, floor_s, values)
    return {**_fit_tiles(rows, hw_of, floor_s, skinny), "skinny_efficiency": skinny}


def _few_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with fewer than SKINNY_FIT_ROWS rows; only those run on a current cuBLAS
    (``current_cublas``) where the rows hold any."""
    few = rows[rows.m < SKINNY_FIT_ROWS]
    if "current_cublas" in few:
        current = few.current_cublas.fillna(False).astype(bool)
        few = few[current] if current.any() else few
    return few.reset_index(drop=True)


def _fit_tiles(rows: pd.DataFrame, hw_of, floor_s: float, skinny_efficiency: float) -> dict:
    start = {"gemm_efficiency": 0.8, "gemm_memory_efficiency": 0.8, "wave_overhead_s": 0.0,
             "l2_speedup": 1.0, "t1": 1.0, "t2": 1.0}
    groups = _groups(rows, hw_of, GEMM_COLUMNS)

    def evaluate(values):
        p = {**values, "tile_factor": [1.0, values["t1"], values["t2"]],
             "skinny_efficiency": skinny_efficiency}
        return _gemm_predict(rows, hw_of, p, floor_s, groups)

    grids = {"gemm_efficiency": EFFICIENCY_GRID, "gemm_memory_efficiency": MEMORY_EFFICIENCY_GRID,
             "t1": TILE_FACTOR_GRID, "t2": TILE_FACTOR_GRID, "wave_overhead_s": WAVE_OVERHEAD_GRID_S,
             "l2_speedup": L2_SPEEDUP_GRID}
    best = _search(evaluate, rows.measured_s.to_numpy(), start, grids)
    return {"gemm_efficiency": best["gemm_efficiency"],
            "gemm_memory_efficiency": best["gemm_memory_efficiency"],
            "wave_overhead_s": best["wave_overhead_s"], "l2_speedup": best["l2_speedup"],
            "tile_factor": [1.0, best["t1"], best["t2"]]}


def _fit_skinny(few: pd.DataFrame, hw_of, floor_s: float, values: dict) -> float:
    """The small-M kernel's fraction of the tile rate, the other values held."""
    groups = _groups(few, hw_of, GEMM_COLUMNS)

    def evaluate(v):
        return _gemm_predict(few, hw_of, {**values, "skinny_efficiency": v["s"]}, floor_s,
                             groups)

    return _search(evaluate, few.measured_s.to_numpy(), {"s": 0.5},
                   {"s": EFFICIENCY_GRID})["s"]


def fit_floor(rows: pd.DataFrame, hw_of) -> float:
    """The floor of one timed op, jointly with rough pointwise efficiencies (all classes one)."""
    classes = sorted(rows.op_class.unique())

    groups = _pointwise_groups(rows, hw_of)

    def evaluate(values):
        p = {"pointwise_efficiency": {c: values["eff"] for c in classes}}
        return _pointwise_predict(rows, hw_of, p, values["floor_s"], groups)

    best = _search(evaluate, rows.measured_s.to_numpy(), {"eff": 0.8, "floor_s": 5e-6},
                   {"eff": EFFICIENCY_GRID, "floor_s": FLOOR_GRID_S})
    return best["floor_s"]


def fit_pointwise(rows: pd.DataFrame, hw_of, floor_s: float) -> dict:
    """An achieved fraction of bandwidth per op class."""
    out = {}
    for op_class, sub in rows.groupby("op_class"):
        sub = sub.reset_index(drop=True)
        groups = _pointwise_groups(sub, hw_of)

        def evaluate(values, sub=sub, op_class=op_class, groups=groups):
            return _pointwise_predict(sub, hw_of, {"pointwise_efficiency": {op_class:
                                                                            values["e"]}},
                                      floor_s, groups)

        out[op_class] = _search(evaluate, sub.measured_s.to_numpy(), {"e": 0.8},
                                {"e": POINTWISE_EFFICIENCY_GRID})["e"]
    return out


def fit(rows: pd.DataFrame, hw_of) -> dict:
    """Cross-architecture and per-architecture parameters, each with the rows it came from."""
    gemm = rows[rows.family.isin(GEMM_FAMILIES)].reset_index(drop=True)
    point = rows[~rows.family.isin(GEMM_FAMILIES)].reset_index(drop=True)
    floor_s = fit_floor(point, hw_of) if len(point) else 0.0

    def one(gemm_rows, point_rows, skinny=None):
        out = {"floor_s": floor_s}
        if len(gemm_rows):
            out.update(fit_gemm(gemm_rows, hw_of, floor_s, skinny))
        if len(point_rows):
            out["pointwise_efficiency"] = fit_pointwise(point_rows, hw_of, floor_s)
        out["rows"] = _described(pd.concat([gemm_rows, point_rows]))
        return out

    def architecture(frame):
        return frame.gpu.map(lambda g: hw_of(g).architecture)

    cross = one(gemm, point)
    if len(gemm) and "skinny_efficiency" not in cross:
        raise ValueError(f"rows: no GEMM with m < {SKINNY_FIT_ROWS} rows (DeepBench's skinny "
                         "shapes): the small-M kernel's skinny_efficiency cannot be fitted")
    arch = {name: one(gemm[architecture(gemm) == name].reset_index(drop=True),
                      point[architecture(point) == name].reset_index(drop=True),
                      cross.get("skinny_efficiency"))
            for name in sorted(set(architecture(rows)))}
    for name, values in arch.items():
        families = set(memory_family(point[architecture(point) == name], hw_of))
        if len(families) == 1:  # its pointwise fractions hold for this memory family only
            values["memory_family"] = families.pop()
    return {"cross": cross, "architecture": arch,
            "memory": fit_memory(point, hw_of, floor_s)}


def memory_family(rows: pd.DataFrame, hw_of) -> pd.Series:
    """Each row's device memory family ("HBM", "GDDR"; "" where the device gives none)."""
    return rows.gpu.map(lambda g: hw_of(g).memory_family)


def fit_memory(point: pd.DataFrame, hw_of, floor_s: float) -> dict:
    """Fractions of the streaming classes per memory family: what a held-out GPU of an
    architecture with no training rows inherits (see pointwise.STREAMING_CLASSES)."""
    if not len(point):
        return {}
    point = point[point.op_class.isin(pointwise.STREAMING_CLASSES)]
    family = memory_family(point, hw_of)
    out = {}
    for name in sorted(set(family) - {""}):
        sub = point[family == name].reset_index(drop=True)
        out[name] = {"pointwise_efficiency": fit_pointwise(sub, hw_of, floor_s),
                     "rows": _described(sub)}
    return out


def _described(rows: pd.DataFrame) -> list[str]:
    """``"<source> <gpu> <family>: <count> rows"`` per group: the rows a value came from."""
    counts = rows.groupby(["source", "gpu", "family"]).size()
    return [f"{s} {g} {f}: {n} rows" for (s, g, f), n in counts.items()]
