"""The served app and the ledger key (issue 12): it refuses to start without one unless told
to run unauthenticated; with one, every entry it writes carries a MAC, its sealer seals with the
key and exports signed checkpoints to a file — on SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import POINT, supply_point_body
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from jointuse.app import create_app
from jointuse.ledger import LedgerKey, verify
from jointuse.ledger.checkpoint import read_checkpoint_file
from jointuse.ledger.keys import LedgerKeyMissing, generate_key
from jointuse.parties import service as parties


def test_an_app_on_its_own_database_needs_a_key_or_an_explicit_no(database_url: str) -> None:
    env = {"JOINTUSE_DATABASE_URL": database_url}
    with pytest.raises(LedgerKeyMissing) as info:
        create_app(environ=env)
    assert info.value.field == "JOINTUSE_LEDGER_KEY_FILE"
    assert "--unauthenticated" in info.value.message
    app = create_app(environ={**env, "JOINTUSE_LEDGER_UNAUTHENTICATED": "1"}, run_sealer=False)
    assert app.title == "jointuse"


def test_the_served_app_authenticates_its_entries_and_exports_checkpoints(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    key_file = tmp_path / "ledger.key"
    generate_key(key_file)
    exported = tmp_path / "checkpoints.jsonl"
    parties.seed_reference_parties(engine)
    tokens = {code: parties.issue_token(engine, code).secret for code in ("tso-03", "tso-06")}
    env = {
        "JOINTUSE_DATABASE_URL": database_url,
        "JOINTUSE_LEDGER_KEY_FILE": str(key_file),
        "JOINTUSE_LEDGER_CHECKPOINT_FILE": str(exported),
        "JOINTUSE_LEDGER_CHECKPOINT_INTERVAL": "0.01",
        "JOINTUSE_LEDGER_SEAL_INTERVAL": "0.05",
    }
    app = create_app(environ=env, run_scheduler=False)
    with TestClient(app) as client:
        for party, status in (("tso-03", 201), ("tso-06", 403)):
            r = client.put(
                f"/v1/supply-points/{POINT}",
                json=supply_point_body(),
                headers={"Authorization": f"Bearer {tokens[party]}"},
            )
            assert r.status_code == status, r.text
    # stopped: the sealer's last run sealed everything and exported the head
    with engine.connect() as conn:
        macs = conn.execute(text("SELECT mac FROM access_ledger ORDER BY seq")).scalars().all()
    assert len(macs) == 2 and all(m is not None and len(m) == 64 for m in macs)
    key = LedgerKey.from_file(key_file)
    result = verify(engine, key=key, checkpoint_files=[exported])
    assert result.ok, result.auth_problems
    assert (result.verified, result.authenticated, result.unsealed) == (2, 2, 0)
    assert result.trusted_checkpoint == 2 and result.not_checked == ()
    newest = read_checkpoint_file(exported)[0][-1]
    assert (newest.chain_pos, newest.public_key) == (2, key.public_hex)
