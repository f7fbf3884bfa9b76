"""Every sympy symbol of costmodel, declared once, with its assumptions.

Glossary
--------
n           sequence length (time steps, tokens, frames) of the input.
n_src       length of the memory sequence a decoder cross-attends to (defaults to n).
n_ctx       context length a self-attention with a KV cache attends over: the tokens already
            cached plus the n new ones (defaults to n: no cache). Prefill is n = n_ctx =
            prompt length; one decode step is n = 1 at context n_ctx (costmodel.decode).
batch       batch size.
dtype_bytes bytes per element of weights and activations (4 for fp32, 2 for bf16/fp16).
optimizer_states  optimizer state tensors kept per parameter (0 SGD, 1 momentum, 2 Adam).

Sizes a user passes as strings (``LSTM("d", "h")``) become positive integer symbols through
:func:`size_symbol`, so ``LSTM("d", "d")`` gives the general formula in ``d``. A size may not
take a name of :data:`RESERVED_NAMES`: ``LSTM("n", "n")`` would otherwise bind the hidden size
to the sequence length, and ``LSTM("s", "s")`` make a second ``s`` that ``evaluate`` cannot
fill.
"""

from __future__ import annotations

import sympy as sp

n = sp.Symbol("n", positive=True, integer=True)
n_src = sp.Symbol("n_src", positive=True, integer=True)
n_ctx = sp.Symbol("n_ctx", positive=True, integer=True)
batch = sp.Symbol("batch", positive=True, integer=True)
dtype_bytes = sp.Symbol("s", positive=True)
optimizer_states = sp.Symbol("k_opt", nonnegative=True, integer=True)

#: The symbols every record may contain that ``evaluate`` fills in by keyword.
RUNTIME_SYMBOLS = {
    "n": n,
    "n_src": n_src,
    "n_ctx": n_ctx,
    "batch": batch,
    "dtype_bytes": dtype_bytes,
    "optimizer_states": optimizer_states,
}


#: Names a size symbol may not take: the runtime symbols' own names (``n``, ``s``, ...) and
#: the keywords ``evaluate`` and ``vectorize`` read as runtime values (``dtype``, ...).
RESERVED_NAMES = tuple(sorted({sym.name for sym in RUNTIME_SYMBOLS.values()}
                              | {"dtype", "optimizer"}))


def size_symbol(name: str) -> sp.Symbol:
    """A positive integer symbol for a size, e.g. ``size_symbol("d")``."""
    if name in RESERVED_NAMES:
        raise ValueError(f"size name {name!r} is reserved for a runtime value; reserved names: "
                         f"{', '.join(RESERVED_NAMES)}")
    return sp.Symbol(name, positive=True, integer=True)
