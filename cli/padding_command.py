"""`costmodel padding`: a batch of variable lengths, packed against padded (costmodel.varlen):
one batch given as its lengths, or random batches drawn from a length distribution."""

from __future__ import annotations

import click

from . import render
from .options import SIZE, ascii_int, models_option
from .tables import wrapped_text

#: Units of the quantities, for the table (SI prefixes).
UNITS = {"flops": "FLOP", "flops_training": "FLOP", "matmul_flops": "FLOP",
         "activation_bytes": "B", "state_bytes": "B"}


def _lengths(ctx, param, text):
    from costmodel.varlen import check_lengths

    if text is None:
        return None
    try:
        values = []
        items = text.split(",")
        if len(items) > 1 and not all(v.strip() for v in items):
            raise ValueError("an empty item in the list (two commas, or one at an end)")
        for i, v in enumerate(v for v in items if v.strip()):
            try:
                values.append(ascii_int(v))
            except ValueError:
                raise ValueError(f"lengths[{i}]={v.strip()!r} must be a whole number >= 1") \
                    from None
        return check_lengths(values)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def _distribution(spec, path, column, batch):
    """The length distribution of --lengths-dist or --lengths-file (ValueError otherwise)."""
    from costmodel import length_dist as ld

    if spec is not None:
        dist = ld.parse(spec, "--lengths-dist")
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        dist = ld.observed(ld.read_lengths(text, column, "--lengths-file"), "observed")
    if batch is None:
        raise ValueError("--batch is required with --lengths-dist or --lengths-file: the "
                         "number of sequences per batch, a whole number >= 1")
    if batch < 1:  # the library's check names its keyword (batch=); the CLI names the option
        raise ValueError(f"--batch={batch} must be a whole number >= 1")
    ld.check_batch(batch)
    return dist


@click.command()
@click.option("--lengths", callback=_lengths,
              help="Comma-separated sequence lengths of one batch, e.g. 512,300,17.")
@click.option("--lengths-dist", "spec", help="Random batches from a distribution: "
              "lognormal:MEDIAN:SIGMA or uniform:LO:HI (with --batch).")
@click.option("--lengths-file", "path", type=click.Path(exists=True, dir_okay=False),
              help="Random batches from observed lengths: one per line, or a CSV column "
                   "(--column) (with --batch).")
@click.option("--column", help="The CSV column of --lengths-file that holds the lengths.")
@click.option("--batch", type=SIZE, help="Sequences per batch with --lengths-dist/-file.")
@click.option("--d", "d", type=SIZE, required=True, help="Model width: hidden = d_model = d.")
@click.option("--gpu", help="Add times (inference forward, training step): a device short "
                            "name (see `costmodel gpus`) or a device/profile TOML file.")
@click.option("--samples", type=SIZE, default=1000, show_default=True,
              help="Monte Carlo batches for expected times and bucketing.")
@click.option("--seed", type=SIZE, default=0, show_default=True,
              help="Seed of the Monte Carlo draws (numpy default_rng).")
@click.option("--models", default="rnn,lstm,gru,transformer", show_default=True,
              callback=models_option, help="Comma-separated rows to show.")
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def padding(lengths, spec, path, column, batch, d, gpu, samples, seed, models, dtype, fmt):
    """Padding waste of variable-length batches: each model (compare's, one layer) padded to
    the longest against packed (PackedSequence; nested/varlen attention).

    Counts (FLOPs, training FLOPs, matmul FLOPs, activation memory, KV/state memory) and, with
    --gpu, times (inference forward, training step) from the same device models as compare.
    A distribution gives the expected waste over random batches of --batch draws (counts
    exact, times a seeded Monte Carlo) and over batches cut from length-sorted pools
    (bucketing). See docs/padding.md.

    Example: costmodel padding --lengths 512,300,17 --d 768 --gpu h100

    Example: costmodel padding --lengths-dist lognormal:200:0.8 --batch 16 --d 256 --gpu h100
    """
    from costmodel.compare import Setup, build
    from costmodel.hardware import load_hardware
    from costmodel.varlen import report

    given = [name for name, v in (("--lengths", lengths), ("--lengths-dist", spec),
                                  ("--lengths-file", path)) if v is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --lengths, --lengths-dist, --lengths-file"
                               + (f" (got {', '.join(given)})" if given else ""))
    if lengths is not None and batch is not None:
        raise click.UsageError("--batch goes with --lengths-dist/--lengths-file; with "
                               "--lengths the batch is the number of lengths")
    dist = None if lengths is not None else _distribution(spec, path, column, batch)
    hw = load_hardware(gpu) if gpu else None
    longest = max(lengths) if lengths else int(dist.support[-1])
    setup = Setup(n=longest, d=d, batch=batch or len(lengths), dtype=dtype,
                  models=models).checked()
    records = {name: build(setup, name) for name in setup.models}
    result = report(records, lengths=lengths, dist=dist, batch=batch, hw=hw, dtype=dtype,
                    samples=samples, seed=seed)
    click.echo(_render(result, fmt, _setup_line(setup)), nl=False)


def _setup_line(setup) -> str:
    """The table's first line(s): what every row assumes (compare's models, one layer)."""
    from costmodel.compare import WITH_HEADS

    layer = (f"; attention layers: {setup.heads} heads of width {setup.d // setup.heads}, "
             f"ffn {setup.ffn}" if set(setup.models) & set(WITH_HEADS) else "")
    return wrapped_text(f"d={setup.d}, {setup.dtype}, one layer per model, dropout 0{layer}")


def _rows(result) -> list[dict]:
    """One flat row per model, batching, quantity (the CSV rows; the table shows them)."""
    rows = []
    for name, table in result["models"].items():
        if "lengths" in result:
            rows += [{"model": name, "quantity": q, **v} for q, v in table.items()]
            continue
        mc = table["monte_carlo"]
        parts = [("random", "exact", table["counts"]), ("random", "monte_carlo",
                                                        table.get("times", {})),
                 ("bucketed", "monte_carlo", table["bucketed"]["counts"]),
                 ("bucketed", "monte_carlo", table["bucketed"].get("times", {}))]
        for batching, method, values in parts:
            rows += [{"model": name, "batching": batching, "quantity": q, "method": method,
                      "samples": mc["samples"] if method == "monte_carlo" else "",
                      "seed": mc["seed"] if method == "monte_carlo" else "",
                      **{k: v.get(k, "") for k in ("padded", "packed", "waste",
                                                   "waste_fraction", "padded_stderr",
                                                   "packed_stderr", "waste_stderr")}}
                     for q, v in values.items()]
    return rows


def _cell(quantity: str, value) -> str:
    if quantity.startswith("time_"):
        return render.si(value, "s")
    if isinstance(value, int):
        return f"{value:,}"
    return render.si(value, UNITS.get(quantity, ""))


def _render(result: dict, fmt: str, setup_line: str = "") -> str:
    if fmt == "json":
        return render.to_json(result)
    rows = _rows(result)
    if fmt == "csv":
        return render.to_csv(rows)
    keys = ["model", "quantity"] if "lengths" in result else ["model", "batching", "quantity"]
    header = keys + ["padded", "packed", "waste"]
    body = [[str(r[k]) for k in keys] + [_cell(r["quantity"], r["padded"]),
                                         _cell(r["quantity"], r["packed"]),
                                         f"{r['waste_fraction']:.1%}"] for r in rows]
    lines = setup_line
    if "lengths" not in result:
        mc = next(iter(result["models"].values()))["monte_carlo"]
        about = (f"{result['distribution']}, batch {result['batch']}, E[longest] "
                 f"{result['expected_max_length']:.4g} tokens; random counts exact, times "
                 f"and bucketing a Monte Carlo over {mc['samples']:,} batches (numpy "
                 f"default_rng seed {mc['seed']}; standard errors in JSON/CSV); bucketing: "
                 f"pools of {mc['bucket_batches']} batches sorted by length")
        lines += wrapped_text(about)
    if "gpu" in result:
        lines += f"times on {result['gpu']}\n"
    return lines + render.to_table(header, body)
