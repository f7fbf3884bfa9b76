"""Verdicts rendered: rows, table, json, csv, markdown, and the generated docs/claims.md."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from costmodel.claims.evaluators_measured import describe
from costmodel.claims.verdicts import LABELS, STATUSES, Verdict, check_claims, show, show_claimed
from costmodel.claims.vocabulary import FORMATS

COLUMNS = ("id", "doc", "line", "quantity", "quote", "claimed", "computed", "verdict",
           "convention", "factor", "reason", "contradicts", "measure", "evaluator")
_REGENERATE = ('python -c "from pathlib import Path; from costmodel.claims.report import '
               "render_report; Path('docs/claims.md').write_text(render_report())\"")


def row(v: Verdict) -> dict:
    c = v.claim
    return {"id": c.id, "doc": c.doc, "line": c.line, "quantity": c.quantity, "quote": c.quote,
            "claimed": show_claimed(c), "computed": show(v.computed, c.unit),
            "verdict": v.status, "convention": v.convention,
            "factor": None if v.factor is None else float(f"{v.factor:.4g}"),
            "reason": v.reason, "contradicts": list(c.contradicts), "measure": c.measure,
            "evaluator": c.evaluator}


def render(results: list[Verdict], fmt: str) -> str:
    """``results`` as ``fmt``: table (aligned text), json, csv or markdown."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
    rows = [row(v) for v in results]
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "contradicts": " ".join(r["contradicts"])} for r in rows)
        return out.getvalue()
    if fmt == "markdown":
        return _markdown_rows(results)
    return _table(rows)


#: The table's quote line, under its claim's verdict, is cut to a terminal's 80 columns.
QUOTE_WIDTH = 80


def _table(rows: list[dict]) -> str:
    """One aligned line per claim and, under it, what the document says (the reasons are in
    the other formats: a table of 345 claims stays readable)."""
    keys = ("id", "verdict", "claimed", "computed", "convention")
    width = {k: max([len(k)] + [len(str(r[k])) for r in rows]) for k in keys}
    width["convention"] = min(width["convention"], 48)
    lines = ["  ".join(k.ljust(width[k]) for k in keys)]
    for r in rows:
        lines.append("  ".join(str(r[k])[:width[k]].ljust(width[k]) for k in keys))
        indent = width["id"] + 2  # the quote starts under the verdict
        lines.append(" " * indent + _cut(f'"{r["quote"]}"', QUOTE_WIDTH - indent))
    lines.append("the reason for each verdict: --format markdown or json (docs/claims.md)")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown_rows(results: list[Verdict]) -> str:
    head = "| id | line | quote | claimed | computed | verdict | reason |\n" + "|---" * 7 + "|"
    body = []
    for v in results:
        r = row(v)
        verdict = LABELS[v.status] + (f" ({v.convention})" if v.convention else "") + \
            (f", factor {r['factor']}" if r["factor"] is not None else "")
        body.append("| " + " | ".join(_cell(x) for x in (
            r["id"], r["line"], r["quote"], r["claimed"], r["computed"], verdict,
            r["reason"] + (f"; contradicts {', '.join(r['contradicts'])}" if r["contradicts"]
                           else ""))) + " |")
    return "\n".join([head, *body]) + "\n"


def _summary(results: list[Verdict]) -> list[str]:
    docs = sorted({v.claim.doc for v in results})
    counts = Counter((v.claim.doc, v.status) for v in results)
    lines = ["| document | claims | " + " | ".join(LABELS[s] for s in STATUSES) + " |",
             "|---|---" + "|---" * len(STATUSES) + "|"]
    for d in docs + ["all"]:
        mine = [v for v in results if d in ("all", v.claim.doc)]
        cells = [str(sum(counts[(x, s)] for x in docs if d in ("all", x))) for s in STATUSES]
        lines.append(f"| {d} | {len(mine)} | " + " | ".join(cells) + " |")
    return lines


def _contradictions(results: list[Verdict]) -> list[str]:
    by_id = {v.claim.id: v.claim for v in results}
    pairs = sorted({tuple(sorted((c.id, o))) for c in by_id.values() for o in c.contradicts})
    lines = ["| claim | says | contradicts | which says |", "|---|---|---|---|"]
    for a, b in pairs:
        ca, cb = by_id[a], by_id[b]
        lines.append(f"| {a} | {_cell(ca.quote)} | {b} | {_cell(cb.quote)} |")
    return lines


def render_report() -> str:
    """docs/claims.md: summary per document and verdict, contradictions, every claim."""
    results = check_claims()
    out = ["# The documents' numbers, checked", "",
           f"<!-- Generated by costmodel.claims.report.render_report; do not edit. Regenerate: "
           f"{_REGENERATE} -->", "",
           "Every quantitative claim of the five seed documents, recomputed with costmodel "
           "(ledger: `costmodel/data/claims/*.toml`; evaluators: `costmodel/claims/`). "
           "Verdicts: *holds*; *holds under a convention* (named); *off* (with the factor "
           "claimed / computed and the likely cause); *measured* (times, utilizations, "
           "speedups and memory savings checked against the recorded benchmark runs listed "
           "under Measurements: whether the claim holds on what was measured, and for a claim "
           "about a GPU costmodel's roofline prediction for it, a prediction, not a "
           "measurement); *not computable* (with the reason: literature results, judgements, "
           "and measurements not recorded yet, each naming its benchmark).", "",
           "Tolerances by how the document wrote a number: exact = to the digits written, "
           "rounded or truncated (131 for 131.50 holds, its reason says truncated); "
           "≈ / about = 10 %; a power of ten = the nearest power (a factor √10); a range = "
           "inside it. An arithmetic claim is checked on the document's own stated inputs; "
           "each input is checked against the model where it is stated. MB means 10^6 bytes "
           "unless a verdict names MiB.", "", "## Summary", "", *_summary(results), "",
           "## Contradictions", "", "Claims that cannot all stand, within a document or "
           "between documents.", "", *_contradictions(results), "",
           "## Measurements", "", ("The benchmark runs the *measured* verdicts read "
           "(`costmodel/data/claims/measurements.json`, written by `costmodel measure-claims`; "
           "peak = the machine's measured best large-matmul FLOP/s)."), "", *describe(), ""]
    for doc in sorted({v.claim.doc for v in results}):
        mine = [v for v in results if v.claim.doc == doc]
        out += [f"## {doc}", "", _markdown_rows(mine)]
    return "\n".join(out)
