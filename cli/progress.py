"""Progress of the long commands (calibrate, validate, measure-claims) on stderr.

On a terminal each message replaces the previous one on a single status line (a live
display that leaves the last message); elsewhere (a log, a pipe, CI) one line per message, as a
record of what ran; with ``--quiet`` nothing. Results and errors are never progress.
"""

from __future__ import annotations

import shutil
import sys
from typing import Callable

import click


def reporter(quiet: bool, stream=None) -> Callable[[str], None]:
    """A function that shows one progress message (see the module)."""
    if quiet:
        return lambda message: None
    stream = stream if stream is not None else sys.stderr
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
