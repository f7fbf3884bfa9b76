"""Import zzc0721/torch-performance-test-data's table of torch.mm throughput per GPU into
``costmodel/data/reference/zzc0721-mm.json`` (reference source ``zzc0721-mm``).

    python tools/import_zzc0721_mm.py GIT_DIR [COMMIT]

GIT_DIR: a clone of https://github.com/zzc0721/torch-performance-test-data (``fetch`` gives
one); COMMIT: the commit to read (default: its HEAD). The table (``database.md``) has one row
per contributed run: the device string ``torch.cuda.get_device_name`` printed, then the best
TFLOP/s of ``test.py`` in fp32 (TF32 off), TF32, fp16 and bf16, a note and the contributor.
Rows of devices the catalogue has are kept; the rest are counted by device in the
provenance's ``left_out`` (no entry: V100S, H20, RTX 3080 Ti, ...; a board the catalogue's
entry does not describe: the 48 GB RTX 4090s, the 4090D; a form factor the row does not name:
"NVIDIA A100 40GB").
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference" / \
    "zzc0721-mm.json"
REPO = "zzc0721/torch-performance-test-data"
#: the device string of a row -> catalogue name (exact match after trimming)
DEVICES = {
    "NVIDIA B200 180GB": "b200-sxm-180gb",
    "NVIDIA Tesla T4 16GB": "t4",
    "NVIDIA A100 SXM4 80GB": "a100-sxm4-80gb",
    "NVIDIA A100-PCIE-40GB": "a100-pcie-40gb",
    "NVIDIA RTX 3090 24GB": "rtx-3090", "NVIDIA GeForce RTX 3090 24GB": "rtx-3090",
    "NVIDIA GeForce RTX 3090": "rtx-3090",
    "NVIDIA RTX 4090 24GB": "rtx-4090", "NVIDIA GeForce RTX 4090 24GB": "rtx-4090",
    "NVIDIA GeForce RTX 4090": "rtx-4090",
    "NVIDIA Tesla M40 12GB": "m40",
    "NVIDIA H100 80GB HBM3": "h100-sxm5-80gb", "NVIDIA H100 PCIe": "h100-pcie-80gb",
    "NVIDIA H200": "h200-sxm-141gb",
    "NVIDIA L40S": "l40s", "NVIDIA L4": "l4",
    "NVIDIA RTX A6000": "rtx-a6000",
    "NVIDIA Tesla V100-SXM2-16GB": "v100-sxm2-16gb",
    "NVIDIA Tesla P100 PCIE 16GB": "p100-pcie-16gb",
    "NVIDIA GeForce GTX 1080 Ti": "gtx-1080-ti",
}
DTYPES = ("fp32", "tf32", "fp16", "bf16")  # the table's columns, test.py's precisions
COLUMNS = ("row", "device", "gpu", *DTYPES, "note", "contributor")


def git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], capture_output=True, text=True,
                          check=True).stdout


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def number(text: str) -> float | None:
    """A table cell as TFLOP/s, None where empty or 'N/A'."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def read(markdown: str) -> tuple[list[list], dict]:
    """(rows in COLUMNS order, left-out device counts) of ``database.md``'s table."""
    lines = [line for line in markdown.splitlines() if line.lstrip().startswith("|")]
    head = [h.lower() for h in cells(lines[0])]
    missing = [c for c in ("device", *DTYPES) if c not in head]
    if missing:
        raise ValueError(f"database.md: the table has no column(s) {missing}: {head}")
    out, left = [], {}
    for i, line in enumerate(lines[2:], start=1):
        row = dict(zip(head, cells(line)))
        device = row["device"]
        if device not in DEVICES:
            left[device] = left.get(device, 0) + 1
            continue
        contributor = re.sub(r"^\[([^]]*)\].*$", r"\1", row.get("contributor", ""))
        out.append([i, device, DEVICES[device], *(number(row.get(d, "")) for d in DTYPES),
                    row.get("note", ""), contributor])
    return out, left


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    gitdir = argv[0]
    commit = git(gitdir, "rev-parse", argv[1] if len(argv) == 2 else "HEAD").strip()
    rows, left = read(git(gitdir, "show", f"{commit}:database.md"))
    date = git(gitdir, "log", "-1", "--format=%cd", "--date=short", commit).strip()
    sizes = re.search(r"matrix_sizes = (\[[^]]*\])", git(gitdir, "show", f"{commit}:test.py"))
    provenance = {
        "source": "zzc0721/torch-performance-test-data (database.md: contributed runs of "
                  "its test.py)",
        "repo": REPO, "commit": commit, "date": date, "path": "database.md",
        "url": f"https://github.com/{REPO}/blob/{commit}/database.md",
        "what": ("test.py: for each precision and n in " + (sizes.group(1) if sizes else "?")
                 + ", torch.mm of two torch.randn n x n matrices, 10 warm-up calls (6 before "
                 "October 2025), then 30 back-to-back calls between two CUDA events; TFLOP/s "
                 "= 30 * 2 n^3 / elapsed; the table keeps the best n. FP32 with "
                 "torch.backends.cuda.matmul.allow_tf32 = False, TF32 with True (a later "
                 "column: empty in older rows), FP16 and BF16 as is (PyTorch accumulates "
                 "in fp32). Software per row where the note names it (PyTorch 2.2-2.10)."),
        "read": "2026-12-01",
        "left_out": dict(sorted(left.items())),
    }
    OUT.write_text(json.dumps({"provenance": provenance, "columns": list(COLUMNS),
                               "rows": rows}, ensure_ascii=False, separators=(",", ":"))
                   + "\n", encoding="utf-8")
    print(f"wrote {OUT.name}: {len(rows)} rows, {sum(left.values())} left out", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
