"""What ``compare`` compares: the models it may show, the :class:`Setup` of one comparison
(sizes, heads, ffn, attention kernel, cuDNN stack; ``checked`` refuses what cannot be built),
each model's record (``build``) and the ``assumptions`` that change its numbers.

:mod:`costmodel.compare` evaluates these records (rows, ratios, crossovers) and re-exports every
name here: ``costmodel.compare.Setup``, ``build``, ``assumptions`` and the model lists are these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import costmodel as cm
from costmodel.checks import check_bool, check_choice, check_size
from costmodel.cost import Cost
from costmodel.hardware import Hardware
from costmodel.implementations import op_floor, op_floor_s, rnn_implementation
from costmodel.implementations.cudnn_stack import DEFAULT as DEFAULT_STACK
from costmodel.implementations.cudnn_stack import STACKS
from costmodel.implementations.cudnn_stack import resolve as stack_for
from costmodel.implementations.sdpa import MODES, resolve
from costmodel.roofline import Efficiency

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
    cudnn_stack: str = DEFAULT_STACK

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
    # the head count whose width is nearest the default (ties: fewer heads); a width of 1
    # always divides, so the nearest lies within 1..2*HEAD_WIDTH: no search over d's divisors
    width = min((w for w in range(1, 2 * HEAD_WIDTH) if d % w == 0),
                key=lambda w: (abs(w - HEAD_WIDTH), -w))
    near = d // width
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
            "allow_tf32": setup.allow_tf32,
            "expected_error": expected_errors(setup, hw)}


def expected_errors(setup: Setup, hw: Hardware) -> dict:
    """Per kind of row shown (recurrence, transformer) and mode, the published measurements'
    score of such times on ``hw``'s architecture (costmodel.accuracy), or None; ``why_none``
    where no source measures this device at all."""
    from costmodel import accuracy

    kinds = [k for k, shown in (("recurrence", set(setup.models) & set(RECURRENT)),
                                ("transformer", "transformer" in setup.models)) if shown]
    why = accuracy.why_none(hw)
    out: dict = {"why_none": why}
    for kind in kinds:
        out[kind] = {mode: None if why else _as_dict(accuracy.expected_error(
            kind, hw, mode, setup.dtype, stack=setup.cudnn_stack)) for mode in accuracy.MODES}
    return out


def _as_dict(evidence):
    return None if evidence is None else evidence.as_dict()
