"""Costs and roofline times over a grid of (n, d, batch), vectorised with numpy."""

from __future__ import annotations

import numpy as np

from costmodel import symbols as S
from costmodel.compare import HEAD_WIDTH, MODELS, RECURRENT, Setup, default_heads
from costmodel.implementations.sdpa import resolve
from costmodel.checks import check_choice, check_size
from costmodel.hardware import Hardware, load_hardware
from costmodel.roofline import Efficiency, predict

#: Columns of a sweep, SI units.
COLUMNS = ("model", "n", "d", "batch", "params", "flops", "flops_training", "activation_bytes",
           "inference_bytes", "depth_forward", "time_forward_s", "time_training_s", "binding")
INTEGER_COLUMNS = ("params", "flops", "flops_training", "activation_bytes", "inference_bytes",
                   "depth_forward")


def _sizes(name: str, values) -> np.ndarray:
    checked = [check_size(name, int(v) if isinstance(v, np.integer) else v) for v in values]
    if not checked:
        raise ValueError(f"{name}: give at least one value")
    return np.asarray(checked, dtype=np.int64)


def _symbolic(name: str, setup: Setup, heads):
    """A record in the width symbol d: heads fixed, or d/64 (head width 64) by default."""
    import costmodel as cm

    d = S.size_symbol("d")
    if name in RECURRENT:
        family = {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]
        return family(d, d, num_layers=setup.layers, bidirectional=setup.bidirectional)
    nhead = heads if heads is not None else d / HEAD_WIDTH
    ffn = setup.ffn if setup.ffn is not None else 4 * d
    layer = cm.TransformerEncoderLayer(d, nhead, dim_feedforward=ffn, dropout=0.0,
                                       attention=setup.attention, causal=setup.causal)
    return layer if setup.layers == 1 else cm.TransformerEncoder(layer, setup.layers)


def _inference_bytes(record, dtype: str, N, D, B) -> np.ndarray:
    """compare.inference_bytes over the grid: weights, state and a Transformer's transient."""
    import sympy as sp

    from costmodel.numeric import dtype_bytes_of

    from costmodel.compare import forward_transient_bytes

    extra = forward_transient_bytes(record)
    expr = (record.weight_bytes + record.state_bytes + extra).xreplace(
        {S.n_src: S.n, S.dtype_bytes: sp.nsimplify(dtype_bytes_of(dtype))})
    fn = sp.lambdify((S.n, S.size_symbol("d"), S.batch), expr, "numpy")
    return np.broadcast_to(np.asarray(fn(N, D, B), dtype=float), N.shape)


def sweep(n, d, batch, gpu: str | Hardware = "a100", *, models=MODELS, heads=None,
          eff: Efficiency | None = None, **options) -> dict[str, np.ndarray]:
    """Every model at every (n, d, batch) of the three 1-D sequences: columns of arrays."""
    n, d, batch = _sizes("n", n), _sizes("d", d), _sizes("batch", batch)
    for name in models:
        check_choice("models", name, MODELS)
    if "transformer" in models:
        if heads is None:
            for width in d:
                default_heads(int(width))  # refuses a d that 64 does not divide, with the fix
        bad = [int(w) for w in d if heads is not None and w % heads]
        if bad:
            raise ValueError(f"d={bad[0]} is not divisible by heads={heads}; choose d values "
                             "that are, or other heads")
    setup = Setup(n=1, d=HEAD_WIDTH, heads=heads or 1, **options)
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    N, D, B = (a.ravel() for a in np.meshgrid(n, d, batch, indexing="ij"))
    columns: dict[str, list] = {c: [] for c in COLUMNS}
    for name in models:
        # as compare: counts and the training step in train mode, forward time and
        # inference memory as inference runs it (attention kernel per device and mode)
        record = resolve(_symbolic(name, setup, heads), hw, setup.dtype, "training")[0]
        infer = resolve(record, hw, setup.dtype, "inference")[0]
        values = record.vectorize()(n=N, d=D, batch=B, dtype=setup.dtype)
        t = predict(infer, hw, eff=eff, dtype=setup.dtype, n=N, d=D, batch=B,
                    allow_tf32=setup.allow_tf32, mode="inference")
        train = predict(record, hw, eff=eff, dtype=setup.dtype, n=N, d=D, batch=B,
                        allow_tf32=setup.allow_tf32)
        block = {"model": np.full(N.shape, name), "n": N, "d": D, "batch": B,
                 **{k: values[k] for k in ("params", "flops", "flops_training",
                                           "activation_bytes", "depth_forward")},
                 "inference_bytes": _inference_bytes(infer, setup.dtype, N, D, B),
                 "time_forward_s": np.broadcast_to(t.forward_s, N.shape),
                 "time_training_s": np.broadcast_to(train.training_s, N.shape),
                 "binding": np.broadcast_to(t.binding, N.shape)}
        for c in COLUMNS:
            columns[c].append(np.asarray(block[c]))
    out = {c: np.concatenate(v) for c, v in columns.items()}
    for c in INTEGER_COLUMNS:  # exact counts (float64 is exact below 2**53, far above these)
        out[c] = np.rint(out[c]).astype(np.int64)
    return out
