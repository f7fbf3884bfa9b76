"""The hardware catalogue: accelerator figures as data, each figure with its provenance.

One TOML file per device in ``costmodel/data/hardware/`` holds every device number; this module
loads and checks them, resolves names and picks the peak a PyTorch matmul reaches
(``costmodel.hardware_docs`` renders ``docs/hardware.md`` from them). SI units throughout: FLOP/s (int op/s for int8), bytes, bytes/s, Hz.

Schema. Top level: ``name`` (unique), ``short_names`` (lower-case names users type), ``vendor``,
``notes`` (datasheet subtleties), ``architecture`` (one of ARCHITECTURES: the generation whose
fitted implementation priors apply; optional in user files). One table per figure --
``memory_technology`` (the DRAM, one of MEMORY_TECHNOLOGIES: HBM or GDDR parts stream at different
fractions of their datasheet bandwidth, so fitted pointwise efficiencies transfer by it; its
``value`` is a string such as "HBM2e"; optional in user files, where a plain string such as
``memory_technology = "GDDR6"`` also works), ``memory_bytes``, ``hbm_bytes_per_s``,
``sm_count`` (SMs; CUs on AMD), ``l2_bytes``, ``boost_clock_hz`` and ``peak_flops_per_s.<key>``;
optionally ``sustained_clock_hz`` (the clock a power-capped part holds under matmul load)::

    [peak_flops_per_s.fp16]
    value      = 312e12        # SI, dense
    quote      = "FP16-Performance 312 TFLOPS / 624 TFLOPS*"   # the source's own words
    source     = "title, URL"
    read       = 2026-11-22    # date read
    confidence = "C"           # C, R, U or d: see CONFIDENCE
    printed    = "dense"       # peaks only: was the quoted figure dense or (2:4) sparse?
    derivation = "..."         # how value follows from quote; required for "d" and "sparse"

A quote joins several verbatim excerpts with " … "; table rows keep their cells, " | "-separated.
Peak keys, all dense: fp64, fp32 (vector/CUDA-core rates); tf32, fp16, bf16 (FP32 accumulate; on
GeForce that is the half rate), fp8, int8 (tensor/matrix rates); optional fp64_matrix and
fp32_matrix (full-precision matrix units: NVIDIA FP64 Tensor Core, AMD MFMA). Missing hardware
support is marked explicitly, never by omission: ``supported = false`` plus a ``reason``.

Shipped files must give every figure and every key of DTYPES, each with full provenance. A
user's own file needs only ``name``, ``hbm_bytes_per_s`` and one peak; there a figure may be a
bare number (``memory_technology`` a bare string), provenance is optional, an absent figure is
``None`` and an absent dtype unsupported.
Unknown keys, non-numbers, non-positive values and bad provenance are errors in both.
A user file may also be a device profile written by ``costmodel calibrate``: its
``[calibration]`` table (device, versions, threads, date, benchmarks: kept as read) and its
``[efficiency]`` table (read by ``costmodel.roofline.Efficiency.from_table``, which the roofline
then uses for this device), and on a GPU its ``[host]`` table (the host's cost to issue cuDNN's
kernels: ``costmodel.implementations.host_issue``). Shipped files never carry them: they hold datasheet figures only.

Memory is the marketed GB * 1e9, a lower bound (an H100 "80 GB" shows 81,559 MiB). Cache "MB" is
read as MiB (caches are binary; an A100 reports 41,943,040 B of L2).

Names resolve case-insensitively; runs of other characters than letters, digits and "." become
"-", and leading vendor words (NVIDIA, AMD, Tesla, GeForce, Instinct) drop, so full names and
``torch.cuda.get_device_name()`` strings resolve too. Choices: ``a100`` is the A100 SXM4 40GB (the
launch part the bare name and its quoted figures mean; the lower-bandwidth SXM part, so a
memory-bound roofline errs slow, not fast); ``h100`` the H100 SXM5; ``v100`` the V100 SXM2;
``mi250x`` one GCD (one torch device).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import re
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
PEAK_KEYS = ("fp64", "fp64_matrix", "fp32", "fp32_matrix", "tf32", "fp16", "bf16", "fp8", "int8")
FIGURES = ("memory_bytes", "hbm_bytes_per_s", "sm_count", "l2_bytes", "boost_clock_hz")
# optional in every file: the SM clock a power-capped part holds under sustained matmul load
# (L4, T4 at 70-72 W run well below boost); the GEMM time model scales the peaks by it
OPTIONAL_FIGURES = ("sustained_clock_hz",)
CONFIDENCE = MappingProxyType({
    "C": "matches a vendor document (or a verbatim copy) and the arithmetic cross-check",
    "R": "from reputable secondary pages only",
    "U": "unconfirmed: sources conflict or are missing",
    "d": "derived here by arithmetic (see the derivation)",
})
PRINTED = ("dense", "sparse")
# PyTorch defaults: torch.backends.cuda.matmul.allow_tf32 is False (since 1.12), so cuBLAS fp32
# matmuls run at the fp32 rate; torch.backends.cudnn.allow_tf32 is True, so cuDNN convolutions
# and RNNs (nn.LSTM, nn.GRU) may use TF32 tensor cores. Newer torch names these fp32_precision.
TORCH_MATMUL_ALLOW_TF32_DEFAULT = False
# Architectures without tensor cores. PyTorch's half GEMMs accumulate in fp32 (aten/src/ATen/
# cuda/CUDABlas.cpp: cublasGemmEx with compute type CUDA_R_32F), so there they run on the fp32
# units at the fp32 rate, not a native half2 rate such as the P100's 2x: zzc0721/torch-
# performance-test-data's database.md times a P100's torch.mm at 8.39 TFLOP/s in fp16 and 8.63
# in fp32 (Maxwell and GP102 have no fast half math at all)
NO_TENSOR_CORES = ("maxwell", "pascal")
TORCH_CUDNN_ALLOW_TF32_DEFAULT = True

_PROVENANCE_KEYS = ("quote", "source", "read", "confidence")
_FIGURE_KEYS = frozenset({"value", *_PROVENANCE_KEYS, "derivation", "printed"})
_UNSUPPORTED_KEYS = frozenset({"supported", "reason"})
_TOP_KEYS = frozenset({"name", "short_names", "vendor", "notes", "architecture",
                       "memory_technology", *FIGURES,
                       *OPTIONAL_FIGURES, "peak_flops_per_s"})
# GPU generations: per-architecture efficiency priors are fitted and keyed by these names
ARCHITECTURES = ("maxwell", "pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell",
                 "cdna1", "cdna2", "cdna3", "gcn5", "cpu")
# DRAM technologies of the catalogue; the family (HBM or GDDR) is what the fits key on
MEMORY_TECHNOLOGIES = ("HBM2", "HBM2e", "HBM3", "HBM3e", "GDDR5", "GDDR5X", "GDDR6", "GDDR6X")
MEMORY_FAMILIES = ("HBM", "GDDR")
# user files only: a calibrated device profile (host: costmodel.implementations.host_issue)
_PROFILE_KEYS = ("efficiency", "calibration", "host")
_VENDOR_WORDS = ("nvidia", "amd", "tesla", "geforce", "instinct")
_PACKAGE_FOLDER = ("data", "hardware")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where one figure comes from; blanks (and ``read=None``) only in user files."""

    quote: str = ""
    source: str = ""
    read: dt.date | None = None
    confidence: str = ""
    derivation: str = ""
    printed: str = ""


@dataclasses.dataclass(frozen=True)
class Hardware:
    """One device in SI units. ``peaks``: supported keys only; ``unsupported``: key -> reason;
    ``provenance``: keyed by figure name, peaks as ``"peak_flops_per_s.fp16"``."""

    name: str
    short_names: tuple[str, ...]
    vendor: str
    memory_bytes: float | None
    hbm_bytes_per_s: float
    sm_count: int | None
    l2_bytes: float | None
    boost_clock_hz: float | None
    peaks: Mapping[str, float]
    unsupported: Mapping[str, str]
    provenance: Mapping[str, Provenance]
    notes: str = ""
    architecture: str = ""  # one of ARCHITECTURES, "" when a user file gives none
    origin: str = ""
    efficiency: Mapping[str, Any] | None = None  # a calibrated profile's [efficiency] table
    calibration: Mapping[str, Any] | None = None  # ... and its [calibration] metadata
    sustained_clock_hz: float | None = None  # optional: see OPTIONAL_FIGURES
    memory_technology: str = ""  # one of MEMORY_TECHNOLOGIES, "" when not given
    #: a profile's measured host-issue costs (implementations.host_issue.HostCosts), or None
    host: Any = None

    @property
    def memory_family(self) -> str:
        """"HBM" or "GDDR" (the prefix of ``memory_technology``), "" when not given."""
        return next((f for f in MEMORY_FAMILIES if self.memory_technology.startswith(f)), "")

    def sustained_fraction(self) -> float:
        """sustained / boost clock where both are known (a power-capped part), else 1."""
        if self.sustained_clock_hz and self.boost_clock_hz:
            return min(1.0, self.sustained_clock_hz / self.boost_clock_hz)
        return 1.0

    def __repr__(self) -> str:  # a terminal: the figures, not every source's quote
        peaks = ", ".join(f"{k} {v / 1e12:.3g}" for k, v in self.peaks.items())
        memory = "" if self.memory_bytes is None else f", {self.memory_bytes / 1e9:g} GB"
        return (f"Hardware {self.name} ({self.origin}): peak TFLOP/s {peaks}; "
                f"{self.hbm_bytes_per_s / 1e9:.4g} GB/s{memory} (sources: .provenance)")

    def __hash__(self) -> int:  # the mapping fields are read-only views; hash what defines a device
        return hash((self.name, self.origin, tuple(self.peaks.items()), self.hbm_bytes_per_s,
                     self.host))

    def peak_flops_per_s(self, dtype: str) -> float:
        """Dense peak FLOP/s (int op/s for int8) for ``dtype``; ValueError when unsupported."""
        if dtype in self.peaks:
            return self.peaks[dtype]
        if dtype in self.unsupported:
            why = f"{self.name} has no {dtype} support ({self.unsupported[dtype]})"
        elif dtype in PEAK_KEYS:
            why = f"{self.name} gives no {dtype} peak"
        else:
            why = f"unknown dtype {dtype!r} (known: {', '.join(PEAK_KEYS)})"
        raise ValueError(f"{why}; available: {', '.join(self.peaks)}")


def matmul_peak(hw: Hardware, dtype: str,
                allow_tf32: bool = TORCH_MATMUL_ALLOW_TF32_DEFAULT) -> float:
    """The peak a PyTorch matmul in ``dtype`` reaches on ``hw``.

    fp32 uses TF32 tensor cores only when ``allow_tf32`` and the device has them, else the fp32
    matrix units where they exist (AMD MFMA), else the vector rate; fp16 on a GPU without
    tensor cores runs at the fp32 rate (:data:`NO_TENSOR_CORES`). The default mirrors
    ``torch.backends.cuda.matmul.allow_tf32`` (False); for cuDNN RNNs and convolutions pass
    ``TORCH_CUDNN_ALLOW_TF32_DEFAULT`` (True). fp64 uses fp64_matrix where present.
    """
    if dtype == "fp32" and allow_tf32 and "tf32" in hw.peaks:
        return hw.peaks["tf32"]
    if dtype == "fp16" and hw.architecture in NO_TENSOR_CORES:  # fp32 math: see NO_TENSOR_CORES
        return hw.peak_flops_per_s("fp32")
    if dtype in ("fp32", "fp64") and f"{dtype}_matrix" in hw.peaks:
        return hw.peaks[f"{dtype}_matrix"]
    return hw.peak_flops_per_s(dtype)


def normalize_name(name: str) -> str:
    """``"NVIDIA GeForce RTX 4090"`` -> ``"rtx-4090"``; see the module docstring."""
    key = re.sub(r"[^a-z0-9.]+", "-", name.strip().lower()).strip("-")
    words = key.split("-")
    while len(words) > 1 and words[0] in _VENDOR_WORDS:
        words = words[1:]
    return "-".join(words)


# ---- the catalogue ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _catalogue() -> tuple[tuple[Hardware, ...], Mapping[str, Hardware]]:
    folder = resources.files("costmodel").joinpath(_PACKAGE_FOLDER[0]).joinpath(_PACKAGE_FOLDER[1])
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name)
    from costmodel.hardware_file import parse

    devices = tuple(parse(e.read_text(encoding="utf-8"),
                           "costmodel/" + "/".join((*_PACKAGE_FOLDER, e.name)), strict=True)
                    for e in entries)
    index: dict[str, Hardware] = {}
    for hw in devices:
        for key in {normalize_name(hw.name), *hw.short_names}:
            other = index.setdefault(key, hw)
            if other is not hw:
                raise ValueError(f"{hw.origin}: field 'short_names': {key!r} also names "
                                 f"{other.name} ({other.origin})")
    return devices, MappingProxyType(index)


#: parts users ask for by a name one letter from a catalogue entry they are not: an unknown
#: name among these gets why, not a closest match that would price another board
NOT_CATALOGUED = {
    "a10g": "AWS's A10G (EC2 G5) is not the NVIDIA A10 ('a10'): 80 SMs against 72, half the "
            "A10's tensor rate per SM (70 against 125 TFLOP/s fp16), 300 W against 150; its "
            "figures circulate only second-hand (an AWS-hosted datasheet), so it has no "
            "catalogue entry",
}


def list_hardware() -> list[Hardware]:
    """Every shipped device, in file-name order."""
    return list(_catalogue()[0])


def load_hardware(name_or_path: str | Path) -> Hardware:
    """A shipped device by short or full name (case-insensitive), or a user's .toml file."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or Path(text).is_file():
        from costmodel.hardware_file import parse

        try:
            return parse(Path(text).read_text(encoding="utf-8"), text, strict=False)
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{text}: cannot read hardware file: {err}") from None
    index = _catalogue()[1]
    key = normalize_name(text)
    if key in index:
        return index[key]
    if key in NOT_CATALOGUED:
        raise ValueError(f"unknown hardware {text!r}: {NOT_CATALOGUED[key]}. A path to your own "
                         ".toml works (docs/hardware.md shows the fields).")
    close = difflib.get_close_matches(key, sorted(index), n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else (
        "known: " + ", ".join(hw.short_names[0] for hw in list_hardware()))
    raise ValueError(f"unknown hardware {text!r}; {hint}. A path to your own .toml also works.")
