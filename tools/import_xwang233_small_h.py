"""Transcribe the cuDNN small-hidden-size RNN benchmark of PyTorch PR #62143 into
``costmodel/data/reference/xwang233-cudnn-small-h.json``.

    python tools/import_xwang233_small_h.py CODE_SNIPPET_CHECKOUT

Reads ``cudnn-rnn-bench-62143/{forward,backward}/readme.txt`` (torch.utils.benchmark
``Compare`` tables) of a checkout of ``xwang233/code-snippet`` at commit 2c053c8 and writes one
JSON: the provenance once, then one table per (phase, op, nonlinearity, dtype) with its unit
line and every row as read (sequence, batch, input, hidden, layers; BEFORE and AFTER in the
table's unit). Nothing is rounded or derived.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = (Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference"
       / "xwang233-cudnn-small-h.json")
REPO = "xwang233/code-snippet"
COMMIT = "2c053c85c6d73a32cc4b8e92e55ef8d0d780d578"
FOLDER = "cudnn-rnn-bench-62143"
BEFORE, AFTER = "1.11.0a0+git251686f", "1.11.0a0+git9d80e6d"
WHAT = {
    "forward": ("torch.utils.benchmark.Timer(stmt='rnn(x)').blocked_autorange(min_run_time=0.1)"
                " (median per run reported by Compare) of rnn = torch.nn.{RNN,LSTM}(i, h, n"
                "[, nonlinearity]) on CUDA in the table's dtype, x = (seq, batch, input) with "
                "requires_grad False, default h0: a training-mode forward (autograd records it)"
                " of all n layers, unidirectional, no dropout; the Fuzzer draws seq 1000-6000, "
                "batch 1-64, input 16-512, hidden 16-384 (RNN) or 16-192 (LSTM), layers 1-4, "
                "input and hidden multiples of 8, seed 42."),
    "backward": ("the same modules and inputs (same Fuzzer, seed 42); setup runs out = "
                 "rnn(x)[0] and g = torch.randn_like(out); timed: out.backward(g, "
                 "retain_graph=True) only (the forward is NOT timed): cuDNN backward data "
                 "and backward weights of all n layers; x does not require grad."),
}
HEADER = re.compile(r"op='(\w+)', nonlinearity='(\w+)', dtype='(\w+)'")
ROW = re.compile(r"x=\((\d+), (\d+), (\d+)\),\s+op=\((\d+), (\d+), (\d+)\)\s+\|\s+([\d.]+)\s+\|"
                 r"\s+([\d.]+)")
UNIT = re.compile(r"Times are in (\w+) \((\w+)\)")


def tables(text: str, phase: str, path: str) -> list[dict]:
    """Every Compare table of one readme, its rows as read."""
    out, current = [], None
    for line in text.splitlines():
        if (head := HEADER.search(line)):
            op, nonlinearity, dtype = head.groups()
            current = {"phase": phase, "path": path, "op": op,
                       "nonlinearity": None if nonlinearity == "None" else nonlinearity,
                       "dtype": dtype, "rows": []}
            out.append(current)
        elif (row := ROW.search(line)) and current is not None:
            seq, batch, inp, inp_again, hidden, layers = (int(v) for v in row.groups()[:6])
            if inp != inp_again:
                raise ValueError(f"{path}: {line!r}: input size differs between x and op")
            current["rows"].append({"seq": seq, "batch": batch, "input": inp, "hidden": hidden,
                                    "layers": layers, "before": float(row.group(7)),
                                    "after": float(row.group(8))})
        elif (unit := UNIT.search(line)) and current is not None:
            current["unit"] = unit.group(2)
            current["unit_line"] = line.strip()
            current = None
    return out


def main(argv: list[str]) -> int:
    checkout = Path(argv[0])
    out = []
    for phase in ("forward", "backward"):
        path = f"{FOLDER}/{phase}/readme.txt"
        text = subprocess.run(["git", f"--git-dir={checkout}", "show", f"{COMMIT}:{path}"],
                              check=True, capture_output=True, text=True).stdout
        for table in tables(text, phase, path):
            out.append({**table, "script": f"{FOLDER}/{phase}/b.py", "what": WHAT[phase]})
    data = {
        "source": REPO, "repo_head_commit": COMMIT,
        "url": f"https://github.com/{REPO}/tree/{COMMIT}/{FOLDER}",
        "commit_date": "2021-12-01",
        "pytorch_pr": ("pytorch/pytorch#62143 '[cuDNN] Add a new optimized cuDNN RNN algorithm "
                       "for small RNN hidden_size' (relanded as #73211)"),
        "gpu": "GPU not stated (readme, scripts and the PR excerpts name none)",
        "columns": {"before": {"pytorch": BEFORE, "algo": "standard",
                               "note": "CUDNN_RNN_ALGO_STANDARD for these shapes"},
                    "after": {"pytorch": AFTER, "algo": "persist_static_small_h",
                              "note": ("CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H where the PR's "
                                       "hidden-size limits admit it, else STANDARD")}},
        "same_gpu": ("read so: both builds in one Compare table of one benchmark; not stated "
                     "in words"),
        "tables": out,
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {sum(len(t['rows']) for t in out)} rows in {len(out)} tables")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
