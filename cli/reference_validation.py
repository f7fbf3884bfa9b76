"""``costmodel validate --reference NAME|all``: predicted vs measured on published GPU data.

Needs no torch: the rows are shipped (costmodel/data/reference), the models are the library's.
Parse -> :mod:`costmodel.reference.score` -> render (table, JSON or CSV; optional plot).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pandas as pd

from . import render

FORMATS = ("table", "json", "csv")


def run(reference: str, leave_one_gpu_out: bool, fmt: str, output: Path | None,
        plot: Path | None) -> None:
    from costmodel.files import STDOUT, open_output, plan, write_atomic
    from costmodel.plots import figure_format
    from costmodel.reference import names, score

    # every output checked before anything is written: a bad --plot must not leave -o
    # replaced (nothing half-done on disk), and its suffix must name the format it gets
    for path in (output, plot):
        if path is not None:
            plan(path)
    if plot is not None:
        try:
            figure_format(plot)
        except ValueError as err:
            raise ValueError(f"--plot: {err}") from None
    try:
        frames = [score.scored(name, leave_one_gpu_out) for name in names(reference)]
    except ValueError as err:
        click.echo(f"costmodel: error: {err}", err=True)
        sys.exit(2)
    frame = pd.concat(frames, ignore_index=True)
    summary = score.summary(frame)
    text = _render(frame, summary, fmt, reference, leave_one_gpu_out)
    if output is None or str(output) == STDOUT:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text)
        click.echo(f"wrote {output}", err=True)
    if plot is not None:
        with open_output(plot, binary=True) as handle:
            draw(frame, handle, reference, leave_one_gpu_out)
        render.wrote(plot)


def _render(frame, summary, fmt: str, reference: str, logo: bool) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":  # a figure a source does not have is null (strict JSON has no NaN)
        def records(f):
            return f.astype(object).where(f.notna(), None).to_dict(orient="records")
        return json.dumps({"reference": reference, "leave_one_gpu_out": logo,
                           "summary": records(summary), "rows": records(frame)}, indent=1,
                          default=str, allow_nan=False) + "\n"
    shown = summary.copy()
    for column in shown.columns:
        if column.endswith(("_median", "_p90", "_worst")):
            shown[column] = (100 * shown[column]).round(1)
    return header(reference, logo, "error_roofline" in frame.columns) \
        + shown.to_string(index=False, na_rep="-") + "\n"  # "-": a model a source lacks


#: What the columns of the generic protocol (costmodel.reference.score) are.
GENERIC_COLUMNS = ("model = implementation model, roofline = datasheet roofline, priors = "
                   "generic priors")


def header(reference: str, logo: bool, generic_columns: bool = True) -> str:
    """The table's header: what is scored and by which protocol, each source's own (its
    SCORE_NOTE: leave-one-config-out, leave-one-shape-out, nothing fitted) where it has one,
    leave-one-GPU-out (or in-sample) for the others; ``generic_columns``: the frame has the
    generic protocol's model / roofline / priors columns."""
    from costmodel.reference import names, source

    chosen = names(reference)
    own = {name: source(name).SCORE_NOTE + in_sample_note(name, logo)
           for name in chosen if hasattr(source(name), "SCORE_NOTE")}
    generic = [name for name in chosen if name not in own]
    protocols = []
    if generic:
        protocols.append(("leave-one-GPU-out" if logo else "in-sample")
                         + (f" ({', '.join(generic)}; the others below)" if own else ""))
    if len(chosen) == 1 and own:
        protocols.append(own.pop(chosen[0]))
    if generic_columns:
        protocols.append(GENERIC_COLUMNS)
    head = f"reference {reference}: |predicted / measured - 1| in %, {'; '.join(protocols)}\n"
    return head + "".join(f"{name}: {note}\n" for name, note in own.items())


def in_sample_note(name: str, logo: bool) -> str:
    """" (here in-sample)" where ``--no-leave-one-gpu-out`` made a source fit its own rows;
    nothing for sources whose protocol fits nothing per GPU (their ``FIXED_PROTOCOL``)."""
    from costmodel.reference import source

    return "" if logo or getattr(source(name), "FIXED_PROTOCOL", False) else " (here in-sample)"


def draw(frame, path, reference: str, logo: bool) -> None:
    """Log-log predicted vs measured, one colour per GPU, y = x and a x1.25 band
    (:func:`costmodel.plot_roofline.scored_figure`)."""
    from costmodel.plot_roofline import scored_figure
    from costmodel.reference import protocol

    scored_figure(frame, reference, protocol(reference, logo)).savefig(path, dpi=110,
                                                                      format="png")
