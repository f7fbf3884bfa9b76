"""GNMT v2 end to end (NVIDIA DeepLearningExamples' README rows): provenance, the measured
seconds' arithmetic, the composed model's parameters against torch, and that a row's
prediction is costmodel.predict summed over the composed records."""

import numpy as np
import pytest

import costmodel as cm
from costmodel.reference import gnmt_dle as g
from costmodel.reference import source


def test_registered_with_provenance():
    assert source("gnmt-dle") is g
    frame = g.rows()
    assert len(frame) == 4
    assert (frame.repo == "NVIDIA/DeepLearningExamples").all()
    assert all(len(c) == 40 for c in frame.commit)
    assert frame.path_or_url.str.contains("PyTorch/Translation/GNMT/README.md").all()
    assert set(frame.gpu) == {"a100", "v100"}


def test_measured_seconds_arithmetic():
    frame = g.rows().set_index(["gpu", "math"])
    # README: A100 40GB, 1 GPU, TF32 83214 tok/s; an iteration counts 2 * 128 * 22 = 5632
    assert frame.loc[("a100", "tf32"), "measured_s"] == pytest.approx(5632 / 83214)
    # V100 16GB, 1 GPU, AMP 76438 tok/s
    assert frame.loc[("v100", "fp16"), "measured_s"] == pytest.approx(5632 / 76438)
    assert g.ITER_SIZE == 8  # global batch 1024 / 128 per GPU on one GPU


def test_params_golden_and_torch():
    # embedding 32320*1024 = 33,095,680 (shared, once); classifier 1024*32320 + 32320
    # = 33,128,000; LSTM(i, h) = 4h(i + h) + 8h: enc0 bidirectional 2 * 8,396,800
    # = 16,793,600, enc1 and dec1-3 (i = 2048) 12,591,104 each, enc2-3 and dec0 8,396,800
    # each; attention q, k 2 * 1024^2 = 2,097,152, linear_att + bias + scalar 2049
    expected = (33_095_680 + 33_128_000 + 16_793_600 + 4 * 12_591_104 + 3 * 8_396_800
                + 2_097_152 + 2049)
    assert expected == 160_671_297
    assert g.params_count() == expected
    torch = pytest.importorskip("torch")
    nn, h, v = torch.nn, 1024, g.VOCAB
    modules = [nn.Embedding(v, h), nn.Linear(h, v), nn.LSTM(h, h, bidirectional=True),
               nn.LSTM(2 * h, h), nn.LSTM(h, h), nn.LSTM(h, h), nn.LSTM(h, h),
               *(nn.LSTM(2 * h, h) for _ in range(3)), nn.Linear(h, h, bias=False),
               nn.Linear(h, h, bias=False)]
    counted = sum(p.numel() for m in modules for p in m.parameters()) + 2 * h + 1
    assert counted == expected


@pytest.mark.parametrize("stack", g.STACKS)
def test_row_is_predict_over_records(stack):
    frame = g.rows()
    row = frame.iloc[[0]]
    by_hand = 0.0
    for _, record in g.records():
        p = cm.predict(record, "a100", n=22, batch=128, dtype="fp32", mode="training",
                       optimizer="adam", allow_tf32=True, cudnn_stack=stack)
        by_hand += p.phases["forward"] + p.phases["backward"] + p.phases["optimizer"] / 8
    assert g.predict(row, stack)[0] == pytest.approx(by_hand, rel=1e-12)


def test_stacks_differ_only_in_the_lstms_and_auto_resolves():
    a = g.iteration("a100", "fp16", False, 22, 128, "pr62143")
    b = g.iteration("a100", "fp16", False, 22, 128, "deepbench")
    assert a["outside the LSTMs"] == b["outside the LSTMs"]
    assert all(a[k] < b[k] for k in a if k != "outside the LSTMs")  # cuDNN 8 floor lower
    frame = g.scored()
    a100, v100 = frame.gpu == "a100", frame.gpu == "v100"
    assert np.allclose(frame.predicted_model_s[a100], frame.predicted_pr62143_s[a100])
    assert np.allclose(frame.predicted_model_s[v100], frame.predicted_deepbench_s[v100])


def test_shares_sum_to_the_iteration():
    for stack in g.STACKS:
        parts = g.shares("v100", "fp16", False, 27, stack)
        assert sum(parts.values()) == pytest.approx(
            sum(g.iteration("v100", "fp16", False, 27, 128, stack).values()), rel=1e-9)
        assert all(v > 0 for v in parts.values())


def test_position_between_stacks_arithmetic():
    frame = g.scored().set_index(["gpu", "math"])
    a, v = frame.loc[("a100", "fp16")], frame.loc[("v100", "fp16")]
    # the A100 time the V100's miss implies, placed between pr62143 (0) and deepbench (1)
    target = a.measured_s * v.predicted_deepbench_s / v.measured_s
    expected = (target - a.predicted_pr62143_s) / (a.predicted_deepbench_s
                                                   - a.predicted_pr62143_s)
    row = g.relative_to_v100().set_index("pair").loc["a100 fp16 / v100 fp16"]
    assert row["position_v100_deepbench"] == pytest.approx(expected)
    assert row["measured"] == pytest.approx(76438 / 140909)  # same tokens: 1 / throughput
