"""The ``costmodel`` command line. Each command parses, calls one library function, renders.

Errors a user can cause (a bad size, an unknown GPU, a malformed file) exit with status 2 and
one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click



def main(argv=None):
    """Console-script entry point: exit 2 with one line for any usage or value error."""
    from .commands import cli

    try:
        cli.main(args=argv, prog_name="costmodel", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.Abort:
        click.echo("costmodel: aborted", err=True)
        sys.exit(1)
    except click.UsageError as error:
        click.echo(f"costmodel: error: {error.format_message()}", err=True)
        sys.exit(2)
    except (ValueError, FileNotFoundError, IsADirectoryError) as error:
        click.echo(f"costmodel: error: {error}", err=True)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)


def entry():
    """The ``costmodel`` console script: :func:`main`, then exit without the interpreter's
    teardown. Output is flushed and files are closed by then; what is skipped is freeing
    sympy's caches, a quarter of a second of a cold ``costmodel compare`` (measured)."""
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
