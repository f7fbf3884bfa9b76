"""The immutable cost record every constructor returns (:mod:`costmodel.compose` puts records
together).

A :class:`Cost` holds sympy expressions in the runtime symbols of :mod:`costmodel.symbols`
(``n``, ``batch``, ``s`` = bytes per element, ``k_opt`` = optimizer states per parameter,
``n_src``) and in any size symbols the user passed. ``evaluate`` turns it into numbers,
``vectorize`` into a numpy function, ``latex`` and ``big_o`` into text, ``breakdown`` into a
per-part table. Its kernels are :class:`costmodel.kernel.Kernel` records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Mapping

import sympy as sp

from costmodel import symbols as S
from costmodel.bigo import big_o, leading_terms
# The kernel record, its name helpers and its fields' flat layout live in their own module;
# names kept importable from here (costmodel.cost.Kernel, own_name, is_step, is_step_gemm)
from costmodel.kernel import (  # noqa: F401
    Kernel, _x, is_step, is_step_gemm, kernel_exprs, kernel_rows, own_name)
from costmodel.numeric import (Vectorized, _runtime_values, compile_numpy, float_arguments,
                               runtime_mapping)

#: Stored fields that add up when records are put in series.
ADDITIVE = (
    "params",
    "matmul_flops",
    "elementwise_flops",
    "matmul_flops_backward",
    "elementwise_flops_backward",
    "bytes",
    "activation_bytes",
    "state_bytes",
)
#: Stored expression fields that do not simply add.
EXTRA = ("depth_forward", "depth_backward", "out_len", "saved_input_bytes", "saved_output_bytes")
#: Every quantity a record reports, stored or derived, in output order.
FIELDS = (
    "params",
    "matmul_flops",
    "elementwise_flops",
    "flops",
    "matmul_flops_backward",
    "elementwise_flops_backward",
    "flops_backward",
    "flops_training",
    "bytes",
    "activation_bytes",
    "weight_bytes",
    "gradient_bytes",
    "optimizer_bytes",
    "state_bytes",
    "depth_forward",
    "depth_backward",
)


def _sum(values: Iterable) -> sp.Expr:
    return sp.Add(*[sp.sympify(v) for v in values])


@dataclass(frozen=True)
class Cost:
    """Costs of one module on an input of ``batch`` sequences of length ``n``.

    Stored fields are sympy expressions. Derived ones (``flops``, ``flops_backward``,
    ``flops_training``, ``weight_bytes``, ``gradient_bytes``, ``optimizer_bytes``) are
    properties. ``out_len`` is the output sequence length as a function of ``n`` (pooling and
    strided convolutions shorten it); ``parts`` break the totals down.
    """

    name: str
    params: sp.Expr = sp.Integer(0)
    matmul_flops: sp.Expr = sp.Integer(0)
    elementwise_flops: sp.Expr = sp.Integer(0)
    matmul_flops_backward: sp.Expr = sp.Integer(0)
    elementwise_flops_backward: sp.Expr = sp.Integer(0)
    bytes: sp.Expr = sp.Integer(0)
    activation_bytes: sp.Expr = sp.Integer(0)
    state_bytes: sp.Expr = sp.Integer(0)
    depth_forward: sp.Expr = sp.Integer(0)
    depth_backward: sp.Expr = sp.Integer(0)
    out_len: sp.Expr = S.n
    #: The part of ``activation_bytes`` that is this module's input (output) tensor itself.
    #: ``Sequential`` uses them to count a tensor saved by two neighbours once, as autograd
    #: does (a ReLU saves its output, the next Linear the same tensor as its input).
    saved_input_bytes: sp.Expr = sp.Integer(0)
    saved_output_bytes: sp.Expr = sp.Integer(0)
    kernels: tuple[Kernel, ...] = ()
    parts: tuple["Cost", ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)
    #: Values per position of a sequence the module reads and writes (Linear's features, a
    #: convolution's channels (times height in 2-D), an RNN's input size and directions x
    #: hidden); ``Sequential`` checks neighbours agree. ``None``: no single width.
    in_features: sp.Expr | None = None
    out_features: sp.Expr | None = None
    #: What autograd adds when this record's input requires grad, for a record built as a
    #: model's first layer (``input_requires_grad=False``): the input-gradient FLOPs, bytes,
    #: saved tensors and kernels. ``None`` when nothing changes. ``Sequential`` adds it to
    #: every module behind a trainable one (:func:`costmodel.compose.with_input_grad`).
    input_grad_cost: "Cost | None" = None

    def __post_init__(self):
        for name in ADDITIVE + EXTRA:
            object.__setattr__(self, name, sp.sympify(getattr(self, name)))
        for name in ("in_features", "out_features"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, sp.sympify(getattr(self, name)))

    # ----- derived quantities -------------------------------------------------------------
    @property
    def flops(self) -> sp.Expr:
        """Forward FLOPs: matmul + elementwise."""
        return self.matmul_flops + self.elementwise_flops

    @property
    def flops_backward(self) -> sp.Expr:
        return self.matmul_flops_backward + self.elementwise_flops_backward

    @property
    def flops_training(self) -> sp.Expr:
        """One training step's FLOPs: forward plus backward (the optimizer update excluded)."""
        return self.flops + self.flops_backward

    @property
    def weight_bytes(self) -> sp.Expr:
        return self.params * S.dtype_bytes

    @property
    def gradient_bytes(self) -> sp.Expr:
        """One gradient per parameter, in the weights' dtype."""
        return self.params * S.dtype_bytes

    @property
    def optimizer_bytes(self) -> sp.Expr:
        """``k_opt`` state tensors per parameter (see ``conventions.OPTIMIZER_STATES``)."""
        return self.params * S.optimizer_states * S.dtype_bytes

    def get(self, quantity: str) -> sp.Expr:
        """The expression of one quantity by name; a clear error for an unknown name."""
        if quantity not in FIELDS:
            raise ValueError(f"quantity={quantity!r} is not one of: {', '.join(FIELDS)}")
        return sp.sympify(getattr(self, quantity))

    # ----- transformation -----------------------------------------------------------------
    def xreplace(self, mapping: Mapping) -> "Cost":
        """A copy with symbols replaced everywhere (fields, kernels and parts)."""
        changes = {k: _x(getattr(self, k), mapping) for k in ADDITIVE}
        changes.update({k: _x(getattr(self, k), mapping) for k in EXTRA})
        changes["kernels"] = tuple(k.xreplace(mapping) for k in self.kernels)
        changes["parts"] = tuple(p.xreplace(mapping) for p in self.parts)
        for name in ("in_features", "out_features", "input_grad_cost"):
            value = getattr(self, name)
            changes[name] = None if value is None else (
                value.xreplace(mapping) if isinstance(value, Cost) else _x(value, mapping))
        return dataclasses.replace(self, **changes)

    def renamed(self, name: str) -> "Cost":
        return dataclasses.replace(self, name=name)

    @property
    def free_symbols(self) -> set[sp.Symbol]:
        syms: set[sp.Symbol] = set()
        for q in FIELDS:
            syms |= self.get(q).free_symbols
        return syms

    # ----- numbers ------------------------------------------------------------------------
    def evaluate(
        self,
        n: int | None = None,
        batch: int = 1,
        dtype: str | float = "fp32",
        optimizer: str = "adam",
        n_src: int | None = None,
        **sizes,
    ) -> dict[str, int | float]:
        """Plain numbers for every quantity in :data:`FIELDS`.

        ``dtype`` is a name from ``conventions.DTYPE_BYTES`` or a number of bytes per
        element; ``optimizer`` a name from ``conventions.OPTIMIZER_STATES``; ``sizes`` binds
        the user's own size symbols by name (``d=768``). Counts come back as exact ints.
        """
        mapping = runtime_mapping(self, n, batch, dtype, optimizer, n_src, sizes)
        out: dict[str, int | float] = {}
        for q in FIELDS:
            value = self.get(q).xreplace(mapping)
            if not value.is_number:
                raise ValueError(f"{q} still depends on {sorted(map(str, value.free_symbols))}")
            out[q] = int(value) if value.is_integer else float(value)
        return out

    @cached_property
    def _arguments(self) -> tuple[sp.Symbol, ...]:
        return tuple(sorted(self.free_symbols, key=lambda s: s.name))

    @cached_property
    def _compiled(self) -> dict:
        return {}  # quantities tuple -> compiled numpy function, filled by vectorize

    def vectorize(self, quantities: Iterable[str] = FIELDS) -> Callable[..., dict]:
        """A numpy function of keyword arrays returning ``{quantity: array}``.

        Keywords are the symbol names (``n``, ``batch``, ``d``, ...) plus ``dtype`` (name or
        bytes) and ``optimizer``; arrays broadcast. ``quantities`` picks fields (all by
        default; fewer compile faster). Example::

            f = LSTM("d", "d").vectorize()
            f(n=np.arange(1, 1001), d=768, batch=8)["flops"]
        """
        quantities = tuple(quantities)
        if quantities not in self._compiled:
            exprs = [self.get(q) for q in quantities]
            self._compiled[quantities] = Vectorized(self._arguments, exprs, quantities)
        compiled = self._compiled[quantities]

        def run(dtype="fp32", optimizer="adam", **values):
            # sizes checked like evaluate's; counts past int64 come back as exact ints
            return compiled(_runtime_values(dtype, optimizer, values))

        return run

    @cached_property
    def _kernel_exprs(self) -> tuple[list, list[sp.Expr]]:
        return kernel_exprs(self.kernels)

    @cached_property
    def _kernel_compiled(self) -> Callable:
        layout, exprs = self._kernel_exprs
        free = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        args = tuple(sorted(free | set(self._arguments), key=lambda s: s.name))
        return args, compile_numpy(args, exprs)

    def kernel_values(self, dtype="fp32", optimizer="adam", **values) -> list[dict]:
        """Every kernel with numbers (numpy arrays; keywords as for :meth:`vectorize`):
        ``name, kind, phase, flops, bytes, count, concurrent, resident_bytes, shape``."""
        layout, _ = self._kernel_exprs
        args, compiled = self._kernel_compiled
        values = _runtime_values(dtype, optimizer, values)
        missing = [a.name for a in args if values.get(a.name) is None]
        if missing:
            raise ValueError(f"{self.name} needs values for {missing}: pass each by name "
                             f"({missing[0]}=...)")
        flat = compiled(*float_arguments(args, values)) if args else []
        if not args:
            _, exprs = self._kernel_exprs
            flat = [float(e) for e in exprs]
        return kernel_rows(layout, flat)

    # ----- text ---------------------------------------------------------------------------
    def __repr__(self) -> str:  # a terminal: the formulas, not every part and kernel
        from costmodel.display import cost_text
        return cost_text(self)

    def _repr_html_(self) -> str:  # Jupyter: formulas as a table (costmodel.display)
        from costmodel.display import cost_html
        return cost_html(self)

    def _repr_latex_(self) -> str:
        from costmodel.display import cost_latex
        return cost_latex(self)

    def latex(self, quantity: str) -> str:
        return sp.latex(sp.simplify(self.get(quantity)))

    def leading_terms(self, quantity: str) -> sp.Expr:
        """The leading term(s) of a quantity, coefficients dropped (see :func:`leading_terms`)."""
        return leading_terms(self.get(quantity))

    def big_o(self, quantity: str) -> str:
        """Readable big-O of a quantity: ``O(batch*n*d**2 + batch*n**2*d)``."""
        return big_o(self.get(quantity))

    def breakdown(self, quantities: Iterable[str] = ("params", "flops", "flops_backward",
                                                     "activation_bytes")) -> list[dict]:
        """One row per part (recursively flattened one level): ``{"part": name, q: expr}``."""
        rows = []
        for part in self.parts or (self,):
            rows.append({"part": part.name, **{q: part.get(q) for q in quantities}})
        return rows
