"""The table of ``costmodel compare --mode prefill|decode`` (costmodel.decode.Serving)."""

from __future__ import annotations

from . import render
from .tables import NAMES, _cell, _ns, assumption_items, framed, tf32_items

#: (label, key, unit) per mode, in order; a count of None prints "unbounded".
LINES = {
    "prefill": (("time to first token", "time_s", "s"), ("prompt tokens/s", "tokens_per_s", "/s"),
                ("KV cache / state", "state_bytes", "B"), ("peak memory", "memory_bytes", "B"),
                ("largest batch", "max_batch", "count"),
                ("longest prompt", "max_context", "count"), ("  bound by", "binding", "text")),
    "decode": (("time per token", "time_s", "s"), ("tokens/s (batch)", "tokens_per_s", "/s"),
               ("KV cache / state", "state_bytes", "B"), ("peak memory", "memory_bytes", "B"),
               ("largest batch", "max_batch", "count"),
               ("longest context", "max_context", "count"), ("  bound by", "binding", "text")),
}
CROSSOVER_LABELS = (("state_bytes", "state"), ("memory_bytes", "peak memory"),
                    ("time_s", "time/token"))


def _value(value, unit, memory_known: bool = True) -> str:
    """A cell; a count of None is "unbounded", or "-" on a device whose memory is unknown (a
    CPU profile: nothing bounds it there, but nothing was measured either)."""
    if unit == "count":
        return f"{value:,}" if value is not None else "unbounded" if memory_known else "-"
    return _cell(value, unit)


def serving_table(result, fmt: str) -> str:
    setup, rows = result.setup, result.rows
    header = [""] + [NAMES[r["model"]] for r in rows]
    known = bool(result.hardware.memory_bytes)
    body = [[label] + [_value(r[key], unit, known) for r in rows]
            for label, key, unit in LINES[result.mode]]
    what = "prompt" if result.mode == "prefill" else "context"
    title = (f"{result.mode}: {what} n={setup.n}, d={setup.d}, batch={setup.batch}, "
             f"layers={setup.layers}, {setup.dtype}, {result.hardware.name}"
             + (", causal" if setup.causal else ""))
    items = [*assumption_items(result.assumptions, ("inference",)),
             *tf32_items(setup, result.hardware), result.assumptions["step"]]
    tables = [(header, body)]
    if result.crossovers:
        labels = CROSSOVER_LABELS if result.mode == "decode" else (("time_s", "TTFT"),)
        cross_header = [f"crossover {what}"] + [label for _, label in labels]
        cross_body = []
        for model in dict.fromkeys(c["model"] for c in result.crossovers):
            found = {c["quantity"]: c.get("all_context") or c["context"]
                     for c in result.crossovers if c["model"] == model}
            cross_body.append([NAMES[model]] + [_ns(found.get(q)) for q, _ in labels])
        tables.append((cross_header, cross_body))
    notes = {"decode": "crossover context: the shortest context from which the model is no "
                       "worse than\nthe Transformer ('never' = none up to 2^40 tokens).\n",
             "prefill": "crossover prompt: the prompt length where the times to first token "
                        "cross ('never':\nno sign change up to 2^20 tokens; 'a / b': they "
                        "cross at each).\n"}
    fits = (f"largest batch (at n={setup.n}), longest {what} (at batch={setup.batch}): the "
            f"most whose peak\nmemory fits the {result.hardware.name}'s "
            f"{render.si(result.hardware.memory_bytes, 'B')}.\n"
            if known else f"largest batch, longest {what}: '-', the device gives no "
                          "memory_bytes.\n")
    note = (notes[result.mode] if result.crossovers else "") + fits
    return framed(title, items, tables, fmt, note)
