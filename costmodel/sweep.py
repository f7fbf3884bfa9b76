"""Costs and roofline times over a grid of (n, d, batch), vectorised with numpy."""

from __future__ import annotations

import numpy as np

from costmodel import symbols as S
from costmodel.compare import MODELS, RECURRENT, Setup
from costmodel.checks import check_choice, check_size
from costmodel.hardware import Hardware, load_hardware
from costmodel.roofline import Efficiency, predict

#: Columns of a sweep, SI units.
COLUMNS = ("model", "n", "d", "batch", "params", "flops", "flops_training", "activation_bytes",
           "inference_bytes", "depth_forward", "time_forward_s", "time_training_s", "binding")
INTEGER_COLUMNS = ("params", "flops", "flops_training", "activation_bytes", "inference_bytes",
                   "depth_forward")
HEAD_WIDTH = 64  # the default head width of the comparison (d/64 heads)


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


def sweep(n, d, batch, gpu: str | Hardware = "a100", *, models=MODELS, heads=None,
          eff: Efficiency | None = None, **options) -> dict[str, np.ndarray]:
    """Every model at every (n, d, batch) of the three 1-D sequences: columns of arrays."""
    n, d, batch = _sizes("n", n), _sizes("d", d), _sizes("batch", batch)
    for name in models:
        check_choice("models", name, MODELS)
    if "transformer" in models:
        divisor = heads if heads is not None else HEAD_WIDTH
        bad = [int(w) for w in d if w % divisor]
        if bad:
            what = f"heads={heads}" if heads is not None else f"the head width {HEAD_WIDTH}"
            raise ValueError(f"d={bad[0]} is not divisible by {what}; choose d values "
                             "that are, or pass heads")
    setup = Setup(n=1, d=HEAD_WIDTH, heads=heads or 1, **options)
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    N, D, B = (a.ravel() for a in np.meshgrid(n, d, batch, indexing="ij"))
    columns: dict[str, list] = {c: [] for c in COLUMNS}
    for name in models:
        record = _symbolic(name, setup, heads)
        values = record.vectorize()(n=N, d=D, batch=B, dtype=setup.dtype)
        t = predict(record, hw, eff=eff, dtype=setup.dtype, n=N, d=D, batch=B,
                    allow_tf32=setup.allow_tf32)
        block = {"model": np.full(N.shape, name), "n": N, "d": D, "batch": B,
                 **{k: values[k] for k in ("params", "flops", "flops_training",
                                           "activation_bytes", "depth_forward")},
                 "inference_bytes": values["weight_bytes"] + values["state_bytes"],
                 "time_forward_s": np.broadcast_to(t.forward_s, N.shape),
                 "time_training_s": np.broadcast_to(t.training_s, N.shape),
                 "binding": np.broadcast_to(t.binding, N.shape)}
        for c in COLUMNS:
            columns[c].append(np.asarray(block[c]))
    out = {c: np.concatenate(v) for c, v in columns.items()}
    for c in INTEGER_COLUMNS:  # exact counts (float64 is exact below 2**53, far above these)
        out[c] = np.rint(out[c]).astype(np.int64)
    return out
