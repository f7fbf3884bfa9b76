"""Option types shared by the commands: sizes (ASCII digits, bounded), value lists, models."""

from __future__ import annotations

import math
import re

import click

from costmodel.limits import LARGEST_SIZE, MAX_AXIS_VALUES, MAX_LAYERS

#: A size as typed: optional minus, ASCII digits only (Python's int() would also take '５１２').
_INTEGER = re.compile(r"-?[0-9]+")


def ascii_int(text: str, largest: int = LARGEST_SIZE) -> int:
    """``int(text)`` for ASCII digits only, at most ``largest``; ValueError otherwise."""
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{text!r} is not an integer (ASCII digits 0-9)")
    value = int(text)
    if value > largest:
        raise ValueError(f"{text} is above the largest size {largest:,} (2**53)")
    return value


class Size(click.ParamType):
    """An integer size typed in ASCII digits, at most :data:`LARGEST_SIZE` (2**53), or at most
    ``largest`` (``bound`` says which bound and why). Zero and negatives pass through, so the
    library's check names the argument (``n=0 must be ...``)."""

    name = "integer"

    def __init__(self, largest: int = LARGEST_SIZE, bound: str = "") -> None:
        self.largest, self.bound = largest, bound

    def convert(self, value, param, ctx):
        if not isinstance(value, int) or isinstance(value, bool):
            try:
                value = ascii_int(str(value))
            except ValueError as err:
                self.fail(str(err), param, ctx)
        if value > self.largest:
            self.fail(f"{value:,} is above {self.bound}", param, ctx)
        return value


SIZE = Size()
#: --layers: at most :data:`~costmodel.limits.MAX_LAYERS`
LAYERS = Size(MAX_LAYERS, f"the deepest stack accepted, {MAX_LAYERS:,} (ten times DeepNet's "
                          "1,000-layer Transformer, the deepest published)")
#: What a --layers help text adds.
LAYERS_HELP = f" At most {MAX_LAYERS:,}."


class Seconds(click.ParamType):
    """A finite number of seconds, above zero (or at least zero with ``zero=True``): NaN,
    infinities and negatives are refused naming the option (click's FloatRange lets NaN by)."""

    name = "seconds"

    def __init__(self, zero: bool = False):
        self.zero = zero

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.zero):
            self.fail(f"{value!r}: give a finite number of seconds "
                      f"{'>= 0' if self.zero else '> 0'}", param, ctx)
        return number


SECONDS = Seconds()
SECONDS_OR_ZERO = Seconds(zero=True)


class NamedArgument(click.Argument):
    """An argument whose errors call it by its name (``'MODULE'``) while its usage line still
    lists the choices (click would name it ``'{rnn|lstm|...}'`` and then list them again)."""

    def get_error_hint(self, ctx) -> str:
        return f"'{self.name.upper()}'"


def models_option(ctx, param, value):
    from costmodel.compare import MODELS

    names = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    bad = [v for v in names if v not in MODELS]
    if bad or not names:
        raise click.BadParameter(f"{','.join(bad) or value!r}: choose from {','.join(MODELS)}")
    return names


def values_option(ctx, param, text):
    """'512', '128,256,512', '64:1024:64' (inclusive arithmetic), '16:4096:x2' (geometric).
    A range stays lazy (``range``): its length is known before anything is allocated."""
    try:
        if ":" not in text:
            items = text.split(",")
            if len(items) > 1 and not all(v.strip() for v in items):
                raise ValueError("an empty item in the list")
            values = [ascii_int(v) for v in items if v.strip()]
        else:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError(f"a range has three parts, start:stop:step; this has "
                                 f"{len(parts)}")
            values = _range(*parts)
    except ValueError as err:  # every message here is ours, naming what is wrong
        raise click.BadParameter(f"{text!r}: use a number, a list '128,256', a range "
                                 "'64:1024:64' or a geometric range '16:4096:x2' "
                                 f"({err})") from None
    if len(values) > MAX_AXIS_VALUES:
        raise click.BadParameter(f"{text!r} has {len(values):,} values, more than the "
                                 f"{MAX_AXIS_VALUES:,} one axis may have")
    return values


def _range(start: str, stop: str, step: str):
    start, stop = ascii_int(start), ascii_int(stop)
    if stop < start:
        raise ValueError(f"the range is empty: its end {stop} is below its start {start}")
    if step.startswith("x"):
        factor = ascii_int(step[1:])
        if factor < 2 or start < 1:
            raise ValueError("a geometric range needs a start >= 1 and a factor >= 2")
        out = [start]
        while out[-1] * factor <= stop:
            out.append(out[-1] * factor)
        return out
    if ascii_int(step) < 1:
        raise ValueError("a range needs a step >= 1")
    return range(start, stop + 1, ascii_int(step))
