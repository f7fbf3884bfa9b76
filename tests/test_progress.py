"""Progress messages of calibrate, validate and measure-claims: a status line on a terminal,
one line per message elsewhere, nothing with --quiet."""

from __future__ import annotations

import io

import pytest

from costmodel.cli.progress import done, reporter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_one_line_per_message():
    log = io.StringIO()
    show = reporter(False, log)
    show("[1/2] lstm")
    show("[2/2] gru")
    done(False, log)
    assert log.getvalue() == "[1/2] lstm\n[2/2] gru\n"


def test_terminal_gets_one_status_line():
    term = Terminal()
    show = reporter(False, term)
    show("[1/2] lstm")
    show("[2/2] gru")
    done(False, term)
    text = term.getvalue()
    assert text.count("\n") == 1 and text.endswith("\r\n")  # one line, ended once
    assert text.rstrip("\r\n").split("\r")[-1].startswith("[2/2] gru")  # the last shown


def test_quiet_shows_nothing():
    for stream in (io.StringIO(), Terminal()):
        reporter(True, stream)("[1/2] lstm")
        done(True, stream)
        assert stream.getvalue() == ""


@pytest.mark.parametrize("command", ["calibrate", "validate", "measure-claims"])
def test_long_commands_take_quiet(command):
    from costmodel.cli.commands import cli

    assert any("--quiet" in p.opts for p in cli.commands[command].params)
