"""One kind of kernel launch on a record's critical path (:class:`Kernel`), what a kernel is
read from its name (``own_name``, ``is_step``, ``is_step_gemm``), and the flat layout of the
kernels' fields that :meth:`costmodel.cost.Cost.kernel_values` compiles and turns back into
rows. :mod:`costmodel.cost` re-exports every name here (``costmodel.cost.Kernel``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping

import sympy as sp


@dataclass(frozen=True)
class Kernel:
    """One kind of kernel on the critical path.

    ``flops`` and ``bytes`` are per launch; ``count`` is how many times it runs one after
    another on the critical path; ``concurrent`` how many independent copies run side by side
    each time (e.g. the two directions of a bidirectional layer). Kinds: ``gemm`` (cuBLAS),
    ``rnn_gemm`` and ``conv`` (cuDNN), ``attention``, ``elementwise``, ``reduction``,
    ``gather``. ``shape`` is a GEMM's (m, n, k) when known: the roofline uses it for the
    waves/occupancy term; an optional 4th entry counts GEMMs batched inside one launch (a bmm
    over batch x heads), which only cuBLAS's model on a GPU prices (the generic roofline
    ignores a batched shape). ``resident_bytes`` are bytes re-read on every launch that can stay
    in L2 between launches (a recurrence's weights).
    """

    name: str
    kind: str  # gemm, conv, attention, elementwise, reduction, gather
    phase: str  # forward or backward
    flops: sp.Expr
    bytes: sp.Expr
    count: sp.Expr = sp.Integer(1)
    concurrent: sp.Expr = sp.Integer(1)
    shape: tuple | None = None
    resident_bytes: sp.Expr = sp.Integer(0)

    def xreplace(self, mapping: Mapping) -> "Kernel":
        return dataclasses.replace(
            self,
            flops=_x(self.flops, mapping),
            bytes=_x(self.bytes, mapping),
            count=_x(self.count, mapping),
            concurrent=_x(self.concurrent, mapping),
            shape=None if self.shape is None else tuple(_x(v, mapping) for v in self.shape),
            resident_bytes=_x(self.resident_bytes, mapping),
        )


def own_name(name: str) -> str:
    """A kernel's own name, without the prefixes composition adds (``Sequential`` and
    ``CRNN`` name a part's kernels ``<part>.<kernel>``): ``gru.layer0.step_gemm`` ->
    ``step_gemm``. What a kernel is (a recurrent step, its GEMM) is read from this name."""
    return name.rsplit(".", 1)[-1]


def is_step(name: str) -> bool:
    """A kernel of a recurrence's dependent step (``step_gemm``, ``step_pointwise`` and their
    backward), wherever composition put it."""
    return own_name(name).startswith("step_")


def is_step_gemm(name: str) -> bool:
    """A recurrence's step GEMM (``step_gemm`` or ``step_gemm_backward``), prefixed or not."""
    return own_name(name).startswith("step_gemm")


def _x(expr, mapping):
    return sp.sympify(expr).xreplace(mapping) if mapping else sp.sympify(expr)


def kernel_exprs(kernels: Iterable[Kernel]) -> tuple[list, list[sp.Expr]]:
    """(layout, exprs): every kernel's flops, bytes, count, concurrent, resident_bytes and
    shape entries in one flat list, and ``(kernel, how many entries)`` per kernel."""
    exprs, layout = [], []
    for k in kernels:
        fields = [k.flops, k.bytes, k.count, k.concurrent, k.resident_bytes]
        fields += list(k.shape) if k.shape is not None else []
        layout.append((k, len(fields)))
        exprs += [sp.sympify(f) for f in fields]
    return layout, exprs


def kernel_rows(layout: list, flat) -> list[dict]:
    """One row per kernel from the flat values of :func:`kernel_exprs`' ``exprs``."""
    import numpy as np

    rows, i = [], 0
    for kernel, width in layout:
        chunk = [np.asarray(v, dtype=float) for v in flat[i:i + width]]
        i += width
        rows.append({"name": kernel.name, "kind": kernel.kind, "phase": kernel.phase,
                     "flops": chunk[0], "bytes": chunk[1], "count": chunk[2],
                     "concurrent": chunk[3], "resident_bytes": chunk[4],
                     "shape": tuple(chunk[5:]) if width > 5 else None})
    return rows
