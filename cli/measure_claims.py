"""``costmodel measure-claims``: run the benchmarks behind the seed documents' measured claims
and record them in the package's ``data/claims/measurements.json`` (registered by
cli/commands.py). Needs torch, an optional extra: without it, exit 2 naming the extra.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

COMMAND = "costmodel measure-claims"


def default_output() -> Path:
    import costmodel

    return Path(costmodel.__file__).resolve().parent / "data" / "claims" / "measurements.json"


def _fail(message: str):
    click.echo(f"costmodel: error: {message}", err=True)
    sys.exit(2)


@click.command("measure-claims", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--only", multiple=True, metavar="NAME",
              help="Run only this benchmark (repeatable); the others already recorded stay.")
@click.option("--quick", is_flag=True, help="Tiny sizes, seconds (smoke tests, not for claims).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads (torch.set_num_threads) [default: torch's].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON to write (atomically) [default: the package's "
                   "data/claims/measurements.json, which the claim verdicts read].")
def measure_claims(only, quick, threads, output):
    """Measure what the documents' time, utilization, speedup and memory-saving claims need.

    One benchmark per distinct `measure` of the claims ledger (GRU vs LSTM, LSTM vs
    Transformer layer, GEMM efficiency, checkpointing, CRNN vs AST, matmul GPU vs CPU),
    a few minutes on a 2-core CPU. Without CUDA the CPU is measured and GPU claims are set
    next to the roofline prediction for the named GPU by `costmodel claims`.

    Example: costmodel measure-claims --only gru_vs_lstm --only small_gemm
    """
    from costmodel.validation import MissingTorch

    try:
        from costmodel.validation.claims_bench import BENCHMARKS, run
        from costmodel.files import write_atomic
        from costmodel.validation.timing import open_device

        device = open_device("auto", threads)
    except MissingTorch as err:
        _fail(str(err))
    if quick and output is None:
        _fail("--quick sizes are not for claims: write them elsewhere with -o FILE")
    bad = [n for n in only if n not in BENCHMARKS]
    if bad:
        _fail(f"--only {bad[0]!r} is not one of: {', '.join(BENCHMARKS)}")
    if device.note:
        click.echo(device.note, err=True)
    click.echo(f"device: {device.name} ({device.kind}, {device.threads} thread(s))", err=True)
    path = output or default_output()
    command = " ".join([COMMAND, *(f"--only {n}" for n in only), *(["--quick"] if quick else []),
                        *([f"--threads {threads}"] if threads else [])])  # -o: never a path
    start = time.perf_counter()
    results = run(only or None, quick, device, lambda m: click.echo(m, err=True))
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() and only else {}
    for entry in results.values():
        entry["command"] = command
    data = {"about": "Measurements for the claims ledger, written by `costmodel "
                     "measure-claims`; read by costmodel.claims.evaluators_measured.",
            "benchmarks": {**old.get("benchmarks", {}), **results}}
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    click.echo(f"wrote {len(results)} benchmark(s) to {path} in "
               f"{time.perf_counter() - start:.0f} s", err=True)
