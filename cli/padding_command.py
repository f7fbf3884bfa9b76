"""`costmodel padding`: a batch of variable lengths, packed against padded (costmodel.varlen)."""

from __future__ import annotations

import click

from . import render
from .options import SIZE, models_option


def _lengths(ctx, param, text):
    from costmodel.varlen import check_lengths

    try:
        return check_lengths([int(v) for v in text.split(",") if v.strip()])
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@click.command()
@click.option("--lengths", required=True, callback=_lengths,
              help="Comma-separated sequence lengths of one batch, e.g. 512,300,17.")
@click.option("--d", "d", type=SIZE, required=True, help="Model width: hidden = d_model = d.")
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=models_option, help="Comma-separated rows to show.")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def padding(lengths, d, models, dtype, fmt):
    """Padding waste of a batch of variable lengths: each model (compare's, one layer)
    padded to the longest against packed (PackedSequence; nested/varlen attention).

    Counts only: FLOPs, training FLOPs, matmul FLOPs, activation memory, KV/state memory.

    Example: costmodel padding --lengths 512,300,17 --d 768
    """
    from costmodel.compare import Setup, build
    from costmodel.varlen import padding as waste

    setup = Setup(n=max(lengths), d=d, batch=len(lengths), dtype=dtype, models=models).checked()
    result = {name: waste(build(setup, name), lengths, dtype) for name in setup.models}
    if fmt == "json":
        click.echo(render.to_json({"lengths": list(lengths), "models": result}), nl=False)
        return
    header = ["model", "quantity", "padded", "packed", "waste"]
    body = [[name, q, f"{v['padded']:,}", f"{v['packed']:,}", f"{v['waste_fraction']:.1%}"]
            for name, table in result.items() for q, v in table.items()]
    click.echo(render.to_table(header, body), nl=False)
