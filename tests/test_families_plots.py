"""The figures with the newer families: one curve per family, the plotted points read back
from the Axes equal the library's numbers (evaluate for memory, the sweep for time and depth,
costmodel.predict for the roofline)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import costmodel as cm
from costmodel import plot_memory as pm
from costmodel import plot_roofline, plots
from costmodel.compare import Setup, build
from costmodel.compare_families import FAMILIES
from costmodel.hardware import load_hardware
from costmodel.sweep import sweep

N = [16, 128, 1024, 8192]
D = 256  # 4 heads of 64


def _lines(fig) -> dict:
    return {line.get_label(): line for line in fig.axes[0].lines}


def test_memory_has_a_curve_per_family_with_the_training_step_bytes():
    fig = plots.plot_memory(N, D, "a100", batch=2, models=("lstm", "transformer", *FAMILIES))
    lines = _lines(fig)
    hw = load_hardware("a100")
    for name in FAMILIES:
        setup = Setup(n=1, d=D, batch=2, models=(name,)).checked()
        record = cm.implementations.sdpa.resolve(build(setup, name), hw, "fp32",
                                                 "training")[0]
        want = [sum(record.evaluate(n=n, batch=2)[q] for q in pm.TRAINING_MEMORY)
                for n in N]  # evaluate's exact integers, Adam (2 states)
        np.testing.assert_allclose(lines[name].get_ydata(), np.array(want) / plots.GIB,
                                   rtol=1e-12)
        assert lines[name].get_color() == plots.COLOURS[name]
    assert len({plots.COLOURS[m] for m in ("lstm", *FAMILIES)}) == 1 + len(FAMILIES)
    # 9 curves and the device's memory: more than LEGEND_INSIDE_MAX entries, legend beside
    assert len(fig.axes[0].get_legend().get_texts()) > plots.LEGEND_INSIDE_MAX
    assert fig.get_size_inches()[0] == plots.FIGSIZE_IN[0] + plots.LEGEND_COLUMN_IN


def test_a_family_that_stops_fitting_is_marked_where_it_does():
    # AST's memory has floor(n/10 - 8/5) patches: sympy cannot solve it, bisection does
    fig = plots.plot_memory([256, 4096, 65536, 1 << 20], 768, "a100", batch=8,
                            models=("ast",))
    stop = next(line for label, line in _lines(fig).items() if "stops fitting" in label)
    n_full = int(stop.get_xdata()[0])
    hw = load_hardware("a100")
    record, setup = pm.memory_record(768, hw, model="ast", batch=8)
    expr = pm.training_memory_expr(record, setup)
    assert expr.has(cm.symbols.n) and pm.at(expr, n_full) >= hw.memory_bytes
    assert pm.at(expr, n_full - 1) < hw.memory_bytes


def test_first_n_above_bisects_a_floor_exactly():
    n = cm.symbols.n
    # 100 floor(n / 10) reaches 1,000 at n = 100 (floor(10) = 10), not at n = 99 (9)
    assert pm.first_n_above(1000, 100 * sp.floor(n / 10)) == 100


@pytest.mark.parametrize("draw, column", [(plots.plot_time, "time_forward_s"),
                                          (plots.plot_depth, "depth_forward")])
def test_time_and_depth_lines_are_the_sweep(draw, column):
    fig = draw(N, "h100", d=D, models=FAMILIES)
    cols = sweep(N, [D], [1], "h100", models=FAMILIES)
    drawn = {}
    for label, line in _lines(fig).items():
        for name in label.split(" = "):  # identical curves are drawn once
            drawn[name] = line
    assert set(drawn) == set(FAMILIES)
    for name in FAMILIES:
        mine = cols["model"] == name
        np.testing.assert_array_equal(drawn[name].get_xdata(), N)
        np.testing.assert_array_equal(drawn[name].get_ydata(), cols[column][mine])


def test_roofline_points_of_the_families_are_the_kernels_of_predict():
    fig = plot_roofline.plot_roofline(512, D, "a100", models=("mamba", "linformer", "ast"))
    points = {c.get_label(): c for c in fig.axes[0].collections}
    setup = Setup(n=512, d=D, models=("mamba", "linformer", "ast")).checked()
    for name in setup.models:
        p = cm.predict(build(setup, name), "a100", n=512, mode="inference")
        want = np.array([(k.flops / k.bytes, k.flops / k.seconds) for k in p.kernels
                         if k.flops > 0 and k.bytes > 0 and k.seconds > 0])
        np.testing.assert_allclose(points[f"{name} kernels"].get_offsets(), want, rtol=1e-12)


def test_footnote_names_the_family_sizes():
    fig = plots.plot_time([64, 128], "a100", d=D, models=("s4", "linformer"))
    note = fig.texts[0].get_text().replace("\n", " ")
    assert "S4: d_state 64" in note and "Linformer: k = 256" in note and "heads 4" in note


@pytest.mark.parametrize("kind, args", [
    ("memory", ["--n", "16:1024:x4"]),
    ("time", ["--n", "16:256:x4"]),
    ("depth", ["--n", "16:256:x4"]),
    ("roofline", ["--n", "128"]),
])
def test_cli_draws_the_families(tmp_path, kind, args):
    from clirun import run

    target = tmp_path / f"{kind}.png"
    code, _, err = run("plot", kind, *args, "--d", "128", "--models",
                       "lstm,mamba,s4,linformer,linear_attention", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_cli_refuses_ast_shorter_than_a_patch(tmp_path):
    from clirun import run

    code, _, err = run("plot", "time", "--n", "8:64:x2", "--models", "ast", "-o",
                       str(tmp_path / "t.png"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "n=8" in err, err


def test_two_devices_state_the_family_sizes_once():
    fig = plots.plot_time([64, 128], ["a100", "h100"], d=D, models=("mamba", "lstm"))
    note = fig.texts[0].get_text().replace("\n", " ")
    assert note.count("Mamba: d_state 16") == 1 and "A100" in note and "H100" in note


def test_width_axis_ticks_are_plotted_widths_a_factor_apart():
    widths = list(range(128, 2049, 128))
    fig = plots.plot_time(widths, "a100", x="d", n=1024, models=("s4",))
    ticks = list(fig.axes[0].get_xticks())
    # 128, 256, 384, 512 (384 * 1.3 = 499.2), 768, 1024, 1408 (1024 * 1.3 = 1331.2), 1920
    assert ticks == [128, 256, 384, 512, 768, 1024, 1408, 1920]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [f"{t:g}" for t in ticks]
