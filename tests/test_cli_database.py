"""Every command of ``jointuse`` that takes ``--database-url``, found by walking the Click tree,
against a database that does not exist and one that is empty, on SQLite and PostgreSQL: it
refuses (exit 2) with the command to run, and creates or migrates nothing. Only ``db upgrade``
and ``demo`` create and migrate; ``db current`` reports an empty database but needs it to exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from jointuse.cli import app
from jointuse.core.db import current_revisions, make_engine
from jointuse.core.opening import head_revisions

ROOT = typer.main.get_command(app)
FINGERPRINT = "ab" * 32
CREATE = {("db", "upgrade"), ("demo",)}


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def _with_database_url() -> list[tuple[str, ...]]:
    return [
        path
        for path, command in _walk(ROOT)
        if any(p.name == "database_url" for p in getattr(command, "params", []))
    ]


def _arguments(path: tuple[str, ...], files: Path) -> list[str]:
    """What each command needs besides ``--database-url`` (valid enough to reach the database)."""
    csv = files / "data.csv"
    csv.write_text("x\n", encoding="utf-8")
    key = files / "key.pem"
    if not key.exists():
        result = CliRunner().invoke(app, ["ledger", "keygen", "--key", str(key)])
        assert result.exit_code == 0, result.output
    return {
        ("party", "add"): [
            *("--code", "r-x", "--kind", "retailer", "--name-ja", "エックス"),
            *("--name-en", "X", "--meti-registration", "A0999"),
        ],
        ("party", "show"): ["tso-03"],
        ("party", "suspend"): ["tso-03", "--reason", "test"],
        ("party", "reinstate"): ["tso-03"],
        ("party", "deregister"): ["tso-03", "--reason", "test"],
        ("token", "issue"): ["tso-03"],
        ("token", "revoke"): ["0123456789abcdef"],
        ("token", "list"): ["tso-03"],
        ("token", "cert-add"): ["tso-03", FINGERPRINT],
        ("token", "cert-revoke"): [FINGERPRINT],
        ("token", "cert-list"): ["tso-03"],
        ("ledger", "checkpoint"): ["--key", str(key)],
        ("ledger", "export-checkpoints"): [str(files / "cp.jsonl")],
        ("user", "add"): ["tso-03", "kato", "--role", "field_staff", "--name", "Kato"],
        ("user", "list"): ["tso-03"],
        ("user", "deactivate"): ["tso-03", "kato"],
        ("negawatt", "import"): [str(csv), "--as", "tso-03"],
        ("negawatt", "settle"): ["--event", "e-1", "--as", "dr-1"],
        ("contracts", "import"): [str(csv), "--as", "tso-03"],
        ("inbox", "list"): ["--as", "tso-03"],
        ("negawatt", "group", "add"): ["G-1", "group one", "--as", "dr-1"],
        ("negawatt", "agreement", "add"): [
            *("--customer", "c-1", "--point", "0312345678901234567890"),
            *("--agreed-on", "2024-01-01", "--as", "dr-1"),
        ],
        ("negawatt", "agreement", "withdraw"): ["a-1", "--as", "dr-1"],
        ("negawatt", "resource", "add"): ["--agreement", "a-1", "--group", "G-1", "--as", "dr-1"],
        ("negawatt", "event", "create"): [
            *("--day", "2024-07-01", "--first-slot", "27", "--last-slot", "34"),
            *("--resource", "0312345678901234567890", "--as", "dr-1"),
        ],
        ("negawatt", "event", "list"): ["--as", "dr-1"],
        ("negawatt", "event", "show"): ["e-1", "--as", "dr-1"],
        ("negawatt", "event", "amend"): ["e-1", "--as", "dr-1"],
        ("negawatt", "event", "cancel"): ["e-1", "--as", "dr-1"],
        ("negawatt", "results"): ["--run", "r-1", "--as", "dr-1"],
        ("negawatt", "point-results"): ["0312345678901234567890", "--as", "dr-1"],
        ("inbox", "ack"): ["1", "--as", "tso-03"],
        ("requests", "refuse"): ["r-1", "--ground", "art33_2_i"],
        ("usage-inquiry", "records"): ["--customer", "C0001", "--auditor", "auditor-1"],
        ("serve",): ["--port", "1"],
        ("ledger", "show"): ["--auditor", "auditor-1"],
        ("ledger", "export"): ["--auditor", "auditor-1"],
        ("incident", "scope"): [
            *("--auditor", "auditor-1", "--party", "tso-03"),
            *("--from", "2026-01-01", "--to", "2026-01-02"),
        ],
    }.get(path, [])


COMMANDS = _with_database_url()
REFUSING = [p for p in COMMANDS if p not in CREATE]


def test_the_walk_finds_the_commands_with_a_database() -> None:
    for expected in (("party", "list"), ("ledger", "verify"), ("tick",), ("serve",), ("demo",)):
        assert expected in COMMANDS
    assert ("ledger", "keygen") not in COMMANDS
    assert set(COMMANDS) >= CREATE


@pytest.fixture
def absent_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'typo' / 'jointuse.db'}"
        assert not (tmp_path / "typo").exists(), "a folder or a SQLite file was created"
        return
    server = request.getfixturevalue("_postgres")
    name = f"{server.prefix}_absent"
    yield server.url(name)
    found = server.admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    assert found.fetchone() is None, "a PostgreSQL database was created"


@pytest.fixture
def empty_url(empty_database_url: str) -> Iterator[str]:
    if empty_database_url.startswith("sqlite:///"):
        Path(empty_database_url.removeprefix("sqlite:///")).touch()
    yield empty_database_url
    engine = make_engine(empty_database_url)
    try:
        assert current_revisions(engine) == (), "the empty database was migrated"
    finally:
        engine.dispose()


def _refused(path: tuple[str, ...], url: str, files: Path) -> str:
    args = [*path, *_arguments(path, files), "--database-url", url]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (args, result.output, result.exception)
    assert "Traceback" not in result.output
    assert "error:" in result.stderr
    return result.stderr


@pytest.mark.parametrize("path", REFUSING, ids=" ".join)
def test_an_absent_database_is_refused_by_every_command(
    path: tuple[str, ...], absent_url: str, backend: str, tmp_path: Path
) -> None:
    err = _refused(path, absent_url, tmp_path)
    assert "jointuse db upgrade --database-url" in err
    if backend == "postgresql":
        assert "createdb" in err


@pytest.mark.parametrize("path", [p for p in REFUSING if p != ("db", "current")], ids=" ".join)
def test_an_empty_database_is_refused_by_every_command(
    path: tuple[str, ...], empty_url: str, tmp_path: Path
) -> None:
    err = _refused(path, empty_url, tmp_path)
    assert "is empty" in err and "jointuse db upgrade --database-url" in err


def test_db_current_reports_an_empty_database(empty_url: str) -> None:
    result = CliRunner().invoke(app, ["db", "current", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    assert "(none: run `jointuse db upgrade`)" in result.output


def test_the_configured_database_is_named_without_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINTUSE_DATABASE_URL", f"sqlite:///{tmp_path / 'nope.db'}")
    result = CliRunner().invoke(app, ["party", "list"])
    assert result.exit_code == 2
    assert result.stderr.rstrip().endswith("run: jointuse db upgrade")
    assert not (tmp_path / "nope.db").exists()


def test_db_upgrade_creates_and_migrates_then_commands_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'jointuse.db'}"
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"at revision {head_revisions()[0]}" in result.output
    result = CliRunner().invoke(app, ["party", "list", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "no parties registered" in result.output


def test_db_upgrade_migrates_an_empty_database(empty_database_url: str) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", empty_database_url])
    assert result.exit_code == 0, result.output
    engine = make_engine(empty_database_url)
    try:
        assert current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()
