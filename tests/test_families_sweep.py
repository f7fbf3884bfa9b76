"""The newer families (S4, Mamba, linear attention, Linformer, Conformer, AST) in the sweep:
the record built with d symbolic and vectorised over numpy grids gives what compare's record
at each concrete d gives through ``evaluate``; the sweep's CSV columns are compare's."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from clirun import run
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.compare import MODELS, Setup, build, compare
from costmodel.compare_families import FAMILIES
from costmodel.sweep import (COLUMNS, QUANTITY_COLUMNS, _symbolic, comparison_columns,
                             iter_sweep, sweep)

COUNTS = ("params", "flops", "flops_backward", "activation_bytes", "state_bytes",
          "depth_forward")
#: Widths with a whole number of 64-wide heads (the default heads d / 64).
widths = st.integers(1, 12).map(lambda k: 64 * k)


def test_every_compare_model_is_a_sweep_model():
    assert set(FAMILIES) <= set(MODELS)
    cols = sweep([32], [128], [1], "a100", models=MODELS)
    assert list(dict.fromkeys(cols["model"].tolist())) == list(MODELS)


@pytest.mark.parametrize("name", FAMILIES)
@settings(max_examples=8, deadline=None)
@given(n=st.lists(st.integers(1, 5000), min_size=1, max_size=3),
       d=widths, batch=st.integers(1, 64), layers=st.integers(1, 2))
def test_vectorize_over_grids_is_evaluate(name, n, d, batch, layers):
    setup = Setup(n=1, d=64, layers=layers, models=(name,))
    symbolic = _symbolic(name, setup, None).vectorize(COUNTS)
    N = np.asarray(n, dtype=np.int64)
    got = symbolic(n=N, d=np.full(N.shape, d), batch=np.full(N.shape, batch))
    concrete = build(Setup(n=1, d=d, layers=layers, models=(name,)).checked(), name)
    for i, n_i in enumerate(n):
        want = concrete.evaluate(n=n_i, batch=batch)
        for q in COUNTS:
            assert int(np.rint(float(got[q][i]))) == want[q], (q, n_i)


@pytest.mark.parametrize("n, d, batch", [(16, 256, 1), (300, 384, 3), (1000, 128, 2)])
def test_sweep_rows_are_compare_rows(n, d, batch):
    cols = sweep([n], [d], [batch], "a100", models=FAMILIES)
    want = comparison_columns(compare(n, d, "a100", batch=batch, models=FAMILIES))
    for column in COLUMNS:
        if column.startswith("time_") or column == "fraction_of_peak":
            assert cols[column].tolist() == pytest.approx(want[column], rel=1e-12), column
        else:
            assert [str(v) for v in cols[column]] == [str(v) for v in want[column]], column


def test_heads_column_only_for_models_with_heads():
    cols = comparison_columns(compare(64, 128, "a100", models=("lstm", "s4", "mamba",
                                                                "linformer", "ast")))
    # 128 / 64 = 2 heads where there are heads; none for a recurrence or a state space model
    assert cols["heads"] == ["", "", "", 2, 2]


def test_streamed_chunks_are_the_whole_sweep():
    whole = sweep([8, 64, 512], [64, 128], [1, 2], "h100", models=("mamba", "linformer"))
    chunks = list(iter_sweep([8, 64, 512], [64, 128], [1, 2], "h100",
                             models=("mamba", "linformer"), chunk_points=5))
    assert [len(c["model"]) for c in chunks] == [5, 5, 2, 5, 5, 2]  # 12 points per model
    for column in QUANTITY_COLUMNS:
        assert np.concatenate([c[column] for c in chunks]).tolist() == whole[column].tolist()


def test_cli_sweep_of_the_families_is_the_library():
    code, out, err = run("sweep", "--n", "64,256", "--d", "128", "--batch", "2",
                         "--models", "s4,conformer")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    lib = sweep([64, 256], [128], [2], "a100", models=("s4", "conformer"))
    assert [r["model"] for r in rows] == lib["model"].tolist()
    assert [int(r["flops"]) for r in rows] == lib["flops"].tolist()
    assert [int(r["inference_bytes"]) for r in rows] == lib["inference_bytes"].tolist()


@pytest.mark.parametrize("argv, words", [
    (["--models", "linformer", "--d", "100"], ("d=100", "--heads")),
    (["--models", "ast", "--d", "128", "--heads", "3"], ("d=128", "heads=3")),
    (["--models", "conformer", "--mode", "decode"], ("conformer", "s4, mamba")),
])
def test_bad_family_input_is_one_line_exit_2(argv, words):
    code, out, err = run("sweep", "--n", "16", *argv)
    assert code == 2, out
    assert len(err.strip().splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize("mode", ["decode", "prefill"])
def test_serving_sweep_of_the_constant_state_families_is_compare_serving(mode):
    from costmodel.decode import compare_serving
    from costmodel.serving_sweep import serving_sweep

    out = serving_sweep([1, 300], [128], [2], "h100", mode,
                        models=("s4", "mamba", "linear_attention"))
    for i, name in enumerate(out["model"].tolist()):
        row = compare_serving(int(out["context"][i]), 128, "h100", mode, batch=2,
                              models=(name,)).rows[0]
        for key in ("state_bytes", "memory_bytes", "binding"):
            assert out[key][i] == row[key], key
        assert out["time_s"][i] == pytest.approx(row["time_s"], rel=1e-12)
