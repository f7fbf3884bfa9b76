"""The memory figure: training-step memory vs n of each recurrence (linear in n) and of the
Transformer with math attention (the n^2 scores saved) and with a fused kernel (linear); marked:
where math attention's n^2 term passes its n term, where it overtakes the first recurrence and
where each curve crosses the device's memory, all solved exactly from the formulas.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from costmodel import symbols as S
from costmodel.compare import DEFAULT_MODELS, RECURRENT, TRAINING_MEMORY, Setup, build
from costmodel.plots import (GIB, X_AXES, _figure, _finish, _footnote, _hardware,
                             assumption_note, style)

ADAM_STATES = 2  # Adam keeps two moments per parameter
MATH = "transformer (math attention)"
#: The attention record that every fused kernel (flash, memory-efficient, cuDNN) maps onto.
FUSED = "flash"


def memory_record(d: int, gpu="a100", *, model: str, attention: str = "auto", **options):
    """The training record of ``model`` as it runs on ``gpu``, and its checked setup."""
    from costmodel.implementations.sdpa import resolve

    setup = Setup(n=1, d=d, attention=attention, models=(model,), **options).checked()
    return resolve(build(setup, model), _hardware(gpu), setup.dtype, "training")[0], setup


def training_memory_expr(record, setup: Setup) -> sp.Expr:
    """Bytes of one training step (:data:`TRAINING_MEMORY` summed), a polynomial in n."""
    from costmodel.numeric import dtype_bytes_of

    fixed = {S.batch: setup.batch, S.dtype_bytes: sp.nsimplify(dtype_bytes_of(setup.dtype)),
             S.optimizer_states: ADAM_STATES, S.n_src: S.n}
    return sp.expand(sum(record.get(q) for q in TRAINING_MEMORY).xreplace(fixed))


def training_memory(n, record, setup: Setup) -> np.ndarray:
    """Bytes of one training step at each n (the record's compiled formulas): the curve."""
    values = record.vectorize(TRAINING_MEMORY)(n=np.asarray(n), batch=setup.batch,
                                               dtype=setup.dtype)
    return sum(np.asarray(values[q], dtype=float) for q in TRAINING_MEMORY)


def first_n_above(a, b) -> int | None:
    """The smallest whole n >= 1 where expression ``b`` reaches ``a`` (compare's exact solve
    of a == b), or None when they never meet. A difference that is not a polynomial in n
    (AST's patch count floor(n/10 - 8/5), a Min(1, n - 1)) is bisected exactly on the
    integers: memory does not fall as n grows, so b - a changes sign once."""
    from costmodel.compare import _symbolic_crossover
    from costmodel.decode import first_true

    a, b = sp.sympify(a), sp.sympify(b)
    if (a - b).is_polynomial(S.n):
        return _symbolic_crossover(a, b, {})
    found = first_true(lambda n: bool(b.xreplace({S.n: n}) >= a.xreplace({S.n: n})))
    return int(found) if found is not None else None


def quadratic_knee(expr) -> int | None:
    """The smallest whole n where the n^2 term of ``expr`` reaches its n term (the documents'
    O(n^2) vs O(n d) crossover), None when it has no n^2 term."""
    poly = sp.Poly(expr, S.n)
    quad, lin = poly.coeff_monomial(S.n**2), poly.coeff_monomial(S.n)
    return int(sp.ceiling(lin / quad)) if quad else None


def at(expr, n_value: int) -> float:
    return float(expr.xreplace({S.n: n_value}))


def fused_kernel(d: int, gpu="a100", **options) -> str:
    """The name of the fused curve: the kernel PyTorch's SDPA runs for a training step on
    ``gpu`` (flash, memory-efficient or cudnn: each is the fused record, the same memory), or
    "fused" where it runs math there (the fused curve is then what it would save)."""
    from costmodel.implementations.sdpa import RECORD_OF, resolve

    setup = Setup(n=1, d=d, models=("transformer",), **options).checked()
    kernel = resolve(build(setup, "transformer"), _hardware(gpu), setup.dtype,
                     "training")[1].kernel
    return kernel if RECORD_OF[kernel] == FUSED else "fused"


def _curves(ax, n, d, hw, models, options) -> dict:
    """Draw one curve per model (two for the Transformer: math, and fused named by the kernel
    PyTorch runs); their expressions by label."""
    exprs = {}
    for name in models:
        for kernel in (("math", FUSED) if name == "transformer" else ("auto",)):
            shown = fused_kernel(d, hw, **options) if kernel == FUSED else kernel
            label = name if name != "transformer" else f"transformer ({shown} attention)"
            record, setup = memory_record(d, hw, model=name, attention=kernel, **options)
            exprs[label] = training_memory_expr(record, setup)
            ax.plot(n, training_memory(n, record, setup) / GIB, label=label, **style(name),
                    linestyle="--" if kernel == FUSED else "-")
    return exprs


def _marks(exprs: dict, models, hw) -> list[tuple]:
    """(n, bytes, label, marker) of every crossing worth marking."""
    marks = []
    if hw.memory_bytes:
        for label, expr in exprs.items():
            full = first_n_above(int(hw.memory_bytes), expr)
            name = label.replace(" attention)", ")")  # transformer (math), lstm
            marks.append((full, hw.memory_bytes, f"{name} stops fitting at n = {full:,}"
                          if full else "", "x"))
    rec = next((m for m in models if m in RECURRENT), None)
    if MATH in exprs:
        star = first_n_above(exprs[rec], exprs[MATH]) if rec else None
        if star:
            marks.append((star, at(exprs[MATH], star),
                          f"math attention overtakes {rec} at n = {star:,}", "o"))
        knee = quadratic_knee(exprs[MATH])
        if knee:
            marks.append((knee, at(exprs[MATH], knee), "math attention: its n^2 term passes "
                          f"its n term at n = {knee:,}", "o"))
    return [m for m in marks if m[0]]


def plot_memory(n, d: int, gpu="a100", *, models=DEFAULT_MODELS, **options):
    """The memory figure (see the module) for sequence lengths ``n`` at width ``d``."""
    hw, n = _hardware(gpu), np.asarray(list(n), dtype=np.int64)
    if not n.size:
        raise ValueError("n: give at least one sequence length")
    options.pop("attention", None)  # the figure draws both kernels
    fig, ax = _figure()
    exprs = _curves(ax, n, d, hw, models, options)
    if hw.memory_bytes:
        ax.axhline(hw.memory_bytes / GIB, color="black", linewidth=1,
                   label=f"{hw.name} memory ({hw.memory_bytes / GIB:.0f} GiB)")
    for x, y, text, marker in _marks(exprs, models, hw):
        if n[0] <= x <= n[-1]:
            ax.plot([x], [y / GIB], marker, color="red", markersize=8, linestyle="none",
                    label=text)
    setup = Setup(n=int(n[0]), d=d, models=tuple(models), **options).checked()
    _finish(ax, f"Training-step memory vs n (d={d}, batch={setup.batch}, {setup.dtype}) "
                f"on {hw.name}", X_AXES["n"], "memory of one training step (GiB)")
    _footnote(fig, [assumption_note(setup, hw),
                    "memory = weights + gradients + Adam states + activations saved for "
                    f"backward (exact formulas); dashed: {_fused_words(d, hw, options)}, its "
                    "memory linear in n; crossings solved exactly in n"])
    return fig


def _fused_words(d: int, hw, options) -> str:
    """The footnote's words for the dashed curve, naming the kernel its legend names."""
    kernel = fused_kernel(d, hw, **options)
    if kernel == "fused":
        return ("a fused attention kernel (flash, memory-efficient or cuDNN: the same saved "
                "memory), which PyTorch does not run here in training (it runs math)")
    return (f"{kernel} attention, the fused kernel PyTorch runs here in training (flash, "
            "memory-efficient and cuDNN save the same)")
