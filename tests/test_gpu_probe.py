"""The lent-GPU probe's harness, run on the CPU (the smoke test the probe's --quick exists for):
the rows carry what a session needs to read them, and the predictions are costmodel.predict's."""

import json

import pytest

torch = pytest.importorskip("torch")

from costmodel.validation import gpu_probe


def test_quick_probe_rows_and_predictions(tmp_path):
    out = tmp_path / "probe.json"
    assert gpu_probe.main(["--device", "cpu", "--gpu", "h200", "--quick", "-o", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["environment"]["kind"] == "cpu" and result["skipped"] == 0
    grids = {row["grid"] for row in result["rnn"]}
    assert grids == {"single", "depth", "bidir"}
    for row in result["rnn"]:
        assert row["inference_ms"] > 0 and row["forward_backward_ms"] > 0
        assert set(row["predicted"]) == {"inference_ms", "forward_backward_ms"}
    bidir = next(row for row in result["rnn"] if row["bidirectional"])
    import costmodel as cm

    record = cm.RNN(16, 16, bidirectional=True, nonlinearity="relu")
    expected = cm.predict(record, "h200", n=3, batch=2, mode="inference").total_s * 1e3
    assert bidir["predicted"]["inference_ms"] == pytest.approx(expected)
    assert result["attention"][0]["heads"] == 1 and result["attention"][0]["inference_ms"] > 0


def test_time_limit_skips_rows_and_keeps_the_file_valid(tmp_path):
    result = gpu_probe.run("cpu", None, quick=True, max_s=0.0, log=lambda line: None)
    assert result["rnn"] == [] and result["skipped"] == len(gpu_probe.rnn_cases(True))


def test_full_grids_answer_their_questions():
    cases = gpu_probe.rnn_cases(quick=False)
    depth = [c for c in cases if c.grid == "depth" and c.cell == "lstm" and c.hidden == 512]
    assert [c.layers for c in depth] == [1, 2, 3, 4]  # the wavefront question
    lengths = sorted(c.steps for c in cases if c.grid == "length" and c.dtype == "fp32")
    assert lengths[0] == 1 and lengths[-1] >= 100  # call cost vs per-step cost
    assert {c.cell for c in cases if c.grid == "single"} == set(gpu_probe.CELLS)
    from costmodel.implementations.host_issue import PROBE  # calibrate's host probe, timed
    probe = [c for c in cases if c.grid == "host" and c.cell == PROBE["family"]
             and c.batch == PROBE["batch"] and c.hidden == PROBE["hidden"]]
    assert tuple(c.steps for c in probe) == PROBE["lengths"]


def test_quick_result_carries_launch_costs_host_time_and_honours_grids():
    result = gpu_probe.run("cpu", None, quick=True, max_s=60.0, log=lambda line: None,
                           grids=("depth",), attention=False)
    assert [row["grid"] for row in result["rnn"]] == ["depth"] and result["attention"] == []
    row = result["rnn"][0]
    assert 0 < row["inference_host_ms"] < 1e3
    launch = result["launch"]
    assert launch["eager_add_us"] > 0 and launch["cudnn_lstm_step_call_us"] > 0
    assert "raw_launch_us" not in launch  # torch.cuda._sleep exists only on CUDA


def test_ops_shapes_follow_neusight_files_and_time_on_the_cpu():
    from costmodel.validation import gpu_ops

    grid = gpu_ops.shapes()
    assert len(grid["gemm"]) > 400 and len(grid["vec"]) > 100
    assert {r[1] for r in grid["gemm"]} == {"linear", "bmm"}
    assert all(len(r) == 6 for r in grid["gemm"]) and all(len(r) == 4 for r in grid["vec"])
    quick = gpu_ops.shapes(quick=True)  # the smallest shape of every op: 2 GEMM, 13 pointwise
    assert len(quick["gemm"]) == 2 and len(quick["vec"]) == 13
    out = gpu_ops.time_ops(torch, 60.0, quick=True, log=lambda line: None, kind="cpu")
    assert len(out["gemm"]) == 2 and len(out["vec"]) == 13 and out["skipped"] == 0
    assert all(r[-1] > 0 for r in out["gemm"] + out["vec"])
    # the rows import as the shipped h200-ops files are read: NeuSight's columns
    assert out["gemm"][0][:6] == quick["gemm"][0]
    # softmax / LayerNorm either side of PyTorch's dispatch limits, with the torch version
    full = {(r[1], r[3]) for r in grid["dispatch"]}
    assert {("softmax", 2048), ("softmax", 2176), ("softmax", 9216), ("softmax", 9344),
            ("softmax", 12288)} <= full
    assert len(grid["dispatch"]) == 2 * len(gpu_ops.DISPATCH_BATCHES) * len(
        gpu_ops.DISPATCH_WIDTHS)
    assert len(out["dispatch"]) == 4 and all(r[-1] > 0 for r in out["dispatch"])
    assert out["torch"] == torch.__version__


def test_calibrate_has_a_gpu_plan_with_the_full_plans_terms():
    from costmodel.validation.calibrate import PLANS

    assert set(PLANS["gpu"]) == set(PLANS["full"])
    assert PLANS["gpu"]["peak"] >= 4096  # a chip-filling product, not one launch


def test_calibrate_picks_the_gpu_plan_on_cuda_and_full_on_the_cpu(monkeypatch):
    from costmodel.validation import calibrate as cal
    from costmodel.validation.timing import Device

    seen = []

    def stop(device, plan, progress):
        seen.append(plan)
        raise RuntimeError("stop")

    monkeypatch.setattr(cal, "micro_benchmarks", stop)
    for kind in ("cuda", "cpu"):
        with pytest.raises(RuntimeError, match="stop"):
            cal.calibrate(Device(kind, 1, "x"))
    assert seen == [cal.PLANS["gpu"], cal.PLANS["full"]]


def test_rows_carry_the_host_side_of_a_call():
    result = gpu_probe.run("cpu", None, quick=True, max_s=60.0, log=lambda line: None,
                           grids=("single",), attention=False)
    row = result["rnn"][0]  # an LSTM: the ATen op's CPU time is recorded, forward and training
    assert any(h["name"] == "aten::lstm" and h["cpu_us"] > 0 for h in row["host_inference"])
    assert any(h["name"].startswith("autograd::engine") for h in row["host_training"])


def test_host_probe_times_both_modes_and_feeds_the_fit():
    from costmodel.implementations import host_issue
    from costmodel.validation.gpu_launch import host_probe
    from costmodel.validation.timing import open_device

    device = open_device("cpu")
    timed = host_probe(device, budget_s=0.001, lengths=(1, 2, 3))
    assert [t["steps"] for t in timed] == [1, 2, 3]
    assert all(t["inference_s"] > 0 and t["forward_backward_s"] > t["inference_s"]
               for t in timed)
    points = host_issue.probe_points(timed, load_hardware_h200())
    assert [p["forward_kernels"] for p in points] == [3.0, 5.0, 7.0]  # 2 per step + input
    host = host_issue.fit(points)
    assert host.kernel_s >= 0 and host.call_s >= 0 and host.backward_call_s >= 0


def load_hardware_h200():
    from costmodel.hardware import load_hardware

    return load_hardware("h200")


def test_calibrate_on_cuda_writes_the_host_table(monkeypatch):
    """The CUDA path's last stage, with every timing replaced (a fake clock: this VM has no
    GPU): the probe's calls become the profile's [host] table, read back as HostCosts."""
    from costmodel.implementations.host_issue import HostCosts
    from costmodel.validation import calibrate as cal
    from costmodel.validation.fit import hardware_from_profile
    from costmodel.validation.timing import Device

    truth = HostCosts(8e-6, 2.5e-4, 9e-4)

    def timed(device, budget_s):
        out = []
        for steps in (1, 100, 400):
            k = 2 * steps + 1
            out.append({"bench": "host_probe", "steps": steps,
                        "inference_s": truth.call_s + k * truth.kernel_s,
                        "forward_backward_s": truth.call_s + truth.backward_call_s
                        + 2 * k * truth.kernel_s})
        return out

    table = {"latency_mode": "max", "kernel_latency_s": 5e-6, "curves": {}}
    monkeypatch.setattr(cal, "micro_benchmarks", lambda device, plan, progress: [])
    monkeypatch.setattr(cal, "fit_micro",
                        lambda rows, device: ({"fp32": 5e13}, 4e12, dict(table)))
    monkeypatch.setattr(cal, "measure_steps", lambda *a, **k: [])
    monkeypatch.setattr(cal, "measure_modules", lambda *a, **k: [])
    monkeypatch.setattr("costmodel.validation.fit.fit_steps", lambda *a, **k: {})
    monkeypatch.setattr("costmodel.validation.fit.fit_families", lambda *a, **k: {})
    monkeypatch.setattr(cal, "host_probe", timed)
    monkeypatch.setattr(cal, "metadata", lambda device, plan, rows: {"plan": plan})
    monkeypatch.setattr(cal, "architecture_of", lambda device: "hopper")
    profile, rows = cal.calibrate(Device("cuda", 1, "NVIDIA H200"))
    assert profile["architecture"] == "hopper"  # PyTorch's cuDNN regime depends on it
    got = hardware_from_profile(profile).host
    assert got.kernel_s == pytest.approx(truth.kernel_s)
    assert got.call_s == pytest.approx(truth.call_s)
    assert got.backward_call_s == pytest.approx(truth.backward_call_s)
    assert sum(r["bench"] == "host_probe" for r in rows) == 3
