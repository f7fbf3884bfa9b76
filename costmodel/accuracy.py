"""How far to trust a GPU time: the published measurements that score the kind of prediction
being made, on the device's architecture (``costmodel/data/fitted/accuracy.toml``, written by
``python -m costmodel.reference.accuracy`` from the validation's scored rows; nothing fitted).

``compare`` states it beside its time rows; notebooks call :func:`expected_error`::

    >>> import costmodel as cm
    >>> e = cm.expected_error("recurrence", "v100", "inference")
    >>> round(e.median, 3), e.source, e.gpus
    (0.277, 'deepbench-rnn', ('v100',))

Which entry applies: among the entries of the same kind, mode (``inference`` or
``training``), cuDNN stack and host bound, in the device's dtype or the other 16-bit type
(fp16 <-> bf16): those of the device's architecture, else of the nearest generation measured
(a tie takes the one with more rows, then the newer); there, the device's dtype before the
other 16-bit type; then a source that times whole models (``WHOLE_MODEL_SOURCES``) before one
that times parts of them, then the source with the most rows. A source that times GEMMs alone
(``GEMM_ONLY_SOURCES``: torch.mm peak rates) counts only for an architecture no source of
models or their ops has, in either 16-bit type. ``extrapolated`` marks an entry of
another architecture or dtype than the device's. ``this_gpu``: the same figures over the
device's own rows, from the source (of the same kind, mode, stack, host, dtype and
architecture) that holds the most of them, at least ``MIN_OWN_ROWS``: an A100's 6 rows within
the Ampere entry, an H100's 16 KernelBench rows beside the Hopper entry's H200 ones. The
entry stays the statement: a GPU's own handful of rows is often one or two machines. No
entry applies to a CPU, a calibrated profile (its own ``costmodel validate`` run is its
evidence) or a non-NVIDIA GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import tomllib

from costmodel.checks import check_choice
from costmodel.efficiency import (
    GPU_ARCHITECTURES as GENERATIONS,  # NVIDIA's, oldest first
)
from costmodel.hardware import DTYPES, Hardware, load_hardware

KINDS = ("recurrence", "transformer")
MODES = ("inference", "training")
COMMANDS = {"deepbench-rnn": "costmodel validate --reference deepbench-rnn",
            "h200-cudnn-rnn": "costmodel validate --reference h200-cudnn-rnn",
            "gnmt-dle": "costmodel validate --reference gnmt-dle",
            "kernelbench-rnn": "costmodel validate --reference kernelbench-rnn",
            "llmcompass": "python -m costmodel.validation.reference.ops_report",
            "neusight-e2e": "python -m costmodel.reference.neusight_e2e",
            "kernelbench-blocks": "costmodel validate --reference kernelbench-blocks",
            "zzc0721-mm": "costmodel validate --reference zzc0721-mm"}
#: sources that time whole models: where one has rows of the architecture chosen, it is taken
#: before a source that times parts of a model (kernelbench-blocks' attention compositions)
WHOLE_MODEL_SOURCES = ("neusight-e2e",)
#: sources that time GEMMs alone (torch.mm peak rates): an architecture's evidence only where no
#: source timing a model or its ops has it
GEMM_ONLY_SOURCES = ("zzc0721-mm",)
OTHER_16BIT = {"fp16": "bf16", "bf16": "fp16"}
#: fewest rows of the device itself for ``Evidence.this_gpu`` (fewer are one or two timings)
MIN_OWN_ROWS = 3


@dataclass(frozen=True)
class Evidence:
    """One source's score of a kind of prediction: ``median`` and ``p90`` of |predicted /
    measured - 1| and the ``signed_median`` of predicted / measured - 1 (negative: the
    predictions run too fast), over ``rows`` rows of ``gpus`` (``architecture``, ``dtype``).
    ``extrapolated``: from another architecture or dtype than the device's (``note`` says).
    ``this_gpu``: ``gpu``, ``median``, ``p90``, ``signed_median``, ``rows`` and ``source``
    over the device's own rows, or None (see the module docstring)."""

    kind: str
    mode: str
    source: str
    what: str
    protocol: str
    architecture: str
    dtype: str
    stack: str
    host: bool
    median: float
    p90: float
    signed_median: float
    rows: int
    gpus: tuple[str, ...]
    extrapolated: bool = False
    note: str = ""
    this_gpu: dict | None = None

    @property
    def command(self) -> str:
        """The command that prints the rows behind the figures."""
        return COMMANDS[self.source]

    def as_dict(self) -> dict:
        return {"kind": self.kind, "mode": self.mode, "median": self.median, "p90": self.p90,
                "signed_median": self.signed_median, "rows": self.rows,
                "gpus": list(self.gpus), "architecture": self.architecture,
                "dtype": self.dtype, "stack": self.stack or None, "host": self.host,
                "source": self.source, "what": self.what, "protocol": self.protocol,
                "command": self.command, "extrapolated": self.extrapolated,
                "note": self.note or None,
                "this_gpu": dict(self.this_gpu) if self.this_gpu else None}


@lru_cache(maxsize=1)
def entries() -> tuple[dict, ...]:
    """The shipped entries (``accuracy.toml``)."""
    text = resources.files("costmodel").joinpath("data", "fitted", "accuracy.toml").read_text()
    return tuple(tomllib.loads(text)["entry"])


def why_none(hw: Hardware) -> str | None:
    """Why no published measurement scores times on ``hw`` (None: some may)."""
    if getattr(hw, "efficiency", None):
        return "a calibrated profile: its own `costmodel validate` run measures its error"
    if hw.architecture == "cpu":
        return "no published measurements of CPUs here; `costmodel calibrate` measures yours"
    if hw.architecture not in GENERATIONS:
        return (f"no published measurements of {hw.vendor or 'this'} "
                f"{hw.architecture or 'device'} here")
    return None


def expected_error(kind: str, gpu: str | Hardware, mode: str, dtype: str = "fp32",
                   stack: str | None = None, host: bool | None = None) -> Evidence | None:
    """The evidence that applies to a ``kind`` of time (``recurrence`` or ``transformer``) in
    ``mode`` on ``gpu`` (see the module docstring), or None. ``stack``: the resolved cuDNN
    stack of a recurrence (default: what ``auto`` picks on ``gpu``); ``host``: whether a host
    bound applies (default: whether ``gpu`` carries one)."""
    check_choice("kind", kind, KINDS)
    check_choice("mode", mode, MODES)
    check_choice("dtype", dtype, DTYPES)
    hw = gpu if isinstance(gpu, Hardware) else load_hardware(gpu)
    if why_none(hw):
        return None
    if kind == "recurrence":
        from costmodel.implementations import cudnn_stack

        stack = cudnn_stack.resolve(stack or cudnn_stack.AUTO, hw)
        host = (getattr(hw, "host", None) is not None) if host is None else host
    else:
        stack, host = "", False
    same = [e for e in entries() if e["kind"] == kind and e["mode"] == mode
            and e["stack"] == stack and e["host"] == host]
    dtypes = [t for t in (dtype, OTHER_16BIT.get(dtype)) if t]
    chosen = [e for e in same if e["dtype"] in dtypes]
    if not chosen:
        return None
    own = {e["architecture"] for e in chosen if e["source"] not in GEMM_ONLY_SOURCES}
    chosen = [e for e in chosen  # GEMM-only rows where no model or op rows of the architecture
              if e["source"] not in GEMM_ONLY_SOURCES or e["architecture"] not in own]
    order = list(GENERATIONS)
    here = order.index(hw.architecture)
    rows = {}
    for e in chosen:
        rows[e["architecture"]] = max(rows.get(e["architecture"], 0), e["rows"])
    # nearest generation; a tie goes to the one with more rows, then to the newer
    nearest = min(rows, key=lambda a: (abs(order.index(a) - here), -rows[a], -order.index(a)))
    chosen = [e for e in chosen if e["architecture"] == nearest]
    wanted = next(t for t in dtypes if any(e["dtype"] == t for e in chosen))
    notes = [f"no {dtype} rows: {wanted}'s"] if wanted != dtype else []
    if nearest != hw.architecture:
        notes.append(f"no {hw.architecture} rows: {nearest}'s, the nearest generation measured")
    best = max((e for e in chosen if e["dtype"] == wanted),
               key=lambda e: (e["source"] in WHOLE_MODEL_SOURCES, e["rows"], e["source"]))
    caveat = [best["caveat"]] if best.get("caveat") else []  # a property of the rows
    return Evidence(kind=kind, mode=mode, source=best["source"], what=best["what"],
                    protocol=best["protocol"], architecture=best["architecture"],
                    dtype=best["dtype"], stack=best["stack"], host=best["host"],
                    median=best["median"], p90=best["p90"],
                    signed_median=best["signed_median"], rows=best["rows"],
                    gpus=tuple(best["gpus"]), extrapolated=bool(notes),
                    note="; ".join(notes + caveat), this_gpu=_own_rows(best, same, hw))


def _own_rows(best: dict, same: list[dict], hw: Hardware) -> dict | None:
    """The device's own rows among the entries of ``best``'s kind, mode, stack, host, dtype
    and architecture (``same``): the source with the most of them (``best``'s on a tie;
    a GEMM-only source only where it is ``best``), at least ``MIN_OWN_ROWS``, and not
    when they are all of ``best``'s rows."""
    found = []
    for e in same:
        if (e["dtype"], e["architecture"]) != (best["dtype"], best["architecture"]) or (
                e["source"] in GEMM_ONLY_SOURCES and e["source"] != best["source"]):
            continue
        for g in e.get("by_gpu", ()):
            if (g["rows"] >= MIN_OWN_ROWS and _same_device(g["gpu"], hw.name)
                    and not (e is best and len(e["gpus"]) == 1)):
                found.append((g["rows"], e is best, {**g, "source": e["source"]}))
    return max(found, key=lambda f: f[:2])[2] if found else None


def shares(e: Evidence) -> tuple[dict, ...]:
    """Each GPU's share of the shipped entry ``e`` was read from (``by_gpu``: ``gpu``,
    ``median``, ``p90``, ``signed_median``, ``rows``): the spread the pooled figure hides."""
    for entry in entries():
        if (entry["source"], entry["kind"], entry["mode"], entry["architecture"],
                entry["dtype"], entry["stack"], entry["host"]) == (
                e.source, e.kind, e.mode, e.architecture, e.dtype, e.stack, e.host):
            return tuple(entry.get("by_gpu", ()))
    return ()


@lru_cache(maxsize=None)
def _same_device(gpu: str, name: str) -> bool:
    """Whether the entry's GPU id names the catalogue device called ``name``."""
    return load_hardware(gpu).name == name


KIND_LABELS = {"recurrence": "recurrences", "transformer": "Transformer"}


def describe(kind: str, by_mode: dict) -> str:
    """One sentence: a ``kind``'s evidence per mode (``by_mode``: mode -> an
    :meth:`Evidence.as_dict`, or None), as ``compare`` prints it."""
    parts = []
    for mode, e in by_mode.items():
        if e is None:
            parts.append(f"{mode}: no published measurement")
            continue
        gpus = ", ".join(e["gpus"])
        note = f"; {e['note']}" if e["note"] else ""
        own = e.get("this_gpu")
        if own:
            of = "" if own["source"] == e["source"] else f" of {own['source']}"
            note += (f"; on the {own['gpu']} itself {100 * own['median']:.0f} / "
                     f"{100 * own['p90']:.0f}%, signed {100 * own['signed_median']:+.0f}%, "
                     f"{own['rows']} rows{of}")
        if e["rows"] == 1:
            parts.append(f"{mode} {100 * e['signed_median']:+.0f}% (1 row, {gpus}, "
                         f"{e['source']}, {e['protocol']}{note})")
        else:
            parts.append(f"{mode} {100 * e['median']:.0f} / {100 * e['p90']:.0f}%, signed "
                         f"{100 * e['signed_median']:+.0f}% ({e['rows']} rows, {gpus}, "
                         f"{e['source']}, {e['protocol']}{note})")
    return (f"time error, {KIND_LABELS[kind]} (median / p90 of |predicted / measured - 1|, "
            f"signed median; published measurements, docs/compare.md): " + "; ".join(parts))
