"""`jointuse ledger` with the ledger key: verify only reads, says what it could not check, and
exits non-zero on tampering (1) or an unmet requirement (3); checkpoints exported to files; the
background sealer's export and its refusal to extend a tampered head."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_tamper import tamper
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from jointuse.core.db import UnitOfWork
from jointuse.ledger import LedgerEntry, LedgerKey, append, bind_key, seal_all, verify
from jointuse.ledger.checkpoint import create_checkpoint, read_checkpoint_file
from jointuse.ledger.cli import app
from jointuse.ledger.keys import generate_key
from jointuse.ledger.service import BackgroundSealer

runner = CliRunner()


def _append(uow: Callable[..., UnitOfWork], n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        with uow() as u:
            append(
                u.session,
                LedgerEntry(
                    party="dr-one", purpose="P5_negawatt", action="read", decision="allowed",
                    supply_point_id=f"06{i:020d}", items_granted=("baseline",),
                ),
            )  # fmt: skip


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.key"
    generate_key(path)
    return path


@pytest.fixture
def keyed(engine: Engine, uow: Callable[..., UnitOfWork], key_file: Path) -> LedgerKey:
    key = LedgerKey.from_file(key_file)
    bind_key(engine, key)
    _append(uow, 5)
    seal_all(engine)
    return key


def test_verify_reads_only_and_lists_what_it_did_not_check(
    database_url: str, engine: Engine, uow: Callable[..., UnitOfWork], keyed: LedgerKey
) -> None:
    _append(uow, 2, first=5)  # pending
    out = runner.invoke(app, ["verify", "--database-url", database_url])
    assert out.exit_code == 0, out.output
    assert "verified 5 entries" in out.output
    assert "NOT CHECKED:" in out.output
    assert "MACs (no ledger key: --key)" in out.output
    assert "no checkpoint kept outside the database" in out.output
    assert "2 entries not sealed yet" in out.output
    assert verify(engine).unsealed == 2  # nothing was sealed by verify
    out = runner.invoke(app, ["verify", "--database-url", database_url, "--require-checkpoint"])
    assert out.exit_code == 3 and "REQUIRED:" in out.output


def test_verify_with_the_key_and_an_exported_checkpoint(
    database_url: str, engine: Engine, key_file: Path, keyed: LedgerKey, tmp_path: Path
) -> None:
    export = tmp_path / "out" / "checkpoints.jsonl"
    keyed_args = ["--database-url", database_url, "--key", str(key_file)]
    out = runner.invoke(app, ["checkpoint", *keyed_args, "--export", str(export)])
    assert out.exit_code == 0, out.output
    assert f"exported to {export}" in out.output
    line = json.loads(export.read_text())
    assert (line["chain_pos"], line["public_key"], line["v"]) == (5, keyed.public_hex, 1)
    args = ["verify", "--database-url", database_url, "--key", str(key_file)]
    out = runner.invoke(app, [*args, "--checkpoint-file", str(export), "--require-checkpoint"])
    assert out.exit_code == 0, out.output
    assert "authenticated up to chain position 5; 0 problems" in out.output
    assert "checkpoints: 2 checked, 0 with problems (1 read from files)" in out.output
    assert "NOT CHECKED" not in out.output
    # a checkpoint file with a line that is not a checkpoint, and one that does not exist
    with export.open("a") as f:
        f.write("not json\n")
    out = runner.invoke(app, [*args, "--checkpoint-file", str(export)])
    assert out.exit_code == 1 and "line 2: not an exported checkpoint" in out.output
    out = runner.invoke(app, [*args, "--checkpoint-file", str(tmp_path / "none.jsonl")])
    assert out.exit_code == 2 and "does not exist" in out.output


def test_verify_exits_1_on_a_forged_entry_and_seal_refuses_it(
    database_url: str, engine: Engine, key_file: Path, keyed: LedgerKey
) -> None:
    with engine.begin() as conn:  # a copy of entry 1 without its MAC: no trigger stops it
        conn.execute(
            text(
                "INSERT INTO access_ledger (seq, entry, recorded_at, party, purpose, action,"
                " decision, supply_point_id, customer_id, rule_id, request_id, items_granted,"
                " items_refused) SELECT 6, entry, recorded_at, party, purpose, action, decision,"
                " supply_point_id, customer_id, rule_id, request_id, items_granted, items_refused"
                " FROM access_ledger WHERE seq = 1"
            )
        )
    args = ["--database-url", database_url, "--key", str(key_file)]
    out = runner.invoke(app, ["verify", *args])
    assert out.exit_code == 1
    assert "entry seq 6 (not sealed): it has no MAC" in out.output
    out = runner.invoke(app, ["seal", *args])
    assert (
        out.exit_code == 1 and "REFUSED 1 entries" in out.output and "seq 6: no MAC" in out.output
    )
    out = runner.invoke(app, ["seal", "--database-url", database_url])  # without the key
    assert out.exit_code == 3 and "needs the ledger key" in out.output


def test_export_checkpoints_appends_only_new_ones(
    database_url: str, engine: Engine, keyed: LedgerKey, tmp_path: Path
) -> None:
    create_checkpoint(engine, keyed)
    create_checkpoint(engine, keyed)
    path = tmp_path / "cp.jsonl"
    out = runner.invoke(app, ["export-checkpoints", str(path), "--database-url", database_url])
    assert out.exit_code == 0 and "2 of 2 checkpoints appended" in out.output
    out = runner.invoke(app, ["export-checkpoints", str(path), "--database-url", database_url])
    assert "0 of 2 checkpoints appended" in out.output
    found, problems = read_checkpoint_file(path)
    assert len(found) == 2 and problems == [] and all(cp.signature_valid() for cp in found)


def test_adopting_a_ledger_from_before_keys(
    database_url: str, engine: Engine, uow: Callable[..., UnitOfWork], key_file: Path
) -> None:
    _append(uow, 3)
    assert runner.invoke(app, ["seal", "--database-url", database_url]).exit_code == 0
    args = ["--database-url", database_url, "--key", str(key_file)]
    out = runner.invoke(app, ["verify", *args])
    assert out.exit_code == 1 and "positions 1..3 are sealed but no seal MAC" in out.output
    bind_key(engine, LedgerKey.from_file(key_file))
    _append(uow, 1, first=3)
    out = runner.invoke(app, ["seal", *args])
    assert out.exit_code == 3 and "seal --adopt" in out.output
    out = runner.invoke(app, ["seal", *args, "--adopt"])
    assert out.exit_code == 0 and "sealed 1; head at chain position 4" in out.output
    assert runner.invoke(app, ["verify", *args]).exit_code == 0


def test_the_sealer_exports_checkpoints_and_reports_a_stop_once(
    engine: Engine,
    uow: Callable[..., UnitOfWork],
    keyed: LedgerKey,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    export = tmp_path / "auto.jsonl"
    sealer = BackgroundSealer(engine, export=export, export_interval=3600)
    sealer.run_once()  # first run: exports the head (5)
    _append(uow, 2, first=5)
    sealer.run_once()  # sealed 6, 7 but within the interval: no new export
    assert [cp.chain_pos for cp in read_checkpoint_file(export)[0]] == [5]
    sealer.stop()  # the last run exports whatever the interval
    assert [cp.chain_pos for cp in read_checkpoint_file(export)[0]] == [5, 7]
    assert stat.S_IMODE(export.stat().st_mode) & 0o022 == 0

    tamper(engine, "UPDATE access_ledger_seal SET mac = NULL WHERE chain_pos = 7")
    _append(uow, 1, first=7)
    again = BackgroundSealer(engine, key=LedgerKey(keyed.private))
    with caplog.at_level(logging.ERROR, logger="jointuse.ledger.service"):
        again.run_once()
        again.run_once()
    stops = [r for r in caplog.records if "ledger sealing stopped" in r.getMessage()]
    assert len(stops) == 1 and again.problem is not None
    # (the run that sealed 6 and 7 wrote its seal MAC on 7 only)
    assert "positions 6..7 were sealed without" in again.problem.message
