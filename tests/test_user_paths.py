"""What a new user meets first: the README's notebook code runs as written, each compare mode
states only its own assumptions, and output errors name the user's path."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import costmodel as cm
from clirun import run

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(doc: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture
def agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_the_readme_notebook_code_runs_and_its_crossover_is_the_plots(agg):
    from costmodel.plot_memory import first_n_above, memory_record, training_memory_expr

    (block,) = _python_blocks("README.md")
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)  # noqa: S102 - the documented code
    sp, x = names["sp"], names["x"]
    roots = sp.solve(names["step"].xreplace(names["fixed"]) - names["a100"].memory_bytes, x)
    # the plot's cross, by another path: compare's layer (ffn 4d, dropout 0) on the A100
    record, setup = memory_record(768, "a100", model="transformer", attention="math", batch=8)
    limit = first_n_above(names["a100"].memory_bytes, training_memory_expr(record, setup))
    assert len(roots) == 1 and math.ceil(roots[0]) == limit == 9754  # README: n = 9,754
    # the README's warning: a string in subs makes another d; size_symbol is the record's
    lstm_params = cm.LSTM("d", "d").params
    assert lstm_params.subs("d", 768) == lstm_params
    assert lstm_params.xreplace({cm.symbols.size_symbol("d"): 768}) == 8 * 768**2 + 8 * 768


def test_the_getting_started_notebook_code_runs(agg):
    (block,) = _python_blocks("docs/getting-started.md")
    names: dict = {}
    exec(compile(block, "getting-started.md", "exec"), names)  # noqa: S102
    assert names["lstm"].evaluate(n=512, batch=8)["params"] == 2 * 4 * (768 * 768 * 2 + 2 * 768)


def test_dir_lists_every_public_name_once_and_no_private_import():
    cm.symbols, cm.LSTM  # noqa: B018 - resolved names land in the module's globals
    names = dir(cm)
    assert len(names) == len(set(names))
    assert set(cm.__all__) <= set(names)
    assert not {"importlib", "annotations"} & set(names)


def _table(*argv) -> tuple[list[str], str]:
    code, out, err = run("compare", "--n", "128", "--d", "256", *argv)
    assert code == 0, err
    head, _, rest = out.partition("\n\n")
    return head.splitlines(), rest


def test_training_mode_shows_only_training_ratios_crossovers_and_assumptions():
    head, rest = _table("--mode", "training")
    assert not [line for line in head if line.startswith("inference")]
    assert [line for line in head if line.startswith("attention:")][0].count(" in ") == 1
    labels = [line.split("  ")[0] for line in rest.splitlines()]
    assert "inference forward" not in labels and "forward FLOPs" not in labels
    assert "training FLOPs" in labels  # in the ratio table too
    cross = next(line for line in rest.splitlines() if line.startswith("crossover n"))
    assert cross.split()[3:] == ["memory"]  # activation memory: what training keeps
    # the ratio printed is the JSON's training-FLOPs ratio
    _, out, _ = run("compare", "--n", "128", "--d", "256", "--format", "json")
    want = {r["model"]: r["flops_training"] for r in json.loads(out)["ratios"]}
    ratio_table = rest.split("ratio to Transformer", 1)[1]
    line = next(line for line in ratio_table.splitlines() if line.startswith("training FLOPs"))
    printed = [float(cell.rstrip("x")) for cell in line.split()[2:]]
    for got, key in zip(printed, ("rnn/transformer", "lstm/transformer", "gru/transformer")):
        assert got == pytest.approx(want[key], rel=5e-3)  # three significant digits


def test_both_mode_keeps_both_modes_assumptions():
    head, rest = _table()
    assert any(line.startswith("training step:") for line in head)
    assert any(line.startswith("inference (") for line in head)
    assert "in training" in " ".join(head) and "in inference" in " ".join(head)
    assert "fwd time" in rest


@pytest.mark.parametrize("mode", ["prefill", "decode"])
def test_serving_modes_state_no_training_step(mode):
    head, _ = _table("--mode", mode, "--models", "lstm,transformer")
    text = " ".join(head)
    assert not [line for line in head if line.startswith("training step")]
    assert "in training" not in text and "in inference" in text


def test_padding_table_states_width_dtype_and_heads():
    code, out, _ = run("padding", "--lengths", "5,3", "--d", "128", "--models",
                       "lstm,transformer", "--dtype", "bf16")
    first = " ".join(out.split("\nmodel", 1)[0].split())
    assert code == 0
    assert "d=128, bf16" in first and "2 heads of width 64, ffn 512" in first  # 128/64, 4*128
    code, out, _ = run("padding", "--lengths", "5,3", "--d", "128", "--models", "lstm")
    assert code == 0 and "heads" not in out.split("\nmodel", 1)[0]


def test_a_folder_that_refuses_the_temporary_file_names_the_users_path(tmp_path, monkeypatch):
    from costmodel import files

    target = tmp_path / "out.csv"

    def refuse(**kwargs):
        raise OSError(30, "Read-only file system", str(tmp_path / ".out.csv.x1.tmp"))

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    with pytest.raises(files.OutputError) as caught:
        files.write_atomic(target, "data\n")
    message = str(caught.value)
    assert str(target) in message and "Read-only" in message and ".tmp" not in message
    code, _, err = run("sweep", "--n", "8", "--d", "8", "--batch", "1", "--models", "rnn",
                       "-o", str(target))
    assert code == 2 and err.count("\n") == 1 and ".tmp" not in err


def test_stdout_output_gets_no_wrote_line_and_a_figure_needs_a_suffix():
    code, out, err = run("report", "--n", "16", "--d", "64", "--models", "lstm,transformer",
                         "-o", "-")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and "wrote" not in err
    code, out, err = run("plot", "depth", "--n", "16:64:x2", "--d", "64", "-o", "-")
    assert code == 2 and not out and err.count("\n") == 1
    assert "standard output" in err and ".png" in err


def test_validate_gpu_with_a_catalogue_name_says_where_it_belongs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file named a100 here
    code, out, err = run("validate", "--gpu", "a100")
    assert code == 2 and not out and err.count("\n") == 1
    assert "calibrate" in err and "--baseline" in err
    code, _, err = run("validate", "--gpu", "a101")  # neither a file nor a device
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("mode", ["both", "training"])
def test_compare_warns_about_exactly_the_models_that_do_not_fit(mode):
    from costmodel.cli.tables import NAMES
    from costmodel.compare import TRAINING_MEMORY

    argv = ("compare", "--n", "200000", "--d", "768", "--batch", "8", "--gpu", "a100")
    _, out, _ = run(*argv, "--format", "json")
    rows = json.loads(out)["rows"]
    memory = cm.load_hardware("a100").memory_bytes  # 40e9 B
    # at n = 200,000, batch 8: the Transformer needs 59.2 GB for a training step, the LSTM
    # 34.5 GB (weights, gradients, Adam states and the saved activations, summed)
    over = {r["model"] for r in rows if sum(r[q] for q in TRAINING_MEMORY) > memory
            or (mode == "both" and r["inference_bytes"] > memory)}
    assert over == {"transformer"}
    code, out, _ = run(*argv, "--mode", mode)
    warning = " ".join(out.split("does not fit", 1)[1].split())
    assert code == 0 and [m for m in NAMES.values() if f"{m} (" in warning] == ["Transformer"]
    assert ("inference" in warning) == (mode == "both")
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "a100", "--mode", mode)
    assert code == 0 and "does not fit" not in out


def test_the_claims_table_quotes_each_claim_and_points_to_the_reasons():
    _, out, _ = run("claims", "--doc", "002", "--format", "json")
    claims = json.loads(out)
    code, out, _ = run("claims", "--doc", "002")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + 2 * len(claims) + 1  # header, 2 per claim, footer
    for claim, row, quote in zip(claims, lines[1::2], lines[2::2]):
        assert row.split()[0] == claim["id"]
        assert quote.strip().strip('"').rstrip(".") in f'{claim["quote"]}'
        assert len(quote) <= 80
    assert "reason" in lines[-1] and "--format" in lines[-1]


def test_a_record_reprs_as_its_formulas_one_line_each():
    import sympy as sp

    from costmodel.display import SHOWN

    record = cm.Sequential(cm.Conv1d(80, "d", 3, padding=1), cm.GRU("d", "d"))
    lines = repr(record).splitlines()
    assert lines[0] == f"Cost {record.name}" and len(lines) == 2 + len(SHOWN)
    names = {s.name: s for s in record.free_symbols}
    for quantity, line in zip(SHOWN, lines[2:]):
        label, formula = line.split(None, 1)
        assert label == quantity
        assert sp.expand(sp.sympify(formula, locals=names) - record.get(quantity)) == 0


def test_comparison_and_prediction_repr_as_their_tables():
    from costmodel.compare import compare

    result = compare(64, 128, "h100", models=("lstm", "transformer"))
    first, second = repr(result).split("\n\n")[1:3]
    assert [line.split()[0] for line in first.splitlines()[1:]] == ["lstm", "transformer"]
    assert [line.split()[1] for line in first.splitlines()[1:]] == ["132", "198"]  # k params
    assert len(second.splitlines()) == 1 + len(result.crossovers)
    p = cm.predict(cm.LSTM(128, 128), "a100", n=64, mode="inference")
    lines = repr(p).splitlines()
    assert lines[0].startswith("Prediction A100") and len(lines) == 2 + len(p.kernels)
    assert [line.split()[0] for line in lines[2:]] == [k.name for k in p.kernels]
    assert len(repr(p)) < 2000  # the dataclass repr spelled out the whole Timing


def test_a_device_reprs_as_its_figures_in_one_line():
    hw = cm.load_hardware("a100")
    text = repr(hw)
    assert "\n" not in text and len(text) < 400 and hw.name in text
    assert all(f"{key} {value / 1e12:.3g}" in text for key, value in hw.peaks.items())
    assert "1555 GB/s" in text and "40 GB" in text  # 1.555e12 B/s, 40e9 B (the A100's TOML)


def test_the_largest_size_the_cli_accepts_gives_exact_counts_not_a_traceback():
    from costmodel.limits import LARGEST_SIZE

    d = LARGEST_SIZE  # 2**53: d**2 is past int64, the compiled formulas' integer type
    code, out, err = run("compare", "--n", "8", "--d", str(d), "--models", "lstm",
                         "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)["rows"]
    assert row["params"] == 8 * d**2 + 8 * d  # 4 gates x (W_ih + W_hh + two biases)


@pytest.mark.parametrize("argv, says", [
    (("--gpu", "a100"), "cuBLAS on FP32 cores"),  # PyTorch's default: allow_tf32 False
    (("--gpu", "a100", "--allow-tf32"), "cuBLAS on TF32 tensor cores"),
    (("--gpu", "a100", "--mode", "decode"), "cuBLAS on FP32 cores"),
    (("--gpu", "a100", "--dtype", "bf16"), None),  # not fp32: nothing to say
    (("--gpu", "v100"), None),  # no TF32 before Ampere
])
def test_the_header_says_which_fp32_matmuls_run_on_tf32(argv, says):
    head, _ = _table(*argv)
    text = " ".join(" ".join(head).split())
    assert ("fp32 matmuls:" in text) == (says is not None)
    if says:
        assert says in text and "cuDNN's RNN GEMMs on TF32" in text


def test_serving_tables_say_what_bounds_the_largest_batch():
    code, out, _ = run("compare", "--mode", "decode", "--n", "256", "--d", "128", "--gpu",
                       "h100", "--models", "lstm,transformer")
    text = " ".join(out.split())
    assert code == 0 and "fits the H100 SXM5 80GB's 80 GB" in text  # memory_bytes 80e9
    assert "unbounded" in text  # the LSTM's context: its state does not grow
    profile = ROOT / "validation" / "results" / "cpu-amd-epyc-1t.toml"  # no memory_bytes
    assert cm.load_hardware(profile).memory_bytes is None
    code, out, _ = run("compare", "--mode", "decode", "--n", "256", "--d", "128", "--gpu",
                       str(profile), "--models", "lstm,transformer")
    rows = {line[:18].strip(): line[18:].split() for line in out.splitlines()}
    assert code == 0 and "unbounded" not in out
    assert rows["largest batch"] == rows["longest context"] == ["-", "-"]


def test_predict_on_a_symbolic_size_names_the_record_and_the_missing_size():
    with pytest.raises(ValueError, match=r"LSTM\(d, d\) needs values for \['d'\].*d=") as e:
        cm.predict(cm.LSTM("d", "d"), "a100", n=512)
    assert "kernel_values" not in str(e.value)  # the user called predict
    assert cm.predict(cm.LSTM("d", "d"), "a100", n=512, d=768).total_s == pytest.approx(
        cm.predict(cm.LSTM(768, 768), "a100", n=512).total_s)


@pytest.mark.parametrize("argv, kernel, n_squared", [
    (("transformer",), "flash", False),  # the layer's default (auto) is costed fused
    (("transformer", "--attention", "math"), "math", True),
    (("attention",), "math", True),  # need_weights=True: the probabilities are returned
    (("lstm",), None, False),
])
def test_formula_says_which_attention_kernel_it_counts(argv, kernel, n_squared):
    import sympy as sp

    code, out, _ = run("formula", argv[0], "activation_bytes", *argv[1:])
    lines = out.splitlines()
    assert code == 0
    names = {"n": cm.symbols.n}
    saved = sp.sympify(lines[0], locals=names)
    assert (sp.degree(saved, cm.symbols.n) == 2) == n_squared  # the n x n scores, or not
    if kernel is None:
        assert len(lines) == 2
    else:
        assert lines[2].startswith(f"attention kernel counted: {kernel} ")


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_markdown_and_latex_keep_the_notes_under_the_table(fmt):
    code, out, _ = run("compare", "--n", "200000", "--d", "768", "--batch", "8", "--format",
                       fmt)
    tail = out.rsplit("|" if fmt == "markdown" else r"\end{tabular}", 1)[1]
    assert code == 0 and "crossover:" in tail and "does not fit" in tail
    if fmt == "latex":
        assert all(line.startswith("% ") for line in tail.strip().splitlines())


def test_the_gpus_table_ends_with_its_units():
    from costmodel.hardware import list_hardware

    code, out, _ = run("gpus")
    lines = out.splitlines()
    assert code == 0 and "fp16" in lines[0].split()  # the header stays the first line
    units = lines[1 + len(list_hardware()):]  # after the header and one row per device
    tail = " ".join(" ".join(units).split())
    assert "TFLOP/s" in tail and "GB/s" in tail and "docs/hardware.md" in tail
    assert tail.startswith("arch: ")
    assert max(map(len, units)) <= 80  # the units wrap to a terminal


@pytest.mark.parametrize("argv, name", [(("formula", "foo", "flops"), "MODULE"),
                                        (("plot", "foo", "-o", "x.png"), "KIND")])
def test_an_unknown_choice_names_the_argument_once_and_lists_the_choices_once(argv, name):
    code, out, err = run(*argv)
    assert code == 2 and not out and err.count("\n") == 1
    assert f"Invalid value for '{name}'" in err and err.count("memory" if name == "KIND"
                                                              else "lstm") == 1
