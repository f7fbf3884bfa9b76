"""``costmodel measure-claims``: run the benchmarks behind the seed documents' measured claims
and record them in a JSON file (registered by cli/commands.py). The claim verdicts read the
package's ``data/claims/measurements.json``; this command never writes there unless told to
with ``-o``. Needs torch, an optional extra: without it, exit 2 naming the extra.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .progress import done, progress_option, reporter

COMMAND = "costmodel measure-claims"
#: Where the measurements go by default: the current folder, never the installed package.
DEFAULT_OUTPUT = "measurements.json"



def _recorded(path: Path) -> dict:
    """The measurements file ``--only`` merges into: a JSON object whose ``benchmarks`` is an
    object, else an error naming ``-o`` and the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        _fail(f"-o {path}: the file --only would merge into is not JSON ({err})")
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks", {}), dict):
        _fail(f"-o {path}: the file --only would merge into is not a measurements file "
              "(a JSON object with a 'benchmarks' object)")
    return data

def package_file() -> Path:
    """The file the claim verdicts read (in a source checkout: costmodel/data/claims/)."""
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
@click.option("-o", "--output", default=DEFAULT_OUTPUT, show_default=True,
              help="JSON to write ('-': stdout), in the current folder by default. The claim "
                   "verdicts read the package's data/claims/measurements.json: to update "
                   "them, pass that path (costmodel/data/claims/measurements.json in a source "
                   "checkout).")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr (on a "
              "terminal they share one status line; a log gets none without --progress).")
@progress_option
def measure_claims(only, quick, threads, output, quiet, progress_lines):
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
        from costmodel.files import plan, write_atomic
        from costmodel.validation.timing import open_device

        device = open_device("auto", threads)
    except MissingTorch as err:
        _fail(str(err))
    if quick and Path(output).resolve() in (package_file(), Path(DEFAULT_OUTPUT).resolve()):
        _fail("--quick sizes are not for claims: write them elsewhere with -o FILE")
    plan(output)  # refuse a bad output before minutes of benchmarks
    bad = [n for n in only if n not in BENCHMARKS]
    if bad:
        _fail(f"--only {bad[0]!r} is not one of: {', '.join(BENCHMARKS)}")
    if not quiet:  # -q: nothing on stderr but errors and the closing "wrote" line
        if device.note:
            click.echo(device.note, err=True)
        click.echo(f"device: {device.name} ({device.kind}, {device.threads} thread(s))",
                   err=True)
    path = Path(output)
    merge = only and output != "-" and path.is_file()  # --only keeps the others recorded
    old = _recorded(path) if merge else {}  # read before minutes of benchmarks, not after
    command = " ".join([COMMAND, *(f"--only {n}" for n in only), *(["--quick"] if quick else []),
                        *([f"--threads {threads}"] if threads else [])])  # -o: never a path
    start = time.perf_counter()
    results = run(only or None, quick, device, reporter(quiet, lines=progress_lines))
    done(quiet)
    for entry in results.values():
        entry["command"] = command
    data = {"about": "Measurements for the claims ledger, written by `costmodel "
                     "measure-claims`; read by costmodel.claims.evaluators_measured.",
            "benchmarks": {**old.get("benchmarks", {}), **results}}
    write_atomic(output, json.dumps(data, indent=2, sort_keys=True) + "\n")
    click.echo(f"wrote {len(results)} benchmark(s) to {path} in "
               f"{time.perf_counter() - start:.0f} s", err=True)
