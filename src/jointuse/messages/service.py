"""Each party's inbox: post (in the caller's transaction), peek, acknowledge.

Posting is an **outbox**: other areas call :func:`post_many` on the connection of their own unit
of work, so a message commits or rolls back with the state change it reports — a party is never
told of a step that did not happen, and never misses one that did.

Messages carry **references and states, never personal data**: a flow's ID, the supply point ID,
the kind of event, the state reached. What a recipient may see of the data itself it reads
through the gate, which decides and records. :func:`post_many` refuses a body or reference
whose keys (at any depth) name a basic-information item of the notice — the items of the
policy's ``basic`` category (氏名 ``name``, 住所 ``address``, 電話番号 ``phone``, 契約番号
``contract_number``), their parts (``name_kana``, ``postal_code``, ``prefecture``,
``address_rest``) and any key made of one (``forwarded_name``, ``old_contract_number`` …) — so a
careless caller cannot turn the inbox, and the webhook pushes that copy it to other systems, into
a path around the gate and its ledger. (A key check cannot see personal data hidden under an
innocent key; it stops the mistake that happens, copying a record's fields into a message.) The
reference values are IDs: a supply point ID is one (it names the point, as every flow does).

Reading — **unacknowledged first**: :func:`peek` returns a party's messages in the order they
were written (``id``) after a cursor (the last ``id`` it saw), and by default only those it has
not acknowledged, so a reader that acknowledges what it has handled always finds what is left
at the front of its inbox (``include_acked`` shows the rest too). :func:`acknowledge` marks
messages read — its own only: another party's message ID is "not found", as an unknown one
(messages are not personal data, so this is not a decision of the gate and not on the access
ledger; the 404 tells the caller nothing about the other party's inbox). Acknowledging twice is
harmless. A webhook push (:mod:`jointuse.messages.delivery`) is a notification: it does not
acknowledge; a message acknowledged before its push is not pushed.

Cost: :func:`post_many` is one ``INSERT`` of all its rows (an ``executemany``; on PostgreSQL
SQLAlchemy sends them as multi-row ``VALUES``); ``benchmarks/messages_post.py`` measures it
against plain inserts of the same rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from jointuse.core.db import UnitOfWork, hot_insert_statement
from jointuse.core.errors import NotFound, ValidationError
from jointuse.messages.tables import party_message

#: Parts of the basic items that are items' data too (a name's reading, an address's parts).
PERSONAL_PARTS = frozenset({"name_kana", "postal_code", "prefecture", "address_rest"})
MAX_BODY_BYTES = 2048
MAX_PEEK = 1000
_m = party_message.c


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    recipient: str
    kind: str
    subject_ref: dict[str, str]
    body: dict[str, Any]
    created_at: datetime
    acked_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject_ref": self.subject_ref,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
            "acked_at": self.acked_at.isoformat() if self.acked_at else None,
        }


@functools.cache
def basic_items() -> frozenset[str]:
    """The item keys of the shipped policy's ``basic`` category (氏名, 住所, 電話番号, 契約番号)."""
    from jointuse.policy.loader import default_policy

    return frozenset(i.key for i in default_policy().items_of("basic"))


@functools.lru_cache(maxsize=4096)
def is_personal_key(key: str) -> bool:
    """True for a key a message may not carry: a basic item, a part of one, or a key made of
    one (``forwarded_name``, ``name_kana``, ``old_contract_number``)."""
    k = key.strip().lower()
    if k in PERSONAL_PARTS:
        return True
    return any(k == i or k.endswith(f"_{i}") or k.startswith(f"{i}_") for i in basic_items())


def _personal(value: Any, found: set[str]) -> None:
    """Add to ``found`` the personal-data keys of ``value``, at any depth (dicts first: the
    common case, without the ABC check of ``Mapping``)."""
    if isinstance(value, dict) or (not isinstance(value, str) and isinstance(value, Mapping)):
        for k, v in value.items():
            if is_personal_key(str(k)):
                found.add(str(k))
            if not isinstance(v, str | int | float | bool) and v is not None:
                _personal(v, found)
    elif isinstance(value, list | tuple):
        for v in value:
            _personal(v, found)


_BODY_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_REFS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _row(message: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    recipient = str(message.get("recipient") or "")
    kind = str(message.get("kind") or "")
    refs = message.get("subject_ref") or {}
    body = message.get("body") or {}
    if not recipient or len(recipient) > 64 or not kind or len(kind) > 32:
        raise ValidationError(
            f"a message needs a recipient (≤ 64) and a kind (≤ 32): {recipient!r}, {kind!r}",
            field="recipient",
        )
    found: set[str] = set()
    _personal(refs, found)
    _personal(body, found)
    if found:
        raise ValidationError(
            f"a message may not carry personal data ({', '.join(sorted(found))}): send "
            "references and read the data through the gate",
            field="body",
            valid="references (flow_id, supply_point_id …) and states; not the items of the "
            "basic category: " + ", ".join(sorted(basic_items())),
        )
    if not isinstance(refs, Mapping) or not all(
        type(k) is str and type(v) is str for k, v in refs.items()
    ):
        raise ValidationError("subject_ref maps names to IDs (strings)", field="subject_ref")
    text = _BODY_JSON(body)
    if len(text) > MAX_BODY_BYTES // 4 and len(text.encode()) > MAX_BODY_BYTES:
        raise ValidationError(
            f"a message body is at most {MAX_BODY_BYTES} bytes", field="body", valid="a small body"
        )
    return {
        "recipient": recipient,
        "kind": kind,
        "subject_ref": _REFS_JSON(refs),
        "body": text,
        "created_at": at,
        "acked_at": None,
    }


def post_many(conn: Connection, messages: Sequence[Mapping[str, Any]], *, at: datetime) -> int:
    """Write ``messages`` (``recipient``, ``kind``, ``subject_ref``, ``body``) to their
    recipients' inboxes in the caller's transaction, one statement; return how many."""
    rows = [_row(m, at) for m in messages]
    _INSERT_MESSAGE.run_many(conn, rows)
    return len(rows)


_INSERT_MESSAGE = hot_insert_statement(
    party_message, ("recipient", "kind", "subject_ref", "body", "created_at", "acked_at")
)


def post(
    conn: Connection,
    *,
    recipient: str,
    kind: str,
    subject_ref: Mapping[str, str],
    body: Mapping[str, Any],
    at: datetime,
) -> int:
    """One message (checked as by :func:`post_many`), in the caller's transaction; its ID."""
    row = _row({"recipient": recipient, "kind": kind, "subject_ref": subject_ref, "body": body}, at)
    key = conn.execute(insert(party_message).values(row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _message(row: Any) -> Message:
    m = row._mapping
    return Message(
        id=int(m["id"]),
        recipient=m["recipient"],
        kind=m["kind"],
        subject_ref=json.loads(m["subject_ref"]),
        body=json.loads(m["body"]),
        created_at=m["created_at"],
        acked_at=m["acked_at"],
    )


def peek(
    conn: Connection,
    party: str,
    *,
    after: int = 0,
    limit: int = 100,
    kind: str | None = None,
    include_acked: bool = False,
) -> list[Message]:
    """``party``'s messages with ``id > after``, oldest first, at most ``limit``."""
    if not 1 <= limit <= MAX_PEEK:
        raise ValidationError(
            f"limit {limit} out of range", field="limit", valid=f"1 to {MAX_PEEK}"
        )
    if after < 0:
        raise ValidationError("after must not be negative", field="after", valid=">= 0")
    query = select(party_message).where(_m.recipient == party, _m.id > after)
    if not include_acked:
        query = query.where(_m.acked_at.is_(None))
    if kind is not None:
        query = query.where(_m.kind == kind)
    rows = conn.execute(query.order_by(_m.id).limit(limit)).all()
    return [_message(r) for r in rows]


def acknowledge(conn: Connection, party: str, ids: Sequence[int], *, at: datetime) -> int:
    """Mark ``party``'s messages ``ids`` read; returns how many were unread. An ID that is not
    one of ``party``'s messages is :class:`NotFound` (nothing is marked then)."""
    wanted = sorted({int(i) for i in ids})
    if not wanted or len(wanted) > MAX_PEEK:
        raise ValidationError(
            "acknowledge 1 to 1000 message IDs", field="ids", valid=f"1 to {MAX_PEEK} IDs"
        )
    own = {
        int(r[0])
        for r in conn.execute(select(_m.id).where(_m.recipient == party, _m.id.in_(wanted))).all()
    }
    missing = [i for i in wanted if i not in own]
    if missing:
        raise NotFound(f"no message {missing[0]} in your inbox", ids=missing[:20], field="ids")
    result = conn.execute(
        update(party_message)
        .where(_m.recipient == party, _m.id.in_(wanted), _m.acked_at.is_(None))
        .values(acked_at=at)
    )
    return int(result.rowcount or 0)


# --- for the operator's CLI (a unit of work of their own) ----------------------------------------


def _known_party(conn: Connection, party: str) -> None:
    from jointuse.parties.repository import party_exists

    if not party_exists(conn, party):
        raise NotFound(f"no party with code {party!r} is registered", field="party")


def inbox_of(
    engine: Engine,
    party: str,
    *,
    after: int = 0,
    limit: int = 100,
    kind: str | None = None,
    include_acked: bool = False,
) -> list[Message]:
    """:func:`peek` for a registered ``party``, in a read-only unit of work of its own."""
    with UnitOfWork(engine, read_only=True) as uow:
        _known_party(uow.connection, party)
        return peek(
            uow.connection, party, after=after, limit=limit, kind=kind, include_acked=include_acked
        )


def acknowledge_for(engine: Engine, party: str, ids: Sequence[int], *, at: datetime) -> int:
    """:func:`acknowledge` for a registered ``party``, in a unit of work of its own."""
    with UnitOfWork(engine) as uow:
        _known_party(uow.connection, party)
        return acknowledge(uow.connection, party, ids, at=at)
