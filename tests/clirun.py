"""Run the CLI in-process, as a user would from a shell: (exit code, stdout, stderr)."""

from __future__ import annotations

import contextlib
import io

from costmodel.cli.main import main


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(argv))
            code = 0
        except SystemExit as done:
            code = done.code or 0
    return code, out.getvalue(), err.getvalue()
