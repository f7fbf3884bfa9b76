"""Progress of the long commands (sweep, calibrate, validate, measure-claims) on stderr.

On a terminal each message replaces the previous one on a single status line (a live display
that leaves the last message; sweep draws click's progress bar). When stderr is not a terminal
(a log, a pipe, CI) there is no progress at all, unless ``--progress`` asks for one line per
message, as a record of what ran. ``--quiet`` shows nothing and wins over ``--progress``.
Results, errors and the one-line facts a run reports (the device measured, the files written)
are never progress and always shown.
"""

from __future__ import annotations

import shutil
import sys
from typing import Callable

import click

#: The flag that keeps progress when stderr is not a terminal (shared by the long commands).
progress_option = click.option(
    "--progress", "progress_lines", is_flag=True,
    help="Progress on stderr even when it is not a terminal, one line per message (for "
         "logs); without it a log gets none. --quiet wins.")


def _silent(message: str) -> None:
    """Shows nothing."""


def reporter(quiet: bool, stream=None, lines: bool = False) -> Callable[[str], None]:
    """A function that shows one progress message (see the module); ``lines``: ``--progress``."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not (lines or stream.isatty()):
        return _silent
    if not stream.isatty():
        return lambda message: click.echo(message, file=stream)

    width = shutil.get_terminal_size().columns - 1

    def show(message: str) -> None:
        line = message.replace("\n", " ")[:width]
        stream.write("\r" + line.ljust(width) + "\r")  # erase the previous message
        stream.flush()

    return show


def done(quiet: bool, stream=None) -> None:
    """End the status line on a terminal (the last message stays visible)."""
    stream = stream if stream is not None else sys.stderr
    if not quiet and stream.isatty():
        stream.write("\n")
        stream.flush()
