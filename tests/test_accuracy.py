"""The time-error evidence compare states (costmodel.accuracy, accuracy.toml): the shipped
figures are the validation's scores, recomputed here from the sources; the lookup picks the
entry the module docstring says; compare's table and JSON carry it."""

import json

import numpy as np
import pytest
import tomllib

import costmodel as cm
from costmodel import accuracy
from costmodel.reference import accuracy as generator
from tests.clirun import run


def _shipped(**key) -> list[dict]:
    return [e for e in accuracy.entries() if all(e[k] == v for k, v in key.items())]


@pytest.fixture(scope="module")
def deepbench():
    return generator.entries(generator.deepbench_rows())


def test_deepbench_entries_are_the_leave_one_gpu_out_scores(deepbench):
    """Recomputed from the scored rows: every deepbench-rnn entry equals the shipped one."""
    assert deepbench == _shipped(source="deepbench-rnn")
    assert len(deepbench) == 10


def test_volta_fp32_forward_is_the_figure_validation_md_reports(deepbench):
    """docs/validation.md: V100 fp32 forward 27.7 / 51.3 % (leave-one-GPU-out)."""
    (v100,) = [e for e in deepbench if e["architecture"] == "volta" and e["dtype"] == "fp32"
               and e["mode"] == "inference"]
    assert (round(100 * v100["median"], 1), round(100 * v100["p90"], 1)) == (27.7, 51.3)
    assert v100["gpus"] == ["v100"] and v100["rows"] == 53


def test_training_entry_scores_forward_plus_backward_of_one_configuration():
    """A training row is a sheet's forward and backward summed: the error of the sum, which
    lies between the two phases' errors (a weighted mean of them)."""
    from costmodel.reference import score

    f = score.scored("deepbench-rnn")
    train = f[(f["mode"] == "train") & (f.gpu == "m40")]
    one = train[(train.family == "lstm") & (train.hidden == train.hidden.min())]
    one = one[one.batch == one.batch.min()]
    one = one[one.steps == one.steps.min()]
    fwd = one[one.phase == "forward"].iloc[0]
    bwd = one[one.phase == "backward"].iloc[0]
    rows = generator.deepbench_rows()
    mine = rows[(rows["mode"] == "training") & (rows.gpu == "m40")
                & np.isclose(rows.measured_s, fwd.measured_s + bwd.measured_s)]
    assert len(mine) >= 1
    err = mine.predicted_s.iloc[0] / mine.measured_s.iloc[0] - 1
    low, high = sorted([fwd.error_model, bwd.error_model])
    assert low - 1e-12 <= err <= high + 1e-12


def test_nothing_fitted_sources_match_the_shipped_entries():
    """gnmt-dle, h200-cudnn-rnn and kernelbench-rnn fit nothing: their entries recompute
    exactly."""
    for rows, name in ((generator.gnmt_rows(), "gnmt-dle"),
                       (generator.h200_rnn_rows(), "h200-cudnn-rnn"),
                       (generator.kernelbench_rows(), "kernelbench-rnn")):
        assert generator.entries(rows) == _shipped(source=name)


def test_blocks_entries_are_kernelbench_blocks_scores():
    """kernelbench-blocks fits nothing of its own (NeuSight's fit, each GPU held out): its
    entries recompute; the B200's is docs/validation.md's 12.9 % (4 rows; 18.5 before its
    sourced sustained clock) and carries the
    run's caveat."""
    assert generator.entries(generator.blocks_rows()) == _shipped(source="kernelbench-blocks")
    (b200,) = _shipped(source="kernelbench-blocks", architecture="blackwell")
    assert round(100 * b200["median"], 1) == 12.9 and b200["rows"] == 4
    assert "torch 2.5.0" in b200["caveat"]


def test_h200_default_entry_is_the_model_column_median():
    """h200-cudnn-rnn, fp32 inference, default stack: 47.6 % median (validation.md's
    per-dtype row of reference-all.txt)."""
    (e,) = _shipped(source="h200-cudnn-rnn", mode="inference", dtype="fp32", stack="pr62143",
                    host=False)
    assert round(100 * e["median"], 1) == 47.6 and e["rows"] == 102


def test_e2e_entry_of_one_gpu_recomputes():
    """One held-out GPU of NeuSight's end-to-end rows (the full set takes a minute): the
    Turing entry (T4 inference, 5 rows) equals the shipped one."""
    (e,) = generator.entries(generator.e2e_rows(gpus=["t4"]))
    assert e == _shipped(source="neusight-e2e", architecture="turing", mode="inference")[0]


def test_shipped_file_renders_from_its_own_entries():
    """render(entries) round-trips through TOML: the file holds what the lookup reads."""
    text = generator.render(list(accuracy.entries()))
    assert tuple(tomllib.loads(text)["entry"]) == accuracy.entries()


@pytest.mark.parametrize("gpu, kind, mode, source, architecture, extrapolated", [
    ("v100", "recurrence", "inference", "deepbench-rnn", "volta", False),
    ("p100", "recurrence", "training", "deepbench-rnn", "pascal", False),
    ("h100", "recurrence", "inference", "h200-cudnn-rnn", "hopper", False),
    # hopper: the H200's 102 fp32 inference rows outnumber KernelBench's 56 H100 ones
    ("h100-pcie", "recurrence", "inference", "h200-cudnn-rnn", "hopper", False),
    # ampere: GNMT's one training row is ampere's own; KernelBench's A100 forwards its
    # inference entry (19 rows with the A10), no longer the nearest generation's (hopper)
    ("a100", "recurrence", "training", "gnmt-dle", "ampere", False),
    ("a100", "recurrence", "inference", "kernelbench-rnn", "ampere", False),
    ("l4", "recurrence", "inference", "kernelbench-rnn", "ada", False),
    # blackwell: KernelBench's B200 rows are its own (no other source has a Blackwell GPU)
    ("b200", "recurrence", "inference", "kernelbench-rnn", "blackwell", False),
    # turing (T4) runs the DeepBench stack under auto: volta and ampere are equally near,
    # volta has 53 rows to ampere's 1
    ("t4", "recurrence", "training", "deepbench-rnn", "volta", True),
    ("t4", "transformer", "inference", "neusight-e2e", "turing", False),
    ("l4", "transformer", "training", "neusight-e2e", "ada", False),
    # whole models before parts of them: KernelBench's 24 Hopper composition rows outnumber
    # NeuSight's 10 H100 model rows, the model rows speak for the H100
    ("h100", "transformer", "inference", "neusight-e2e", "hopper", False),
    ("a100", "transformer", "inference", "neusight-e2e", "ampere", False),
    # the B200: KernelBench's compositions, its own rows, rather than Hopper's models
    ("b200", "transformer", "inference", "kernelbench-blocks", "blackwell", False),
    ("b200", "transformer", "training", "neusight-e2e", "hopper", True),
])
def test_lookup(gpu, kind, mode, source, architecture, extrapolated):
    e = cm.expected_error(kind, gpu, mode)
    assert (e.source, e.architecture, e.extrapolated) == (source, architecture, extrapolated)
    # the note says "no <arch or dtype> rows: <whose>'s" exactly when the entry stands in for
    # another; a caveat of the rows themselves (the B200's run) may be there too
    assert (" rows: " in e.note) == extrapolated
    assert 0 <= e.median <= e.p90 and abs(e.signed_median) <= e.p90 + 1e-9


def test_stack_and_host_select_their_own_rows():
    default = cm.expected_error("recurrence", "h100", "training")
    deepbench = cm.expected_error("recurrence", "h100", "training", stack="deepbench")
    host = cm.expected_error("recurrence", "h100", "training", host=True)
    assert (default.stack, deepbench.stack, host.host) == ("pr62143", "deepbench", True)
    assert len({default.median, deepbench.median, host.median}) == 3


def test_dtype_falls_back_to_the_other_16bit_type_only():
    """bf16 on Volta: no bf16 DeepBench rows -> fp16's, said so. 16-bit Transformers: only
    LLMCompass's A100 rows (fp16), never NeuSight's fp32 ones."""
    e = cm.expected_error("recurrence", "v100", "inference", "bf16")
    assert e.dtype == "fp16" and "no bf16 rows" in e.note and e.extrapolated
    own = cm.expected_error("transformer", "a100", "inference", "fp16")
    assert (own.source, own.extrapolated) == ("llmcompass", False)
    bf16 = cm.expected_error("transformer", "a100", "inference", "bf16")
    assert bf16.source == "llmcompass" and "no bf16 rows: fp16's" in bf16.note
    hopper = cm.expected_error("transformer", "h100", "inference", "fp16")
    assert (hopper.architecture, hopper.source) == ("hopper", "zzc0721-mm")
    assert cm.expected_error("transformer", "a100", "training", "fp16") is None


def test_gemm_peak_rates_speak_only_where_no_model_or_op_source_has_the_architecture():
    """zzc0721's torch.mm peak rates time GEMMs alone: on Ampere LLMCompass's layer ops (fp16)
    stay the 16-bit evidence, in bf16 too, though zzc0721 has Ampere bf16 rows; on Ada, with
    no 16-bit op source, the GEMM rates are the evidence (too slow there: +32 % signed, the
    RTX 4090's six runs among them), where the nearest generation's LLMCompass rows spoke."""
    a100 = cm.expected_error("transformer", "a100", "inference", "bf16")
    assert a100.source == "llmcompass"
    ada = cm.expected_error("transformer", "rtx4090", "inference", "bf16")
    assert (ada.source, ada.architecture, ada.extrapolated) == ("zzc0721-mm", "ada", False)
    assert "rtx4090" in ada.gpus and ada.signed_median > 0.25
    # fp32: the whole-model source as before (no zzc0721 row enters an fp32 entry)
    assert cm.expected_error("transformer", "rtx4090", "inference").source == "neusight-e2e"


def test_llmcompass_entry_is_the_prefill_layer_ops_score():
    """validation.md: LLMCompass prefill layer ops 7.5 % median (leave-one-family-out)."""
    (e,) = generator.entries(generator.llmcompass_rows())
    assert e == _shipped(source="llmcompass")[0]
    assert round(100 * e["median"], 1) == 7.5 and e["rows"] == 10 and e["dtype"] == "fp16"


def test_no_evidence_for_devices_no_source_measured():
    """An AMD GPU: no source; a calibrated profile (this VM's CPU): its own validation run."""
    from pathlib import Path

    from costmodel.hardware import load_hardware

    assert cm.expected_error("transformer", "mi300x", "inference") is None
    assert "AMD" in accuracy.why_none(load_hardware("mi300x"))
    profile = Path(__file__).parents[1] / "validation/results/cpu-amd-epyc-1t-s4.toml"
    hw = load_hardware(str(profile))
    assert cm.expected_error("recurrence", hw, "inference") is None
    assert "calibrated profile" in accuracy.why_none(hw)


def test_bad_kind_or_mode_names_the_argument():
    with pytest.raises(ValueError, match="kind='cnn'"):
        cm.expected_error("cnn", "a100", "inference")
    with pytest.raises(ValueError, match="mode='decode'"):
        cm.expected_error("recurrence", "a100", "decode")
    with pytest.raises(ValueError, match="dtype"):
        cm.expected_error("recurrence", "a100", "inference", "fp23")
    with pytest.raises(ValueError, match="unknown hardware 'a1000'"):
        cm.expected_error("recurrence", "a1000", "inference")
    # a dtype no source timed: no evidence, not an error
    assert cm.expected_error("transformer", "h100", "inference", "fp8") is None


def test_compare_json_and_table_carry_the_evidence():
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "v100", "--format",
                     "json")
    assert code == 0
    ee = json.loads(out)["assumptions"]["expected_error"]
    assert ee["why_none"] is None
    assert ee["recurrence"]["inference"]["source"] == "deepbench-rnn"
    assert ee["recurrence"]["inference"]["command"].startswith("costmodel validate")
    assert ee["transformer"]["training"]["source"] == "neusight-e2e"
    code, table, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "v100")
    assert code == 0 and "time error, recurrences" in table and "deepbench-rnn" in table


def test_compare_shows_only_the_kinds_and_modes_of_its_rows():
    code, out, _ = run("compare", "--n", "64", "--d", "256", "--gpu", "a100", "--models", "lstm",
                     "--mode", "training", "--format", "json")
    ee = json.loads(out)["assumptions"]["expected_error"]
    assert code == 0 and "transformer" not in ee and "recurrence" in ee
    code, table, _ = run("compare", "--n", "64", "--d", "256", "--gpu", "a100", "--models",
                       "lstm", "--mode", "training")
    assert "training" in table and "inference 48" not in table


def test_decode_says_no_measurement_scores_it():
    code, out, _ = run("compare", "--n", "1024", "--d", "512", "--gpu", "h100", "--mode",
                     "decode", "--format", "json")
    assert code == 0
    assert "decode step" in json.loads(out)["assumptions"]["expected_error"]["why_none"]


def test_compare_with_a_host_profile_reports_the_host_bounded_entries(tmp_path):
    """--host puts the host bound on the recurrences: their evidence is the bounded column
    of the A100's own rows (KernelBench's, under the h200-cloud-vm preset)."""
    profile = tmp_path / "vm.toml"
    profile.write_text('name = "vm"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 1e13\n'
                       '[efficiency]\n[host]\nkernel_s = 10e-6\ncall_s = 1e-4\n'
                       'backward_call_s = 1e-3\n')
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "a100", "--host",
                       str(profile), "--format", "json")
    rec = json.loads(out)["assumptions"]["expected_error"]["recurrence"]
    assert code == 0 and rec["inference"]["host"] and rec["training"]["host"]
    assert rec["inference"]["source"] == "kernelbench-rnn"
    assert not rec["inference"]["extrapolated"]
    (shipped,) = _shipped(source="kernelbench-rnn", mode="inference", dtype="fp32", host=True,
                          architecture="ampere")
    assert rec["inference"]["median"] == shipped["median"]


def test_accuracy_command_lists_every_entry_and_one_gpus():
    code, out, _ = run("accuracy", "--format", "json")
    assert code == 0 and json.loads(out) == [dict(e) for e in accuracy.entries()]
    code, out, _ = run("accuracy")
    assert code == 0 and out.count("deepbench-rnn") == 10 and "signed median" in out
    code, out, _ = run("accuracy", "--gpu", "t4", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [(r["kind"], r["mode"]) for r in rows] == [
        ("recurrence", "inference"), ("recurrence", "training"),
        ("transformer", "inference"), ("transformer", "training")]
    # the same entries compare states for the T4
    for r in rows:
        e = cm.expected_error(r["kind"], "t4", r["mode"])
        assert r["evidence"] == e.as_dict()
    code, out, _ = run("accuracy", "--gpu", "a100", "--dtype", "fp16", "--format", "csv")
    import csv
    import io

    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == 4
    llm = cm.expected_error("transformer", "a100", "inference", "fp16")
    assert float(table[2]["median"]) == llm.median and table[2]["source"] == "llmcompass"
    # no 16-bit Transformer training rows: blank figures, the reason given
    assert table[3]["median"] == "" and table[3]["why_none"] == "no published measurement"


def test_accuracy_command_refuses_bad_input_with_one_line():
    for argv, words in ((("--gpu", "a1000"), "unknown hardware 'a1000'"),
                        (("--dtype", "bf16"), "--dtype applies with --gpu"),
                        (("--gpu", "a100", "--dtype", "fp8"), "fp8")):
        code, out, err = run("accuracy", *argv)
        assert code == 2 and words in err and out == "" and len(err.strip().splitlines()) == 1
    code, out, _ = run("accuracy", "--gpu", "mi300x", "--format", "markdown")
    assert code == 0 and out.count("no published measurements of AMD") == 4


def test_accuracy_figure_draws_the_lookup_per_generation(tmp_path):
    """Each bar's height is the median of the entry compare states for that generation (in
    %), hatched exactly where the entry stands in from another architecture or dtype."""
    from costmodel import plot_accuracy, plots

    fig = plots.plot_accuracy("fp32")
    grid = plot_accuracy.evidence_grid("fp32")
    bars = [p for p in fig.axes[0].patches]
    drawn = [e for e in (grid[(a, k, m)] for k, m, _ in plot_accuracy.SERIES
                         for a in plot_accuracy.REPRESENTATIVE) if e is not None]
    assert len(bars) == len(drawn) == 32  # fp32: each of 8 generations has all four (some borrowed)
    for bar, e in zip(bars, drawn):
        assert bar.get_height() == pytest.approx(100 * e.median)
        assert bool(bar.get_hatch()) == e.extrapolated
    code, _, _ = run("plot", "accuracy", "-o", str(tmp_path / "acc.png"))
    assert code == 0 and (tmp_path / "acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a dot per GPU of each pooled bar, at that GPU's own median
    dots = sorted(round(y, 6) for line in fig.axes[0].lines if line.get_marker() == "o"
                  for y in line.get_ydata())
    pooled = [g for e in drawn for g in accuracy.shares(e) if len(accuracy.shares(e)) > 1]
    assert dots == sorted(round(min(100 * g["median"], plot_accuracy.Y_MAX_PCT), 6)
                          for g in pooled) and len(dots) >= 10
    # bf16: no 16-bit Transformer training rows anywhere -> "none", no bar
    sixteen = plots.plot_accuracy("bf16")
    assert len(sixteen.axes[0].patches) == 24
    assert sum(t.get_text() == "none" for t in sixteen.axes[0].texts) == 8


def test_every_entry_splits_into_its_gpus():
    """by_gpu partitions an entry's rows: one share per GPU it names, rows adding up."""
    for e in accuracy.entries():
        assert [g["gpu"] for g in e["by_gpu"]] == e["gpus"]
        assert sum(g["rows"] for g in e["by_gpu"]) == e["rows"]
        if len(e["gpus"]) == 1:
            (g,) = e["by_gpu"]
            assert (g["median"], g["p90"], g["signed_median"]) == (
                e["median"], e["p90"], e["signed_median"])


def test_this_gpu_is_the_devices_own_rows_recomputed_from_the_source():
    """The A100's own KernelBench rows, scored here from the source (not from the file):
    compare's "on the a100 itself" figure."""
    from costmodel.reference import score

    f = score.scored("kernelbench-rnn")
    mine = f[f.gpu == "a100"]
    err = (mine.predicted_model_s / mine.measured_s - 1).to_numpy(float)
    own = cm.expected_error("recurrence", "a100", "inference").this_gpu
    assert own["source"] == "kernelbench-rnn" and own["gpu"] == "a100"
    assert own["rows"] == len(err) >= accuracy.MIN_OWN_ROWS
    assert own["median"] == pytest.approx(np.median(np.abs(err)), abs=1e-6)
    assert own["signed_median"] == pytest.approx(np.median(err), abs=1e-6)


def test_this_gpu_comes_from_the_source_with_most_of_the_devices_rows():
    # the Hopper entry is the H200's; the H100's own rows are KernelBench's
    e = cm.expected_error("recurrence", "h100", "inference")
    assert e.source == "h200-cudnn-rnn" and e.gpus == ("h200",)
    assert (e.this_gpu["source"], e.this_gpu["rows"]) == ("kernelbench-rnn", 16)
    # an entry that is all the device's own rows, one row, or no rows of it: nothing more
    assert cm.expected_error("recurrence", "h200", "inference").this_gpu is None
    assert cm.expected_error("recurrence", "v100", "inference").this_gpu is None
    assert cm.expected_error("recurrence", "a100", "training").this_gpu is None  # GNMT: 1 row
    assert cm.expected_error("recurrence", "a100-pcie-40gb", "inference").this_gpu is None


def test_compare_states_the_devices_own_rows():
    code, out, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "h100", "--format",
                       "json")
    rec = json.loads(out)["assumptions"]["expected_error"]["recurrence"]["inference"]
    assert code == 0 and rec["this_gpu"]["source"] == "kernelbench-rnn"
    code, table, _ = run("compare", "--n", "512", "--d", "768", "--gpu", "h100")
    own = rec["this_gpu"]
    words = " ".join(table.split())
    assert (f"on the h100 itself {100 * own['median']:.0f} / {100 * own['p90']:.0f}%, signed "
            f"{100 * own['signed_median']:+.0f}%, 16 rows of kernelbench-rnn") in words


def test_accuracy_by_gpu_lists_every_entrys_gpus():
    code, out, _ = run("accuracy", "--by-gpu", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == sum(len(e["by_gpu"]) for e in accuracy.entries())
    a100 = [r for r in rows if r["source"] == "kernelbench-rnn" and r["gpu"] == "a100"
            and r["stack"] == "pr62143" and not r["host"]]
    assert [r["median"] for r in a100] == [
        cm.expected_error("recurrence", "a100", "inference").this_gpu["median"]]
    code, out, err = run("accuracy", "--by-gpu", "--gpu", "a100")
    assert code == 2 and out == "" and "--by-gpu" in err and len(err.strip().splitlines()) == 1
