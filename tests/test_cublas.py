"""The cuBLAS GEMM and pointwise time model (costmodel.implementations.cublas)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.roofline import kernel_time

# a parameter set with round numbers, so the arithmetic below can be followed by hand
P = {"gemm_efficiency": 0.5, "gemm_memory_efficiency": 1.0, "wave_overhead_s": 0.0,
     "skinny_efficiency": 0.25,
     "tile_factor": [1.0, 0.5, 0.25], "floor_s": 5e-6,
     "pointwise_efficiency": {"binary": 0.5, "activation": 0.5, "layernorm": 0.5,
                              "softmax": 0.5, "scalar": 0.5}}


def test_gemm_golden_a100():
    hw = load_hardware("a100")  # 19.5 TFLOP/s fp32, 108 SMs, no sustained-clock figure
    # 4096 x 4096 x 4096 fp32: 32 x 32 = 1024 tiles of 128 x 128, 108 SMs -> ceil(1024/108)
    # = 10 waves of depth 4096 unsplit; a plain GEMM may split its reduction in two
    # (PLAIN_SPLITS): 2048 half-depth units -> ceil(2048/108) = 19 waves of depth 2048, 38,912
    # tile-depths instead of 40,960: taken. Each tile-depth 2*128*128 FLOPs on one SM at
    # 19.5e12 / 108 * 0.5 = 90.28e9 FLOP/s -> 19 * 67.1e6 / 90.28e9 = 14.12 ms.
    # The 128x64 tile: 2 per SM, the same waves at half the rate per tile: no faster; memory
    # 4 * 3 * 4096^2 / 1.555e12 = 0.13 ms. Plus the 5 us floor.
    expected = 5e-6 + 19 * 2 * 128 * 128 * 2048 / (19.5e12 / 108 * 0.5)
    assert cublas.gemm_time_s(4096, 4096, 4096, 1, hw, "fp32", P) == pytest.approx(expected)


def test_plain_gemm_splits_the_reduction_in_two_where_that_saves_a_wave():
    hw = load_hardware("a100")
    rate = 19.5e12 / 108 * 0.5  # FLOP/s per SM, as above
    # 1024 x 2048 x 4096: 8 x 16 = 128 tiles on 108 SMs. Unsplit: ceil(128/108) = 2 waves of
    # depth 4096; split in two (PLAIN_SPLITS): 256 half-depth units, ceil(256/108) = 3 waves
    # of depth 2048 -> 6144 instead of 8192 tile-depths (KernelBench's A100s time this GEMM
    # in 1.19 ms, 2048^3, the same FLOPs, in 1.26 ms: no 4/3 step between them).
    split = 3 * 2 * 128 * 128 * 2048 / rate
    plain = cublas.gemm_time_s(1024, 2048, 4096, 1, hw, "fp32", P, 1)
    assert plain == pytest.approx(5e-6 + split)
    # 2048^3: 256 tiles, 3 waves of 2048 unsplit, 5 of 1024 split (5120 tile-depths): split
    square = cublas.gemm_time_s(2048, 2048, 2048, 1, hw, "fp32", P)
    assert square == pytest.approx(5e-6 + 5 * 2 * 128 * 128 * 1024 / rate)
    # the same 128 tiles as a strided-batched call (a bmm of 2 x 512 x 4096 @ 4096 x 2048):
    # no such split, 2 waves of the full depth
    batched = cublas.gemm_time_s(512, 2048, 4096, 2, hw, "fp32", P)
    assert batched == pytest.approx(5e-6 + 2 * 2 * 128 * 128 * 4096 / rate)
    # a reduction too short to split (k < 2 * SPLIT_K_MIN_DEPTH) keeps its 2 waves
    shallow = cublas.gemm_time_s(1024, 2048, 384, 1, hw, "fp32", P, 1)
    assert shallow == pytest.approx(5e-6 + 2 * 2 * 128 * 128 * 384 / rate)


def test_sustained_clock_scales_the_peak():
    t4 = load_hardware("t4")
    assert t4.sustained_clock_hz and t4.sustained_clock_hz < t4.boost_clock_hz
    # T4: 8.1 TFLOP/s at 1590 MHz; 950 MHz sustained -> 8.1e12 * 950 / 1590 over 40 SMs
    assert cublas.peak_per_sm(t4, "fp32") == pytest.approx(8.1e12 * 950 / 1590 / 40)
    boosted = dataclasses.replace(t4, sustained_clock_hz=None)
    slow = cublas.gemm_time_s(4096, 4096, 4096, 1, t4, "fp32", P)
    fast = cublas.gemm_time_s(4096, 4096, 4096, 1, boosted, "fp32", P)
    assert (slow - 5e-6) / (fast - 5e-6) == pytest.approx(1590 / 950)


def test_16bit_uses_the_tensor_peak_and_fp32_not_tf32():
    hw = load_hardware("a100")
    assert cublas.peak_per_sm(hw, "fp16") == pytest.approx(312e12 / 108)
    assert cublas.peak_per_sm(hw, "fp32") == pytest.approx(19.5e12 / 108)  # torch default
    assert cublas.peak_per_sm(hw, "fp32", allow_tf32=True) == pytest.approx(156e12 / 108)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 8192), n=st.integers(1, 8192), k=st.integers(1, 8192),
       extra=st.integers(1, 4096))
def test_gemm_time_never_falls_when_the_output_grows(m, n, k, extra):
    # (not in k: a deeper reduction may be split across more blocks, split-K, and run faster)
    hw = load_hardware("h100")
    base = cublas.gemm_time_s(m, n, k, 1, hw, "fp32", P)
    for grown in ((m + extra, n, k), (m, n + extra, k)):
        assert cublas.gemm_time_s(*grown, 1, hw, "fp32", P) >= base * (1 - 1e-12)


def test_pointwise_golden_and_unknown_class():
    hw = load_hardware("a100")  # 1.555e12 B/s
    # add of two 1e6-element fp32 tensors: 3 * 4 * 1e6 bytes at 0.5 * 1.555e12 + 5 us
    nbytes = cublas.pointwise_bytes(1e6, "binary", "fp32")
    assert nbytes == 12e6
    assert cublas.pointwise_time_s(nbytes, "binary", hw, P) == pytest.approx(
        5e-6 + 12e6 / (0.5 * 1.555e12))
    with pytest.raises(ValueError, match="op_class='conv'"):
        cublas.pointwise_time_s(1.0, "conv", hw, P)


def test_for_hardware_is_per_architecture_with_cross_fallback():
    params = {"cross": {**P, "gemm_efficiency": 0.7},
              "architecture": {"ampere": {"gemm_efficiency": 0.9}}}
    a100, h100 = load_hardware("a100"), load_hardware("h100")
    assert Efficiency.for_hardware(a100, params).cublas["gemm_efficiency"] == 0.9
    assert Efficiency.for_hardware(h100, params).cublas["gemm_efficiency"] == 0.7
    assert Efficiency.for_hardware(a100).cublas is not None  # the shipped fit
    assert Efficiency.ideal().cublas is None


def test_roofline_gemm_kernel_is_the_cublas_time():
    hw = load_hardware("a100")
    eff = Efficiency.for_hardware(hw, {"cross": P})
    k = {"name": "proj", "kind": "gemm", "phase": "forward", "count": 1, "concurrent": 1,
         "shape": (512, 768, 768), "resident_bytes": 0, "flops": 2.0 * 512 * 768 * 768,
         "bytes": 4.0 * (512 * 768 * 2 + 768 * 768)}
    row = kernel_time(k, hw, eff, "fp32", False, True)
    assert row["lower_s"] == pytest.approx(cublas.gemm_time_s(512, 768, 768, 1, hw, "fp32", P))
    ideal = kernel_time(k, hw, Efficiency.ideal(), "fp32", False, True)
    assert ideal["lower_s"] < row["lower_s"]  # the datasheet roofline is always faster


def test_shipped_fit_has_rows_for_every_value():
    shipped = cublas.shipped()
    for table in (shipped["cross"], *shipped["architecture"].values()):
        assert table["rows"] and all(" rows" in r for r in table["rows"])
        assert 0 < table["gemm_efficiency"] <= 1
    assert np.isfinite(shipped["cross"]["floor_s"])


def test_roofline_reads_a_batched_gemm_shape():
    hw = load_hardware("a100")
    eff = Efficiency.for_hardware(hw, {"cross": P})
    # scores of 12 heads: [12] (512 x 64) @ (64 x 512), one launch
    k = {"name": "scores", "kind": "gemm", "phase": "forward", "count": 1, "concurrent": 1,
         "shape": (512, 512, 64, 12), "resident_bytes": 0, "flops": 2.0 * 12 * 512 * 512 * 64,
         "bytes": 4.0 * 12 * (512 * 64 * 2 + 512 * 512)}
    row = kernel_time(k, hw, eff, "fp32", False, True)
    assert row["lower_s"] == pytest.approx(cublas.gemm_time_s(512, 512, 64, 12, hw, "fp32", P))


def test_few_rows_stream_the_weights_instead_of_a_full_tile():
    """A decode step's Linear (1 row): the small-M kernel on the rows that exist, padded to 8,
    and the weight stream binds. A100 SXM4 40GB, fp32, (1 x 4096) @ (4096 x 4096): the weights
    alone are 4096 * 4096 * 4 B = 67.1 MB, 43 us at 1,555 GB/s, while one 128-row tile wave
    would compute 2 * 128 * 4096 * 4096 FLOPs at the fp32 peak."""
    hw = load_hardware("a100")
    p = cublas.params_for(cublas.shipped(), hw)
    compute_s, memory_s = cublas.gemm_terms(1, 4096, 4096, 1, hw, "fp32", p, weight_batch=1)
    assert float(memory_s) >= 4096 * 4096 * 4 / hw.hbm_bytes_per_s
    assert float(compute_s) < float(memory_s)  # the weight stream binds
    times = [float(cublas.gemm_time_s(m, 4096, 4096, 1, hw, "fp32", p, weight_batch=1))
             for m in (1, 8)]
    assert np.isclose(times[0], times[1], rtol=1e-2)  # 1 and 8 rows: the same padded 8 rows


def test_small_m_kernel_golden():
    """P: skinny_efficiency 0.25 of the 0.5 tile efficiency. A100 (19.5 TFLOP/s fp32, 108
    SMs), 4 x 512 x 512 fp32: 8 padded rows -> 2 * 8 * 512 * 512 = 4.19 MFLOP at 19.5e12 * 0.5
    * 0.25 = 2.44 TFLOP/s = 1.72 us; one 128 x 128 tile wave instead: 4 tiles, split-K 2 (512 /
    256), 2 * 128 * 128 * 256 FLOPs per SM at 19.5e12 / 108 * 0.5 = 90.3 GFLOP/s = 92.9 us."""
    hw = load_hardware("a100")
    compute_s, _ = cublas.gemm_terms(4, 512, 512, 1, hw, "fp32", P)
    assert float(compute_s) == pytest.approx(2 * 8 * 512 * 512 / (19.5e12 * 0.5 * 0.25))


def _gemm_gpus():
    from costmodel.hardware import list_hardware

    return sorted(hw.short_names[0] for hw in list_hardware() if hw.sm_count)


@settings(max_examples=80, deadline=None)
@given(gpu=st.sampled_from(_gemm_gpus()), dtype=st.sampled_from(["fp32", "fp16"]),
       m=st.integers(1, 1024), extra=st.integers(1, 256), n=st.integers(1, 16384),
       k=st.integers(1, 16384), linear=st.booleans())
def test_time_never_falls_as_rows_grow_on_every_gpu(gpu, dtype, m, extra, n, k, linear):
    """The shipped fit, every catalogue GPU with SMs: one more row (token) never makes a GEMM
    faster, across the small-M kernel, the tiles and the weight stream."""
    hw = load_hardware(gpu)
    if dtype not in hw.peaks:
        return
    p = cublas.params_for(cublas.shipped(), hw)
    weights = 1 if linear else None

    def time_s(rows):
        return float(cublas.gemm_time_s(rows, n, k, 1, hw, dtype, p, weights))

    assert time_s(m + extra) >= time_s(m) * (1 - 1e-12)


@pytest.mark.parametrize("gpu", _gemm_gpus())
def test_no_step_where_the_old_small_m_regime_ended(gpu):
    """The small-M kernel is offered at every m, so 64 rows cost what 63 do (both pad to 64)
    where the old m < 64 switch doubled a 768-wide Linear on the A100."""
    hw = load_hardware(gpu)
    p = cublas.params_for(cublas.shipped(), hw)
    for width in (768, 4096):
        t63, t64 = (float(cublas.gemm_time_s(m, width, width, 1, hw, "fp32", p, 1))
                    for m in (63, 64))
        assert t63 <= t64 <= t63 * (1 + 1 / 63)


def test_held_out_architecture_borrows_the_gemm_values_of_its_kernel_sibling():
    # the T4 (turing) runs volta_sgemm kernels: with no turing set it takes volta's GEMM
    # values, not the cross pool's; the floor and pointwise fractions stay the cross set's
    params = {"cross": {**P, "gemm_efficiency": 0.7, "tile_factor": [1.0, 0.4, 0.5]},
              "architecture": {"volta": {"gemm_efficiency": 0.9, "tile_factor": [1.0, 0.4, 0.95],
                                         "floor_s": 1.0, "rows": ["v100"]}}}
    t4, h100, v100 = load_hardware("t4"), load_hardware("h100"), load_hardware("v100")
    got = cublas.params_for(params, t4)
    assert got["gemm_efficiency"] == 0.9 and got["tile_factor"] == [1.0, 0.4, 0.95]
    assert got["floor_s"] == P["floor_s"] and "rows" not in got
    assert cublas.params_for(params, v100)["floor_s"] == 1.0  # its own set: every value
    # the H100's sm80_xmma kernels are no other architecture's: the cross set
    assert cublas.kernel_sibling(params["architecture"], "hopper") is None
    assert cublas.params_for(params, h100)["gemm_efficiency"] == 0.7
    # an architecture with GEMM values of its own keeps them
    own = {**params["architecture"], "turing": {"gemm_efficiency": 0.5}}
    assert cublas.params_for({**params, "architecture": own}, t4)["gemm_efficiency"] == 0.5


def test_kernel_generations_are_the_ones_neusight_recorded():
    # SGEMM_KERNELS is read off NeuSight's kernel column: every bmm row of a GPU whose
    # architecture has a generation ran a kernel of that generation (T4: volta_sgemm_*,
    # A100s and L4: ampere_sgemm_*), and the H100, in no group, ran none of them
    from costmodel.reference import neusight

    rows = neusight.rows()
    bmm = rows[rows.family == "bmm"]
    for gpu, kernels in bmm.groupby("gpu").kernel:
        family = cublas.SGEMM_KERNELS.get(load_hardware(gpu).architecture)
        if family:
            assert kernels.str.startswith(family).all(), gpu
        else:
            assert not kernels.str.contains("|".join(set(cublas.SGEMM_KERNELS.values()))).any()
    t4 = rows[rows.gpu == "t4"].dropna(subset=["kernel"])
    assert len(t4) and t4.kernel.str.startswith("volta_sgemm").all()  # bmm and linear
