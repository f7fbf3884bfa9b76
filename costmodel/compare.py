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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

import costmodel as cm
from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_size
from costmodel.cost import FIELDS, Cost
from costmodel.hardware import Hardware, load_hardware
from costmodel.implementations import op_floor, op_floor_s, rnn_implementation
from costmodel.implementations.cudnn_stack import STACKS
from costmodel.implementations.cudnn_stack import resolve as stack_for
from costmodel.implementations.sdpa import MODES, resolve
from costmodel.roofline import Efficiency, predict

#: The rows compare shows by default.
DEFAULT_MODELS = ("rnn", "lstm", "gru", "transformer")
#: Every row --models may name: the defaults and the newer families (costmodel.compare_families).
MODELS = (*DEFAULT_MODELS, "s4", "mamba", "linear_attention", "linformer", "conformer", "ast")
RECURRENT = ("rnn", "lstm", "gru")
#: Rows with attention heads (the comparison's heads apply).
WITH_HEADS = ("transformer", "linear_attention", "linformer", "conformer", "ast")
ATTENTION_KERNELS = ("auto", "math", "flash")
#: The comparison's default head width (BERT/GPT-2 convention): d / 64 heads.
HEAD_WIDTH = 64
#: Quantities whose crossover in n is solved (recurrence == Transformer).
CROSSOVER_QUANTITIES = ("activation_bytes", "flops", "time_forward_s")
#: Output keys beyond the cost record's fields, all SI (seconds, bytes, FLOP/byte).
TIME_KEYS = ("time_forward_s", "time_forward_upper_s", "time_training_s",
             "time_training_upper_s", "binding", "fraction_of_peak", "arithmetic_intensity")
#: Where the time crossover is searched: n from 1 to this many steps.
CROSSOVER_SEARCH_MAX_N = 1 << 20
#: Every key of a row, in order: the stable JSON schema.
ROW_KEYS = ("model", *FIELDS, "inference_bytes", *TIME_KEYS)
#: The training step's memory: what the forward saves plus weights, gradients, Adam states.
TRAINING_MEMORY = ("activation_bytes", "weight_bytes", "gradient_bytes", "optimizer_bytes")


@dataclass(frozen=True)
class Setup:
    n: int
    d: int
    batch: int = 1
    layers: int = 1
    heads: int | None = None
    ffn: int | None = None
    bidirectional: bool = False
    dtype: str = "fp32"
    attention: str = "auto"
    causal: bool = False
    #: cuBLAS matmuls in fp32 on TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32,
    #: default False); cuDNN's RNNs and convolutions use TF32 by default either way.
    allow_tf32: bool = False
    models: tuple[str, ...] = DEFAULT_MODELS
    #: the cuDNN generation whose step floor prices the recurrences (implementations/
    #: cudnn_stack.py): "auto" (the default: cuDNN 8 on Ampere/Ada/Hopper, DeepBench's floors
    #: on older GPUs), "deepbench" (fitted) or "pr62143" (an unnamed GPU's cuDNN 8)
    cudnn_stack: str = "auto"

    def checked(self) -> "Setup":
        d = check_size("d", self.d)
        if self.heads is not None:
            heads = check_size("heads", self.heads)
        elif set(self.models) & set(WITH_HEADS):
            heads = default_heads(d)
        else:  # no Transformer row: heads change nothing
            heads = d // HEAD_WIDTH if d % HEAD_WIDTH == 0 else 1
        if d % heads:
            raise ValueError(f"heads={heads} must divide d={d}")
        ffn = check_size("ffn", self.ffn if self.ffn is not None else 4 * d)
        for name in self.models:
            check_choice("models", name, MODELS)
        if not self.models:
            raise ValueError("models: choose at least one of " + ", ".join(MODELS))
        check_choice("attention", self.attention, ATTENTION_KERNELS)
        check_bool("bidirectional", self.bidirectional)
        check_bool("causal", self.causal)
        check_bool("allow_tf32", self.allow_tf32)
        check_choice("cudnn_stack", self.cudnn_stack, STACKS)
        check_bidirectional(self.models, self.bidirectional)
        if self.causal and self.bidirectional:
            raise ValueError("causal and bidirectional conflict: a causal model cannot read "
                             "the future, a bidirectional recurrence does")
        return dataclasses.replace(
            self, n=check_size("n", self.n), d=d, batch=check_size("batch", self.batch),
            layers=check_size("layers", self.layers), heads=heads, ffn=ffn,
            models=tuple(dict.fromkeys(self.models)))


def check_bidirectional(models, bidirectional: bool) -> None:
    """``bidirectional`` with no recurrence among ``models`` is refused, not ignored."""
    if bidirectional and not set(models) & set(RECURRENT):
        raise ValueError("bidirectional applies to the recurrences (rnn, lstm, gru); none "
                         "of models=" + ",".join(models) + " is one")


def default_heads(d: int) -> int:
    """d / 64 heads; a d that 64 does not divide is refused with the fix (choose heads)."""
    if d % HEAD_WIDTH == 0:
        return d // HEAD_WIDTH
    near = min((h for h in range(1, d + 1) if d % h == 0),
               key=lambda h: (abs(d / h - HEAD_WIDTH), h))
    raise ValueError(f"d={d} is not a multiple of the default head width {HEAD_WIDTH}: choose "
                     f"the number of heads with --heads (heads=), one that divides {d}, "
                     f"e.g. --heads {near} ({d // near}-wide heads)")


def build(setup: Setup, name: str, serving: bool = False) -> Cost:
    """The record of one model of the comparison, with n (and batch) left symbolic
    (``serving``: as it generates token by token, see costmodel.compare_families)."""
    if name not in DEFAULT_MODELS:
        from costmodel.compare_families import build_family

        return build_family(name, setup.d, setup.heads, setup.ffn, setup.layers,
                            setup.attention, serving)
    if name in RECURRENT:
        family = {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]
        return family(setup.d, setup.d, num_layers=setup.layers,
                      bidirectional=setup.bidirectional)
    layer = cm.TransformerEncoderLayer(setup.d, setup.heads, dim_feedforward=setup.ffn,
                                       dropout=0.0, attention=setup.attention,
                                       causal=setup.causal)
    return layer if setup.layers == 1 else cm.TransformerEncoder(layer, setup.layers)


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


def assumptions(setup: Setup, hw: Hardware, transformer: Cost | None = None,
                eff: Efficiency | None = None) -> dict:
    """Every choice of the comparison that changes its numbers, for the table and the JSON.
    (``rnn_implementation`` is the recurrences' implementation model; ``attention`` the SDPA
    kernel PyTorch runs per mode, ``None`` without a Transformer row.)"""
    attention = None
    if transformer is not None:
        attention = {mode: resolve(transformer, hw, setup.dtype, mode)[1].as_dict()
                     for mode in MODES}
    compared = bool(set(setup.models) & set(WITH_HEADS))
    return {"heads": setup.heads if compared else None,
            "head_width": setup.d // setup.heads if compared else None,
            "ffn": setup.ffn if compared else None, "dropout": 0.0, "batch_first": False,
            "optimizer": "adam",
            "training_step": "train-mode forward + backward + one Adam update",
            "inference": "model.eval() under torch.inference_mode(): dropout off, nothing "
                         "saved",
            "attention": attention,
            "rnn_implementation": rnn_implementation(hw, eff, setup.cudnn_stack),
            "cudnn_stack": stack_for(setup.cudnn_stack, hw),
            "op_floor": op_floor(hw, eff), "op_floor_s": op_floor_s(hw, eff),
            "rnn_memory": "fused (cuDNN/oneDNN reserve space), wavefront schedule",
            "allow_tf32": setup.allow_tf32}


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
    times = _time_crossovers({m: records[m] for m in recurrent}, tf, setup, hw, eff)
    out = []
    for name in recurrent:
        for q in CROSSOVER_QUANTITIES:
            if q == "time_forward_s":
                n_star = times[name]
                how = "numeric (sign change on the roofline, which is piecewise)"
            else:
                n_star = _symbolic_crossover(records[name].get(q), tf.get(q), fixed)
                how = "symbolic (sympy.solve)"
            out.append({"model": name, "quantity": q, "n": n_star, "method": how})
    return tuple(out)


def _bytes(dtype: str):
    from costmodel.numeric import dtype_bytes_of
    return dtype_bytes_of(dtype)


def _symbolic_crossover(a: sp.Expr, b: sp.Expr, fixed: dict) -> int | None:
    """The smallest whole n >= 1 at or past the first real root of a(n) == b(n) (the root
    rounded up, exactly), or None when they never meet."""
    diff = sp.expand((a - b).xreplace(fixed))
    if diff.free_symbols - {S.n}:
        return None
    if diff == 0:
        return 1
    x = sp.Symbol("x", real=True)  # n is an integer symbol: solve would drop 3.5 as a root
    roots = sp.solve(sp.Eq(diff.xreplace({S.n: x}), 0), x) if diff.has(S.n) else []
    real = sorted(int(sp.ceiling(r)) for r in roots if r.is_real and r >= 1)
    return real[0] if real else None


def _time_crossovers(recurrent: dict, tf: Cost, setup: Setup, hw: Hardware,
                     eff) -> dict:
    """For each recurrence, the smallest whole n where its forward time reaches the
    Transformer's (or None): a coarse geometric grid, then every n in the bracketing interval,
    each one vectorised call of the roofline."""
    def forward(record, n):
        return np.asarray(predict(record, hw, eff=eff, dtype=setup.dtype, batch=setup.batch,
                                  allow_tf32=setup.allow_tf32, mode="inference",
                                  cudnn_stack=setup.cudnn_stack, n=n).forward_s, dtype=float)

    grid = np.unique(np.round(np.geomspace(1, CROSSOVER_SEARCH_MAX_N, 64)).astype(np.int64))
    tf_grid = forward(tf, grid)
    found = {}
    for name, record in recurrent.items():
        sign = np.sign(forward(record, grid) - tf_grid)
        change = np.nonzero(sign[:-1] != sign[1:])[0]
        if not len(change):
            found[name] = None
            continue
        fine = np.arange(grid[change[0]], grid[change[0] + 1] + 1)
        fine_sign = np.sign(forward(record, fine) - forward(tf, fine))
        found[name] = int(fine[np.argmax(fine_sign != fine_sign[0])])
    return found
