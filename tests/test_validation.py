"""Validation: a small time-bounded calibration and validation on the CPU; the report's
structure and statistics (never wall-clock figures); robustness (skips, out of memory,
interruption, no torch); the profile format and the fits."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import pytest
from click.testing import CliRunner

import costmodel as cm
from costmodel.cli.validation_commands import calibrate, validate
from costmodel.hardware import load_hardware
from costmodel.implementations.autograd_cells import whole_step_kind
from costmodel.implementations.onednn_rnn import fresh_sequence_s
from costmodel.roofline import MATMUL_KINDS, Efficiency, kernel_time, predict
from costmodel.validation import report
from costmodel.validation import validate as vmod
from costmodel.validation import calibrate as calibrate_mod
from costmodel.validation import fit as fit_mod
from costmodel.validation.fit import MIN_WORK_SCALE, TERMS_FITTED, nonneg_relative_fit

pytest.importorskip("torch")

QUICK = ["--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "cpu.toml"
    result = CliRunner().invoke(calibrate, [*QUICK, "--quick", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def validated(profile, tmp_path_factory):
    stem = tmp_path_factory.mktemp("results") / "cpu"
    args = [*QUICK, "--quick", "--gpu", str(profile), "--families", "lstm,gru,transformer",
            "--budget-s", "0.01", "-o", str(stem)]
    result = CliRunner().invoke(validate, args)
    assert result.exit_code == 0, result.output
    return stem, json.loads(stem.with_suffix(".json").read_text())


def test_profile_is_a_hardware_file_with_efficiency_and_metadata(profile):
    hw = load_hardware(str(profile))
    meta = hw.calibration
    assert meta["kind"] == "cpu" and meta["threads"] == 1 and meta["torch"] and meta["date"]
    assert any(b.startswith("module") for b in meta["benchmarks"])
    assert hw.peak_flops_per_s("fp32") > 0 and hw.hbm_bytes_per_s > 0
    eff = Efficiency.from_profile(profile)
    assert eff.latency_mode == "add" and "compute.gemm" in eff.curves
    assert set(eff.step_latency_s) >= {"rnn.forward", "lstm.forward", "gru.backward"}
    # inference runs were timed and fitted (the default): terms of their own, per family
    assert set(eff.step_latency_s) >= {"rnn.inference", "lstm.inference", "gru.inference",
                                       "transformerencoderlayer.inference"}
    assert set(meta["modes"]) == {"forward", "training", "inference"}
    # the profile given as hardware brings its efficiency: predict uses it by default
    lstm = cm.LSTM(64, 64)
    assert float(predict(lstm, hw, n=32, batch=1).forward_s) == float(
        predict(lstm, hw, eff=eff, n=32, batch=1).forward_s)


def test_raw_benchmarks_are_kept_next_to_the_profile(profile):
    rows = json.loads(profile.with_name(profile.stem + "-benchmarks.json").read_text())
    kinds = {r["bench"] for r in rows}
    assert {"peak", "copy", "op_latency", "matmul", "pointwise", "adam", "module",
            "recurrent_step"} <= kinds
    assert all(r["time_s" if r["bench"] != "module" else "measured_s"] >= 0 for r in rows
               if r["bench"] != "recurrent_step")
    steps = [r for r in rows if r["bench"] == "recurrent_step"]
    assert {(r["family"], r["mode"]) for r in steps} == {
        (f, m) for f in ("rnn", "lstm", "gru") for m in ("forward", "training", "inference")}
    assert {r["mode"] for r in rows if r["bench"] == "module"} == {
        "forward", "training", "inference"}
    assert all(0 < r["short_s"] and r["n_short"] < r["n_long"] for r in steps)
    assert all(r["time_s"] == pytest.approx((r["long_s"] - r["short_s"])
                                            / (r["n_long"] - r["n_short"])) for r in steps)
    # and the profile carries the whole-step curves they give, per family and phase
    eff = Efficiency.from_profile(profile)
    assert whole_step_kind(eff, "lstm", "forward") == "rnn_step.lstm.forward"
    assert eff.step_batches("rnn_step.gru.backward") == [2]
    # an inference forward takes the step measured in inference
    assert eff.for_inference().curves["memory.rnn_step.gru.forward.m2"] == (
        eff.curves["memory.rnn_step.gru.inference.m2"])


def test_validation_report_structure_and_statistics(validated):
    stem, data = validated
    assert data["complete"] and data["meta"]["threads"] == 1
    rows, summary = data["rows"], data["summary"]
    assert {r["family"] for r in rows} == {"lstm", "gru", "transformer"}
    assert summary["measured"] + summary["skipped"] + summary["oom"] == len(rows)
    done = [r for r in rows if r["status"] == "ok"]
    for model in ("baseline", "calibrated"):
        stats = summary[model]
        errors = [r[f"{model}_err_pct"] for r in done]
        assert stats["count"] == len(done)
        assert stats["median_pct"] == pytest.approx(float(np.median(errors)))
        assert stats["median_pct"] <= stats["p90_pct"] <= stats["worst_pct"] == max(errors)
    for r in done:
        assert r["calibrated_err_pct"] == pytest.approx(
            abs(r["calibrated_s"] - r["measured_s"]) / r["measured_s"] * 100)
    training = [r for r in done if r["mode"] == "training"]
    assert all(r["measured_saved_bytes"] > 0 and r["predicted_saved_bytes"] > 0
               for r in training)
    header = stem.with_suffix(".csv").read_text().splitlines()[0].split(",")
    assert header == list(report.CSV_COLUMNS)
    assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_slow_configurations_are_skipped_and_recorded(profile, tmp_path):
    stem = tmp_path / "skip"
    args = [*QUICK, "--quick", "--gpu", str(profile), "--families", "lstm", "--modes",
            "forward", "--max-config-s", "1e-9", "-o", str(stem)]
    assert CliRunner().invoke(validate, args).exit_code == 0
    data = json.loads(stem.with_suffix(".json").read_text())
    assert data["summary"]["skipped"] == len(data["rows"]) > 0
    assert all("predicted" in r["reason"] for r in data["rows"])
    assert data["summary"]["calibrated"]["median_pct"] is None


def test_out_of_memory_is_recorded_and_the_run_goes_on(profile, tmp_path, monkeypatch):
    calls = []

    def oom_once(cfg, device, budget_s, quiet_s=0.0):
        calls.append(cfg)
        if len(calls) == 1:
            raise MemoryError("simulated")
        return real(cfg, device, budget_s=0.01)

    real = vmod.time_config
    monkeypatch.setattr(vmod, "time_config", oom_once)
    stem = tmp_path / "oom"
    args = [*QUICK, "--quick", "--gpu", str(profile), "--families", "rnn", "--modes",
            "forward", "-o", str(stem)]
    assert CliRunner().invoke(validate, args).exit_code == 0
    statuses = [r["status"] for r in json.loads(stem.with_suffix(".json").read_text())["rows"]]
    assert statuses[0] == "oom" and statuses[1:] and set(statuses[1:]) == {"ok"}


def test_an_interrupted_run_keeps_what_it_measured(profile, tmp_path, monkeypatch):
    real, calls = vmod.run_one, []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(vmod, "run_one", interrupt_second)
    stem = tmp_path / "stop"
    args = [*QUICK, "--quick", "--gpu", str(profile), "--families", "lstm", "--budget-s",
            "0.01", "-o", str(stem)]
    assert CliRunner().invoke(validate, args).exit_code == 0
    data = json.loads(stem.with_suffix(".json").read_text())
    assert len(data["rows"]) == 1 and data["meta"]["interrupted"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_without_torch_the_commands_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    for command in (calibrate, validate):
        result = CliRunner().invoke(command, ["--device", "cpu", "-o", str(tmp_path / "x")])
        assert result.exit_code == 2
        assert "pip install '.[validation]'" in result.output


def test_a_profile_never_goes_into_the_catalogue():
    target = Path(cm.__file__).parent / "data" / "hardware" / "mine.toml"
    result = CliRunner().invoke(calibrate, ["--quick", "-o", str(target)])
    assert result.exit_code == 2 and "catalogue" in result.output


def test_error_statistics_golden():
    # |errors| 1..10 %: median (5 + 6) / 2 = 5.5; p90 by linear interpolation 9.1; worst 10
    stats = report.error_stats([float(e) for e in range(1, 11)])
    assert stats == {"count": 10, "median_pct": 5.5, "p90_pct": pytest.approx(9.1),
                     "worst_pct": 10.0}
    assert report.abs_pct_error(90.0, 100.0) == pytest.approx(10.0)


def _columns(**given):
    """Fit columns: the given ones, every other term of the fit all zero."""
    n = len(next(iter(given.values())))
    return {name: np.asarray(given.get(name, np.zeros(n)), dtype=float) for name in TERMS_FITTED}


def test_nonnegative_fit_recovers_scale_latencies_and_weight_passes():
    work = np.array([1e-4, 1e-3, 1e-2, 3e-3, 5e-4, 2e-3])
    steps = np.array([16.0, 64.0, 256.0, 16.0, 1024.0, 32.0])
    weight = np.array([1e-5, 4e-3, 1e-4, 2e-3, 1e-3, 5e-5])
    # scale 1.5, 2 us a step, 30 us a call, 0.5 extra weight passes
    measured = 1.5 * work + 2e-6 * steps + 3e-5 + 0.5 * weight
    columns = _columns(work_scale=work, step_latency_s=steps, call_latency_s=np.ones(6),
                       step_weight_passes=weight)
    fit = nonneg_relative_fit(columns, measured, measured)
    assert fit == pytest.approx({**{k: 0.0 for k in TERMS_FITTED}, "work_scale": 1.5,
                                 "step_scale": 1.0, "pointwise_scale": 1.0,
                                 "step_latency_s": 2e-6, "call_latency_s": 3e-5,
                                 "step_weight_passes": 0.5}, rel=1e-6, abs=1e-12)
    # a negative term is never returned: data that wants one gets 0 instead
    fit = nonneg_relative_fit(columns, 1.5 * work - 1e-7 * steps, measured)
    assert all(v >= 0 for v in fit.values()) and fit["work_scale"] >= MIN_WORK_SCALE


def test_fit_separates_step_gemms_from_bulk_gemms():
    # oneDNN's LSTM: the hoisted input GEMM at twice the measured MKL rate (scale 0.5), the
    # memory-bound step GEMMs at the measured rate (1.0), gates 0.3x, 1 us a step
    bulk = np.array([1e-3, 4e-3, 2e-4, 1e-2, 5e-4, 3e-3, 8e-4])
    step = np.array([2e-3, 1e-3, 3e-3, 5e-3, 1e-4, 6e-3, 4e-4])
    pointwise = np.array([1e-4, 3e-4, 5e-5, 2e-3, 1e-5, 4e-4, 2e-4])
    steps = np.array([16.0, 64.0, 256.0, 16.0, 1024.0, 32.0, 8.0])
    measured = 0.5 * bulk + 1.0 * step + 0.3 * pointwise + 1e-6 * steps
    fit = nonneg_relative_fit(_columns(work_scale=bulk, step_scale=step,
                                       pointwise_scale=pointwise, step_latency_s=steps),
                              measured, measured)
    assert (fit["work_scale"], fit["step_scale"], fit["pointwise_scale"],
            fit["step_latency_s"]) == pytest.approx((0.5, 1.0, 0.3, 1e-6), rel=1e-6)
    # and the roofline applies step_scale to the step GEMMs only
    eff = Efficiency(work_scale={"lstm.forward": 0.5}, step_scale={"lstm.forward": 2.0})
    assert eff.scale_of("lstm", "forward", "rnn_gemm", step=True) == 2.0
    assert eff.scale_of("lstm", "forward", "rnn_gemm") == 0.5
    assert eff.scale_of("gru", "forward", "rnn_gemm", step=True) == 1.0


def test_whole_steps_are_the_difference_per_step_less_the_other_kernels():
    # a made-up machine: 1 TFLOP/s, 100 GB/s, ideal curves; an LSTM(64) at batch 2 whose
    # step takes 10 us forward and 30 us backward, and whose other kernels take what the
    # roofline says (so the fit must subtract exactly that)
    profile = {"name": "m", "vendor": "m", "hbm_bytes_per_s": 1e11,
               "peak_flops_per_s": {"fp32": 1e12}, "efficiency": {"curves": {}}}
    hw = fit_mod.hardware_from_profile(profile)
    table = {"curves": {}}
    eff = Efficiency.from_table(table)

    def other(n, phase):  # the roofline's time outside the step, per call
        t = predict(cm.LSTM(64, 64), hw, eff=eff, n=n, batch=2)
        return sum(float(k["count"] * k["lower_s"]) for k in t.kernels
                   if k["phase"] == phase and not k["name"].startswith("step_"))

    def row(mode, step_s):
        times = [n * step_s + other(n, "forward")
                 + (other(n, "backward") if mode == "training" else 0.0) + 1e-4
                 for n in (4, 36)]
        return {"bench": "recurrent_step", "family": "lstm", "mode": mode, "d": 64,
                "batch": 2, "dtype": "fp32", "n_short": 4, "n_long": 36,
                "short_s": times[0], "long_s": times[1]}

    curves = fit_mod.fit_steps([row("training", 10e-6 + 30e-6), row("forward", 10e-6)], hw,
                               table)
    assert set(curves) == {"memory.rnn_step.lstm.forward.m2", "memory.rnn_step.lstm.backward.m2"}
    whole = Efficiency.from_table({"curves": curves})
    for phase, step_s in (("forward", 10e-6), ("backward", 30e-6)):
        kernels = {k["name"]: k for k in cm.LSTM(64, 64).kernel_values(n=36, batch=2)
                   if k["phase"] == phase}
        timed = {k["name"]: float(kernel_time(k, hw, whole, "fp32", False, True, "lstm")
                                  ["lower_s"]) for k in kernels.values()
                 if k["name"].startswith("step_")}
        # the step GEMM carries the whole step; the step's other kernels take no time
        gemm = "step_gemm" if phase == "forward" else "step_gemm_backward"
        assert timed[gemm] == pytest.approx(step_s, rel=1e-9)
        assert sum(timed.values()) == pytest.approx(step_s, rel=1e-9)


def test_fresh_sequence_buffers_enter_the_prediction_at_the_fresh_memory_rate():
    # LSTM(64, 64) at n 36, batch 2: the gate buffer is 36 x 2 x (4 x 64) fp32 = 73,728 B,
    # written at 0.1 of 100 GB/s (the memory.weight_copy curve) = 7.3728 us a buffer
    profile = {"name": "m", "vendor": "m", "hbm_bytes_per_s": 1e11,
               "peak_flops_per_s": {"fp32": 1e12}, "efficiency": {"curves": {}}}
    hw = fit_mod.hardware_from_profile(profile)
    eff = _efficiency()
    record = cm.LSTM(64, 64)
    kernels = record.kernel_values(n=36, batch=2)
    assert float(fresh_sequence_s(kernels, hw, eff)) == pytest.approx(73728 / (1e11 * 0.1))
    base = predict(record, hw, eff=eff, n=36, batch=2)
    more = predict(record, hw, eff=_efficiency(fresh_sequence_passes={"lstm.forward": 2.0}),
                   n=36, batch=2)
    assert float(more.forward_s - base.forward_s) == pytest.approx(2 * 7.3728e-6, rel=1e-9)
    assert float(more.backward_s) == float(base.backward_s)  # the backward key is absent
    layer = cm.TransformerEncoderLayer(64, 1, 256, 0.1).kernel_values(n=36, batch=2)
    assert float(fresh_sequence_s(layer, hw, eff)) == 0.0  # no recurrence, no gate buffer


def test_calibration_modules_are_held_out_from_the_validation_grid():
    # no validation configuration, n or d is a calibration one; batch 1 is shared on purpose
    # (a one-row step is a matrix-vector product, which no larger batch can stand in for)
    ns, ds, batches = vmod.GRIDS["full"]
    for plan in calibrate_mod.PLANS.values():
        for n, d, batch in plan["modules"]:
            assert n not in ns and d not in ds, (n, d, batch)
            assert batch == 1 or batch not in batches, (n, d, batch)


def test_toml_writer_round_trips():
    data = {"name": "x", "hbm_bytes_per_s": 1e12, "flag": True,
            "efficiency": {"latency_mode": "add", "curves": {"compute.gemm": {
                "x": [1.0, 2.0], "efficiency": [0.5, 0.9]}}, "step_latency_s": {"lstm.forward": 1e-6}}}
    assert tomllib.loads(report.to_toml(data)) == data


@pytest.mark.parametrize("table, field", [
    ({"latency_mode": "sometimes"}, "efficiency.latency_mode"),
    ({"curves": {"compute.gemm": {"x": [2.0, 1.0], "efficiency": [1.0, 1.0]}}},
     "efficiency.curves.compute.gemm"),
    ({"step_latency_s": {"lstm.forward": -1.0}}, "efficiency.step_latency_s.lstm.forward"),
    ({"warp_factor": 9}, "efficiency.warp_factor"),
])
def test_bad_efficiency_tables_name_the_field(table, field):
    with pytest.raises(ValueError, match=rf"mine\.toml: field '{field}'"):
        Efficiency.from_table(table, "mine.toml")


def test_shipped_files_may_not_carry_a_profile():
    from costmodel.hardware_file import parse as _parse

    text = 'name = "X"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e12\n[efficiency]\n'
    assert _parse(text, "user.toml", strict=False).efficiency == {}
    with pytest.raises(ValueError, match="field 'efficiency': unknown key"):
        _parse(text, "shipped.toml", strict=True)


def test_fit_separates_matmul_and_pointwise_scales_and_weight_copies():
    work = np.array([1e-4, 1e-3, 1e-2, 3e-3, 5e-4, 2e-3, 4e-3])
    pointwise = np.array([2e-4, 1e-4, 1e-3, 3e-3, 5e-5, 1e-3, 2e-5])
    steps = np.array([16.0, 64.0, 256.0, 16.0, 1024.0, 32.0, 8.0])
    fresh = np.array([1e-5, 4e-4, 2e-3, 1e-4, 1e-5, 3e-3, 1e-3])
    # GEMMs at 1.2x their curve, gates at 0.3x, 1 us a step, 20 us a call, 1 weight copy
    measured = 1.2 * work + 0.3 * pointwise + 1e-6 * steps + 2e-5 + 1.0 * fresh
    fit = nonneg_relative_fit(_columns(work_scale=work, pointwise_scale=pointwise,
                                       step_latency_s=steps, call_latency_s=np.ones(7),
                                       call_weight_passes=fresh), measured, measured)
    assert fit == pytest.approx({**{k: 0.0 for k in TERMS_FITTED}, "work_scale": 1.2,
                                 "step_scale": 1.0, "pointwise_scale": 0.3,
                                 "step_latency_s": 1e-6, "call_latency_s": 2e-5,
                                 "call_weight_passes": 1.0}, rel=1e-6, abs=1e-12)


def _efficiency(**tables):
    return Efficiency.from_table({"curves": {
        "compute.elementwise": {"x": [1.0, 1e12], "efficiency": [0.1, 0.1]},
        "compute.dropout": {"x": [1.0, 1e12], "efficiency": [0.01, 0.01]},
        "memory.rnn_step.m1": {"x": [1.0, 1e12], "efficiency": [2.0, 2.0]},
        "memory.rnn_step.m4": {"x": [1.0, 1e12], "efficiency": [1.0, 1.0]},
        "memory.weight_copy": {"x": [1.0, 1e12], "efficiency": [0.1, 0.1]}}, **tables})


def test_pointwise_kinds_use_their_curve_and_fall_back_to_elementwise():
    eff = _efficiency()
    assert eff.compute(1e6, "dropout") == pytest.approx(0.01)
    assert eff.compute(1e6, "softmax") == pytest.approx(0.1)  # no curve of its own
    assert eff.compute(1e6, "activation") == pytest.approx(0.1)
    # the records label their pointwise kernels; no count changes with the label
    kinds = {k.name: k.kind for k in cm.TransformerEncoderLayer(64, 1, 256, 0.1).kernels}
    assert kinds["self_attn.softmax"] == "softmax" and kinds["dropout"] == "dropout"
    assert "activation" in kinds.values()


def test_step_curves_interpolate_in_log_batch_and_scale_past_the_largest():
    eff = _efficiency()
    assert eff.step_batches() == [1, 4]
    # batch 2 is halfway between 1 and 4 in log: (2.0 + 1.0) / 2; batch 8: 1.0 * 4 / 8
    assert eff.step_memory(1e6, np.array([1, 2, 4, 8]), "fp32") == pytest.approx(
        [2.0, 1.5, 1.0, 0.5])
    assert Efficiency.ideal().step_memory(1e6, 1) is None


def test_family_scales_and_weight_copies_enter_the_prediction():
    hw = load_hardware("h100-sxm5-80gb")
    record = cm.LSTM(64, 64)
    base = predict(record, hw, eff=_efficiency(), n=8, batch=2)
    scaled = predict(record, hw, eff=_efficiency(
        work_scale={"lstm.forward": 1.0}, pointwise_scale={"lstm.forward": 3.0},
        call_weight_passes={"lstm.forward": 2.0}), n=8, batch=2)
    # 2 copies of the weights (4 * 64 * (64 + 64) + 8 * 64 = 33280 params, fp32) at 0.1 of
    # the bandwidth, plus the pointwise kernels 3x slower
    copy_s = 2 * 33280 * 4 / (hw.hbm_bytes_per_s * 0.1)
    gates = {k.name for k in record.kernels if k.kind not in MATMUL_KINDS}
    pointwise = sum(r["count"] * r["lower_s"] for r in base.kernels
                    if r["phase"] == "forward" and r["name"] in gates)
    assert float(scaled.forward_s - base.forward_s) == pytest.approx(copy_s + 2 * pointwise,
                                                                    rel=1e-6)


def test_cuda_timing_reads_event_pairs_and_subtracts_their_cost(monkeypatch):
    # no GPU here: fake CUDA events on a fake device clock. Recording an event costs 0.01 ms
    # of device time, the timed call 1.5 ms; so an empty call's event pair reads 0.01 ms (the
    # timer's cost) and the call's pair 1.51 ms, and the median must be 1.5e-3 s
    import torch

    from costmodel.validation import timing

    clock = {"ms": 0.0}

    class Event:
        def __init__(self, enable_timing=False):
            assert enable_timing, "timing events must be created with enable_timing=True"

        def record(self):
            self.ms = clock["ms"]
            clock["ms"] += 0.01

        def elapsed_time(self, end):
            return end.ms - self.ms

    def call(_):
        clock["ms"] += 1.5

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(timing, "_OVERHEAD", {})
    device = timing.Device("cuda", 1, "fake GPU")
    m = timing.measure(call, [None], device, budget_s=0.0)
    assert m.overhead_s == pytest.approx(1e-5)  # 0.01 ms, in seconds
    assert m.repeats == timing.MIN_REPEATS and m.median_s == pytest.approx(1.5e-3)


# ---- inference terms: measured on inference runs, standing in for the forward ones ----------

def _made_up_machine():
    """1 TFLOP/s, 100 GB/s, ideal curves, 5 us a kernel added (as on a CPU)."""
    profile = {"name": "m", "vendor": "m", "hbm_bytes_per_s": 1e11,
               "peak_flops_per_s": {"fp32": 1e12}, "efficiency": {"curves": {}}}
    return (fit_mod.hardware_from_profile(profile),
            {"latency_mode": "add", "kernel_latency_s": 5e-6, "curves": {}})


def test_a_profile_without_inference_terms_predicts_inference_as_before():
    committed = Path(__file__).resolve().parents[1] / "validation" / "results"
    eff = Efficiency.from_profile(committed / "cpu-amd-epyc-1t.toml")
    assert eff.for_inference() is eff  # nothing replaced: the same terms, bit for bit


def test_inference_terms_stand_in_for_the_forward_ones_in_inference_only():
    hw, table = _made_up_machine()
    flat = lambda e: {"x": [1.0, 1e12], "efficiency": [e, e]}
    eff = Efficiency.from_table({**table, "call_latency_s": {"lstm.inference": 1e-3},
                                 "work_scale": {"lstm.forward": 2.0, "gru.forward": 3.0},
                                 "curves": {"memory.rnn_step.lstm.forward.m1": flat(0.5),
                                            "memory.rnn_step.lstm.forward.m4": flat(0.5),
                                            "memory.rnn_step.lstm.inference.m2": flat(0.25),
                                            "memory.rnn_step.gru.forward.m1": flat(0.5)}})
    inference = eff.for_inference()
    assert inference.call_latency_s["lstm.forward"] == 1e-3
    assert inference.work_scale == eff.work_scale  # no inference key: the forward one stays
    # the LSTM's whole steps are the inference set (m2 only); the GRU keeps its forward ones
    assert inference.step_batches("rnn_step.lstm.forward") == [2]
    assert inference.curves["memory.rnn_step.lstm.forward.m2"] == (
        eff.curves["memory.rnn_step.lstm.inference.m2"])
    assert inference.step_batches("rnn_step.gru.forward") == [1]
    # LSTM(64) at n 36, batch 2: an inference forward is the train-mode forward with its
    # step at 0.25 instead of 0.5 of the bandwidth (twice the time: 36 steps x the step
    # GEMM's bytes / (100 GB/s x 0.25) against / 0.5), plus the 1 ms inference call latency
    record = cm.LSTM(64, 64)
    train = predict(record, hw, eff=eff, n=36, batch=2)
    infer = predict(record, hw, eff=eff, n=36, batch=2, mode="inference")
    step = next(k for k in record.kernel_values(n=36, batch=2) if k["name"] == "step_gemm")
    step_s = float(step["bytes"]) / 1e11
    gemm = lambda t: next(float(r["lower_s"]) for r in t.kernels if r["name"] == "step_gemm")
    assert gemm(train) == pytest.approx(2.0 * step_s / 0.5, rel=1e-12)  # work_scale 2
    assert gemm(infer) == pytest.approx(2.0 * step_s / 0.25, rel=1e-12)
    assert float(infer.forward_s - train.forward_s) == pytest.approx(
        1e-3 + 36 * (gemm(infer) - gemm(train)), rel=1e-9)
    # a training step never reads them
    assert float(predict(record, hw, eff=inference, n=36, batch=2).backward_s) == float(
        train.backward_s)


SYNTHETIC_SIZES = [(24, 48, 2), (96, 48, 2), (24, 96, 4), (384, 48, 24), (96, 128, 4),
                   (48, 96, 1), (768, 96, 1), (192, 96, 16)]


def _timed_by(truth, hw, families, modes, sizes=SYNTHETIC_SIZES):
    """Module 'timings' on a fake clock: what ``truth`` predicts, as calibration records
    them (an inference run predicted in inference mode, a training step's training_s)."""
    from costmodel.validation.modules import Config, cost_record

    rows = []
    for family, (n, d, batch), mode in itertools.product(families, sizes, modes):
        cfg = Config(family, n, d, batch, mode)
        t = predict(cost_record(cfg), hw, eff=truth, n=n, batch=batch,
                    mode="inference" if mode == "inference" else "training")
        rows.append({**cfg.as_dict(), "bench": "module",
                     "measured_s": float(t.training_s if mode == "training" else t.forward_s)})
    return rows


def test_calibration_fits_inference_terms_on_inference_runs():
    # a made-up machine whose inference differs from its train-mode forward: the LSTM's
    # bulk GEMMs at 0.6 (forward 1.2), 2 weight copies and 20 us a call, 1 us a step; the
    # Transformer layer's Linears at 0.8 and its pointwise kernels at 1.5, 30 us a call
    hw, table = _made_up_machine()
    truth = Efficiency.from_table({**table,
        "work_scale": {"lstm.forward": 1.2, "lstm.inference": 0.6,
                       "transformerencoderlayer.inference": 0.8},
        "pointwise_scale": {"transformerencoderlayer.inference": 1.5},
        "call_latency_s": {"lstm.inference": 2e-5, "transformerencoderlayer.inference": 3e-5},
        "step_latency_s": {"lstm.inference": 1e-6},
        "call_weight_passes": {"lstm.inference": 2.0}})
    families, modes = ("lstm", "transformer"), ("forward", "training", "inference")
    rows = _timed_by(truth, hw, families, modes)
    fitted = fit_mod.fit_families(rows, hw, table)
    assert {name: fitted[name]["lstm.inference"] for name in (
        "work_scale", "call_latency_s", "call_weight_passes", "step_latency_s")} == (
        pytest.approx({"work_scale": 0.6, "call_latency_s": 2e-5, "call_weight_passes": 2.0,
                       "step_latency_s": 1e-6}, rel=1e-6))
    key = "transformerencoderlayer.inference"
    assert (fitted["work_scale"][key], fitted["pointwise_scale"][key],
            fitted["call_latency_s"][key]) == pytest.approx((0.8, 1.5, 3e-5), rel=1e-6)
    assert fitted["step_weight_passes"]["lstm.inference"] == 0.0  # no dW_hh in inference
    # the fitted profile predicts the made-up machine's inference at sizes it never saw
    profile = Efficiency.from_table({**table, **fitted})
    held_out = [(640, 80, 3), (40, 192, 8)]
    for want, got in zip(_timed_by(truth, hw, families, ["inference"], held_out),
                         _timed_by(profile, hw, families, ["inference"], held_out)):
        assert got["measured_s"] == pytest.approx(want["measured_s"], rel=1e-9)
    # and timing inference changes no forward or backward term
    without = fit_mod.fit_families([r for r in rows if r["mode"] != "inference"], hw, table)
    assert without == {name: {k: v for k, v in values.items() if not k.endswith(".inference")}
                       for name, values in fitted.items()}


def test_inference_whole_steps_are_the_difference_per_step_less_the_other_kernels():
    # LSTM(64) at batch 2 on the made-up machine: its inference step takes 7 us (the
    # train-mode forward step 10 us); the input projection, which also grows with n, is
    # the roofline's, so the fit must subtract exactly that
    hw, _ = _made_up_machine()
    table = {"curves": {}}
    eff = Efficiency.from_table(table)

    def other(n):
        t = predict(cm.LSTM(64, 64), hw, eff=eff, n=n, batch=2)
        return sum(float(k["count"] * k["lower_s"]) for k in t.kernels
                   if k["phase"] == "forward" and not k["name"].startswith("step_"))

    rows = [{"bench": "recurrent_step", "family": "lstm", "mode": mode, "d": 64, "batch": 2,
             "dtype": "fp32", "n_short": 4, "n_long": 36,
             **{f"{length}_s": n * step_s + other(n) + 1e-4
                for length, n in (("short", 4), ("long", 36))}}
            for mode, step_s in (("inference", 7e-6), ("forward", 10e-6))]
    curves = fit_mod.fit_steps(rows, hw, table)
    assert set(curves) == {"memory.rnn_step.lstm.forward.m2",
                           "memory.rnn_step.lstm.inference.m2"}
    whole = Efficiency.from_table({"curves": curves})
    gemm = next(k for k in cm.LSTM(64, 64).kernel_values(n=36, batch=2)
                if k["name"] == "step_gemm")
    for e, step_s in ((whole, 10e-6), (whole.for_inference(), 7e-6)):
        row = kernel_time(gemm, hw, e, "fp32", False, True, "lstm")
        assert float(row["lower_s"]) == pytest.approx(step_s, rel=1e-9)


def test_calibrate_times_inference_unless_told_not_to(monkeypatch, tmp_path):
    calls = []

    def fake_run(device, quick=False, progress=None, inference=True):
        calls.append(inference)
        return {"name": "x", "hbm_bytes_per_s": 1.0, "peak_flops_per_s": {"fp32": 1.0}}, []

    monkeypatch.setattr(calibrate_mod, "calibrate", fake_run)
    for flag, want in (([], True), (["--no-inference"], False)):
        result = CliRunner().invoke(calibrate, [*QUICK, *flag, "-o", str(tmp_path / "p.toml")])
        assert result.exit_code == 0, result.output
        assert calls.pop() is want
    help_text = CliRunner().invoke(calibrate, ["--help"]).output
    assert "--inference / --no-inference" in help_text and "inference_mode" in help_text
