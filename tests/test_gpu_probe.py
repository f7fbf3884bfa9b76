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
