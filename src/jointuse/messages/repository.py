"""Queries of the webhooks: registrations, the delivery worker's claims and outcomes.

(The inbox's own statements — post, peek, acknowledge — live in :mod:`jointuse.messages.service`,
the idempotency keys' in :mod:`jointuse.messages.idempotency`.)

Claiming (:func:`claim_due`): a worker takes the webhooks that are due and have messages to push
in one short transaction — on PostgreSQL ``SELECT … FOR UPDATE OF party_webhook SKIP LOCKED``, so
two workers (two server processes) never take one party at once and never wait for each other;
on SQLite under the database's write lock (a writing unit of work begins ``IMMEDIATE``) — and
marks them with a **lease** (its owner token and an expiry), then commits. The pushes happen
outside any transaction (no lock is held while a receiver answers); each outcome is recorded in
a short transaction of its own that renews the lease only while the worker still owns it. A
worker that dies leaves its lease to expire; another takes the party over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update

from jointuse.messages.tables import party_message, party_webhook, webhook_failure

_m = party_message.c
_w = party_webhook.c
_f = webhook_failure.c


@dataclass(frozen=True, slots=True)
class Webhook:
    party: str
    url: str
    created_at: datetime
    updated_at: datetime
    from_message_id: int
    next_attempt_at: datetime
    head_message_id: int | None
    attempts: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered: int
    failed: int


@dataclass(frozen=True, slots=True)
class Claimed:
    party: str
    url: str
    secret: str
    from_message_id: int
    head_message_id: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    recipient: str
    kind: str
    subject_ref: str
    body: str
    created_at: datetime
    acked: bool

    def payload(self) -> bytes:
        """The JSON pushed for this message (UTF-8, compact)."""
        return json.dumps(
            {
                "id": self.id,
                "recipient": self.recipient,
                "kind": self.kind,
                "subject_ref": json.loads(self.subject_ref),
                "body": json.loads(self.body),
                "created_at": self.created_at.isoformat(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True, slots=True)
class Failure:
    message_id: int
    attempts: int
    last_error: str
    failed_at: datetime


_WEBHOOK_COLUMNS = (
    _w.party,
    _w.url,
    _w.created_at,
    _w.updated_at,
    _w.from_message_id,
    _w.next_attempt_at,
    _w.head_message_id,
    _w.attempts,
    _w.last_attempt_at,
    _w.last_success_at,
    _w.last_status,
    _w.last_error,
    _w.delivered,
    _w.failed,
)


# --- registrations ------------------------------------------------------------------------------


def last_message_id(conn: Connection, party: str) -> int:
    """The ID of ``party``'s newest message (0 when it has none)."""
    found = conn.execute(select(func.max(_m.id)).where(_m.recipient == party)).scalar()
    return int(found or 0)


def get_webhook(conn: Connection, party: str, *, for_update: bool = False) -> Webhook | None:
    query = select(*_WEBHOOK_COLUMNS).where(_w.party == party)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    return Webhook(**row._mapping) if row is not None else None


def insert_webhook(
    conn: Connection,
    *,
    party: str,
    url: str,
    secret: str,
    from_message_id: int,
    at: datetime,
    next_at: datetime,
) -> None:
    conn.execute(
        insert(party_webhook).values(
            party=party,
            url=url,
            secret=secret,
            from_message_id=from_message_id,
            created_at=at,
            updated_at=at,
            next_attempt_at=next_at,
            attempts=0,
            delivered=0,
            failed=0,
        )
    )


def replace_webhook(
    conn: Connection, *, party: str, url: str, secret: str, at: datetime, next_at: datetime
) -> None:
    """A new URL and secret for ``party``'s webhook; its queue goes on where it was, the
    attempts on its head message start again."""
    conn.execute(
        update(party_webhook)
        .where(_w.party == party)
        .values(
            url=url,
            secret=secret,
            updated_at=at,
            next_attempt_at=next_at,
            attempts=0,
            head_message_id=None,
        )
    )


def delete_webhook(conn: Connection, party: str) -> bool:
    conn.execute(delete(webhook_failure).where(_f.party == party))
    return bool(conn.execute(delete(party_webhook).where(_w.party == party)).rowcount)


def pending_count(conn: Connection, party: str, from_message_id: int) -> int:
    query = select(func.count()).where(
        _m.recipient == party, _m.id > from_message_id, _m.push_state.is_(None)
    )
    return int(conn.execute(query).scalar() or 0)


def recent_failures(conn: Connection, party: str, limit: int = 20) -> list[Failure]:
    rows = conn.execute(
        select(_f.message_id, _f.attempts, _f.last_error, _f.failed_at)
        .where(_f.party == party)
        .order_by(_f.id.desc())
        .limit(limit)
    ).all()
    return [Failure(**r._mapping) for r in rows]


# --- the delivery worker ------------------------------------------------------------------------


def claim_due(
    conn: Connection, *, now: datetime, owner: str, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` webhooks that are due, not leased by a live worker, and owed a
    message (see the module docstring)."""
    owed = exists().where(
        _m.recipient == _w.party, _m.id > _w.from_message_id, _m.push_state.is_(None)
    )
    rows = conn.execute(
        select(_w.party, _w.url, _w.secret, _w.from_message_id, _w.head_message_id, _w.attempts)
        .where(
            _w.next_attempt_at <= now,
            or_(_w.lease_until.is_(None), _w.lease_until < now),
            owed,
        )
        .order_by(_w.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=party_webhook)
    ).all()
    claimed = [Claimed(**r._mapping) for r in rows]
    if claimed:
        conn.execute(
            update(party_webhook)
            .where(_w.party.in_([c.party for c in claimed]))
            .values(lease_owner=owner, lease_until=now + lease)
        )
    return claimed


def pending_messages(
    conn: Connection, party: str, from_message_id: int, limit: int
) -> list[Pending]:
    """``party``'s messages still to push, oldest first."""
    rows = conn.execute(
        select(
            _m.id,
            _m.recipient,
            _m.kind,
            _m.subject_ref,
            _m.body,
            _m.created_at,
            _m.acked_at.is_not(None).label("acked"),
        )
        .where(_m.recipient == party, _m.id > from_message_id, _m.push_state.is_(None))
        .order_by(_m.id)
        .limit(limit)
    ).all()
    return [Pending(**r._mapping) for r in rows]


def _owned(party: str, owner: str) -> Any:
    return and_(_w.party == party, _w.lease_owner == owner)


def mark_messages(conn: Connection, ids: list[int], state: str, at: datetime) -> None:
    conn.execute(
        update(party_message)
        .where(_m.id.in_(ids), _m.push_state.is_(None))
        .values(push_state=state, pushed_at=at)
    )


def record_pushed(
    conn: Connection, *, party: str, owner: str, status: int, at: datetime, lease: timedelta
) -> bool:
    """A push answered 2xx: the head's attempts start again, the lease is renewed. False if
    the lease is no longer this worker's."""
    done = conn.execute(
        update(party_webhook)
        .where(_owned(party, owner))
        .values(
            attempts=0,
            head_message_id=None,
            last_attempt_at=at,
            last_success_at=at,
            last_status=status,
            last_error=None,
            delivered=_w.delivered + 1,
            lease_until=at + lease,
        )
    )
    return bool(done.rowcount)


def record_retry(
    conn: Connection,
    *,
    party: str,
    owner: str,
    message_id: int,
    attempts: int,
    status: int | None,
    error: str,
    at: datetime,
    next_at: datetime,
) -> bool:
    """A push failed and will be retried at ``next_at``; the lease is released."""
    done = conn.execute(
        update(party_webhook)
        .where(_owned(party, owner))
        .values(
            head_message_id=message_id,
            attempts=attempts,
            last_attempt_at=at,
            last_status=status,
            last_error=error,
            next_attempt_at=next_at,
            lease_owner=None,
            lease_until=None,
        )
    )
    return bool(done.rowcount)


def record_given_up(
    conn: Connection,
    *,
    party: str,
    owner: str,
    message_id: int,
    attempts: int,
    status: int | None,
    error: str,
    at: datetime,
    lease: timedelta,
) -> bool:
    """The last attempt on a message failed: the message is marked ``failed`` (it stays in the
    inbox), listed in ``webhook_failure``, and the queue goes on with the next one."""
    done = conn.execute(
        update(party_webhook)
        .where(_owned(party, owner))
        .values(
            head_message_id=None,
            attempts=0,
            last_attempt_at=at,
            last_status=status,
            last_error=error,
            failed=_w.failed + 1,
            lease_until=at + lease,
        )
    )
    if not done.rowcount:
        return False
    mark_messages(conn, [message_id], "failed", at)
    conn.execute(
        insert(webhook_failure).values(
            party=party, message_id=message_id, attempts=attempts, last_error=error, failed_at=at
        )
    )
    return True


def release(conn: Connection, *, party: str, owner: str) -> None:
    conn.execute(
        update(party_webhook).where(_owned(party, owner)).values(lease_owner=None, lease_until=None)
    )
