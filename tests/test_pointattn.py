"""Pointwise efficiencies by memory family, the fused-attention time model and LLMCompass's
per-source timing terms."""

import numpy as np
import pytest

from costmodel.hardware import load_hardware
from costmodel.implementations import fused_attention, pointwise

PARAMS = {"cross": {"pointwise_efficiency": {"binary": 0.8, "softmax": 0.7}},
          "memory": {"GDDR": {"pointwise_efficiency": {"binary": 0.75}}},
          "architecture": {"ampere": {"memory_family": "HBM",
                                      "pointwise_efficiency": {"binary": 0.9}}}}


def test_memory_family_comes_from_the_catalogue():
    assert load_hardware("t4").memory_family == "GDDR"
    assert load_hardware("a100").memory_family == "HBM"


def test_unknown_memory_technology_is_refused(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\nmemory_technology = "HBM9"\nhbm_bytes_per_s = 1e12\n'
                    '[peak_flops_per_s]\nfp32 = 1e13\n')
    with pytest.raises(ValueError, match="memory_technology"):
        load_hardware(str(path))


def test_pointwise_efficiency_architecture_then_memory_family_then_pooled():
    a100, a10, t4 = (load_hardware(g) for g in ("a100", "a10", "t4"))
    # an A100 (ampere, HBM): its architecture's set; softmax only in the pooled set
    assert pointwise.efficiency_for(PARAMS, a100) == {"binary": 0.9, "softmax": 0.7}
    # an A10 is ampere but GDDR6: the ampere set was fitted on HBM parts, so GDDR's applies
    assert pointwise.efficiency_for(PARAMS, a10) == {"binary": 0.75, "softmax": 0.7}
    # a T4 (turing, no set of its own): GDDR's
    assert pointwise.efficiency_for(PARAMS, t4)["binary"] == 0.75


P = {"efficiency": 0.5, "score_flops": 0.0, "floor_s": 0.0}


def test_fused_attention_tile_quantisation_golden():
    hw = load_hardware("a100")  # 108 SMs
    # 1 x 16 heads x ceil(1024 / 128) = 128 blocks: 2 waves of 108 slots, 128 / 216 used
    assert fused_attention.quantisation(16, 1024, hw) == pytest.approx(128 / 216)
    # 2 products x 2 FLOPs x 1024^2 pairs x 64 x 16 = 4.29 GFLOP at 0.5 of the bf16 peak
    flops = 2 * 2 * 1024 ** 2 * 64 * 16
    expected = flops / (hw.peaks["bf16"] * 0.5) / (128 / 216)
    got = fused_attention.fused_attention_s(1024, 1024, 64, 16, hw, "bf16", P)
    assert got == pytest.approx(expected)


def test_fused_attention_backward_is_two_and_a_half_forward_when_compute_bound():
    hw = load_hardware("a100")
    fwd = fused_attention.fused_attention_s(4096, 4096, 128, 64, hw, "fp16", P)
    bwd = fused_attention.fused_attention_s(4096, 4096, 128, 64, hw, "fp16", P, "backward")
    assert bwd / fwd == pytest.approx(5 / 2)  # FLASH_BACKWARD_PRODUCTS / FORWARD_PRODUCTS


def test_fused_attention_causal_pairs_and_phase_check():
    hw = load_hardware("a100")
    full = fused_attention.fused_attention_s(2048, 2048, 64, 64, hw, "bf16", P)
    half = fused_attention.fused_attention_s(2048, 2048, 64, 64, hw, "bf16", P,
                                             pairs=2048 * 2049 / 2)
    assert half / full == pytest.approx(2049 / 4096)
    with pytest.raises(ValueError, match="phase"):
        fused_attention.fused_attention_s(1, 1, 64, 1, hw, "bf16", P, "sideways")


def test_fused_kernel_dispatch_by_dtype():
    a100, h100 = load_hardware("a100"), load_hardware("h100")
    assert fused_attention.kernel_for(a100, "bf16", 64) == "flash"
    assert fused_attention.kernel_for(a100, "fp32", 64) == "memory-efficient"
    params = fused_attention.shipped()
    assert fused_attention.params_of(params, "flash", "fp16") == params["kernel"]["flash"]["16-bit"]
    assert fused_attention.params_of({"pooled": P}, "cudnn", "bf16") == P
    assert h100.sm_count  # the roofline hook needs it


def test_roofline_prices_the_fused_record_with_the_fused_model():
    import costmodel as cm
    from costmodel.roofline import predict

    hw = load_hardware("a100")
    rec = cm.MultiheadAttention(1024, 16, attention="flash", need_weights=False)
    rows = predict(rec, hw, dtype="bf16", mode="inference", n=2048, batch=4).kernels
    fused = [r for r in rows if r["name"] == "flash_attention"][0]
    p = fused_attention.params_of(fused_attention.shipped(), "flash", "bf16")
    expected = fused_attention.fused_attention_s(2048, 2048, 64, 4 * 16, hw, "bf16", p)
    assert float(fused["lower_s"]) == pytest.approx(float(expected))


def test_llmcompass_compiled_term_only_on_compiled_ops():
    from costmodel.reference import llmcompass

    rows = llmcompass.rows()
    gelu = rows[rows.family == "activation"].reset_index(drop=True)
    softmax = rows[rows.family == "softmax"].reset_index(drop=True)
    base = {**llmcompass._kernel_params(), "timing": {"wall_clock_extra_s": 0.0,
                                                      "compiled_call_s": 0.0}}
    more = {**base, "timing": {"wall_clock_extra_s": 0.0, "compiled_call_s": 30e-6}}
    assert np.allclose(llmcompass.predict(gelu, more) - llmcompass.predict(gelu, base), 30e-6)
    assert np.allclose(llmcompass.predict(softmax, more), llmcompass.predict(softmax, base))


def test_tiles_pad_the_head_dim_as_each_kernel_runs_it():
    rows, depth, columns = fused_attention.tiles("memory-efficient", [32, 100, 256])
    # 64x64_rf (kMaxK 64), 64x128_rf (kMaxK 128), 32x128_gmem (128 columns a pass)
    assert list(rows) == [64, 64, 32] and list(columns) == [64, 128, 256]
    assert list(depth) == [32, 128, 256]  # Q @ K^T depth: the head dim in 32s
    rows, depth, columns = fused_attention.tiles("flash", 80)
    assert (rows, float(depth), float(columns)) == (128, 96.0, 96.0)  # hdim96 instance


def test_roofline_fused_time_over_an_array_of_lengths():
    import costmodel as cm
    from costmodel.roofline import predict

    hw = load_hardware("a100")
    rec = cm.MultiheadAttention(2048, 8, attention="flash", need_weights=False)
    one = predict(rec, hw, dtype="fp16", mode="inference", n=np.array([512, 1024]), batch=2)
    fused = [r for r in one.kernels if r["name"] == "flash_attention"][0]
    p = fused_attention.params_of(fused_attention.shipped(), "flash", "fp16")
    expected = fused_attention.fused_attention_s(np.array([512, 1024]), np.array([512, 1024]),
                                                 256, 16, hw, "fp16", p)
    assert np.allclose(fused["lower_s"], expected)


@pytest.mark.parametrize("name", ["attention", "llmcompass"])
def test_committed_fits_are_what_the_fit_script_writes(name):
    from costmodel.reference import fit as fitmod, source

    committed = (fitmod.FOLDER / f"{source(name).FITTED}.toml").read_text(encoding="utf-8")
    assert committed == fitmod.render(name), (
        f"costmodel/data/fitted/{source(name).FITTED}.toml is stale: "
        f"python -m costmodel.reference.fit {name}")


def test_attention_fit_without_fused_rows_says_which_protocol_to_use():
    from costmodel.reference import attention

    rows = attention.rows()
    with pytest.raises(ValueError, match="leave-one-shape-out"):
        attention.fit(rows[rows.model == "math"])
