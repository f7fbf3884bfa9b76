"""Argument checks shared by every constructor: errors name the argument and what is allowed."""

from __future__ import annotations

import math
import numbers

import sympy as sp

from costmodel.symbols import RESERVED_NAMES, size_symbol


def check_size(name: str, value, *, minimum: int = 1):
    """A positive integer size, a sympy expression, or a string naming a size symbol.

    Returns an ``int`` or a sympy expression. Rejects bools, floats (PyTorch's modules take
    ints), NaN, infinities, zero and negatives with a ``ValueError`` naming ``name``.
    """
    if isinstance(value, str):
        if not value.isidentifier():
            raise ValueError(f"{name}={value!r} must be a positive integer or a symbol name")
        if value in RESERVED_NAMES:
            raise ValueError(f"{name}={value!r} is a reserved symbol name (a runtime value); "
                             f"use another name, e.g. 'd'. Reserved: {', '.join(RESERVED_NAMES)}")
        return size_symbol(value)
    if isinstance(value, sp.Basic):
        if value.is_number:
            if not (value.is_integer and value >= minimum):
                raise ValueError(f"{name}={value} must be an integer >= {minimum}")
            return int(value)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not math.isfinite(value):
            raise ValueError(f"{name}={value} must be a finite positive integer")
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}, "
                         f"got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}={value} must be an integer >= {minimum}")
    return int(value)


def check_choice(name: str, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of: {', '.join(map(str, allowed))}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True or False")
    return value


def check_probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name}={value!r} must be a number in [0, 1]")
    return float(value)


def is_known(value) -> bool:
    """True when a size is a plain number (so comparisons such as PyTorch's rules can run)."""
    return isinstance(value, int)
