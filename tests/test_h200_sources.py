"""The shipped H200 measurements (session 6): what PyTorch/cuDNN ran there against the model's
dispatch rules, and the two reference sources' scoring (nothing fitted on their rows)."""

import json
from importlib import resources

import numpy as np
import pytest

from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_algo
from costmodel.implementations import cudnn_stack as stack
from costmodel.reference import h200_ops, h200_rnn, names

PERSISTENT_KERNELS = ("persist", "lstm_tile")  # RNN_blockPersist, RNN_persist_fp, ampere_lstm_tile16
CELL = {"rnn_relu": "rnn", "lstm": "lstm", "gru": "gru"}


def _rows():
    entry = resources.files("costmodel").joinpath("data", "reference", h200_rnn.FILE)
    data = json.loads(entry.read_text())
    return [dict(zip(data["columns"], row)) for row in data["rows"]]


def test_the_algorithm_pytorch_picks_is_the_kernel_the_h200_ran():
    """Every shipped configuration: select_algo's persistent / GEMM-per-step choice against
    the kernel the profiler saw take the most time in one inference call (245 rows, three
    cells, three dtypes, 1-4 layers, bidirectional)."""
    hw = load_hardware("h200")
    wrong = []
    for r in _rows():
        algo = str(cudnn_algo.select_algo(CELL[r["cell"]], r["hidden"], r["hidden"], r["layers"],
                                          2 if r["bidirectional"] else 1, r["batch"],
                                          r["timesteps"], r["dtype"], hw))
        seen = any(k in r["first_kernel"].lower() for k in PERSISTENT_KERNELS)
        if (algo != "standard") != seen:
            wrong.append((r["cell"], r["hidden"], r["batch"], r["dtype"], algo, r["first_kernel"]))
    assert not wrong, wrong


def test_rnn_source_rows_and_scoring():
    frame = h200_rnn.scored()
    assert len(frame) == 2 * len(_rows()) and set(frame["phase"]) == set(h200_rnn.PHASES)
    assert (frame["measured_s"] > 0).all() and frame["gpu"].eq("h200").all()
    calibration = frame["grid"] == h200_rnn.HOST_GRID
    for model in h200_rnn.SCORED:  # the host column leaves its calibration rows unscored
        scored = ~calibration if model == h200_rnn.HOST else frame["grid"].notna()
        assert np.isfinite(frame.loc[scored, f"error_{model}"]).all()
    assert frame.loc[calibration, f"error_{h200_rnn.HOST}"].isna().all()
    # the host bound only ever lengthens a phase: host >= the default stack's time
    assert (frame.loc[~calibration, "predicted_host_s"]
            >= frame.loc[~calibration, "predicted_model_s"] * (1 - 1e-12)).all()
    # the default stack on a Hopper part is pr62143's: the model column is that stack's
    assert stack.resolve(stack.AUTO, load_hardware("h200")) == stack.CUDNN8
    np.testing.assert_allclose(frame["error_model"], frame[f"error_{stack.CUDNN8}"])
    # bf16 small-h: no persistent kernel, so the row costs what the same fp16 row would
    # without the small-h kernel (priced per step, not as one persistent call)
    single = frame[(frame.grid == "single") & (frame.family == "rnn_relu")
                   & (frame.hidden == 256) & (frame.phase == "inference")]
    bf16 = single[single.dtype == "bf16"]["predicted_model_s"].to_numpy()
    fp16 = single[single.dtype == "fp16"]["predicted_model_s"].to_numpy()
    assert (bf16 > fp16).all()


def test_ops_source_is_scored_on_parameters_without_h200():
    frame = h200_ops.scored()
    assert len(frame) > 600 and frame["gpu"].eq("h200").all()
    err = frame["error_model"].abs()
    # the fitted model beats the datasheet roofline on the GEMMs of a GPU it never saw
    gemm = frame["family"].isin(["bmm", "linear"])
    assert err[gemm].median() < frame.loc[gemm, "error_roofline"].abs().median()


def test_sources_are_registered():
    assert {"h200-cudnn-rnn", "h200-ops"} <= set(names("all"))


def test_malformed_cell_names_the_file(monkeypatch):
    from costmodel.reference import published
    real = published.table

    def bad(entry, required):
        provenance, rows = real(entry, required)
        return provenance, [{**rows[0], "cell": "transformer"}]

    monkeypatch.setattr(published, "table", bad)
    with pytest.raises(ValueError, match="h200-cudnn-rnn.json: row 0: field 'cell'"):
        h200_rnn.rows()


def test_sm80_attention_kernels_run_at_half_the_tensor_rate_on_hopper():
    """PyTorch's flash and memory-efficient kernels are sm80 code: on Hopper half the MMA rate
    (A100 2048 vs H100 4096 dense fp16 FLOP/clk/SM), cuDNN's sm90 kernels the full rate; the
    H200's measured fp32 memory-efficient kernel is the held-out check (run 1's profiler)."""
    from costmodel.implementations import fused_attention as fa

    h200, a100 = load_hardware("h200"), load_hardware("a100")
    assert fa.legacy_mma_fraction(h200, "memory-efficient") == 0.5
    assert fa.legacy_mma_fraction(h200, "flash") == 0.5
    assert fa.legacy_mma_fraction(h200, "cudnn") == 1.0
    assert fa.legacy_mma_fraction(a100, "flash") == 1.0
    # d 1024, n 4096, 16 heads, batch 1, fp32: fmha_cutlassF_f32 took 2039 us on the H200
    p = fa.params_of(fa.shipped(), "memory-efficient", "fp32")
    t = float(fa.fused_attention_s(4096, 4096, 64, 16, h200, "fp32", p,
                                   kernel="memory-efficient"))
    assert 0.5 < t / 2039.4e-6 < 1.0  # 0.33 at the full Hopper rate, 0.65 now


def test_h200_gemm_rows_train_the_shipped_hopper_set_but_not_its_own_score():
    from costmodel.reference import neusight

    shipped = neusight.fitted_on_all()["architecture"]["hopper"]["rows"]
    assert any(r.startswith("h200-ops h200 bmm") for r in shipped)
    assert not any("h200" in r and ("softmax" in r or "layernorm" in r) for r in shipped)
    held = h200_ops.fit()["architecture"]["hopper"]["rows"]
    assert not any("h200" in r for r in held)
    # the shared op floor is NeuSight's hosts', untouched by the H200's host
    assert h200_ops.fit()["cross"]["floor_s"] == neusight.fitted_on_all()["cross"]["floor_s"]


def test_rescore_tool_reprices_the_committed_cuda_validation(tmp_path):
    """tools/rescore_validation.py on the H200 run's rows: every measured row re-priced with
    the catalogue model, which comes out too fast there (host-bound small configurations)."""
    from pathlib import Path

    from tests.toolload import load_tool

    root = Path(__file__).resolve().parent.parent
    tool = load_tool("rescore_validation.py")
    csv = root / "validation" / "results" / "gpu-h200-s6" / "run2" / "cuda-h200-validation.csv"
    frame = tool.rescored(str(csv), "h200")
    assert len(frame) == 402 and np.isfinite(frame["catalogue_s"]).all()
    table = tool.summary(frame)
    assert table.loc[("all", "all"), "catalogue_signed"] < 0
    assert tool.main(["only-one-argument"]) == 2
    bare = tmp_path / "bare.toml"  # a profile without [host]: one line, exit 2
    bare.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n')
    assert tool.main([str(csv), "h200", str(bare)]) == 2
    # with the run's host costs (from its probe's length grid, or a profile's [host] table:
    # the same numbers either way) the recurrences' rows only get slower, the others not at all
    probe = csv.parent / "gpu-probe-h200.json"
    hosted = tool.rescored(str(csv), "h200", str(probe))
    host = tool.probe_host(str(probe), load_hardware("h200"))
    profile = tmp_path / "vm.toml"
    profile.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
                       + "[host]\n" + "".join(f"{k} = {getattr(host, k)!r}\n"
                                              for k in ("kernel_s", "call_s", "backward_call_s")))
    np.testing.assert_allclose(tool.rescored(str(csv), "h200", str(profile))["catalogue_s"],
                               hosted["catalogue_s"])
    recurrent = frame["family"] != "transformer"
    assert (hosted.catalogue_s[recurrent] >= frame.catalogue_s[recurrent] * (1 - 1e-12)).all()
    np.testing.assert_array_equal(hosted.catalogue_s[~recurrent], frame.catalogue_s[~recurrent])


def test_the_cudnn8_stack_note_carries_the_h200_measurement_and_the_deepbench_one_not():
    a100, v100 = load_hardware("a100"), load_hardware("v100")
    assert "measured on an H200" in stack.note(stack.AUTO, a100)
    assert "measured on an H200" in stack.note(stack.CUDNN8, v100)
    assert "measured on an H200" not in stack.note(stack.AUTO, v100)  # DeepBench's own floors


def test_host_costs_come_from_the_length_grid_alone():
    """The host column's costs are fitted on the calibration grid only: changing every other
    row's times leaves them unchanged; the fit reads the fp32 LSTM at 1, 2, 10, 100, 400 steps."""
    frame = h200_rnn.rows()
    host = h200_rnn.host_costs(frame)
    other = frame["grid"] != h200_rnn.HOST_GRID
    scaled = frame.assign(measured_s=np.where(other, frame["measured_s"] * 3, frame["measured_s"]))
    assert h200_rnn.host_costs(scaled) == host
    # the shipped medians: 0.289 ms at 1 step (3 issued kernels), 3.22 at 100 (201), 8.06 at
    # 400 (801): a slope of about 10 us per kernel, 0.26 ms per call, 1 ms per backward
    assert 5e-6 < host.kernel_s < 15e-6 and 0 < host.call_s < 0.289e-3
    assert 0 < host.backward_call_s < 1.3107e-3


def test_kernel_time_tool_sums_the_profiled_kernels():
    """tools/h200_kernel_time.py: a call's GPU time is the sum of its profiled kernels'
    durations (autograd/op rows left out), checked on the first headline row by hand."""
    from pathlib import Path

    from tests.toolload import load_tool

    root = Path(__file__).resolve().parents[1]
    tool = load_tool("h200_kernel_time.py")
    folder = root / "validation" / "results" / "gpu-h200-s6"
    frame = tool.rows(folder)
    assert len(frame) == 485 and set(frame.run) == {"run1", "run2", "run3"}
    raw = json.loads((folder / "run1" / "gpu-probe-h200.json").read_text())["rnn"][0]
    by_hand = sum(k["total_us"] for k in raw["kernels_inference"]) / 1e3
    first = frame[frame.run == "run1"].iloc[0]
    assert first.gpu_ms == pytest.approx(by_hand)
    assert first["wall/gpu"] == pytest.approx(raw["inference_ms"] / by_hand)
    # GEMM-per-step calls (a launch per step: > 12 per call) are host-bound, every one of
    # them; calls of one persistent kernel (a few launches) run about at the GPU's time
    per_step = frame[frame.kernels > 12]["wall/gpu"]
    assert len(per_step) == 399 and per_step.min() > 1 and per_step.median() > 3
    assert frame[frame.kernels <= 12]["wall/gpu"].median() < 1.5
    assert tool.main([str(folder / "nothing-here")]) == 2
