"""The ``costmodel`` command line. Each command parses, calls one library function, renders."""

from __future__ import annotations

import click

from costmodel import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="costmodel")
def cli():
    """What does a sequence model cost? Params, FLOPs, memory, depth and time, from formulas.

    Example: costmodel --version
    """


def main(argv=None):
    """Console-script entry point."""
    cli.main(args=argv, prog_name="costmodel")


if __name__ == "__main__":
    main()
