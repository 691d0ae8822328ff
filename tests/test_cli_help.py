"""``--help`` of every command and sub-command of ``jointuse``, found by walking the Click tree.

Each help screen must exit 0 and show the help texts *as written*: no Rich markup read into them
(``[/TO]`` in ``policy explain --relation`` crashed the screen with ``MarkupError``), no emoji
codes replaced (``AB:CD:…`` in ``token cert-add`` printed a CD emoji), and no ``<bool>`` shown
for a flag. "As written" is checked word for word: the first paragraph of the command's help and
every option's help, whitespace collapsed, must appear in the screen.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from jointuse.cli import app

ROOT = typer.main.get_command(app)


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``command`` (Typer's groups carry ``commands``; Typer ships its
    own copy of Click, so no ``isinstance`` against ``click.Group``)."""
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _walk(sub, (*path, name))
    return found


def _command(path: tuple[str, ...]) -> Any:
    command = ROOT
    for name in path:
        command = command.commands[name]
    return command


COMMANDS = _walk(ROOT)
# Emoji blocks (Miscellaneous Symbols and Pictographs … Symbols and Pictographs Extended-A).
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_walk_finds_every_group_and_the_commands_under_them() -> None:
    names = {" ".join(p) for p in COMMANDS}
    for expected in ("policy explain", "token cert-add", "ledger verify", "db upgrade", "serve"):
        assert expected in names
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "jointuse")
def test_help_screen_shows_the_help_as_written(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "MarkupError" not in out and "Traceback" not in out
    assert not _EMOJI.search(out), out
    assert "<bool>" not in out, out
    flat = _flat(out)
    command = _command(path)
    if command.help:
        first = command.help.split("\n\n")[0]
        assert _flat(first) in flat, f"{first!r} not shown as written:\n{out}"
    for param in command.params:
        text = getattr(param, "help", None)
        if text and not getattr(param, "hidden", False):
            assert _flat(text) in flat, f"{text!r} not shown as written:\n{out}"
