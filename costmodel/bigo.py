"""Readable asymptotics: the leading terms of a cost expression and its big-O."""

from __future__ import annotations

import sympy as sp

from costmodel import symbols as S


def leading_terms(expr: sp.Expr) -> sp.Expr:
    """The monomials of highest total degree in the sizes, coefficients dropped.

    ``8*batch*n*d**2 + 4*batch*n**2*d + 7*n*d`` -> ``batch*n*d**2 + batch*n**2*d``; floors
    and ceilings count as their argument; ``s`` and ``k_opt`` (dtype, optimizer) are dropped.
    """
    expr = sp.sympify(expr).replace(sp.floor, lambda a: a).replace(sp.ceiling, lambda a: a)
    expr = expr.replace(sp.Min, lambda *a: sp.Integer(1))  # 0/1 switches such as Min(b-1, 1)
    expr = sp.expand(expr.xreplace({S.dtype_bytes: 1, S.optimizer_states: 1}))
    gens = sorted(expr.free_symbols, key=lambda g: g.name)
    if not gens:
        return sp.Integer(1)
    monomials = {}
    for term in sp.Add.make_args(expr):
        powers = term.as_powers_dict()
        mono = sp.Mul(*[g ** powers.get(g, 0) for g in gens])
        monomials[mono] = sum(sp.degree(mono, g) for g in gens)
    top = max(monomials.values())
    return sp.Add(*[m for m, degree in monomials.items() if degree == top])


def big_o(expr: sp.Expr) -> str:
    """``O(...)`` of :func:`leading_terms`, for display."""
    return f"O({leading_terms(expr)})"
