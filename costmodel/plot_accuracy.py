"""The time error ``compare`` states, for every NVIDIA generation in one figure
(:func:`plot_accuracy`, ``costmodel plot accuracy``): per architecture, the median (bar) and
p90 (whisker) of |predicted / measured - 1| of recurrence and Transformer times in inference
and training, the signed median written above, hatched where the architecture has no rows of
its own and the nearest generation's stand in (:mod:`costmodel.accuracy`); a dot per GPU of a
pooled entry marks that GPU's own median (:func:`costmodel.accuracy.shares`)."""

from __future__ import annotations

from costmodel import accuracy
from costmodel.plots import FIGSIZE_IN, _footnote

#: One catalogue GPU per generation: the lookup depends on the architecture alone.
REPRESENTATIVE = {"maxwell": "m40", "pascal": "p100", "volta": "v100", "turing": "t4",
                  "ampere": "a100", "ada": "l4", "hopper": "h100",
                  "blackwell": "b200"}
SERIES = (("recurrence", "inference", "C0"), ("recurrence", "training", "C9"),
          ("transformer", "inference", "C1"), ("transformer", "training", "C3"))
LABELS = {"recurrence": "recurrences", "transformer": "Transformer"}
BAR_WIDTH = 0.2
Y_MAX_PCT = 100  # a p90 beyond is drawn to the top and written


def evidence_grid(dtype: str = "fp32") -> dict:
    """{(architecture, kind, mode): Evidence or None} for every generation."""
    return {(arch, kind, mode): accuracy.expected_error(kind, gpu, mode, dtype)
            for arch, gpu in REPRESENTATIVE.items() for kind, mode, _ in SERIES}


def plot_accuracy(dtype: str = "fp32"):
    """The figure (see the module docstring); ``dtype``: the times' dtype (16-bit: the
    recurrences' fp16/bf16 rows, LLMCompass's 16-bit Transformer ops)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    grid = evidence_grid(dtype)
    fig = Figure(figsize=(FIGSIZE_IN[0] + 1.5, FIGSIZE_IN[1]), layout="constrained")
    ax = fig.add_subplot()
    archs = list(REPRESENTATIVE)
    highest = 0.0
    for i, (kind, mode, colour) in enumerate(SERIES):
        for j, arch in enumerate(archs):
            e = grid[(arch, kind, mode)]
            x = j + (i - 1.5) * BAR_WIDTH
            if e is None:
                ax.text(x, 1, "none", rotation=90, ha="center", va="bottom", fontsize=6,
                        color="0.5")
                continue
            median, p90 = 100 * e.median, 100 * e.p90
            ax.bar(x, median, BAR_WIDTH, color=colour, alpha=0.45 if e.extrapolated else 0.9,
                   hatch="///" if e.extrapolated else None, edgecolor=colour, linewidth=0.6)
            top = min(p90, Y_MAX_PCT)
            ax.plot([x, x], [median, top], color="0.2", linewidth=0.8)
            ax.plot([x - BAR_WIDTH / 4, x + BAR_WIDTH / 4], [top, top], color="0.2",
                    linewidth=0.8)
            signed = round(100 * e.signed_median)  # -0.3 % is "0", not "-0"
            text = ((f"{signed:+d}" if signed else "0") + (" (1 row)" if e.rows == 1 else "")
                    + (f" (p90 {p90:.0f})" if p90 > Y_MAX_PCT else ""))
            ax.text(x, top + 1.5, text, ha="center", va="bottom", fontsize=5.5, rotation=90)
            highest = max(highest, top)
            own = accuracy.shares(e)
            if len(own) > 1:  # the GPUs a pooled bar hides
                ax.plot([x] * len(own), [min(100 * g["median"], Y_MAX_PCT) for g in own],
                        linestyle="none", marker="o", markersize=2.5, color="0.15",
                        alpha=0.8)
    ax.set_xticks(range(len(archs)), archs, fontsize=8)
    ax.set_ylim(0, highest + 25)
    ax.set_ylabel("|predicted / measured - 1|, %: median (bar), p90 (whisker)", fontsize=8)
    ax.set_title(f"costmodel's GPU times against published measurements, {dtype} (the "
                 "default cuDNN stack, no host bound)", fontsize=9.5)
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(facecolor=colour, alpha=0.9) for _, _, colour in SERIES]
    labels = [f"{LABELS[kind]}, {mode}" for kind, mode, _ in SERIES]
    handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="///"))
    labels.append("no rows of its own: the nearest generation's")
    handles.append(Line2D([], [], linestyle="none", marker="o", markersize=2.5, color="0.15"))
    labels.append("one GPU's own median (pooled bars)")
    ax.legend(handles, labels, fontsize=7, loc="upper left")
    sources = sorted({e.source for e in grid.values() if e is not None})
    note = (f"Above each bar: the signed median error, % (negative: the prediction ran too "
            f"fast). Sources, each under its own protocol (leave-one-GPU-out where it fits "
            f"anything): {', '.join(sources)}; the rows and commands: `costmodel accuracy`, "
            f"docs/compare.md ('How far to trust the times').")
    _footnote(fig, [note])
    return fig
