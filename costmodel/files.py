"""The one writer of output files, for every command (and the validation reports).

* ``-`` is standard output.
* A regular file (new or existing) is written atomically: a temporary file in the same
  folder, renamed over the target, so a reader sees the old file or the new one, never half;
  on any error the temporary file is removed and the old file stays.
* A symlink is written through: its target is replaced (atomically), the link stays.
* A device or a named pipe (``/dev/null``, a FIFO) is written in place, never renamed over.
* Folders are never created: a missing folder, a file where a folder should be, a folder
  that is not writable or a target that is a folder is refused with :class:`OutputError`
  (a ``ValueError``: the CLI exits 2 with one line) naming the user's path, never the
  temporary file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator

#: Result files are shared (mkstemp creates them 0600); an existing file keeps its mode.
FILE_MODE = 0o644
#: The path that means standard output.
STDOUT = "-"


class OutputError(ValueError):
    """An output path that cannot be written; the message names the user's path."""


def _refuse(path, why: str) -> OutputError:
    return OutputError(f"cannot write {str(path)!r}: {why}")


def _folder_problem(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` (None when something can)."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return f"folder {str(folder)!r} does not exist (costmodel never creates folders)"
    except NotADirectoryError:
        return f"{str(_first_file(folder))!r} is a file, not a folder"
    except OSError as err:
        return f"folder {str(folder)!r}: {err.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{str(folder)!r} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {str(folder)!r} is not writable"
    return None


def _first_file(folder: Path) -> Path:
    """The first component of ``folder`` that exists and is not a folder."""
    for part in reversed((folder, *folder.parents)):
        if part.exists() and not part.is_dir():
            return part
    return folder


def plan(path) -> tuple[str, Path | None]:
    """How ``path`` will be written: ``("stdout", None)``, ``("in_place", target)`` for a
    device or pipe, or ``("atomic", target)`` for a regular file (a symlink's target).
    Raises :class:`OutputError` when it cannot be. Writes nothing."""
    if str(path) == STDOUT:
        return "stdout", None
    user = Path(path)
    target = Path(os.path.realpath(user)) if user.is_symlink() else user
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise _refuse(path, _folder_problem(target.parent) or "not a folder") from None
    except OSError as err:  # a symlink loop, a name too long
        raise _refuse(path, err.strerror) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "it is a folder; give a file name")
    if info is not None and not stat.S_ISREG(info.st_mode):
        if not os.access(target, os.W_OK):
            raise _refuse(path, "not writable")
        return "in_place", target
    problem = _folder_problem(target.parent)
    if problem:
        raise _refuse(path, problem)
    if info is not None and not os.access(target, os.W_OK):
        raise _refuse(path, "the file is read-only")
    return "atomic", target


@contextlib.contextmanager
def open_output(path, binary: bool = False) -> Iterator[IO]:
    """A file handle to write ``path`` (see the module's rules); text is UTF-8 with ``\\n``
    line ends. The file appears (atomically) only when the ``with`` block succeeds."""
    how, target = plan(path)
    if how == "stdout":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    tmp = None
    try:
        if how == "in_place":
            handle = open(target, "wb")
        else:
            fd, tmp = _temporary(path, target)
            handle = os.fdopen(fd, "wb")
        with handle if binary else _text(handle) as out:
            yield out
        if tmp is not None:
            mode = os.stat(target).st_mode & 0o7777 if target.exists() else FILE_MODE
            os.chmod(tmp, mode)
            os.replace(tmp, target)
            tmp = None
    except OSError as err:
        if err.filename not in (None, tmp, str(target), target):
            raise  # not an error of this output (e.g. a missing input file)
        raise _refuse(path, err.strerror or str(err)) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _temporary(path, target: Path) -> tuple[int, str]:
    """A new temporary file beside ``target``; a folder that refuses it (a read-only mount,
    ``/proc``) is an :class:`OutputError` naming the user's ``path``, not the temporary."""
    try:
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _refuse(path, err.strerror or str(err)) from None


def _text(handle):
    import io

    return io.TextIOWrapper(handle, encoding="utf-8", newline="")


def write_atomic(path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` with :func:`open_output`."""
    with open_output(path, binary=isinstance(data, bytes)) as out:
        out.write(data)
