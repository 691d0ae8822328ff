"""Signed checkpoints of the ledger head (Ed25519).

A checkpoint states "at chain position N the head hash was H", signed at time T by the holder of
an Ed25519 key. Checkpoints are stored in ``ledger_checkpoint`` (append-only by trigger) and are
worth copying elsewhere (printed, mailed, published). Someone with write access to the database
can rewrite the whole chain consistently (recompute every hash), but cannot re-sign earlier
checkpoints without the private key: :func:`jointuse.ledger.service.verify` checks every
checkpoint's signature, against the trusted public keys when given, and that the chain still has
hash H at position N.

Signed message (version 1)::

    b"jointuse-ledger-checkpoint-v1\\n" + UTF-8(JSON {"chain_pos", "head_hash", "signed_at"},
                                               sorted keys, no whitespace)

``signed_at`` is UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; the public key is stored as the 64-hex raw
key and the signature as 128 hex digits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, insert, select

from jointuse.core.errors import ValidationError
from jointuse.ledger.chain import GENESIS_HASH, format_time
from jointuse.ledger.tables import access_ledger_seal, ledger_checkpoint

_DOMAIN = b"jointuse-ledger-checkpoint-v1\n"


def checkpoint_message(chain_pos: int, head_hash: str, signed_at: str) -> bytes:
    body = {"chain_pos": chain_pos, "head_hash": head_hash, "signed_at": signed_at}
    return _DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# --- keys ---------------------------------------------------------------------------------------


def public_key_hex(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def generate_key(path: Path, *, overwrite: bool = False) -> str:
    """Write a new Ed25519 private key as PKCS#8 PEM, mode 0600; return the public key (hex)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise ValidationError(
            f"key file {path} exists already; refusing to overwrite a signing key",
            field="key",
            valid="a path that does not exist yet (or --force)",
        ) from exc
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)
    return public_key_hex(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"cannot read key file {path}: {exc.strerror}",
            field="key",
            valid="a PEM file written by `jointuse ledger keygen`",
        ) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"{path} is not an unencrypted PEM private key",
            field="key",
            valid="a PEM file written by `jointuse ledger keygen`",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key",
            field="key",
            valid="an Ed25519 private key",
        )
    return key


def parse_public_key(value: str) -> Ed25519PublicKey:
    """A public key from 64 hex digits, or from a PEM file (public key, or private key)."""
    text = value.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    path = Path(text)
    if not path.is_file():
        raise ValidationError(
            f"public key {value!r} is neither 64 hex digits nor a readable file",
            field="public_key",
            valid="64 hex digits (as printed by keygen) or a PEM file",
        )
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ValidationError(
            f"{path} is not a PEM public key", field="public_key", valid="an Ed25519 PEM key"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key",
            field="public_key",
            valid="an Ed25519 public key",
        )
    return key


# --- storage ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    chain_pos: int
    head_hash: str
    signed_at: str
    public_key: str
    signature: str

    def signature_valid(self) -> bool:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
            key.verify(
                bytes.fromhex(self.signature),
                checkpoint_message(self.chain_pos, self.head_hash, self.signed_at),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def sealed_head(conn: Connection) -> tuple[int, str]:
    """``(chain_pos, hash)`` of the last sealed entry; ``(0, GENESIS_HASH)`` for an empty chain."""
    t = access_ledger_seal.c
    row = conn.execute(select(t.chain_pos, t.hash).order_by(t.chain_pos.desc()).limit(1)).first()
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def create_checkpoint(
    engine: Engine, key: Ed25519PrivateKey, *, now: datetime | None = None
) -> Checkpoint:
    """Sign the current sealed head and store the checkpoint (seal first to include new entries)."""
    signed_at = format_time(now or datetime.now(UTC))
    with engine.begin() as conn:
        chain_pos, head_hash = sealed_head(conn)
        signature = key.sign(checkpoint_message(chain_pos, head_hash, signed_at)).hex()
        public = public_key_hex(key.public_key())
        result = conn.execute(
            insert(ledger_checkpoint).values(
                chain_pos=chain_pos,
                head_hash=head_hash,
                signed_at=signed_at,
                public_key=public,
                signature=signature,
            )
        )
        new_id = result.inserted_primary_key
        assert new_id is not None
    return Checkpoint(int(new_id[0]), chain_pos, head_hash, signed_at, public, signature)


def load_checkpoints(conn: Connection) -> list[Checkpoint]:
    t = ledger_checkpoint.c
    rows = conn.execute(
        select(t.id, t.chain_pos, t.head_hash, t.signed_at, t.public_key, t.signature).order_by(
            t.id
        )
    ).all()
    return [Checkpoint(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


@dataclass(frozen=True, slots=True)
class CheckpointProblem:
    checkpoint_id: int
    chain_pos: int
    problem: str

    def describe(self) -> str:
        return f"checkpoint {self.checkpoint_id} (chain position {self.chain_pos}): {self.problem}"


def check_checkpoints(
    checkpoints: list[Checkpoint],
    *,
    seen: Mapping[int, str],
    verified: int,
    chain_broken: bool,
    trusted_keys: Collection[str] | None,
) -> list[CheckpointProblem]:
    """Problems with ``checkpoints`` given the chain as verified (``seen``: hash per position)."""
    problems: list[CheckpointProblem] = []
    for cp in checkpoints:
        if not cp.signature_valid():
            problems.append(CheckpointProblem(cp.id, cp.chain_pos, "signature does not verify"))
            continue
        if trusted_keys is not None and cp.public_key.lower() not in trusted_keys:
            problems.append(
                CheckpointProblem(
                    cp.id, cp.chain_pos, f"signed by an untrusted key {cp.public_key}"
                )
            )
            continue
        if cp.chain_pos == 0:
            actual: str | None = GENESIS_HASH
        else:
            actual = seen.get(cp.chain_pos)
        if actual is None:
            if chain_broken:
                problem = f"not checked: the chain breaks before position {cp.chain_pos}"
            else:
                problem = (
                    f"the chain ends at position {verified}: entries signed at position "
                    f"{cp.chain_pos} are gone (truncated)"
                )
            problems.append(CheckpointProblem(cp.id, cp.chain_pos, problem))
        elif actual != cp.head_hash:
            problems.append(
                CheckpointProblem(
                    cp.id,
                    cp.chain_pos,
                    f"the chain was rewritten: signed head hash {cp.head_hash}, "
                    f"chain now has {actual}",
                )
            )
    return problems
