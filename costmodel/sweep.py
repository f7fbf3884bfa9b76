"""Costs and roofline times over a grid of (n, d, batch), vectorised with numpy and streamed
in chunks (bounded memory); and the one column set of every CSV the CLI writes."""

from __future__ import annotations

import functools
from typing import Iterator

import numpy as np
import sympy as sp

from costmodel import symbols as S
from costmodel.compare import (DEFAULT_MODELS, HEAD_WIDTH, MODELS, RECURRENT, WITH_HEADS,
                               Setup, check_bidirectional, default_heads)
from costmodel.checks import check_choice, check_size
from costmodel.compare_families import check_length
from costmodel.hardware import Hardware, load_hardware
from costmodel.implementations.sdpa import resolve
from costmodel.limits import CHUNK_POINTS, LARGEST_SIZE, MAX_AXIS_VALUES, MAX_ROWS
from costmodel.numeric import checked_array
from costmodel.roofline import Efficiency, predict

#: Configuration columns, first in every CSV (one row per configuration and model).
CONFIG_COLUMNS = ("model", "n", "d", "batch", "layers", "heads", "gpu", "dtype")
#: Quantity columns, SI units (counts, bytes, seconds; binding is a word; fraction 0..1).
QUANTITY_COLUMNS = ("params", "flops", "flops_training", "activation_bytes", "inference_bytes",
                    "depth_forward", "time_forward_s", "time_training_s", "binding",
                    "fraction_of_peak")
COLUMNS = CONFIG_COLUMNS + QUANTITY_COLUMNS
INTEGER_COLUMNS = ("params", "flops", "flops_training", "activation_bytes", "inference_bytes",
                   "depth_forward")


def _sizes(name: str, values) -> np.ndarray:
    """A 1-D int64 array of sizes 1..LARGEST_SIZE, checked like ``evaluate``'s."""
    array = checked_array(sp.Symbol(name, positive=True, integer=True), np.asarray(values).ravel())
    if not array.size:
        raise ValueError(f"{name}: give at least one value")
    if array.size > MAX_AXIS_VALUES:
        raise ValueError(f"{name}: {array.size:,} values, more than the {MAX_AXIS_VALUES:,} "
                         "one axis may have")
    if array.max() > LARGEST_SIZE:
        raise ValueError(f"{name}={array.max()} is above the largest size {LARGEST_SIZE:,} "
                         "(2**53)")
    return array.astype(np.int64)


def grid_rows(n, d, batch, models=DEFAULT_MODELS) -> int:
    """Rows of a sweep: one per (n, d, batch) point and model."""
    return len(n) * len(d) * len(batch) * len(models)


def _symbolic(name: str, setup: Setup, heads, serving: bool = False):
    """A record in the width symbol d: heads fixed, or d/64 (head width 64) by default; ffn
    4d. The newer families are compare's rows (costmodel.compare_families) with d symbolic;
    ``serving`` as in :func:`costmodel.compare.build`."""
    import costmodel as cm

    d = S.size_symbol("d")
    if name in RECURRENT:
        family = {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]
        return family(d, d, num_layers=setup.layers, bidirectional=setup.bidirectional)
    nhead = heads if heads is not None else d / HEAD_WIDTH
    ffn = setup.ffn if setup.ffn is not None else 4 * d
    if name != "transformer":
        from costmodel.compare_families import build_family

        return build_family(name, d, nhead, ffn, setup.layers, setup.attention, serving)
    layer = cm.TransformerEncoderLayer(d, nhead, dim_feedforward=ffn, dropout=0.0,
                                       attention=setup.attention, causal=setup.causal)
    return layer if setup.layers == 1 else cm.TransformerEncoder(layer, setup.layers)


def _checked(n, d, batch, models, heads):
    n, d, batch = _sizes("n", n), _sizes("d", d), _sizes("batch", batch)
    for name in models:
        check_choice("models", name, MODELS)
    check_length(models, int(n.min()))
    if heads is not None:  # refused whatever the models, as compare does, before any row
        check_size("heads", heads)
    if set(models) & set(WITH_HEADS):
        if heads is None:
            for width in d[d % HEAD_WIDTH != 0][:1]:
                default_heads(int(width))  # refuses a d that 64 does not divide, with the fix
        bad = d[d % heads != 0] if heads is not None else d[:0]
        if bad.size:
            raise ValueError(f"d={int(bad[0])} is not divisible by heads={heads}; choose d "
                             "values that are, or other heads")
    return n, d, batch


def iter_sweep(n, d, batch, gpu: str | Hardware = "a100", *, models=DEFAULT_MODELS, heads=None,
               eff: Efficiency | None = None, chunk_points: int = CHUNK_POINTS,
               **options) -> Iterator[dict[str, np.ndarray]]:
    """Every model at every (n, d, batch) of the three 1-D sequences, as chunks of columns
    (:data:`COLUMNS`) of at most ``chunk_points`` rows: memory stays bounded."""
    n, d, batch = _checked(n, d, batch, models, heads)
    check_bidirectional(models, options.get("bidirectional", False))
    check_size("layers", options.get("layers", 1))
    setup = Setup(n=1, d=HEAD_WIDTH, heads=heads or 1, **options)
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    points = n.size * d.size * batch.size
    for name in models:
        # as compare: counts and the training step in train mode, forward time and
        # inference memory as inference runs it (attention kernel per device and mode)
        train = resolve(_symbolic(name, setup, heads), hw, setup.dtype, "training")[0]
        infer = resolve(train, hw, setup.dtype, "inference")[0]
        record = (train, infer, _inference_bytes(infer, setup.dtype))  # compiled once
        for start in range(0, points, chunk_points):
            index = np.unravel_index(np.arange(start, min(points, start + chunk_points)),
                                     (n.size, d.size, batch.size))
            yield _block(name, record, setup, hw, eff, heads, n[index[0]], d[index[1]],
                         batch[index[2]])


def _block(name, records, setup: Setup, hw: Hardware, eff, heads, N, D, B) -> dict:
    """The columns of one model at the points (N, D, B); ``records``: the training record,
    the inference record and its compiled peak memory."""
    record, infer, peak = records
    values = record.vectorize()(n=N, d=D, batch=B, dtype=setup.dtype)
    t = predict(infer, hw, eff=eff, dtype=setup.dtype, n=N, d=D, batch=B,
                allow_tf32=setup.allow_tf32, mode="inference", cudnn_stack=setup.cudnn_stack)
    train = predict(record, hw, eff=eff, dtype=setup.dtype, n=N, d=D, batch=B,
                    allow_tf32=setup.allow_tf32, cudnn_stack=setup.cudnn_stack)
    if name not in WITH_HEADS:
        head_column = np.full(N.shape, "")
    else:
        head_column = np.full(N.shape, heads) if heads is not None else D // HEAD_WIDTH
    block = {"model": np.full(N.shape, name), "n": N, "d": D, "batch": B,
             "layers": np.full(N.shape, setup.layers), "heads": head_column,
             "gpu": np.full(N.shape, hw.name), "dtype": np.full(N.shape, setup.dtype),
             **{k: values[k] for k in ("params", "flops", "flops_training",
                                       "activation_bytes", "depth_forward")},
             "inference_bytes": peak({"n": N, "d": D, "batch": B})["inference_bytes"],
             "time_forward_s": t.forward_s, "time_training_s": train.training_s,
             "binding": t.binding, "fraction_of_peak": t.fraction_of_peak}
    out = {c: np.broadcast_to(np.asarray(block[c]), N.shape) for c in COLUMNS}
    for c in INTEGER_COLUMNS:
        out[c] = _counts(out[c])
    return out


def _inference_bytes(record, dtype: str):
    """compare.inference_bytes as a function of {n, d, batch} arrays (weights, state and the
    forward's working set), exact past int64 like ``vectorize``."""
    from costmodel.compare import forward_transient_bytes
    from costmodel.numeric import Vectorized, dtype_bytes_of

    peak = record.weight_bytes + record.state_bytes + forward_transient_bytes(record)
    expr = peak.xreplace({S.n_src: S.n, S.dtype_bytes: sp.nsimplify(dtype_bytes_of(dtype))})
    return Vectorized([S.n, S.size_symbol("d"), S.batch], [expr], ["inference_bytes"], "sweep")


def _counts(values: np.ndarray) -> np.ndarray:
    """Exact integer counts: int64 as they are, whole floats (below 2**53, where vectorize
    keeps them) rounded, object arrays (counts past int64) as Python ints."""
    if values.dtype.kind in "iu":
        return values
    if values.dtype.kind == "f":
        return np.rint(values).astype(np.int64)
    return np.frompyfunc(lambda v: v if isinstance(v, int) else round(v), 1, 1)(values)


def sweep(n, d, batch, gpu: str | Hardware = "a100", *, models=DEFAULT_MODELS, heads=None,
          eff: Efficiency | None = None, max_rows: int | None = MAX_ROWS,
          **options) -> dict[str, np.ndarray]:
    """:func:`iter_sweep` gathered into whole columns (in memory: at most ``max_rows`` rows
    unless ``max_rows=None``; stream bigger grids with :func:`iter_sweep`)."""
    rows = grid_rows(np.ravel(n), np.ravel(d), np.ravel(batch), models)
    if max_rows is not None and rows > max_rows:
        raise ValueError(f"the grid has {rows:,} rows, more than max_rows={max_rows:,}; "
                         "stream it with iter_sweep or pass max_rows=None")
    chunks = list(iter_sweep(n, d, batch, gpu, models=models, heads=heads, eff=eff, **options))
    return {c: np.concatenate([chunk[c] for chunk in chunks]) for c in COLUMNS}


def sweep_frame(n, d, batch, gpu: str | Hardware = "a100", **options):
    """:func:`sweep` as a tidy pandas DataFrame: one row per configuration and model, the
    :data:`COLUMNS` in SI units."""
    import pandas as pd

    return pd.DataFrame(sweep(n, d, batch, gpu, **options), columns=list(COLUMNS))


def comparison_columns(result) -> dict[str, list]:
    """The :data:`COLUMNS` of a :func:`costmodel.compare.compare` result (one row per model),
    so ``compare --format csv`` and ``sweep`` write the same columns."""
    setup, rows = result.setup, result.rows
    config = {"n": setup.n, "d": setup.d, "batch": setup.batch, "layers": setup.layers,
              "gpu": result.hardware.name, "dtype": setup.dtype}
    columns = {c: [config[c]] * len(rows) for c in config}
    columns["model"] = [r["model"] for r in rows]
    columns["heads"] = [setup.heads if r["model"] in WITH_HEADS else "" for r in rows]
    return {**columns, **{c: [r[c] for r in rows] for c in QUANTITY_COLUMNS}}


def csv_text(columns: dict, header: bool = True) -> str:
    """CSV of :data:`COLUMNS` from equal-length columns (arrays or lists): ints exact, floats
    as their shortest round-trip repr, text quoted where CSV needs it. The one CSV writer of
    compare and sweep."""
    cells = [_cells(columns[name]) for name in COLUMNS]
    lines = [",".join(COLUMNS)] if header else []
    lines += map(",".join, zip(*cells))
    return "\n".join(lines) + "\n" if lines else ""


def _cells(column) -> list[str]:
    values = column.tolist() if isinstance(column, np.ndarray) else list(column)
    if any(isinstance(v, str) for v in values[:1]) or not isinstance(column, np.ndarray):
        return [_quoted(v) if isinstance(v, str) else str(v) for v in values]
    return list(map(str, values))


@functools.lru_cache(maxsize=1024)
def _quoted(text: str) -> str:
    """``text`` as one CSV field (RFC 4180): quoted when it holds a comma, quote or newline."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
