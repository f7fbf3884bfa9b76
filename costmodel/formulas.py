"""General formulas by name, for `costmodel formula` and notebooks: sizes stay symbols.

Every family of docs/formulas.md is a module here, built with the same symbol names (the
docs' sections are these records: ``tests/test_formula_command.py`` checks it).
"""

from __future__ import annotations

import costmodel as cm  # lazy: the CLI reads MODULES without importing sympy

#: Each module's record, and what its symbols mean.
MODULES = {
    "rnn": "RNN(d, d): input and hidden width d",
    "lstm": "LSTM(d, d)",
    "gru": "GRU(d, d)",
    "transformer": "TransformerEncoderLayer(d, h heads, dim_feedforward f, dropout 0)",
    "decoder": "TransformerDecoderLayer(d, h, f, dropout 0) over a memory of n_src tokens",
    "attention": "MultiheadAttention(d, h)",
    "conv": "Conv1d(c -> d channels, kernel k, stride 1, no padding) over n frames",
    "crnn": "the CRNN of seed document 000 (3 conv blocks, 2-layer bidirectional GRU(256))",
    "s4": "S4(d, m): S4D layer, width d, state size m (d_state); FFT convolution mode",
    "mamba": "Mamba(d): d_state 16, d_conv 4, expand 2, dt_rank ceil(d/16)",
    "linear_attention": "LinearAttention(d, h): phi = elu + 1, non-causal",
    "linformer": "Linformer(d, h, k): keys and values projected to length k",
    "conformer": "ConformerBlock(d, h, dropout 0): ffn 4d, depthwise kernel 31",
    "ast": "AudioSpectrogramTransformer(): AST-Base (768 wide, 12 layers), n = frames",
}
#: Blocks stacked by ``layers`` with ``Sequential`` (the recurrences and the Transformer
#: layers stack natively).
STACKED = ("s4", "mamba", "linear_attention", "linformer", "conformer")
#: The modules each option applies to (anything else is refused, not ignored).
APPLIES = {
    "layers": ("rnn", "lstm", "gru", "transformer", "decoder", *STACKED),
    "bidirectional": ("rnn", "lstm", "gru"),
    "attention": ("attention", "transformer", "decoder", "conformer", "ast"),
    "mode": ("s4",),
}
ATTENTION_KERNELS = ("auto", "math", "flash")
S4_MODES = ("convolution", "recurrent")


def _check_options(name: str, given: dict) -> None:
    for option, used in given.items():
        if used and name not in APPLIES[option]:
            raise ValueError(f"{option} does not apply to {name}; it applies to: "
                             f"{', '.join(APPLIES[option])}")


def _kernel(attention):
    """Keyword arguments choosing the attention kernel, or none (the family's default)."""
    return {} if attention is None else {"attention": attention}


def _single(name: str, attention, mode):
    """One block of ``name`` (no stacking)."""
    if name in ("rnn", "lstm", "gru"):
        return {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]("d", "d")
    if name == "attention":  # a fused kernel returns no weights
        return cm.MultiheadAttention("d", "h", **_kernel(attention),
                                     need_weights=attention != "flash")
    builders = {
        "conv": lambda: cm.Conv1d("c", "d", "k"),
        "crnn": lambda: cm.CRNN(),
        "s4": lambda: cm.S4("d", "m", mode=mode or "convolution"),
        "mamba": lambda: cm.Mamba("d"),
        "linear_attention": lambda: cm.LinearAttention("d", "h"),
        "linformer": lambda: cm.Linformer("d", "h", "k"),
        "conformer": lambda: cm.ConformerBlock("d", "h", dropout=0.0, **_kernel(attention)),
        "ast": lambda: cm.AudioSpectrogramTransformer(**_kernel(attention)),
    }
    return builders[name]()


def module(name: str, layers: int = 1, bidirectional: bool = False, *,
           attention: str | None = None, mode: str | None = None):
    """A record with width ``d`` (and ``h`` heads, ``f`` feed-forward width, ``c`` input
    channels, ``k`` kernel width or Linformer's projected length, ``m`` S4's state size) left
    symbolic; see :data:`MODULES`. ``attention`` (auto, math, flash) and S4's ``mode``
    (convolution, recurrent) default to the family's own; an option that does not apply to
    ``name`` is refused."""
    from costmodel.checks import check_bool, check_choice, check_size
    from costmodel.compose import Sequential

    check_choice("module", name, tuple(MODULES))
    layers = check_size("layers", layers)
    check_bool("bidirectional", bidirectional)
    if attention is not None:
        check_choice("attention", attention, ATTENTION_KERNELS)
    if mode is not None:
        check_choice("mode", mode, S4_MODES)
    _check_options(name, {"layers": layers != 1, "bidirectional": bool(bidirectional),
                          "attention": attention is not None, "mode": mode is not None})
    if name in ("rnn", "lstm", "gru"):
        family = {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]
        return family("d", "d", num_layers=layers, bidirectional=bidirectional)
    if name in ("transformer", "decoder"):
        build = cm.TransformerEncoderLayer if name == "transformer" \
            else cm.TransformerDecoderLayer
        stack = cm.TransformerEncoder if name == "transformer" else cm.TransformerDecoder
        layer = build("d", "h", dim_feedforward="f", dropout=0.0, **_kernel(attention))
        return layer if layers == 1 else stack(layer, layers)
    if layers == 1:
        return _single(name, attention, mode)
    return Sequential(*(_single(name, attention, mode) for _ in range(layers)))


def formula(name: str, quantity: str, layers: int = 1, bidirectional: bool = False, *,
            attention: str | None = None, mode: str | None = None):
    """``(expression, leading terms)`` of one quantity of one module."""
    import sympy as sp

    record = module(name, layers, bidirectional, attention=attention, mode=mode)
    return sp.factor_terms(sp.expand(record.get(quantity))), record.leading_terms(quantity)


def attention_kernel(name: str, attention: str | None = None) -> str | None:
    """The attention kernel the formulas of module ``name`` count: "flash" (fused, no n x n
    scores kept) or "math" (scores, softmax, scores @ V), read off the record's kernels;
    None for a module without softmax attention."""
    from costmodel.cost import own_name

    if name not in APPLIES["attention"]:
        return None
    kernels = {own_name(k.name) for k in module(name, attention=attention).kernels}
    return "flash" if "flash_attention" in kernels else "math" if "scores" in kernels else None
