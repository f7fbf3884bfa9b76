"""Packed against padded TIMES (costmodel.varlen_time): properties, the decomposition, the CLI.

No wall time is asserted: the times are the model's (roofline + cuDNN/cuBLAS fitted models),
checked for the structure a packed batch has and against the same library calls by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel as cm
from costmodel.hardware import load_hardware
from costmodel.roofline import predict
from costmodel.varlen_time import (MODES, is_core, is_step, packed_parts, packed_rnn_params,
                                   packed_s, padded_parts, padded_s, padding_time)
from clirun import run

H100 = load_hardware("h100")
# hidden 256 fp32: above cuDNN's small-h persistent limits (192 forward, 128 backward) and not
# fp16, so PyTorch's get_algo picks STANDARD for the padded tensor too: the same algorithm
RECORDS = {"lstm": cm.LSTM(256, 256), "gru": cm.GRU(256, 256),
           "transformer": cm.TransformerEncoderLayer(256, 4, 1024, dropout=0.0)}
LENGTHS = st.lists(st.integers(1, 300), min_size=1, max_size=6)


def _both(record, lengths, mode):
    batch = np.asarray([lengths])
    return padded_s(record, H100, batch, mode)[0], packed_s(record, H100, batch, mode)[0]


def _parts(record, lengths, mode):
    batch = np.asarray([lengths])
    return ({k: v[0] for k, v in padded_parts(record, H100, batch, mode).items()},
            {k: v[0] for k, v in packed_parts(record, H100, batch, mode).items()})


# The per-token part (projections, FFN, the recurrence's bulk GEMMs) is the record at
# n = sum(L), batch 1: whatever the GEMM models give there. They are not monotone in a GEMM's
# reduction depth k = tokens (split-K steps; on H100 fp32 a Transformer layer's
# in_proj.grad_weight is 40.0 us at 1,790 tokens, 36.4 us at 1,792), so the WHOLE packed time can
# exceed the padded one, or drop when a length grows (docs/padding.md). What packing itself
# changes, the steps at the shrinking batch and the per-sequence attention core, obeys:
@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(RECORDS)), lengths=LENGTHS, mode=st.sampled_from(MODES))
def test_packed_steps_and_core_never_cost_more_than_padded(name, lengths, mode):
    padded, packed = _parts(RECORDS[name], lengths, mode)
    for part in ("steps", "core"):
        assert packed[part] <= padded[part] * (1 + 1e-12)
    assert sum(padded.values()) == pytest.approx(_both(RECORDS[name], lengths, mode)[0])


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(sorted(RECORDS)), length=st.integers(1, 400),
       batch=st.integers(1, 8), mode=st.sampled_from(MODES))
def test_equal_lengths_cost_the_same_packed_or_padded(name, length, batch, mode):
    padded, packed = _both(RECORDS[name], [length] * batch, mode)
    assert packed == pytest.approx(padded, rel=1e-12)


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(RECORDS)), lengths=LENGTHS, which=st.integers(0, 5),
       more=st.integers(1, 200), mode=st.sampled_from(MODES))
def test_packed_steps_and_core_grow_with_any_length(name, lengths, which, more, mode):
    longer = list(lengths)
    longer[which % len(lengths)] += more
    before, after = _parts(RECORDS[name], lengths, mode)[1], _parts(RECORDS[name], longer,
                                                                    mode)[1]
    for part in ("steps", "core"):
        assert after[part] >= before[part] * (1 - 1e-12)


@settings(max_examples=8, deadline=None)
@given(lengths=LENGTHS, which=st.integers(0, 5), more=st.integers(1, 200))
def test_transformer_inference_is_monotone_and_packed_never_slower(lengths, which, more):
    """In inference the token GEMMs grow in m (rows), where the models are monotone: the
    whole packed time is then at most padded and grows with every length."""
    longer = list(lengths)
    longer[which % len(lengths)] += more
    padded, packed = _both(RECORDS["transformer"], lengths, "inference")
    assert packed <= padded * (1 + 1e-12)
    assert _both(RECORDS["transformer"], longer, "inference")[1] >= packed * (1 - 1e-12)


def test_packed_recurrence_by_hand():
    """Lengths 3 and 1: the packed LSTM runs max(L) = 3 steps, the first at batch 2 and the
    next two at batch 1 (runs: L_(1) - L_(2) = 3 - 1 = 2 steps at batch 1, L_(2) - 0 = 1 at
    batch 2), plus its per-token work over 3 + 1 = 4 tokens at batch 1 (input projection,
    weight gradient, one cuDNN call each), all with ALGO_STANDARD. Built here from the same
    roofline calls the module makes, term by term."""
    record, params = RECORDS["lstm"], packed_rnn_params(H100)
    assert params["algo"] == "standard"
    for mode in MODES:
        tokens = predict(record, H100, mode=mode, rnn_params=params, n=4, batch=1)
        total = tokens.forward_s if mode == "inference" else tokens.training_s
        step_s = lambda t: sum(r["count"] * r["lower_s"] for r in t.kernels  # noqa: E731
                               if is_step(r["name"]))
        at = {b: step_s(predict(record, H100, mode=mode, rnn_params=params, n=1, batch=b))
              for b in (1, 2)}
        expected = total - step_s(tokens) + 2 * at[1] + 1 * at[2]
        assert _both(record, [3, 1], mode)[1] == pytest.approx(float(expected), rel=1e-12)
        # padded: 3 steps at batch 2, PyTorch's own algorithm choice (here STANDARD too)
        padded = predict(record, H100, mode=mode, n=3, batch=2)
        assert _both(record, [1, 3], mode)[0] == pytest.approx(
            float(padded.forward_s if mode == "inference" else padded.training_s), rel=1e-12)


def test_fused_attention_core_is_one_launch_over_the_summed_work():
    """Lengths 50 and 30: the varlen core's FLOPs are the per-sequence sums, L^2 each
    (2 * 2 * hd * L^2 per head: q k^T and p v), not the padded 2 * 50^2; it is ONE launch
    (one floor, waves over every sequence's blocks, no shorter than its longest block): a single
    sequence costs its dense launch,
    equal lengths their dense batch, and 50 + 30 lies strictly between 2 x 30 and 2 x 50."""
    from costmodel.implementations.sdpa import resolve

    record = resolve(RECORDS["transformer"], H100, "fp32", "inference")[0]
    core = [k for k in record.kernel_values(dtype="fp32", n=np.asarray([[50, 30]]), batch=1)
            if is_core(k["name"]) and k["phase"] == "forward"]
    assert [k["kind"] for k in core] == ["attention"]  # memory-efficient: the fused record
    heads, hd = 4, 64
    flops = np.asarray(core[0]["flops"]).sum()
    assert flops >= 2 * 2 * heads * hd * (50 ** 2 + 30 ** 2)  # + softmax's elementwise work
    assert flops < 2 * 2 * heads * hd * 2 * 50 ** 2

    def core_s(lengths):
        return _parts(RECORDS["transformer"], lengths, "inference")[1]["core"]

    def dense_core_s(n, batch):
        return sum(r["count"] * r["lower_s"] for r in predict(
            RECORDS["transformer"], H100, mode="inference", n=n, batch=batch).kernels
            if is_core(r["name"]))

    assert core_s([50]) == pytest.approx(dense_core_s(50, 1), rel=1e-12)
    assert core_s([40, 40]) == pytest.approx(dense_core_s(40, 2), rel=1e-12)
    # (one wave here: the launch lasts as long as its longest block, a 50-token one)
    assert core_s([30, 30]) < core_s([50, 30]) <= core_s([50, 50])


def test_a_persistent_padded_recurrence_can_beat_its_packed_batch():
    """PyTorch never runs a persistent cuDNN kernel on a packed input (get_algo), so where its
    heuristics pick one for the padded tensor (fp16, one unidirectional layer, hidden 1024 <=
    1024 and a multiple of 128, batch 8 <= 128 and a multiple of 8, an H100 with >= 98 SMs:
    PERSIST_STATIC, W_hh kept on chip) equal lengths run slower packed than padded."""
    record, lengths = cm.LSTM(1024, 1024), np.asarray([[64] * 8])
    padded = padded_s(record, H100, lengths, "inference", "fp16")[0]
    packed = packed_s(record, H100, lengths, "inference", "fp16")[0]
    assert packed > padded


def test_padding_time_keys_and_bad_lengths():
    out = padding_time(RECORDS["gru"], H100, [5, 3, 2])
    assert set(out) == {"time_inference_s", "time_training_s"}
    for v in out.values():
        assert v["waste"] == pytest.approx(v["padded"] - v["packed"])
    with pytest.raises(ValueError, match=r"lengths\[1\]"):
        padding_time(RECORDS["gru"], H100, [5, 0])


def test_cli_times_json_and_csv_equal_the_library():
    code, out, _ = run("padding", "--lengths", "5,3,2", "--d", "256", "--models", "lstm",
                       "--gpu", "h100", "--format", "json")
    assert code == 0
    got = json.loads(out)
    assert got["gpu"] == H100.name
    assert got["models"]["lstm"]["time_training_s"] == padding_time(
        RECORDS["lstm"], H100, [5, 3, 2])["time_training_s"]
    code, out, _ = run("padding", "--lengths", "5,3,2", "--d", "256", "--models", "lstm",
                       "--gpu", "h100", "--format", "csv")
    assert code == 0
    rows = [line.split(",") for line in out.splitlines()]
    assert rows[0] == ["model", "quantity", "padded", "packed", "waste", "waste_fraction"]
    times = {r[1]: float(r[3]) for r in rows[1:] if r[1].startswith("time_")}
    assert times["time_inference_s"] == got["models"]["lstm"]["time_inference_s"]["packed"]


def test_a_cpu_profile_prices_packed_batches_with_its_own_terms():
    """The committed CPU profile (its measured per-step and per-call terms): equal lengths
    cost the same packed or padded, and the steps of 64, 40, 9 cost less packed."""
    from pathlib import Path

    cpu = load_hardware(Path(__file__).resolve().parent.parent / "validation" / "results"
                        / "cpu-amd-epyc-1t.toml")
    assert packed_rnn_params(cpu) is None  # no cuDNN there
    for mode in MODES:
        same = np.asarray([[8, 8, 8]])
        assert packed_s(RECORDS["lstm"], cpu, same, mode)[0] == pytest.approx(
            padded_s(RECORDS["lstm"], cpu, same, mode)[0], rel=1e-12)
        mixed = np.asarray([[64, 40, 9]])
        padded = padded_parts(RECORDS["gru"], cpu, mixed, mode)
        packed = packed_parts(RECORDS["gru"], cpu, mixed, mode)
        assert 0 < packed["steps"][0] < padded["steps"][0]
