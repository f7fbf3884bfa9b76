"""docs/formulas.md: generated from the records, never stale, one section per model family."""

from __future__ import annotations

import difflib
from pathlib import Path

import sympy as sp

import costmodel as cm
from costmodel import formula_docs as F

#: Exports that are layers or helpers, not model families with a section of their own.
NOT_FAMILIES = {"Linear", "Embedding", "LayerNorm", "ReLU", "GELU", "Tanh", "Dropout",
                "Conv2d", "MaxPool2d", "TransformerEncoder", "TransformerDecoder", "Sequential"}


def test_formula_reference_is_not_stale():
    committed = Path(__file__).resolve().parent.parent / "docs" / "formulas.md"
    old, new = committed.read_text(encoding="utf-8"), F.render()
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), n=0))
    assert old == new, ('docs/formulas.md is stale, regenerate: python -c "from '
                        'costmodel.formula_docs import write; write()"\n' + diff[:2000])


def test_every_model_family_has_a_section():
    constructors = {name for name in cm.__all__ if name[0].isupper()
                    and callable(getattr(cm, name)) and name not in ("Cost", "Kernel",
                                                                     "Prediction", "FIELDS")}
    shown = {call.split("(")[0].removeprefix("cm.") for _, call, _, _ in F.FAMILIES}
    assert constructors - NOT_FAMILIES <= shown, constructors - NOT_FAMILIES - shown


def test_shown_call_builds_the_shown_record():
    # The call printed in each section is the one that built its formulas.
    for _, call, build, _ in F.FAMILIES:
        assert eval(call, {"cm": cm}) == build(), call


def test_latex_is_the_expression_or_its_leading_terms():
    lstm = cm.LSTM("d", "d")
    text, exact = F.quantity_latex(lstm, "params")
    d = sp.Symbol("d", positive=True, integer=True)
    assert exact and lstm.params == 8 * d**2 + 8 * d  # 4 gates * (d*d + d*d + 2d biases)
    assert text == r"8 d \left(d + 1\right)"
    old = F.MAX_LATEX_CHARS
    try:
        F.MAX_LATEX_CHARS = 5  # force the fallback
        text, exact = F.quantity_latex(lstm, "flops")
    finally:
        F.MAX_LATEX_CHARS = old
    assert not exact and text == sp.latex(lstm.leading_terms("flops"),
                                          symbol_names=F.SYMBOL_NAMES)
