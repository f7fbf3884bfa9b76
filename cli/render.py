"""Rendering for the CLI: human units for tables, raw SI numbers for machine formats."""

from __future__ import annotations

import csv
import io
import json
import math

#: (threshold, divisor, suffix) from largest to smallest; SI prefixes (MB = 10**6 bytes).
_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


def si(value: float, unit: str, digits: int = 3) -> str:
    """``si(4.7e6, "B") == "4.7 MB"``; seconds go down to ms and us."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if abs(value) >= scale or suffix == "ns":
                return f"{value / scale:.{digits}g} {suffix}"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale or prefix == "":
            return f"{value / scale:.{digits}g} {prefix}{unit}".rstrip()
    return str(value)


def wrote(path) -> None:
    """Tell stderr which file was written; nothing for ``-``, standard output (the result)."""
    import click

    if str(path) != "-":
        click.echo(f"wrote {path}", err=True)


def ratio(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.3g}x"


def to_json(data) -> str:
    return json.dumps(data, indent=2, default=_plain) + "\n"


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def to_latex(header: list[str], body: list[list[str]]) -> str:
    def esc(text: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                     ("#", r"\#")):
            text = text.replace(a, b)
        return text

    spec = "l" + "r" * (len(header) - 1)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\hline",
             " & ".join(esc(h) for h in header) + r" \\", r"\hline"]
    lines += [" & ".join(esc(c) for c in row) + r" \\" for row in body]
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def to_table(header: list[str], body: list[list[str]], width: int = 80) -> str:
    """Fixed-width text: first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
