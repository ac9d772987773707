"""The README's `## CLI` section lists exactly the commands the CLI has (datasette-style docs test).

Format the test reads: inside the section (up to the next `## ` heading), every line that, after
leading spaces, a list bullet (`- ` or `* `), a prompt (`$ `) and backticks, starts with
`batchsearch <command>` -- or `batchsearch <group> <command>` for keys, batch, kg and corpus --
documents that command. Code blocks and list items both work, e.g.

    batchsearch search "TEXT" [--entity ID ...] [--since DATE] [--json]
    - `batchsearch batch run FILE -o OUT`: submit, follow and download a batch
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from batchsearch.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
FORMAT = ("a `## CLI` section with one line per command starting with `batchsearch <command>` "
          "(or `batchsearch <group> <command>`), e.g. `    batchsearch batch run FILE -o OUT`")


def registered_commands() -> set[str]:
    """Every runnable command of the typer app ("search", "batch run", ...)."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[str]:
        children = getattr(command, "commands", {})
        if not children and path:
            yield " ".join(path)
        for name, sub in children.items():
            yield from walk(sub, (*path, name))

    return set(walk(typer.main.get_command(app), ()))


def groups() -> set[str]:
    """Names of the command groups (keys, batch, ...)."""
    root: Any = typer.main.get_command(app)
    return {name for name, sub in root.commands.items() if getattr(sub, "commands", None)}


def cli_section() -> str:
    """The text of README.md's `## CLI` section; fails with the expected format when it is missing."""
    if not README.exists():
        pytest.fail(f"README.md is missing; it needs {FORMAT}")
    match = re.search(r"^## CLI[ \t]*\n(.*?)(?=^## |\Z)", README.read_text(encoding="utf-8"), re.M | re.S)
    if match is None:
        pytest.fail(f"README.md has no `## CLI` section; it needs {FORMAT}")
    return match.group(1)


def documented_commands(section: str) -> set[str]:
    """The commands named by `batchsearch ...` lines of the section."""
    found = set()
    for line in section.splitlines():
        text = re.sub(r"^\s*(?:[-*]\s+)?(?:\$\s+)?`*", "", line)
        words = re.split(r"[\s`]+", text)
        if len(words) < 2 or words[0] != "batchsearch":
            continue
        found.add(" ".join(words[1:3]) if words[1] in groups() and len(words) > 2 else words[1])
    return found


def test_readme_cli_section_lists_every_command() -> None:
    documented, registered = documented_commands(cli_section()), registered_commands()
    missing, unknown = registered - documented, documented - registered
    assert not missing, f"commands missing from README.md's `## CLI` section: {sorted(missing)} ({FORMAT})"
    assert not unknown, f"README.md's `## CLI` section names commands the CLI does not have: {sorted(unknown)}"


def test_the_section_parser() -> None:
    section = """
Some prose about batchsearch search that is not a command line.

    $ batchsearch search "TEXT" --entity ID
    - `batchsearch batch run FILE -o OUT`: submit and follow
    * batchsearch kg companies NAME
    `batchsearch demo`
"""
    assert documented_commands(section) == {"search", "batch run", "kg companies", "demo"}
