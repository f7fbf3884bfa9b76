"""`costmodel formula` covers every family of docs/formulas.md, with each option checked per
family: an option that does not apply is refused with one line and exit 2."""

from __future__ import annotations

import pytest
import sympy as sp
from clirun import run

import costmodel as cm
from costmodel import formula_docs
from costmodel.formulas import APPLIES, MODULES, formula, module

#: docs/formulas.md's sections as `formula` builds them: (module, options).
SECTIONS = {
    "RNN": ("rnn", {}), "LSTM": ("lstm", {}), "GRU": ("gru", {}),
    "Transformer encoder layer": ("transformer", {}),
    "Transformer decoder layer": ("decoder", {}),
    "MultiheadAttention, math kernel": ("attention", {"attention": "math"}),
    "MultiheadAttention, flash kernel": ("attention", {"attention": "flash"}),
    "Conv1d": ("conv", {}), "CRNN": ("crnn", {}), "S4": ("s4", {}), "Mamba": ("mamba", {}),
    "LinearAttention": ("linear_attention", {}), "Linformer": ("linformer", {}),
    "ConformerBlock": ("conformer", {}), "AudioSpectrogramTransformer": ("ast", {}),
}
QUANTITIES = ("params", "flops", "flops_backward", "activation_bytes", "depth_forward")


def test_every_documented_family_is_a_module_and_back():
    assert {title for title, *_ in formula_docs.FAMILIES} == set(SECTIONS)
    assert {name for name, _ in SECTIONS.values()} == set(MODULES)


@pytest.mark.parametrize("title, call, build, note", formula_docs.FAMILIES,
                         ids=[f[0] for f in formula_docs.FAMILIES])
def test_module_is_the_documented_record(title, call, build, note):
    name, options = SECTIONS[title]
    ours, documented = module(name, **options), build()
    for q in QUANTITIES:
        assert sp.simplify(ours.get(q) - documented.get(q)) == 0, q


@pytest.mark.parametrize("name, record", [
    ("s4", lambda: cm.S4("d", "m")),
    ("mamba", lambda: cm.Mamba("d")),
    ("linear_attention", lambda: cm.LinearAttention("d", "h")),
    ("linformer", lambda: cm.Linformer("d", "h", "k")),
    ("conformer", lambda: cm.ConformerBlock("d", "h", dropout=0.0)),
])
def test_cli_prints_each_new_family(name, record):
    code, out, err = run("formula", name, "flops")
    assert code == 0, err
    names = {s.name: s for s in record().free_symbols}
    printed = sp.sympify(out.splitlines()[0], locals=names)
    assert sp.expand(printed - record().flops) == 0
    assert out.splitlines()[1].startswith("leading terms: ")


def test_layers_stack_blocks():
    one = cm.Mamba("d")
    # three blocks: 3 x the parameters, 3 x the forward depth (one after another)
    assert sp.expand(module("mamba", 3).params - 3 * one.params) == 0
    assert sp.expand(module("mamba", 3).depth_forward - 3 * one.depth_forward) == 0


def test_s4_mode_and_attention_kernel_options():
    assert module("s4", mode="recurrent").name == cm.S4("d", "m", mode="recurrent").name
    # math attention saves the n^2 scores, flash does not: only math has an n^2 term
    n = cm.symbols.n
    math = sp.Poly(formula("conformer", "activation_bytes", attention="math")[0], n)
    flash = sp.Poly(formula("conformer", "activation_bytes", attention="flash")[0], n)
    assert math.degree() == 2 and flash.degree() == 1


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_option_that_does_not_apply_is_refused(name):
    given = {"layers": 2, "bidirectional": True, "attention": "math", "mode": "recurrent"}
    for option, value in given.items():
        if name in APPLIES[option]:
            continue
        with pytest.raises(ValueError, match=f"{option} does not apply to {name}"):
            module(name, **{option: value})


@pytest.mark.parametrize("argv, words", [
    (["mamba", "flops", "--attention", "math"], ("attention", "mamba", "conformer")),
    (["ast", "params", "--layers", "2"], ("layers", "ast")),
    (["lstm", "flops", "--mode", "recurrent"], ("mode", "lstm", "s4")),
    (["s4", "flops", "--mode", "scan"], ("--mode", "convolution")),
    (["linformer", "speed"], ("speed",)),
    (["performer", "flops"], ("performer", "mamba")),
])
def test_cli_bad_option_is_one_line_exit_2(argv, words):
    code, out, err = run("formula", *argv)
    assert code == 2, out
    assert len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
