"""Transcribe the cuDNN stacked-LSTM timings of microsoft/FractalTensor into
``costmodel/data/reference/fractaltensor-cudnn-lstm.json``.

    python tools/import_fractaltensor_cudnn.py FRACTALTENSOR_CHECKOUT

Reads ``benchmarks/rnn/cuDNN/README.md`` of a checkout at commit ba0633e (the file has not
changed since) and writes one JSON: the provenance once, then one table per README section
with fixed sequence lengths (rows ``|CuDNN|[batch, hidden, length, depth]|...|Total(ms)|``)
as read. The "Variable sequence length in batch" sections are left out: their lengths are
drawn per sequence (normal, mean length/2, sd length/8) and not recorded, so what was timed
cannot be rebuilt. Nothing is rounded or derived.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = (Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference"
       / "fractaltensor-cudnn-lstm.json")
REPO = "microsoft/FractalTensor"
COMMIT = "ba0633eb01a433c31425f74f8fc7356cec51fef8"
PATH = "benchmarks/rnn/cuDNN/README.md"
ROW = re.compile(r"\|CuDNN\|\[(\d+), (\d+), (\d+), (\d+)\]\|\|\|\|\|([\d.]+)\|")
FIXED = "Fixed sequence length"
WHAT = ("cudnnRNNForward(CUDNN_FWD_MODE_INFERENCE) of one cuDNN LSTM descriptor "
        "(cudnnSetRNNDescriptor_v8: the cuDNN 8 API, so cuDNN >= 8.0), CUDNN_RNN_ALGO_STANDARD, "
        "CUDNN_DATA_FLOAT, CUDNN_DEFAULT_MATH, unidirectional, linear input, input size = "
        "hidden size, depth = numLayers; 3 warm-up calls, then cudaEvent time of 5 calls / 5 "
        "(benchmarks/rnn/cuDNN/RNN_example.h, utils.h, main.cu). Row [batch, hidden, length, "
        "depth]; Total(ms) per call.")


def tables(text: str) -> list[dict]:
    """The fixed-length tables of the README, each with its section, sweep and rows."""
    out, section = [], None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("### "):
            out.append({"section": section, "sweep": line[4:].strip(), "rows": []})
        elif (match := ROW.match(line)) and out:
            batch, hidden, length, depth, ms = match.groups()
            out[-1]["rows"].append({"batch": int(batch), "hidden": int(hidden),
                                    "seq": int(length), "layers": int(depth),
                                    "time_ms": float(ms)})
    return [t for t in out if t["section"].startswith(FIXED) and t["rows"]]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    text = subprocess.run(["git", "-C", argv[0], "show", f"{COMMIT}:{PATH}"], check=True,
                          capture_output=True, text=True).stdout
    data = {"source": REPO, "repo_head_commit": COMMIT,
            "url": f"https://github.com/{REPO}/blob/{COMMIT}/{PATH}", "path": PATH,
            "commit_date": "2024-09-24",
            "gpu": ("GPU not stated in benchmarks/rnn/cuDNN (the repository's "
                    "benchmarks/rnn/baselines/README.md names a GeForce RTX 2080 Ti with "
                    "cuDNN 7.6.5 for the framework baselines; the cuDNN program uses the "
                    "cuDNN 8 API, so that environment is not this one)"),
            "cudnn": "not stated; >= 8.0 (cudnnRNNForward / cudnnSetRNNDescriptor_v8)",
            "what": WHAT, "tables": tables(text)}
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
