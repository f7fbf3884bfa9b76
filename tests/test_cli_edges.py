"""CLI consistency at the edges: one CSV column set, options that do not apply, digits, types."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sympy as sp

import costmodel as cm
from costmodel import symbols as S
from costmodel.cli.commands import cli
from costmodel.hardware import load_hardware
from costmodel.sweep import COLUMNS

from test_files import refused, run


def rows_of(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    return reader.fieldnames, list(reader)


# ----- one CSV column set -----------------------------------------------------------------
def test_compare_and_sweep_write_the_same_columns_and_numbers():
    code, compared, err = run("compare", "--n", "64", "--d", "128", "--batch", "2",
                              "--format", "csv")
    assert code == 0, err
    code, swept, err = run("sweep", "--n", "64", "--d", "128", "--batch", "2")
    assert code == 0, err
    (head_c, rows_c), (head_s, rows_s) = rows_of(compared), rows_of(swept)
    assert head_c == head_s == list(COLUMNS)
    assert COLUMNS[:8] == ("model", "n", "d", "batch", "layers", "heads", "gpu", "dtype")
    for a, b in zip(rows_c, rows_s, strict=True):
        for column in COLUMNS:
            if column.startswith("time_") or column == "fraction_of_peak":
                assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-9), column
            else:
                assert a[column] == b[column], column
    lstm = next(r for r in rows_c if r["model"] == "lstm")
    assert int(lstm["params"]) == cm.LSTM(128, 128).evaluate(n=64)["params"]
    assert (lstm["n"], lstm["d"], lstm["gpu"], lstm["dtype"]) == ("64", "128",
                                                                  "A100 SXM4 40GB", "fp32")
    transformer = next(r for r in rows_c if r["model"] == "transformer")
    assert transformer["heads"] == "2" and lstm["heads"] == ""  # 128 / 64 = 2 heads


# ----- options that do not apply ----------------------------------------------------------
def test_allow_tf32_is_refused_on_a_gpu_without_tf32():
    assert "tf32" not in load_hardware("t4").peaks  # the datasheet lists none
    code, _, err = run("compare", "--n", "64", "--d", "128", "--gpu", "t4", "--allow-tf32")
    assert refused(code, err, "T4", "TF32")
    assert run("compare", "--n", "64", "--d", "128", "--gpu", "a100", "--allow-tf32")[0] == 0


@pytest.mark.parametrize("argv, word", [
    (["attention", "params", "--bidirectional"], "bidirectional"),
    (["transformer", "params", "--bidirectional"], "bidirectional"),
    (["conv", "params", "--layers", "2"], "layers"),
    (["crnn", "params", "--bidirectional"], "bidirectional"),
])
def test_formula_refuses_options_that_do_not_apply(argv, word):
    code, _, err = run("formula", *argv)
    assert refused(code, err, word, "does not apply")


@pytest.mark.parametrize("module, record", [
    ("conv", lambda: cm.Conv1d("c", "d", "k")),
    ("crnn", lambda: cm.CRNN()),
    ("decoder", lambda: cm.TransformerDecoderLayer("d", "h", dim_feedforward="f", dropout=0.0)),
])
def test_formula_covers_conv_crnn_and_the_decoder(module, record):
    code, out, err = run("formula", module, "flops")
    assert code == 0, err
    names = {s.name: s for s in record().free_symbols}
    printed = sp.sympify(out.splitlines()[0], locals=names)
    assert sp.expand(printed - record().flops) == 0


def test_formula_decoder_layers_stack():
    code, out, _ = run("formula", "decoder", "params", "--layers", "3")
    layer = cm.TransformerDecoderLayer("d", "h", dim_feedforward="f", dropout=0.0)
    printed = sp.sympify(out.splitlines()[0], locals={s.name: s for s in layer.free_symbols})
    assert code == 0 and sp.expand(printed - 3 * layer.params) == 0


# ----- digits and types -------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["compare", "--n", "５１２", "--d", "768"],
    ["compare", "--n", "512", "--d", "768", "--batch", "٣"],  # Arabic-Indic three
    ["sweep", "--n", "16,３２"],
    ["sweep", "--d", "64:１２８:64"],
    ["formula", "lstm", "params", "--layers", "２"],
])
def test_full_width_and_other_unicode_digits_are_refused(argv):
    code, _, err = run(*argv)
    assert refused(code, err, "ASCII")


def test_crossover_n_is_an_int_or_null_in_json():
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--format", "json")
    found = [c["n"] for c in json.loads(out)["crossovers"]]
    assert code == 0 and found and all(n is None or type(n) is int for n in found)
    assert any(type(n) is int for n in found)


def test_crossover_is_the_first_whole_n_at_or_past_the_root():
    from costmodel.compare import _symbolic_crossover

    # (n - 7/2)(n + 1) = 0: the real root >= 1 is 3.5, so the first whole n is 4
    assert _symbolic_crossover(S.n ** 2, sp.Rational(5, 2) * S.n + sp.Rational(7, 2), {}) == 4
    assert _symbolic_crossover(S.n, S.n, {}) == 1
    assert _symbolic_crossover(S.n + 1, S.n, {}) is None


@pytest.mark.parametrize("command, option", [
    ("compare", "batch"), ("compare", "layers"), ("sweep", "batch"), ("sweep", "layers"),
    ("formula", "layers"),
])
def test_batch_and_layers_have_help(command, option):
    param = next(p for p in cli.commands[command].params if p.name == option)
    assert param.help and len(param.help) > 10


def test_gpus_shows_fp16():
    from costmodel.cli.tables import gpu_rows
    from costmodel.hardware import list_hardware

    header, body, _ = gpu_rows(list_hardware())
    t4 = next(row for row in body if row[0] == "t4")
    fp16 = float(t4[header.index("fp16")])  # TFLOP/s, one decimal
    assert fp16 == pytest.approx(load_hardware("t4").peaks["fp16"] / 1e12, abs=0.05)
    assert "fp16" in run("gpus")[1].splitlines()[0].split()


# ----- measure-claims never writes into the installed package by default ------------------
def test_measure_claims_defaults_to_the_current_folder():
    from costmodel.cli.measure_claims import DEFAULT_OUTPUT, measure_claims, package_file

    default = next(p for p in measure_claims.params if p.name == "output").default
    assert default == DEFAULT_OUTPUT and not Path(default).is_absolute()
    assert Path(default).resolve() != package_file()
    code, out, _ = run("measure-claims", "--help")
    assert "current folder" in " ".join(out.split())


def test_csv_text_quotes_what_csv_needs_and_keeps_numbers_exact():
    from costmodel.sweep import csv_text

    columns = {c: [1] for c in COLUMNS}
    columns.update(model=["rnn"], gpu=['My, "fast" GPU'], heads=[""], params=[2 ** 70],
                   time_forward_s=[0.1 + 0.2])
    (row,) = csv.DictReader(io.StringIO(csv_text(columns)))
    assert row["gpu"] == 'My, "fast" GPU' and row["heads"] == ""
    assert int(row["params"]) == 2 ** 70 and float(row["time_forward_s"]) == 0.1 + 0.2


@pytest.mark.parametrize("span", ["16:8:x2", "64:16:8"])
def test_a_range_that_ends_below_its_start_is_refused(span):
    code, out, err = run("sweep", "--n", span, "--d", "64", "-o", "-")
    assert code == 2 and out == "" and "the range is empty" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_bidirectional_without_a_recurrence_is_refused_not_ignored(command):
    code, out, err = run(command, "--n", "64", "--d", "64", "--models", "mamba,s4",
                         "--bidirectional")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "bidirectional applies to the recurrences" in err
    # with a recurrence in the set it applies to that one, and the title says so
    code, out, _ = run("compare", "--n", "64", "--d", "64", "--models", "lstm,mamba",
                       "--bidirectional")
    assert code == 0 and "bidirectional recurrences" in out.splitlines()[0]


# ----- the depth bound ----------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ("compare", "--n", "4", "--d", "64"), ("compare", "--mode", "decode", "--n", "4", "--d", "64"),
    ("formula", "lstm", "flops"), ("sweep", "--n", "4", "--d", "64"),
    ("plot", "memory", "-o", "-"), ("report", "-o", "-")])
def test_layers_above_the_bound_are_refused_naming_the_option_and_the_bound(argv):
    from costmodel.limits import MAX_LAYERS

    assert MAX_LAYERS == 10 * 1_000  # ten times DeepNet's 1,000-layer Transformer
    code, out, err = run(*argv, "--layers", str(MAX_LAYERS + 1))
    assert refused(code, err, "--layers", f"{MAX_LAYERS + 1:,}", f"{MAX_LAYERS:,}")
    assert out == ""


def test_layers_up_to_the_bound_are_taken():
    from costmodel.cli.options import LAYERS
    from costmodel.limits import MAX_LAYERS

    assert LAYERS.convert(str(MAX_LAYERS), None, None) == MAX_LAYERS
    assert LAYERS.convert(MAX_LAYERS, None, None) == MAX_LAYERS


# ----- validate --reference: each source's protocol in the header ---------------------------
#: Sources that score by a protocol of their own (at least these; each has a SCORE_NOTE).
OWN_PROTOCOL = ("attention", "fractaltensor-cudnn", "xwang233-small-h", "xwang233-standard")


@pytest.mark.parametrize("name", OWN_PROTOCOL)
def test_reference_header_states_the_sources_own_protocol(name):
    from costmodel.cli.reference_validation import header
    from costmodel.reference import source

    note = source(name).SCORE_NOTE
    first, *rest = header(name, True).splitlines()
    assert note in first and "leave-one-GPU-out" not in first and rest == []
    # --no-leave-one-gpu-out makes a source in-sample only where it fits per held-out part
    fixed = getattr(source(name), "FIXED_PROTOCOL", False)
    assert (f"{note} (here in-sample)" in header(name, False)) != fixed


def test_reference_header_of_all_names_who_is_scored_leave_one_gpu_out():
    from costmodel.cli.reference_validation import header
    from costmodel.reference import names, source

    own = [n for n in names("all") if hasattr(source(n), "SCORE_NOTE")]
    assert set(OWN_PROTOCOL) <= set(own)
    first, *rest = header("all", True).splitlines()
    generic = [n for n in names("all") if n not in own]
    assert "deepbench-rnn" in generic and "xwang233-standard" not in generic
    assert f"leave-one-GPU-out ({', '.join(generic)}; the others below)" in first
    assert rest == [f"{n}: {source(n).SCORE_NOTE}" for n in own]
    assert "leave-one-GPU-out" in header("deepbench-rnn", True)
    assert "in-sample" in header("deepbench-rnn", False)


def test_validate_reference_prints_the_protocol_above_the_same_figures():
    from costmodel.reference import score, source

    code, out, err = run("validate", "--reference", "xwang233-standard")
    assert code == 0, err
    first, *table = out.splitlines()
    assert source("xwang233-standard").SCORE_NOTE in first
    assert "leave-one-GPU-out" not in first and "roofline" not in first
    summary = score.summary(score.scored("xwang233-standard"))
    medians = [float(line.split()[-6]) for line in table[1:]]  # model_median, in %
    assert medians == list((100 * summary["model_median"]).round(1))


def test_compare_host_bounds_the_recurrences_and_refuses_a_profile_without_one(tmp_path):
    """--host: a calibrated profile's [host] table on the catalogue GPU. A slow host (50 us per
    issued kernel: 2 per step at n 64 is 6.4 ms) sets the recurrences' times, not the
    Transformer's; a profile without [host] is refused naming the file."""
    profile = tmp_path / "vm.toml"
    profile.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
                       '[efficiency]\nkernel_latency_s = 5e-6\n[host]\nkernel_s = 50e-6\n'
                       'call_s = 1e-4\nbackward_call_s = 1e-3\n')
    argv = ("compare", "--n", "64", "--d", "512", "--gpu", "h100", "--format", "json")
    plain = json.loads(run(*argv)[1])
    code, out, _ = run(*argv, "--host", str(profile))
    assert code == 0
    bound = json.loads(out)
    times = {r["model"]: r for r in bound["rows"]}
    before = {r["model"]: r for r in plain["rows"]}
    lstm = times["lstm"]["time_forward_s"]
    assert lstm == pytest.approx(1e-4 + (2 * 64 + 1) * 50e-6)  # call + issued kernels
    assert lstm > before["lstm"]["time_forward_s"] and times["lstm"]["binding"] == "host"
    assert times["transformer"] == before["transformer"]
    assert "50.0 us per issued kernel" in bound["assumptions"]["rnn_implementation"]
    bare = tmp_path / "bare.toml"
    bare.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n')
    code, _, err = run("compare", "--n", "64", "--d", "512", "--host", str(bare))
    assert refused(code, err, "bare.toml", "[host]")
    # a profile as the GPU already holds its host: --host there is refused, not ignored
    code, _, err = run("compare", "--n", "64", "--d", "512", "--gpu", str(profile), "--host",
                       str(profile))
    assert refused(code, err, "calibrated profile", "--host")


def test_sweep_host_bounds_the_recurrences_like_compare(tmp_path):
    profile = tmp_path / "vm.toml"
    profile.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
                       '[efficiency]\n[host]\nkernel_s = 50e-6\ncall_s = 1e-4\n'
                       'backward_call_s = 1e-3\n')
    argv = ("sweep", "--n", "64", "--d", "512", "--gpu", "h100", "--models", "lstm", "-o", "-")
    _, rows = rows_of(run(*argv, "--host", str(profile))[1])
    assert float(rows[0]["time_forward_s"]) == pytest.approx(1e-4 + (2 * 64 + 1) * 50e-6)
    assert rows[0]["binding"] == "host" and rows[0]["gpu"] == "H100 SXM5 80GB"
    _, rows = rows_of(run(*argv[:-2], "--mode", "decode", "--host", str(profile), "-o", "-")[1])
    assert float(rows[0]["time_s"]) == pytest.approx(1e-4 + 3 * 50e-6)  # one step: 3 kernels


def test_plot_time_takes_host_and_refuses_a_profile_without_one(tmp_path):
    bare = tmp_path / "bare.toml"
    bare.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n')
    out = tmp_path / "t.png"
    code, _, err = run("plot", "time", "--n", "16:64:x2", "--gpu", "h100", "--host", str(bare),
                       "-o", str(out))
    assert refused(code, err, "bare.toml", "[host]") and not out.exists()


def test_report_takes_host(tmp_path):
    profile = tmp_path / "vm.toml"
    profile.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
                       '[host]\nkernel_s = 5e-5\ncall_s = 1e-4\nbackward_call_s = 1e-3\n')
    out = tmp_path / "r.html"
    code, _, _ = run("report", "--n", "64", "--d", "256", "--gpu", "h100", "--host", str(profile),
                     "-o", str(out))
    assert code == 0 and "50.0 us per issued kernel" in out.read_text()
