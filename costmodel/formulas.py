"""General formulas by name, for `costmodel formula` and notebooks: sizes stay symbols."""

from __future__ import annotations

import sympy as sp

import costmodel as cm
from costmodel.checks import check_choice

MODULES = ("rnn", "lstm", "gru", "transformer", "attention")


def module(name: str, layers: int = 1, bidirectional: bool = False):
    """A record with width ``d`` (and ``h`` heads, ``f`` feed-forward width) left symbolic."""
    check_choice("module", name, MODULES)
    if name in ("rnn", "lstm", "gru"):
        family = {"rnn": cm.RNN, "lstm": cm.LSTM, "gru": cm.GRU}[name]
        return family("d", "d", num_layers=layers, bidirectional=bidirectional)
    if name == "attention":
        return cm.MultiheadAttention("d", "h")
    layer = cm.TransformerEncoderLayer("d", "h", dim_feedforward="f", dropout=0.0)
    return layer if layers == 1 else cm.TransformerEncoder(layer, layers)


def formula(name: str, quantity: str, layers: int = 1, bidirectional: bool = False):
    """``(expression, leading terms)`` of one quantity of one module."""
    record = module(name, layers, bidirectional)
    return sp.factor_terms(sp.expand(record.get(quantity))), record.leading_terms(quantity)
