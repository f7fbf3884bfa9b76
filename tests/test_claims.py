"""The claims ledger: schema, every evaluator runs, no claim skipped, golden verdicts, the
generated docs/claims.md, and the ``claims`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from costmodel.claims import check_claims, load
from costmodel.claims.evaluators import REGISTRY
from costmodel.claims.ledger import QUANTITIES, UNITS, WRITTEN, parse
from costmodel.claims.report import render_report
from costmodel.claims.verdicts import TRUNCATED
from costmodel.cli.claims import claims as claims_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results():
    return {v.claim.id: v for v in check_claims()}


def test_ledger_parses_and_passes_its_schema():
    claims = load()
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids))
    for c in claims:
        assert c.evaluator in REGISTRY and c.quantity in QUANTITIES
        assert c.written in WRITTEN and c.unit in UNITS
        assert isinstance(c.line, int) and c.quote and c.doc.startswith(c.id.split("-")[0])
        assert not set(c.params) & set(c.inferred)
        assert not c.inferred or c.inferred_reason


def test_schema_errors_name_the_claim():
    bad = 'doc = "009_x.txt"\n[[claim]]\nid = "009-001"\nline = 1\nquote = "q"\n' \
          'quantity = "flops"\nclaimed = "ten"\nwritten = "exact"\nevaluator = "sum"\n'
    with pytest.raises(ValueError, match="009-001"):
        parse(bad, "bad.toml")
    with pytest.raises(ValueError, match="quantity"):
        parse(bad.replace('"flops"', '"bogus"'), "bad.toml")


def test_every_claim_gets_exactly_one_verdict(results):
    # no claim silently skipped: one verdict per ledger entry, each with a reason or a value
    assert len(results) == len(load())
    for v in results.values():
        assert v.status in ("holds", "convention", "off", "measured", "not_computable")
        assert v.reason or v.computed is not None
        if v.status == "convention":
            assert v.convention
        if v.status == "off":
            assert v.computed is not None


@pytest.mark.parametrize("cid, status, convention", [
    # W_hh of RNN(768, 768): 768 * 768 = 589,824
    ("002-011", "holds", ""),
    # RNN(128, 256) + Linear(256, 10000): 256*128 + 256*256 + 2*256 + 10000*256 + 10000
    # = 32,768 + 65,536 + 512 + 2,560,000 + 10,000 = 2,668,816 (two hidden biases, PyTorch)
    ("002-059", "holds", ""),
    # LSTM(512, 512): 4*512*(512+512) = 2,097,152 weights; + 4*512 = 2,099,200 with one bias
    # vector (the document); PyTorch's b_ih and b_hh give 2,101,248
    ("002-070", "convention", "one bias vector per gate (textbook cell, Keras LSTM)"),
    # LSTM(512, 512), n = 512: 512 * 2 * 4*512*1024 = 2,147,483,648 = 2.15 GFLOPs
    ("002-071", "holds", ""),
    # 0.95^100 = exp(100 * ln 0.95) = 0.005921 ~ 0.006
    ("002-002", "holds", ""),
    # 0.8^161: 161 * log10(0.8) = -15.60 -> 2.5e-16, nearest power 1e-16, not 1e-15 (x4)
    ("000-046", "off", ""),
    # 32 * 12 heads * 512^2 * 4 B = 402,653,184 B = 384 MiB (402.7 MB decimal)
    ("002-037", "convention", "MiB: 1 MB = 2^20 bytes"),
    # attention of a d=768 layer at n=512: 4*2*512*768^2 + 2*2*512^2*768 = 3.22 GFLOPs,
    # the document's 12.9 is 4.0x that
    ("002-019", "off", ""),
    # 0.5^t in float32 with subnormals is exactly 0 from t = 150 (2^-150 rounds to 0);
    # below the smallest normal 2^-126 from t = 127: "about 130" fits flush-to-zero
    ("002-016", "convention", "flush-to-zero: below the fp32 smallest normal 1.18e-38"),
    # n where 2*h*n (h and c) = heads*n^2: n = 2*768/12 = 128
    ("002-091", "holds", ""),
    # 6,000 states x 4 B = 24 KB only for hidden size 1; at hidden 256: 6,000*256*4 = 6.1 MB
    ("000-064", "off", ""),
    # 2 stacked bidirectional GRU layers run one after the other: 2 * 161 = 322 steps, not 161
    ("000-015", "off", ""),
])
def test_golden_verdicts(results, cid, status, convention):
    v = results[cid]
    assert (v.status, v.convention) == (status, convention), v.reason


def test_a_figure_truncated_to_its_digits_holds_and_says_so(results):
    # 1.05^100 = 131.501...: "a factor of 131" is its truncation (rounding would give 132)
    v = results["002-008"]
    assert v.status == "holds" and v.computed == pytest.approx(1.05 ** 100)
    assert v.reason.startswith(TRUNCATED)


@pytest.mark.parametrize("claimed, written, computed, verdict", [
    (131, "exact", 1.05 ** 100, "cut"),     # 131.50: truncated to 131
    (131, "exact", 131.4, "rounded"),       # rounds to 131: no truncation needed
    (131, "exact", 130.4, "off"),           # below the rounding interval [130.5, 131.5]
    (3, "exact", 4, "off"),                 # the next unit is never a truncation
    (-131, "exact", -(1.05 ** 100), "cut"),  # towards zero for a negative figure
    (-3, "exact", -4, "off"),
    (37_000, "exact", 37_900, "cut"),       # two significant digits: 37 thousand
    (37_000, "exact", 38_000, "off"),
    ((5, 30), "range", (5.12, 30.72), "cut"),  # a span: its far end truncated
    ((5, 30), "range", (5.12, 31.0), "off"),
    (131, "approx", 150, "off"),            # approx keeps its 10 %: no truncation
])
def test_truncation_admits_less_than_one_unit_away_from_zero(claimed, written, computed,
                                                             verdict):
    from dataclasses import replace

    from costmodel.claims.evaluators import Outcome
    from costmodel.claims.verdicts import judge

    claim = replace(next(c for c in load() if c.id == "002-008"), claimed=claimed,
                    written=written)
    got = judge(claim, Outcome(value=computed, span=isinstance(computed, tuple)))
    assert got.status == ("off" if verdict == "off" else "holds"), got.reason
    assert got.reason.startswith(TRUNCATED) == (verdict == "cut")


def test_golden_factors(results):
    # 12.9 / 3.2212 = 4.005 (attention FLOPs, 002-019)
    assert results["002-019"].factor == pytest.approx(12.9e9 / 3_221_225_472)
    # 24 KB / (6,000 * 256 * 4 B) = 1/256 (000-064)
    assert results["000-064"].factor == pytest.approx(24e3 / (6000 * 256 * 4))


def test_docs_claims_md_is_not_stale():
    committed = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    assert committed == render_report(), "docs/claims.md is stale: regenerate (see its header)"


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_cli_formats(fmt):
    out = CliRunner().invoke(claims_command, ["--doc", "002", "--format", fmt])
    assert out.exit_code == 0, out.output
    assert "002-011" in out.output


def test_cli_filters_by_verdict():
    out = CliRunner().invoke(claims_command, ["--doc", "002", "--verdict", "off",
                                              "--format", "json"])
    rows = json.loads(out.output)
    assert rows and {r["verdict"] for r in rows} == {"off"}


@pytest.mark.parametrize("args, word", [(["--format", "yaml"], "--format"),
                                        (["--verdict", "maybe"], "--verdict"),
                                        (["--doc", "999"], "--doc")])
def test_cli_bad_options_exit_2_with_one_line(args, word):
    out = CliRunner().invoke(claims_command, args)
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in out.output


@pytest.mark.parametrize("doc", ["002", "2", "002_751913e9d9a96834", "002_751913e9d9a96834.txt"])
def test_doc_is_chosen_by_name_stem_or_number(doc):
    """--doc takes the file name, its stem, or its number ("002", or "2" as typed)."""
    out = CliRunner().invoke(claims_command, ["--doc", doc, "--format", "csv"])
    assert out.exit_code == 0, out.output
    ids = [line.split(",")[0] for line in out.output.splitlines()[1:] if line]
    assert ids and all(i.startswith("002-") for i in ids)
