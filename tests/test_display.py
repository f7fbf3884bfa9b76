"""Notebook display: records, comparisons and predictions as HTML / LaTeX and pandas frames
that hold the library's numbers."""

from __future__ import annotations

import numpy as np
import sympy as sp

import costmodel as cm
from costmodel.compare import compare
from costmodel.display import si
from costmodel.sweep import COLUMNS, sweep, sweep_frame


def test_cost_html_and_latex_show_the_formulas():
    record = cm.LSTM(768, 768)
    page = record._repr_html_()
    assert "<table>" in page and str(record.params) in page  # 4*4*768*(768+768+2)/... exact
    latex = record._repr_latex_()
    assert latex.startswith("$$") and sp.latex(record.flops) in latex
    assert r"\text{depth forward}" in latex


def test_comparison_frame_is_its_rows():
    result = compare(512, 768, "a100", models=("lstm", "transformer"))
    frame = result.to_frame()
    assert list(frame.index) == ["lstm", "transformer"]
    for row in result.rows:
        assert frame.loc[row["model"], "params"] == row["params"]
        assert frame.loc[row["model"], "time_forward_s"] == row["time_forward_s"]
    page = result._repr_html_()
    assert "A100" in page and "assumptions" in page and page.count("<tr>") >= 3


def test_prediction_frame_sums_to_its_phases():
    p = cm.predict(cm.GRU(256, 256), "h100", n=128, mode="training")
    frame = p.to_frame()
    assert len(frame) == len(p.kernels)
    np.testing.assert_allclose(frame["share"].sum(), 1.0)
    np.testing.assert_allclose(frame["total_s"], [k.count * k.seconds for k in p.kernels])
    assert "H100" in p._repr_html_() and "<table>" in p._repr_html_()


def test_sweep_frame_is_tidy():
    frame = sweep_frame([64, 128], [256], [1, 2], "a100", models=("rnn", "transformer"))
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 2 * 1 * 2 * 2  # n values x d x batch x models: one row each
    cols = sweep([64, 128], [256], [1, 2], "a100", models=("rnn", "transformer"))
    np.testing.assert_array_equal(frame["time_training_s"], cols["time_training_s"])


def test_si_prefixes():
    assert si(1.5e9, "B") == "1.5 GB"
    assert si(2.5e-4, "s") == "250 µs"
    assert si(12) == "12"
