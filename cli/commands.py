"""Click commands: compare, gpus, formula, sweep (claims, calibrate, validate join later)."""

from __future__ import annotations

import click

from costmodel import __version__
from costmodel.files import write_atomic

from . import render
from .tables import comparison_table, gpu_rows

FORMATS = ("table", "json", "csv", "markdown", "latex")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 88})
@click.version_option(__version__, prog_name="costmodel")
def cli():
    """What does a sequence model cost? Params, FLOPs, memory, depth and time, from formulas.

    Example: costmodel compare --n 512 --d 768 --gpu a100
    """


def _models(ctx, param, value):
    from costmodel.compare import MODELS

    names = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    bad = [v for v in names if v not in MODELS]
    if bad or not names:
        raise click.BadParameter(f"{','.join(bad) or value!r}: choose from {','.join(MODELS)}")
    return names


@cli.command()
@click.option("--n", "n", type=int, required=True, help="Sequence length (steps/tokens).")
@click.option("--d", "d", type=int, required=True, help="Model width: hidden = d_model = d.")
@click.option("--gpu", default="a100", show_default=True,
              help="Device short name (see `costmodel gpus`) or a device/profile TOML file.")
@click.option("--batch", type=int, default=1, show_default=True)
@click.option("--layers", type=int, default=1, show_default=True)
@click.option("--heads", type=int, default=None, help="Attention heads [default: d/64].")
@click.option("--ffn", type=int, default=None, help="Transformer dim_feedforward [default: 4d].")
@click.option("--bidirectional", is_flag=True, help="Bidirectional recurrences.")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--attention", type=click.Choice(["auto", "math", "flash"]), default="auto",
              show_default=True,
              help="Attention kernel: what PyTorch runs on the device for the dtype and mode "
                   "(auto), scores in memory (math), or fused (flash).")
@click.option("--causal", is_flag=True, help="Causal (masked) self-attention.")
@click.option("--allow-tf32", is_flag=True,
              help="fp32 cuBLAS matmuls on TF32 tensor cores (PyTorch's default is off; "
                   "cuDNN RNNs use TF32 either way).")
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=_models, help="Comma-separated rows to show.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def compare(n, d, gpu, batch, layers, heads, ffn, bidirectional, dtype, attention, causal,
            allow_tf32, models, fmt):
    """RNN, LSTM and GRU against a Transformer encoder layer at one (n, d) on one GPU.

    Prints params, forward and training FLOPs, activation memory, the peak memory of an
    inference forward, sequential depth, roofline inference-forward and training-step time
    with the binding term and the fraction of peak; then each recurrence / Transformer ratio
    and the crossover sequence lengths. The header states every assumption (heads, ffn,
    dropout, optimizer, attention kernel per mode, recurrence implementation). A d that 64
    does not divide needs --heads.

    Example: costmodel compare --n 512 --d 768 --gpu a100 --batch 8 --format json
    """
    from costmodel.compare import compare as run

    result = run(n, d, gpu, batch=batch, layers=layers, heads=heads, ffn=ffn,
                 bidirectional=bidirectional, dtype=dtype, attention=attention, causal=causal,
                 allow_tf32=allow_tf32, models=models)
    if fmt == "json":
        click.echo(render.to_json({"rows": list(result.rows), "ratios": list(result.ratios),
                                   "crossovers": list(result.crossovers),
                                   "setup": _setup_dict(result),
                                   "assumptions": result.assumptions}), nl=False)
    elif fmt == "csv":
        click.echo(render.to_csv(list(result.rows)), nl=False)
    else:
        click.echo(comparison_table(result, fmt), nl=False)


def _setup_dict(result) -> dict:
    from dataclasses import asdict

    return {**asdict(result.setup), "gpu": result.hardware.name}


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def gpus(fmt):
    """List the device catalogue: peaks, bandwidth, memory, the names you can type.

    Example: costmodel gpus --format markdown
    """
    from costmodel.hardware import list_hardware

    header, body, raw = gpu_rows(list_hardware())
    if fmt == "json":
        click.echo(render.to_json(raw), nl=False)
    elif fmt == "csv":
        click.echo(render.to_csv(raw), nl=False)
    else:
        click.echo(_tabulate(fmt, header, body), nl=False)


def _tabulate(fmt, header, body) -> str:
    if fmt == "markdown":
        return render.to_markdown(header, body)
    if fmt == "latex":
        return render.to_latex(header, body)
    return render.to_table(header, body)


@cli.command()
@click.argument("module", type=click.Choice(["rnn", "lstm", "gru", "transformer", "attention"]))
@click.argument("quantity")
@click.option("--latex", is_flag=True, help="Print LaTeX instead of plain text.")
@click.option("--layers", type=int, default=1, show_default=True)
@click.option("--bidirectional", is_flag=True)
def formula(module, quantity, latex, layers, bidirectional):
    """The symbolic formula of one QUANTITY (params, flops, activation_bytes, depth_forward,
    ...) of MODULE, in the sequence length n, batch, width d (and heads h, ffn f).

    Example: costmodel formula lstm flops --latex
    """
    from costmodel.formulas import formula as build

    expr, lead = build(module, quantity, layers=layers, bidirectional=bidirectional)
    import sympy as sp

    click.echo(sp.latex(expr) if latex else str(expr))
    click.echo(f"leading terms: {sp.latex(lead) if latex else lead}")


def _values(ctx, param, text):
    """'512', '128,256,512', '64:1024:64' (inclusive arithmetic), '16:4096:x2' (geometric)."""
    try:
        if ":" not in text:
            return [int(v) for v in text.split(",") if v.strip()]
        start, stop, step = text.split(":")
        start, stop = int(start), int(stop)
        if step.startswith("x"):
            factor = int(step[1:])
            if factor < 2 or start < 1:
                raise ValueError
            out = [start]
            while out[-1] * factor <= stop:
                out.append(out[-1] * factor)
            return out
        if int(step) < 1:
            raise ValueError
        return list(range(start, stop + 1, int(step)))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use a number, a list '128,256', a range "
                                 "'64:1024:64' or a geometric range '16:4096:x2'") from None


@cli.command()
@click.option("--n", "n", default="16:4096:x2", show_default=True, callback=_values,
              help="Sequence lengths.")
@click.option("--d", "d", default="256,512,768,1024", show_default=True, callback=_values,
              help="Widths.")
@click.option("--batch", default="1", show_default=True, callback=_values, help="Batch sizes.")
@click.option("--gpu", default="a100", show_default=True)
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=_models)
@click.option("--layers", type=int, default=1, show_default=True)
@click.option("--heads", type=int, default=None, help="Heads [default: d/64 for each d].")
@click.option("--bidirectional", is_flag=True)
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--attention", type=click.Choice(["auto", "math", "flash"]), default="auto",
              show_default=True, help="Attention kernel (auto: what PyTorch runs per mode).")
@click.option("--causal", is_flag=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="CSV file to write (atomically) [default: stdout].")
def sweep(n, d, batch, gpu, models, layers, heads, bidirectional, dtype, attention, causal,
          output):
    """Every model over a grid of n x d x batch, as CSV in SI units (one row per point).

    As compare: time_forward_s and inference_bytes are an inference forward (eval() under
    inference_mode, its peak memory), time_training_s a train-mode step with one Adam update;
    the attention kernel is what PyTorch runs on the device per mode unless --attention says.

    Example: costmodel sweep --n 16:4096:x2 --d 256:2048:256 --batch 1,8,64 -o sweep.csv
    """
    from costmodel.sweep import COLUMNS
    from costmodel.sweep import sweep as run

    columns = run(n, d, batch, gpu, models=models, heads=heads, layers=layers,
                  bidirectional=bidirectional, dtype=dtype, attention=attention, causal=causal)
    text = _columns_csv(columns, COLUMNS)
    if output:
        write_atomic(output, text)
        click.echo(f"wrote {len(columns['model']):,} rows to {output}", err=True)
    else:
        click.echo(text, nl=False)


def _columns_csv(columns, names) -> str:
    """CSV of equal-length columns: ints exact, floats as repr (shortest round-trip)."""
    cells = [list(map(str, columns[c].tolist())) for c in names]
    return "\n".join([",".join(names), *map(",".join, zip(*cells))]) + "\n"


def _register_optional_commands():
    """Commands that live in their own modules (claims; calibrate and validate need torch only
    when they run, so their modules import without it)."""
    from .claims import claims
    from .measure_claims import measure_claims
    from .validation_commands import calibrate, validate

    for command in (claims, measure_claims, calibrate, validate):
        cli.add_command(command)
    for command in cli.commands.values():
        # the same help flags whether a command runs under the group or on its own
        command.context_settings.setdefault("help_option_names", ["-h", "--help"])


_register_optional_commands()
