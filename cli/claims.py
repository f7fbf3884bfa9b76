"""``costmodel claims``: the seed documents' quantitative claims and their verdicts."""

from __future__ import annotations

import sys

import click

from costmodel.claims.vocabulary import FORMATS, STATUSES


@click.command("claims", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--doc", default=None, metavar="FILE",
              help="One document: its file name, stem or number (e.g. 002).")
@click.option("--verdict", "verdicts", multiple=True, metavar="VERDICT",
              help=f"Only these verdicts (repeatable): {', '.join(STATUSES)}.")
@click.option("--format", "fmt", default="table", metavar="FORMAT", show_default=True,
              help=f"Output format: {', '.join(FORMATS)}.")
def claims(doc, verdicts, fmt):
    """Every quantitative claim of the seed documents, recomputed and judged.

    Example: costmodel claims --doc 002 --verdict off --format markdown
    """
    try:
        if fmt not in FORMATS:
            raise ValueError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
        from costmodel.claims.report import render
        from costmodel.claims.verdicts import check_claims

        text = render(check_claims(doc, verdicts), fmt)
    except ValueError as error:
        click.echo(f"costmodel: error: {error}", err=True)
        sys.exit(2)
    click.echo(text, nl=False)
