"""KernelBench's 6-layer nn.LSTM / nn.GRU forwards on named GPUs (reference source
``kernelbench-rnn``): the shipped rows, their pricing and the CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest

import costmodel as cm
from costmodel.reference import kernelbench_rnn as kb
from tests.clirun import run


@pytest.fixture(scope="module")
def rows():
    return kb.rows()


def test_rows_are_the_problems_shapes_on_catalogue_gpus_with_provenance(rows):
    # 14 machine runs x 8 problems (35-42) on the catalogue's GPUs (the B200 run's 8 with
    # them), less the A10G rows: Modal's "A10G" run reported 3 problems on an "NVIDIA A10"
    # (kept, the catalogue's A10) and 5 on an "NVIDIA A10G" (left out: no catalogue entry)
    # off the main line (session 11): a GCP L4 (pull request #123), a cluster L40S (two runs)
    # and the same cluster's RTX A6000 (three runs), 6 x 8 more; the main line's RTX 3090 Ti
    # run (session 12, once the catalogue had the GPU), 8 more
    assert len(rows) == 13 * 8 + 8 + 3 + 6 * 8 + 8
    assert {"L4_GCP", "L40S_babel"} <= set(rows.machine)
    assert set(rows.gpu) == {"a10", "a100", "a100-sxm4-80gb", "a6000", "b200", "h100",
                             "h100-pcie", "l4", "l40s", "rtx3090ti", "t4"}
    assert set(rows[rows.machine == "A10G_modal"].problem_id) == {35, 37, 38}
    assert set(rows.family) == {"lstm", "gru"} and set(rows.dtype) == {"fp32"}
    for key, value in (("layers", 6), ("hidden", 256), ("input_size", 128), ("batch", 10),
                       ("timesteps", 512)):
        assert set(rows[key]) == {value}, key
    assert rows.bidirectional.sum() == 21 * 3 + 1  # 38, 41, 42 of 21 runs; the A10's 38
    assert all(re.fullmatch(r"[0-9a-f]{40}", c) for c in rows.commit)
    assert all(p.startswith("results/timing/") for p in rows.path_or_url)
    assert set(rows.repo) == {"ScalingIntelligence/KernelBench"}
    # every figure is a wall time of tens of milliseconds (a 6 x 512-step call)
    assert rows.measured_s.between(0.01, 0.2).all()


def test_a_row_is_priced_as_the_train_mode_forward_of_its_module(rows):
    f = kb.scored()
    r = f[(f.gpu == "a100") & (f.problem_id == 35)].iloc[0]
    want = cm.predict(cm.LSTM(128, 256, num_layers=6), "a100", n=512, batch=10,
                      mode="training").phases["forward"]
    assert r.predicted_model_s == pytest.approx(want, rel=1e-12)
    assert r.error_model == pytest.approx(want / r.measured_s - 1, rel=1e-12)
    # the default on an A100 is the cuDNN 8 stack; on the T4 DeepBench's
    t4 = f[f.gpu == "t4"]
    np.testing.assert_allclose(t4.predicted_model_s, t4.predicted_deepbench_s, rtol=1e-12)
    a100 = f[f.gpu == "a100"]
    np.testing.assert_allclose(a100.predicted_model_s, a100.predicted_pr62143_s, rtol=1e-12)


def test_bidirectional_pays_a_floor_per_direction_under_the_default(rows):
    """Measured, a bidirectional call takes 1.5-2.5x a unidirectional one per run (median
    2.0); on the GPUs of the cuDNN 8 stack the default now prices it above 1.5x (1.3x when
    both directions shared one floor)."""
    f = kb.scored()
    f = f[f.family == "lstm"]
    for gpu in ("a100", "h100-pcie", "l40s"):
        g = f[f.gpu == gpu]
        bi, uni = g[g.bidirectional], g[~g.bidirectional]
        measured = bi.measured_s.median() / uni.measured_s.median()
        assert 1.7 < measured < 2.4, gpu
        assert bi.predicted_model_s.iloc[0] / uni.predicted_model_s.iloc[0] > 1.5, gpu


def test_repeat_runs_on_one_machine_agree_and_machines_do_not(rows):
    """Lambda's H100 PCIe was timed four times (July 2025): the slowest of the four is within 3 % of the fastest at the
    median; the H100 SXM on two providers differs by 1.3x or more on every problem."""
    s = kb.spread()
    assert s[s.gpu == "h100-pcie"].ratio.median() < 1.03
    assert (s[s.gpu == "h100"].ratio > 1.3).all()


def test_validate_reference_prints_the_scores():
    code, out, err = run("validate", "--reference", "kernelbench-rnn")
    assert code == 0, err
    assert "kernelbench-rnn" in out and "l40s" in out


def test_importer_reads_each_distinct_run_once_with_its_commits_shapes(tmp_path):
    """tools/import_kernelbench_rnn.py on a two-commit repository: a run committed twice
    unchanged is one run; a device outside the catalogue is counted, not imported; the
    shapes and the torch pin come from the run's own commit."""
    import json
    import subprocess

    from tests.toolload import load_tool

    importer = load_tool("import_kernelbench_rnn.py")

    repo = tmp_path / "kb"
    (repo / "KernelBench" / "level3").mkdir(parents=True)
    (repo / "results" / "timing" / "A100_x").mkdir(parents=True)

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                            "GIT_AUTHOR_DATE": "2025-01-21T00:00:00",
                            "GIT_COMMITTER_DATE": "2025-01-21T00:00:00", "PATH": "/usr/bin:/bin"})

    git("init", "-q")
    (repo / "KernelBench" / "level3" / "38_LSTMBidirectional.py").write_text(
        "self.lstm = nn.LSTM(input_size, hidden_size, num_layers, bidirectional=True)\n"
        "batch_size = 10\nsequence_length = 512\ninput_size = 128\nhidden_size = 256\n"
        "num_layers = 6\n")
    (repo / "requirements.txt").write_text("torch==2.5.0\n")
    stats = {"mean": 58.4, "std": 0.1, "min": 58.0, "max": 59.0, "num_trials": 100}
    data = {"level3": {"38_LSTMBidirectional.py": {**stats, "hardware": "NVIDIA A100-SXM4-40GB"},
                       "39_GRU.py": {**stats, "hardware": "NVIDIA A10G"}}}
    (repo / "results" / "timing" / "A100_x" / "baseline_time_torch.json").write_text(
        json.dumps(data))
    git("add", "-A")
    git("commit", "-qm", "run")
    (repo / "README.md").write_text("unrelated\n")  # a second commit, the run unchanged
    git("add", "-A")
    git("commit", "-qm", "other")
    table, skipped = importer.rows(str(repo / ".git"))
    assert skipped == {"NVIDIA A10G": 1}
    (row,) = table
    row = dict(zip(importer.COLUMNS, row))
    assert (row["gpu"], row["cell"], row["bidirectional"], row["layers"], row["hidden"],
            row["batch"], row["timesteps"], row["mean_ms"], row["torch"]) == (
        "a100-sxm4-40gb", "lstm", True, 6, 256, 10, 512, 58.4, "2.5.0")
