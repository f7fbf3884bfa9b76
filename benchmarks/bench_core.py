"""Speed of the symbolic core (issue 2): import, vectorised evaluation, FlopCounterMode.

Run:  python benchmarks/bench_core.py        (prints a markdown table for docs/benchmarks.md)

Measures, on one core (numpy elementwise work is single-threaded; torch threads set to 1):
1. `import costmodel` in a fresh interpreter, and import + the first record built;
2. the full cost record (every field) of an LSTM and of a TransformerEncoderLayer evaluated
   on 10**6 random (n, d, batch) points through `record.vectorize()` (compile time apart);
3. forward FLOPs of one TransformerEncoderLayer (n=512, d=768) with torch's FlopCounterMode
   vs costmodel for 10**4 different configurations.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

POINTS = 10 ** 6
CONFIGS = 10 ** 4
REPEATS = 5


def fresh(code: str) -> float:
    """Median seconds ``code`` takes in a fresh interpreter, timed inside it (subtracting a
    bare interpreter's start from a whole run, as this did first, gave a negative figure
    when the two start-ups differed by more than the import)."""
    timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"

    def run():
        out = subprocess.run([sys.executable, "-c", timed], check=True, capture_output=True,
                             text=True).stdout
        return float(out.strip().splitlines()[-1])
    return statistics.median(run() for _ in range(REPEATS))


def vectorised(record, rng) -> tuple[float, float]:
    n = rng.integers(1, 4097, POINTS)
    d = rng.integers(1, 33, POINTS) * 64  # multiples of 64 so d/64 heads divide d
    batch = rng.integers(1, 65, POINTS)
    t = time.perf_counter()
    f = record.vectorize()
    f(n=n[:1], d=d[:1], batch=batch[:1])  # compile (lambdify) once
    compile_s = time.perf_counter() - t
    runs = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = f(n=n, d=d, batch=batch)
        runs.append(time.perf_counter() - t)
    assert all(v.shape == (POINTS,) for v in out.values())
    return compile_s, statistics.median(runs)


def flop_counter_vs_costmodel() -> tuple[float, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import costmodel as cm

    torch.set_num_threads(1)
    layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, batch_first=True).train()
    x = torch.randn(1, 512, 768)
    runs = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        with FlopCounterMode(display=False) as counter:
            layer(x)
        runs.append(time.perf_counter() - t)
    torch_s = statistics.median(runs)
    rng = np.random.default_rng(1)
    n = rng.integers(1, 4097, CONFIGS)
    d = rng.integers(1, 33, CONFIGS) * 64
    t = time.perf_counter()
    record = cm.TransformerEncoderLayer("d", S_d() / 64, dim_feedforward=4 * S_d(), dropout=0.0)
    flops = record.vectorize()(n=n, d=d, batch=1)["matmul_flops"]
    ours_s = time.perf_counter() - t
    check = cm.TransformerEncoderLayer(768, 12, 3072).evaluate(n=512, batch=1)["matmul_flops"]
    assert check == counter.get_total_flops(), (check, counter.get_total_flops())
    assert flops.shape == (CONFIGS,)
    return torch_s, ours_s


def S_d():
    from costmodel.symbols import size_symbol
    return size_symbol("d")


def main():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import costmodel as cm

    rng = np.random.default_rng(0)
    rows = [("`import costmodel` (fresh interpreter, median of 5)",
             fresh("import costmodel")),
            ("`import costmodel` + first record `LSTM(768, 768)`",
             fresh("import costmodel; costmodel.LSTM(768, 768)"))]
    for label, record in (("LSTM(d, d)", cm.LSTM("d", "d")),
                          ("TransformerEncoderLayer(d, d/64, 4d)",
                           cm.TransformerEncoderLayer("d", S_d() / 64,
                                                      dim_feedforward=4 * S_d(),
                                                      dropout=0.0))):
        compile_s, eval_s = vectorised(record, rng)
        rows.append((f"{label}: compile (lambdify, once)", compile_s))
        rows.append((f"{label}: all {len(cm.FIELDS)} fields on 10^6 points", eval_s))
    torch_s, ours_s = flop_counter_vs_costmodel()
    rows.append(("FlopCounterMode: 1 TransformerEncoderLayer fwd, n=512 d=768", torch_s))
    rows.append(("costmodel: forward FLOPs of 10^4 configurations (build + compile + eval)",
                 ours_s))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print("| measurement | seconds |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.4f} |")


if __name__ == "__main__":
    main()
