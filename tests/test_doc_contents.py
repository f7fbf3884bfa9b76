"""tools/doc_contents.py: docs/validation.md's contents list is current, and its links are
the anchors GitHub gives the headings."""

from pathlib import Path

import pytest

from tests.toolload import load_tool

ROOT = Path(__file__).resolve().parent.parent
tool = load_tool("doc_contents.py")


def test_validation_md_contents_list_every_heading_and_is_current():
    text = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert tool.render(text) == text, "stale: python tools/doc_contents.py docs/validation.md"
    listed = text.split(tool.START, 1)[1].split(tool.END, 1)[0]
    assert listed.count("\n- [") + listed.count("\n  - [") == len(tool.headings(text)) >= 20


@pytest.mark.parametrize("title, slug", [
    ("GPU, measured: one named H200 (session 6, 2026-11-30)",
     "gpu-measured-one-named-h200-session-6-2026-11-30"),
    ("GPU, from published measurements: which cuDNN generation (the `--cudnn-stack` option)",
     "gpu-from-published-measurements-which-cudnn-generation-the---cudnn-stack-option"),
    ("cuDNN's PERSIST_STATIC_SMALL_H (PyTorch PR #62143)",
     "cudnns-persist_static_small_h-pytorch-pr-62143"),
])
def test_anchor_is_githubs(title, slug):
    assert tool.anchor(title, {}) == slug


def test_repeated_headings_get_numbered_anchors_and_fenced_lines_are_not_headings():
    seen = {}
    assert [tool.anchor("Tests", seen) for _ in range(3)] == ["tests", "tests-1", "tests-2"]
    text = f"# T\n{tool.START}\n{tool.END}\n## A\n```\n## not one\n```\n### B\n## A\n"
    assert tool.contents(text) == "- [A](#a)\n  - [B](#b)\n- [A](#a-1)"
    # an unlisted #### heading still takes its number, as on GitHub
    text = f"# T\n{tool.START}\n{tool.END}\n## A\n#### A\n## A\n"
    assert tool.contents(text) == "- [A](#a)\n- [A](#a-2)"
    with pytest.raises(ValueError, match="markers"):
        tool.render("# no list here\n")
