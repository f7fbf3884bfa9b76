"""CRNN (seed document 000, section 1.3) against a torch reference module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import matmul_flops, num_params, saved_bytes

import costmodel as cm
from costmodel import symbols as S


class TorchCRNN(torch.nn.Module):
    """The reference: the same defaults as ``costmodel.CRNN``."""

    def __init__(self, n_mels=128, channels=(32, 64, 128), kernel_size=3, padding=1, pool=2,
                 hidden_size=256, num_layers=2, bidirectional=True, out_features=2,
                 freq_reduction="mean", pooling="mean"):
        super().__init__()
        layers, c_in, height = [], 1, n_mels
        for c_out in channels:
            layers += [torch.nn.Conv2d(c_in, c_out, kernel_size, padding=padding),
                       torch.nn.ReLU(), torch.nn.MaxPool2d(pool)]
            height = (height + 2 * padding - kernel_size + 1) // pool
            c_in = c_out
        self.cnn = torch.nn.Sequential(*layers)
        self.freq_reduction, self.pooling = freq_reduction, pooling
        features = c_in if freq_reduction == "mean" else c_in * height
        self.gru = torch.nn.GRU(features, hidden_size, num_layers=num_layers,
                                bidirectional=bidirectional, batch_first=True)
        width = hidden_size * (2 if bidirectional else 1)
        if pooling == "attention":
            self.score = torch.nn.Linear(width, 1)
        self.fc = torch.nn.Linear(width, out_features)

    def forward(self, x):  # x: (batch, 1, n_mels, n)
        x = self.cnn(x)  # (batch, C, H, n')
        if self.freq_reduction == "mean":
            x = x.mean(dim=2).transpose(1, 2)  # (batch, n', C)
        else:
            b, c, h, n = x.shape
            x = x.permute(0, 3, 1, 2).reshape(b, n, c * h)  # (batch, n', C*H)
        h, _ = self.gru(x)  # (batch, n', D*hidden)
        if self.pooling == "mean":
            z = h.mean(dim=1)
        else:
            w = torch.softmax(self.score(h), dim=1)  # (batch, n', 1)
            z = torch.bmm(w.transpose(1, 2), h).squeeze(1)  # (batch, D*hidden)
        return self.fc(z)


configs = st.fixed_dictionaries(dict(
    n_mels=st.integers(8, 16),
    channels=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    hidden_size=st.integers(1, 6),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    out_features=st.integers(1, 3),
    freq_reduction=st.sampled_from(["mean", "flatten"]),
    pooling=st.sampled_from(["mean", "attention"]),
))


@settings(max_examples=25, deadline=None)
@given(cfg=configs, frames=st.integers(16, 40), batch=st.integers(2, 3))
def test_crnn_matches_torch(cfg, frames, batch):
    """params, matmul FLOPs forward/backward and saved bytes, exactly (batch >= 2: see
    test_attention_pooling_at_batch_1_saves_no_copy).

    The GRU is counted with ``implementation="autograd"``: PyTorch's CPU GRU runs the
    decomposed cell graph, whose saved tensors are what that option counts.
    """
    torch.manual_seed(0)
    module = TorchCRNN(**cfg)
    x = torch.randn(batch, 1, cfg["n_mels"], frames)
    got = cm.CRNN(**cfg, implementation="autograd").evaluate(n=frames, batch=batch)
    assert got["params"] == num_params(module)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == matmul_flops(module, x)
    assert got["activation_bytes"] == saved_bytes(module, x)


def test_batch_1_makes_no_transposed_copies():
    """At batch 1 a batch-first transpose is already contiguous, so PyTorch copies nothing:
    neither the GRU's time-major input nor the scores Linear's input. Both records count the
    copies only for batch >= 2 (a Min(batch - 1, 1) switch), so batch 1 is exact too."""
    cfg = dict(n_mels=8, channels=(2, 3, 4), hidden_size=3, pooling="attention")
    x = torch.randn(1, 1, 8, 35)
    measured = saved_bytes(TorchCRNN(**cfg), x)
    ours = cm.CRNN(**cfg, implementation="autograd").evaluate(n=35, batch=1)
    assert ours["activation_bytes"] == measured


def test_document_crnn_golden():
    """The document's CRNN on one 128 x 1292 spectrogram (batch 1, fp32).

    frames: 1292 -> 646 -> 323 -> 161 (floor halvings; the document's "1292/8 ~ 161").
    params: conv1 32*1*9+32 = 320; conv2 64*32*9+64 = 18496; conv3 128*64*9+128 = 73856;
      GRU layer 0: 2 directions * (3*256*(128+256) + 2*3*256) = 2 * 296448 = 592896;
      GRU layer 1: 2 * (3*256*(512+256) + 1536) = 2 * 591360 = 1182720;
      fc 512*2+2 = 1026; total 320+18496+73856+592896+1182720+1026 = 1869314.
    matmul forward: conv1 2*(128*1292)*32*1*9 = 95256576;
      conv2 2*(64*646)*64*32*9 = 1524105216; conv3 2*(32*323)*128*64*9 = 1524105216;
      GRU 2 dirs * 2*161*768*(128+256) + 2 dirs * 2*161*768*(512+256) = 569769984;
      fc 2*512*2 = 2048; total 3713239040.
    matmul backward: conv1 grad_weight only 95256576; conv2, conv3 2 * 1524105216 each;
      GRU 2*569769984 - 4 * 2*256*768 (no gradient for h_0) = 1137967104; fc 2*2048;
      total 7329648640.
    """
    record = cm.CRNN()
    got = record.evaluate(n=1292)
    assert got["params"] == 320 + 18496 + 73856 + 592896 + 1182720 + 1026 == 1869314
    assert got["matmul_flops"] == 95256576 + 2 * 1524105216 + 569769984 + 2048 == 3713239040
    backward = 95256576 + 4 * 1524105216 + 1137967104 + 4096
    assert got["matmul_flops_backward"] == backward == 7329648640
    gru = next(p for p in record.parts if p.name == "gru")
    assert gru.out_len.subs(S.n, 1292) == 161  # the GRU runs 161 steps
    # critical path: 3 convs + 2 GRU layers * (1 input projection + 161 steps) + fc = 328
    assert got["depth_forward"] == 3 + 2 * (1 + 161) + 1 == 328


def test_breakdown_shows_where_the_cost_goes():
    """The document: the recurrent part dominates time, not FLOPs. The breakdown shows both.

    GRU matmul FLOPs 569769984 of 3713239040 (15%); its critical path 2 * (1 + 161) = 324
    of 3 + 324 + 1 = 328 dependent GEMM steps. (The document counts 161 sequential steps:
    one layer; two bidirectional layers run one after another, so the chain is 2 * 161.)
    """
    record = cm.CRNN()
    names = [p.name for p in record.parts]
    assert names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
                     "pool3", "reduce", "gru", "pool", "fc"]
    parts = {p.name: p.evaluate(n=1292) for p in record.parts}
    total = record.evaluate(n=1292)
    for q in ("params", "flops", "flops_backward", "activation_bytes", "depth_forward"):
        assert sum(p[q] for p in parts.values()) == total[q]
    assert parts["gru"]["matmul_flops"] == 569769984
    assert parts["gru"]["depth_forward"] == 324 and total["depth_forward"] == 328
    conv = sum(parts[f"conv{i}"]["matmul_flops"] for i in (1, 2, 3))
    assert conv == 3143467008 > 5 * parts["gru"]["matmul_flops"]


def test_flatten_feeds_channels_times_height():
    """flatten: the GRU reads 128 channels * 16 bins = 2048 features per frame.

    (128 -> 64 -> 32 -> 16 bins.) Layer 0 per direction: 3*256*(2048+256) + 1536 params.
    """
    mean = cm.CRNN().evaluate(n=1292)["params"]
    flat = cm.CRNN(freq_reduction="flatten").evaluate(n=1292)["params"]
    assert flat - mean == 2 * 3 * 256 * (2048 - 128)


def test_symbolic_frames_and_sizes():
    """n and sizes as symbols: evaluate == a concrete build == vectorize, monotone in n."""
    symbolic = cm.CRNN(n_mels="m", hidden_size="h")
    assert symbolic.evaluate(n=200, batch=2, m=32, h=8) == \
        cm.CRNN(n_mels=32, hidden_size=8).evaluate(n=200, batch=2)
    record = cm.CRNN(n_mels=32, channels=(4, 8), hidden_size=8)
    grid = record.vectorize()(n=np.arange(8, 120), batch=2)
    for q in cm.FIELDS:
        assert np.all(np.diff(grid[q]) >= 0), q
        assert grid[q][-1] == pytest.approx(record.evaluate(n=119, batch=2)[q])


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_mels=4), "n_mels"),
    (dict(n_mels=0), "n_mels"),
    (dict(channels=()), "channels"),
    (dict(channels=(32, 0)), "channels"),
    (dict(hidden_size=0), "hidden_size"),
    (dict(num_layers=0), "num_layers"),
    (dict(out_features=-2), "out_features"),
    (dict(freq_reduction="max"), "freq_reduction"),
    (dict(pooling="last"), "pooling"),
    (dict(kernel_size=0), "kernel_size"),
])
def test_bad_input_names_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        cm.CRNN(**kwargs)
