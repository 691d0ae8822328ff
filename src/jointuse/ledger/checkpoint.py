"""Signed checkpoints of the ledger head (Ed25519), in the database and outside it.

A checkpoint states "at chain position N the head hash was H", signed at time T with the ledger
key (:mod:`jointuse.ledger.keys`; anyone with its public key can check it). Someone with write
access to the database can rewrite the whole chain consistently (recompute every hash), but
cannot re-sign a checkpoint without the private key: :func:`jointuse.ledger.service.verify`
checks each checkpoint's signature, against the trusted public keys when given, and that the
chain still has hash H at position N.

Kept where the database administrator cannot reach
    A checkpoint in ``ledger_checkpoint`` (append-only by trigger) can simply be deleted by that
    administrator, with the entries after it. So checkpoints are also **exported**: appended as
    JSON lines to a file (:func:`export_checkpoints`, ``jointuse ledger checkpoint --export``,
    ``jointuse ledger export-checkpoints``), and the server's sealer appends one to
    ``JOINTUSE_LEDGER_CHECKPOINT_FILE`` every ``JOINTUSE_LEDGER_CHECKPOINT_INTERVAL`` seconds
    while the chain grows (:class:`jointuse.ledger.service.BackgroundSealer`). The file is meant
    to be copied on (to the joint users, an auditor, another host); ``ledger verify
    --checkpoint-file`` checks the newest checkpoint of such a file against the chain, which
    catches a truncation after it and any rewrite before it. (Pushing checkpoints to the joint
    users over the network is a seam: a consumer of those JSON lines.)

Signing only an authenticated head
    :func:`check_head` is what both the sealer and :func:`create_checkpoint` ask before they
    extend or sign the head: with a ledger key, the head's seal MAC must verify (or the chain
    must never have been authenticated: a ledger from before keys, which a checkpoint may sign
    but the sealer extends only when told to adopt it). So neither launders a forged tail.

Signed message (version 1)::

    b"jointuse-ledger-checkpoint-v1\\n" + UTF-8(JSON {"chain_pos", "head_hash", "signed_at"},
                                               sorted keys, no whitespace)

``signed_at`` is UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; the public key is stored as the 64-hex raw
key and the signature as 128 hex digits. An exported line is the JSON object
``{"chain_pos", "head_hash", "public_key", "signature", "signed_at", "v": 1}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, insert, select

from jointuse.core.errors import JointuseError, ValidationError
from jointuse.ledger.chain import GENESIS_HASH, format_time
from jointuse.ledger.keys import (
    LedgerKey,
    generate_key,
    load_private_key,
    parse_public_key,
    public_key_hex,
)
from jointuse.ledger.tables import access_ledger_seal, ledger_checkpoint

__all__ = [
    "Checkpoint",
    "CheckpointProblem",
    "HeadNotAuthenticated",
    "LedgerKeyRequired",
    "check_checkpoints",
    "check_head",
    "checkpoint_message",
    "checkpoint_problem",
    "create_checkpoint",
    "export_checkpoints",
    "generate_key",
    "last_authenticated",
    "load_checkpoints",
    "load_private_key",
    "newest",
    "parse_public_key",
    "public_key_hex",
    "read_checkpoint_file",
    "sealed_head",
    "sign_checkpoint",
    "stored_checkpoints",
]

log = logging.getLogger(__name__)

_DOMAIN = b"jointuse-ledger-checkpoint-v1\n"


def checkpoint_message(chain_pos: int, head_hash: str, signed_at: str) -> bytes:
    body = {"chain_pos": chain_pos, "head_hash": head_hash, "signed_at": signed_at}
    return _DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# --- storage ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed head. ``id``: its row in ``ledger_checkpoint`` (None for one that is not stored
    there); ``source``: where it was read (``"database"``, or ``"FILE line N"``)."""

    id: int | None
    chain_pos: int
    head_hash: str
    signed_at: str
    public_key: str
    signature: str
    source: str = "database"

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

    @property
    def label(self) -> str:
        if self.source == "database":
            return f"checkpoint {self.id}"
        return f"exported checkpoint ({self.source})"

    def to_json(self) -> str:
        """The exported line (no newline)."""
        body = {
            "chain_pos": self.chain_pos,
            "head_hash": self.head_hash,
            "public_key": self.public_key,
            "signature": self.signature,
            "signed_at": self.signed_at,
            "v": 1,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


class LedgerKeyRequired(JointuseError):
    """The ledger is authenticated (its head carries a seal MAC), and this work has no key."""

    code = "ledger_key_required"
    status = 503


class HeadNotAuthenticated(JointuseError):
    """The chain's head is not authenticated by the ledger key: sealing or signing stopped."""

    code = "ledger_head_not_authenticated"
    status = 503


def sealed_head(conn: Connection) -> tuple[int, str]:
    """``(chain_pos, hash)`` of the last sealed entry; ``(0, GENESIS_HASH)`` for an empty chain."""
    pos, digest, _mac = head_seal(conn)
    return pos, digest


def head_seal(conn: Connection) -> tuple[int, str, str | None]:
    """``(chain_pos, hash, mac)`` of the last seal; ``(0, GENESIS_HASH, None)`` when empty."""
    t = access_ledger_seal.c
    row = conn.execute(
        select(t.chain_pos, t.hash, t.mac).order_by(t.chain_pos.desc()).limit(1)
    ).first()
    if row is None:
        return 0, GENESIS_HASH, None
    return int(row[0]), str(row[1]), row[2]


def last_authenticated(conn: Connection, *, up_to: int | None = None) -> int | None:
    """The highest chain position whose seal carries a MAC (valid or not), at or below
    ``up_to``; None if none does. One probe of the partial index of seals with a MAC."""
    t = access_ledger_seal.c
    query = select(t.chain_pos).where(t.mac.is_not(None))
    if up_to is not None:
        query = query.where(t.chain_pos <= up_to)
    found = conn.execute(query.order_by(t.chain_pos.desc()).limit(1)).scalar()
    return None if found is None else int(found)


def check_head(
    conn: Connection,
    key: LedgerKey | None,
    *,
    adopt: bool = False,
    unauthenticated_chain_ok: bool = False,
) -> tuple[int, str]:
    """``(chain_pos, hash)`` of the head, once it may be extended (sealer) or signed.

    Without ``key``: only a chain that is not authenticated (its head has no seal MAC).
    With ``key``: an empty chain, or a head whose seal MAC verifies. A head without a MAC is
    refused when some earlier seal has one (positions sealed without the key after the ledger
    was authenticated: forged, or a process without the key); a chain never authenticated is
    accepted only with ``unauthenticated_chain_ok`` (a checkpoint of it) or ``adopt``.
    ``adopt`` (``jointuse ledger seal --adopt``, after checking the chain) accepts any head:
    the next seal MAC then vouches for it. Raises :class:`LedgerKeyRequired` or
    :class:`HeadNotAuthenticated`.
    """
    pos, digest, mac = head_seal(conn)
    if key is None:
        if mac is not None:
            raise LedgerKeyRequired(
                f"the ledger is authenticated (the seal at its head, position {pos}, carries a "
                "MAC): this needs the ledger key (JOINTUSE_LEDGER_KEY_FILE or --key)",
                valid="the ledger key file",
            )
        return pos, digest
    if pos == 0 or key.seal_mac_valid(pos, digest, mac):
        return pos, digest
    if mac is not None:
        problem = (
            f"the seal MAC at the head (position {pos}) does not verify with this key: the "
            "head was rewritten in the database, or the ledger was sealed with another key"
        )
    else:
        last = last_authenticated(conn)
        if last is None and unauthenticated_chain_ok:
            return pos, digest
        if last is None:
            problem = (
                f"the chain ({pos} positions) was sealed without the ledger key (before keys "
                "were used, or by a process without the key); check it with `jointuse ledger "
                "verify`, then authenticate it once with `jointuse ledger seal --adopt`"
            )
        else:
            problem = (
                f"positions {last + 1}..{pos} were sealed without the ledger key after position "
                f"{last}, which was sealed with it: written directly in the database, or by a "
                "process without the key; see `jointuse ledger verify --key`"
            )
    if adopt:
        log.warning("adopting the ledger head at position %d: %s", pos, problem)
        return pos, digest
    raise HeadNotAuthenticated(problem, chain_pos=pos)


def sign_checkpoint(
    key: LedgerKey, chain_pos: int, head_hash: str, *, now: datetime | None = None
) -> Checkpoint:
    """A checkpoint of ``(chain_pos, head_hash)`` signed now with ``key`` (not stored)."""
    signed_at = format_time(now or datetime.now(UTC))
    signature = key.sign(checkpoint_message(chain_pos, head_hash, signed_at))
    return Checkpoint(None, chain_pos, head_hash, signed_at, key.public_hex, signature)


def create_checkpoint(
    engine: Engine,
    key: LedgerKey | Ed25519PrivateKey,
    *,
    now: datetime | None = None,
    export: Path | None = None,
) -> Checkpoint:
    """Sign the current sealed head and store the checkpoint (seal first to include new
    entries); with ``export``, also append it to that file. The head must pass
    :func:`check_head` (a ledger never authenticated may be signed as it is)."""
    ledger_key = key if isinstance(key, LedgerKey) else LedgerKey(key)
    with engine.begin() as conn:
        chain_pos, head_hash = check_head(conn, ledger_key, unauthenticated_chain_ok=True)
        cp = sign_checkpoint(ledger_key, chain_pos, head_hash, now=now)
        result = conn.execute(
            insert(ledger_checkpoint).values(
                chain_pos=cp.chain_pos,
                head_hash=cp.head_hash,
                signed_at=cp.signed_at,
                public_key=cp.public_key,
                signature=cp.signature,
            )
        )
        new_id = result.inserted_primary_key
        assert new_id is not None
    cp = replace(cp, id=int(new_id[0]))
    if export is not None:
        export_checkpoints(export, [cp])
    return cp


def load_checkpoints(conn: Connection) -> list[Checkpoint]:
    t = ledger_checkpoint.c
    rows = conn.execute(
        select(t.id, t.chain_pos, t.head_hash, t.signed_at, t.public_key, t.signature).order_by(
            t.id
        )
    ).all()
    return [Checkpoint(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def stored_checkpoints(engine: Engine) -> list[Checkpoint]:
    """The checkpoints stored in the database, in the order they were made."""
    with engine.connect() as conn:
        return load_checkpoints(conn)


# --- files outside the database -----------------------------------------------------------------


def export_checkpoints(
    path: Path, checkpoints: Sequence[Checkpoint], *, skip_held: bool = True
) -> int:
    """Append to ``path`` (JSON lines; created with its folder) each of ``checkpoints`` it does
    not hold yet (same signature; ``skip_held=False``: all, without reading the file, as the
    sealer does); return how many were appended. The lines are one ``write`` on a file opened
    for appending, then ``fsync``: concurrent writers do not interleave."""
    held: set[str] = set()
    if skip_held and path.exists():
        found, _problems = read_checkpoint_file(path)
        held = {cp.signature for cp in found}
    lines = []
    for cp in checkpoints:
        if cp.signature not in held:
            held.add(cp.signature)
            lines.append(cp.to_json() + "\n")
    if not lines:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(lines).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(lines)


_FIELDS = {
    "chain_pos": int,
    "head_hash": str,
    "public_key": str,
    "signature": str,
    "signed_at": str,
}


def read_checkpoint_file(path: Path) -> tuple[list[Checkpoint], list[CheckpointProblem]]:
    """The checkpoints exported to ``path``, and a problem for each line that is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"cannot read checkpoint file {path}: {exc}",
            field="checkpoint_file",
            valid="a file of JSON lines written by `jointuse ledger checkpoint --export`",
        ) from exc
    found: list[Checkpoint] = []
    problems: list[CheckpointProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if (
            not isinstance(data, dict)
            or data.get("v") != 1
            or any(
                not isinstance(data.get(k), t) or isinstance(data.get(k), bool)
                for k, t in _FIELDS.items()
            )
        ):
            problems.append(
                CheckpointProblem(None, -1, "not an exported checkpoint (version 1)", where)
            )
            continue
        found.append(
            Checkpoint(
                None,
                data["chain_pos"],
                data["head_hash"],
                data["signed_at"],
                data["public_key"],
                data["signature"],
                source=where,
            )
        )
    return found, problems


def newest(checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    """The checkpoint at the highest chain position (the latest signed among equals)."""
    return max(checkpoints, key=lambda cp: (cp.chain_pos, cp.signed_at), default=None)


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointProblem:
    checkpoint_id: int | None
    chain_pos: int
    problem: str
    where: str = ""

    def describe(self) -> str:
        label = f"checkpoint {self.checkpoint_id}" if not self.where else self.where
        if self.chain_pos < 0:
            return f"{label}: {self.problem}"
        return f"{label} (chain position {self.chain_pos}): {self.problem}"


def checkpoint_problem(
    cp: Checkpoint,
    *,
    seen: Mapping[int, str],
    verified: int,
    chain_broken: bool,
    trusted_keys: Collection[str] | None,
) -> str | None:
    """What is wrong with ``cp`` given the chain as verified (``seen``: hash per position), or
    None when it verifies, is trusted (if ``trusted_keys``) and matches the chain."""
    if not cp.signature_valid():
        return "signature does not verify"
    if trusted_keys is not None and cp.public_key.lower() not in trusted_keys:
        return f"signed by an untrusted key {cp.public_key}"
    actual = GENESIS_HASH if cp.chain_pos == 0 else seen.get(cp.chain_pos)
    if actual is None:
        if chain_broken:
            return f"not checked: the chain breaks before position {cp.chain_pos}"
        return (
            f"the chain ends at position {verified}: entries signed at position "
            f"{cp.chain_pos} are gone (truncated)"
        )
    if actual != cp.head_hash:
        return f"the chain was rewritten: signed head hash {cp.head_hash}, chain now has {actual}"
    return None


def check_checkpoints(
    checkpoints: Sequence[Checkpoint],
    *,
    seen: Mapping[int, str],
    verified: int,
    chain_broken: bool,
    trusted_keys: Collection[str] | None,
) -> list[CheckpointProblem]:
    """Problems with ``checkpoints`` given the chain as verified (:func:`checkpoint_problem`)."""
    problems: list[CheckpointProblem] = []
    for cp in checkpoints:
        problem = checkpoint_problem(
            cp, seen=seen, verified=verified, chain_broken=chain_broken, trusted_keys=trusted_keys
        )
        if problem is not None:
            where = "" if cp.source == "database" else cp.label
            problems.append(CheckpointProblem(cp.id, cp.chain_pos, problem, where))
    return problems
