"""Prefill and decode over a grid of context x width x batch (``costmodel sweep --mode``):
the columns of :func:`costmodel.decode.serve`, vectorised like :mod:`costmodel.sweep`.

Each model is built once with ``d`` symbolic (as the sweep builds it), rebuilt with its KV
cache (:func:`costmodel.decode.cached`), and evaluated on numpy arrays: a decode step at
``n = 1, n_ctx = context``, a prefill at ``n = n_ctx = context``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from costmodel import symbols as S
from costmodel.compare import DEFAULT_MODELS, Setup, forward_transient_bytes
from costmodel.decode import DECODE_QUERY_TOKENS, MODES, cached, check_servable
from costmodel.hardware import Hardware, load_hardware
from costmodel.implementations.sdpa import resolve
from costmodel.limits import MAX_ROWS
from costmodel.numeric import Vectorized, dtype_bytes_of
from costmodel.roofline import predict
from costmodel.sweep import HEAD_WIDTH, _checked, _symbolic

COLUMNS = ("model", "mode", "context", "d", "batch", "gpu", "dtype", "time_s", "tokens_per_s",
           "state_bytes", "memory_bytes", "binding")


def serving_sweep(context, d, batch, gpu: str | Hardware = "a100", mode: str = "decode", *,
                  models=DEFAULT_MODELS, heads=None, eff=None,
                  max_rows: int | None = MAX_ROWS, **options) -> dict[str, np.ndarray]:
    """Every model at every (context, d, batch) of the three 1-D sequences, as columns
    (:data:`COLUMNS`); ``options`` as for :func:`costmodel.sweep.sweep`."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of: {', '.join(MODES)}")
    check_servable(models)
    context, d, batch = _checked(context, d, batch, models, heads)
    rows = context.size * d.size * batch.size * len(models)
    if max_rows is not None and rows > max_rows:
        raise ValueError(f"the grid has {rows:,} rows, more than max_rows={max_rows:,}")
    setup = Setup(n=1, d=HEAD_WIDTH, heads=heads or 1, **options)
    if setup.bidirectional:
        raise ValueError("bidirectional=True cannot serve autoregressively")
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    C, D, B = (a.ravel() for a in np.meshgrid(context, d, batch, indexing="ij"))
    blocks = [_block(name, setup, heads, hw, eff, mode, C, D, B) for name in models]
    return {c: np.concatenate([b[c] for b in blocks]) for c in COLUMNS}


def _block(name, setup: Setup, heads, hw: Hardware, eff, mode: str, C, D, B) -> dict:
    record = cached(_symbolic(name, setup, heads, serving=True))
    infer = resolve(record, hw, setup.dtype, "inference")[0]
    N = np.full(C.shape, DECODE_QUERY_TOKENS) if mode == "decode" else C
    at = {"n": N, "d": D, "batch": B, **({"n_ctx": C} if S.n_ctx in record.free_symbols
                                         else {})}
    t = predict(infer, hw, eff=eff, dtype=setup.dtype, allow_tf32=setup.allow_tf32,
                mode="inference", cudnn_stack=setup.cudnn_stack, **at)
    memory = _compiled(infer, setup.dtype)({"n": N, "n_ctx": C, "d": D, "batch": B})
    block = {"model": name, "mode": mode, "context": C, "d": D, "batch": B, "gpu": hw.name,
             "dtype": setup.dtype, "time_s": t.forward_s, "tokens_per_s": B * N / t.forward_s,
             "state_bytes": memory["state_bytes"], "memory_bytes": memory["memory_bytes"],
             "binding": t.binding}
    return {c: np.broadcast_to(np.asarray(block[c]), C.shape) for c in COLUMNS}


def _compiled(record, dtype: str) -> Vectorized:
    """state and peak memory (compare.inference_bytes) in {n, n_ctx, d, batch}, exact."""
    fixed = {S.n_src: S.n, S.dtype_bytes: sp.nsimplify(dtype_bytes_of(dtype))}
    peak = record.weight_bytes + record.state_bytes + forward_transient_bytes(record)
    return Vectorized([S.n, S.n_ctx, S.size_symbol("d"), S.batch],
                      [record.state_bytes.xreplace(fixed), peak.xreplace(fixed)],
                      ["state_bytes", "memory_bytes"], "serving sweep")
