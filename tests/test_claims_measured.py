"""Measured claims: verdicts from a recorded benchmark file (a small fake one here, no timing),
the fallback without a record, GPU claims labelled as roofline predictions, and the
``measure-claims`` command's argument errors."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner
from costmodel.cli.measure_claims import measure_claims

import costmodel.claims.evaluators_measured as em
from costmodel.claims.ledger import load
from costmodel.claims.verdicts import evaluate

CPU = {"device": "Test CPU", "device_kind": "cpu", "threads": 2, "torch": "2.x",
       "date": "2026-01-02T03:04:05Z", "command": "costmodel measure-claims", "note": "fake"}


def _write(tmp_path, monkeypatch, benchmarks: dict):
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps({"benchmarks": {k: {**CPU, **v} for k, v in
                                               benchmarks.items()}}))
    monkeypatch.setattr(em, "override", path)


def _verdict(cid: str):
    return evaluate(next(c for c in load() if c.id == cid))


LT = {"config": {"n": 512, "d": 768, "batch": 8, "nhead": 12, "dim_feedforward": 3072},
      "results": {"training_speedup": 0.5, "forward_speedup": 0.25,
                  "lstm_utilization": 0.3, "transformer_utilization": 0.5}}


def test_without_a_record_the_claim_stays_not_computable(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, {})
    v = _verdict("001-026")
    assert v.status == "not_computable"
    assert "no recorded run of benchmark 'gru_vs_lstm'" in v.reason
    assert "measure-claims" in v.reason


def test_a_claim_that_holds_on_what_was_measured(tmp_path, monkeypatch):
    # "GRU ... trains faster": LSTM 0.5 s / GRU 0.4 s = 1.25 > 1
    _write(tmp_path, monkeypatch, {"gru_vs_lstm": {"config": {}, "results": {"speedup": 1.25}}})
    v = _verdict("001-026")
    assert v.status == "measured" and v.computed == pytest.approx(1.25) and v.factor is None
    assert v.reason.startswith("holds on what was measured")
    assert "gru_vs_lstm on this CPU (Test CPU, 2 thread(s), torch 2.x, 2026-01-02)" in v.reason


def test_an_off_claim_gives_the_factor_and_the_gpu_prediction(tmp_path, monkeypatch):
    # "15x or greater": measured LSTM / Transformer = 0.5, claimed/measured = 15 / 0.5 = 30
    _write(tmp_path, monkeypatch, {"lstm_vs_transformer": LT})
    v = _verdict("002-051")
    assert v.status == "measured" and v.factor == pytest.approx(30)
    assert v.reason.startswith("off on what was measured")
    assert "a100 (fp16) by costmodel's roofline" in v.reason
    assert "a prediction, not measured on that GPU" in v.reason
    assert "contradicts" not in v.reason and v.claim.contradicts  # contradictions stay


def test_scale_turns_a_ratio_into_the_documents_setting(tmp_path, monkeypatch):
    # BERT-scale LSTM: measured ratio 30 x BERT's 4 days = 120 days, inside 100-200 days
    _write(tmp_path, monkeypatch, {"lstm_vs_transformer": {
        **LT, "results": {**LT["results"], "training_speedup": 30.0}}})
    v = _verdict("002-047")
    assert v.status == "measured" and v.computed == pytest.approx(120 * 86400)
    assert v.reason.startswith("holds on what was measured")


def test_utilization_is_a_fraction_judged_against_percent(tmp_path, monkeypatch):
    # LSTM 0.03 = 3 %, inside "1-5 %"; Transformer 0.5 = 50 %, inside "40-60 %"
    _write(tmp_path, monkeypatch, {"lstm_vs_transformer": {
        **LT, "results": {**LT["results"], "lstm_utilization": 0.03}}})
    assert _verdict("002-045").reason.startswith("holds on what was measured")
    assert _verdict("002-046").reason.startswith("holds on what was measured")


def test_non_positive_measurement_is_not_judged(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, {"checkpoint_transformer": {
        "config": {}, "results": {"slowdown": -0.01}}})
    v = _verdict("002-039")
    assert v.status == "not_computable" and "rerun" in v.reason


def test_gpu_speedup_without_a_gpu_is_cpu_measured_over_roofline(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, {"matmul_gpu_vs_cpu": {
        "config": {"m": 1000, "n": 1000, "k": 1000},
        "results": {"cpu_time_s": 0.02, "gpu_time_s": None, "gpu": "no GPU here"}}})
    v = _verdict("000-024")
    assert v.status == "measured"
    assert "no GPU here" in v.reason and "not measured" in v.reason
    # 2 * 10^9 FLOPs at the A100's 19.5 TFLOPS fp32 is >= 103 us, so 20 ms / that < 200
    assert 10 < v.computed < 200


def test_gpu_speedup_measured_on_both(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, {"matmul_gpu_vs_cpu": {
        "config": {"m": 1000, "n": 1000, "k": 1000},
        "results": {"cpu_time_s": 0.02, "gpu_time_s": 0.0001, "gpu": "Some GPU"}}})
    v = _verdict("000-024")
    assert v.computed == pytest.approx(200) and v.reason.startswith("holds on what")


def test_concurrent_directions_arithmetic(tmp_path, monkeypatch):
    # serial: 0.06 / 0.04 = 1.5; concurrent: (0.06 - 0.03 + 0.015) / 0.04 = 1.125
    _write(tmp_path, monkeypatch, {
        "crnn_vs_ast": {"config": {}, "results": {"crnn_training_s": 0.06,
                                                  "ast_training_s": 0.04}},
        "crnn_gru_directions": {"config": {}, "results": {"bigru_training_s": 0.03,
                                                          "one_direction_training_s": 0.015}}})
    v = _verdict("000-141")
    assert v.status == "measured" and v.computed == pytest.approx(1.125)
    assert "1.5 with the directions one after the other" in v.reason


def test_describe_lists_device_and_command(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, {"gru_vs_lstm": {"config": {"n": 4}, "results": {}}})
    text = "\n".join(em.describe())
    assert "gru_vs_lstm" in text and "Test CPU" in text and "`costmodel measure-claims`" in text


def test_the_packaged_file_only_names_known_benchmarks():
    from costmodel.validation.claims_bench import BENCHMARKS

    assert set(em.measurements()) <= set(BENCHMARKS)
    names = {c.arguments.get("benchmark") for c in load() if c.evaluator == "measured"}
    assert names <= set(BENCHMARKS)


def test_measure_claims_without_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    result = CliRunner().invoke(measure_claims, ["--only", "gru_vs_lstm", "-o", "x.json"])
    assert result.exit_code == 2
    assert "pip install '.[validation]'" in result.output


def test_measure_claims_argument_errors(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(measure_claims, ["--only", "bogus", "-o", str(tmp_path / "m.json")])
    assert bad.exit_code == 2 and "gru_vs_lstm" in bad.output
    quick = runner.invoke(measure_claims, ["--quick"])
    assert quick.exit_code == 2 and "-o" in quick.output
    assert "Example:" in runner.invoke(measure_claims, ["-h"]).output
