"""Reading the shipped published measurements (``costmodel/data/reference/*.json``) with
errors that name the file, the row and the field, and the leave-one-GPU-out loop the source
modules of this package share (the registry's ``score.py`` runs the same protocol)."""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Callable

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware
from costmodel.numeric import dtype_bytes_of

FOLDER = ("data", "reference")
PROVENANCE_COLUMNS = ("repo", "commit", "path_or_url")


def files(prefix: str) -> list:
    """The shipped files whose names start with ``prefix``, sorted by name."""
    folder = resources.files("costmodel").joinpath(*FOLDER)
    return sorted((e for e in folder.iterdir() if e.name.startswith(prefix)
                   and e.name.endswith(".json")), key=lambda e: e.name)


def origin_of(entry) -> str:
    return "costmodel/" + "/".join((*FOLDER, entry.name))


def read_json(entry) -> dict:
    try:
        return json.loads(entry.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{origin_of(entry)}: not valid JSON: {err}") from None


def table(entry, required: tuple[str, ...]) -> tuple[dict, list[dict]]:
    """(provenance, rows as dicts) of a compact file; each required column checked per row."""
    data = read_json(entry)
    origin = origin_of(entry)
    for key in ("provenance", "columns", "rows"):
        if key not in data:
            raise ValueError(f"{origin}: field '{key}': missing (required)")
    columns = data["columns"]
    for name in required:
        if name not in columns:
            raise ValueError(f"{origin}: field 'columns': no '{name}' column")
    out = []
    for i, raw in enumerate(data["rows"]):
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError(f"{origin}: row {i}: field 'rows': expected {len(columns)} "
                             f"values, got {raw!r}")
        out.append(dict(zip(columns, raw)))
    return data["provenance"], out


def load(file: str, required: tuple[str, ...]) -> tuple[str, dict, list[dict]]:
    """(origin, provenance, rows) of the shipped ``costmodel/data/reference/<file>``."""
    entry = resources.files("costmodel").joinpath("data", "reference", file)
    return (origin_of(entry), *table(entry, required))


def number(origin: str, i: int, row: dict, field: str, positive: bool = True) -> float:
    """A finite number (positive unless told otherwise), or ValueError naming file/row/field."""
    value = row.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (value <= 0 if positive else value < 0):
        raise ValueError(f"{origin}: row {i}: field '{field}': must be a "
                         f"{'positive' if positive else 'non-negative'} number, got {value!r}")
    return float(value)


def choice(origin: str, i: int, row: dict, field: str, allowed) -> str:
    """``row[field]`` when it is one of ``allowed``, or ValueError naming file/row/field."""
    value = row.get(field)
    if value not in allowed:
        raise ValueError(f"{origin}: row {i}: field '{field}': {value!r} is not one of "
                         f"{', '.join(allowed)}")
    return value


def gpu_name(origin: str, device: str) -> str:
    """The catalogue's name of ``device`` (its first short name), or ValueError."""
    try:
        return load_hardware(device.replace("_", " ")).short_names[0]
    except ValueError as err:
        raise ValueError(f"{origin}: field 'device': {err}") from None


def leave_one_gpu_out(rows: pd.DataFrame, fit: Callable, predict: Callable) -> np.ndarray:
    """predicted[gpu == g] = predict(rows[gpu == g], fit(rows[gpu != g])) for every g."""
    return leave_one_out(rows, rows.gpu, fit, predict)


def leave_one_out(rows: pd.DataFrame, groups, fit: Callable, predict: Callable) -> np.ndarray:
    """predicted[groups == g] = predict(those rows, fit(every other group's rows)) for every
    g of ``groups`` (one key per row: a GPU, a shape, a source, an op family)."""
    keys = np.asarray([str(key) for key in groups])  # tuples (a shape) compare as text
    out = np.full(len(rows), np.nan)
    for key in sorted(set(keys)):
        held = keys == key
        params = fit(rows[~held].reset_index(drop=True))
        out[held] = predict(rows[held].reset_index(drop=True), params)
    return out


def summary(rows: pd.DataFrame, predicted, by=("gpu", "family")) -> pd.DataFrame:
    """Median, p90 and worst absolute relative error per group (fractions), and the count."""
    err = np.abs(np.asarray(predicted) / rows.measured_s.to_numpy() - 1.0)
    frame = rows.assign(error=err)
    grouped = frame.groupby(list(by)).error
    return pd.DataFrame({"rows": grouped.size(), "median": grouped.median(),
                         "p90": grouped.quantile(0.9), "worst": grouped.max()})


def _roofline_kernel(op: dict, dtype: str) -> dict:
    """One op as a kernel record of :func:`costmodel.roofline.kernel_time` (per copy)."""
    from costmodel.implementations import cublas

    if op["kind"] == "gemm":  # a bmm is ``batch`` concurrent copies of one GEMM
        m, n, k, b, w = (float(op[x]) for x in ("m", "n", "k", "batch", "weight_batch"))
        return {"name": "gemm", "kind": "gemm", "phase": "forward", "count": 1,
                "concurrent": b, "shape": (m, n, k), "resident_bytes": 0,
                "flops": cublas.MATMUL_FLOPS_PER_MAC * m * n * k,
                "bytes": dtype_bytes_of(dtype) * ((m * k + m * n) + w / b * k * n)}
    nbytes = float(cublas.pointwise_bytes(op["elements"], op["op_class"], dtype,
                                          op.get("width"), op.get("moves")))
    return {"name": "pointwise", "kind": "elementwise", "phase": "forward", "count": 1,
            "concurrent": 1, "shape": None, "resident_bytes": 0, "flops": 0.0,
            "bytes": nbytes}


def baseline(frame: pd.DataFrame, eff, ops_per_row) -> np.ndarray:
    """Seconds per row by the generic roofline with ``eff`` (``Efficiency.ideal()``: the
    datasheet roofline; ``Efficiency.priors()``: the old priors), no cuBLAS parameters; each
    row's ops (dicts as the source modules build them) summed."""
    from costmodel.roofline import kernel_time

    out = []
    for gpu, dtype, ops in zip(frame.gpu, frame.dtype, ops_per_row):
        hw = load_hardware(gpu)
        out.append(sum(float(kernel_time(_roofline_kernel(op, dtype), hw, eff, dtype, False,
                                         True)["lower_s"]) for op in ops))
    return np.asarray(out)


def fitted_toml(data: dict, prefix: str = "") -> str:
    """A nested dict of numbers, strings and lists as TOML (plain keys before tables)."""
    def value(v) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(float(v)) if isinstance(v, float) else repr(v)

    plain = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    lines = ([f"[{prefix}]"] if prefix and plain else []) + plain
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", fitted_toml(v, f"{prefix}.{k}" if prefix else k)]
    return "\n".join(lines).strip("\n") + ("" if prefix else "\n")


def predict_ops(frame: pd.DataFrame, params: dict, op_seconds: Callable) -> np.ndarray:
    """Per row: the sum of ``op_seconds(op, hw, p)`` over the row's ``ops`` on its GPU, with
    ``p`` that GPU's architecture's share of ``params`` (a source whose rows are op lists)."""
    from costmodel.implementations import cublas

    out = []
    for gpu, ops in zip(frame.gpu, frame["ops"]):
        hw = load_hardware(gpu)
        p = cublas.params_for(params, hw)
        out.append(sum(op_seconds(op, hw, p) for op in ops))
    return np.asarray(out)
