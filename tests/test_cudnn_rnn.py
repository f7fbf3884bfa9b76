"""cuDNN's RNN implementation model: regimes, math rates, the per-call and per-step terms,
concurrency, and that the CPU profile's predictions did not move."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import costmodel as cm
from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.implementations import rnn_implementation
from costmodel.roofline import predict

REPO = Path(__file__).resolve().parents[1]
FREE = 1e12  # an efficiency so high that the GEMM takes ~no time: only call and step terms


CYCLES = 20_000  # a per-step floor in clock cycles (the fitted Pascal forward floor is ~26k)


def params(call_s=0.0, step_cycles=0.0, compute=FREE, memory=FREE, element=0.0, algo=None):
    p = {phase: impl.PhaseParams(call_s, step_cycles, compute, element, memory)
         for phase in impl.PHASES}
    return {**p, "algo": algo} if algo else p


# ---- the record DeepBench times: CUDNN_SKIP_INPUT -----------------------------------------

def test_skip_input_drops_the_input_projection():
    skip, linear = cm.LSTM(512, 512, input_mode="skip"), cm.LSTM(512, 512)
    names = {k.name for k in skip.kernels}
    assert "layer0.input_projection" not in names
    assert "layer0.input_projection" in {k.name for k in linear.kernels}
    # skip drops W_ih (4*512*512) and b_ih (4*512)
    assert linear.evaluate(batch=1, n=1)["params"] - skip.evaluate(batch=1, n=1)["params"] == (
        4 * 512 * 512 + 4 * 512)
    # DeepBench's FLOP count: 2 * g * H^2 * N * T with g = 4 for an LSTM
    flops = skip.evaluate(batch=16, n=25)["matmul_flops"]
    assert flops == 2 * 4 * 512 ** 2 * 16 * 25
    grads = next(k for k in skip.kernels if k.name == "layer0.weight_gradients")
    assert grads.shape[:2] == (4 * 512, 512)  # dW_hh only: [GH, P]


def test_skip_input_needs_equal_widths():
    with pytest.raises(ValueError, match="input_size=256 equal to hidden_size=512"):
        cm.GRU(256, 512, input_mode="skip")
    with pytest.raises(ValueError, match="input_mode='x' is not one of"):
        cm.LSTM(8, 8, input_mode="x")


# ---- regimes: PyTorch's get_algo -----------------------------------------------------------

@pytest.mark.parametrize("cell, hidden, dtype, gpu, batch, n, forward, expected", [
    ("lstm", 192, "fp32", "a100", 32, 100, True, "persist_static_small_h"),  # <= 192
    ("lstm", 256, "fp32", "a100", 32, 100, True, "standard"),
    ("lstm", 160, "fp32", "a100", 32, 100, False, "standard"),  # backward: <= 128
    ("rnn", 384, "fp32", "a100", 32, 100, True, "persist_static_small_h"),
    ("lstm", 128, "fp32", "m40", 32, 100, True, "standard"),  # sm 5.x: no small-H kernel
    ("lstm", 512, "fp16", "a100", 64, 100, True, "persist_static"),
    ("gru", 512, "fp16", "a100", 64, 100, True, "standard"),  # GRU excluded on sm >= 8
    ("lstm", 512, "fp16", "a100", 132, 100, True, "standard"),  # batch > 128
    ("lstm", 512, "fp16", "a10", 64, 100, True, "standard"),  # sm_86, 72 SMs
    ("lstm", 512, "fp16", "v100", 64, 100, True, "persist_static"),
    ("lstm", 512, "fp16", "v100", 80, 100, True, "standard"),  # batch 80 weeded out
    ("lstm", 512, "fp16", "v100", 64, 5, True, "standard"),  # too few steps
    ("lstm", 512, "fp16", "t4", 64, 100, True, "standard"),  # Turing excluded
    ("lstm", 1152, "fp16", "a100", 64, 100, True, "standard"),  # hidden > 1024
    ("lstm", 512, "fp32", "a100", 64, 100, True, "standard"),  # persist static: fp16 only
    ("rnn", 1024, "fp16", "a100", 96, 100, True, "standard"),  # RNN: batch >= 96, H >= 896
])
def test_select_algo_follows_pytorch(cell, hidden, dtype, gpu, batch, n, forward, expected):
    algo = impl.select_algo(cell, hidden, hidden, 1, 1, batch, n, dtype, load_hardware(gpu),
                            forward=forward)
    assert str(algo) == expected


def test_projection_or_two_layers_keep_standard():
    hw = load_hardware("a100")
    assert str(impl.select_algo("lstm", 512, 512, 1, 1, 64, 100, "fp16", hw,
                                projected=True)) == "standard"
    assert str(impl.select_algo("lstm", 512, 512, 2, 1, 64, 100, "fp16", hw)) == "standard"


# ---- math rates ------------------------------------------------------------------------------

def test_fp16_runs_fp32_math_before_volta_and_tensor_cores_after():
    p100, a100 = load_hardware("p100"), load_hardware("a100")
    assert impl.math_peak(p100, "fp16") == p100.peaks["fp32"]  # promote_rnn_math_type
    assert impl.math_peak(a100, "fp16") == a100.peaks["fp16"]
    assert impl.math_peak(a100, "fp32") == a100.peaks["tf32"]  # cudnn.allow_tf32 default
    assert impl.math_peak(a100, "fp32", cudnn_allow_tf32=False) == a100.peaks["fp32"]


# ---- the terms -------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 7, 100])
def test_call_and_step_terms_add_up(n):
    hw, record = load_hardware("titan-xp"), cm.GRU(512, 512, input_mode="skip")
    t = predict(record, hw, rnn_params=params(call_s=1e-4, step_cycles=CYCLES), batch=4, n=n)
    step_s = CYCLES / hw.boost_clock_hz  # 20,000 / 1.582 GHz = 12.6 us
    assert math.isclose(float(t.forward_s), 1e-4 + n * step_s, rel_tol=1e-6)
    # backward: backward_data (call + n steps) and backward_weights (call)
    assert math.isclose(float(t.backward_s), 2e-4 + n * step_s, rel_tol=1e-6)


def test_step_floor_is_counted_in_clock_cycles():
    """The same cycles take longer on a slower clock: P100 PCIe (1.30 GHz) against a GTX
    1080 Ti (1.582 GHz), both from their catalogue files."""
    record, floor = cm.LSTM(512, 512, input_mode="skip"), params(step_cycles=CYCLES)
    p100, gp102 = load_hardware("p100"), load_hardware("1080ti")
    slow = predict(record, p100, rnn_params=floor, batch=4, n=10)
    fast = predict(record, gp102, rnn_params=floor, batch=4, n=10)
    assert math.isclose(float(slow.forward_s), 10 * CYCLES / p100.boost_clock_hz, rel_tol=1e-9)
    assert math.isclose(float(slow.forward_s) / float(fast.forward_s),
                        gp102.boost_clock_hz / p100.boost_clock_hz, rel_tol=1e-9)


def test_a_floor_needs_a_clock():
    hw = load_hardware("p100")
    clockless = dataclasses.replace(hw, boost_clock_hz=None)
    with pytest.raises(ValueError, match="no boost_clock_hz"):
        predict(cm.LSTM(64, 64), clockless, rnn_params=params(step_cycles=CYCLES), batch=1, n=2)


def test_one_call_cost_per_layer_pass():
    hw = load_hardware("titan-xp")
    one = predict(cm.LSTM(256, 256), hw, rnn_params=params(call_s=1e-4), batch=4, n=10)
    three = predict(cm.LSTM(256, 256, num_layers=3, schedule="layer"), hw,
                    rnn_params=params(call_s=1e-4), batch=4, n=10)
    calls = [r for r in three.kernels if r["name"] == "cudnn_call.forward"]
    assert len(calls) == 3 and all(float(r["lower_s"]) == 1e-4 for r in calls)
    # the same layer three times (input 256 = hidden): three times one layer's forward
    assert math.isclose(float(three.forward_s), 3 * float(one.forward_s), rel_tol=1e-6)


def test_stacked_layers_overlap_in_a_wavefront():
    hw, floors = load_hardware("titan-xp"), params(call_s=1e-4, step_cycles=CYCLES)
    n, step_s = 20, CYCLES / load_hardware("titan-xp").boost_clock_hz
    wave = predict(cm.LSTM(256, 256, num_layers=2), hw, rnn_params=floors, batch=4, n=n)
    layer = predict(cm.LSTM(256, 256, num_layers=2, schedule="layer"), hw, rnn_params=floors,
                    batch=4, n=n)
    # wavefront: one pass of n + L - 1 = 21 diagonal steps; layer by layer: 2 x (call + n steps)
    # (+ the input projections: one bulk GEMM each, priced by the cuBLAS model, not by params)
    def projections_s(timing):
        rows = [r for r in timing.kernels if r["phase"] == "forward"
                and r["name"].endswith("input_projection")]
        assert rows and all(r["implementation"] == impl.FITTED for r in rows)
        return sum(float(r["count"] * r["lower_s"]) for r in rows)

    assert math.isclose(float(wave.forward_s) - projections_s(wave), 1e-4 + (n + 1) * step_s,
                        rel_tol=1e-6)
    assert math.isclose(float(layer.forward_s) - projections_s(layer), 2 * (1e-4 + n * step_s),
                        rel_tol=1e-6)


def test_directions_run_concurrently():
    hw = load_hardware("p100")
    floor = params(step_cycles=CYCLES)
    uni = predict(cm.LSTM(2048, 2048, input_mode="skip"), hw, rnn_params=floor, batch=8, n=10)
    bi = predict(cm.LSTM(2048, 2048, input_mode="skip", bidirectional=True), hw,
                 rnn_params=floor, batch=8, n=10)
    assert math.isclose(float(bi.forward_s), float(uni.forward_s), rel_tol=1e-9)  # floors
    work = params(compute=FREE, memory=1.0)  # memory only: W_hh (64 MiB) never fits in L2
    uni, bi = (predict(cm.LSTM(2048, 2048, input_mode="skip", bidirectional=b), hw,
                       rnn_params=work, batch=8, n=10) for b in (False, True))
    # twice the bytes, each stream at the priors' rate for its size
    one = _step_bytes(cm.LSTM(2048, 2048, input_mode="skip"), "fp32")
    curve = Efficiency.priors().memory
    assert math.isclose(float(bi.forward_s), 2 * float(uni.forward_s) * curve(one)
                        / curve(2 * one), rel_tol=1e-9)


def _step_bytes(record, dtype):
    """The bytes of one forward step GEMM of ``record`` at batch 8."""
    kernels = record.kernel_values(dtype=dtype, batch=8, n=10)
    return float(next(k for k in kernels if k["name"].endswith("step_gemm"))["bytes"])


def test_fp16_storage_halves_the_weight_traffic_on_pascal():
    hw, record = load_hardware("p100"), cm.LSTM(2048, 2048, input_mode="skip")
    memory = params(compute=FREE, memory=1.0)
    fp32 = predict(record, hw, rnn_params=memory, dtype="fp32", batch=8, n=10)
    fp16 = predict(record, hw, rnn_params=memory, dtype="fp16", batch=8, n=10)
    # half the bytes, each stream at the priors' rate for its size (a bit lower when smaller)
    curve, full = Efficiency.priors().memory, _step_bytes(record, "fp32")
    assert _step_bytes(record, "fp16") == full / 2
    assert math.isclose(float(fp16.forward_s), float(fp32.forward_s) / 2 * curve(full)
                        / curve(full / 2), rel_tol=1e-9)
    compute = params(compute=1.0, memory=FREE)
    fp32 = predict(record, hw, rnn_params=compute, dtype="fp32", batch=8, n=10)
    fp16 = predict(record, hw, rnn_params=compute, dtype="fp16", batch=8, n=10)
    assert math.isclose(float(fp16.forward_s), float(fp32.forward_s), rel_tol=1e-9)


def test_the_cores_and_the_weight_stream_overlap():
    """step GEMM = max(core, memory): each side alone, then both (the larger binds)."""
    hw, record = load_hardware("p100"), cm.LSTM(2048, 2048, input_mode="skip")
    alone = {side: float(predict(record, hw, rnn_params=p, batch=b, n=10).forward_s)
             for side, p in (("core", params(compute=1.0)), ("memory", params(memory=1.0)))
             for b in (8,)}
    both = float(predict(record, hw, rnn_params=params(compute=1.0, memory=1.0), batch=8,
                         n=10).forward_s)
    assert math.isclose(both, max(alone.values()), rel_tol=1e-9)
    assert alone["core"] != pytest.approx(alone["memory"])  # the max is not a tie


def test_element_term_counts_elements_at_the_math_rate():
    """flops_per_element: work per element moved, whatever the batch; pseudo-fp16 on Pascal
    moves as many elements as fp32 at the same (fp32) math rate, so it takes as long."""
    hw, record = load_hardware("p100"), cm.GRU(1024, 1024, input_mode="skip")
    per = params(element=100.0)

    def forward(dtype, batch):
        return float(predict(record, hw, rnn_params=per, dtype=dtype, batch=batch,
                             n=1).forward_s)

    # W_hh: 3 * 1024 * 1024 elements dominate; h_{t-1} and the gates add 1024 + 3 * 1024 per
    # batch row: 100 FLOPs each at 9.3 TFLOP/s
    weights_s = 100 * 3 * 1024 * 1024 / hw.peaks["fp32"]
    assert forward("fp32", 1) == pytest.approx(weights_s, rel=2e-3)
    assert forward("fp16", 1) == pytest.approx(forward("fp32", 1), rel=1e-9)
    assert forward("fp32", 32) < 1.05 * forward("fp32", 1)  # not the batch: the weights


def test_persistent_step_reads_no_weights():
    hw, record = load_hardware("a100"), cm.LSTM(512, 512)
    memory = params(compute=FREE, memory=1.0)
    persist = predict(record, hw, rnn_params=memory, dtype="fp16", batch=64, n=100)
    standard = predict(record, hw, rnn_params={**memory, "algo": "standard"}, dtype="fp16",
                       batch=64, n=100)
    assert float(persist.forward_s) < float(standard.forward_s)


# ---- where the model applies -----------------------------------------------------------------

def _calls(timing):
    return {r["name"] for r in timing.kernels if r.get("implementation") == impl.FITTED}


def test_applies_on_nvidia_without_profile_and_inside_sequential():
    a100 = load_hardware("a100")
    assert "cudnn_call.forward" in _calls(predict(cm.LSTM(64, 64), a100, batch=2, n=8))
    crnn = cm.CRNN(80, channels=(8,), hidden_size=64)
    assert {"cudnn_call.forward", "gru.step_gemm"} <= _calls(predict(crnn, a100, batch=2, n=64))
    # an explicit Efficiency keeps the plain roofline (the validation's baselines use it)
    assert not _calls(predict(cm.LSTM(64, 64), a100, eff=Efficiency.priors(), batch=2, n=8))
    assert not _calls(predict(cm.TransformerEncoderLayer(64, 4, 128), a100, batch=2, n=8))


def test_not_on_amd_and_states_the_regime():
    assert not _calls(predict(cm.LSTM(64, 64), load_hardware("mi300x"), batch=2, n=8))
    # no published cuDNN RNN timing on Ampere: the newest older generation's set, named
    used = impl.transfer_set(impl.fitted_table(), "ampere")
    assert used in ("maxwell", "pascal", "volta")
    assert f"{used}'s set extrapolated to ampere" in rnn_implementation(load_hardware("a100"))
    assert "fitted on this architecture" in rnn_implementation(load_hardware("1080ti"))
    assert "no cuDNN" in rnn_implementation(load_hardware("mi300x"))


# golden: computed on main before the time layer was added (same profile, same records)
CPU_GOLDEN = {  # family: (forward_s, backward_s, training_s) at batch 8, n 64
    "lstm": (0.004048671358987737, 0.008966405493131057, 0.014178859406011036),
    "gru": (0.02184427802645133, 0.04092567488854539, 0.06427680343594311),
    "rnn": (0.0016601220158559546, 0.005884146834328022, 0.007705876649879518),
    "transformer": (0.02062507166009921, 0.022427134971346255, 0.0447622645627252),
}


def test_cpu_profile_predictions_unchanged():
    hw = load_hardware(str(REPO / "validation" / "results" / "cpu-amd-epyc-1t.toml"))
    records = {"lstm": cm.LSTM(256, 256), "gru": cm.GRU(128, 256, num_layers=2),
               "rnn": cm.RNN(64, 128, bidirectional=True),
               "transformer": cm.TransformerEncoderLayer(256, 4, 1024)}
    for name, record in records.items():
        t = predict(record, hw, batch=8, n=64)
        got = (float(t.forward_s), float(t.backward_s), float(t.training_s))
        assert np.allclose(got, CPU_GOLDEN[name], rtol=1e-12, atol=0), name


# ---- tensor cores on skinny step GEMMs: DeepBench's T4 cuBLAS sheets (never fitted) ---------

def _t4_skinny_rows():
    """T4 fp32 and fp16 (tensor-core, fp32 accumulate) GEMMs shaped like a step GEMM:
    [M = K] weights times N = 16 or 32 columns (the batch), no transposes."""
    import json
    from importlib import resources

    text = resources.files("costmodel").joinpath(
        "data", "reference", "deepbench-gemm-train-T4.json").read_text(encoding="utf-8")
    rows = [r for r in json.loads(text)["rows"] if r["N"] in (16, 32) and r["M"] == r["K"]
            and r["M"] >= 1024 and r["transA"] == r["transB"] == "N"]
    by_dtype = {}
    for r in rows:
        by_dtype.setdefault((r["M"], r["N"]), {})[r["dtype"]] = r["time_ms"] * 1e-3
    return {shape: t for shape, t in by_dtype.items() if len(t) == 2}


def test_fp16_skinny_steps_gain_what_t4_measured_not_the_peak_ratio():
    hw, eff = load_hardware("t4"), Efficiency.priors()
    p = impl.params_for(impl.fitted_table(), hw.architecture)["forward"]
    measured = _t4_skinny_rows()
    assert len(measured) == 8  # M = K in (1760, 2048, 2560, 4096) x N in (16, 32)
    ratios = []
    for (mk, n), times in measured.items():
        model = {}
        for dtype, size in (("fp32", 4), ("fp16", 2)):
            # h: [N, K] @ W^T: [K, M]: the weights dominate the bytes
            kernel = {"flops": 2 * mk * n * mk, "bytes": (mk * mk + 2 * n * mk) * size,
                      "resident_bytes": mk * mk * size, "concurrent": 1, "shape": (n, mk, mk)}
            model[dtype] = max(impl.gemm_terms(kernel, hw, dtype, p, eff))  # core vs stream
        measured_ratio = times["fp32"] / times[next(k for k in times if k != "fp32")]
        ratios.append((model["fp32"] / model["fp16"], measured_ratio))
    model_r, meas_r = np.array(ratios).T
    peak_ratio = hw.peaks["fp16"] / hw.peaks["fp32"]  # 65 / 8.1 = 8.0
    assert meas_r.max() < peak_ratio / 2  # measured: 2.0-2.8x, nowhere near 8x
    assert np.all(model_r < peak_ratio / 2)
    assert np.median(np.abs(np.log(model_r / meas_r))) < np.log(1.5)


# ---- per-batch step kernels (cuDNN 5/6 as DeepBench ran them) ----------------------------

@pytest.mark.parametrize("batch, tile", [(1, 8), (8, 8), (9, 16), (16, 16), (17, 32), (32, 32),
                                         (64, 64), (65, 128), (128, 128), (500, 128)])
def test_batch_picks_its_column_tile(batch, tile):
    kernel = {"shape": (batch, 1024, 512)}  # forward: [batch, 512] @ [512, 1024]
    unit = impl.batch_parts(kernel, load_hardware("1080ti"), 0.0)
    assert impl.BATCH_TILES[int(unit["tile"])] == tile


def test_serial_chain_counts_cycles_per_unit_of_k_at_its_tile_only():
    """A serial chain of 100 cycles per unit of K fitted for tile 32 alone: an RNN of width
    512 (forward K = 512) takes 10 steps * 512 * 100 cycles / clock at batch 32, nothing at
    batch 16; backward_data reduces over G*H = 512 too (one gate)."""
    hw, cycles = load_hardware("titan-xp"), 100.0
    serial = tuple(cycles if t == 32 else 0.0 for t in impl.BATCH_TILES)
    p = {phase: dataclasses.replace(params()[phase], serial_cycles_per_k=serial)
         for phase in impl.PHASES}
    record = cm.RNN(512, 512, input_mode="skip")
    at32 = predict(record, hw, rnn_params={**p, "algo": "standard"}, batch=32, n=10)
    at16 = predict(record, hw, rnn_params={**p, "algo": "standard"}, batch=16, n=10)
    chain_s = 10 * 512 * cycles / hw.boost_clock_hz  # 512,000 cycles / 1.582 GHz = 324 us
    assert math.isclose(float(at32.forward_s), chain_s, rel_tol=1e-3)  # GEMM at FREE: ~0
    assert float(at16.forward_s) < 1e-3 * chain_s
    assert math.isclose(float(at32.backward_s), chain_s, rel_tol=1e-3)


def test_deepbench_backward_data_at_batch_32_is_a_chain_along_k():
    """What the serial term stands for, in the data: on every Pascal GPU (cuDNN 6) the
    backward_data step at batch 32 takes a near-constant number of clock cycles per unit of
    its reduction depth K = G*H, over cells and H = 256-4096 (K 1024-16384, FLOPs per step
    varying 256x): a chain of dependent K iterations, not FLOPs or bytes."""
    from costmodel.reference import deepbench_rnn as db

    rows = db.rows()
    gates = {"rnn": 1, "gru": 3, "lstm": 4}
    rows = rows[(rows["phase"] == "backward_data") & (rows["batch"] == 32)
                & (rows["steps"] > 1) & (rows["dtype"] == "fp32")]
    for gpu in ("1080ti", "p100", "titan-x-pascal", "titan-xp"):
        mine = rows[rows["gpu"] == gpu]
        k = mine["family"].map(gates) * mine["hidden"]
        cycles_per_k = mine["measured_s"] / mine["steps"] / k * load_hardware(gpu).boost_clock_hz
        assert len(mine) >= 15 and k.max() / k.min() >= 16
        assert cycles_per_k.max() / cycles_per_k.min() < 1.3, gpu  # measured: 150-200 cycles


def test_batch_16_is_slower_than_batch_32_where_deepbench_measured_it():
    """The shipped fit on the GP102 parts orders an LSTM H=2048 forward as DeepBench
    measured (batch 16 2.5x slower than batch 32 on the GTX 1080 Ti: 20.0 ms against 7.9 ms
    for 25 steps). Not on the P100 (measured 1.36x): its batch-16 weight pass runs at HBM2's
    1.5x bandwidth, the batch-32 chain at its 0.82x clock, so the model has them about even
    (docs/validation.md). A generation DeepBench did not measure (A100) runs a later cuDNN:
    it borrows the nearest generation's terms with its per-batch ones the same at every tile
    (what all tiles share), and batch 16 is no slower than batch 32."""
    record = cm.LSTM(2048, 2048, input_mode="skip")

    def forward_s(gpu, batch):
        return float(predict(record, load_hardware(gpu), batch=batch, n=25).forward_s)

    for gpu in ("1080ti", "titan-x-pascal", "titan-xp"):
        assert forward_s(gpu, 16) > 1.5 * forward_s(gpu, 32), gpu
    assert forward_s("a100", 16) <= forward_s("a100", 32)
    borrowed = impl.params_for(impl.fitted_table(), "ampere")
    assert all(len(set(p.serial_cycles_per_k)) == len(set(p.stream_passes)) == 1
               for p in borrowed.values())  # the same at every batch tile


def test_a_per_batch_term_needs_one_value_per_tile():
    values = {**{t: 1.0 for t in impl.TERMS}, "serial_cycles_per_k": [1.0, 2.0]}
    table = {"pascal": {phase: values for phase in impl.PHASES}}
    with pytest.raises(ValueError, match="'serial_cycles_per_k': 2 values, need one per batch"):
        impl.params_for(table, "pascal")


def test_the_input_projection_is_a_cublas_gemm_not_a_deepbench_fit():
    """DeepBench's RNN rows skip the input (CUDNN_SKIP_INPUT), so no fitted cuDNN term may
    price W_ih x: a decoding LSTM(1024)'s projection at one token streams its 4 x 1024 x 1024
    fp32 weights (16.8 MB) and costs what the cuBLAS model says, near the HBM time (5.0 us
    at 3.35 TB/s), not the 61 us a backward_weights memory efficiency of 0.10 gave."""
    from costmodel.implementations import cublas

    hw = load_hardware("h100")
    timing = predict(cm.LSTM(1024, 1024), hw, mode="inference", batch=1, n=1)
    row = next(r for r in timing.kernels if r["name"] == "layer0.input_projection")
    core, stream = cublas.gemm_terms(1, 4096, 1024, 1, hw, "fp32",
                                     Efficiency.for_hardware(hw).cublas)
    assert float(row["lower_s"]) == pytest.approx(float(max(core, stream)), rel=1e-12)
    weights_s = 4 * 1024 * 1024 * 4 / hw.hbm_bytes_per_s
    assert weights_s <= float(row["lower_s"]) < 3 * weights_s
