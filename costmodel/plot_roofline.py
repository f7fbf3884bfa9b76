"""The roofline figure: the device's compute roofs (one per dtype / math mode) and its memory
bandwidth roof, and each kernel of each model as a point at its arithmetic intensity and
achieved FLOP/s, the marker's area its share of the model's time. The kernel rows are
:func:`costmodel.predict`'s, the ones ``compare`` sums. Also the predicted-vs-measured figure
shared by ``validate`` and ``validate --reference``.
"""

from __future__ import annotations

import numpy as np

from costmodel.compare import DEFAULT_MODELS, Setup, build
from costmodel.plots import (COLOURS, MARKERS, _figure, _finish, _footnote, _hardware,
                             assumption_note)

#: Marker area (points^2) of a kernel that takes all of its model's time.
FULL_SHARE_AREA_PT2 = 900
#: Smallest marker area, so a kernel with a tiny share stays visible.
MIN_AREA_PT2 = 6
#: Integer peaks are not FLOP/s roofs.
NON_FLOAT_PEAKS = ("int8",)
#: x range of the roofs around the kernels' intensities (factor on each side).
MARGIN = 4.0
LEGEND_AREA_PT2 = 40  # marker area in the legend
TERA = 1e12  # FLOP/s per TFLOP/s, for labels only


def kernel_points(n: int, d: int, gpu="a100", *, models=DEFAULT_MODELS,
                  mode="inference", **options) -> dict[str, dict[str, np.ndarray]]:
    """Per model: ``intensity`` (FLOP/byte), ``flops_per_s`` achieved, ``share`` of the
    model's time and ``name`` of every kernel with FLOPs and bytes, from costmodel.predict."""
    from costmodel.api import predict
    from costmodel.compare_families import check_length

    hw = _hardware(gpu)
    setup = Setup(n=n, d=d, models=tuple(models), **options).checked()
    check_length(setup.models, setup.n)
    out = {}
    for name in setup.models:
        p = predict(build(setup, name), hw, n=setup.n, batch=setup.batch, dtype=setup.dtype,
                    mode=mode, allow_tf32=setup.allow_tf32)
        total = sum(k.total_s for k in p.kernels)
        rows = [k for k in p.kernels if k.flops > 0 and k.bytes > 0 and k.seconds > 0]
        out[name] = {"name": np.array([k.name for k in rows]),
                     "intensity": np.array([k.flops / k.bytes for k in rows]),
                     "flops_per_s": np.array([k.flops / k.seconds for k in rows]),
                     "share": np.array([k.total_s / total for k in rows])}
    return out


def roofs(hw) -> dict[str, float]:
    """Compute roofs by peak value, labels of equal peaks merged (``fp16/bf16``)."""
    merged: dict[float, list[str]] = {}
    for key, value in hw.peaks.items():
        if key not in NON_FLOAT_PEAKS:
            merged.setdefault(value, []).append(key)
    return {"/".join(keys): value for value, keys in sorted(merged.items())}


def plot_roofline(n: int, d: int, gpu="a100", *, models=DEFAULT_MODELS,
                  mode="inference", **options):
    """Roofs of ``gpu`` and the kernels of each model at (n, d) (see the module)."""
    hw = _hardware(gpu)
    points = kernel_points(n, d, hw, models=models, mode=mode, **options)
    fig, ax = _figure()
    found = np.concatenate([p["intensity"] for p in points.values()] or [np.ones(1)])
    bandwidth, top = hw.hbm_bytes_per_s, max(roofs(hw).values())
    x = np.geomspace(found.min() / MARGIN, max(found.max(), top / bandwidth) * MARGIN, 256)
    ax.plot(x, bandwidth * x, color="black", linewidth=1.2,
            label=f"memory {bandwidth / 1e12:.2f} TB/s")
    for i, (label, peak) in enumerate(roofs(hw).items()):
        ax.plot(x, np.minimum(peak, bandwidth * x), color="0.5", linewidth=0.8,
                linestyle=("-", "--", ":", "-.")[i % 4],
                label=f"{label} {peak / TERA:,.1f} TFLOP/s")
    for name, p in points.items():
        ax.scatter(p["intensity"], p["flops_per_s"], s=np.maximum(MIN_AREA_PT2,
                   FULL_SHARE_AREA_PT2 * p["share"]), color=COLOURS[name],
                   marker=MARKERS[name] if MARKERS[name] != "." else "o", alpha=0.6,
                   edgecolors="black", linewidths=0.4, label=f"{name} kernels")
    setup = Setup(n=n, d=d, models=tuple(models), **options).checked()
    what = "an inference forward" if mode == "inference" else "a training step"
    _finish(ax, f"Roofline of {hw.name}: kernels of {what} (n={n}, d={d}, "
                f"batch={setup.batch}, {setup.dtype})", "arithmetic intensity (FLOP/byte)",
            "achieved FLOP/s (per launch)")
    for handle in ax.get_legend().legend_handles:
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([LEGEND_AREA_PT2])
    achieved = np.concatenate([p["flops_per_s"] for p in points.values()] or [np.ones(1)])
    ax.set_ylim(min(achieved.min(), bandwidth * x[0]) / MARGIN, top * MARGIN)
    _footnote(fig, [assumption_note(setup, hw),
                    "marker area = the kernel's share of its model's time; latency-bound "
                    "kernels sit far below both roofs"])
    return fig


# ---- predicted vs measured ------------------------------------------------------------------

#: The shaded band: predicted within this factor of measured.
BAND = 1.25
P90 = 0.9  # the quantile of the error the title states


def plot_validation(measured, predicted, groups=None, *, title: str, extra=None,
                    quantity: str = "time (s)"):
    """Log-log predicted vs measured seconds (or another positive ``quantity``), one colour per
    group (e.g. GPU), y = x and a x1.25 band. ``extra``: ``{label: predicted}`` further series
    (e.g. the datasheet roofline) drawn as crosses."""
    import matplotlib
    from matplotlib.figure import Figure

    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    if not measured.size:
        raise ValueError("validation: no measured rows to plot")
    groups = np.asarray(groups if groups is not None else ["predicted"] * measured.size)
    fig = Figure(figsize=(6.6, 6.2), layout="constrained")
    ax = fig.add_subplot()
    names = list(dict.fromkeys(groups.tolist()))
    # more groups than the default cycle's 10 colours (--reference all): tab20, no repeats
    colours = ([None] * len(names) if len(names) <= 10 else
               [matplotlib.colormaps["tab20"](i % 20) for i in range(len(names))])
    for group, colour in zip(names, colours):
        mine = groups == group
        ax.scatter(measured[mine], predicted[mine], s=14, alpha=0.7, label=str(group),
                   color=colour)
    everything = [measured, predicted]
    for label, values in (extra or {}).items():
        values = np.asarray(values, float)
        ax.scatter(measured, values, s=14, marker="x", alpha=0.6, label=label)
        everything.append(values)
    finite = np.concatenate(everything)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    line = np.array([finite.min() / 2, finite.max() * 2])
    ax.plot(line, line, color="black", linewidth=1, label="predicted = measured")
    ax.fill_between(line, line / BAND, line * BAND, color="grey", alpha=0.2,
                    label=f"within x{BAND}")
    _finish(ax, title, f"measured {quantity}", f"predicted {quantity}")
    return fig


def reference_figure(name: str, leave_one_gpu_out: bool = True):
    """:func:`scored_figure` of a published reference source (``costmodel.reference``) or of
    ``"all"`` of them, leave-one-GPU-out by default."""
    import pandas as pd

    from costmodel.reference import names, protocol, score

    frame = pd.concat([score.scored(one, leave_one_gpu_out) for one in names(name)],
                      ignore_index=True)  # "all": every source, as validate --plot draws it
    return scored_figure(frame, name, protocol(name, leave_one_gpu_out))


def scored_figure(frame, name: str, how: str):
    """:func:`plot_validation` of a scored frame (``costmodel.reference.score.scored``): the
    implementation model, one colour per GPU, the error summary and ``how`` it was scored (the
    protocol, :func:`costmodel.reference.protocol`) in the title. A source scored as ratios
    (``measured_ratio``: small-h AFTER/BEFORE, FractalTensor's sweeps) plots its ratios."""
    if "derived" in frame.columns:  # sums of plotted rows: not points of their own
        frame = frame[~frame["derived"].fillna(False).astype(bool)]  # NaN: another source's
    measured, predicted, error, quantity = _scored_columns(frame)
    err = np.abs(frame[error].to_numpy(float))
    err = err[np.isfinite(err)]
    return plot_validation(frame[measured], frame[predicted], frame["gpu"], quantity=quantity,
                           title=f"{name}: {how}, {len(err)} rows; median |error| "
                                 f"{100 * np.median(err):.1f} %, p90 "
                                 f"{100 * np.quantile(err, P90):.1f} %")


def _scored_columns(frame) -> tuple[str, str, str, str]:
    """(measured, predicted, error, quantity) columns of a scored frame: seconds where the
    model predicts seconds, else the ratio of the source's default model."""
    if "predicted_model_s" in frame.columns:
        return "measured_s", "predicted_model_s", "error_model", "time (s)"
    for model in ("model", "auto"):
        if f"predicted_{model}_ratio" in frame.columns:
            return ("measured_ratio", f"predicted_{model}_ratio", f"error_{model}",
                    "ratio")
    raise ValueError("validation: this source has no predicted seconds or ratios to plot")
