"""docs/cli.md, generated from every command's --help (a test fails when it is stale).

Regenerate: python -c "from costmodel.cli.reference import write; write()"
"""

from __future__ import annotations

from pathlib import Path

import click

from .commands import cli

HEADER = ("# CLI reference\n\nGenerated from `costmodel --help` and each command's `--help` "
          "by `costmodel.cli.reference`; do not edit by hand.\n")


def render() -> str:
    parts = [HEADER]
    settings = {**cli.context_settings, "terminal_width": 88, "max_content_width": 88}
    root = click.Context(cli, info_name="costmodel", **settings)
    parts.append(f"## costmodel\n\n```\n{cli.get_help(root)}\n```\n")
    for name in sorted(cli.commands):
        command = cli.commands[name]
        ctx = click.Context(command, info_name=name, parent=root)
        parts.append(f"## costmodel {name}\n\n```\n{command.get_help(ctx)}\n```\n")
    return "\n".join(parts)


def write(path: str | Path = "docs/cli.md") -> None:
    from costmodel.files import write_atomic

    write_atomic(path, render())
