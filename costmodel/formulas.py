"""General formulas by name, for `costmodel formula` and notebooks: sizes stay symbols."""

from __future__ import annotations

import sympy as sp

import costmodel as cm
from costmodel.checks import check_bool, check_choice, check_size

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
}
#: The modules each option applies to (anything else is refused, not ignored).
APPLIES = {
    "layers": ("rnn", "lstm", "gru", "transformer", "decoder"),
    "bidirectional": ("rnn", "lstm", "gru"),
}


def _check_options(name: str, layers, bidirectional) -> None:
    given = {"layers": layers != 1, "bidirectional": bool(bidirectional)}
    for option, used in given.items():
        if used and name not in APPLIES[option]:
            raise ValueError(f"{option} does not apply to {name}; it applies to: "
                             f"{', '.join(APPLIES[option])}")


def module(name: str, layers: int = 1, bidirectional: bool = False):
    """A record with width ``d`` (and ``h`` heads, ``f`` feed-forward width, ``c`` input
    channels, ``k`` kernel width) left symbolic; see :data:`MODULES`."""
    check_choice("module", name, tuple(MODULES))
    layers = check_size("layers", layers)
    check_bool("bidirectional", bidirectional)
    _check_options(name, layers, bidirectional)
    if name in ("rnn", "lstm", "gru"):
        family = {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]
        return family("d", "d", num_layers=layers, bidirectional=bidirectional)
    if name == "attention":
        return cm.MultiheadAttention("d", "h")
    if name == "conv":
        return cm.Conv1d("c", "d", "k")
    if name == "crnn":
        return cm.CRNN()
    if name == "decoder":
        layer = cm.TransformerDecoderLayer("d", "h", dim_feedforward="f", dropout=0.0)
        return layer if layers == 1 else cm.TransformerDecoder(layer, layers)
    layer = cm.TransformerEncoderLayer("d", "h", dim_feedforward="f", dropout=0.0)
    return layer if layers == 1 else cm.TransformerEncoder(layer, layers)


def formula(name: str, quantity: str, layers: int = 1, bidirectional: bool = False):
    """``(expression, leading terms)`` of one quantity of one module."""
    record = module(name, layers, bidirectional)
    return sp.factor_terms(sp.expand(record.get(quantity))), record.leading_terms(quantity)
