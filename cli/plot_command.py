"""``costmodel plot KIND``: one figure of the library's numbers, written as PNG, SVG or PDF by
the output's suffix (registered by cli/commands.py)."""

from __future__ import annotations

import click

from costmodel.implementations.host_issue import with_host

from . import render
from .options import LAYERS, LAYERS_HELP, SIZE, NamedArgument, models_option, values_option

HELP = """One figure, as PNG, SVG or PDF by the suffix of -o.

\b
KIND:
  memory      training-step memory vs n: recurrences (linear) vs math attention (n^2) and
              fused attention (linear), the crossings marked, the device's memory a line
  time        roofline time vs --x (n, batch or d) of each model on each --gpu
  depth       sequential depth of the forward vs --x
  roofline    the device's compute and bandwidth roofs, each kernel of each model a point
              at its arithmetic intensity (area: its share of the time) at one (n, d)
  validation  predicted vs measured on a published reference source (--reference)
  accuracy    the time error compare states, per NVIDIA generation: recurrences and
              Transformer, inference and training (--dtype; `costmodel accuracy` lists it)

The axis named by --x takes the list of --n/--d/--batch; the other two take one value
(memory: n is the axis; roofline: one value each). Assumptions go into a footnote.

Example: costmodel plot memory --n 16:65536:x2 --d 768 --batch 8 --gpu a100 -o memory.png
"""


ONE_N = 512  # --n where a kind takes one length and none was given (compare's headline)


def _gpus(text: str) -> list[str]:
    names = [g.strip() for g in text.split(",") if g.strip()]
    if not names:
        raise click.BadParameter(f"{text!r}: give one or more device names", param_hint="--gpu")
    return names


def _one(name: str, values) -> int:
    if len(values) != 1:
        raise click.BadParameter(f"takes one value here, got {len(values)}",
                                 param_hint=f"--{name}")
    return int(values[0])


@click.command("plot", help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("kind", type=click.Choice(["memory", "time", "depth", "roofline",
                                           "validation", "accuracy"]), cls=NamedArgument)
@click.option("-o", "--output", required=True, help="Figure file: .png, .svg or .pdf.")
@click.option("--n", "n", default="16:8192:x2", show_default=True, callback=values_option,
              help=f"Sequence lengths (where one is taken, roofline or --x d/batch, the "
                   f"default is {ONE_N}).")
@click.option("--d", "d", default="768", show_default=True, callback=values_option,
              help="Widths.")
@click.option("--batch", default="1", show_default=True, callback=values_option,
              help="Batch sizes.")
@click.option("--x", "x", type=click.Choice(["n", "batch", "d"]), default="n",
              show_default=True, help="The x axis of time and depth.")
@click.option("--gpu", default="a100", show_default=True,
              help="Device short name(s), comma-separated (time: one curve per device).")
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=models_option,
              help="Comma-separated models, compare's (also s4, mamba, linear_attention, "
                   "linformer, conformer, ast): one curve each.")
@click.option("--mode", type=click.Choice(["inference", "training"]), default="inference",
              show_default=True, help="time and roofline: an inference forward or a training "
                                      "step.")
@click.option("--layers", type=LAYERS, default=1, show_default=True,
              help="Stacked layers." + LAYERS_HELP)
@click.option("--heads", type=SIZE, default=None, help="Attention heads [default: d/64].")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--attention", type=click.Choice(["auto", "math", "flash"]), default="auto",
              show_default=True, help="Attention kernel (memory draws math and flash).")
@click.option("--causal", is_flag=True, help="Causal (masked) self-attention.")
@click.option("--reference", default="deepbench-rnn", show_default=True,
              help="validation: the published source (see `costmodel validate --help`).")
@click.option("--host", "host", default=None, metavar="PROFILE",
              help="time and roofline: a calibrated profile's measured host-issue costs (or "
                   "the preset h200-cloud-vm) bound the recurrences' times on every --gpu, "
                   "as for compare.")
def plot(kind, output, n, d, batch, x, gpu, models, mode, layers, heads, dtype, attention,
         causal, reference, host):
    from costmodel import plot_roofline, plots

    plots.figure_format(output)  # a bad suffix or output fails before any work
    from costmodel.files import plan

    plan(output)
    one_n = kind == "roofline" or (kind in ("time", "depth") and x != "n")
    source = click.get_current_context().get_parameter_source("n")
    if one_n and source == click.core.ParameterSource.DEFAULT:
        n = [ONE_N]  # the default range is for an n axis; one length where one is taken
    for name, values in (("n", n), ("d", d), ("batch", batch)):
        if not len(values):
            raise click.BadParameter("the range is empty", param_hint=f"--{name}")
    devices = [with_host(g, host) for g in _gpus(gpu)]  # bounded by a measured host, if given
    if kind in ("memory", "roofline") and len(devices) > 1:
        raise click.BadParameter(f"{kind} draws one device; give one (time takes several)",
                                 param_hint="--gpu")
    common = dict(models=models, layers=layers, heads=heads, dtype=dtype, causal=causal)
    if kind == "memory":
        fig = plots.plot_memory(n, _one("d", d), devices[0], batch=_one("batch", batch),
                                **common)
    elif kind in ("time", "depth"):
        axes = {"n": n, "d": d, "batch": batch}
        fixed = {k: _one(k, v) for k, v in axes.items() if k != x}
        draw = plots.plot_time if kind == "time" else plots.plot_depth
        extra = {"mode": mode} if kind == "time" else {}
        fig = draw(list(axes[x]), devices, x=x, attention=attention, **fixed, **extra,
                   **common)
    elif kind == "roofline":
        fig = plot_roofline.plot_roofline(_one("n", n), _one("d", d), devices[0],
                                          batch=_one("batch", batch), mode=mode,
                                          attention=attention, **common)
    elif kind == "accuracy":
        fig = plots.plot_accuracy(dtype)
    else:
        fig = plot_roofline.reference_figure(reference)
    plots.save(fig, output)
    render.wrote(output)
