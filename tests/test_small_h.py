"""cuDNN's PERSIST_STATIC_SMALL_H step (implementations/cudnn_small_h.py) and its only public
timings, PyTorch PR #62143's benchmark (reference xwang233-small-h): the data as read, the
fit, the leave-one-config-out protocol and where the ratio applies."""

from __future__ import annotations

import numpy as np
import pytest

import costmodel as cm
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.implementations import cudnn_small_h as small_h
from costmodel.reference import REQUIRED_COLUMNS, fit as fitmod, xwang233_small_h as xw
from costmodel.roofline import predict

ROWS = xw.rows()
A100 = load_hardware("a100")


def test_rows_as_read_with_provenance():
    # 2 phases x (LSTM, RNN tanh, RNN relu) x (fp32, fp16) tables of 20 fuzzed configurations
    assert len(ROWS) == 2 * 3 * 2 * 20
    assert set(REQUIRED_COLUMNS) <= set(ROWS.columns)
    for column in ("repo", "commit", "path_or_url"):
        assert (ROWS[column].astype(str) != "").all(), column
    assert set(ROWS["commit"]) == {"2c053c85c6d73a32cc4b8e92e55ef8d0d780d578"}
    assert set(ROWS["gpu"]) == {"not stated"}
    # forward/readme.txt, LSTM float: x=(3854, 16, 112), op=(112, 128, 1) | 36.6 | 10.2 (ms)
    lstm = ROWS[(ROWS["family"] == "lstm") & (ROWS["phase"] == "forward")
                & (ROWS["dtype"] == "fp32") & (ROWS["seq"] == 3854)].iloc[0]
    assert (lstm["batch"], lstm["input"], lstm["hidden"], lstm["layers"]) == (16, 112, 128, 1)
    assert lstm["before_s"] == pytest.approx(36.6e-3) and lstm["measured_s"] == pytest.approx(
        10.2e-3)
    # forward RNN relu half is in microseconds: x=(1125, 44, 40), op=(40, 160, 1) | 9004.3 | 1457.8
    rnn = ROWS[(ROWS["family"] == "rnn") & (ROWS["nonlinearity"] == "relu")
               & (ROWS["phase"] == "forward") & (ROWS["dtype"] == "fp16")
               & (ROWS["seq"] == 1125)].iloc[0]
    assert rnn["before_s"] == pytest.approx(9004.3e-6)
    assert rnn["measured_ratio"] == pytest.approx(1457.8 / 9004.3)


def _table(forward, backward, bound):
    """A fitted table: (step_ratio, work_factor) per class (on_chip, spilled) and phase."""
    def classes(pairs):
        return {name: dict(zip(small_h.TERMS, pair)) for name, pair in zip(small_h.CLASSES,
                                                                             pairs)}
    return {"on_chip_max_elements": bound, "forward": classes(forward),
            "backward_data": classes(backward)}


def _synthetic(parts, frame, forward, backward, bound):
    """(fixed + step_ratio * step + work_factor * work) / before with each row's terms."""
    is_forward = frame["phase"].to_numpy() == "forward"
    on_chip = parts["elements"] <= bound
    terms = [np.where(is_forward, np.where(on_chip, forward[0][j], forward[1][j]),
                      np.where(on_chip, backward[0][j], backward[1][j])) for j in (0, 1)]
    return (parts["fixed"] + terms[0] * parts["step"] + terms[1] * parts["work"]) / parts[
        "before"]


def test_predict_goes_through_the_fit_s_own_arithmetic():
    frame = ROWS[ROWS["seq"].isin([3854, 1314, 4814])].reset_index(drop=True)
    parts = xw.basis(frame)
    forward, backward = ((0.2, 30.0), (0.7, 100.0)), ((0.3, 20.0), (0.9, 0.0))
    expected = _synthetic(parts, frame, forward, backward, 20000.0)
    got = xw.predict(frame, _table(forward, backward, 20000.0))
    assert got == pytest.approx(expected, rel=1e-9)


def test_fit_recovers_known_terms_and_boundary():
    """Exact synthetic ratios from known terms: the fit finds the boundary (judged on the
    forward rows) and the terms; backward rows above 65,536 elements do not exist (PyTorch's
    backward limits), so its spilled class keeps the STANDARD step."""
    parts = xw.basis(ROWS)
    forward, backward = ((0.06, 40.0), (0.8, 150.0)), ((0.1, 30.0), (1.0, 0.0))
    synthetic = ROWS.assign(measured_ratio=_synthetic(parts, ROWS, forward, backward, 65536))
    got = xw.fit(synthetic, parts)
    assert got["on_chip_max_elements"] == 65536  # an RNN at H = 256 or an LSTM at H = 128
    assert got["backward_data"]["spilled"]["rows"] == 0
    for phase, truth in (("forward", forward), ("backward_data", backward)):
        for name, pair in zip(small_h.CLASSES, truth):
            values = [got[phase][name][t] for t in small_h.TERMS]
            assert values == pytest.approx(pair, rel=1e-3), (phase, name)


def _steps(timing, call="forward"):
    return [r for r in timing.kernels if r.get("call") == call and r["name"].endswith(
        "step_gemm" if call == "forward" else "step_gemm_backward")]


@pytest.mark.parametrize("layers", [1, 4])
def test_small_h_lstm_on_a100_is_the_fitted_ratio_of_standard(layers):
    """LSTM(64, 64): H = 64 <= 192 (forward) and 128 (backward): PyTorch picks small-h, and
    W_hh's 4 * 64 * 64 = 16,384 elements are on chip; a 4-layer stack (a wavefront of 4
    cells per diagonal step) too, as PyTorch's choice does not look at the layers."""
    record, fitted = cm.LSTM(64, 64, num_layers=layers), small_h.fitted()
    assert 4 * 64 * 64 <= fitted.on_chip_max_elements
    small = predict(record, A100, batch=16, n=1000)
    base = impl.params_for(impl.fitted_table(), A100.architecture)
    standard = predict(record, A100, batch=16, n=1000, rnn_params={**base, "algo": "standard"})
    for call in small_h.PHASES:
        ratio, work = getattr(fitted, call)[0]  # the on-chip class
        (got,), (ref,) = _steps(small, call), _steps(standard, call)
        # the step's FLOPs at the A100's TF32 peak (cuDNN's default math for fp32)
        at_peak_s = float(ref["flops"]) / impl.math_peak(A100, "fp32")
        assert float(got["lower_s"]) == pytest.approx(
            ratio * float(ref["lower_s"]) + work * at_peak_s, rel=1e-12)
    assert float(small.forward_s) < float(standard.forward_s)
    assert float(small.backward_s) < float(standard.backward_s)


def test_outside_small_h_limits_nothing_changes():
    """H = 256 LSTM: above both limits (192 forward, 128 backward), and H = 160: above the
    backward one only: absurd small-h ratios change exactly the steps that run small-h."""
    absurd = {**impl.params_for(impl.fitted_table(), A100.architecture),
              "small_h": small_h.SmallHParams(np.inf, ((50.0, 0.0),) * 2, ((50.0, 0.0),) * 2)}
    for hidden in (256, 160):
        record = cm.LSTM(hidden, hidden)
        shipped, changed = (predict(record, A100, batch=8, n=100, rnn_params=p)
                            for p in (None, absurd))
        assert float(changed.backward_s) == float(shipped.backward_s)
        forward_runs_small_h = hidden <= 192
        assert (float(changed.forward_s) > float(shipped.forward_s)) == forward_runs_small_h


def test_committed_fitted_file_is_what_the_fit_script_writes():
    committed = (fitmod.FOLDER / f"{xw.FITTED}.toml").read_text(encoding="utf-8")
    assert committed == fitmod.render(xw.NAME), (
        "costmodel/data/fitted/cudnn_small_h.toml is stale: "
        "python -m costmodel.reference.fit xwang233-small-h")


def test_leave_one_config_out_never_sees_the_held_out_config(monkeypatch):
    seen, real = [], xw.fit
    configs = set(map(tuple, ROWS[xw.CONFIG].astype(str).to_numpy()))

    def spy(train, parts=None):
        seen.append(configs - set(map(tuple, train[xw.CONFIG].astype(str).to_numpy())))
        return real(train, parts)

    monkeypatch.setattr(xw, "fit", spy)
    frame = xw.scored()
    assert len(seen) == len(configs) and all(len(missing) == 1 for missing in seen)
    assert {next(iter(m)) for m in seen} == configs
    # the fitted ratio beats the ratio 1 it replaces on every phase and dtype (medians)
    for _, group in frame.groupby(["phase", "dtype"]):
        assert (np.median(np.abs(group["error_model"]))
                < np.median(np.abs(group["error_standard"])))


def test_standard_per_step_is_before_over_seq():
    table = xw.standard_per_step(("a100",))
    row = table[(table["family"] == "lstm") & (table["phase"] == "forward")
                & (table["dtype"] == "fp32") & (table["seq"] == 3854)].iloc[0]
    assert row["measured_step_s"] == pytest.approx(36.6e-3 / 3854)  # 9.5 us per step
    # the model's STANDARD call on the A100 with DeepBench's floors (stack None), over seq
    # (no small-h: the algorithm is fixed)
    base = impl.params_for(impl.fitted_table(), A100.architecture)
    timing = predict(cm.LSTM(112, 128), A100, batch=16, n=3854,
                     rnn_params={**base, "algo": "standard", "stack": None})
    assert row["a100_step_s"] == pytest.approx(float(timing.forward_s) / 3854, rel=1e-12)
    assert row["a100_over_measured"] == pytest.approx(row["a100_step_s"] / row["measured_step_s"])
    assert len(table) == len(ROWS)
