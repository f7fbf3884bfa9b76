"""``costmodel report``: one self-contained HTML page (registered by cli/commands.py)."""

from __future__ import annotations

import click

from costmodel.implementations.host_issue import with_host

from . import render
from .options import LAYERS, LAYERS_HELP, SIZE, models_option


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--n", "n", type=SIZE, required=True, help="Sequence length (steps/tokens).")
@click.option("--d", "d", type=SIZE, required=True, help="Model width: hidden = d_model = d.")
@click.option("--gpu", default="a100", show_default=True,
              help="Device short name (see `costmodel gpus`) or a device/profile TOML file.")
@click.option("--batch", type=SIZE, default=1, show_default=True, help="Sequences per step.")
@click.option("--layers", type=LAYERS, default=1, show_default=True,
              help="Stacked layers." + LAYERS_HELP)
@click.option("--heads", type=SIZE, default=None, help="Attention heads [default: d/64].")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--attention", type=click.Choice(["auto", "math", "flash"]), default="auto",
              show_default=True, help="Attention kernel (the memory figure draws both).")
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=models_option, help="Comma-separated models.")
@click.option("--host", "host", default=None, metavar="PROFILE",
              help="A calibrated profile's measured host-issue costs (or the preset "
                   "h200-cloud-vm) bound the recurrences' times, as for compare.")
@click.option("-o", "--output", required=True, help="The HTML file to write.")
def report(n, d, gpu, batch, layers, heads, dtype, attention, models, host, output):
    """One self-contained HTML page: the comparison table, the figures (inline SVG), the
    formulas and the assumptions. It loads nothing from the network.

    Example: costmodel report --n 512 --d 768 --gpu a100 -o report.html
    """
    from costmodel.files import plan, write_atomic
    from costmodel.report import html_report

    plan(output)
    gpu = with_host(gpu, host)  # the catalogue device bounded by a measured host, if given
    page = html_report(n, d, gpu, batch=batch, layers=layers, heads=heads, dtype=dtype,
                       attention=attention, models=models)
    write_atomic(output, page)
    render.wrote(output)
