"""Progress of sweep, calibrate, validate and measure-claims (issue 11): a status line on a
terminal; nothing when stderr is not a terminal unless --progress asks for lines; nothing with
--quiet, which wins over --progress."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from costmodel.cli.progress import done, reporter

LONG_COMMANDS = ["sweep", "calibrate", "validate", "measure-claims"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_nothing_by_default():
    log = io.StringIO()
    show = reporter(False, log)
    show("[1/2] lstm")
    show("[2/2] gru")
    done(False, log)
    assert log.getvalue() == ""


def test_progress_flag_gives_a_log_one_line_per_message():
    log = io.StringIO()
    show = reporter(False, log, lines=True)
    show("[1/2] lstm")
    show("[2/2] gru")
    done(False, log)
    assert log.getvalue() == "[1/2] lstm\n[2/2] gru\n"


def test_terminal_gets_one_status_line():
    for lines in (False, True):  # --progress changes nothing on a terminal
        term = Terminal()
        show = reporter(False, term, lines=lines)
        show("[1/2] lstm")
        show("[2/2] gru")
        done(False, term)
        text = term.getvalue()
        assert text.count("\n") == 1 and text.endswith("\r\n")  # one line, ended once
        assert text.rstrip("\r\n").split("\r")[-1].startswith("[2/2] gru")  # the last shown


def test_quiet_shows_nothing_and_wins_over_progress():
    for stream in (io.StringIO(), Terminal()):
        for lines in (False, True):
            reporter(True, stream, lines=lines)("[1/2] lstm")
            done(True, stream)
            assert stream.getvalue() == ""


@pytest.mark.parametrize("command", LONG_COMMANDS)
def test_long_commands_take_quiet_and_progress(command):
    from costmodel.cli.commands import cli

    opts = {o for p in cli.commands[command].params for o in p.opts}
    assert {"--quiet", "--progress"} <= opts


def _sweep(*flags):
    from costmodel.cli.commands import cli

    # 2 n values x 1 d x 1 batch x 4 default models = 8 rows, in one chunk
    result = CliRunner().invoke(cli, ["sweep", "--n", "16,32", "--d", "64", *flags])
    assert result.exit_code == 0, result.output
    return result


def test_sweep_piped_shows_no_progress_unless_asked():
    # CliRunner's stderr is not a terminal, like a log or a pipe.
    assert "rows" not in _sweep().stderr
    assert "sweep: 8/8 rows" in _sweep("--progress").stderr
    assert _sweep("--progress", "--quiet").stderr == ""
