"""Readable asymptotics: the leading terms of a cost expression and its big-O."""

from __future__ import annotations

import sympy as sp

from costmodel import symbols as S


def leading_terms(expr: sp.Expr) -> sp.Expr:
    """The terms no other term outgrows, coefficients dropped: the multivariate big-O.

    A monomial is dropped when another has at least its power of every size (``n*d`` goes
    when ``batch*n*d**2`` is there); what is left cannot be ordered without knowing how the
    sizes compare: ``8*batch*n*d**2 + 4*batch*n**2*d + 7*n*d`` -> ``batch*n*d**2 +
    batch*n**2*d``. Logarithms of a size count (``n*log(n)`` outgrows ``n``, ``log(n)``
    outgrows 1: an FFT's n log2(2n), a parallel scan's 2 log2 n steps), below any power of
    it. Floors and ceilings count as their argument, ``Min`` switches as 1; ``s`` and
    ``k_opt`` (dtype, optimizer) are dropped.
    """
    expr = sp.sympify(expr).replace(sp.floor, lambda a: a).replace(sp.ceiling, lambda a: a)
    expr = expr.replace(sp.Min, lambda *a: sp.Integer(1))  # 0/1 switches such as Min(b-1, 1)
    expr = sp.expand(sp.expand_log(expr.xreplace({S.dtype_bytes: 1, S.optimizer_states: 1}),
                                   force=True))
    gens = sorted(expr.free_symbols, key=lambda g: g.name)
    if not gens:
        return sp.Integer(1)
    powers = set()
    for term in sp.Add.make_args(expr):
        exps = term.as_powers_dict()
        # per size: (its power, the power of its logarithm), ordered lexicographically
        powers.add(tuple((exps.get(g, 0), exps.get(sp.log(g), 0)) for g in gens))

    def outgrown(p):
        return any(q != p and all(a <= b for a, b in zip(p, q)) for q in powers)

    kept = [p for p in powers if not outgrown(p)]
    return sp.Add(*[sp.Mul(*[g ** e * sp.log(g) ** l for g, (e, l) in zip(gens, p)])
                    for p in kept])


def big_o(expr: sp.Expr) -> str:
    """``O(...)`` of :func:`leading_terms`, for display."""
    return f"O({leading_terms(expr)})"
