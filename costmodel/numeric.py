"""From expressions to numbers: runtime values (dtype, optimizer), exact substitution for
``Cost.evaluate`` and numpy compilation for ``Cost.vectorize``."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

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
    ``n_src`` and ``n_ctx`` default to ``n``."""
    _refuse_runtime_keywords(values)
    values = dict(values)
    values.setdefault("s", dtype_bytes_of(dtype))
    values.setdefault("k_opt", optimizer_states_of(optimizer))
    values.setdefault("n_src", values.get("n"))
    values.setdefault("n_ctx", values.get("n"))
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


#: runtime symbols set through their own keyword, never by name
_SET_BY = {"s": "dtype", "k_opt": "optimizer"}


def _refuse_runtime_keywords(values) -> None:
    for key, keyword in _SET_BY.items():
        if key in values:
            raise ValueError(f"{key}={values[key]!r}: set it with {keyword}=, not by its "
                             f"symbol name")


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
    if n is not None:  # a KV cache's context: n unless given by name (sizes, below)
        mapping[S.n_ctx] = mapping[S.n]
    _refuse_runtime_keywords(sizes)
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


# ----- checked, overflow-safe evaluation on arrays ----------------------------------------
#: float64 holds every integer below 2**53 exactly; a count at or above it is recomputed.
FLOAT_EXACT_BOUND = 2 ** 53
#: An int64 result is trusted below 2**62 (half of int64's range, a margin for rounding in the
#: float64 cross-check); at or above it the count is recomputed with Python integers.
INT64_TRUST_BOUND = 2 ** 62
#: Relative gap between the int64 and float64 evaluations above which the int64 one wrapped.
AGREE_RTOL = 1e-9


def checked_array(symbol: sp.Symbol, value):
    """``value`` as a numpy array of valid values for ``symbol``: integer sizes must be
    integers >= 1 (>= 0 for non-negative counts), like :func:`costmodel.checks.check_size`;
    other symbols (bytes per element) finite positive numbers. Errors name the argument."""
    import numpy as np

    name = symbol.name
    try:
        array = np.asarray(value)
    except (OverflowError, ValueError, TypeError) as err:  # ragged lists, odd objects
        raise ValueError(f"{name}={value!r} must be an array of numbers ({err})") from None
    minimum = 1 if symbol.is_positive else 0
    if symbol.is_integer:
        kind = array.dtype.kind
        if kind == "O":
            bad = [v for v in array.flat if isinstance(v, bool) or not isinstance(v, int)]
        elif kind in "iu":
            bad = []
        else:
            bad = [v.item() for v in array.flat[:1]] if array.size else []
        if bad:
            raise ValueError(f"{name}={bad[0]!r} must be an integer >= {minimum}, got "
                             f"{type(bad[0]).__name__ if kind == 'O' else array.dtype}")
    elif array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise ValueError(f"{name}={value!r} must be finite positive numbers")
    too_small = (array < minimum) if symbol.is_integer else (array <= 0)
    if np.any(too_small):
        low = array.ravel()[int(np.argmax(np.ravel(too_small)))]
        low = low.item() if hasattr(low, "item") else low
        relation = f"an integer >= {minimum}" if symbol.is_integer else "a positive number"
        raise ValueError(f"{name}={low} must be {relation}")
    return array


def float_arguments(symbols, values) -> list:
    """Checked float64 arrays for ``symbols`` (no integer wrap-around: for time estimates)."""

    arrays = [checked_array(s, values[s.name]) for s in symbols]
    try:
        return [a.astype(float) for a in arrays]
    except OverflowError:
        big = next(s.name for s, a in zip(symbols, arrays) if a.dtype.kind == "O")
        raise ValueError(f"{big}: a size above 1e308 does not fit a float64") from None


class _ExactPrinter(PythonCodePrinter):
    """Python source with exact rationals: ``Fraction(1, 3)`` instead of ``1/3``."""

    def _print_Rational(self, expr):
        return f"Fraction({expr.p}, {expr.q})"

    _print_Half = _print_Rational


def _exact_number(value):
    """A Fraction result as an int when whole (exact counts), else a float."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


class Vectorized:
    """``quantities`` of ``exprs`` in ``symbols`` on numpy arrays, never wrapping around.

    The fast path evaluates in int64 (and in float64 as a check). Elements where the int64
    result wrapped, or reached :data:`INT64_TRUST_BOUND` (or, for results that are floats,
    :data:`FLOAT_EXACT_BOUND`), are recomputed with Python integers and fractions; those
    quantities come back as object arrays of exact ``int`` values.
    """

    def __init__(self, symbols, exprs, quantities, what: str = "vectorize"):
        self.symbols, self.exprs, self.quantities, self.what = symbols, exprs, quantities, what
        self.fast = compile_numpy(symbols, exprs)
        self._exact = None

    def exact(self, *args):
        if self._exact is None:
            namespace = {"Fraction": Fraction, "math": math}
            self._exact = sp.lambdify(self.symbols, self.exprs, modules=[namespace],
                                      printer=_ExactPrinter, cse=False)
        python = [Fraction(a) if isinstance(a, float) else int(a) for a in args]
        return [_exact_number(v) for v in self._exact(*python)]

    def __call__(self, values: dict) -> dict:
        import numpy as np

        missing = [s.name for s in self.symbols if values.get(s.name) is None]
        if missing:
            raise ValueError(f"{self.what} needs values for {missing}")
        arrays = [checked_array(s, values[s.name]) for s in self.symbols]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        with np.errstate(all="ignore"):
            try:
                approx = self.fast(*[a.astype(float) for a in arrays])
            except OverflowError:  # a Python int above 1e308
                approx = [np.full(shape, np.inf)] * len(self.exprs)
            huge = any(a.dtype.kind == "O" for a in arrays)
            try:
                fast = approx if huge else self.fast(*arrays)
            except OverflowError:  # a constant past int64 (a record built with d = 2**53)
                fast, huge = approx, True
        results = [np.broadcast_to(r, shape) for r in fast]
        checks = [np.broadcast_to(np.asarray(f, dtype=float), shape) for f in approx]
        bad = [~_trusted(r, f) | huge for r, f in zip(results, checks)]
        if any(b.any() for b in bad):
            results = self._patched(results, bad, arrays, shape)
        return dict(zip(self.quantities, results))

    def _patched(self, results, bad, arrays, shape) -> list:
        """``results`` with the elements flagged in ``bad`` recomputed exactly."""
        import numpy as np

        union = np.logical_or.reduce([b.ravel() for b in bad])
        where = np.flatnonzero(union)
        flat = [np.broadcast_to(a, shape).ravel() for a in arrays]
        exact = [self.exact(*(a[i] for a in flat)) for i in where]
        out = []
        for k, (result, flags) in enumerate(zip(results, bad)):
            if not flags.any():
                out.append(result)
                continue
            column = result.astype(object).ravel()
            column[where] = [row[k] for row in exact]
            out.append(column.reshape(shape))
        return out


def _trusted(result, check):
    """Elements where the fast result is exact: finite, below the bound of its dtype, and
    equal to the float64 evaluation (an int64 wrap-around differs by about 2**64)."""
    import numpy as np

    bound = INT64_TRUST_BOUND if result.dtype.kind in "iu" else FLOAT_EXACT_BOUND
    as_float = result.astype(float)
    return (np.isfinite(check) & (np.abs(check) < bound)
            & (np.abs(as_float - check) <= AGREE_RTOL * np.abs(check)))
