"""Rich display in Jupyter and pandas frames: what ``Cost._repr_html_`` / ``_repr_latex_``,
``Comparison._repr_html_`` / ``.to_frame()`` and ``Prediction._repr_html_`` / ``.to_frame()``
return. Pure functions of the records; numbers stay SI in the frames (seconds, bytes, FLOPs),
rendered units appear only in the HTML.
"""

from __future__ import annotations

import html

import pandas as pd
import sympy as sp

#: The quantities a record shows as formulas (the full list is ``costmodel.cost.FIELDS``).
SHOWN = ("params", "flops", "flops_training", "activation_bytes", "state_bytes",
         "depth_forward", "depth_backward")
#: Prefixes for rendering SI numbers in HTML only.
_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value, unit: str = "") -> str:
    """``value`` with an SI prefix (``1.5e9, "B"`` -> ``1.50 GB``), for display only."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    value = float(value)
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    if unit == "s" and 0 < abs(value) < 1:
        for scale, prefix in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {prefix}s"
    return f"{value:.3g} {unit}".strip()


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: What the symbols of a record's formulas stand for (size symbols are the user's own).
SYMBOLS = "symbols: n sequence length, batch, s bytes per element, k_opt optimizer states"


def cost_html(record) -> str:
    """A record as an HTML table: quantity, formula (readable), leading terms."""
    rows = [(q, readable(record.get(q)), readable(record.big_o(q))) for q in SHOWN]
    title = f"<p><b>{html.escape(record.name)}</b> ({SYMBOLS})</p>"
    return title + _table(("quantity", "formula", "order"), rows)


def cost_text(record) -> str:
    """A record as text, the ``repr`` a terminal shows: its name and the SHOWN formulas (the
    dataclass's own repr spells out every part and kernel, thousands of characters)."""
    width = max(map(len, SHOWN))
    lines = [f"  {q.ljust(width)}  {record.get(q)}" for q in SHOWN]
    return "\n".join([f"Cost {record.name}", f"  ({SYMBOLS})", *lines])


def readable(expr) -> str:
    """A formula as plain text for people: ``3132*batch*n**2`` -> ``3132·batch·n^2``."""
    return str(expr).replace("**", "^").replace("*", "·")


def cost_latex(record) -> str:
    """A record's formulas as one LaTeX ``aligned`` block."""
    lines = [rf"\text{{{q.replace('_', ' ')}}} &= {sp.latex(record.get(q))}" for q in SHOWN]
    return "$$\\begin{aligned}" + r" \\ ".join(lines) + "\\end{aligned}$$"


def comparison_frame(result) -> pd.DataFrame:
    """One row per model (index: model), the columns of ``compare --format json``'s rows."""
    return pd.DataFrame(list(result.rows)).set_index("model")


#: The columns a comparison shows in HTML, with their units.
_SHOWN_ROWS = (("params", ""), ("flops", "FLOP"), ("flops_training", "FLOP"),
               ("activation_bytes", "B"), ("inference_bytes", "B"), ("depth_forward", ""),
               ("time_forward_s", "s"), ("time_training_s", "s"), ("binding", ""),
               ("fraction_of_peak", ""))


def comparison_html(result) -> str:
    """The comparison as a notebook table: setup, one row per model, crossovers, assumptions."""
    head, tables = _comparison_parts(result)
    return (f"<p><b>compare</b> {html.escape(head)}</p>" + "".join(_table(*t) for t in tables)
            + assumptions_html(result.assumptions))


def comparison_text(result) -> str:
    """The comparison as text (its ``repr``): setup, one row per model, crossovers."""
    head, tables = _comparison_parts(result)
    return "\n\n".join([f"Comparison {head}", *(_text_table(*t) for t in tables)])


def _comparison_parts(result) -> tuple[str, list]:
    """The heading and the (header, rows) of the model and crossover tables."""
    s = result.setup
    head = (f"n={s.n}, d={s.d}, batch={s.batch}, layers={s.layers}, {s.dtype} on "
            f"{result.hardware.name}")
    rows = [(r["model"], *(_cell(r, k, unit) for k, unit in _SHOWN_ROWS)) for r in result.rows]
    tables = [(("model", *(k for k, _ in _SHOWN_ROWS)), rows)]
    if result.crossovers:
        tables.append((("model", "quantity", "crossover n", "method"),
                       [(c["model"], c["quantity"],
                         " / ".join(f"{n:,}" for n in c.get("all_n") or [c["n"]])
                         if c["n"] is not None else "never",
                         c["method"]) for c in result.crossovers]))
    return head, tables


def _text_table(header, rows) -> str:
    """Aligned text: the first column left, the others right."""
    cells = [[str(c) for c in row] for row in (header, *rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                           zip(row[1:], widths[1:])])
                     for row in cells)


def _cell(row: dict, key: str, unit: str) -> str:
    if key == "fraction_of_peak":
        return f"{100 * row[key]:.2g} %"
    return si(row[key], unit)


def assumptions_html(said: dict) -> str:
    """The assumptions as a definition list (attention: the kernel per mode)."""
    items = []
    for key, value in said.items():
        if key == "attention" and value:
            value = "; ".join(f"{mode}: {a['label']}" for mode, a in value.items())
        if key == "expected_error" and value:
            value = expected_error_text(value)
        items.append(f"<dt>{html.escape(key)}</dt><dd>{html.escape(str(value))}</dd>")
    return "<details><summary>assumptions</summary><dl>" + "".join(items) + "</dl></details>"


def expected_error_text(expected: dict) -> str:
    """compare's time-error evidence as sentences (costmodel.accuracy.describe), as the
    assumptions and the HTML report print it."""
    from costmodel import accuracy

    if expected.get("why_none"):
        return f"not known here ({expected['why_none']})"
    return " ".join(accuracy.describe(kind, expected[kind]) + "."
                    for kind in accuracy.KINDS if kind in expected)


def prediction_frame(prediction) -> pd.DataFrame:
    """One row per kernel: name, phase, count, seconds (per launch), total_s, share of the
    total, binding, implementation, flops and bytes (per launch)."""
    frame = pd.DataFrame([{**k.__dict__, "total_s": k.total_s} for k in prediction.kernels])
    if frame.empty:
        return frame
    frame["share"] = frame["total_s"] / frame["total_s"].sum()
    return frame[["name", "phase", "count", "seconds", "total_s", "share", "binding",
                  "implementation", "flops", "bytes"]]


def prediction_html(prediction) -> str:
    head, table = _prediction_parts(prediction)
    return f"<p><b>predict</b> {html.escape(head)}</p>" + _table(*table)


def prediction_text(prediction) -> str:
    """The prediction as text (its ``repr``): the phases, then one row per kernel."""
    head, table = _prediction_parts(prediction)
    return f"Prediction {head}\n" + _text_table(*table)


def _prediction_parts(prediction) -> tuple[str, tuple]:
    phases = ", ".join(f"{k} {si(v, 's')}" for k, v in prediction.phases.items())
    frame = prediction_frame(prediction)
    rows = [(r.name, r.phase, f"{r.count:g}", si(r.seconds, "s"), si(r.total_s, "s"),
             f"{100 * r.share:.1f} %", r.binding, r.implementation) for r in
            frame.itertuples()] if not frame.empty else []
    return (f"{prediction.gpu}, {prediction.mode}, {prediction.dtype}: {phases}",
            (("kernel", "phase", "count", "per launch", "total", "share", "binding",
              "implementation"), rows))
