"""``jointuse party`` / ``jointuse token`` through Typer's CliRunner, database from the env."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from jointuse.core.cli import db_app
from jointuse.core.db import UnitOfWork, current_revisions, make_engine
from jointuse.parties import service
from jointuse.parties.cli import party_app, token_app

runner = CliRunner()


def _app() -> typer.Typer:
    # Composed as the lead registers them in jointuse.cli.
    app = typer.Typer()
    app.add_typer(party_app, name="party")
    app.add_typer(token_app, name="token")
    app.add_typer(db_app, name="db")
    return app


APP = _app()


@pytest.fixture
def new_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite file not created yet, named by JOINTUSE_DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'cli' / 'jointuse.db'}"
    monkeypatch.setenv("JOINTUSE_DATABASE_URL", url)
    return url


@pytest.fixture
def db_url(new_url: str) -> str:
    """The same, created and migrated by `jointuse db upgrade`."""
    upgrade = runner.invoke(APP, ["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    return new_url


def run(*args: str) -> Result:
    return runner.invoke(APP, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def refused(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "error:" in result.stderr
    return result


ADD_COOP = (
    "party",
    "add",
    "--code",
    "r-coop",
    "--kind",
    "retailer",
    "--name-ja",
    "コープみらい",
    "--name-en",
    "Coop Mirai",
    "--meti-registration",
    "Ａ０１２３",
)


def test_commands_need_the_database_migrated_by_db_upgrade(new_url: str, tmp_path: Path) -> None:
    result = refused(*ADD_COOP)
    assert "no such file" in result.stderr and result.stderr.rstrip().endswith(
        "run: jointuse db upgrade"
    )
    assert not (tmp_path / "cli").exists()
    ok("db", "upgrade")
    db_url = new_url
    result = ok(*ADD_COOP)
    assert "registered r-coop (retailer, A0123)" in result.stdout
    engine = make_engine(db_url)
    try:
        assert len(current_revisions(engine)) == 1  # migrated to the one head
        assert service.get_party(engine, "r-coop").meti_registration == "A0123"
    finally:
        engine.dispose()
    table = ok("party", "list").stdout
    assert table.splitlines()[0].split() == ["CODE", "KIND", "STATUS", "REGISTRATION", "NAME"]
    assert "r-coop" in table and "A0123" in table and "コープみらい" in table


def test_list_json_and_kind_filter(db_url: str) -> None:
    ok("party", "seed")
    ok(*ADD_COOP)
    again = ok("party", "seed").stdout
    assert "nothing to do" in again
    views = json.loads(ok("party", "list", "--json").stdout)
    assert len(views) == 12
    assert set(views[0]) == {
        "code",
        "kind",
        "name_ja",
        "name_en",
        "meti_registration",
        "contractor_code",
        "area_code",
        "status",
    }
    tsos = json.loads(ok("party", "list", "--kind", "tso", "--json").stdout)
    assert [v["area_code"] for v in tsos] == [f"{n:02d}" for n in range(1, 11)]
    assert json.loads(ok("party", "list", "--kind", "dr_contractor", "--json").stdout) == []
    occto_rows = ok("party", "list", "--kind", "occto").stdout.splitlines()
    assert len(occto_rows) == 2 and occto_rows[1].split()[:3] == ["occto", "occto", "active"]
    empty = ok("party", "list", "--kind", "dr_contractor").stdout
    assert "no parties registered of kind dr_contractor" in empty


def test_status_commands_and_illegal_transition(db_url: str) -> None:
    ok(*ADD_COOP)
    assert (
        "suspended r-coop: suspended"
        in ok("party", "suspend", "r-coop", "--reason", "audit").stdout
    )
    assert "(open)  audit" in ok("party", "show", "r-coop").stdout
    assert "reinstated r-coop: active" in ok("party", "reinstate", "r-coop").stdout
    ok("party", "deregister", "r-coop", "--reason", "closed")
    result = refused("party", "reinstate", "r-coop")
    assert "cannot go from deregistered to active" in result.stderr
    assert "none (final)" in result.stderr
    shown = json.loads(ok("party", "show", "r-coop", "--json").stdout)
    assert [h["status"] for h in shown["history"]] == [
        "active",
        "suspended",
        "active",
        "deregistered",
    ]
    assert shown["history"][-1]["reason"] == "closed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "party",
                "add",
                "--code",
                "x",
                "--kind",
                "generator",
                "--name-ja",
                "x",
                "--name-en",
                "x",
            ),
            "unknown party kind 'generator'",
        ),
        (
            (
                "party",
                "add",
                "--code",
                "r-x",
                "--kind",
                "retailer",
                "--name-ja",
                "x",
                "--name-en",
                "x",
            ),
            "needs meti_registration",
        ),
        (
            (
                "party",
                "add",
                "--code",
                "Bad Code",
                "--kind",
                "occto",
                "--name-ja",
                "x",
                "--name-en",
                "x",
            ),
            "invalid party code",
        ),
        (("party", "list", "--kind", "tsos"), "valid kinds: retailer, tso"),
        (("party", "suspend", "nobody", "--reason", "x"), "no party with code 'nobody'"),
        (("party", "suspend", "r-coop", "--reason", " "), "a reason is required"),
        (("token", "issue", "r-coop", "--ttl-days", "0"), "out of range"),
        (("token", "issue", "nobody"), "no party with code 'nobody'"),
        (("token", "revoke", "xyz"), "invalid token id"),
        (("token", "revoke", "0000000000000000"), "no token with id"),
        (("token", "cert-add", "r-coop", "12:34"), "64 hex digits"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2(
    db_url: str, args: tuple[str, ...], message: str
) -> None:
    ok(*ADD_COOP)
    assert message in refused(*args).stderr


def test_duplicate_code(db_url: str) -> None:
    ok(*ADD_COOP)
    assert "already registered" in refused(*ADD_COOP).stderr


def test_bad_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOINTUSE_DATABASE_URL", "mysql://localhost/x")
    result = refused("party", "list")
    assert "not supported" in result.stderr
    assert "valid: sqlite, postgresql" in result.stderr


def test_token_issue_prints_secret_once_and_it_authenticates(db_url: str) -> None:
    ok(*ADD_COOP)
    result = ok("token", "issue", "r-coop", "--label", "nightly batch", "--ttl-days", "30")
    secret = result.stdout.strip()
    assert secret.startswith("ju_") and "\n" not in secret
    assert "shown only this once" in result.stderr
    token_id = secret[3:19]
    assert f"issued token {token_id}" in result.stderr

    listed = ok("token", "list", "r-coop").stdout
    assert token_id in listed and "nightly batch" in listed and "valid" in listed
    assert secret not in listed and secret.split(".")[1] not in listed
    as_json = json.loads(ok("token", "list", "r-coop", "--json").stdout)
    assert [(t["token_id"], t["state"]) for t in as_json] == [(token_id, "valid")]

    engine = make_engine(db_url)
    try:
        with UnitOfWork(engine, read_only=True) as uow:
            who = service.authenticate(
                uow.session, bearer=secret, client_cert_fingerprint=None, at=datetime.now(UTC)
            )
        assert (who.code, who.kind, who.status.value) == ("r-coop", "retailer", "active")
    finally:
        engine.dispose()

    assert f"revoked token {token_id}" in ok("token", "revoke", f"ju_{token_id}").stdout
    assert "already revoked" in ok("token", "revoke", token_id).stdout
    assert "already revoked" in ok("token", "revoke", secret).stdout
    assert json.loads(ok("token", "list", "r-coop", "--json").stdout)[0]["state"] == "revoked"


def test_certificate_commands(db_url: str) -> None:
    ok(*ADD_COOP)
    fp = ":".join(["AB"] * 32)
    assert "ab" * 32 in ok("token", "cert-add", "r-coop", fp).stdout
    assert "already registered" in refused("token", "cert-add", "r-coop", "ab" * 32).stderr
    listed = ok("token", "cert-list", "r-coop").stdout
    assert listed.splitlines()[0].split() == ["FINGERPRINT", "STATE", "REGISTERED", "REVOKED"]
    assert "ab" * 32 in listed and " valid " in listed
    assert "revoked" in ok("token", "cert-revoke", fp.lower()).stdout
    as_json = json.loads(ok("token", "cert-list", "r-coop", "--json").stdout)
    assert [(c["fingerprint"], c["state"]) for c in as_json] == [("ab" * 32, "revoked")]
    assert as_json[0]["revoked_at"] is not None
    ok("party", "seed")
    assert "party tso-03 has no certificates" in ok("token", "cert-list", "tso-03").stdout
    assert "no party with code 'nobody'" in refused("token", "cert-list", "nobody").stderr


def test_cli_on_each_backend(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOINTUSE_DATABASE_URL", database_url)
    ok(*ADD_COOP)
    ok("party", "suspend", "r-coop", "--reason", "audit")
    secret = ok("token", "issue", "r-coop").stdout.strip()
    views = json.loads(ok("party", "list", "--json").stdout)
    assert [(v["code"], v["status"]) for v in views] == [("r-coop", "suspended")]
    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine, read_only=True) as uow:
            who = service.authenticate(
                uow.connection, bearer=secret, client_cert_fingerprint=None, at=datetime.now(UTC)
            )
        assert who.status.value == "suspended"
    finally:
        engine.dispose()
