"""``costmodel accuracy``: how far costmodel's GPU times were from published measurements
(costmodel.accuracy): every shipped entry, or the ones ``compare`` states for one GPU."""

from __future__ import annotations

import click

from . import render
from .tables import wrapped_text

FORMATS = ("table", "json", "csv", "markdown", "latex")
DTYPES = ("fp32", "bf16", "fp16")
ALL_COLUMNS = ("source", "kind", "architecture", "mode", "dtype", "stack", "host", "median %",
               "p90 %", "signed %", "rows", "gpus")
BY_GPU_COLUMNS = ALL_COLUMNS[:7] + ("gpu", "median %", "p90 %", "signed %", "rows")
GPU_COLUMNS = ("kind", "mode", "median %", "p90 %", "signed %", "rows", "gpus", "source",
               "this GPU", "note")
NOTE = ("error = predicted / measured - 1: median and p90 of its absolute value, and its signed "
        "median (negative: the predictions ran too fast), over the rows of each source under "
        "its own protocol (leave-one-GPU-out where it fits anything). Sources and commands: "
        "docs/compare.md, 'How far to trust the times'; every figure: docs/validation.md.")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _signed(value: float) -> str:
    return f"{100 * value:+.1f}"


def _own(own: dict | None) -> str:
    """The device's own rows (``Evidence.this_gpu``) in one cell."""
    if not own:
        return "-"
    return (f"{_pct(own['median'])} / {_pct(own['p90'])}, {_signed(own['signed_median'])} "
            f"({own['rows']} rows, {own['source']})")


def _flat(row: dict) -> dict:
    """One CSV row. An entry: its keys, the per-GPU breakdown left to the JSON (``--by-gpu``
    lists it); ``--gpu``'s kind and mode: its evidence, ``this_gpu`` spread into columns."""
    if "evidence" not in row:
        return {k: v for k, v in row.items() if k != "by_gpu"}
    flat = {k: v for k, v in row.items() if k != "evidence"} | (row["evidence"] or {})
    own = flat.pop("this_gpu", None) or {}
    return flat | {f"this_gpu_{k}": own.get(k)
                   for k in ("gpu", "median", "p90", "signed_median", "rows", "source")}


def every_entry() -> tuple[list[str], list[list[str]], list[dict]]:
    from costmodel import accuracy

    raw = [dict(e) for e in accuracy.entries()]
    body = [[e["source"], e["kind"], e["architecture"], e["mode"], e["dtype"],
             e["stack"] or "-", "yes" if e["host"] else "no", _pct(e["median"]),
             _pct(e["p90"]), _signed(e["signed_median"]), str(e["rows"]),
             ", ".join(e["gpus"])] for e in raw]
    return list(ALL_COLUMNS), body, raw


def every_gpu() -> tuple[list[str], list[list[str]], list[dict]]:
    """Every entry split by GPU (``by_gpu``): one row per entry and GPU of its rows."""
    from costmodel import accuracy

    keys = ("source", "kind", "architecture", "mode", "dtype", "stack", "host")
    raw = [{**{k: e[k] for k in keys}, **g} for e in accuracy.entries()
           for g in e.get("by_gpu", ())]
    body = [[r["source"], r["kind"], r["architecture"], r["mode"], r["dtype"],
             r["stack"] or "-", "yes" if r["host"] else "no", r["gpu"], _pct(r["median"]),
             _pct(r["p90"]), _signed(r["signed_median"]), str(r["rows"])] for r in raw]
    return list(BY_GPU_COLUMNS), body, raw


def for_gpu(gpu: str, dtype: str) -> tuple[list[str], list[list[str]], list[dict], str]:
    """The entry ``compare`` states per kind and mode on ``gpu`` (the default cuDNN stack,
    no host bound), and why there is none where none applies."""
    from costmodel import accuracy
    from costmodel.hardware import load_hardware

    hw = load_hardware(gpu)
    why = accuracy.why_none(hw)
    body, raw = [], []
    for kind in accuracy.KINDS:
        for mode in accuracy.MODES:
            e = None if why else accuracy.expected_error(kind, hw, mode, dtype)
            if e is None:
                body.append([kind, mode, "-", "-", "-", "0", "-", "-", "-",
                             why or "no published measurement"])
                raw.append({"kind": kind, "mode": mode, "evidence": None,
                            "why_none": why or "no published measurement"})
                continue
            body.append([kind, mode, _pct(e.median), _pct(e.p90), _signed(e.signed_median),
                         str(e.rows), ", ".join(e.gpus), e.source, _own(e.this_gpu),
                         e.note or "-"])
            raw.append({"kind": kind, "mode": mode, "evidence": e.as_dict(), "why_none": None})
    return list(GPU_COLUMNS), body, raw, f"{hw.name} ({hw.architecture or 'no architecture'}), {dtype}"


@click.command("accuracy")
@click.option("--gpu", default=None,
              help="A catalogue GPU or device TOML: the entries `compare` states for it "
                   "[default: every shipped entry].")
@click.option("--dtype", type=click.Choice(DTYPES), default="fp32", show_default=True,
              help="With --gpu: the dtype of the times.")
@click.option("--by-gpu", is_flag=True,
              help="Every entry split by GPU: each GPU's own median, p90, signed median "
                   "and rows.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True)
def accuracy(gpu, dtype, by_gpu, fmt):
    """How far costmodel's GPU times were from published measurements: per source, kind
    (recurrence, transformer), architecture, mode, dtype, cuDNN stack and host bound, the
    median, p90 and signed median of the error. With --gpu, the entries `compare` states
    beside its times on that GPU (the nearest architecture measured where it has none).

    Example: costmodel accuracy --gpu t4
    """
    if by_gpu and gpu is not None:
        raise click.UsageError("--by-gpu lists every entry's GPUs; --gpu the entries of one "
                               "(use one or the other)")
    if gpu is None and dtype != "fp32":
        raise click.UsageError("--dtype applies with --gpu (without it every entry "
                               "is listed, each with its dtype)")
    if gpu is None:
        header, body, raw = every_gpu() if by_gpu else every_entry()
        title = ""
    else:
        header, body, raw, title = for_gpu(gpu, dtype)
    if fmt == "json":
        click.echo(render.to_json(raw), nl=False)
    elif fmt == "csv":  # one flat row per entry (--gpu: per kind and mode, blank where none)
        rows = [_flat(r) for r in raw]
        keys = list(dict.fromkeys(k for r in rows for k in r))
        click.echo(render.to_csv([{k: ", ".join(r[k]) if isinstance(r.get(k), list)
                                   else r.get(k) for k in keys} for r in rows]), nl=False)
    else:
        table = {"markdown": render.to_markdown, "latex": render.to_latex}.get(
            fmt, render.to_table)(header, body)
        if title and fmt == "table":
            click.echo(title)
        click.echo(table, nl=False)
        if fmt == "table":
            click.echo(wrapped_text(NOTE), nl=False)
