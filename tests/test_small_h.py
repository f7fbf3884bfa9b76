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


def test_predict_goes_through_the_fit_s_own_arithmetic():
    frame = ROWS[ROWS["seq"].isin([3854, 1314, 4814])].reset_index(drop=True)
    parts = xw.basis(frame)
    params = {"on_chip_max_elements": 20000.0,
              "forward": {"on_chip": 0.2, "spilled": 0.7},
              "backward_data": {"on_chip": 0.3, "spilled": 0.9}}
    forward = frame["phase"].to_numpy() == "forward"
    on_chip = parts["elements"] <= 20000.0
    ratio = np.where(forward, np.where(on_chip, 0.2, 0.7), np.where(on_chip, 0.3, 0.9))
    expected = (parts["fixed"] + ratio * parts["step"]) / parts["before"]
    assert xw.predict(frame, params) == pytest.approx(expected, rel=1e-9)


def test_fit_recovers_a_known_ratio_and_boundary():
    parts = xw.basis(ROWS)
    truth = {"forward": (0.12, 0.95), "backward_data": (0.2, 0.6)}
    forward = ROWS["phase"].to_numpy() == "forward"
    on_chip = parts["elements"] <= 50176
    ratio = np.where(forward, np.where(on_chip, *truth["forward"]),
                     np.where(on_chip, *truth["backward_data"]))
    synthetic = ROWS.assign(measured_ratio=(parts["fixed"] + ratio * parts["step"])
                            / parts["before"])
    got = xw.fit(synthetic, parts)
    assert got["on_chip_max_elements"] == 50176  # an RNN at H = 224 or an LSTM at H = 112
    for phase, (inside, above) in truth.items():
        # the grid's step is 10 ** (4 / 4000) - 1 = 0.23 %
        assert got[phase]["on_chip"] == pytest.approx(inside, rel=2.5e-3)
        assert got[phase]["spilled"] == pytest.approx(above, rel=2.5e-3)


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
    for call, ratio in (("forward", fitted.forward[0]), ("backward_data",
                                                         fitted.backward_data[0])):
        (got,), (ref,) = _steps(small, call), _steps(standard, call)
        assert float(got["lower_s"]) == pytest.approx(ratio * float(ref["lower_s"]), rel=1e-12)
    assert float(small.forward_s) < float(standard.forward_s)
    assert float(small.backward_s) < float(standard.backward_s)


def test_outside_small_h_limits_nothing_changes():
    """H = 256 LSTM: above both limits (192 forward, 128 backward), and H = 160: above the
    backward one only: absurd small-h ratios change exactly the steps that run small-h."""
    absurd = {**impl.params_for(impl.fitted_table(), A100.architecture),
              "small_h": small_h.SmallHParams(np.inf, (50.0, 50.0), (50.0, 50.0))}
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
