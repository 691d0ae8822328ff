"""Signing keys, checkpoints, and the `jointuse ledger` commands."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_tamper import tamper
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.ledger import LedgerEntry, append, seal_all, verify
from jointuse.ledger.checkpoint import (
    create_checkpoint,
    generate_key,
    load_private_key,
    parse_public_key,
    public_key_hex,
)
from jointuse.ledger.cli import app


def _append(uow: Callable[..., UnitOfWork], n: int) -> None:
    for i in range(n):
        with uow() as u:
            append(
                u.session,
                LedgerEntry(
                    party="D001", purpose="P5_negawatt", action="read", decision="allowed",
                    supply_point_id=f"06{i:020d}", items_granted=("baseline",),
                ),
            )  # fmt: skip


def test_keygen_writes_a_private_key_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    public = generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_hex(load_private_key(path).public_key()) == public
    assert public_key_hex(parse_public_key(public)) == public
    assert public_key_hex(parse_public_key(str(path))) == public
    with pytest.raises(ValidationError) as info:
        generate_key(path)
    assert info.value.field == "key"
    assert generate_key(path, overwrite=True) != public


def test_bad_key_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a key")
    with pytest.raises(ValidationError, match="not an unencrypted PEM private key"):
        load_private_key(bogus)
    with pytest.raises(ValidationError, match="cannot read key file"):
        load_private_key(tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="neither 64 hex digits nor a readable file"):
        parse_public_key("abc")


def test_checkpoints_verify_and_untrusted_or_edited_ones_do_not(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    key, other = generate_pair()
    empty = create_checkpoint(engine, key)  # an empty chain: position 0, genesis hash
    _append(uow, 3)
    seal_all(engine)
    cp = create_checkpoint(engine, key)
    assert (empty.chain_pos, cp.chain_pos) == (0, 3)
    assert cp.signature_valid()
    trusted = [public_key_hex(key.public_key())]
    result = verify(engine, trusted_keys=trusted)
    assert result.ok and result.checkpoints_checked == 2 and result.keys_trusted

    create_checkpoint(engine, other)
    result = verify(engine, trusted_keys=trusted)
    assert [
        p.problem.startswith("signed by an untrusted key") for p in result.checkpoint_problems
    ] == [True]
    assert verify(engine).ok  # without trusted keys, each checks against its own stored key

    tamper(
        engine,
        f"UPDATE ledger_checkpoint SET head_hash = '{'1' * 64}' WHERE id = {cp.id}",
    )
    problems = verify(engine).checkpoint_problems
    assert [(p.checkpoint_id, p.problem) for p in problems] == [
        (cp.id, "signature does not verify")
    ]


def generate_pair() -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
    return Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()


def test_cli_keygen_checkpoint_seal_verify(
    database_url: str, engine: Engine, uow: Callable[..., UnitOfWork], tmp_path: Path
) -> None:
    runner = CliRunner()
    key = tmp_path / "ledger.key"
    out = runner.invoke(app, ["keygen", "--key", str(key)])
    assert out.exit_code == 0, out.output
    public = out.output.split("public key ")[1].strip()
    assert len(public) == 64

    _append(uow, 4)
    out = runner.invoke(app, ["seal", "--database-url", database_url])
    assert out.exit_code == 0 and "sealed 4; head at chain position 4" in out.output
    out = runner.invoke(app, ["checkpoint", "--key", str(key), "--database-url", database_url])
    assert out.exit_code == 0 and "chain position 4" in out.output
    _append(uow, 2)  # not sealed yet: verify only reads, it does not seal them
    args = ["verify", "--database-url", database_url, "--public-key", public]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "verified 4 entries" in out.output
    assert "2 entries not sealed yet" in out.output
    assert "checkpoints: 1 checked, 0 with problems" in out.output
    out = runner.invoke(app, args)
    assert "verified 4 entries" in out.output  # still: verify wrote nothing
    out = runner.invoke(app, ["seal", "--database-url", database_url])
    assert out.exit_code == 0 and "sealed 2; head at chain position 6" in out.output
    out = runner.invoke(app, args)
    assert out.exit_code == 0 and "verified 6 entries" in out.output

    tamper(
        engine,
        "UPDATE access_ledger SET entry = replace(entry, 'D001', 'D002'), party = 'D002'"
        " WHERE seq = 2",
    )
    out = runner.invoke(app, args)
    assert out.exit_code == 1
    assert "BROKEN after 1 verified entries: chain position 2 (seq 2)" in out.output
    assert "hash mismatch" in out.output or "recomputed hash" in out.output

    out = runner.invoke(app, ["keygen", "--key", str(key)])
    assert out.exit_code == 2 and "refusing to overwrite" in out.output
