"""Write (or check) the contents list of a long Markdown page: every ``##`` and ``###``
heading, linked by its GitHub anchor, between the page's ``<!-- contents -->`` markers.

    python tools/doc_contents.py docs/validation.md          # rewrite the list in place
    python tools/doc_contents.py --check docs/validation.md  # exit 1 if it is stale
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

START, END = "<!-- contents -->", "<!-- /contents -->"


def anchor(title: str, seen: dict[str, int]) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (letters, digits,
    spaces, hyphens and underscores kept), spaces to hyphens, a repeat suffixed -1, -2."""
    slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
    n = seen.get(slug, 0)
    seen[slug] = n + 1
    return slug if n == 0 else f"{slug}-{n}"


LISTED = (2, 3)  # the heading levels the list shows


def _every_heading(text: str) -> list[tuple[int, str]]:
    """(level, title) of every heading outside code fences and the list itself, in order."""
    head, _, rest = text.partition(START)
    body = head + (rest.split(END, 1)[-1] if END in rest else rest)
    out, fenced = [], False
    for line in body.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"(#{1,6}) (.+)", line)):
            out.append((len(m.group(1)), m.group(2).strip()))
    return out


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of the headings the list shows (``##`` and ``###``)."""
    return [h for h in _every_heading(text) if h[0] in LISTED]


def contents(text: str) -> str:
    """The list: one bullet per ``##`` / ``###`` heading, ``###`` indented under its ``##``;
    anchors numbered over every heading of the page, as GitHub numbers repeats."""
    seen: dict[str, int] = {}
    lines = []
    for level, title in _every_heading(text):
        slug = anchor(title, seen)
        if level in LISTED:
            plain = re.sub(r"`([^`]*)`", r"\1", title)
            lines.append(f"{'  ' * (level - 2)}- [{plain}](#{slug})")
    return "\n".join(lines)


def render(text: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{START}\n{contents(text)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        print("usage: python tools/doc_contents.py [--check] PAGE.md", file=sys.stderr)
        return 2
    path = Path(paths[0])
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if check:
        return 0 if new == text else 1
    path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
