"""The figures: the plotted points are the library's numbers (read back from the Axes), and the
CLI writes PNG/SVG/PDF by suffix, refusing bad input with one line and exit 2."""

from __future__ import annotations

import numpy as np
import pytest

import costmodel as cm
from costmodel import plot_memory as pm
from costmodel import plot_roofline, plots
from costmodel.compare import Setup, build
from costmodel.hardware import load_hardware
from costmodel.sweep import sweep

N = [16, 64, 256, 1024, 4096, 16384]


def _lines(fig) -> dict:
    return {line.get_label(): line for line in fig.axes[0].lines}


def test_memory_curves_are_the_training_step_bytes():
    fig = plots.plot_memory(N, 768, "a100", batch=8, models=("lstm", "transformer"))
    lines = _lines(fig)
    hw = load_hardware("a100")
    for label, model, kernel in (("lstm", "lstm", "auto"),
                                 ("transformer (math attention)", "transformer", "math"),
                                 # fp32 on an A100: SDPA runs memory-efficient, which
                                 # saves what the fused ("flash") record counts
                                 ("transformer (memory-efficient attention)", "transformer",
                                  "flash")):
        setup = Setup(n=1, d=768, batch=8, attention=kernel, models=(model,)).checked()
        record = cm.implementations.sdpa.resolve(build(setup, model), hw, "fp32",
                                                 "training")[0]
        want = [sum(record.evaluate(n=n, batch=8)[q] for q in pm.TRAINING_MEMORY)
                for n in N]  # evaluate's exact integers, Adam (2 states) by default
        np.testing.assert_allclose(lines[label].get_ydata(), np.array(want) / plots.GIB,
                                   rtol=1e-12)
        np.testing.assert_array_equal(lines[label].get_xdata(), N)
    capacity = lines[f"{hw.name} memory (37 GiB)"]  # 40e9 bytes = 37.25 GiB
    assert capacity.get_ydata()[0] == hw.memory_bytes / plots.GIB
    # the quadratic (math) curve stops fitting: the marked n is the first whole n past it
    stop = next(k for k in lines if "stops fitting" in k)
    n_full = int(lines[stop].get_xdata()[0])
    record, setup = pm.memory_record(768, hw, model="transformer", attention="math",
                                        batch=8)
    expr = pm.training_memory_expr(record, setup)
    assert pm.at(expr, n_full) >= hw.memory_bytes > pm.at(expr, n_full - 1)


@pytest.mark.parametrize("gpu,dtype,d,heads,kernel", [
    ("a100", "fp32", 768, 12, "memory-efficient"),  # flash needs fp16/bf16
    ("a100", "bf16", 768, 12, "flash"),
    ("h100", "fp16", 768, 12, "cudnn"),
    ("a100", "fp32", 66, 2, "fused")])  # head_dim 33: no fused kernel takes it, math runs
def test_memory_legend_and_footnote_name_the_kernel_pytorch_runs(gpu, dtype, d, heads,
                                                                  kernel):
    from costmodel.compare import assumptions
    from costmodel.implementations.sdpa import resolve

    fig = plots.plot_memory([64, 128], d, gpu, dtype=dtype, heads=heads,
                            models=("transformer",))
    labels = [label for label in _lines(fig) if label.startswith("transformer (")]
    assert labels == ["transformer (math attention)", f"transformer ({kernel} attention)"]
    # whitespace dropped: the footnote is wrapped, at spaces and after hyphens
    footnote = "".join("".join(t.get_text() for t in fig.texts).split())
    hw = load_hardware(gpu)
    setup = Setup(n=1, d=d, heads=heads, dtype=dtype, models=("transformer",)).checked()
    said = assumptions(setup, hw, resolve(build(setup, "transformer"), hw, dtype,
                                          "training")[0])["attention"]["training"]["kernel"]
    assert f"training:{said}" in footnote
    if kernel == "fused":
        assert said == "math" and "itrunsmath" in footnote
    else:
        assert said == kernel and f"dashed:{kernel}attention" in footnote


def test_quadratic_knee_is_where_n_squared_reaches_n():
    n = cm.symbols.n
    assert pm.quadratic_knee(3 * n**2 + 3000 * n + 7) == 1000  # 3 n^2 = 3000 n at n = 1000
    assert pm.quadratic_knee(5 * n + 1) is None


def test_time_lines_are_the_sweeps_times_on_each_gpu():
    fig = plots.plot_time(N, ["a100", "h100"], d=256, models=("gru", "transformer"))
    lines = _lines(fig)
    for gpu in ("a100", "h100"):
        cols = sweep(N, [256], [1], gpu, models=("gru", "transformer"))
        name = load_hardware(gpu).name
        for model in ("gru", "transformer"):
            mine = cols["model"] == model
            np.testing.assert_array_equal(lines[f"{model}, {name}"].get_ydata(),
                                          cols["time_forward_s"][mine])
    assert fig.axes[0].get_xscale() == "log" and "(s)" in fig.axes[0].get_ylabel()


def test_training_time_against_batch():
    batches = [1, 4, 16]
    fig = plots.plot_time(batches, "a100", x="batch", mode="training", n=128, d=256,
                          models=("lstm",))
    cols = sweep([128], [256], batches, "a100", models=("lstm",))
    line = _lines(fig)["lstm"]
    np.testing.assert_array_equal(line.get_xdata(), batches)
    np.testing.assert_array_equal(line.get_ydata(), cols["time_training_s"])


def test_depth_merges_identical_curves():
    fig = plots.plot_depth(N, "a100", d=256)
    lines = _lines(fig)
    assert set(lines) == {"rnn = lstm = gru", "transformer"}
    cols = sweep(N, [256], [1], "a100", models=("lstm", "transformer"))
    np.testing.assert_array_equal(lines["rnn = lstm = gru"].get_ydata(),
                                  cols["depth_forward"][cols["model"] == "lstm"])
    np.testing.assert_array_equal(lines["transformer"].get_ydata(),
                                  cols["depth_forward"][cols["model"] == "transformer"])


def test_roofline_points_are_the_kernels_of_predict():
    fig = plot_roofline.plot_roofline(512, 768, "h100", dtype="bf16",
                                      models=("lstm", "transformer"))
    ax = fig.axes[0]
    points = {c.get_label(): c for c in ax.collections if c.get_label().endswith("kernels")}
    setup = Setup(n=512, d=768, dtype="bf16").checked()
    for model in ("lstm", "transformer"):
        p = cm.predict(build(setup, model), "h100", n=512, dtype="bf16", mode="inference")
        want = np.array([(k.flops / k.bytes, k.flops / k.seconds) for k in p.kernels
                         if k.flops > 0 and k.bytes > 0 and k.seconds > 0])
        np.testing.assert_allclose(points[f"{model} kernels"].get_offsets(), want, rtol=1e-12)
    hw = load_hardware("h100")
    roof = {line.get_label(): line for line in ax.lines}
    bandwidth = roof[f"memory {hw.hbm_bytes_per_s / 1e12:.2f} TB/s"]
    np.testing.assert_allclose(bandwidth.get_ydata(), hw.hbm_bytes_per_s *
                               bandwidth.get_xdata())
    top = roof[f"fp16/bf16 {hw.peaks['bf16'] / 1e12:,.1f} TFLOP/s"]
    assert top.get_ydata().max() == hw.peaks["bf16"]  # equal peaks share one roof


def test_validation_points_are_the_inputs():
    measured, predicted = [1e-3, 2e-3, 5e-2], [1.1e-3, 1.5e-3, 6e-2]
    fig = plot_roofline.plot_validation(measured, predicted, ["a", "b", "a"], title="t")
    groups = {c.get_label(): c.get_offsets() for c in fig.axes[0].collections}
    np.testing.assert_array_equal(groups["a"], [[1e-3, 1.1e-3], [5e-2, 6e-2]])
    np.testing.assert_array_equal(groups["b"], [[2e-3, 1.5e-3]])
    with pytest.raises(ValueError, match="no measured rows"):
        plot_roofline.plot_validation([], [], title="t")


MAGIC = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.mark.parametrize("kind,suffix,args", [
    ("memory", ".png", ["--n", "16:4096:x4", "--d", "256"]),
    ("time", ".svg", ["--n", "16:256:x4", "--d", "256", "--gpu", "a100,h100"]),
    ("depth", ".pdf", ["--x", "d", "--n", "128", "--d", "128:512:128"]),
    ("roofline", ".png", ["--n", "128", "--d", "256", "--mode", "training"]),
])
def test_cli_writes_each_kind(tmp_path, kind, suffix, args):
    from costmodel.cli.main import main

    out = tmp_path / f"figure{suffix}"
    with pytest.raises(SystemExit) as done:
        main(["plot", kind, *args, "-o", str(out)])
    assert done.value.code == 0
    assert out.read_bytes().startswith(MAGIC[suffix])


@pytest.mark.parametrize("args,words", [
    (["plot", "bogus", "-o", "a.png"], "bogus"),
    (["plot", "time", "-o", "a.txt"], "unknown suffix '.txt'"),
    (["plot", "time", "--n", "16:8:1", "-o", "a.png"], "the range is empty"),
    (["plot", "time", "-o", "missing/a.png"], "does not exist"),
    (["plot", "memory", "--d", "256,512", "-o", "a.png"], "--d"),
    (["plot", "roofline", "--n", "64", "--gpu", "a100,h100", "-o", "a.png"], "one device"),
])
def test_cli_refuses_with_one_line(tmp_path, monkeypatch, capsys, args, words):
    from costmodel.cli.main import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(args)
    err = capsys.readouterr().err
    assert done.value.code == 2 and words in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written, not even half


def test_docs_show_every_committed_figure():
    from pathlib import Path
    import re

    docs = Path(__file__).resolve().parent.parent / "docs"
    shown = set(re.findall(r"\(images/([^)]+\.png)\)", (docs / "plots.md").read_text()))
    assert shown == {p.name for p in (docs / "images").glob("*.png")}


def test_a_pooled_validation_figure_keeps_every_sources_rows():
    """--reference all pools sources; only DeepBench's frame has a ``derived`` column (its
    summed rows, not drawn): the other sources' rows (NaN there) are drawn, not dropped."""
    import pandas as pd

    from costmodel.plot_roofline import scored_figure
    from costmodel.reference import score

    deepbench = score.scored("deepbench-rnn")
    pooled = pd.concat([deepbench, score.scored("gnmt-dle"), score.scored("kernelbench-rnn")],
                       ignore_index=True)
    fig = scored_figure(pooled, "pooled", "each its own")
    drawn = sum(len(c.get_offsets()) for c in fig.axes[0].collections
                if c.get_label() not in ("within x1.25",))
    want = (int((~deepbench["derived"].astype(bool)).sum()) + 4
            + len(score.scored("kernelbench-rnn")))
    assert drawn == want
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert {"a100", "l40s", "v100"} <= labels  # GNMT's and KernelBench's GPUs among them
