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
