"""Roofline time: the ideal bound, latency floors, occupancy, L2 residency, math modes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel as cm
from costmodel import symbols as S
from costmodel.hardware import load_hardware, matmul_peak
from costmodel.implementations import cudnn_rnn as impl
from costmodel.models.primitives import linear_part
from costmodel.roofline import Efficiency, kernel_time, predict

A100 = load_hardware("a100")


def test_ideal_roofline_of_one_gemm_is_max_of_compute_and_memory():
    lin = linear_part("lin", S.batch * S.n, 4096, 4096, bias=False)
    t = predict(lin, A100, eff=Efficiency.ideal(), n=4096, batch=1)
    flops = 2 * 4096 ** 3  # [4096, 4096] @ [4096, 4096]
    nbytes = 3 * 4096 * 4096 * 4  # read x and W, write y, fp32
    expected = max(flops / A100.peak_flops_per_s("fp32"), nbytes / A100.hbm_bytes_per_s)
    assert math.isclose(float(t.forward_s), expected, rel_tol=1e-12)
    assert t.binding == "compute"


def test_fp32_matmul_uses_tf32_only_when_allowed():
    lin = linear_part("lin", S.batch * S.n, 4096, 4096, bias=False)
    slow = predict(lin, A100, eff=Efficiency.ideal(), n=4096, batch=1)
    fast = predict(lin, A100, eff=Efficiency.ideal(), n=4096, batch=1, allow_tf32=True)
    ratio = float(slow.forward_s / fast.forward_s)
    assert math.isclose(ratio, matmul_peak(A100, "fp32", True) / matmul_peak(A100, "fp32"))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([cm.RNN, cm.LSTM, cm.GRU]), st.integers(1, 4), st.integers(1, 3),
       st.integers(1, 2048))
def test_recurrence_pays_a_latency_floor_per_step(family, layers, batch, n):
    record = family(64, 64, num_layers=layers)
    eff = Efficiency.priors()
    # ALGO_STANDARD: every dependent step launches at least one kernel that costs its latency.
    # PyTorch's default here, PERSIST_STATIC_SMALL_H (H = 64), launches one persistent kernel
    # per call: its steps can cost less (PR #62143 measured an RNN at H = 32, batch 20, 3
    # layers: 1.4 ms / 1314 steps = 1.1 us per step), so the floor is checked on STANDARD
    standard = {**impl.params_for(impl.fitted_table(), A100.architecture), "algo": "standard"}
    t = predict(record, A100, n=n, batch=batch, rnn_params=standard)
    depth = record.evaluate(n=n, batch=batch)["depth_forward"]
    assert float(t.forward_s) >= depth * eff.kernel_latency_s


def test_skinny_step_gemm_cannot_fill_the_gpu():
    k = {"name": "step", "kind": "rnn_gemm", "phase": "forward", "count": 1, "concurrent": 1,
         "flops": 2 * 1 * 768 * 3072, "bytes": 3072 * 768 * 4.0, "resident_bytes": 0,
         "shape": (1, 3072, 768)}
    priors = dataclasses.replace(Efficiency.priors(), split_k_min_depth=0)
    no_waves = dataclasses.replace(priors, tile_m=0)
    skinny = kernel_time(k, A100, priors, "fp32", False, True)
    full = kernel_time(k, A100, no_waves, "fp32", False, True)
    # 1 x 3072 output = 24 tiles of 128 x 128 on 108 SMs: 24/108 of the compute rate
    assert math.isclose(float(skinny["compute_s"] / full["compute_s"]), 108 / 24)
    # split-K: k = 768 allows 768 // 128 = 6 splits, ceil(108 / 24) = 5 are enough to fill
    # one wave: 24 * 5 = 120 units on 108 SMs = 2 waves, 120 / 216 of the rate
    split = kernel_time(k, A100, dataclasses.replace(priors, split_k_min_depth=128), "fp32",
                        False, True)
    assert math.isclose(float(split["compute_s"] / full["compute_s"]), 216 / 120)


def test_recurrent_weights_in_l2_are_read_faster_than_from_hbm():
    small = cm.LSTM(512, 512)  # W_hh: 4*512*512*4 B = 4 MiB, fits in 40 MiB of L2
    priors = Efficiency.priors()
    no_cache = dataclasses.replace(priors, l2_bandwidth_ratio=1.0)
    def step_memory_s(eff):
        rows = predict(small, A100, n=64, batch=1, eff=eff).kernels
        return float(next(r["memory_s"] for r in rows if r["name"] == "step_gemm"))

    # the W_hh share of the bytes (4 MiB of 4 MiB + 10 KiB) comes at 3x the bandwidth
    assert step_memory_s(priors) < 0.5 * step_memory_s(no_cache)


def test_vectorized_predict_equals_scalar_predict():
    record = cm.GRU("d", "d")
    grid = predict(record, A100, n=np.array([16, 256, 4096]), d=np.array([[64], [1024]]),
                   batch=8)
    assert grid.forward_s.shape == (2, 3)
    one = predict(record, A100, n=256, d=1024, batch=8)
    assert math.isclose(float(grid.forward_s[1, 1]), float(one.forward_s), rel_tol=1e-12)
    assert grid.binding.shape == (2, 3)


def test_training_is_forward_plus_backward_plus_update():
    t = predict(cm.LSTM(256, 256), A100, n=128, batch=4)
    assert math.isclose(float(t.training_s),
                        float(t.forward_s + t.backward_s + t.optimizer_s), rel_tol=1e-12)
    assert float(t.training_upper_s) >= float(t.training_s)
    assert float(t.forward_upper_s) >= float(t.forward_s)


def test_unknown_dtype_peak_is_a_clear_error():
    with pytest.raises(ValueError, match="dtype"):
        predict(cm.LSTM(8, 8), A100, n=4, batch=1, dtype="fp12")
