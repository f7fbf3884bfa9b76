"""NeuSight's end-to-end rows: loading, the HF model records, the public prediction path, the
held-out fit, and the math attention's batched GEMMs priced by cuBLAS's model on a GPU."""

import pytest

import costmodel as cm
from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.reference import hf_models, neusight_e2e, source
from costmodel.roofline import predict


def test_registered_and_rows_carry_provenance():
    assert source("neusight-e2e") is neusight_e2e
    rows = neusight_e2e.rows()
    # 70 runs: 3 P4 runs not scored; 18 training runs give 3 rows each, 49 inference runs 1
    assert len(neusight_e2e.rows(include_unscored=True)) == 111 + 3
    assert len(rows) == 111 and "" not in set(rows.gpu)
    assert set(rows.gpu) == {"a100-pcie-40gb", "a100-pcie-80gb", "h100", "l4", "t4",
                             "v100-pcie", "p100"}
    for column in ("measured_s", "neusight_s", "repo", "commit", "path_or_url", "n", "batch"):
        assert rows[column].notna().all(), column
    assert (rows.measured_s > 0).all() and (rows.dtype == "fp32").all()


def test_step_is_forward_plus_backward():
    rows = neusight_e2e.rows()
    train = rows[rows["mode"] == "training"].set_index(["gpu", "model", "batch", "phase"])
    for (gpu, model, batch, phase), row in train.iterrows():
        if phase == "step":
            fw = train.loc[(gpu, model, batch, "forward"), "measured_s"]
            bw = train.loc[(gpu, model, batch, "backward"), "measured_s"]
            assert row.measured_s == pytest.approx(fw + bw, rel=1e-12)


def test_gpt2_large_config_golden():
    spec = neusight_e2e.spec("gpt2_large")
    assert (spec.d_model, spec.heads, spec.ffn, spec.layers, spec.vocab) == (
        1280, 20, 4 * 1280, 36, 50257)
    assert spec.norm_first and spec.causal and spec.activation == "gelu"
    d = 1280
    # per layer 12 d^2 + 13 d = 19,677,440; x 36 layers + ln_f (2 d) = 708,390,400;
    # wte 50257 x 1280 = 64,328,960 and wpe 1024 x 1280 = 1,310,720: 774,030,080, GPT-2
    # large's published count (the LM head is tied to wte)
    layers = hf_models.stack(spec).evaluate(n=1024, batch=4)["params"]
    assert layers == 36 * (12 * d * d + 13 * d) + 2 * d == 708_390_400
    wte, wpe = cm.Embedding(50257, d), cm.Embedding(1024, d)
    total = layers + sum(e.evaluate(n=1, batch=1)["params"] for e in (wte, wpe))
    assert total == 774_030_080


def test_hf_extras_bytes_golden():
    spec = neusight_e2e.spec("gpt2_large")
    got = hf_models.hf_extras(spec).evaluate(n=1024, batch=4, dtype="fp32")["bytes"]
    scores = 4 * 20 * 1024 * 1024  # [b, h, n, n]
    tokens_ffn = 4 * 1024 * 5120
    # per layer: 2 passes over the scores (read + write) and gelu_new's 7 extra ops
    # (5 reading one tensor, 2 reading two: 5 * 2 + 2 * 3 = 16 tensors moved), fp32, 36 layers
    assert got == 36 * 4 * (2 * 2 * scores + 16 * tokens_ffn)
    opt = hf_models.hf_extras(neusight_e2e.spec("opt_13")).evaluate(n=2048, batch=2,
                                                                     dtype="fp32")["bytes"]
    assert opt == 24 * 4 * 2 * 2 * (2 * 32 * 2048 * 2048)  # no gelu_new in OPT


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_row_prediction_is_costmodel_predict(mode):
    """With the shipped parameters, a row's prediction is the sum of costmodel.predict over
    the model's records: the public path, nothing of its own."""
    spec, n, batch = neusight_e2e.spec("bert_large"), 512, 2
    training = mode == "training"
    got = neusight_e2e.phases("bert_large", "h100", mode, n, batch,
                              Efficiency.for_hardware(load_hardware("h100")))
    pieces = [(hf_models.stack(spec), n), (hf_models.outside(spec, training), n),
              (hf_models.pooled(spec), 1), (hf_models.hf_extras(spec), n)]
    want = {"forward": 0.0, "backward": 0.0}
    for record, length in pieces:
        p = cm.predict(record, "h100", n=length, batch=batch, mode=mode)
        want["forward"] += p.phases["forward"]
        want["backward"] += p.phases.get("backward", 0.0)
    assert got["forward"] == pytest.approx(want["forward"], rel=1e-12)
    assert got["backward"] == pytest.approx(want["backward"], rel=1e-12)
    assert (got["backward"] > got["forward"]) == training


def test_held_out_fit_drops_the_same_chip():
    """Holding out the V100 PCIe drops DeepBench's V100 sheet too (same GV100 chip)."""
    params = neusight_e2e._fit(frozenset({"v100-pcie"}))
    rows = " ".join(params["cross"]["rows"])
    assert "deepbench-gemm v100" not in rows and "deepbench-gemm t4" in rows
    assert "neusight h100 bmm" in rows


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="architectures='T5Model'"):
        hf_models.spec_of({"architectures": ["T5Model"]})


def test_math_attention_bmm_priced_by_cublas_on_a_gpu():
    """The math scores kernel: b*h GEMMs [n, hd] @ [hd, n] on cuBLAS's tiles and waves."""
    layer = cm.TransformerEncoderLayer(1280, 20, 5120, attention="math", causal=True,
                                       batch_first=True)
    hw = load_hardware("h100")
    p = cublas.params_for(cublas.shipped(), hw)
    kernels = {k.name: k for k in cm.predict(layer, hw, n=1024, batch=4,
                                             mode="inference").kernels}
    want = cublas.gemm_time_s(1024, 1024, 1280 // 20, 4 * 20, hw, "fp32", p)
    assert kernels["self_attn.scores"].seconds == pytest.approx(float(want), rel=1e-9)
    av = cublas.gemm_time_s(1024, 1280 // 20, 1024, 4 * 20, hw, "fp32", p)
    assert kernels["self_attn.av"].seconds == pytest.approx(float(av), rel=1e-9)
    # the generic roofline (no fitted parameters) keeps no occupancy term for a batched
    # shape: compute time is FLOPs at the datasheet peak, as before the shape was attached
    t = predict(layer, hw, eff=Efficiency.ideal(), mode="inference", n=1024, batch=4)
    scores = next(k for k in t.kernels if k["name"] == "self_attn.scores")
    flops = 2 * 4 * 20 * 1024 * 1024 * 64  # 2 * b * h * n * n * hd
    assert float(scores["flops"]) == flops
    assert float(scores["compute_s"]) == pytest.approx(flops / hw.peak_flops_per_s("fp32"),
                                                       rel=1e-12)


def test_h100_traces_add_up_to_the_measured_forward():
    """On the H100 NeuSight's isolated nodes, summed as the model runs them, are the whole
    model's measured forward within 10 % (18 runs; the doc's evidence that no per-model
    overhead term is missing there)."""
    ratios = neusight_e2e.trace_vs_measured()
    h100 = ratios[ratios.gpu == "h100"].ratio_minus_1
    assert len(h100) == 18 and h100.abs().max() < 0.10
