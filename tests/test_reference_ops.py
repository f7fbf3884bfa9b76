"""The NeuSight reference sources: loading, provenance, and the leave-one-GPU-out protocol."""

import json

import numpy as np
import pytest

from costmodel.reference import neusight, neusight_layers, published
from costmodel.reference.published import fitted_toml as to_toml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class Entry:
    """A stand-in for a packaged file (name + read_text), for malformed-file tests."""

    def __init__(self, name, body):
        self.name, self._text = name, json.dumps(body)

    def read_text(self, encoding="utf-8"):
        return self._text


GOOD = {"provenance": {"repo": "r", "commit": "c", "url": "u", "device": "NVIDIA L4",
                       "kernel_names": ["ampere_sgemm_128x128_nn"]},
        "columns": ["row", "op", "B", "M", "N", "K", "latency_ms", "kernel"],
        "rows": [[0, "bmm", 2, 64, 64, 64, 0.01, 0]]}


def test_rows_carry_provenance_and_known_gpus():
    rows = neusight.rows()
    assert set(rows.gpu) == {"a100-pcie-40gb", "a100-pcie-80gb", "h100", "l4", "t4"}
    assert {"bmm", "linear", "binary", "layernorm", "softmax", "activation"} <= set(rows.family)
    for column in ("source", "phase", "dtype", "measured_s", *published.PROVENANCE_COLUMNS):
        assert rows[column].notna().all(), column
    assert (rows.measured_s > 0).all() and (rows.dtype == "fp32").all()


def test_good_stand_in_file_loads():
    (row,) = neusight._gemm_rows(Entry("neusight-bmm-x.json", GOOD))
    # bmm randn(2, 64, 64) @ randn(2, 64, 64): m = M, k = N, n = K, 2 GEMMs; 0.01 ms = 1e-5 s
    assert (row["m"], row["k"], row["n"], row["batch"]) == (64, 64, 64, 2)
    assert row["measured_s"] == pytest.approx(1e-5)


@pytest.mark.parametrize("change, field", [
    (lambda b: b["rows"][0].__setitem__(6, -1.0), "latency_ms"),
    (lambda b: b["rows"][0].__setitem__(2, "two"), "B"),
    (lambda b: b["rows"][0].__setitem__(1, "conv"), "op"),
    (lambda b: b["rows"][0].pop(), "rows"),
])
def test_malformed_row_names_file_row_and_field(change, field):
    body = json.loads(json.dumps(GOOD))
    change(body)
    with pytest.raises(ValueError, match=rf"neusight-bmm-x.json: row 0: field '{field}'"):
        neusight._gemm_rows(Entry("neusight-bmm-x.json", body))


def test_unknown_device_names_the_field():
    body = json.loads(json.dumps(GOOD))
    body["provenance"]["device"] = "Imaginary GPU 9000"
    with pytest.raises(ValueError, match=r"neusight-bmm-x.json: field 'device'"):
        neusight._gemm_rows(Entry("neusight-bmm-x.json", body))


def _small():
    """A few rows of three GPUs (two architectures): keeps the refits fast."""
    rows = neusight.rows()
    rows = rows[rows.gpu.isin(["a100-pcie-40gb", "a100-pcie-80gb", "l4"])]
    return rows.groupby(["gpu", "family"]).head(4).reset_index(drop=True)


def test_leave_one_gpu_out_never_uses_the_held_out_rows():
    rows = _small()
    held = (rows.gpu == "l4").to_numpy()
    first = published.leave_one_gpu_out(rows, neusight.fit, neusight.predict)
    perturbed = rows.copy()
    perturbed.loc[held, "measured_s"] *= 1000.0  # nonsense for the held-out GPU only
    second = published.leave_one_gpu_out(perturbed, neusight.fit, neusight.predict)
    assert np.array_equal(first[held], second[held])  # its predictions did not move
    # ... while a fit that may see them (another GPU held out) does learn the change
    others = (rows.gpu != "a100-pcie-40gb").to_numpy()
    before = neusight.fit(rows[others].reset_index(drop=True))["cross"]
    after = neusight.fit(perturbed[others].reset_index(drop=True))["cross"]
    assert before != after


def test_held_out_architecture_falls_back_to_cross_parameters():
    rows = _small()
    params = neusight.fit(rows[rows.gpu != "l4"].reset_index(drop=True))
    assert "ada" not in params["architecture"] and "ampere" in params["architecture"]
    # ... and the held-out L4 (Ada: ampere_sgemm kernels) is priced with the A100s' GEMM
    # values, its kernel sibling's
    from costmodel.hardware import load_hardware
    from costmodel.implementations import cublas

    got = cublas.params_for(params, load_hardware("l4"))
    ampere = params["architecture"]["ampere"]
    assert got["gemm_efficiency"] == ampere["gemm_efficiency"]
    assert got["tile_factor"] == ampere["tile_factor"]


def test_layers_sum_their_ops():
    layers = neusight_layers.rows()
    assert set(layers["mode"]) == {"inference", "training"}
    one = layers.iloc[[0]].reset_index(drop=True)
    params = neusight.fit(_small())
    total = neusight_layers.predict(one, params)[0]
    from costmodel.hardware import load_hardware
    from costmodel.implementations import cublas
    hw = load_hardware(one["gpu"].iloc[0])
    parts = [neusight_layers.op_seconds(op, hw, cublas.params_for(params, hw))
             for op in one["ops"].iloc[0]]
    assert total == pytest.approx(sum(parts)) and len(parts) > 10


def test_fitted_toml_round_trips():
    data = {"cross": {"a": 0.5, "rows": ["x: 1 rows"], "inner": {"b": 1.0}}}
    assert tomllib.loads(to_toml(data)) == data


HAND = {"cross": {"gemm_efficiency": 0.5, "gemm_memory_efficiency": 1.0, "wave_overhead_s": 0.0,
                  "skinny_efficiency": 0.25,
                  "tile_factor": [1.0, 0.5, 0.25], "floor_s": 5e-6,
                  "pointwise_efficiency": {c: 0.5 for c in ("binary", "scalar", "activation",
                                                           "layernorm", "softmax")}}}


def test_llmcompass_layer_shapes_and_rows():
    from costmodel.reference import llmcompass

    ops = llmcompass.layer_ops("prefill")
    # GPT-3 175B on 4 GPUs: 8 x 2048 = 16384 tokens, d_model 12288 split 4 ways = 3072
    assert ops["Q_K_V"][0] == {"kind": "gemm", "m": 16384, "n": 3072, "k": 12288, "batch": 1,
                               "weight_batch": 1} and len(ops["Q_K_V"]) == 3
    # 96 / 4 = 24 heads of 12288 / 96 = 128: scores [8 * 24] (2048 x 128) @ (128 x 2048)
    assert ops["Q_mul_K"][0]["batch"] == 192 and ops["Q_mul_K"][0]["k"] == 128
    rows = llmcompass.rows()
    assert set(rows.gpu) == {"a100-sxm4-80gb"} and (rows.dtype == "fp16").all()
    assert len(rows[rows.family == "layer_op_decode"]) == 10  # AllReduce left out
    assert (llmcompass.predict(rows, HAND) > 0).all()


def test_attention_rows_and_fused_fp32_on_tf32():
    from costmodel.reference import attention

    from costmodel.implementations import fused_attention

    rows = attention.rows()
    assert set(rows.model) == {"flash", "math"} and "bwd" not in set(rows.phase)
    fp32 = rows[(rows.dtype == "fp32")]
    predicted = attention.predict(fp32, fused_attention.shipped())
    # the fused kernels' fp32 runs on TF32 tensor cores (156 vs 19.5 TFLOP/s): far faster
    # than matmul-softmax-matmul at the same shape (xformers#587 measured 2.8-7.0x)
    for head_dim in sorted(set(fp32.head_dim)):
        at = (fp32.head_dim == head_dim).to_numpy()
        flash = predicted[at & (fp32.model == "flash").to_numpy()]
        math = predicted[at & (fp32.model == "math").to_numpy()]
        assert len(flash) and len(math) and 2 * flash.max() < math.min(), head_dim


def test_committed_cublas_fit_is_what_the_fit_script_writes():
    from costmodel.implementations import cublas
    from costmodel.reference import fit as fitmod

    committed = (fitmod.FOLDER / f"{cublas.FITTED}.toml").read_text(encoding="utf-8")
    assert committed == fitmod.render("neusight"), (
        "costmodel/data/fitted/cublas.toml is stale: python -m costmodel.reference.fit neusight")


def test_attention_scores_leave_one_shape_out_so_reference_all_runs():
    """Its rows are one GPU: `validate --reference attention` (and `all`) scores the fused
    kernels leave-one-shape-out instead of failing on an empty leave-one-GPU-out fit, and
    says so; each held-out shape's prediction differs from the in-sample one."""
    import numpy as np

    from costmodel.reference import score
    from clirun import run

    held, seen = score.scored("attention"), score.scored("attention", leave_one_gpu_out=False)
    assert np.isfinite(held["predicted_model_s"]).all()
    fused = (held.model == "flash").to_numpy()
    assert not np.allclose(held["predicted_model_s"][fused], seen["predicted_model_s"][fused])
    code, out, err = run("validate", "--reference", "attention")
    assert code == 0 and "leave-one-shape-out" in out + err
