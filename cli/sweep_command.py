"""``costmodel sweep``: every model over a grid, streamed to CSV in chunks (registered by
cli/commands.py)."""

from __future__ import annotations

import contextlib
import sys

import click

from costmodel.files import open_output, plan
from costmodel.implementations.cudnn_stack import DEFAULT as CUDNN_STACK_DEFAULT
from costmodel.implementations.cudnn_stack import STACKS as CUDNN_STACKS
from costmodel.implementations.host_issue import with_host
from costmodel.limits import CHUNK_POINTS, MAX_AXIS_VALUES, MAX_ROWS

from .options import LAYERS, LAYERS_HELP, SIZE, models_option, values_option
from .progress import progress_option, reporter

HELP = f"""Every model over a grid of n x d x batch, as CSV in SI units (one row per point and
model; the same columns as `compare --format csv`).

As compare: time_forward_s and inference_bytes are an inference forward (eval() under
inference_mode; its peak memory), time_training_s a train-mode step with one Adam update.

Rows are computed and written in chunks of {CHUNK_POINTS:,} points, so memory stays bounded; a
grid of more than {MAX_ROWS:,} rows needs --yes, and an axis may have at most
{MAX_AXIS_VALUES:,} values.

Example: costmodel sweep --n 16:4096:x2 --d 256:2048:256 --batch 1,8,64 -o sweep.csv
"""


@click.command("sweep", help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--n", "n", default="16:4096:x2", show_default=True, callback=values_option,
              help="Sequence lengths.")
@click.option("--d", "d", default="256,512,768,1024", show_default=True,
              callback=values_option, help="Widths.")
@click.option("--batch", default="1", show_default=True, callback=values_option,
              help="Batch sizes.")
@click.option("--gpu", default="a100", show_default=True,
              help="Device short name (see `costmodel gpus`) or a device/profile TOML file.")
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=models_option,
              help="Comma-separated models: compare's (rnn, lstm, gru, transformer, s4, mamba, "
                   "linear_attention, linformer, conformer, ast), with its defaults.")
@click.option("--layers", type=LAYERS, default=1, show_default=True,
              help="Stacked layers of every model." + LAYERS_HELP)
@click.option("--heads", type=SIZE, default=None, help="Heads [default: d/64 for each d].")
@click.option("--bidirectional", is_flag=True, help="Bidirectional recurrences.")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--attention", type=click.Choice(["auto", "math", "flash"]), default="auto",
              show_default=True,
              help="Attention kernel: what PyTorch runs on the device per dtype and mode "
                   "(auto), scores in memory (math), or fused (flash).")
@click.option("--causal", is_flag=True, help="Causal (masked) self-attention.")
@click.option("--cudnn-stack", type=click.Choice(CUDNN_STACKS),
              default=CUDNN_STACK_DEFAULT, show_default=True,
              help="cuDNN generation of the recurrences' step floor, as for compare.")
@click.option("--host", "host", default=None, metavar="PROFILE",
              help="A calibrated profile's measured host-issue costs (or the preset "
                   "h200-cloud-vm) bound the recurrences' times, as for compare.")
@click.option("--mode", type=click.Choice(["both", "prefill", "decode"]), default="both",
              show_default=True,
              help="both: the columns above; prefill/decode: --n is the prompt or context and "
                   "the columns are those of `compare --mode prefill|decode` (time_s, "
                   "tokens_per_s, state_bytes, memory_bytes, binding; the models that "
                   "generate token by token: rnn, lstm, gru, s4, mamba, linear_attention, "
                   "transformer).")
@click.option("-o", "--output", default="-", show_default=True,
              help="CSV file to write ('-': stdout). A file is replaced atomically, a symlink "
                   "written through, a device or pipe written in place; folders are never "
                   "created.")
@click.option("--yes", is_flag=True,
              help=f"Write a grid of more than {MAX_ROWS:,} rows (memory stays bounded).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (there is none when stderr "
                                                  "is not a terminal, without --progress).")
@progress_option
def sweep(n, d, batch, gpu, models, layers, heads, bidirectional, dtype, attention, causal,
          cudnn_stack, host, mode, output, yes, quiet, progress_lines):
    from costmodel.sweep import csv_text, grid_rows, iter_sweep

    rows = grid_rows(n, d, batch, models)
    if rows > MAX_ROWS and not yes:
        raise click.UsageError(f"the grid has {rows:,} rows, more than the limit of "
                               f"{MAX_ROWS:,}; pass --yes to write it")
    plan(output)  # refuse a bad output before any work
    gpu = with_host(gpu, host)  # the catalogue device bounded by a measured host, if given
    if mode != "both":
        return _serving(n, d, batch, gpu, mode, models, output,
                        dict(heads=heads, layers=layers, bidirectional=bidirectional,
                             dtype=dtype, attention=attention, causal=causal,
                             cudnn_stack=cudnn_stack))
    chunks = iter_sweep(n, d, batch, gpu, models=models, heads=heads, layers=layers,
                        bidirectional=bidirectional, dtype=dtype, attention=attention,
                        causal=causal, cudnn_stack=cudnn_stack, chunk_points=CHUNK_POINTS)
    first = next(chunks)  # argument errors surface before the file is opened
    with open_output(output) as out, _progress(rows, quiet, progress_lines) as bar:
        out.write(csv_text(first))
        bar.update(len(first["model"]))
        for chunk in chunks:
            out.write(csv_text(chunk, header=False))
            bar.update(len(chunk["model"]))
    if output != "-":
        click.echo(f"wrote {rows:,} rows to {output}", err=True)


def _serving(n, d, batch, gpu, mode, models, output, options):
    """``sweep --mode prefill|decode``: costmodel.serving_sweep's columns as CSV."""
    from costmodel.serving_sweep import serving_sweep

    from . import render

    columns = serving_sweep(n, d, batch, gpu, mode, models=models, max_rows=None, **options)
    rows = [dict(zip(columns, values)) for values in zip(*(columns[c].tolist()
                                                          for c in columns))]
    with open_output(output) as out:
        out.write(render.to_csv(rows))
    if output != "-":
        click.echo(f"wrote {len(rows):,} rows to {output}", err=True)


class _LineBar:
    """The bar's ``update`` as message lines (``--progress`` off a terminal), or nothing."""

    def __init__(self, rows: int, show) -> None:
        self.rows, self.written, self.show = rows, 0, show

    def update(self, steps: int) -> None:
        self.written += steps
        self.show(f"sweep: {self.written:,}/{self.rows:,} rows")


def _progress(rows: int, quiet: bool, lines: bool = False):
    """click's progress bar on a terminal; elsewhere lines with --progress, or nothing
    (cli/progress.py)."""
    if quiet or not sys.stderr.isatty():
        return contextlib.nullcontext(_LineBar(rows, reporter(quiet, lines=lines)))
    return click.progressbar(length=rows, label="sweep", file=sys.stderr)

