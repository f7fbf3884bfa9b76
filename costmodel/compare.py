"""RNN, LSTM and GRU side by side with a Transformer encoder layer: costs, times, crossovers.

``compare(n=512, d=768, gpu="a100")`` builds one record per model (1 layer, unidirectional,
input = hidden = d for the recurrences; d_model = d, heads, dim_feedforward = 4d for the
Transformer; dropout 0 everywhere so the comparison is of architectures, not of regularisers),
evaluates them, predicts their time with the roofline, and solves for the sequence lengths
where each recurrence and the Transformer cost the same.

Two modes, each as PyTorch runs it on the device (costmodel.implementations.sdpa): the
forward time, binding term and inference memory are those of inference (``model.eval()``
under ``torch.inference_mode()``); counts, activation memory and the training step those of a
train-mode step (forward, backward, one Adam update). ``Comparison.assumptions`` states every
choice that changes the answer (heads, ffn, dropout, optimizer, attention kernel per mode,
recurrence implementation).

What is compared (:class:`Setup`, each model's record, the assumptions) is
:mod:`costmodel.compare_setup`; this module evaluates it: rows, ratios to the Transformer,
inference memory and the crossovers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from costmodel import symbols as S
# The setup, its models' records and assumptions live in their own module; names kept
# importable from here (costmodel.compare.Setup, .build, .assumptions, the model lists)
from costmodel.compare_setup import (  # noqa: F401
    ATTENTION_KERNELS, DEFAULT_MODELS, HEAD_WIDTH, MODELS, RECURRENT, WITH_HEADS, Setup,
    assumptions, build, check_bidirectional, default_heads)
from costmodel.cost import FIELDS, Cost
from costmodel.hardware import Hardware, load_hardware
from costmodel.implementations.sdpa import resolve
from costmodel.roofline import Efficiency, predict

#: Quantities whose crossover in n is solved (recurrence == Transformer).
CROSSOVER_QUANTITIES = ("activation_bytes", "flops", "time_forward_s")
#: Output keys beyond the cost record's fields, all SI (seconds, bytes, FLOP/byte).
TIME_KEYS = ("time_forward_s", "time_forward_upper_s", "time_training_s",
             "time_training_upper_s", "binding", "fraction_of_peak", "arithmetic_intensity")
#: Where the time crossover is searched: n from 1 to this many steps.
CROSSOVER_SEARCH_MAX_N = 1 << 20
#: A bracket wider than this is narrowed on this many evenly spaced points before every n in
#: it is priced (a 40,000-wide bracket near n = 2e5 took a second priced n by n)
REFINE_POINTS = 256
#: Every key of a row, in order: the stable JSON schema.
ROW_KEYS = ("model", *FIELDS, "inference_bytes", *TIME_KEYS)
#: The training step's memory: what the forward saves plus weights, gradients, Adam states.
TRAINING_MEMORY = ("activation_bytes", "weight_bytes", "gradient_bytes", "optimizer_bytes")


@dataclass(frozen=True)
class Comparison:
    setup: Setup
    hardware: Hardware
    rows: tuple[dict, ...]
    ratios: tuple[dict, ...]
    crossovers: tuple[dict, ...]
    records: dict = field(compare=False, repr=False, default_factory=dict)
    assumptions: dict = field(compare=False, default_factory=dict)

    def to_frame(self):
        """One row per model as a pandas DataFrame (SI units; costmodel.display)."""
        from costmodel.display import comparison_frame
        return comparison_frame(self)

    def __repr__(self) -> str:  # a terminal: the table, not the device's provenance
        from costmodel.display import comparison_text
        return comparison_text(self)

    def _repr_html_(self) -> str:
        from costmodel.display import comparison_html
        return comparison_html(self)


def compare(n: int, d: int, gpu: str | Hardware = "a100", *, eff: Efficiency | None = None,
            **options) -> Comparison:
    """Evaluate every model of the comparison at (n, d) on ``gpu`` (a name or a TOML path)."""
    from costmodel.compare_families import check_length

    setup = Setup(n=n, d=d, **options).checked()
    check_length(setup.models, setup.n)
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    records = {name: resolve(build(setup, name), hw, setup.dtype, "training")[0]
               for name in setup.models}
    rows = tuple(_row(name, rec, setup, hw, eff) for name, rec in records.items())
    ratios = _ratios(rows) if "transformer" in records else ()
    crossovers = _crossovers(records, setup, hw, eff) if "transformer" in records else ()
    return Comparison(setup, hw, rows, ratios, crossovers, records,
                      assumptions(setup, hw, records.get("transformer"), eff))

def _row(name: str, record: Cost, setup: Setup, hw: Hardware, eff) -> dict:
    """Counts and the training step from the train-mode record; forward time, binding and
    inference memory from the record as inference runs it."""
    at = dict(n=setup.n, batch=setup.batch)
    values = record.evaluate(**at, dtype=setup.dtype)
    infer = resolve(record, hw, setup.dtype, "inference")[0]
    t = predict(infer, hw, eff=eff, dtype=setup.dtype, allow_tf32=setup.allow_tf32,
                mode="inference", cudnn_stack=setup.cudnn_stack, **at)
    train = predict(record, hw, eff=eff, dtype=setup.dtype, allow_tf32=setup.allow_tf32,
                    cudnn_stack=setup.cudnn_stack, **at)
    row = {"model": name, **values,
           "inference_bytes": inference_bytes(infer, setup.dtype, **at),
           "time_forward_s": float(t.forward_s),
           "time_forward_upper_s": float(t.forward_upper_s),
           "time_training_s": float(train.training_s),
           "time_training_upper_s": float(train.training_upper_s), "binding": str(t.binding),
           "fraction_of_peak": float(t.fraction_of_peak),
           "arithmetic_intensity": float(t.arithmetic_intensity)}
    return {key: row[key] for key in ROW_KEYS}


def inference_bytes(record: Cost, dtype: str = "fp32", *, n: int, batch: int,
                    n_ctx: int | None = None) -> int:
    """Peak memory of one inference forward: weights, carried state (RNN h/c, attention K and
    V; the KV cache of ``n_ctx`` tokens for a record with one, see costmodel.decode) and, for a
    Transformer, the transient working memory at the forward's peak
    (``LayerConfig.forward_transient_bytes``: n^2 scores of math attention, O(n) for fused)."""
    quantity = record.weight_bytes + record.state_bytes + forward_transient_bytes(record)
    at = {S.n: n, S.n_src: n, S.n_ctx: n if n_ctx is None else n_ctx, S.batch: batch,
          S.dtype_bytes: sp.nsimplify(_bytes(dtype))}
    return int(quantity.xreplace(at))


def forward_transient_bytes(record: Cost) -> sp.Expr:
    """Working memory at the peak of one inference forward beyond weights and state.

    A Transformer layer or stack: ``LayerConfig.forward_transient_bytes``. A recurrence: per
    layer, its input sequence, the gate pre-activations of every step (cuDNN and oneDNN
    compute the input projection for the whole sequence at once) and its output sequence,
    read off the layer's ``input_projection`` GEMM ([m, k] @ [k, gates] with m = n*batch,
    per direction) and step GEMM (k = hidden); layers run one after another: the largest.
    Other records: 0 (not modelled).
    """
    config = getattr(record, "config", None)
    if config is not None:
        return config.forward_transient_bytes()
    forward = [k for k in record.kernels if k.phase == "forward" and k.shape is not None]
    layers = []
    for i, k in enumerate(forward):
        if k.name.endswith("input_projection") and i + 1 < len(forward):
            (m, gates, width), hidden = k.shape[:3], forward[i + 1].shape[2]
            layers.append((m * width + k.concurrent * m * (gates + hidden)) * S.dtype_bytes)
    return sp.Max(*layers) if layers else sp.Integer(0)


RATIO_KEYS = ("params", "flops", "flops_training", "activation_bytes", "inference_bytes",
              "depth_forward", "time_forward_s", "time_training_s")


def _ratios(rows) -> tuple[dict, ...]:
    base = next(r for r in rows if r["model"] == "transformer")
    out = []
    for row in rows:
        if row["model"] == "transformer":
            continue
        # ratios are unitless: a time ratio drops the seconds suffix
        out.append({"model": f"{row['model']}/transformer",
                    **{k.removesuffix("_s"): row[k] / base[k] if base[k] else float("inf")
                       for k in RATIO_KEYS}})
    return tuple(out)


def _crossovers(records, setup: Setup, hw: Hardware, eff) -> tuple[dict, ...]:
    fixed = {S.batch: setup.batch, S.dtype_bytes: sp.nsimplify(_bytes(setup.dtype)),
             S.optimizer_states: 2}
    tf = records["transformer"]
    recurrent = [m for m in records if m in RECURRENT]
    times = _time_crossings({m: records[m] for m in recurrent}, tf, setup, hw, eff)
    out = []
    for name in recurrent:
        for q in CROSSOVER_QUANTITIES:
            if q == "time_forward_s":
                every = times[name]
                how = ("numeric (sign changes on the roofline, which is piecewise, over a "
                       f"geometric grid up to n = {CROSSOVER_SEARCH_MAX_N:,}, each refined)")
            else:
                every = _symbolic_crossings(records[name].get(q), tf.get(q), fixed)
                how = "symbolic (sympy.solve)"
            out.append({"model": name, "quantity": q, "n": every[0] if every else None,
                        "all_n": list(every), "method": how})
    return tuple(out)


def _bytes(dtype: str):
    from costmodel.numeric import dtype_bytes_of
    return dtype_bytes_of(dtype)


def _symbolic_crossover(a: sp.Expr, b: sp.Expr, fixed: dict) -> int | None:
    """The smallest whole n >= 1 at or past the first real root of a(n) == b(n) (the root
    rounded up, exactly), or None when they never meet."""
    every = _symbolic_crossings(a, b, fixed)
    return every[0] if every else None


def _symbolic_crossings(a: sp.Expr, b: sp.Expr, fixed: dict) -> tuple[int, ...]:
    """Every real root n >= 1 of a(n) == b(n), each rounded up to a whole n, ascending
    ((1,) when a == b for every n; () when they never meet)."""
    diff = sp.expand((a - b).xreplace(fixed))
    if diff.free_symbols - {S.n}:
        return ()
    if diff == 0:
        return (1,)
    x = sp.Symbol("x", real=True)  # n is an integer symbol: solve would drop 3.5 as a root
    roots = sp.solve(sp.Eq(diff.xreplace({S.n: x}), 0), x) if diff.has(S.n) else []
    return tuple(sorted({int(sp.ceiling(r)) for r in roots if r.is_real and r >= 1}))


def _time_crossings(recurrent: dict, tf: Cost, setup: Setup, hw: Hardware,
                    eff) -> dict:
    """For each recurrence, every whole n where the order of its forward time and the
    Transformer's changes (the first n of the new order), ascending: a coarse geometric grid
    up to :data:`CROSSOVER_SEARCH_MAX_N`, each bracketing interval narrowed on
    :data:`REFINE_POINTS` points while wider, then every n in it, each one vectorised call of
    the roofline (two changes inside one grid interval are not seen)."""
    def forward(record, n):
        return np.asarray(predict(record, hw, eff=eff, dtype=setup.dtype, batch=setup.batch,
                                  allow_tf32=setup.allow_tf32, mode="inference",
                                  cudnn_stack=setup.cudnn_stack, n=n).forward_s, dtype=float)

    grid = np.unique(np.round(np.geomspace(1, CROSSOVER_SEARCH_MAX_N, 64)).astype(np.int64))
    tf_grid = forward(tf, grid)
    found = {}
    for name, record in recurrent.items():
        sign = np.sign(forward(record, grid) - tf_grid)
        crossings = []
        for i in np.nonzero(sign[:-1] != sign[1:])[0]:
            lo, hi = int(grid[i]), int(grid[i + 1])
            while hi - lo > REFINE_POINTS:  # narrow a wide bracket to its first change
                probe = np.unique(np.linspace(lo, hi, REFINE_POINTS + 1).astype(np.int64))
                probe_sign = np.sign(forward(record, probe) - forward(tf, probe))
                j = int(np.argmax(probe_sign != probe_sign[0]))
                lo, hi = int(probe[j - 1]), int(probe[j])
            fine = np.arange(lo, hi + 1)
            fine_sign = np.sign(forward(record, fine) - forward(tf, fine))
            crossings.append(int(fine[np.argmax(fine_sign != fine_sign[0])]))
        found[name] = tuple(sorted(set(crossings)))
    return found
