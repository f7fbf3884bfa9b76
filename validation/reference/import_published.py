"""Compact the transcribed published measurements into ``costmodel/data/reference/*.json``.

    python -m costmodel.validation.reference.import_published SOURCE_DIR   (from a checkout)

SOURCE_DIR holds the transcriptions (``neusight-perop-*.json``, ``neusight-model-layer-ops.json``,
``llmcompass-a100-mi210.json``, ``attention-a100.json``, ``gemm-a100-thread.json``), each with
its repository, commit, path and what was timed. One output file per source and GPU: the
provenance once (``provenance``), then ``columns`` and ``rows`` (``row`` = the row's index in
the transcription, so each figure can be traced to its line). Only the GPUs of the catalogue
this issue scores (A100, H100, L4, T4) are kept; P100 and P4 rows stay in the transcription.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from costmodel.hardware import load_hardware

OUT = Path(__file__).resolve().parents[2] / "costmodel" / "data" / "reference"
KEEP = ("A100", "H100", "L4", "T4")  # GPU name fragments this issue scores
PROVENANCE = ("source", "repo", "commit", "path", "url", "what", "software", "note")


def _gpu_key(device: str) -> str | None:
    """``'NVIDIA A100-PCIE-40GB'`` -> ``'a100-pcie-40gb'`` (first short name), or None."""
    if not any(word in device.replace("_", " ") for word in KEEP):
        return None
    hw = load_hardware(device.replace("_", " "))
    return hw.short_names[0]


def _write(name: str, provenance: dict, columns: list, rows: list) -> None:
    body = {"provenance": provenance, "columns": columns, "rows": rows}
    text = json.dumps(body, separators=(",", ":"))
    (OUT / f"{name}.json").write_text(text.replace("],[", "],\n[") + "\n", encoding="utf-8")


def _per_gpu(data: dict, device_column: int = 0):
    groups: dict[str, list] = {}
    for index, row in enumerate(data["rows"]):
        key = _gpu_key(row[device_column])
        if key:
            groups.setdefault((key, row[device_column]), []).append([index, *row[1:]])
    return groups


def neusight(folder: Path) -> None:
    for stem, tag in (("neusight-perop-bmm-test", "bmm"), ("neusight-perop-linear-test", "linear"),
                      ("neusight-perop-vec-test", "vec"), ("neusight-model-layer-ops", "layer")):
        data = json.loads((folder / f"{stem}.json").read_text())
        prov = {k: data[k] for k in PROVENANCE if k in data}
        if tag == "layer":
            prov["model_configs"] = data["model_configs"]
        for (key, device), rows in sorted(_per_gpu(data).items()):
            columns = ["row", *data["columns"][1:]]
            extra = {}
            if "kernel" in columns:  # long cuBLAS names: once in a table, rows give the index
                at = columns.index("kernel")
                names = sorted({row[at] for row in rows})
                rows = [[*row[:at], names.index(row[at]), *row[at + 1:]] for row in rows]
                extra = {"kernel_names": names, "kernel": "index into kernel_names"}
            _write(f"neusight-{tag}-{key}", {**prov, **extra, "device": device}, columns, rows)


def verbatim(folder: Path) -> None:
    """LLMCompass, the attention threads and the SGEMM thread: small, shipped as transcribed."""
    for stem, name in (("llmcompass-a100-mi210", "llmcompass-a100-sxm4-80gb"),
                       ("attention-a100", "attention-a100"),
                       ("gemm-a100-thread", "gemm-a100-pcie-80gb")):
        data = json.loads((folder / f"{stem}.json").read_text())
        if stem.startswith("llmcompass"):  # A100 only; MI210 is not in the catalogue
            data["datasets"] = {k: v for k, v in data["datasets"].items() if "MI210" not in k}
            data.pop("gpu_MI210", None)
        (OUT / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    source = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    neusight(source)
    verbatim(source)
