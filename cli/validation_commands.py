"""Click commands ``calibrate`` and ``validate`` (registered by cli/commands.py).

Both need torch, an optional extra: without it they say which to install and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .options import SECONDS, SECONDS_OR_ZERO
from .progress import done, progress_option, reporter

DEVICES = ("auto", "cpu", "cuda")


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _open(device: str, threads: int | None):
    """Open the device, or exit 2 saying which extra to install."""
    from costmodel.validation import MissingTorch

    try:
        from costmodel.validation.timing import open_device

        dev = open_device(device, threads)
    except MissingTorch as err:
        click.echo(f"costmodel: error: {err}", err=True)
        sys.exit(2)
    if dev.note:
        _progress(dev.note)
    _progress(f"device: {dev.name} ({dev.kind}, {dev.threads} thread(s))")
    return dev


class ProfilePath(click.Path):
    """``validate --gpu``: an existing profile file. A catalogue name there (``--gpu a100``,
    as ``compare`` takes) is refused with where it belongs instead of 'does not exist'."""

    def convert(self, value, param, ctx):
        if not Path(value).exists() and _catalogue_device(str(value)):
            self.fail(f"{value!r} is a catalogue device; validate --gpu takes a profile TOML "
                      "that `costmodel calibrate` writes (the datasheet device for the "
                      "uncalibrated roofline is --baseline)", param, ctx)
        return super().convert(value, param, ctx)


def _catalogue_device(name: str) -> bool:
    from costmodel.hardware import load_hardware

    try:
        return load_hardware(name) is not None
    except ValueError:
        return False


def _catalogue_guard(path: Path) -> None:
    import costmodel

    catalogue = Path(costmodel.__file__).resolve().parent / "data"
    if catalogue in path.resolve().parents:
        raise click.BadParameter("a profile never goes into the shipped catalogue "
                                 "(costmodel/data); write it elsewhere", param_hint="-o")


def _check_outputs(given: Path, *paths: Path) -> None:
    """Refuse ``-o -`` (these commands write several files) and any of ``paths`` the one
    writer cannot write, before minutes of measuring."""
    from costmodel.files import STDOUT, plan

    if str(given) == STDOUT:
        raise click.BadParameter("this command writes several files; give a path, not '-'",
                                 param_hint="-o")
    for path in paths:
        plan(path)


@click.command("calibrate", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when available, else the CPU.")
@click.option("--quick", is_flag=True, help="A few seconds of small benchmarks (tests, CI).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads (torch.set_num_threads) [default: torch's].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Profile TOML to write (atomically); raw timings go to <stem>-benchmarks.json.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr (on a "
              "terminal they share one status line; a log gets none without --progress).")
@click.option("--inference/--no-inference", default=True, show_default=True,
              help="Also time inference runs (eval() under inference_mode, what users time) "
              "and fit the per-family inference terms that inference predictions use; "
              "--no-inference skips them (a shorter run: inference is then predicted with "
              "the train-mode forward terms).")
@progress_option
def calibrate(device, quick, threads, output, quiet, inference=True, progress_lines=False):
    """Measure this machine and write a device profile that every command accepts as --gpu.

    Fits matmul peak, copy bandwidth, op latency, efficiency curves per kernel kind and
    per-family step and call latencies (RNN, LSTM, GRU, Transformer layer), per phase:
    forward (train mode), backward (a training step) and inference (eval() under
    inference_mode).

    Example: costmodel calibrate --device cpu --threads 1 -o cpu-profile.toml
    """
    _catalogue_guard(output)
    _check_outputs(output, output, _benchmarks_path(output))
    dev = _open(device, threads)
    from costmodel.validation.calibrate import calibrate as run
    from costmodel.files import write_atomic
    from costmodel.validation.report import to_json, to_toml

    profile, rows = run(dev, quick=quick, progress=reporter(quiet, lines=progress_lines),
                        inference=inference)
    done(quiet)
    header = ("# Device profile written by `costmodel calibrate`; use it as --gpu "
              f"{output.name}.\n# Measured figures only; see [calibration] for how.\n")
    write_atomic(output, header + to_toml(profile))
    write_atomic(_benchmarks_path(output), to_json(rows))
    _progress(f"wrote {output}")


def _benchmarks_path(output: Path) -> Path:
    return output.with_name(output.stem + "-benchmarks.json")


def _given(names) -> list[str]:
    """The options among parameter ``names`` that the user gave (not left at their default),
    each as typed on the command line (its first flag, e.g. --gpu for ``profile``)."""
    ctx = click.get_current_context()
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names
            if ctx.get_parameter_source(n) != click.core.ParameterSource.DEFAULT]


@click.command("validate", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--gpu", "profile", type=ProfilePath(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Calibrated profile [default: calibrate first].")
@click.option("--baseline", default=None,
              help="Datasheet device (name or TOML) for the uncalibrated roofline [default: "
                   "the catalogue entry of this GPU; on a CPU the profile's measured peaks].")
@click.option("--quick", is_flag=True, help="A tiny grid (and quick calibration).")
@click.option("--families", default="rnn,lstm,gru,transformer", show_default=True)
@click.option("--modes", default="inference,training", show_default=True,
              help="inference (eval() under inference_mode: what users time), training (a "
                   "train-mode step), forward (a train-mode forward under no_grad, what "
                   "calibration fits).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads [default: the profile's].")
@click.option("--max-config-s", type=SECONDS, default=1.0, show_default=True,
              help="Skip (and record) configurations predicted slower than this per call.")
@click.option("--budget-s", type=SECONDS, default=0.5, show_default=True,
              help="Timing budget per configuration (at least 3 repeats).")
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Time every configuration this many times (alternating order); keep the "
                   "median of the round medians.")
@click.option("--quiet-s", type=SECONDS_OR_ZERO, default=0.0, show_default=True,
              help="Before each timing wait up to this long for other processes to go quiet; "
                   "retake a timing they disturbed (shared machines).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Output stem: writes STEM.json, STEM.csv and STEM.png (with --reference: "
                   "the one output file, default stdout).")
@click.option("--reference", default=None,
              help="Score a published-measurement source (NAME or all) instead of timing this "
                   "machine; needs no torch.")
@click.option("--leave-one-gpu-out/--no-leave-one-gpu-out", default=True, show_default=True,
              help="With --reference: refit without each GPU before scoring it.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="With --reference: the output format.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --reference: predicted-vs-measured PNG.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr (on a "
              "terminal they share one status line; a log gets none without --progress).")
@progress_option
def validate(device, profile, baseline, quick, families, modes, threads, max_config_s,
             budget_s, rounds, quiet_s, output, reference, leave_one_gpu_out, fmt, plot,
             quiet, progress_lines):
    """Predicted vs measured on a held-out grid (n 16..4096, d 64..2048, batch 1..64).

    Reports median, p90 and worst |error| for the datasheet roofline and the calibrated model.
    With --reference NAME|all: the shipped published GPU measurements instead (no torch).

    Example: costmodel validate --device cpu --gpu cpu-profile.toml -o results/cpu

    Example: costmodel validate --reference deepbench-rnn --format json -o rnn.json
    """
    grid_only = _given(("device", "profile", "baseline", "quick", "families", "modes",
                        "threads", "max_config_s", "budget_s", "rounds", "quiet_s"))
    if reference is not None:
        if grid_only:  # the measured grid's options do not apply to the shipped sources
            raise click.UsageError(f"{grid_only[0]} does not apply with --reference (the "
                                   "shipped published measurements); drop one of them")
        from .reference_validation import run

        run(reference, leave_one_gpu_out, fmt, output, plot)
        return
    reference_only = _given(("leave_one_gpu_out", "fmt", "plot"))
    if reference_only:
        raise click.UsageError(f"{reference_only[0]} applies only with --reference NAME|all")
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output' (needed without --reference).")
    from costmodel.hardware import load_hardware

    from costmodel.validation.modules import FAMILIES, MODES, VALIDATE_MODES

    fams = _choices("--families", families, FAMILIES)
    mds = _choices("--modes", modes, tuple(dict.fromkeys(VALIDATE_MODES + MODES)))
    _check_outputs(output, *(output.with_suffix(s) for s in (".json", ".csv", ".png")))
    if profile is not None:
        hw = load_hardware(str(profile))
        if threads is None and hw.calibration:
            threads = int(hw.calibration.get("threads", 0)) or None
    dev = _open(device, threads)
    if profile is None:
        profile = output.with_name(output.name + "-profile.toml")
        click.get_current_context().invoke(calibrate, device=dev.kind, quick=quick,
                                           threads=dev.threads, output=profile, quiet=quiet,
                                           progress_lines=progress_lines)
    hw = load_hardware(str(profile))
    base = _baseline(baseline, dev, hw)
    from costmodel.validation.validate import grid, validate as run

    meta = {**_meta(dev, profile, hw, base, quick, max_config_s), "rounds": rounds,
            "quiet_s": quiet_s, "budget_s": budget_s}
    report = run(dev, grid("quick" if quick else "full", fams, mds), base, hw, output, meta,
                 max_config_s, budget_s, reporter(quiet, lines=progress_lines), rounds=rounds, quiet_s=quiet_s)
    done(quiet)
    s = report["summary"]
    for name in ("baseline", "calibrated"):
        st = s[name]
        if st["count"]:
            click.echo(f"{name:10s} median {st['median_pct']:.1f} %  p90 {st['p90_pct']:.1f} %  "
                       f"worst {st['worst_pct']:.1f} %  ({st['count']} configurations)")
    click.echo(f"measured {s['measured']}, skipped {s['skipped']}, out of memory {s['oom']}; "
               f"wrote {output}.json/.csv/.png")


def _choices(option, text, allowed):
    chosen = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in chosen if v not in allowed]
    if bad or not chosen:
        raise click.BadParameter(f"{','.join(bad) or text!r}: choose from {','.join(allowed)}",
                                 param_hint=option)
    return chosen


def _baseline(name, dev, hw):
    from costmodel.hardware import load_hardware

    if name:
        return load_hardware(name)
    if dev.kind == "cuda":
        try:
            return load_hardware(dev.name)
        except ValueError:
            _progress(f"{dev.name} is not in the catalogue: baseline at the profile's peaks")
    return hw


def _meta(dev, profile, hw, base, quick, max_config_s) -> dict:
    from datetime import date

    import torch

    return {"device": dev.name, "kind": dev.kind, "threads": dev.threads,
            "torch": torch.__version__, "date": date.today().isoformat(),
            "profile": profile.name, "baseline_hardware": base.name,
            "grid": "quick" if quick else "full", "max_config_s": max_config_s,
            "command": "costmodel " + " ".join(sys.argv[1:]) if sys.argv[0].endswith(
                "costmodel") else None, "note": dev.note or None}
