"""The command line: formats, numbers behind the table, and bad input -> exit 2, one line."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import costmodel as cm
from clirun import run



def test_compare_json_rows_equal_the_library():
    code, out, _ = run("compare", "--n", "64", "--d", "128", "--models", "lstm,gru",
                       "--format", "json")
    assert code == 0
    data = json.loads(out)
    lstm = next(r for r in data["rows"] if r["model"] == "lstm")
    expected = cm.LSTM(128, 128).evaluate(n=64, batch=1)
    assert {k: lstm[k] for k in expected} == expected
    assert lstm["time_forward_s"] > 0 and lstm["binding"] in ("compute", "memory", "latency")


def test_compare_csv_has_one_row_per_model():
    code, out, _ = run("compare", "--n", "32", "--d", "64", "--models", "rnn,lstm",
                       "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["model"] for r in rows] == ["rnn", "lstm"]
    assert int(rows[0]["params"]) == cm.RNN(64, 64).evaluate(n=1)["params"]


def test_sweep_writes_every_point(tmp_path):
    target = tmp_path / "sweep.csv"
    code, _, err = run("sweep", "--n", "16:64:x2", "--d", "64,128", "--batch", "1,4",
                       "--models", "rnn,gru", "-o", str(target))
    rows = list(csv.DictReader(target.open()))
    assert code == 0 and len(rows) == 3 * 2 * 2 * 2  # n x d x batch x models
    first = rows[0]
    assert int(first["params"]) == cm.RNN(64, 64).evaluate(n=1)["params"]


def test_formula_prints_the_expression():
    import sympy as sp

    from costmodel import symbols as S

    code, out, _ = run("formula", "lstm", "params")
    printed = sp.sympify(out.splitlines()[0], locals={"d": S.size_symbol("d")})
    assert code == 0 and sp.expand(printed - cm.LSTM("d", "d").params) == 0


@pytest.mark.parametrize("argv, word", [
    (["compare", "--n", "0", "--d", "768"], "n=0"),
    (["compare", "--n", "512", "--d", "-3"], "d=-3"),
    (["compare", "--n", "512", "--d", "768", "--heads", "5"], "heads=5"),
    (["compare", "--n", "512", "--d", "768", "--gpu", "a101"], "a100"),
    (["compare", "--n", "512", "--d", "768", "--models", "lstm,xlstm"], "xlstm"),
    (["sweep", "--n", "8", "--d", "64", "--batch", "1", "--models", "mamba,xlstm"], "xlstm"),
    (["compare", "--n", "x", "--d", "768"], "--n"),
    (["compare", "--n", "512", "--d", "768", "--causal", "--bidirectional"], "causal"),
    (["formula", "lstm", "speed"], "speed"),
    (["sweep", "--n", "1:3:x1"], "--n"),
])
def test_bad_input_exits_2_with_one_line(argv, word):
    code, out, err = run(*argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and word in err
    assert "Traceback" not in err


def test_malformed_device_file_names_the_file_and_field(tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text('name = "mine"\nhbm_bytes_per_s = "fast"\n[peak_flops_per_s]\nfp32 = 1e13\n')
    code, _, err = run("compare", "--n", "8", "--d", "8", "--models", "rnn", "--gpu", str(bad))
    assert code == 2 and "mine.toml" in err and "hbm_bytes_per_s" in err


SIZES = st.one_of(st.integers(-5, 300).map(str), st.sampled_from(["", "x", "1e3", "nan",
                                                                  "12.5", "-0"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=SIZES, d=SIZES, batch=SIZES, heads=st.one_of(st.none(), SIZES),
       gpu=st.sampled_from(["a100", "h100", "nope", "t4"]),
       models=st.sampled_from(["rnn", "lstm,gru", "gru,rnn"]))
def test_generated_arguments_never_give_a_traceback(n, d, batch, heads, gpu, models):
    argv = ["compare", "--n", n, "--d", d, "--batch", batch, "--gpu", gpu, "--models", models,
            "--format", "json"]
    if heads is not None:
        argv += ["--heads", heads]
    code, out, err = run(*argv)
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1
    else:
        assert json.loads(out)["rows"]


def test_cli_reference_is_not_stale():
    from pathlib import Path

    from costmodel.cli.reference import render

    import difflib

    committed = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    old, new = committed.read_text(encoding="utf-8"), render()
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), n=0))
    assert old == new, ('docs/cli.md is stale, regenerate: python -c "from '
                        'costmodel.cli.reference import write; write()"\n' + diff[:2000])


def _command_tree():
    """``(path, command)`` for every command and subcommand under ``costmodel``."""
    import click

    from costmodel.cli.commands import cli

    todo, found = [("costmodel", cli)], []
    while todo:
        path, command = todo.pop()
        found.append((path, command))
        if isinstance(command, click.Group):
            todo += [(f"{path} {name}", sub) for name, sub in command.commands.items()]
    return found


def test_every_command_help_has_an_example():
    tree = _command_tree()
    assert len(tree) > 10  # the root and every registered command were walked
    for path, command in tree:
        assert "Example:" in (command.help or ""), path


def test_every_command_has_a_docs_entry():
    # Beyond the generated docs/cli.md: the README's Commands list or docs/getting-started.md.
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    commands_list = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    docs = commands_list + (root / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for path, _ in _command_tree()[1:]:
        assert f"`{path} " in docs or f"`{path}`" in docs, f"{path} has no docs entry"


def test_getting_started_pastes_the_headline_as_it_prints_today():
    """docs/getting-started.md says its headline block is "pasted from a run of this
    version": it is the live output, byte for byte (regenerate it when the model moves)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "getting-started.md").read_text(encoding="utf-8")
    prompt = "$ costmodel compare --n 512 --d 768 --gpu a100\n"
    pasted = text.split(prompt, 1)[1].split("```", 1)[0]
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "a100")
    assert code == 0 and pasted == out


def test_json_schema_is_stable_and_documented():
    from pathlib import Path

    from costmodel.compare import ROW_KEYS

    code, out, _ = run("compare", "--n", "16", "--d", "64", "--format", "json")
    data = json.loads(out)
    assert set(data) == {"rows", "ratios", "crossovers", "setup", "assumptions"}
    assert all(tuple(row) == ROW_KEYS for row in data["rows"])
    doc = (Path(__file__).resolve().parent.parent / "docs" / "compare.md").read_text()
    assert all(f"`{key}`" in doc for key in ROW_KEYS)
    assert all(f"`{key}`" in doc for key in data["ratios"][0])


def test_a_zigzag_of_crossovers_is_abbreviated_in_the_table_not_in_json():
    # at n = 1, batch 23 the LSTM and the Transformer swap places many times (GEMM waves at
    # tiny n): the cell shows the first two n, '...' and the last, within 80 columns; the
    # note says so; the JSON keeps every n
    args = ("compare", "--n", "1", "--d", "768", "--batch", "23", "--layers", "2",
            "--attention", "flash")
    code, out, err = run(*args)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    code, raw, err = run(*args, "--format", "json")
    crossing = [c for c in json.loads(raw)["crossovers"]
                if c["model"] == "lstm" and c["quantity"] == "time_forward_s"][0]
    every = crossing["all_n"]
    assert len(every) > 4
    cell = f"{every[0]:,} / {every[1]:,} / ... / {every[-1]:,}"
    assert cell in out and "'...': more changes, every n in --format json" in out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 100000), d=st.sampled_from([64, 256, 768, 4096]),
       batch=st.integers(1, 512), layers=st.integers(1, 4), attention=st.sampled_from(
           ["math", "flash"]))
def test_table_fits_80_columns(n, d, batch, layers, attention):
    code, out, err = run("compare", "--n", str(n), "--d", str(d), "--batch", str(batch),
                         "--layers", str(layers), "--attention", attention)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80


def test_allow_tf32_speeds_up_cublas_matmuls_only():
    def times(*extra):
        _, out, _ = run("compare", "--n", "512", "--d", "768", "--format", "json", *extra)
        return {r["model"]: r["time_forward_s"] for r in json.loads(out)["rows"]}

    plain, tf32 = times(), times("--allow-tf32")
    assert tf32["transformer"] < plain["transformer"]  # cuBLAS: FP32 -> TF32 peak
    assert tf32["lstm"] == plain["lstm"]  # cuDNN RNNs use TF32 by default already


def test_percentages_never_print_in_exponent_form():
    from costmodel.cli.tables import _cell

    # 1.9 (a calibrated CPU profile: oneDNN beats the measured MKL peak) is 190 %, not 1.9e+02
    assert [_cell(v, "%") for v in (1.9, 0.53, 0.054, 0.0012)] == [
        "190 %", "53 %", "5.4 %", "0.12 %"]


@pytest.mark.parametrize("d, heads, width", [
    (100, 2, 50),  # widths 50 (14 from 64) and 100 (36): 50
    (96, 2, 48),
    (1000000001, 12987013, 77),  # its divisors up to 127: 1, 7, 11, 13, 19, 77, 91
    (99999999999, 11111111111, 9),  # its divisors up to 127: 1, 3, 9
])
def test_a_d_64_does_not_divide_is_refused_with_the_nearest_head_width(d, heads, width):
    # the suggestion is found among widths 1..127 (a width of 1 always divides), not by a
    # search over d's divisors (which took minutes for an 11-digit d)
    code, _, err = run("compare", "--n", "8", "--d", str(d))
    assert code == 2
    assert f"e.g. --heads {heads} ({width}-wide heads)" in err


@pytest.mark.parametrize("args, name", [
    (["--heads", "-1"], "heads"), (["--heads", "0"], "heads"),
    (["--models", "rnn", "--heads", "-5"], "heads"),  # refused like compare, models or not
    (["--layers", "0"], "layers"),
])
def test_sweep_refuses_bad_heads_or_layers_before_printing_any_row(args, name):
    code, out, err = run("sweep", "--n", "16,32", "--d", "256", *args)
    assert code == 2 and out == ""
    assert err.strip().startswith(f"costmodel: error: {name}=") and err.count("\n") == 1


def test_time_crossover_lists_every_change_of_order():
    """At n 512, d 768 on an A100 the Transformer is faster from n = 6 (the recurrence's
    513-step floor) until its O(n^2) attention overtakes the recurrence's O(n) steps: the
    second crossing is reported too, each one a real change of sign of the forward times."""
    from costmodel.compare import compare
    from costmodel.roofline import predict

    result = compare(512, 768, "a100", models=("rnn", "transformer"))
    (time,) = [c for c in result.crossovers if c["quantity"] == "time_forward_s"]
    assert time["n"] == time["all_n"][0] and len(time["all_n"]) == 2
    rnn, tf = result.records["rnn"], result.records["transformer"]

    def faster_rnn(n):
        at = dict(dtype="fp32", batch=1, mode="inference", n=n)
        return float(predict(rnn, result.hardware, **at).forward_s) < float(
            predict(tf, result.hardware, **at).forward_s)
    first, second = time["all_n"]
    assert faster_rnn(first - 1) and not faster_rnn(first)
    assert not faster_rnn(second - 1) and faster_rnn(second)
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--models", "rnn,transformer")
    assert f"{first} / {second:,}" in out


@pytest.mark.parametrize("option, value", [
    ("--max-config-s", "-1"), ("--max-config-s", "0"), ("--budget-s", "nan"),
    ("--budget-s", "inf"), ("--quiet-s", "-0.5"), ("--quiet-s", "nan"),
])
def test_validate_refuses_seconds_that_are_not_finite_and_positive(option, value, tmp_path):
    code, out, err = run("validate", "--device", "cpu", "--quick", option, value,
                         "-o", str(tmp_path / "stem"))
    assert code == 2 and out == "" and option in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # refused before anything is timed or written


@pytest.mark.parametrize("command, option, text, why", [
    ("sweep", "--n", "16:4096:x1", "a factor >= 2"),
    ("sweep", "--n", "16:8", "a range has three parts"),
    ("sweep", "--n", "1,,2", "an empty item"),
    ("sweep", "--n", "1,2,", "an empty item"),
    ("padding", "--lengths", "5,,6", "an empty item"),
])
def test_a_malformed_value_list_says_what_is_wrong(command, option, text, why):
    code, out, err = run(command, option, text, "--d", "64")
    assert code == 2 and out == "" and why in err and err.count("\n") == 1
