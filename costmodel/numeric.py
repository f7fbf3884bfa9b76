"""From expressions to numbers: runtime values (dtype, optimizer), exact substitution for
``Cost.evaluate`` and numpy compilation for ``Cost.vectorize``."""

from __future__ import annotations

import math
from typing import Callable

import sympy as sp

from costmodel import conventions
from costmodel import symbols as S


# ----- compiling to numpy -----------------------------------------------------------------
def compile_numpy(args, exprs) -> Callable:
    """``lambdify`` to numpy with a minimal namespace: sympy's default one imports and scans
    all of numpy on first use (0.13 s, most of a cold `costmodel compare`). No CSE: these
    expressions share little, and CSE made both compiling and evaluating slower here."""
    import functools

    import numpy as np
    from sympy.printing.numpy import NumPyPrinter

    namespace = {"numpy": np, "functools": functools}
    return sp.lambdify(args, exprs, modules=[namespace], printer=NumPyPrinter, cse=False)


# ----- runtime symbol values --------------------------------------------------------------
def _runtime_values(dtype, optimizer, values: dict) -> dict:
    """Keyword values for compiled functions: dtype and optimizer become ``s`` and ``k_opt``,
    ``n_src`` defaults to ``n``."""
    values = dict(values)
    values.setdefault("s", dtype_bytes_of(dtype))
    values.setdefault("k_opt", optimizer_states_of(optimizer))
    values.setdefault("n_src", values.get("n"))
    return values



def dtype_bytes_of(dtype) -> float | int:
    if isinstance(dtype, str):
        key = dtype.lower()
        if key not in conventions.DTYPE_BYTES:
            allowed = ", ".join(conventions.DTYPE_BYTES)
            raise ValueError(f"dtype={dtype!r} is not one of: {allowed} (or a number of bytes)")
        return conventions.DTYPE_BYTES[key]
    if isinstance(dtype, bool) or not isinstance(dtype, (int, float)) or not dtype > 0 \
            or not math.isfinite(dtype):
        raise ValueError(f"dtype={dtype!r} must be a dtype name or a positive number of bytes")
    return dtype


def optimizer_states_of(optimizer: str) -> int:
    key = str(optimizer).lower()
    if key not in conventions.OPTIMIZER_STATES:
        allowed = ", ".join(conventions.OPTIMIZER_STATES)
        raise ValueError(f"optimizer={optimizer!r} is not one of: {allowed}")
    return conventions.OPTIMIZER_STATES[key]


def runtime_mapping(record, n, batch, dtype, optimizer, n_src, sizes) -> dict:
    from costmodel.checks import check_size

    mapping = {
        S.batch: sp.Integer(check_size("batch", batch)),
        S.dtype_bytes: sp.nsimplify(dtype_bytes_of(dtype)),
        S.optimizer_states: sp.Integer(optimizer_states_of(optimizer)),
    }
    if n is not None:
        mapping[S.n] = sp.Integer(check_size("n", n))
    if n_src is not None or n is not None:
        mapping[S.n_src] = sp.Integer(check_size("n_src", n if n_src is None else n_src))
    by_name = {s.name: s for s in record.free_symbols}
    for key, value in sizes.items():
        if key not in by_name:
            known = sorted(set(by_name) - {"s", "k_opt"})
            raise ValueError(f"{key}={value!r} is not a symbol of this record; its symbols "
                             f"are {known}")
        mapping[by_name[key]] = sp.Integer(check_size(key, value))
    unbound = sorted(s.name for s in record.free_symbols if s not in mapping)
    if unbound:
        raise ValueError(f"evaluate needs values for {unbound}")
    return mapping
