"""Click commands: compare, gpus, formula (sweep, claims, calibrate, validate live in their own
modules and are registered here)."""

from __future__ import annotations

import click

from costmodel import __version__
from costmodel.formulas import MODULES as FORMULA_MODULES
from costmodel.implementations.cudnn_stack import DEFAULT as CUDNN_STACK_DEFAULT
from costmodel.implementations.cudnn_stack import STACKS as CUDNN_STACKS

from . import render
from .options import LAYERS, LAYERS_HELP, SIZE, NamedArgument, models_option
from .tables import comparison_table, gpu_rows, wrapped_text

FORMATS = ("table", "json", "csv", "markdown", "latex")
#: How ``formula`` names the attention kernel its formulas count, and the other choice.
KERNEL_WORDS = {"flash": "flash (fused: no n x n scores kept; --attention math counts them)",
                "math": "math (the n x n scores and probabilities; --attention flash: fused)"}
#: compare --mode: the default shows both an inference forward and a training step
COMPARE_MODES = ("both", "training", "prefill", "decode")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 88})
@click.version_option(__version__, prog_name="costmodel")
def cli():
    """What does a sequence model cost? Params, FLOPs, memory, depth and time, from formulas.

    Example: costmodel compare --n 512 --d 768 --gpu a100
    """


@cli.command()
@click.option("--n", "n", type=SIZE, required=True, help="Sequence length (steps/tokens).")
@click.option("--d", "d", type=SIZE, required=True, help="Model width: hidden = d_model = d.")
@click.option("--gpu", default="a100", show_default=True,
              help="Device short name (see `costmodel gpus`) or a device/profile TOML file.")
@click.option("--batch", type=SIZE, default=1, show_default=True,
              help="Sequences per step (the batch size).")
@click.option("--layers", type=LAYERS, default=1, show_default=True,
              help="Stacked layers of every model." + LAYERS_HELP)
@click.option("--heads", type=SIZE, default=None, help="Attention heads [default: d/64].")
@click.option("--ffn", type=SIZE, default=None, help="Transformer dim_feedforward [default: 4d].")
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
              callback=models_option, help="Comma-separated rows to show.")
@click.option("--cudnn-stack", type=click.Choice(CUDNN_STACKS),
              default=CUDNN_STACK_DEFAULT, show_default=True,
              help="cuDNN generation of the recurrences' step floor: auto (what PyTorch can run "
                   "there: pr62143 on Ampere/Ada/Hopper, which no cuDNN before 8 supports, "
                   "deepbench on older GPUs), deepbench (fitted on DeepBench, cuDNN 5-7.6) or "
                   "pr62143 (cuDNN 8 STANDARD steps of PyTorch PR #62143 on an UNNAMED GPU: a "
                   "faster floor paid once per stacked layer).")
@click.option("--host", "host", default=None, metavar="PROFILE",
              help="A profile from `costmodel calibrate --device cuda` on your machine: its "
                   "measured host-issue costs bound the recurrences' times on the catalogue "
                   "GPU (a cloud VM's host can be slower than the GPU's cuDNN steps); or the "
                   "preset h200-cloud-vm (the host costs measured on three H200 cloud VMs).")
@click.option("--mode", type=click.Choice(COMPARE_MODES), default="both", show_default=True,
              help="both: inference forward and training step of n tokens; training: the "
                   "training step only; prefill: time to first token of an n-token prompt; "
                   "decode: one generated token at context n (KV cache / recurrent state), "
                   "with the crossover contexts.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def compare(n, d, gpu, batch, layers, heads, ffn, bidirectional, dtype, attention, causal,
            allow_tf32, models, cudnn_stack, host, mode, fmt):
    """RNN, LSTM and GRU against a Transformer encoder layer at one (n, d) on one GPU.

    Prints params, forward and training FLOPs, activation memory, the peak memory of an
    inference forward, sequential depth, roofline inference-forward and training-step time
    with the binding term and the fraction of peak; then each recurrence / Transformer ratio
    and the crossover sequence lengths. The header states every assumption (heads, ffn,
    dropout, optimizer, attention kernel per mode, recurrence implementation). A d that 64
    does not divide needs --heads. --mode prefill/decode serves the models instead: time to
    first token or time per generated token, tokens/s, KV-cache/state and peak memory, the
    largest batch and context that fit, and (decode) the crossover contexts (docs/decode.md).

    Example: costmodel compare --n 512 --d 768 --gpu a100 --batch 8 --format json

    Example: costmodel compare --mode decode --n 4096 --d 1024 --gpu h100
    """
    from costmodel.compare import compare as run
    from costmodel.hardware import load_hardware
    from costmodel.implementations.host_issue import with_host
    hw = with_host(load_hardware(gpu), host)
    if allow_tf32 and not hw.peaks.get("tf32"):
        raise click.BadParameter(f"{hw.name} has no TF32 tensor cores", param_hint="--allow-tf32")
    options = dict(batch=batch, layers=layers, heads=heads, ffn=ffn,
                   bidirectional=bidirectional, dtype=dtype, attention=attention, causal=causal,
                   allow_tf32=allow_tf32, models=models, cudnn_stack=cudnn_stack)
    if mode in ("prefill", "decode"):
        return _serving(n, d, hw, mode, options, fmt)
    result = run(n, d, hw, **options)
    if fmt == "json":
        click.echo(render.to_json({"rows": list(result.rows), "ratios": list(result.ratios),
                                   "crossovers": list(result.crossovers),
                                   "setup": _setup_dict(result),
                                   "assumptions": result.assumptions}), nl=False)
    elif fmt == "csv":
        from costmodel.sweep import comparison_columns, csv_text

        click.echo(csv_text(comparison_columns(result)), nl=False)
    else:
        click.echo(comparison_table(result, fmt, training_only=mode == "training"), nl=False)


def _serving(n, d, hw, mode, options, fmt):
    from costmodel.decode import compare_serving

    result = compare_serving(n, d, hw, mode, **options)
    if fmt == "json":
        click.echo(render.to_json({"mode": mode, "rows": list(result.rows),
                                   "crossovers": list(result.crossovers),
                                   "setup": _setup_dict(result),
                                   "assumptions": result.assumptions}), nl=False)
    elif fmt == "csv":
        click.echo(render.to_csv(list(result.rows)), nl=False)
    else:
        from .serving_table import serving_table

        click.echo(serving_table(result, fmt), nl=False)


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
    elif fmt == "csv":  # one cell per field: the short names joined as they are typed
        click.echo(render.to_csv([{**r, "short_names": " ".join(r["short_names"])}
                                  for r in raw]), nl=False)
    else:
        click.echo(_tabulate(fmt, header, body), nl=False)
        if fmt == "table":
            click.echo(wrapped_text(GPU_UNITS), nl=False)


#: The units of ``gpus``'s table, under it (the header stays narrow).
GPU_UNITS = ("arch: the generation whose fitted GEMM, pointwise, attention and cuDNN sets "
             "price the GPU ('*': no GEMM set of its own: it borrows one, takes the "
             "cross-architecture set, or on AMD the generic priors); dense peaks in TFLOP/s ('-': none); GB/s: memory "
             "bandwidth; GB: memory (10^9 B); L2 MiB: the L2 cache (2^20 B). Each figure's "
             "source: docs/hardware.md")


def _tabulate(fmt, header, body) -> str:
    if fmt == "markdown":
        return render.to_markdown(header, body)
    if fmt == "latex":
        return render.to_latex(header, body)
    return render.to_table(header, body)


@cli.command()
@click.argument("module", type=click.Choice(list(FORMULA_MODULES)), cls=NamedArgument)
@click.argument("quantity")
@click.option("--latex", is_flag=True, help="Print LaTeX instead of plain text.")
@click.option("--layers", type=LAYERS, default=1, show_default=True,
              help="Stacked layers or blocks (rnn, lstm, gru, transformer, decoder, s4, mamba, "
                   "linear_attention, linformer, conformer)." + LAYERS_HELP)
@click.option("--bidirectional", is_flag=True, help="Bidirectional (rnn, lstm, gru only).")
@click.option("--attention", type=click.Choice(["auto", "math", "flash"]), default=None,
              help="Attention kernel (attention, transformer, decoder, conformer, ast) "
                   "[default: the family's own].")
@click.option("--mode", type=click.Choice(["convolution", "recurrent"]), default=None,
              help="S4's mode: FFT convolution or step by step (s4 only) [default: "
                   "convolution].")
def formula(module, quantity, latex, layers, bidirectional, attention, mode):
    """The symbolic formula of one QUANTITY (params, flops, activation_bytes, depth_forward,
    ...) of MODULE, in the sequence length n, batch, width d (and heads h, feed-forward
    width f, input channels c, kernel width k or Linformer's projected length k, S4's state
    size m; decoder: memory length n_src). conv is Conv1d(c, d, k); crnn the seed document's
    CRNN and ast AST-Base (their sizes fixed, n and batch free). An option that does not
    apply to MODULE is refused. Every family's formulas, rendered: docs/formulas.md.

    Example: costmodel formula mamba flops --layers 2
    """
    from costmodel.formulas import attention_kernel, formula as build

    expr, lead = build(module, quantity, layers=layers, bidirectional=bidirectional,
                       attention=attention, mode=mode)
    import sympy as sp

    click.echo(sp.latex(expr) if latex else str(expr))
    click.echo(f"leading terms: {sp.latex(lead) if latex else lead}")
    kernel = attention_kernel(module, attention)
    if kernel:
        click.echo(f"attention kernel counted: {KERNEL_WORDS[kernel]}")


def _register_optional_commands():
    """Commands that live in their own modules (claims; calibrate and validate need torch only
    when they run, so their modules import without it)."""
    from .accuracy_command import accuracy
    from .claims import claims
    from .measure_claims import measure_claims
    from .padding_command import padding
    from .plot_command import plot
    from .report_command import report
    from .sweep_command import sweep
    from .validation_commands import calibrate, validate

    for command in (claims, measure_claims, padding, sweep, calibrate, validate, plot,
                    report, accuracy):
        cli.add_command(command)
    for command in cli.commands.values():
        # the same help flags whether a command runs under the group or on its own
        command.context_settings.setdefault("help_option_names", ["-h", "--help"])


_register_optional_commands()
