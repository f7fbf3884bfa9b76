"""Published GPU measurements as the ground truth of the time model: a registry of sources.

Each source is a module ``costmodel/reference/<source>.py`` with ``NAME`` (what ``costmodel
validate --reference NAME`` takes), ``FITTED`` (the ``costmodel/data/fitted/<FITTED>.toml`` its
fit writes), ``rows() -> DataFrame`` (one row per measurement: source, gpu, family, phase,
dtype, measured_s, repo, commit, path_or_url, plus its configuration), ``fit(train) -> dict``
and ``predict(rows, params) -> ndarray`` (through the same functions ``costmodel compare``
uses). :mod:`costmodel.reference.score` scores them leave-one-GPU-out; ``python -m
costmodel.reference.fit`` regenerates the fitted files.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# NAME -> module path; sources register here (one line each)
SOURCES = {
    "deepbench-rnn": "costmodel.reference.deepbench_rnn",
    "deepbench-gemm": "costmodel.reference.deepbench_gemm",
    "neusight": "costmodel.reference.neusight",
    "neusight-layers": "costmodel.reference.neusight_layers",
    "llmcompass": "costmodel.reference.llmcompass",
    "attention": "costmodel.reference.attention",
    "xwang233-small-h": "costmodel.reference.xwang233_small_h",
    "xwang233-standard": "costmodel.reference.xwang233_standard",
    "fractaltensor-cudnn": "costmodel.reference.fractaltensor_cudnn",
    "neusight-e2e": "costmodel.reference.neusight_e2e",
    "gnmt-dle": "costmodel.reference.gnmt_dle",
    "h200-cudnn-rnn": "costmodel.reference.h200_rnn",
    "h200-ops": "costmodel.reference.h200_ops",
    "kernelbench-rnn": "costmodel.reference.kernelbench_rnn",
    "kernelbench-ops": "costmodel.reference.kernelbench_ops",
    "kernelbench-blocks": "costmodel.reference.kernelbench_blocks",
    "zzc0721-mm": "costmodel.reference.zzc0721_mm",
}
REQUIRED_COLUMNS = ("source", "gpu", "family", "phase", "dtype", "measured_s", "repo",
                    "commit", "path_or_url")


def source(name: str) -> ModuleType:
    """The module of reference source ``name``; ValueError naming the known ones."""
    if name not in SOURCES:
        raise ValueError(f"unknown reference {name!r}; known: {', '.join(sorted(SOURCES))}, all")
    return importlib.import_module(SOURCES[name])


def names(selection: str) -> list[str]:
    """``"all"`` -> every registered source; else ``[selection]`` once it is known."""
    if selection == "all":
        return sorted(SOURCES)
    source(selection)
    return [selection]


def protocol(selection: str, leave_one_gpu_out: bool = True) -> str:
    """A short name of the protocol ``selection`` is scored by, for a plot's title: a source's
    own (its ``PROTOCOL``: leave-one-config-out, leave-one-shape-out, nothing fitted) where it
    has one (marked in-sample where ``leave_one_gpu_out`` False switched its hold-out off, not
    for a ``FIXED_PROTOCOL`` source), else leave-one-GPU-out (or in-sample); several protocols
    for ``all``."""
    labels = []
    for name in names(selection):
        module = source(name)
        label = getattr(module, "PROTOCOL", None) or (
            "leave-one-GPU-out" if leave_one_gpu_out else "in-sample")
        if (hasattr(module, "PROTOCOL") and not leave_one_gpu_out
                and not getattr(module, "FIXED_PROTOCOL", False)):
            label += " (here in-sample)"  # its own hold-out switched off too
        if label not in labels:
            labels.append(label)
    return " / ".join(labels)
