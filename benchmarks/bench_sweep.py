"""Memory and time of a streamed `costmodel sweep` over 10^7 rows (issue 9).

Run:  python benchmarks/bench_sweep.py [--output FILE]   (default: the null device)

The sweep runs in a fresh child process (the CLI as a user runs it, with --yes: the grid is
above the row limit); the wall time and the child's peak resident set size
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) are printed as a line for
docs/benchmarks.md. Memory must not grow with the grid: the rows are written in chunks.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

# 2,500 n x 1,000 d x 1 batch = 2.5 x 10^6 points, x 4 models = 10^7 rows
SWEEP = ["sweep", "--n", "1:2500:1", "--d", "64:64000:64", "--batch", "1", "--models",
         "rnn,lstm,gru,transformer", "--gpu", "a100", "--yes", "--quiet"]
ROWS = 2500 * 1000 * 1 * 4


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.devnull, help="where the CSV goes")
    args = parser.parse_args()
    exe = shutil.which("costmodel") or sys.exit("install costmodel first (pip install .)")
    argv = [exe, *SWEEP, "-o", args.output]
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    wall_s = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    print(f"| `costmodel {' '.join(SWEEP)} -o {args.output}` ({ROWS:,} rows) "
          f"| {wall_s:.1f} s | {peak_kib / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
