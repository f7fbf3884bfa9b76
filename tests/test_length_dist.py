"""Length distributions (costmodel.length_dist): exact expectations against enumeration and
torch's FlopCounterMode, the Monte Carlo against the exact value, bad input, the CLI."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

import costmodel as cm
from costmodel import length_dist as ld
from costmodel.varlen import batch_counts, expected_padding
from clirun import run
from test_varlen import _meta_flops


def test_uniform_1_2_batch_2_golden():
    """LSTM(16, 16), lengths uniform on {1, 2}, batch 2. Per token the step and input GEMMs
    are 2*16*64 + 2*16*64 = 4096 matmul FLOPs (64 = 4 gates * 16). The longest of 2 draws is 1
    with probability (1/2)^2 = 1/4, else 2: E[max] = 1/4 + 2 * 3/4 = 7/4. Padded: E[max] * 2 *
    4096 = 14,336; packed: 2 * E[L] * 4096 = 2 * 3/2 * 4096 = 12,288; waste 2,048 = 1/7."""
    dist = ld.parse("uniform:1:2")
    assert ld.expected_max(dist, 2) == 1.75
    got = ld.expected_counts(cm.LSTM(16, 16), dist, 2)["matmul_flops"]
    assert got["padded"] == 14_336 and got["packed"] == 12_288
    assert got["waste_fraction"] == pytest.approx(1 / 7)


def test_expected_counts_equal_torch_over_every_batch():
    """uniform:1:3, batch 2: the 9 equally likely batches, each counted by FlopCounterMode on
    a PackedSequence (packed) and a padded tensor (meta device); their mean is the exact
    expectation."""
    d, h, lo, hi = 4, 6, 1, 3
    module = nn.GRU(d, h).to("meta")
    packed, padded = [], []
    for batch in itertools.product(range(lo, hi + 1), repeat=2):
        lengths = sorted(batch, reverse=True)
        packed.append(_meta_flops(module, pack_sequence(
            [torch.empty(L, d, device="meta") for L in lengths])))
        padded.append(_meta_flops(module, torch.empty(max(lengths), 2, d, device="meta")))
    got = ld.expected_counts(cm.GRU(d, h), ld.uniform(lo, hi), 2)["matmul_flops"]
    assert got["packed"] == pytest.approx(float(Fraction(sum(packed), len(packed))), rel=1e-12)
    assert got["padded"] == pytest.approx(float(Fraction(sum(padded), len(padded))), rel=1e-12)


@pytest.mark.parametrize("top,batch", [(10, 3), (7, 1), (50, 16)])
def test_expected_max_of_uniform_closed_form(top, batch):
    """E[max] = sum_{m >= 0} P(max > m) = top - sum_{m=1}^{top-1} (m/top)^batch."""
    exact = top - sum(Fraction(m, top) ** batch for m in range(1, top))
    assert ld.expected_max(ld.uniform(1, top), batch) == pytest.approx(float(exact), rel=1e-12)


def test_lognormal_cdf_and_median():
    """L = ceil(X): P(L <= 200) = P(X <= 200) = 1/2 at median 200; the dropped tail <= 1e-12."""
    dist = ld.parse("lognormal:200:0.8")
    cdf = np.cumsum(dist.pmf)
    assert cdf[dist.support == 200][0] == pytest.approx(0.5, abs=1e-9)
    assert 0 <= dist.truncated_mass <= ld.TAIL_MASS
    # P(X <= 100) = Phi(ln(1/2) / 0.8)
    phi = 0.5 * math.erfc(-math.log(0.5) / 0.8 / math.sqrt(2))
    assert cdf[dist.support == 100][0] == pytest.approx(phi, abs=1e-9)


def test_monte_carlo_agrees_with_the_exact_expectation():
    """The seeded draws' mean count is within 4 standard errors of the exact expectation."""
    record, dist, batch = cm.LSTM(16, 16), ld.parse("lognormal:50:0.7"), 8
    exact = ld.expected_counts(record, dist, batch)["flops"]
    padded, packed = batch_counts(record, ld.draw(dist, batch, 4000, seed=3))["flops"]
    mc = ld.sampled(padded, packed)
    assert abs(mc["padded"] - exact["padded"]) < 4 * mc["padded_stderr"]
    assert abs(mc["packed"] - exact["packed"]) < 4 * mc["packed_stderr"]


def test_bucketing_sorts_pools_and_cuts_waste():
    dist, batch = ld.parse("uniform:1:100"), 4
    random, sorted_ = (ld.draw(dist, batch, 200, 0, bucketed=b) for b in (False, True))
    assert sorted(random.ravel()) == sorted(sorted_.ravel())  # the same draws, regrouped
    pool = sorted_[:ld.BUCKET_BATCHES].ravel()
    assert np.all(np.diff(pool) >= 0)
    out = expected_padding(cm.LSTM(8, 8), dist, batch, samples=200, seed=0)
    assert out["bucketed"]["counts"]["flops"]["waste_fraction"] < \
        out["counts"]["flops"]["waste_fraction"]
    assert out["monte_carlo"]["samples"] == 200 and out["monte_carlo"]["seed"] == 0


def test_observed_lengths_from_a_file_text():
    assert ld.read_lengths("3\n\n5\n3\n") == (3, 5, 3)
    assert ld.read_lengths("id,len\na,4\nb,9\n", "len") == (4, 9)
    dist = ld.observed((3, 5, 3))
    assert dist.support.tolist() == [3, 5] and dist.pmf.tolist() == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.parametrize("call,word", [
    (lambda: ld.parse("lognormal:0:1"), "lengths_dist"),
    (lambda: ld.parse("gamma:1:2"), "lengths_dist"),
    (lambda: ld.parse("uniform:5:2"), "LO <= HI"),
    (lambda: ld.parse("uniform:0:2"), "lengths_dist"),
    (lambda: ld.parse("lognormal:512:3"), "quantile"),
    (lambda: ld.max_pmf(ld.uniform(1, 2), 0), "batch=0"),
    (lambda: ld.draw(ld.uniform(1, 2), 2, samples=0), "samples=0"),
    (lambda: ld.draw(ld.uniform(1, 2), 2, seed=-1), "seed=-1"),
    (lambda: ld.read_lengths("4\n0\n"), "line 2"),
    (lambda: ld.read_lengths(""), "no lengths"),
    (lambda: ld.read_lengths("a,b\n1,2\n", "c"), "no column 'c'"),
])
def test_bad_input_names_the_argument(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize("argv,word", [
    (["--lengths-dist", "lognormal:200"], "--lengths-dist='lognormal:200' must be"),
    (["--lengths-dist", "uniform:5:2", "--batch", "2"], "--lengths-dist='uniform:5:2' must be"),
    (["--lengths-dist", "uniform:1:9", "--batch", "0"], "--batch=0 must be"),
    (["--lengths-dist", "uniform:1:9"], "--batch is required"),
    (["--lengths", "4,0"], "lengths[1]=0"),
    (["--lengths", ","], "an empty item"),
    (["--lengths", "4", "--lengths-dist", "uniform:1:9"], "exactly one"),
    (["--lengths", "4,x"], "lengths[1]='x'"),
])
def test_cli_bad_input_one_line_exit_2_nothing_written(argv, word):
    code, out, err = run("padding", *argv, "--d", "16", "--models", "lstm")
    assert code == 2 and not out and word in err and err.count("\n") == 1
    assert "lengths_dist" not in err  # the CLI names its option, not the keyword


def test_cli_distribution_json_equals_the_library(tmp_path):
    path = tmp_path / "lengths.csv"
    path.write_text("id,tokens\na,12\nb,40\nc,7\n")
    code, out, _ = run("padding", "--lengths-file", str(path), "--column", "tokens",
                       "--batch", "2", "--d", "16", "--models", "lstm", "--samples", "50",
                       "--seed", "5", "--format", "json")
    assert code == 0
    got = json.loads(out)
    want = expected_padding(cm.LSTM(16, 16), ld.observed((12, 40, 7)), 2, samples=50, seed=5)
    assert got["models"]["lstm"] == json.loads(json.dumps(want))
    assert got["batch"] == 2 and got["support_max"] == 40


def test_report_takes_one_batch_or_one_distribution():
    from costmodel.varlen import report

    records = {"lstm": cm.LSTM(8, 8)}
    with pytest.raises(ValueError, match="one of lengths= .* or dist="):
        report(records)
    with pytest.raises(ValueError, match="one of lengths= .* or dist="):
        report(records, lengths=[3], dist=ld.uniform(1, 2), batch=2)
    one = report(records, lengths=[3, 1])
    assert one["models"]["lstm"]["flops"]["waste_fraction"] > 0 and "gpu" not in one
