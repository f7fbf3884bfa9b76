"""The cuDNN generation's step floor (implementations/cudnn_stack.py), its fit on PR #62143's
STANDARD rows (reference xwang233-standard) and its held-out check on FractalTensor's cuDNN 8
depth sweeps (reference fractaltensor-cudnn)."""

from __future__ import annotations

import numpy as np
import pytest

import costmodel as cm
from costmodel.compare import compare
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.implementations import cudnn_stack as stack
from costmodel.reference import REQUIRED_COLUMNS, fit as fitmod
from costmodel.reference import fractaltensor_cudnn as ft
from costmodel.reference import xwang233_standard as xs
from costmodel.roofline import predict

A100 = load_hardware("a100")
SCALE = stack.fitted_table()


def _rows(record, cudnn_stack, **values):
    timing = predict(record, A100, cudnn_stack=cudnn_stack, **values)
    return {r["name"]: r for r in timing.kernels}


def _floor_s(call):
    """The A100's fitted DeepBench step floor: Volta's set (36,030 cycles forward when
    written) / 1.41 GHz = 25.6 us."""
    return impl.params_for(impl.fitted_table(), A100.architecture)[call].step_s(A100)


@pytest.mark.parametrize("record, layers", [
    (cm.RNN(768, 768), 1),  # the headline's RNN: one layer, STANDARD (H 768 > small-h's 384)
    (cm.LSTM(512, 512, num_layers=3), 3),  # a wavefront: 3 cells per diagonal step
    # layer by layer; its 2 directions' kernels issued one after another: a floor each
    (cm.GRU(512, 512, num_layers=2, bidirectional=True), 2),
])
def test_pr62143_moves_only_the_step_floor_by_scale_times_copies(record, layers):
    at = dict(n=64, batch=8)
    old, new = _rows(record, "deepbench", **at), _rows(record, "pr62143", **at)
    assert old.keys() == new.keys()
    steps = 0
    for name, row in old.items():
        call = row.get("call")
        for key in ("compute_s", "memory_s", "flops", "bytes", "count"):
            np.testing.assert_array_equal(new[name][key], row[key], err_msg=f"{name} {key}")
        if impl.own_name(name) in ("step_gemm", "step_gemm_backward"):
            steps += 1
            # DeepBench: floor + batch terms; pr62143: scale x copies x floor + batch terms
            moved = row["latency_s"] - new[name]["latency_s"]
            want = (1.0 - SCALE[call]["floor_scale"] * layers) * _floor_s(call)
            assert float(moved) == pytest.approx(want, rel=1e-9), name
        else:
            np.testing.assert_array_equal(new[name]["latency_s"], row["latency_s"], name)
    assert steps >= 2  # a forward and a backward step row were checked


def test_golden_headline_rnn_step_on_a100():
    # one-layer RNN step floor on the A100 (Volta's set, 36,030 cycles / 1.41 GHz = 25.55 us);
    # pr62143: 0.2353 x 25.55 us = 6.01 us (the fitted scale and cycles when written)
    floor = _floor_s("forward")
    assert floor == pytest.approx(36030 / 1.41e9, rel=0.05)
    assert SCALE["forward"]["floor_scale"] == pytest.approx(0.2353, rel=0.05)
    old = _rows(cm.RNN(768, 768), "deepbench", n=512, batch=1)
    new = _rows(cm.RNN(768, 768), "pr62143", n=512, batch=1)
    name = next(k for k in old if impl.own_name(k) == "step_gemm")
    assert float(old[name]["latency_s"] - new[name]["latency_s"]) == pytest.approx(
        (1 - SCALE["forward"]["floor_scale"]) * floor)


def test_floor_copies_are_the_step_kernels_concurrent_copies():
    # what floor_factor is given: wavefront layers of a stack, directions of a bidirectional
    def copies(record):
        kernels = record.kernel_values(dtype="fp32", n=8, batch=2)
        k = next(k for k in kernels if impl.own_name(k["name"]) == "step_gemm")
        return float(k["concurrent"])
    assert copies(cm.LSTM(64, 64, num_layers=3)) == 3
    assert copies(cm.GRU(64, 64, num_layers=4)) == 4
    assert copies(cm.LSTM(64, 64)) == 1
    assert copies(cm.LSTM(64, 64, bidirectional=True)) == 2
    assert copies(cm.LSTM(64, 64, num_layers=3, bidirectional=True)) == 2  # no wavefront
    scale = SCALE["forward"]["floor_scale"]
    assert float(stack.floor_factor(stack.params_of("pr62143"), "forward", 2)) == \
        pytest.approx(2 * scale)
    assert float(stack.floor_factor(None, "forward", 2)) == 1.0  # DeepBench: one per step


def test_unknown_stack_is_refused_naming_the_choices():
    with pytest.raises(ValueError,
                       match="cudnn_stack='cudnn9' is not one of auto, deepbench, pr62143"):
        stack.params_of("cudnn9")
    with pytest.raises(ValueError, match="resolve it for a device first"):
        stack.params_of("auto")
    with pytest.raises(ValueError, match="cudnn_stack"):
        compare(16, 64, "a100", cudnn_stack="cudnn9", models=("lstm",))


def test_compare_states_the_stack_and_moves_only_recurrence_times():
    old = compare(128, 256, "a100", cudnn_stack="deepbench")
    new = compare(128, 256, "a100", cudnn_stack="pr62143")
    assert old.assumptions["cudnn_stack"] == "deepbench"
    assert new.assumptions["cudnn_stack"] == "pr62143"
    assert "UNNAMED GPU" in new.assumptions["rnn_implementation"]
    times = {"time_forward_s", "time_forward_upper_s", "time_training_s",
             "time_training_upper_s", "fraction_of_peak", "binding"}
    for a, b in zip(old.rows, new.rows):
        for key, value in a.items():
            if a["model"] == "transformer" or key not in times:
                assert b[key] == value, (a["model"], key)
        if a["model"] != "transformer":
            assert b["time_forward_s"] < a["time_forward_s"]  # one layer: a lower floor


@pytest.mark.parametrize("gpu, used", [("a100", "pr62143"), ("h100", "pr62143"),
                                       ("l4", "pr62143"), ("rtx-3090", "pr62143"),
                                       ("v100", "deepbench"), ("t4", "deepbench"),
                                       ("p100", "deepbench"), ("m40", "deepbench")])
def test_auto_is_the_stack_pytorch_can_run_there(gpu, used):
    """auto: cuDNN 8's floors where no older cuDNN runs (Ampere, Ada, Hopper), DeepBench's
    measured floors on the architectures they were measured on; the default everywhere."""
    hw = load_hardware(gpu)
    assert stack.resolve("auto", hw) == used
    auto = compare(128, 256, gpu, models=("lstm",))
    explicit = compare(128, 256, gpu, models=("lstm",), cudnn_stack=used)
    assert auto.assumptions["cudnn_stack"] == used
    assert auto.rows[0]["time_forward_s"] == explicit.rows[0]["time_forward_s"]
    assert "(auto: " in auto.assumptions["rnn_implementation"]
    a = cm.predict(cm.LSTM(256, 256), gpu, n=128)
    b = cm.predict(cm.LSTM(256, 256), gpu, n=128, cudnn_stack=used)
    assert a.phases == b.phases


def test_an_explicit_efficiency_ignores_the_stack():
    gpu = load_hardware("a100")  # the model applies only without an explicit Efficiency
    from costmodel.efficiency import Efficiency
    a = predict(cm.LSTM(64, 64), gpu, eff=Efficiency.priors(), n=16, batch=2)
    b = predict(cm.LSTM(64, 64), gpu, eff=Efficiency.priors(), n=16, batch=2,
                cudnn_stack="pr62143")
    assert a.forward_s == b.forward_s and a.training_s == b.training_s


# --- the fit (xwang233-standard) -------------------------------------------------------------

ROWS = xs.rows()


def test_standard_rows_are_the_before_column_with_provenance():
    assert len(ROWS) == 240 and set(REQUIRED_COLUMNS) <= set(ROWS.columns)
    assert set(ROWS["gpu"]) == {"not stated"}
    # forward/readme.txt, LSTM float: x=(3854, 16, 112), op=(112, 128, 1) | 36.6 | 10.2 (ms)
    lstm = ROWS[(ROWS["family"] == "lstm") & (ROWS["phase"] == "forward")
                & (ROWS["dtype"] == "fp32") & (ROWS["seq"] == 3854)].iloc[0]
    assert lstm["measured_s"] == pytest.approx(36.6e-3)


def test_fit_recovers_a_known_scale_and_predict_agrees_with_the_basis():
    sample = ROWS.groupby(["phase", "layers"]).head(3).reset_index(drop=True)
    parts = xs.basis(sample)
    known = {"forward": 0.4, "backward_data": 0.7}
    calls = sample["phase"].map(xs.STEP_PHASE)
    synthetic = parts["fixed"] + calls.map(lambda c: known[c]).to_numpy() * parts["floor"]
    got = xs.fit(sample.assign(measured_s=synthetic), parts)
    for phase, scale in known.items():
        assert got[phase]["floor_scale"] == pytest.approx(scale, rel=1e-3)
    np.testing.assert_allclose(xs.predict(sample, got), xs._combine(
        parts, np.ones(len(sample), bool), sample, got), rtol=1e-9)


def test_committed_fitted_file_is_what_the_fit_script_writes():
    committed = (fitmod.FOLDER / f"{stack.FITTED}.toml").read_text(encoding="utf-8")
    assert committed == fitmod.render(fitmod.writer("xwang233-standard"))
    assert fitmod.writer("fractaltensor-cudnn") == "xwang233-standard"


def test_pr62143_stack_beats_deepbench_on_its_rows_out_of_config():
    frame = xs.scored(leave_one_out=True)
    model, deepbench = (np.median(np.abs(frame[f"error_{m}"])) for m in xs.SCORED)
    assert model < 0.2 < deepbench  # 9-15 % against 23-31 % (medians per phase and dtype)


# --- the held-out check (fractaltensor-cudnn) -----------------------------------------------

def test_fractaltensor_rows_as_read():
    rows = ft.rows()
    assert len(rows) == 4 * 9  # batch 256 and 64; depth 2-22 (11) and length 50-200 (7)
    assert set(rows["commit"]) == {"ba0633eb01a433c31425f74f8fc7356cec51fef8"}
    # |CuDNN|[64, 256, 100, 2]|||||3.64703|
    row = rows[(rows["batch"] == 64) & (rows["layers"] == 2) & (rows["seq"] == 100)].iloc[0]
    assert row["measured_s"] == pytest.approx(3.64703e-3) and row["hidden"] == 256


def test_depth_sweeps_grow_per_layer_as_the_pr62143_stack_says():
    frame = ft.scored()
    depth = frame[frame["sweep"].isin([0, 2])]  # the two depth sweeps, first rows dropped
    assert len(frame) == 36 - 4 and len(depth) == 20
    # measured 42.3 / 3.65 = 11.6x from depth 2 to 22 at batch 64; one floor per diagonal
    # step (deepbench) gives 2.6x, a floor per layer (pr62143) 10.6x
    errors = {s: np.median(np.abs(depth[f"error_{s}"])) for s in ft.SCORED}
    assert errors["pr62143"] < 0.25 < 0.5 < errors["deepbench"]


@pytest.mark.parametrize("mode", ["both", "prefill", "decode"])
def test_cli_states_the_stack_in_every_mode(mode):
    import json

    from clirun import run
    code, out, _ = run("compare", "--n", "64", "--d", "128", "--models", "lstm", "--mode",
                       mode, "--cudnn-stack", "deepbench", "--format", "json")
    assert code == 0 and json.loads(out)["assumptions"]["cudnn_stack"] == "deepbench"


def test_fractaltensor_predict_is_what_compare_prices_with_the_committed_fit():
    rows = ft.rows().head(6)
    np.testing.assert_allclose(ft.predict(rows, ft.fit(rows)), ft.seconds(rows, "pr62143"),
                               rtol=1e-12)


def test_library_predict_takes_the_stack_like_compare():
    row = compare(256, 512, "a100", cudnn_stack="pr62143", models=("gru",)).rows[0]
    got = cm.predict(cm.GRU(512, 512), "a100", n=256, mode="inference", cudnn_stack="pr62143")
    assert got.phases["forward"] == pytest.approx(row["time_forward_s"], rel=1e-12)
    with pytest.raises(ValueError, match="cudnn_stack"):
        cm.predict(cm.GRU(8, 8), "a100", n=4, cudnn_stack="newest")


def test_sweep_carries_the_stack_like_compare():
    """sweep (library and CLI) took no stack: compare --format csv and sweep disagreed for
    anything but auto. A100 (Ampere): auto is pr62143, deepbench's floor is slower."""
    import csv
    import io

    from clirun import run

    from costmodel.sweep import sweep

    def column(argv, name="time_forward_s"):
        code, out, err = run(*argv, "--n", "64", "--d", "128", "--models", "lstm")
        assert code == 0, err
        return float(next(csv.DictReader(io.StringIO(out)))[name])

    swept = column(("sweep", "--cudnn-stack", "deepbench"))
    assert swept == column(("compare", "--format", "csv", "--cudnn-stack", "deepbench"))
    assert swept > column(("sweep",)) == column(("sweep", "--cudnn-stack", "pr62143"))
    lib = sweep([64], [128], [1], "a100", models=("lstm",), cudnn_stack="deepbench")
    assert lib["time_forward_s"][0] == swept
    assert column(("sweep", "--mode", "decode", "--cudnn-stack", "deepbench"), "time_s") > \
        column(("sweep", "--mode", "decode"), "time_s")
