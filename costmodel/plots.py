"""Figures of the library's numbers: time and depth vs size here, memory in
:mod:`costmodel.plot_memory`, the roofline and predicted vs measured in
:mod:`costmodel.plot_roofline` (all reachable as ``plots.plot_*``). Each ``plot_*`` returns a
:class:`matplotlib.figure.Figure` (no pyplot state, no display); :func:`save` writes one as PNG, SVG or PDF by the path's suffix through
:mod:`costmodel.files` (never half-written). The numbers come from the functions the CLI's
``compare`` and ``sweep`` use (:func:`costmodel.sweep.sweep`, :func:`costmodel.predict`), the
data series stay on the Axes (``ax.lines``, ``ax.collections``), so a test reads them back.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np

from costmodel.compare import DEFAULT_MODELS, MODELS, RECURRENT, Setup, assumptions, build
from costmodel.hardware import Hardware, load_hardware

#: Output formats by file suffix (matplotlib's savefig format names).
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: The sweep axes a time or depth plot may put on x, with their axis labels.
X_AXES = {"n": "sequence length n (steps / tokens)", "batch": "batch (sequences)",
          "d": "model width d (hidden = d_model)"}
FIGSIZE_IN = (7.5, 5.2)
DPI = 120
GIB = 2**30  # bytes per GiB: memory axes are rendered in GiB
FOOTNOTE_WIDTH_CHARS = 150
FOOTNOTE_LINE_FRACTION = 0.021  # of the figure's height per footnote line (6.5 pt text)
TITLE_WIDTH_CHARS = 95
LINESTYLES = ("-", "--", ":", "-.")
#: One colour and marker per model, the same in every figure (matplotlib's ten-colour cycle,
#: one per model compare knows); the markers tell overlapping curves apart.
COLOURS = {name: f"C{i}" for i, name in enumerate(MODELS)}
MARKERS = dict(zip(MODELS, (".", ".", ".", ".", "s", "^", "v", "D", "P", "X")))
MARKER_SIZE_PT = 4  # shaped markers; "." keeps matplotlib's size (a dot of about 3 pt)
#: A legend with more entries than this goes beside the axes, not over the curves.
LEGEND_INSIDE_MAX = 8
LEGEND_COLUMN_IN = 2.8  # the width a legend beside the axes takes (7 pt labels, 45 chars)


def style(name: str) -> dict:
    """The colour and marker of model ``name`` (plot keyword arguments)."""
    shaped = {"markersize": MARKER_SIZE_PT} if MARKERS[name] != "." else {}
    return {"color": COLOURS[name], "marker": MARKERS[name], **shaped}


def figure_format(path) -> str:
    """The savefig format of ``path`` by its suffix; ValueError naming the allowed ones."""
    suffix = Path(str(path)).suffix.lower()
    if str(path) == "-":
        raise ValueError(f"output '-' (standard output) has no suffix to pick the format: "
                         f"give a file name ending in one of {', '.join(FORMATS)}")
    if suffix not in FORMATS:
        raise ValueError(f"output {str(path)!r}: unknown suffix {suffix or '(none)'!r}; "
                         f"use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def to_bytes(fig, fmt: str) -> bytes:
    """The figure rendered in ``fmt`` (png, svg or pdf)."""
    import matplotlib

    buffer = io.BytesIO()
    # SVG text stays text (searchable, small, no glyph ids that clash when inlined twice)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict:
    """No creation date in SVG/PDF, so a regenerated figure is byte-identical."""
    return {"Date": None} if fmt in ("svg", "pdf") else {}


def save(fig, path) -> None:
    """Write ``fig`` to ``path`` (PNG/SVG/PDF by suffix), atomically."""
    from costmodel.files import plan, write_atomic

    fmt = figure_format(path)
    plan(path)
    write_atomic(path, to_bytes(fig, fmt))


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
    return fig, fig.add_subplot()


def _hardware(gpu) -> Hardware:
    return gpu if isinstance(gpu, Hardware) else load_hardware(gpu)


def _gpus(gpu) -> list[Hardware]:
    if isinstance(gpu, (str, Hardware)):
        gpu = [gpu]
    devices = [_hardware(g) for g in gpu]
    if not devices:
        raise ValueError("gpu: give at least one device")
    return devices


def assumption_note(setup: Setup, hw: Hardware, x: str = "n", families: bool = True) -> str:
    """The footnote: dtype, attention kernel per mode, RNN implementation (from compare's
    assumptions), batch, layers, heads, ffn (at the first point when ``x`` varies them)."""
    tf = None
    if "transformer" in setup.models:
        from costmodel.implementations.sdpa import resolve

        tf = resolve(build(setup, "transformer"), hw, setup.dtype, "training")[0]
    said = assumptions(setup, hw, tf)
    parts = [f"{hw.name}: dtype {setup.dtype}", f"layers {setup.layers}"]
    if x != "batch":
        parts.insert(1, f"batch {setup.batch}")
    if said["attention"]:
        parts.append("attention " + ", ".join(f"{mode}: {a['kernel']}"
                                              for mode, a in said["attention"].items()))
    if said["heads"]:
        parts.append("heads d/64, ffn 4d" if x == "d" else
                     f"heads {said['heads']}, ffn {said['ffn']}")
    if set(setup.models) & set(RECURRENT):
        parts.append(f"RNN: {said['rnn_implementation']}")
    return "; ".join(parts + (family_notes(setup) if families else []))


def family_notes(setup: Setup) -> list[str]:
    """The sizes the newer families take from their reference implementations (the same on
    every device: said once under a figure of several)."""
    from costmodel.compare_families import SIZES

    notes = [SIZES[m] for m in setup.models if m in SIZES]
    fused = [m for m in setup.models if m in ("conformer", "ast")]
    if fused:
        kernel = "flash" if setup.attention == "auto" else setup.attention
        notes.append(f"{', '.join(fused)} attention: {kernel} (SDPA)")
    return notes


def _footnote(fig, notes) -> None:
    notes = [n for n in notes if n]
    text = "\n".join(textwrap.fill(n, FOOTNOTE_WIDTH_CHARS) for n in dict.fromkeys(notes))
    lines = text.count("\n") + 1
    fig.text(0.005, 0.005, text, fontsize=6.5, color="0.3", va="bottom", ha="left")
    fig.get_layout_engine().set(rect=(0, FOOTNOTE_LINE_FRACTION * lines, 1,
                                      1 - FOOTNOTE_LINE_FRACTION * lines))


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    width = int(TITLE_WIDTH_CHARS * ax.figure.get_figwidth() / FIGSIZE_IN[0])  # narrower: fewer
    ax.set_title(textwrap.fill(title, min(width, TITLE_WIDTH_CHARS)), fontsize=9.5)
    ax.grid(True, which="major", alpha=0.3)
    _legend(ax)


def _legend(ax) -> None:
    """The legend over the axes, or beside them when it would cover the curves."""
    entries = len(ax.get_legend_handles_labels()[1])
    if entries <= LEGEND_INSIDE_MAX:
        ax.legend(fontsize=7.5, loc="best")
    else:  # the figure widens by the legend's column, the axes keep their width
        ax.figure.set_size_inches(FIGSIZE_IN[0] + LEGEND_COLUMN_IN, FIGSIZE_IN[1])
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


# ---- time and depth --------------------------------------------------------------------------

def _sweep_axes(x: str, n, d, batch, values):
    if x not in X_AXES:
        raise ValueError(f"x={x!r}: choose one of {', '.join(X_AXES)}")
    axes = {"n": n, "d": d, "batch": batch}
    axes[x] = values
    return [list(np.atleast_1d(axes[k])) for k in ("n", "d", "batch")]


def sweep_series(quantity: str, values, gpu, *, x="n", n=512, d=768, batch=1,
                 models=DEFAULT_MODELS, **options) -> dict[tuple[str, str], tuple]:
    """``{(model, gpu name): (x values, quantity)}`` from :func:`costmodel.sweep.sweep`,
    ``values`` on axis ``x``, the other two axes fixed: the data of the time/depth plots."""
    from costmodel.sweep import sweep

    grid = _sweep_axes(x, n, d, batch, values)
    if not len(grid[("n", "d", "batch").index(x)]):
        raise ValueError(f"{x}: give at least one value")
    out = {}
    for hw in _gpus(gpu):
        cols = sweep(*grid, hw, models=tuple(models), **options)
        for name in models:
            mine = cols["model"] == name
            out[(name, hw.name)] = (cols[x][mine].astype(float),
                                    cols[quantity][mine].astype(float))
    return out


def _series_plot(quantity, values, gpu, ylabel, title, *, x, n, d, batch, models, **options):
    devices = _gpus(gpu)
    series = sweep_series(quantity, values, devices, x=x, n=n, d=d, batch=batch,
                          models=models, **options)
    fig, ax = _figure()
    same: dict[tuple, list[str]] = {}  # identical curves (depth of the recurrences): one line
    for (name, gpu_name), (xs, ys) in series.items():
        same.setdefault((gpu_name, xs.tobytes(), ys.tobytes()), []).append(name)
    for (name, gpu_name), (xs, ys) in series.items():
        names = same[(gpu_name, xs.tobytes(), ys.tobytes())]
        if name != names[0]:
            continue
        dash = LINESTYLES[[h.name for h in devices].index(gpu_name) % len(LINESTYLES)]
        label = " = ".join(names)
        ax.plot(xs, ys, linestyle=dash, **style(name),
                label=f"{label}, {gpu_name}" if len(devices) > 1 else label)
    fixed = ", ".join(f"{k}={v}" for k, v in (("n", n), ("d", d), ("batch", batch)) if k != x)
    first = _sweep_axes(x, n, d, batch, values)
    setup = Setup(n=int(first[0][0]), d=int(first[1][0]), batch=int(first[2][0]),
                  models=tuple(models), **options).checked()
    _finish(ax, f"{title} vs {x} ({fixed}, {setup.dtype}) on "
                f"{', '.join(h.name for h in devices)}", X_AXES[x], ylabel)
    if x != "n":  # widths and batches: ticks at the values drawn, as plain numbers
        _value_ticks(ax, sorted({float(v) for xs, _ in series.values() for v in xs}))
    _footnote(fig, [assumption_note(setup, hw, x, families=False) for hw in devices]
              + ["; ".join(family_notes(setup))])
    return fig


#: Labelled ticks on a width or batch axis are at least this factor apart (log axis: labels
#: of 1664 and 1920 would touch).
MIN_TICK_RATIO = 1.3


def _value_ticks(ax, values) -> None:
    """Ticks at plotted ``values`` a factor apart, labelled 512 rather than 5 x 10^2."""
    from matplotlib import ticker

    ticks = values[:1]
    for value in values[1:]:
        if value >= ticks[-1] * MIN_TICK_RATIO:
            ticks.append(value)
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def plot_time(values, gpu="a100", *, x="n", mode="inference", n=512, d=768, batch=1,
              models=DEFAULT_MODELS, **options):
    """Roofline time vs ``x`` (n, batch or d) of each model on each GPU: an inference forward
    (``mode="inference"``) or a training step (``"training"``), as compare predicts them."""
    column = {"inference": "time_forward_s", "training": "time_training_s"}.get(mode)
    if column is None:
        raise ValueError(f"mode={mode!r}: choose inference or training")
    what = "inference forward" if mode == "inference" else "training step (fwd+bwd+Adam)"
    return _series_plot(column, values, gpu, f"time of one {what} (s)", f"Time, {what}",
                        x=x, n=n, d=d, batch=batch, models=models, **options)


def plot_depth(values, gpu="a100", *, x="n", n=512, d=768, batch=1,
               models=DEFAULT_MODELS, **options):
    """Sequential depth of the forward (dependent GEMM-class steps) vs ``x``: the same on every
    device, so only the first of ``gpu`` is drawn (it names the assumptions)."""
    return _series_plot("depth_forward", values, _gpus(gpu)[:1],
                        "forward depth (dependent GEMM-class steps)", "Sequential depth",
                        x=x, n=n, d=d, batch=batch, models=models, **options)


#: The figures that live in their own modules, reachable from here: ``plots.plot_memory``.
_ELSEWHERE = {"plot_memory": "costmodel.plot_memory", "plot_roofline": "costmodel.plot_roofline",
              "plot_validation": "costmodel.plot_roofline",
              "reference_figure": "costmodel.plot_roofline",
              "plot_accuracy": "costmodel.plot_accuracy"}


def __getattr__(name: str):
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'costmodel.plots' has no attribute {name!r}")
