"""Turn library results into rows of human-readable cells (tables) for the renderers."""

from __future__ import annotations

from . import render

NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer",
         "s4": "S4", "mamba": "Mamba", "linear_attention": "LinearAttn",
         "linformer": "Linformer", "conformer": "Conformer", "ast": "AST"}

#: (label, key, unit) of the comparison table, in order; unit None = plain number.
LINES = (
    ("params", "params", ""),
    ("forward FLOPs", "flops", "FLOP"),
    ("training FLOPs", "flops_training", "FLOP"),
    ("activation memory", "activation_bytes", "B"),
    ("inference memory", "inference_bytes", "B"),
    ("sequential depth", "depth_forward", None),
    ("inference forward", "time_forward_s", "s"),
    ("  bound by", "binding", "text"),
    ("training step", "time_training_s", "s"),
    ("fraction of peak", "fraction_of_peak", "%"),
)


def _cell(value, unit) -> str:
    if unit == "text":
        return str(value)
    if unit is None:
        return f"{value:,}"
    if unit == "%":  # two significant digits, never in exponent form ("190 %", not "1.9e+02")
        percent = 100 * value
        return f"{percent:.0f} %" if abs(percent) >= 10 else f"{percent:.2g} %"
    return render.si(value, unit)


#: The lines of ``compare --mode training``: what a training step costs.
TRAINING_LINES = ("params", "flops_training", "activation_bytes", "depth_forward",
                  "time_training_s")
#: (label, key) of the ratio table, in order; ``--mode training`` shows TRAINING_RATIOS.
RATIO_LINES = (("params", "params"), ("forward FLOPs", "flops"),
               ("activation memory", "activation_bytes"), ("sequential depth", "depth_forward"),
               ("inference forward", "time_forward"), ("training step", "time_training"))
TRAINING_RATIOS = (("params", "params"), ("training FLOPs", "flops_training"),
                   ("activation memory", "activation_bytes"),
                   ("sequential depth", "depth_forward"), ("training step", "time_training"))
#: (label, quantity) of the crossover table; ``--mode training`` keeps the TRAINING_LINES.
CROSSOVER_COLUMNS = (("memory", "activation_bytes"), ("FLOPs", "flops"),
                     ("fwd time", "time_forward_s"))


def comparison_table(result, fmt: str, training_only: bool = False) -> str:
    setup, rows = result.setup, result.rows
    header = [""] + [NAMES[r["model"]] for r in rows]
    lines = [line for line in LINES if not training_only or line[1] in TRAINING_LINES]
    body = [[label] + [_cell(r[key], unit) for r in rows] for label, key, unit in lines]
    title = (f"n={setup.n}, d={setup.d}, batch={setup.batch}, layers={setup.layers}, "
             f"{setup.dtype}, {result.hardware.name}"
             + (", causal" if setup.causal else "") + (", bidirectional recurrences"
                                                       if setup.bidirectional else ""))
    items = assumption_items(result.assumptions,
                             ("training",) if training_only else ("training", "inference"))
    items += tf32_items(setup, result.hardware)
    ratio_header = ["ratio to Transformer"] + [NAMES[r["model"].split("/")[0]]
                                              for r in result.ratios]
    ratio_body = [[label] + [render.ratio(r[key]) for r in result.ratios]
                  for label, key in (TRAINING_RATIOS if training_only else RATIO_LINES)]
    crossings = [c for c in CROSSOVER_COLUMNS if not training_only or c[1] in TRAINING_LINES]
    cross_header = ["crossover n (equal)"] + [label for label, _ in crossings]
    cross_body = []
    for model in dict.fromkeys(c["model"] for c in result.crossovers):
        found = {c["quantity"]: c.get("all_n") or c["n"] for c in result.crossovers
                 if c["model"] == model}
        cross_body.append([NAMES[model]] + [_ns(found.get(q)) for _, q in crossings])
    tables = [(header, body)]
    if result.ratios:
        tables += [(ratio_header, ratio_body), (cross_header, cross_body)]
    return framed(title, items, tables, fmt,
                  _note(result) + _too_large(result, training_only))


def framed(title: str, items: list[str], tables, fmt: str, note: str) -> str:
    """``tables`` ((header, body) pairs) under the title and assumption ``items``, in ``fmt``
    (table, markdown or latex); ``note`` closes each (a paragraph, LaTeX comments)."""
    draw = {"markdown": render.to_markdown, "latex": render.to_latex}.get(fmt, render.to_table)
    parts = [draw(h, b) for h, b in tables]
    if fmt == "markdown":
        return f"**{title}**\n\n" + "".join(f"- {item}\n" for item in items) + (
            "\n" + "\n".join(parts)) + (f"\n{note}" if note else "")
    if fmt == "latex":
        return ("".join(f"% {line}\n" for line in [title, *_wrapped(items)]) + "\n".join(parts)
                + "".join(f"% {line}\n" for line in note.splitlines()))
    return "\n".join(["\n".join([title, *_wrapped(items)]) + "\n", *parts, note])


WIDTH = 80  # the table and its header fit a terminal (a test checks)


def _wrapped(items: list[str]) -> list[str]:
    """Lines of at most WIDTH characters, continuations indented."""
    import textwrap

    return [line for t in items for line in textwrap.wrap(t, WIDTH, subsequent_indent="  ")]


def wrapped_text(text: str) -> str:
    """One sentence as lines of at most WIDTH characters, ending with a newline."""
    return "\n".join(_wrapped([text])) + "\n"


def assumption_items(a: dict, modes=("training", "inference")) -> list[str]:
    """What the comparison assumed, one sentence per item, for the ``modes`` the table shows
    (``compare --mode training`` has no inference rows, prefill and decode no training)."""
    if not a:
        return []
    layer = (f"{a['heads']} heads of width {a['head_width']}, ffn {a['ffn']}, "
             if a["heads"] else "")
    text = [f"assumed: {layer}dropout {a['dropout']:g}, batch_first={a['batch_first']}"]
    if "training" in modes:
        text.append(f"training step: "
                    f"{a['training_step'].replace('Adam', a['optimizer'].title())}")
    if "inference" in modes:
        text.append(f"inference (forward time, memory): {a['inference']}")
    if a.get("attention"):
        how = ("explicit" if a["attention"][modes[0]]["path"] == "explicit"
               else "what PyTorch's SDPA dispatch runs here")
        kernels = ", ".join(f"{a['attention'][mode]['kernel']} in {mode}" for mode in modes)
        text.append(f"attention: {kernels} ({how})")
    text.append(f"recurrences: {a['rnn_implementation']}")
    if a.get("op_floor"):
        text.append(f"per-op floor: {a['op_floor']}")
    return text + expected_error_items(a.get("expected_error"), modes)


def expected_error_items(expected: dict | None, modes) -> list[str]:
    """How far such times were from published measurements, per kind of row and mode shown
    (costmodel.accuracy); one item saying why where no source measures the device."""
    from costmodel import accuracy

    if not expected:
        return []
    if expected.get("why_none"):
        return [f"time error: not known here ({expected['why_none']})"]
    return [accuracy.describe(kind, {m: expected[kind][m] for m in accuracy.MODES
                                     if m in modes})
            for kind in accuracy.KINDS if kind in expected]


def tf32_items(setup, hw) -> list[str]:
    """fp32 on a device with TF32 tensor cores: which matmuls the times put on them (PyTorch's
    defaults: cuBLAS off, cuDNN on; costmodel.roofline)."""
    if setup.dtype != "fp32" or not hw.peaks.get("tf32"):
        return []
    cublas = ("TF32 tensor cores (--allow-tf32)" if setup.allow_tf32
              else "FP32 cores (TF32 off: PyTorch's default; --allow-tf32 turns it on)")
    if hw.vendor != "NVIDIA":  # ROCm: hipBLASLt and MIOpen, TF32 opt-in for both
        return [(f"fp32 matmuls: hipBLASLt on {cublas.replace('TF32 off', 'TF32 opt-in')}; "
                 "MIOpen's RNN and conv GEMMs in full fp32 (ROCm's default)")]
    return [f"fp32 matmuls: cuBLAS on {cublas}; cuDNN's RNN GEMMs on TF32 (its default)"]


def _note(result) -> str:
    from costmodel.efficiency import Efficiency
    from costmodel.implementations import cublas

    calibrated = bool(getattr(result.hardware, "efficiency", None))
    fitted = not calibrated and Efficiency.for_hardware(result.hardware).cublas is not None
    arch = result.hardware.architecture
    used = cublas.set_used(cublas.shipped(), arch) if fitted else arch
    whose = (f"fitted for {arch} GPUs" if used == arch
             else f"fitted across architectures ({arch} has no\nset of its own)"
             if used == "cross" else f"fitted for {used} GPUs ({arch} borrows\ntheir GEMM set)")
    source = ("a calibrated profile's efficiencies" if calibrated
              else f"the datasheet, with GEMM, pointwise and fused-attention\nefficiencies "
                   f"{whose} (costmodel/data/fitted/"
                   "cublas.toml,\nsdpa.toml; recurrences: cudnn_rnn.toml, cudnn_small_h.toml, "
                   "cudnn_stack.toml)"
              if fitted else "the datasheet with efficiency priors")
    crossover = ""
    if result.ratios:
        more = ";\n'...': more changes, every n in --format json" if _abbreviated(result) else ""
        crossover = ("crossover: the n where the two are equal ('never' = no n >= 1 does; 'a / b':"
                     "\nthe order changes at each, e.g. the Transformer faster from a to b"
                     f"{more});\n")
    return f"{crossover}time: the roofline on {source}.\n"


def _too_large(result, training_only: bool = False) -> str:
    """A warning naming each model whose training step (or inference forward) needs more
    than the device's memory: its time rows assume a device that could hold it."""
    from costmodel.compare import TRAINING_MEMORY

    memory = getattr(result.hardware, "memory_bytes", None)
    over = []
    for row in result.rows if memory else ():
        needs = {"training step": sum(row[q] for q in TRAINING_MEMORY)}
        if not training_only:
            needs["inference"] = row["inference_bytes"]
        big = [f"{what} {render.si(value, 'B')}" for what, value in needs.items()
               if value > memory]
        if big:
            over.append(f"{NAMES[row['model']]} ({', '.join(big)})")
    if not over:
        return ""
    text = (f"does not fit in the {result.hardware.name}'s {render.si(memory, 'B')}: "
            f"{'; '.join(over)} (their time rows assume a device that could hold them).")
    return wrapped_text(text)


def _n(value) -> str:
    return "never" if value is None else f"{value:,.0f}"


#: a crossover cell lists at most this many n; more (a time that zigzags, e.g. GEMM waves at
#: tiny n) show the first two, '...' and the last, so the table stays within WIDTH columns
#: (every n is in --format json's all_n)
MAX_CROSSINGS = 4


def _ns(values) -> str:
    """One crossover cell: 'never', one n, or every n where the order changes ('6 / 200,449';
    '11 / 12 / ... / 6,111' beyond MAX_CROSSINGS)."""
    if values is None or isinstance(values, (int, float)):
        return _n(values)
    if len(values) > MAX_CROSSINGS:
        return " / ".join([_n(values[0]), _n(values[1]), "...", _n(values[-1])])
    return " / ".join(_n(v) for v in values) if len(values) else "never"


def _abbreviated(result) -> bool:
    """Whether a crossover cell of ``result`` leaves n out (:data:`MAX_CROSSINGS`)."""
    return any(len(c.get("all_n") or ()) > MAX_CROSSINGS for c in result.crossovers)


def gpu_rows(devices):
    from costmodel.efficiency import GPU_ARCHITECTURES
    from costmodel.implementations import cublas

    header = ["--gpu", "name", "arch", "fp32 TF", "tf32", "bf16", "fp16", "GB/s", "GB", "L2 MiB"]
    body, raw = [], []
    fitted = cublas.shipped()
    for hw in devices:
        arch = hw.architecture or "-"
        gemm_set = (None if not hw.architecture else "priors"
                    if hw.architecture not in GPU_ARCHITECTURES
                    else cublas.set_used(fitted, hw.architecture))
        peaks = {k: hw.peaks.get(k) for k in ("fp32", "tf32", "bf16", "fp16", "fp8", "int8",
                                               "fp64")}
        body.append([hw.short_names[0], hw.name, arch if gemm_set in (None, arch) else arch + "*"]
                    + [_tf(peaks[k]) for k in ("fp32", "tf32", "bf16", "fp16")]
                    + [f"{hw.hbm_bytes_per_s / 1e9:,.0f}",
                       "-" if hw.memory_bytes is None else f"{hw.memory_bytes / 1e9:.0f}",
                       "-" if hw.l2_bytes is None else f"{hw.l2_bytes / 2 ** 20:.0f}"])
        raw.append({"name": hw.name, "short_names": list(hw.short_names),
                    **{f"peak_{k}_flops_per_s": v for k, v in peaks.items()},
                    "hbm_bytes_per_s": hw.hbm_bytes_per_s, "memory_bytes": hw.memory_bytes,
                    "l2_bytes": hw.l2_bytes, "sm_count": hw.sm_count,
                    "architecture": hw.architecture, "gemm_set": gemm_set})
    return header, body, raw


def _tf(value) -> str:
    return "-" if value is None else f"{value / 1e12:,.1f}"
