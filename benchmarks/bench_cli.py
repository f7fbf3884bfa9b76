"""Speed of the CLI (issue 3): a cold `costmodel compare`, and `costmodel sweep` over 10^5
configurations.

Run:  python benchmarks/bench_cli.py      (prints a markdown table for docs/benchmarks.md)

Each command runs in a fresh process (cold: nothing cached), 5 times; the median wall time is
reported, with the bare `python -c pass` start-up shown apart.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPEATS = 5
COMPARE = ["compare", "--n", "512", "--d", "768", "--gpu", "a100"]
# 100 n x 100 d x 10 batch = 10^5 configurations per model, 4 models = 4 x 10^5 rows
SWEEP = ["sweep", "--n", "16:1600:16", "--d", "64:6400:64", "--batch", "1:10:1", "--gpu",
         "a100"]


def wall(argv) -> float:
    runs = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main():
    exe = shutil.which("costmodel") or sys.exit("install costmodel first (pip install .)")
    out = os.path.join(tempfile.mkdtemp(), "sweep.csv")
    rows = [("`python -c pass` (interpreter start-up, for reference)",
             wall([sys.executable, "-c", "pass"])),
            ("`costmodel " + " ".join(COMPARE) + "` (cold)", wall([exe, *COMPARE])),
            ("`costmodel " + " ".join(SWEEP) + " -o sweep.csv` (10^5 configurations x 4 "
             "models)", wall([exe, *SWEEP, "-o", out]))]
    with open(out) as handle:
        lines = sum(1 for _ in handle) - 1
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; sweep wrote {lines:,} rows")
    print("| command | median wall seconds (5 runs) |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
