"""The host-issue bound (costmodel.implementations.host_issue): what the host launches per
regime, the fit calibrate uses, the bound in predict, the profile's [host] table."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel as cm
from costmodel.hardware import load_hardware
from costmodel.implementations import host_issue
from costmodel.implementations.host_issue import HostCosts

H200 = load_hardware("h200")


def _with(host: HostCosts):
    return dataclasses.replace(H200, host=host)


def test_gemm_per_step_issues_two_kernels_per_step_and_copy():
    # fp32 LSTM: STANDARD; per step one step GEMM + one gate kernel, plus the input projection
    lstm = host_issue.issued_by(cm.LSTM(1024, 1024), H200, "fp32", n=100, batch=32)
    assert float(lstm["forward"]) == 2 * 100 + 1
    bidir = host_issue.issued_by(cm.LSTM(512, 512, bidirectional=True), H200, "fp32", n=100,
                                 batch=64)
    assert float(bidir["forward"]) == 2 * 2 * 100 + 1  # two directions: 2 copies per step


def test_a_persistent_kernel_is_one_launch_per_call():
    # fp16 small-h: PERSIST_STATIC_SMALL_H (the H200 ran ampere_lstm_tile16, 5 kernels a call)
    issued = host_issue.issued_by(cm.LSTM(1024, 1024), H200, "fp16", n=400, batch=32)
    assert float(issued["forward"]) == 1 + 1 + 1  # step kernel, gate kernel (fused), input


def test_fit_recovers_the_costs_it_was_made_from():
    truth = HostCosts(8e-6, 250e-6, 900e-6)
    points = []
    for steps in host_issue.PROBE["lengths"]:
        fwd, bwd = 2 * steps + 1, 2 * steps + 1
        points.append({"steps": steps, "forward_kernels": fwd, "backward_kernels": bwd,
                       "inference_s": truth.call_s + fwd * truth.kernel_s,
                       "forward_backward_s": truth.call_s + truth.backward_call_s
                       + (fwd + bwd) * truth.kernel_s})
    got = host_issue.fit(points)
    assert got.kernel_s == pytest.approx(truth.kernel_s)
    assert got.call_s == pytest.approx(truth.call_s)
    assert got.backward_call_s == pytest.approx(truth.backward_call_s)


def test_fit_rejects_too_few_or_equal_lengths():
    point = {"steps": 1, "forward_kernels": 3, "backward_kernels": 3, "inference_s": 1e-4,
             "forward_backward_s": 1e-3}
    with pytest.raises(ValueError, match="need at least 3"):
        host_issue.fit([point])
    with pytest.raises(ValueError, match="same kernels"):
        host_issue.fit([point, point, point])


@settings(max_examples=25, deadline=None)
@given(kernel_us=st.floats(0, 40), call_us=st.floats(0, 2000), n=st.integers(1, 600),
       cell=st.sampled_from(["RNN", "LSTM", "GRU"]), dtype=st.sampled_from(["fp32", "fp16"]))
def test_the_bound_never_shortens_a_phase_and_is_reached_when_host_bound(kernel_us, call_us,
                                                                          n, cell, dtype):
    record = getattr(cm, cell)(512, 512)
    base = cm.predict(record, H200, n=n, batch=8, dtype=dtype)
    host = HostCosts(kernel_us * 1e-6, call_us * 1e-6, call_us * 1e-6)
    bound = cm.predict(record, _with(host), n=n, batch=8, dtype=dtype)
    for phase in ("forward", "backward"):
        host_s = host_issue.phase_s(host, _kernels(record, n, dtype), phase, H200, dtype)
        assert bound.phases[phase] == pytest.approx(max(base.phases[phase], float(host_s)))
    assert bound.phases["optimizer"] == base.phases["optimizer"]  # not modelled


def _kernels(record, n, dtype):
    return record.kernel_values(dtype=dtype, optimizer="adam", n=n, batch=8)


def test_the_host_bound_leaves_transformers_alone():
    layer = cm.TransformerEncoderLayer(768, 12, 3072)
    slow_host = _with(HostCosts(1.0, 1.0, 1.0))
    assert (cm.predict(layer, slow_host, n=128, batch=8).phases
            == cm.predict(layer, H200, n=128, batch=8).phases)


def test_host_bound_forward_says_so():
    slow = _with(HostCosts(50e-6, 1e-3, 1e-3))
    t = cm.predict(cm.LSTM(256, 256), slow, n=50, batch=1, mode="inference").timing
    assert str(t.binding) == "host"
    issued = host_issue.issued_by(cm.LSTM(256, 256), H200, "fp32", n=50, batch=1)["forward"]
    assert float(issued) == 2 * 50 + 1  # H 256 > the small-h limit of 192: GEMM-per-step
    assert t.forward_s == pytest.approx(1e-3 + float(issued) * 50e-6)


def test_profile_host_table_round_trips_and_bad_tables_name_the_field(tmp_path):
    base = ('name = "x"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
            '[efficiency]\n')
    good = tmp_path / "good.toml"
    good.write_text(base + '[host]\nkernel_s = 8e-6\ncall_s = 2.5e-4\n'
                    'backward_call_s = 9e-4\nsource = "test"\n')
    hw = load_hardware(str(good))
    assert hw.host == HostCosts(8e-6, 2.5e-4, 9e-4, "test")
    for bad, match in (('kernel_s = 8e-6\ncall_s = 1e-4\n', "host.backward_call_s': missing"),
                       ('kernel_s = -1.0\ncall_s = 1e-4\nbackward_call_s = 0.0\n',
                        "field 'host.kernel_s': -1.0 must be a number >= 0"),
                       ('kernel_s = 1e-6\ncall_s = 1e-4\nbackward_call_s = 0.0\nlaunch = 1\n',
                        "host.launch': unknown key")):
        path = tmp_path / "bad.toml"
        path.write_text(base + "[host]\n" + bad)
        with pytest.raises(ValueError, match=match):
            load_hardware(str(path))


def test_compare_states_the_host_bound():
    from costmodel.implementations import rnn_implementation

    host = HostCosts(9e-6, 2.6e-4, 1e-3)
    assert "9.0 us per issued kernel" in rnn_implementation(_with(host))
    assert "host-issue" not in rnn_implementation(H200)


@pytest.mark.parametrize("gpu", ["a100", "h100", "h200", "l4", "v100"])
def test_calibrates_probe_runs_gemm_per_step_everywhere(gpu):
    """The probe's slope is per issued kernel only if PyTorch picks GEMM-per-step for it on
    every GPU (H 256 is above every small-h limit, fp32 never persistent)."""
    p = host_issue.PROBE
    record = getattr(cm, p["family"].upper())(p["hidden"], p["hidden"])
    for steps in p["lengths"]:
        issued = host_issue.issued_by(record, load_hardware(gpu), p["dtype"], n=steps,
                                      batch=p["batch"])
        assert float(issued["forward"]) == 2 * steps + 1


def test_predict_takes_host_as_a_profile_path(tmp_path):
    profile = tmp_path / "vm.toml"
    profile.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
                       '[host]\nkernel_s = 2e-5\ncall_s = 3e-4\nbackward_call_s = 1e-3\n')
    lstm = cm.LSTM(256, 256)
    by_path = cm.predict(lstm, "h200", n=64, host=str(profile)).phases
    by_object = cm.predict(lstm, _with(HostCosts(2e-5, 3e-4, 1e-3)), n=64).phases
    assert by_path == by_object
    assert by_path["forward"] == pytest.approx(3e-4 + (2 * 64 + 1) * 2e-5)


def test_preset_is_the_h200_vms_costs_fitted_from_the_shipped_rows():
    """--host h200-cloud-vm: the costs h200_rnn fits from its length grid (calibrate's fit on
    the shipped measurements), not typed-in numbers; usable wherever --host is."""
    import json

    import costmodel as cm
    from costmodel.reference import h200_rnn
    from tests.clirun import run

    costs = host_issue.preset("h200-cloud-vm")
    fitted = h200_rnn.host_costs()
    assert (costs.kernel_s, costs.call_s, costs.backward_call_s) == (
        fitted.kernel_s, fitted.call_s, fitted.backward_call_s)
    assert costs.source.startswith("preset h200-cloud-vm")
    p = cm.predict(cm.LSTM(768, 768), "a100", n=512, host="h200-cloud-vm", mode="inference")
    # 2 kernels per step (GEMM + gate) x 512 steps, plus the call: the host binds
    assert p.phases["forward"] >= costs.call_s + 2 * 512 * costs.kernel_s - 1e-12
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--host", "h200-cloud-vm",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0 and "preset h200-cloud-vm" in data["assumptions"]["rnn_implementation"]
    assert {r["binding"] for r in data["rows"] if r["model"] != "transformer"} == {"host"}


def test_a_host_that_is_neither_file_nor_preset_is_refused_naming_both():
    from tests.clirun import run

    for name in ("h200-cloud", "h100", "", "/"):  # empty: not the current folder; a folder
        code, out, err = run("compare", "--n", "64", "--d", "512", "--host", name)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert f"{name!r} is neither a profile file" in err and "h200-cloud-vm" in err
    with pytest.raises(ValueError, match="not a preset"):
        host_issue.preset("h100-vm")
