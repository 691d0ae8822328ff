"""The quick start on a fresh machine keeps working with the ledger key (issue 12): `jointuse
demo` makes ./var/ledger.key (mode 0600) beside the default database, its entries carry MACs,
`jointuse serve` finds the key, `jointuse ledger seal` / `verify` use it. SQLite only (the
demo's own backend)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer import Typer
from typer.testing import CliRunner

from jointuse.app import create_app
from jointuse.core.db import make_engine
from jointuse.core.settings import load_settings
from jointuse.demo import cli as demo_cli
from jointuse.ledger import LedgerKey, verify
from jointuse.ledger.cli import app as ledger_app


def test_demo_makes_the_key_and_everything_after_it_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JOINTUSE_DATABASE_URL", "JOINTUSE_LEDGER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # ./var is this test's
    monkeypatch.setattr(demo_cli, "DEFAULT_CUSTOMERS", 12)
    app = Typer()
    demo_cli.register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "var" / "ledger.key"
    assert "ledger key: made var/ledger.key" in result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = LedgerKey.from_file(key_file)
    again = runner.invoke(app, ["demo"])  # a second run uses the same key
    assert again.exit_code == 0 and "ledger key: using var/ledger.key" in again.output

    engine = make_engine(load_settings().database_url)
    try:
        pending = verify(engine, key=key)
        assert pending.ok and pending.unsealed > 0 and pending.pending == pending.unsealed
        create_app(load_settings(), run_sealer=False)  # serve finds the key: no refusal
        out = CliRunner().invoke(ledger_app, ["seal"])
        assert out.exit_code == 0, out.output
        out = CliRunner().invoke(ledger_app, ["verify"])
        assert out.exit_code == 0, out.output
        assert f"ledger key var/ledger.key (public key {key.public_hex})" in out.output
        sealed = verify(engine, key=key)
        assert sealed.ok and sealed.authenticated == sealed.verified == pending.unsealed
    finally:
        engine.dispose()
