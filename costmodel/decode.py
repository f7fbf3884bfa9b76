"""Serving a sequence model: prefill, autoregressive decoding, and what fits in device memory.

Prefill and decode are the training formulas at another query length, not a second copy
(house rule 1). A Transformer layer is rebuilt with its self-attention over a KV cache
(``kv_cache=True``, see :mod:`costmodel.models.attention`): the ``n`` new tokens are the newest
of a context of ``n_ctx`` tokens. Then

* prefill of a prompt of ``c`` tokens is ``n = n_ctx = c`` (exactly the inference forward of
  :mod:`costmodel.compare`): its time is the time to first token;
* one decode step at context ``c`` is ``n = 1, n_ctx = c``: one new token per sequence, its
  projections and FFN on ``batch`` rows, its attention core reading K and V of ``c`` tokens.

A recurrence carries its state instead of a cache: prefill is the record at ``n = c``, a decode
step the record at ``n = 1`` (O(h^2) work, O(batch h) state, whatever the context).

Times are the roofline with the time layer (:func:`costmodel.roofline.predict`, inference mode:
``eval()`` under ``inference_mode``); a decode step at small batch streams every weight and the
cache once, so it is memory-bound. Memory is :func:`costmodel.compare.inference_bytes` (weights,
state or KV cache, the forward's transient peak). The largest batch (at the context) and the
largest context (at the batch) are the largest whole numbers whose memory fits the device's
``memory_bytes``; both memories are non-decreasing in batch and context, so a doubling then
bisection over exact integer evaluations finds them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from costmodel import symbols as S
from costmodel.compare import (RECURRENT, Setup, _time_crossings, assumptions, build,
                               inference_bytes)
from costmodel.compare_families import CONSTANT_STATE
from costmodel.cost import Cost
from costmodel.hardware import Hardware, load_hardware
from costmodel.implementations.cudnn_stack import DEFAULT as DEFAULT_STACK
from costmodel.implementations.sdpa import resolve
from costmodel.numeric import dtype_bytes_of
from costmodel.roofline import Efficiency, predict

MODES = ("prefill", "decode")
#: compare's rows that generate with a state of fixed size, and all that can be served
CONSTANT = (*RECURRENT, *CONSTANT_STATE)
SERVABLE = (*CONSTANT, "transformer")
#: New tokens per sequence in one decode step (the query length).
DECODE_QUERY_TOKENS = 1
#: The largest batch or context searched (2^40 tokens: no device holds that many).
SEARCH_LIMIT = 1 << 40
#: Output keys of a row, in order: the stable JSON schema (SI units).
ROW_KEYS = ("model", "mode", "context", "batch", "time_s", "tokens_per_s", "state_bytes",
            "memory_bytes", "max_batch", "max_context", "binding")


def cached(record: Cost) -> Cost:
    """``record`` with its self-attention over a KV cache of ``n_ctx`` tokens (a Transformer
    layer, stack or ``MultiheadAttention`` record); other records come back unchanged."""
    cfg, rebuild = getattr(record, "config", None), getattr(record, "rebuild", None)
    if cfg is None or rebuild is None or not hasattr(cfg, "kv_cache") or cfg.kv_cache:
        return record
    return rebuild(dataclasses.replace(cfg, kv_cache=True))


def step_values(record: Cost, mode: str, context: int) -> dict:
    """The runtime values of one step: prefill ``n = n_ctx = context``; decode ``n = 1`` at
    ``n_ctx = context`` (``n_ctx`` only where the record has a cache)."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of: {', '.join(MODES)}")
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 1:
        raise ValueError(f"context={context!r} must be a whole number of tokens >= 1")
    n = int(context) if mode == "prefill" else DECODE_QUERY_TOKENS
    return {"n": n, **({"n_ctx": int(context)} if S.n_ctx in record.free_symbols else {})}


def serve(record: Cost, hw: Hardware | str, mode: str, context: int, *, batch: int = 1,
          dtype: str = "fp32", eff: Efficiency | None = None, allow_tf32: bool = False,
          cudnn_stack: str = DEFAULT_STACK, name: str = "") -> dict:
    """One prefill or decode step of ``record`` (see the module docstring) on ``hw``:
    ``time_s`` (prefill: time to first token; decode: time per generated token),
    ``tokens_per_s`` (tokens of the whole batch per second), ``state_bytes`` (KV cache or
    recurrent state after the step), ``memory_bytes`` (the peak), ``max_batch`` at this
    context and ``max_context`` at this batch (None: not bounded by memory / no memory figure),
    ``binding`` (the roofline term with most time). ``cudnn_stack``: the cuDNN generation
    whose step floor prices a recurrence (as in :func:`costmodel.roofline.predict`)."""
    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch={batch!r} must be a whole number >= 1")
    record = cached(record)
    at = step_values(record, mode, context)
    t = step_timing(record, hw, mode, context, batch=batch, dtype=dtype, eff=eff,
                    allow_tf32=allow_tf32, cudnn_stack=cudnn_stack)
    memory = memory_of(record, hw, mode, dtype)
    state = record.state_bytes.xreplace({
        S.n: at["n"], S.n_src: at["n"], S.n_ctx: at.get("n_ctx", at["n"]), S.batch: batch,
        S.dtype_bytes: sp.nsimplify(dtype_bytes_of(dtype))})
    time_s = float(t.forward_s)
    grows = S.n_ctx in record.free_symbols or mode == "prefill"
    return {"model": name or record.name, "mode": mode, "context": int(context),
            "batch": int(batch), "time_s": time_s,
            "tokens_per_s": batch * at["n"] / time_s if time_s > 0 else float("inf"),
            "state_bytes": int(state), "memory_bytes": memory(batch, context),
            "max_batch": _largest(lambda b: memory(b, context), hw.memory_bytes),
            # a recurrence's decode step does not grow with the context: no bound (None),
            # unless it does not fit at all (0, as max_batch says)
            "max_context": (_largest(lambda c: memory(batch, c), hw.memory_bytes) if grows
                            else None if hw.memory_bytes is None
                            or memory(batch, 1) <= hw.memory_bytes else 0),
            "binding": str(t.binding)}


def step_timing(record: Cost, hw: Hardware, mode: str, context, *, batch: int = 1,
                dtype: str = "fp32", eff: Efficiency | None = None, allow_tf32: bool = False,
                cudnn_stack: str = DEFAULT_STACK):
    """The roofline :class:`~costmodel.roofline.Timing` of one step (inference mode)."""
    record = cached(record)
    return predict(record, hw, eff=eff, dtype=dtype, allow_tf32=allow_tf32, mode="inference",
                   cudnn_stack=cudnn_stack, batch=batch, **step_values(record, mode, context))


def memory_of(record: Cost, hw: Hardware, mode: str, dtype: str = "fp32"):
    """``memory(batch, context)``: the peak bytes of one step (weights, state or KV cache, the
    forward's transient), the record as inference runs it on ``hw``."""
    record = cached(record)
    infer = resolve(record, hw, dtype, "inference")[0]

    def memory(batch: int, context: int) -> int:
        at = step_values(record, mode, context)
        return inference_bytes(infer, dtype, n=at["n"], batch=batch,
                               n_ctx=at.get("n_ctx", at["n"]))
    return memory


def _largest(fn, limit) -> int | None:
    """The largest x in [1, SEARCH_LIMIT] with fn(x) <= limit for a non-decreasing fn (0 when
    even x = 1 does not fit; None without a limit or when SEARCH_LIMIT still fits)."""
    if limit is None:
        return None
    first_over = first_true(lambda x: fn(x) > limit)
    return None if first_over is None else first_over - 1


def first_true(predicate) -> int | None:
    """The smallest c in [1, SEARCH_LIMIT] where ``predicate`` holds, for a predicate that
    stays true once true (doubling, then bisection); None when there is none."""
    if predicate(1):
        return 1
    lo, hi = 1, 2
    while hi <= SEARCH_LIMIT and not predicate(hi):
        lo, hi = hi, hi * 2
    if hi > SEARCH_LIMIT:
        return None
    while hi - lo > 1:  # false at lo, true at hi
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if predicate(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class Serving:
    """``compare_serving``'s answer: one row per model, the crossover contexts, the
    assumptions (compare's, plus how the step is counted)."""

    setup: Setup
    hardware: Hardware
    mode: str
    rows: tuple[dict, ...]
    crossovers: tuple[dict, ...]
    assumptions: dict = field(compare=False, default_factory=dict)


def check_servable(models) -> None:
    """ValueError naming the models that cannot generate token by token, and those that can."""
    encoders = [m for m in models if m not in SERVABLE]
    if encoders:
        raise ValueError(f"models={','.join(encoders)} cannot generate token by token (an "
                         f"encoder, or Linformer's [k, n] projections fix n); serving modes "
                         f"take: {', '.join(SERVABLE)}")


def compare_serving(n: int, d: int, gpu: str | Hardware = "a100", mode: str = "decode", *,
                    eff: Efficiency | None = None, **options) -> Serving:
    """``compare``'s models (same ``Setup`` keywords) served: prefill of ``n`` tokens (time to
    first token) or one decode step at context ``n`` (time per token), with the crossover
    contexts of every fixed-state model against the Transformer (decode: state, memory and
    time per token, from where the model is no worse; prefill: the prompt length where the
    times to first token cross, compare's forward-time crossover)."""
    setup = Setup(n=n, d=d, **options).checked()
    if setup.bidirectional:
        raise ValueError("bidirectional=True cannot serve autoregressively: a bidirectional "
                         "recurrence reads the whole sequence before its first output")
    check_servable(setup.models)
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    records = {name: build(setup, name, serving=True) for name in setup.models}
    kw = dict(batch=setup.batch, dtype=setup.dtype, eff=eff, allow_tf32=setup.allow_tf32,
              cudnn_stack=setup.cudnn_stack)
    rows = tuple(serve(rec, hw, mode, setup.n, name=name, **kw)
                 for name, rec in records.items())
    rows = tuple({key: row[key] for key in ROW_KEYS} for row in rows)
    crossovers = ()
    if mode == "decode" and "transformer" in records:
        crossovers = tuple(_crossovers(records, hw, setup, kw))
    elif "transformer" in records:  # prefill: compare's forward-time crossover in n
        found = _time_crossings({m: r for m, r in records.items() if m in CONSTANT},
                                records["transformer"], setup, hw, eff)
        crossovers = tuple({"model": m, "quantity": "time_s", "context": c[0] if c else None,
                            "all_context": list(c),
                            "method": "numeric (compare's sign changes of the inference "
                                      "forward time over the prompt length)"}
                           for m, c in found.items())
    notes = {"prefill": "time_s is the time to first token: one inference forward over the "
                        "n-token prompt (n = n_ctx)",
             "decode": "time_s is one decode step per sequence: query length 1 over a context "
                       "of n tokens (KV cache for the Transformer, h/c state for a recurrence)"}
    return Serving(setup, hw, mode, rows, crossovers,
                   {**assumptions(setup, hw, records.get("transformer"), eff),
                    "step": notes.get(mode), **_decode_error(mode)})


def _decode_error(mode: str) -> dict:
    """A decode step is not what the published measurements behind compare's time error
    scored (a prefill is an inference forward of the prompt: those apply)."""
    if mode != "decode":
        return {}
    return {"expected_error": {"why_none": "no published measurement of a decode step "
                                           "scores these times"}}


def _crossovers(records: dict, hw: Hardware, setup: Setup, kw: dict):
    """For each recurrence: the smallest context at which it is no worse than the Transformer
    (its state, peak memory and time per token); None when it never is up to SEARCH_LIMIT."""
    tf = records["transformer"]
    tf_state = state_in_context(tf, setup)
    memory = {name: memory_of(rec, hw, "decode", setup.dtype) for name, rec in records.items()}

    def time(name, context):
        return float(step_timing(records[name], hw, "decode", context, **kw).forward_s)

    for name in (m for m in records if m in CONSTANT):
        state = state_in_context(records[name], setup)
        yield {"model": name, "quantity": "state_bytes",
               "context": symbolic_crossover(state, tf_state),
               "method": "symbolic (sympy.solve in n_ctx)"}
        yield {"model": name, "quantity": "memory_bytes",
               "context": first_at_most(lambda c: memory[name](setup.batch, c),
                                        lambda c: memory["transformer"](setup.batch, c)),
               "method": "bisection (the Transformer's memory grows with the context)"}
        yield {"model": name, "quantity": "time_s",
               "context": first_at_most(lambda c: time(name, c),
                                        lambda c: time("transformer", c)),
               "method": "bisection (the roofline is piecewise; per-token time grows with "
                         "the context)"}


def state_in_context(record: Cost, setup: Setup) -> sp.Expr:
    """The KV cache or recurrent state of a decode step as an expression in ``n_ctx``."""
    return cached(record).state_bytes.xreplace({
        S.n: DECODE_QUERY_TOKENS, S.n_src: DECODE_QUERY_TOKENS, S.batch: setup.batch,
        S.dtype_bytes: sp.nsimplify(dtype_bytes_of(setup.dtype))})


def symbolic_crossover(recurrent: sp.Expr, transformer: sp.Expr) -> int | None:
    """The smallest whole context c >= 1 with recurrent(c) <= transformer(c), both
    expressions in ``n_ctx``: the answer is 1 or a real root rounded up (the sign of the
    difference changes only at its roots)."""
    diff = sp.expand(recurrent - transformer)
    if diff.free_symbols - {S.n_ctx}:
        return None
    x = sp.Symbol("x", real=True)
    roots = sp.solve(sp.Eq(diff.xreplace({S.n_ctx: x}), 0), x) if diff.has(S.n_ctx) else []
    candidates = sorted({1, *(int(sp.ceiling(r)) for r in roots if r.is_real and r >= 1)})
    return next((c for c in candidates if diff.xreplace({S.n_ctx: c}) <= 0), None)


def first_at_most(a, b) -> int | None:
    """The smallest c in [1, SEARCH_LIMIT] with a(c) <= b(c), where b - a is non-decreasing
    in c; None when there is none."""
    return first_true(lambda c: a(c) <= b(c))
