"""Published measurements: loading, provenance, the leave-one-GPU-out protocol, the fit, the
fitted file and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from costmodel.cli.main import main
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.reference import REQUIRED_COLUMNS, deepbench_rnn as db, fit as fitmod, score
from costmodel.reference.nnls import relative_nnls

ROWS = db.rows()
MAXWELL = ROWS[ROWS["gpu"].isin(["m40", "titan-x"])].reset_index(drop=True)


def test_rows_carry_provenance_and_resolve():
    assert set(REQUIRED_COLUMNS) <= set(ROWS.columns)
    # 3 inference sheets x 69 forward rows; 5 fp32 training sheets x 53 x (forward, data,
    # weights, derived data + weights); P100 pseudo-fp16 53 x (forward, unsplit backward);
    # V100 (cuDNN 7.6) fp32 and tensor-op fp16 sheets: 2 x 53 x 4
    assert len(ROWS) == 3 * 69 + 6 * 53 * 4 + 53 * 2 + 2 * 53 * 4
    assert ROWS["derived"].sum() == 6 * 53 + 2 * 53
    for column in ("repo", "commit", "path_or_url", "sheet", "row", "file"):
        assert ROWS[column].notna().all() and (ROWS[column].astype(str) != "").all(), column
    assert set(ROWS["repo"]) == {"baidu-research/DeepBench"}
    assert {load_hardware(g).vendor for g in ROWS["gpu"].unique()} == {"NVIDIA"}
    assert set(ROWS["phase"]) == {"forward", "backward_data", "backward_weights", "backward"}
    assert (ROWS["measured_s"] > 0).all()


def test_a_v100_row_as_read():  # V100 FP16 sheet row 303: LSTM H=2048 N=128 T=25
    row = ROWS[(ROWS["gpu"] == "v100") & (ROWS["row"] == 303) & (ROWS["dtype"] == "fp16")
               & (ROWS["phase"] == "backward_weights")]
    assert len(row) == 1
    assert row.iloc[0][["family", "hidden", "batch", "steps"]].tolist() == ["lstm", 2048, 128, 25]
    assert row.iloc[0]["measured_s"] == 1.409e-3
    assert row.iloc[0]["sheet"] == "Results - FP16 ip, Mixed math"


def test_a_row_as_read():  # P100 fp32 sheet row 300: LSTM H=1024 N=16 T=25, fwd 3.559 ms
    row = ROWS[(ROWS["gpu"] == "p100") & (ROWS["row"] == 300) & (ROWS["dtype"] == "fp32")
               & (ROWS["phase"] == "forward")]
    assert len(row) == 1
    assert row.iloc[0][["family", "hidden", "batch", "steps"]].tolist() == ["lstm", 1024, 16, 25]
    assert row.iloc[0]["measured_s"] == pytest.approx(3.559e-3)


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(gpu="NV_K80"), "field 'gpu'"),
    (lambda d: d["rows"][1].update(cell="peephole"), "row 1: field 'cell'"),
    (lambda d: d["rows"][0].update(batch=0), "row 0: field 'batch'"),
    (lambda d: d["rows"][2].update(fwd_ms=-1.0), "row 2: field 'fwd_ms'"),
    (lambda d: d["rows"][0].update(dtype="int8"), "row 0: field 'dtype'"),
])
def test_malformed_file_names_file_row_and_field(change, words):
    data = {"gpu": "NV_M40", "source": "x", "repo_head_commit": "c", "url": "u",
            "rows": [{"sheet": "s", "row": i, "cell": "lstm", "hidden": 8, "batch": 2,
                      "timesteps": 3, "fwd_ms": 1.0, "dtype": "fp32"} for i in range(3)]}
    change(data)
    with pytest.raises(ValueError, match=f"^bad.json: .*{words}"):
        db._file_rows("bad.json", json.dumps(data))
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        db._file_rows("bad.json", "{")


def test_nnls_recovers_a_non_negative_combination():
    rng = np.random.default_rng(0)
    columns = rng.uniform(0.1, 1.0, (40, 3))
    truth = np.array([2.0, 0.0, 0.5])
    assert np.allclose(relative_nnls(columns, np.zeros(40), columns @ truth), truth)


def test_fit_is_deterministic_and_names_its_data():
    first, second = db.fit(MAXWELL), db.fit(MAXWELL)
    assert first == second
    assert set(first) == {"maxwell", impl.ACROSS}
    assert first["maxwell"]["forward"]["gpus"] == ["m40", "titan-x"]
    for phase in ("forward", "backward_data"):
        aware = first["maxwell"][phase]
        assert len(aware["serial_cycles_per_k"]) == len(aware["stream_passes"]) == len(
            impl.BATCH_TILES)
    assert "stream_passes" not in first["maxwell"]["backward_weights"]  # one bulk GEMM
    assert first["maxwell"]["forward"]["rows"] == int(((MAXWELL["phase"] == "forward")).sum())


def test_predict_goes_through_the_fit_s_own_arithmetic():
    """The fit assumes time = call + cycles * step_cycles + the per-batch terms of the row's
    batch tile (serial cycles per K, stream passes) + max(compute / e_c + element * f_e,
    memory / e_m) per call; predict (through costmodel.roofline.predict) must give exactly
    that, the per-batch terms included on the architecture they were fitted on."""
    params = db.fit(MAXWELL)
    p = params["maxwell"]
    predicted = db.predict(MAXWELL, params)
    for phase in impl.PHASES:
        rows = MAXWELL[MAXWELL["phase"] == phase]
        basis = db._basis(rows, phase)
        q = p[phase]
        core = basis["compute"] / q["compute_efficiency"] + basis["element"] * q[
            "flops_per_element"]
        per_batch = sum(q[term][j] * basis[f"{column}_{tile}"]
                        for j, tile in enumerate(impl.BATCH_TILES)
                        for term, column in (("serial_cycles_per_k", "serial"),
                                             ("stream_passes", "stream")) if term in q)
        expected = (q["call_s"] * basis["calls"] + q["step_cycles"] * basis["cycles"] + per_batch
                    + np.maximum(core, basis["memory"] / q["memory_efficiency"]))
        assert np.allclose(predicted[rows.index], expected, rtol=1e-9), phase
        if phase != "backward_weights":
            assert np.any(per_batch > 0), phase  # the per-batch terms are in use


def test_fit_recovers_known_per_batch_terms():
    """Rows generated with a serial chain only at batch tile 32 and an extra weight pass only
    at tile 16 (Maxwell's shapes, the GEMM at the datasheet peak and the priors' stream, both
    efficiencies 1: the bounds the fit keeps) come back."""
    rows = MAXWELL[MAXWELL["phase"] == "backward_data"]
    basis = db._basis(rows, "backward_data")
    truth_serial, truth_passes = 120.0, 1.5  # cycles per unit of K; passes over W_hh
    time_s = (3e-5 * basis["calls"] + 4e4 * basis["cycles"] + truth_serial * basis["serial_32"]
              + truth_passes * basis["stream_16"]
              + np.maximum(basis["compute"], basis["memory"]))
    got = db._fit_phase(rows.assign(measured_s=time_s), "backward_data")
    tile = {t: j for j, t in enumerate(impl.BATCH_TILES)}
    assert got["serial_cycles_per_k"][tile[32]] == pytest.approx(truth_serial, rel=1e-3)
    assert got["stream_passes"][tile[16]] == pytest.approx(truth_passes, rel=1e-3)
    assert got["step_cycles"] == pytest.approx(4e4, rel=1e-3)
    others = [v for j, v in enumerate(got["serial_cycles_per_k"]) if j != tile[32]]
    assert max(others) < 1e-3 * truth_serial


def test_nnls_is_the_exhaustive_optimum():
    """Lawson-Hanson against trying every subset of active columns (8 columns, 256 subsets)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(60, 8)), rng.normal(size=60)
    best = np.inf
    for mask in range(1 << 8):
        cols = [j for j in range(8) if mask >> j & 1]
        x = np.zeros(8)
        if cols:
            x[cols] = np.linalg.lstsq(a[:, cols], b, rcond=None)[0]
        if np.all(x >= 0):
            best = min(best, float(np.sum((a @ x - b) ** 2)))
    x = relative_nnls(a, np.zeros(60), b, scale=np.ones(60))
    assert np.all(x >= 0)
    assert float(np.sum((a @ x - b) ** 2)) == pytest.approx(best, rel=1e-9)


def test_fit_recovers_a_known_max_model_and_caps_the_stream():
    """Rows generated by the model itself (Maxwell's shapes, known terms, the core side
    binding some rows and the stream others) come back; a stream faster than the priors'
    curve is fitted at memory_efficiency 1, its cap."""
    truth = {"calls": 3e-5, "cycles": 5e4, "compute": 1 / 0.6, "element": 20.0, "memory": 1.5}
    basis = db._basis(MAXWELL[MAXWELL["phase"] == "forward"], "forward")
    core = truth["compute"] * basis["compute"] + truth["element"] * basis["element"]
    stream = truth["memory"] * basis["memory"]
    assert 0 < np.mean(core > stream) < 1  # both sides bind somewhere
    time_s = truth["calls"] * basis["calls"] + truth["cycles"] * basis["cycles"] + np.maximum(
        core, stream)
    rows = MAXWELL[MAXWELL["phase"] == "forward"].assign(measured_s=time_s)
    got = db._fit_phase(rows, "forward")
    assert got["step_cycles"] == pytest.approx(truth["cycles"], rel=1e-3)
    assert got["compute_efficiency"] == pytest.approx(0.6, rel=1e-3)
    assert got["memory_efficiency"] == pytest.approx(1 / 1.5, rel=1e-3)
    fast = rows.assign(measured_s=truth["calls"] * basis["calls"] + truth["cycles"]
                       * basis["cycles"] + np.maximum(core, 0.5 * basis["memory"]))
    assert db._fit_phase(fast, "forward")["memory_efficiency"] <= 1.0


def test_leave_one_gpu_out_never_sees_the_held_out_rows(monkeypatch):
    monkeypatch.setattr(db, "rows", lambda: MAXWELL.copy())
    before = score.scored("deepbench-rnn")
    perturbed = MAXWELL.copy()
    held = perturbed["gpu"] == "m40"
    perturbed.loc[held, "measured_s"] *= 3.0
    monkeypatch.setattr(db, "rows", lambda: perturbed.copy())
    after = score.scored("deepbench-rnn")
    m40 = before["gpu"] == "m40"
    assert np.array_equal(before.loc[m40, "predicted_model_s"], after.loc[m40, "predicted_model_s"])
    # ... while the other GPU, which trained on the changed rows, moves
    assert not np.allclose(before.loc[~m40, "predicted_model_s"],
                           after.loc[~m40, "predicted_model_s"])


def test_held_out_architecture_falls_back_to_the_nearest_older_set():
    params = db.fit(MAXWELL)  # maxwell and the across set only
    assert impl.transfer_set(params, "pascal") == "maxwell"  # newest older generation
    assert impl.params_for(params, "pascal")["forward"].call_s == params["maxwell"]["forward"][
        "call_s"]
    # ... borrowed with only the part of its per-batch terms all tiles share
    own, borrowed = (impl.params_for(params, a)["forward"] for a in ("maxwell", "pascal"))
    assert own.serial_cycles_per_k == tuple(params["maxwell"]["forward"]["serial_cycles_per_k"])
    assert any(own.serial_cycles_per_k) or any(own.stream_passes)
    for term in ("serial_cycles_per_k", "stream_passes"):  # only what every tile shares
        assert getattr(borrowed, term) == (min(getattr(own, term)),) * len(impl.BATCH_TILES)
    assert impl.transfer_set(params, "cpu-or-unknown") == impl.ACROSS
    older_missing = {"pascal": params["maxwell"], impl.ACROSS: params[impl.ACROSS]}
    assert impl.transfer_set(older_missing, "maxwell") == impl.ACROSS  # nothing older


def test_summary_reports_median_p90_worst_per_group():
    frame = pd.DataFrame({"source": "s", "gpu": ["a"] * 4, "phase": "forward", "dtype": "fp32",
                          **{f"error_{m}": [0.1, -0.2, 0.3, -0.4] for m in score.MODELS}})
    row = score.summary(frame).iloc[0]
    assert row["model_median"] == pytest.approx(0.25)  # |errors| 0.1 0.2 0.3 0.4
    assert row["model_worst"] == pytest.approx(0.4)
    assert row["model_p90"] == pytest.approx(0.37)  # 0.3 + 0.7 * (0.4 - 0.3)


def test_committed_fitted_file_is_what_the_fit_script_writes():
    committed = (fitmod.FOLDER / f"{db.FITTED}.toml").read_text(encoding="utf-8")
    assert committed == fitmod.render("deepbench-rnn"), (
        "costmodel/data/fitted/cudnn_rnn.toml is stale: python -m costmodel.reference.fit all")


# ---- the CLI ---------------------------------------------------------------------------------

def run(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def test_unknown_reference_exits_2_with_one_line(capsys):
    code, _, err = run(capsys, "validate", "--reference", "nope")
    assert code == 2
    assert err.strip() == ("costmodel: error: unknown reference 'nope'; known: attention, "
                           "deepbench-gemm, deepbench-rnn, fractaltensor-cudnn, gnmt-dle, h200-cudnn-rnn, "
                           "h200-ops, kernelbench-blocks, kernelbench-ops, kernelbench-rnn, llmcompass, "
                           "neusight, neusight-e2e, neusight-layers, xwang233-small-h, "
                           "xwang233-standard, zzc0721-mm, all")
    assert fitmod.main(["nope"]) == 2


def test_malformed_data_exits_2_naming_file_row_and_field(monkeypatch, capsys):
    def broken():
        raise ValueError("costmodel/data/reference/x.json: row 3: field 'fwd_ms': must be ...")
    monkeypatch.setattr(db, "rows", broken)
    code, _, err = run(capsys, "validate", "--reference", "deepbench-rnn")
    assert code == 2
    assert "x.json: row 3: field 'fwd_ms'" in err
    assert len(err.strip().splitlines()) == 1


def test_validate_without_reference_still_needs_an_output(capsys):
    code, _, err = run(capsys, "validate", "--device", "cpu")
    assert code == 2 and "--output" in err


def test_reference_csv_and_json_in_sample(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(db, "rows", lambda: MAXWELL.copy())
    out = tmp_path / "r.json"
    code, _, err = run(capsys, "validate", "--reference", "deepbench-rnn",
                       "--no-leave-one-gpu-out", "--format", "json", "-o", str(out))
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["leave_one_gpu_out"] is False and len(data["rows"]) == len(MAXWELL)
    assert {"model_median", "roofline_median", "priors_median"} <= set(data["summary"][0])
    code, text, _ = run(capsys, "validate", "--reference", "all", "--no-leave-one-gpu-out",
                        "--format", "csv")
    assert code == 0
    assert text.splitlines()[0].startswith("source,gpu,family,phase")


def test_protocol_names_each_sources_own():
    from costmodel.reference import protocol

    assert protocol("deepbench-rnn") == "leave-one-GPU-out"
    assert protocol("deepbench-rnn", leave_one_gpu_out=False) == "in-sample"
    assert protocol("xwang233-small-h") == "leave-one-config-out"
    assert protocol("attention") == "leave-one-shape-out"
    assert "leave-one-GPU-out" in protocol("all") and "nothing fitted" in protocol("all")
    # without the hold-out a leave-one-out source is in-sample; one that fits nothing is not
    assert protocol("attention", leave_one_gpu_out=False) == "leave-one-shape-out (here in-sample)"
    assert protocol("h200-cudnn-rnn", leave_one_gpu_out=False) == "nothing fitted (one named GPU)"


@pytest.mark.parametrize("name", ["xwang233-small-h", "fractaltensor-cudnn"])
def test_ratio_sources_plot_their_ratios(capsys, tmp_path, name):
    """Sources scored as ratios (no predicted seconds) draw measured vs predicted ratios with
    their own protocol in the title; they raised a KeyError traceback before."""
    from costmodel.plot_roofline import scored_figure
    from costmodel.reference import protocol

    png = tmp_path / "ratios.png"
    code, _, err = run(capsys, "validate", "--reference", name, "--plot", str(png),
                       "-o", str(tmp_path / "table.txt"))
    assert code == 0 and png.stat().st_size > 0, err
    figure = scored_figure(score.scored(name, True), name, protocol(name))
    axes = figure.axes[0]
    assert axes.get_xlabel() == "measured ratio" and protocol(name) in axes.get_title()


def test_pooled_sources_render_strict_json_and_a_dash_for_missing_models():
    """Sources score different models (kernelbench-rnn has a host column, gnmt-dle not):
    pooled, as --reference all pools them, a missing figure is null in JSON (strict: no NaN)
    and '-' in the table."""
    import pandas as pd

    from cli.reference_validation import _render
    from costmodel.reference import score

    frame = pd.concat([score.scored("gnmt-dle"), score.scored("kernelbench-rnn")],
                      ignore_index=True)
    summary = score.summary(frame)
    data = json.loads(_render(frame, summary, "json", "all", True),
                      parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    gnmt = [r for r in data["summary"] if r["source"] == "gnmt-dle"]
    assert gnmt and all(r["host_median"] is None for r in gnmt)
    table = _render(frame, summary, "table", "all", True)
    assert "NaN" not in table and " - " in table
