"""``docs/hardware.md``: the catalogue's devices, peaks and every figure's source, generated from
the shipped TOML files (:mod:`costmodel.hardware`); the test suite fails when it is stale."""

from __future__ import annotations

from costmodel.hardware import ARCHITECTURES, CONFIDENCE, FIGURES, PEAK_KEYS, list_hardware

_REGENERATE = ('python -c "from pathlib import Path; from costmodel.hardware_docs import '
               "render_markdown; Path('docs/hardware.md').write_text(render_markdown(), "
               "encoding='utf-8')\"")

_UNITS = {"memory_bytes": (1e9, "GB"), "hbm_bytes_per_s": (1e9, "GB/s"), "sm_count": (1, ""),
          "l2_bytes": (2**20, "MiB"), "boost_clock_hz": (1e6, "MHz"),
          "sustained_clock_hz": (1e6, "MHz")}


def _fmt(value: float | None, scale: float = 1.0) -> str:
    return "" if value is None else f"{value / scale:.5g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _display(field: str, value: float | str) -> str:
    if isinstance(value, str):  # memory_technology: a name, shown as is
        return value
    if field.startswith("peak_flops_per_s."):
        return f"{_fmt(value, 1e12)} {'TOPS' if field.endswith('int8') else 'TFLOP/s'}"
    scale, unit = _UNITS[field]
    return f"{_fmt(value, scale)} {unit}".strip()


#: docs/hardware.md's example of a user's own device file (a test loads it and prices with it)
OWN_GPU_EXAMPLE = """\
# a10g.toml: AWS's A10G (EC2 G5), as its AWS-hosted datasheet is quoted second-hand
name = "A10G"
architecture = "ampere"          # GA102, sm_86: the fitted Ampere sets apply
memory_technology = "GDDR6"      # GDDR parts stream at their own fraction of bandwidth
memory_bytes = 24e9
hbm_bytes_per_s = 600e9          # the memory bandwidth, whatever the DRAM
sm_count = 80
l2_bytes = 6291456
boost_clock_hz = 1.71e9
sustained_clock_hz = 1.18e9      # optional: 1710 MHz x 23.37 / 35 TFLOPS / 0.969

[peak_flops_per_s]
fp32 = 35e12
tf32 = 35e12
fp16 = 70e12                     # FP32 accumulate: what PyTorch's fp16 GEMMs use
bf16 = 70e12
"""


def _own_gpu_section() -> list[str]:
    return ["## Your own GPU", "",
            "A device the catalogue lacks (`compare --gpu a10g` says why that one is missing) "
            "is a TOML file passed wherever a GPU name goes (`--gpu a10g.toml`, "
            "`cm.load_hardware(\"a10g.toml\")`). A user's file needs only `name`, "
            "`hbm_bytes_per_s` and one peak; each figure may be a bare number, provenance is "
            "optional, an absent dtype is unsupported. Give `architecture` (one of "
            + ", ".join(f"`{a}`" for a in ARCHITECTURES if a != "cpu")
            + ") for the fitted GEMM, pointwise, attention and cuDNN sets of that generation "
            "to apply (without it: the generic priors), `sm_count` and `boost_clock_hz` for "
            "the GEMM waves and cuDNN's per-step floor, and `sustained_clock_hz` for a "
            "power-capped part: the clock at which an A100-like SGEMM (96.9 % of peak) reaches "
            "what `torch.matmul` of two large fp32 matrices measures on it (the catalogue's "
            "derivation). For example (figures as quoted by third parties, not checked here; "
            "the SGEMM figure is zzc0721/torch-performance-test-data issue #126's 23.37 "
            "TFLOP/s):", "", "```toml", OWN_GPU_EXAMPLE.rstrip("\n"), "```", "",
            "`cm.load_hardware(\"a10g.toml\")` prints the figures as read; `costmodel "
            "calibrate` on the machine itself writes a measured profile instead.", ""]


def render_markdown() -> str:
    """docs/hardware.md, generated from the shipped TOML files."""
    devices = list_hardware()
    out = ["# Hardware catalogue", "",
           "<!-- Generated from costmodel/data/hardware/*.toml by "
           "costmodel.hardware_docs.render_markdown(); do not edit. -->",
           f"Regenerate with `{_REGENERATE}`; the test suite fails when this file is stale.", "",
           "Dense peaks only. Memory is the marketed GB (10^9 B); L2 is in MiB. Memory type is "
           "the DRAM (HBM or GDDR family: fitted pointwise efficiencies transfer by it). "
           "Schema, units and the short-name choices: the docstring of `costmodel/hardware.py`.",
           "Flags: " + "; ".join(f"**{k}** {v}" for k, v in CONFIDENCE.items()) + ".", "",
           "## Devices", "",
           "| Device | Short names | Vendor | Memory type | Memory (GB) | Bandwidth (GB/s) "
           "| SMs / CUs | L2 (MiB) | Boost (MHz) |", "|---|---|---|---|---|---|---|---|---|"]
    for hw in devices:
        out.append(f"| {hw.name} | {', '.join(f'`{s}`' for s in hw.short_names)} | {hw.vendor} | "
                   f"{hw.memory_technology} | "
                   + " | ".join(_fmt(getattr(hw, f), _UNITS[f][0]) for f in FIGURES) + " |")
    out += ["", "## Dense peaks (TFLOP/s; int8 in TOPS)", "",
            "fp16/bf16: tensor, FP32 accumulate. `—` = no hardware support. "
            "`matrix` = full-precision FP64/FP32 on tensor or matrix units.", "",
            "| Device | " + " | ".join(PEAK_KEYS) + " |", "|---|" + "---|" * len(PEAK_KEYS)]
    for hw in devices:
        cells = [_fmt(hw.peaks[k], 1e12) if k in hw.peaks else "—" if k in hw.unsupported else ""
                 for k in PEAK_KEYS]
        out.append(f"| {hw.name} | " + " | ".join(cells) + " |")
    out += [""] + _own_gpu_section() + ["## Sources, figure by figure"]
    for hw in devices:
        out += ["", f"### {hw.name}", "", _cell(hw.notes), "",
                "| Figure | Value | Quote | Source | Read | Flag | Printed | Derivation |",
                "|---|---|---|---|---|---|---|---|"]
        for field, prov in hw.provenance.items():
            value = hw.peaks[field.split(".")[1]] if "." in field else getattr(hw, field)
            out.append("| " + " | ".join(_cell(c) for c in (
                field, _display(field, value), prov.quote, prov.source, str(prov.read),
                prov.confidence, prov.printed, prov.derivation)) + " |")
        for key, reason in hw.unsupported.items():
            out.append(f"| peak_flops_per_s.{key} | — | | | | | | {_cell(reason)} |")
    return "\n".join(out) + "\n"
