"""The HTML report: self-contained (nothing to load from the network) and holding the
comparison's numbers, formulas, figures and assumptions."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from costmodel.compare import compare
from costmodel.display import readable
from costmodel.report import html_report

#: Attributes through which a browser would load something.
LOADING = re.compile(r"""\b(?:src|href|xlink:href|action|data)\s*=\s*["']?\s*(?:https?:)?//""",
                     re.IGNORECASE)


@pytest.fixture(scope="module")
def page():
    return html_report(256, 512, "a100", batch=2)


def test_report_loads_nothing_from_the_network(page):
    assert not LOADING.search(page)
    assert "<script" not in page and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(?!#)", page)  # only url(#clip-path) in the page
    assert "<link" not in page  # no stylesheet or font by reference


def test_report_holds_table_figures_formulas_and_assumptions(page):
    result = compare(256, 512, "a100", batch=2)
    assert page.count("<svg") == 4  # memory, time, depth, roofline, inline
    assert "Training-step memory vs n" in page  # SVG text stays text
    for row in result.rows:
        assert f"<td>{row['model']}</td>" in page
    lstm = result.records["lstm"]
    assert readable(lstm.get("flops")) in page  # the formula, readable
    assert html.escape(result.assumptions["rnn_implementation"]) in page
    assert "A100" in page


def test_cli_report_writes_one_file(tmp_path):
    from costmodel.cli.main import main

    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as done:
        main(["report", "--n", "64", "--d", "256", "--models", "gru,transformer", "-o",
              str(out)])
    assert done.value.code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(tmp_path):
    script = Path(__file__).resolve().parent.parent / "tools" / "render_report.py"
    shot = tmp_path / "report.png"
    subprocess.run([sys.executable, str(script), "--n", "64", "--d", "256", "-o", str(shot)],
                   check=True, timeout=120)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000


def test_report_of_a_newer_family_has_every_figure():
    page = html_report(64, 256, "a100", models=("mamba",))  # the sweep covers mamba too
    assert page.count("<svg") == 4  # memory, time, depth and roofline
    assert "<td>mamba</td>" in page and page.count(">mamba</text>") >= 3


def test_report_says_how_far_to_trust_the_times_beside_them(page):
    from costmodel.display import expected_error_text

    said = compare(256, 512, "a100", batch=2).assumptions["expected_error"]
    trust = page.index("How far to trust the times")
    assert page.index("<h2>Comparison</h2>") < trust < page.index("<h2>Figures</h2>")
    assert html.escape(expected_error_text(said)) in page[trust:page.index("<h2>Figures")]
    assert said["recurrence"]["inference"]["this_gpu"]["gpu"] == "a100"  # its rows are in it
