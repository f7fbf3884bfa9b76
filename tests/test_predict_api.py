"""The public time API (costmodel.predict, costmodel.load_hardware) and compare's stated
assumptions (issue 9: heads, ffn, dropout, optimizer, attention kernel, recurrence)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import costmodel as cm
from costmodel.roofline import predict as roofline
from clirun import run as _run


def test_predict_phases_and_kernels_add_up():
    layer = cm.TransformerEncoderLayer(768, 12, dropout=0.0)
    p = cm.predict(layer, "a100", n=512, batch=8, dtype="fp16", mode="training")
    assert set(p.phases) == {"forward", "backward", "optimizer", "total"}
    assert math.isclose(p.total_s, p.phases["forward"] + p.phases["backward"]
                        + p.phases["optimizer"])
    for phase in ("forward", "backward"):  # per-kernel rows sum to the phase (no call terms
        # on the priors)
        rows = sum(k.total_s for k in p.kernels if k.phase == phase)
        assert math.isclose(rows, p.phases[phase], rel_tol=1e-12)
    assert p.attention["kernel"] == "flash"
    assert {k.implementation for k in p.kernels if "attention" in k.name} == {"sdpa:flash"}
    assert all(k.binding in ("compute", "memory", "latency") for k in p.kernels)


def test_predict_is_the_roofline_compare_uses():
    layer = cm.TransformerEncoderLayer(256, 4, dropout=0.0)
    hw = cm.load_hardware("h100")
    p = cm.predict(layer, hw, n=128, batch=2, mode="inference")
    t = roofline(layer, hw, n=128, batch=2, mode="inference")
    assert p.phases == {"forward": float(t.forward_s), "total": float(t.forward_s)}
    assert math.isnan(float(t.training_s))  # no training step in inference mode
    assert all(k.phase == "forward" for k in p.kernels)


def test_inference_is_eval_mode_without_dropout():
    """Inference drops dropout (eval()); a train-mode forward keeps its dropout kernels."""
    layer = cm.TransformerEncoderLayer(256, 4, dropout=0.1, attention="math")
    infer = cm.predict(layer, "a100", n=64, mode="inference")
    train = cm.predict(layer, "a100", n=64, mode="training")
    assert not any(k.name.startswith("dropout") for k in infer.kernels)
    assert any(k.name.startswith("dropout") for k in train.kernels)
    assert infer.phases["forward"] < train.phases["forward"]


def test_recurrent_records_have_no_attention():
    p = cm.predict(cm.LSTM(64, 64), "t4", n=10)
    assert p.attention is None and {k.implementation for k in p.kernels} == {"lstm"}


def test_predict_refuses_grids_and_bad_modes():
    import numpy as np

    with pytest.raises(ValueError, match="one point"):
        cm.predict(cm.LSTM(8, 8), "a100", n=np.array([1, 2]))
    with pytest.raises(ValueError, match="mode"):
        cm.predict(cm.LSTM(8, 8), "a100", n=4, mode="eval")


def test_top_level_api_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import costmodel as cm; "
            "p = cm.predict(cm.GRU(32, 32), cm.load_hardware('a100'), n=8); "
            "print(p.phases['total'] > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


# ---- compare states its assumptions --------------------------------------------------------


def test_compare_json_states_every_assumption():
    code, out, _ = _run("compare", "--n", "512", "--d", "768", "--gpu", "a100",
                        "--format", "json")
    a = json.loads(out)["assumptions"]
    assert (a["heads"], a["head_width"], a["ffn"], a["dropout"], a["optimizer"]) == (
        12, 64, 3072, 0.0, "adam")
    # fp32 on an A100: flash is fp16/bf16 only, the memory-efficient kernel runs
    assert {m: a["attention"][m]["kernel"] for m in ("training", "inference")} == {
        "training": "memory-efficient", "inference": "memory-efficient"}
    assert "memory-efficient (SDPA auto on A100" in a["attention"]["training"]["label"]
    assert a["rnn_implementation"]


def test_compare_table_header_names_the_kernel_and_the_optimizer():
    code, out, _ = _run("compare", "--n", "512", "--d", "768", "--gpu", "h100", "--dtype",
                        "bf16")
    head = out.split("\n\n")[0]
    assert code == 0 and "cudnn in training" in head and "Adam update" in head
    assert "12 heads of width 64" in head and "ffn 3072" in head


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_d_the_head_width_does_not_divide_is_refused_with_the_fix(command):
    code, out, err = _run(command, "--n", "16", "--d", "1000")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "d=1000" in err and "--heads" in err and "--heads 20" in err
    code, out, _ = _run(command, "--n", "16", "--d", "1000", "--heads", "20")
    assert code == 0


def test_explicit_math_keeps_the_quadratic_inference_row():
    """--attention math is the textbook kernel: its inference peak holds the n^2 scores."""
    from costmodel.compare import compare

    rows = {k: {r["model"]: r for r in compare(4096, 768, "a100", attention=k).rows}
            for k in ("auto", "math")}
    scores = 2 * 12 * 4096 * 4096 * 4  # scores and probabilities, 12 heads, fp32
    gap = rows["math"]["transformer"]["inference_bytes"] - rows["auto"]["transformer"][
        "inference_bytes"]
    assert scores * 0.9 < gap < scores
    assert compare(16, 64, "a100", attention="math").assumptions["attention"]["training"][
        "path"] == "explicit"


def test_inference_memory_is_the_same_in_compare_and_sweep():
    from costmodel.compare import compare
    from costmodel.sweep import sweep

    rows = {r["model"]: r["inference_bytes"] for r in compare(300, 256, "a100").rows}
    columns = sweep([300], [256], [1], "a100")
    assert dict(zip(columns["model"].tolist(), columns["inference_bytes"].tolist())) == rows


def test_recurrent_inference_peak_golden():
    """GRU(768, 768), n=100, batch=2, fp32: weights 3,543,552 params x 4 B; h 2*768*4 B;
    working set: input 200*768, gate pre-activations 200*2304, output 200*768 elements, x 4 B
    = 200*3840*4 = 3,072,000 B."""
    from costmodel.compare import inference_bytes

    got = inference_bytes(cm.GRU(768, 768), n=100, batch=2)
    assert got == 3_543_552 * 4 + 2 * 768 * 4 + 200 * (768 + 3 * 768 + 768) * 4


def test_markdown_states_each_assumption_once():
    code, out, _ = _run("compare", "--n", "64", "--d", "128", "--format", "markdown",
                        "--attention", "flash")
    bullets = [line for line in out.splitlines() if line.startswith("- ")]
    # heads/ffn/dropout, step, inference, attention, rnn, the per-op floor (default GPU),
    # the time error of the recurrences and of the Transformer, and (fp32 on the A100)
    # which matmuls run on TF32
    assert code == 0 and len(bullets) == 9
    assert len({b.split(":")[0] for b in bullets}) == 9  # each once
    assert sum(b.startswith("- time error, ") for b in bullets) == 2
    assert "- attention: flash in training, flash in inference (explicit)" in bullets


def test_prediction_names_flops_bytes_and_saved_memory_of_the_kernel_run():
    """fp16 on an A100 runs flash: the fused record's saved bytes, not the math record's."""
    layer = cm.TransformerEncoderLayer(256, 4, dropout=0.0)
    p = cm.predict(layer, "a100", n=512, batch=2, dtype="fp16")
    fused = cm.TransformerEncoderLayer(256, 4, dropout=0.0, attention="flash")
    at = dict(n=512, batch=2, dtype="fp16")
    assert p.saved_bytes == fused.evaluate(**at)["activation_bytes"]
    core = next(k for k in p.kernels if k.name == "self_attn.flash_attention")
    want = next(k for k in fused.kernel_values(**at) if k["name"] == core.name)
    assert (core.flops, core.bytes) == (float(want["flops"]), float(want["bytes"]))
    assert cm.predict(layer, "a100", n=512, batch=2, dtype="fp16",
                      mode="inference").saved_bytes == 0


@pytest.mark.parametrize("gpu", ["a100", "h100", "t4"])
def test_a_record_without_parameters_launches_no_optimizer_update(gpu):
    """Adam over zero parameters is no kernel: it must not cost the per-op floor (it cost
    ~12 us on an A100 before, which biased compositions of many small records)."""
    free = cm.predict(cm.Dropout(0.1), gpu, n=16, batch=2, features=64)
    assert free.phases["optimizer"] == 0.0
    assert free.total_s == pytest.approx(free.phases["forward"] + free.phases["backward"])
    lstm = cm.predict(cm.LSTM(64, 64), gpu, n=16, batch=2)
    assert lstm.phases["optimizer"] > 0.0  # a real update still launches


@pytest.mark.parametrize("gpu", ["a100", "h100"])
@pytest.mark.parametrize("batch", [1, 1000])
def test_no_kernel_of_any_family_beats_the_datasheet_peak(gpu, batch):
    """Every kernel's time is at least its FLOPs at the fastest fp32 math the device has
    (TF32, which cuDNN's RNN GEMMs use by default): a kernel priced faster was priced on the
    wrong shape (Linformer's sequence projections once lost their batch: 288x the peak)."""
    from costmodel.compare import MODELS, compare

    hw = cm.load_hardware(gpu)
    peak = max(hw.peaks["fp32"], hw.peaks.get("tf32", 0.0))
    for model in MODELS:
        result = compare(512, 768, gpu, batch=batch, models=(model,),
                         **({"heads": 1} if model == "linformer" else {}))
        for mode in ("inference", "training"):
            p = cm.predict(result.records[model], gpu, n=512, batch=batch, mode=mode)
            for k in p.kernels:  # 0 s: fused into another kernel (cuDNN's gate arithmetic)
                assert k.seconds == 0 or k.seconds >= k.flops / peak * (1 - 1e-9), (
                    model, mode, k.name)
            flops = sum(k.flops * k.count for k in p.kernels)
            assert p.total_s >= flops / peak * (1 - 1e-9), (model, mode)
        assert result.rows[0]["fraction_of_peak"] <= 1.0


def test_cudnn_tf32_default_is_nvidias_only():
    """cuDNN's TF32-on default (torch.backends.cudnn.allow_tf32) prices an fp32 recurrence's
    GEMMs on TF32 on an A100; on ROCm MIOpen's RNN/conv math is full fp32 unless opted in, so
    the same flag changes nothing on an MI300X (which has a TF32 peak)."""
    record = cm.LSTM(1024, 1024)
    for gpu, moves in (("a100", True), ("mi300x", False)):
        hw = cm.load_hardware(gpu)
        assert hw.peaks.get("tf32")
        on, off = (roofline(record, hw, n=512, batch=64, dtype="fp32", mode="inference",
                            cudnn_allow_tf32=flag).forward_s for flag in (True, False))
        assert (float(on) < float(off)) is moves, gpu
