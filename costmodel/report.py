"""One self-contained HTML page to hand to a colleague: the comparison, the formulas, the
figures (inline SVG) and the assumptions. Nothing is loaded from the network: no scripts, no
fonts, no stylesheets from elsewhere, no images by URL.
"""

from __future__ import annotations

import html

from costmodel.compare import compare
from costmodel.display import comparison_html, cost_html
from costmodel.plot_memory import plot_memory
from costmodel.plot_roofline import plot_roofline
from costmodel.plots import plot_depth, plot_time, to_bytes

#: The figures' sequence lengths: 16, 32, ... up to this many times the report's n.
N_SPAN = 16
N_FIRST = 16
STYLE = """body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;
padding:0 1.5em;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:12px;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;white-space:nowrap}
h2{border-bottom:1px solid #ddd;margin-top:1.6em} figure{margin:1em 0}
dt{font-weight:bold} dd{margin:0 0 .4em 1.5em} .small{color:#666;font-size:12px}"""


def _svg(fig) -> str:
    """The figure as inline SVG (the XML prolog and DOCTYPE dropped)."""
    text = to_bytes(fig, "svg").decode("utf-8")
    text = text[text.index("<svg"):]
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if start >= 0 and end > start:  # RDF names (URIs, never fetched): dropped all the same
        text = text[:start] + text[end + len("</metadata>"):]
    return text


def _geometric(first: int, last: int) -> list[int]:
    out = [first]
    while out[-1] * 2 <= last:
        out.append(out[-1] * 2)
    return out


def html_report(n: int, d: int, gpu="a100", **options) -> str:
    """The report of ``compare(n, d, gpu, **options)`` as one HTML document (a string)."""
    result = compare(n, d, gpu, **options)
    setup, hw = result.setup, result.hardware
    common = {k: v for k, v in options.items() if k not in ("attention",)}
    swept = {**options, "models": setup.models}  # the sweep covers every model compare does
    ns = _geometric(N_FIRST, max(N_SPAN * setup.n, N_FIRST * 2))
    figures = [("Memory of a training step vs sequence length",
                plot_memory(ns, setup.d, hw, **common))]
    if swept["models"]:
        figures += [("Inference time vs sequence length",
                     plot_time(ns, hw, n=setup.n, d=setup.d, **swept)),
                    ("Sequential depth vs sequence length",
                     plot_depth(ns, hw, n=setup.n, d=setup.d, **swept))]
    figures.append((f"Roofline at n={setup.n}", plot_roofline(setup.n, setup.d, hw, **options)))
    formulas = "".join(f"<h3>{html.escape(name)}</h3>{cost_html(record)}"
                       for name, record in result.records.items())
    title = f"costmodel report: n={setup.n}, d={setup.d}, batch={setup.batch}, " \
            f"{setup.dtype} on {hw.name}"
    body = [f"<h1>{html.escape(title)}</h1>",
            "<p class=small>Exact formulas (sympy) evaluated at the configuration; time from "
            "the roofline with the implementation models (cuDNN RNNs, PyTorch SDPA). SI units: "
            "FLOP, bytes (B), seconds.</p>",
            "<h2>Comparison</h2>", comparison_html(result), _trust(result.assumptions),
            "<h2>Figures</h2>",
            *(f"<figure>{_svg(fig)}<figcaption>{html.escape(cap)}</figcaption></figure>"
              for cap, fig in figures),
            "<h2>Formulas</h2>", formulas,
            "<h2>Assumptions</h2>", _assumption_list(result.assumptions)]
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def _trust(said: dict) -> str:
    """How far to trust the times, beside them (the same sentences as the assumptions'
    ``expected_error``); nothing where the comparison has no time rows."""
    from costmodel.display import expected_error_text

    expected = said.get("expected_error")
    if not expected:
        return ""
    return ("<p class=small><b>How far to trust the times.</b> "
            f"{html.escape(expected_error_text(expected))}</p>")


def _assumption_list(said: dict) -> str:
    from costmodel.display import assumptions_html

    return assumptions_html(said).replace("<details>", "<details open>")
