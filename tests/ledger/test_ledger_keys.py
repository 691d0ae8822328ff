"""Where the ledger key comes from, the settings around it, and the migration that adds the MAC
columns (up and down, on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from jointuse.core.db import alembic_config, current_revisions, make_engine, upgrade
from jointuse.core.errors import ValidationError
from jointuse.core.settings import DEFAULT_DATABASE_URL, Settings, load_settings
from jointuse.ledger.keys import (
    LedgerKey,
    LedgerKeyMissing,
    configured_key_file,
    ensure_key_file,
    require_key,
)


def test_ledger_settings_are_read_and_checked() -> None:
    s = load_settings({})
    assert (s.ledger_key_file, s.ledger_unauthenticated) == (None, False)
    assert (s.ledger_checkpoint_file, s.ledger_checkpoint_interval) == (
        "var/ledger-checkpoints.jsonl",
        60.0,
    )
    s = load_settings(
        {
            "JOINTUSE_LEDGER_KEY_FILE": " /etc/jointuse/ledger.key ",
            "JOINTUSE_LEDGER_UNAUTHENTICATED": "yes",
            "JOINTUSE_LEDGER_CHECKPOINT_FILE": "/srv/cp.jsonl",
            "JOINTUSE_LEDGER_CHECKPOINT_INTERVAL": "0",
        }
    )
    assert (s.ledger_key_file, s.ledger_unauthenticated) == ("/etc/jointuse/ledger.key", True)
    assert (s.ledger_checkpoint_file, s.ledger_checkpoint_interval) == ("/srv/cp.jsonl", 0.0)
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ValidationError) as info:
            load_settings({"JOINTUSE_LEDGER_CHECKPOINT_INTERVAL": bad})
        assert info.value.field == "JOINTUSE_LEDGER_CHECKPOINT_INTERVAL"


def test_the_default_key_goes_with_the_default_database_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    default, other = Settings(), Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert configured_key_file(default) is None  # ./var/ledger.key does not exist yet
    with pytest.raises(LedgerKeyMissing):
        require_key(default)
    assert require_key(replace(default, ledger_unauthenticated=True)) is None
    key, made = ensure_key_file(Path("var/ledger.key"))
    assert made and ensure_key_file(Path("var/ledger.key"))[1] is False
    assert default.database_url == DEFAULT_DATABASE_URL
    assert configured_key_file(default) == Path("var/ledger.key")
    assert configured_key_file(other) is None  # another database: only an explicit key
    loaded = require_key(default)
    assert loaded is not None and loaded.public_hex == key.public_hex
    explicit = replace(other, ledger_key_file=str(tmp_path / "var" / "ledger.key"))
    assert configured_key_file(explicit) == tmp_path / "var" / "ledger.key"
    missing = replace(other, ledger_key_file=str(tmp_path / "none.key"))
    with pytest.raises(ValidationError, match="cannot read key file"):
        require_key(missing)


def test_derived_keys_are_stable_for_one_key_file(tmp_path: Path) -> None:
    key, _ = ensure_key_file(tmp_path / "k.pem")
    again = LedgerKey.from_file(tmp_path / "k.pem")
    assert key.entry_mac(1, "{}") == again.entry_mac(1, "{}")
    assert key.seal_mac(1, "0" * 64) == again.seal_mac(1, "0" * 64)


def test_the_migration_adds_and_removes_the_mac_columns(empty_database_url: str) -> None:
    engine: Engine = make_engine(empty_database_url)
    try:
        upgrade(engine, "0020_ledger_auth")
        assert current_revisions(engine) == ("0020_ledger_auth",)
        columns = {c["name"] for c in inspect(engine).get_columns("access_ledger_seal")}
        assert "mac" in columns
        indexes = {i["name"] for i in inspect(engine).get_indexes("access_ledger_seal")}
        assert "ix_access_ledger_seal_authenticated" in indexes
        command.downgrade(alembic_config(engine), "0020_ledger_auth-1")
        assert "mac" not in {c["name"] for c in inspect(engine).get_columns("access_ledger")}
        upgrade(engine, "0020_ledger_auth")
        assert "mac" in {c["name"] for c in inspect(engine).get_columns("access_ledger")}
    finally:
        engine.dispose()
