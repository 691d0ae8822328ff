"""Idempotency keys: a write sent twice has one effect, and the second answer is the first's.

Every write of the API takes an ``Idempotency-Key`` header (1–200 visible ASCII characters,
e.g. a UUID the client makes per request). The key is kept per party, with the request it was
used for — its route (method and path) and a SHA-256 of its query and body (JSON bodies in a
canonical form, so key order and spacing do not matter) — and, once the request completed, its
answer:

* the same key with the same request: the stored status and body are answered again
  (``Idempotent-Replayed: true``), nothing runs a second time;
* the same key with another request (another body, or another route): 422 naming the header —
  a client that reuses a key for a new request has a bug that must not pass silently;
* keys expire ``JOINTUSE_IDEMPOTENCY_TTL`` seconds (default a day) after their first use; an
  expired key is used afresh (and the delivery worker deletes expired keys in the background).

The record is written **in the request's own unit of work** (:func:`idempotent`, called by the
route inside its transaction): it commits with the effect or rolls back with it, so there is no
moment where the effect is done and the record is missing, or the reverse. "One use of a key per
party" is a database rule (the primary key of ``idempotency_key``): the key is claimed first
thing with one ``INSERT … ON CONFLICT`` — a second request with the key, arriving while the
first runs, waits on the first's row (PostgreSQL) or on the write lock (SQLite), then finds the
committed answer and replays it; if the first failed (rolled back), the second runs itself.
Should an unfinished record ever be found (a caller that caught a refusal of the gate and went on
in the same unit of work), the answer is a 409 naming the rule, never a second effect.

Only **completed** requests are kept. A refused request (403, 404, 409, 422 raised by its use
case) changed nothing — its unit of work rolled back, the gate's refusal is on the ledger — so a
retry with the same key runs again and answers what is true then: the same refusal, recorded
again, or success once the cause is gone (e.g. the flow that was in flight has closed). Keeping
refusals would replay a stale 409 for a day.

The store keeps **no personal data**: an answer that carries some (the automatic judgement of a
廃止取次 shows the compared texts) names what a replay answers instead (:attr:`Answer.kept`: the
same answer without those texts; they are read again through the gate).

Bulk calls (many rows, each in a unit of work of its own) key each row: row *n* under
``<key>#<n>`` (:meth:`IdempotentRequest.for_row`), after the call itself is registered under the
key (a reused key with another body is refused as a whole); a retried bulk call replays the rows
that were done and runs the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from jointuse.core.conflicts import Conflict
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.messages.tables import ONE_USE_OF_A_KEY, idempotency_key

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
DEFAULT_TTL = 86400.0
_k = idempotency_key.c
_SAME: Any = object()


def check_key(raw: str) -> str:
    """The key as given, if it is 1–200 visible ASCII characters; else a 422 naming the header."""
    key = raw.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= ch <= "~" for ch in key):
        raise ValidationError(
            f"{KEY_HEADER} {raw[:40]!r} is not a valid key",
            field=KEY_HEADER,
            valid=f"1 to {MAX_KEY_LENGTH} visible ASCII characters, e.g. a UUID per request",
        )
    return key


def canonical_body(body: bytes, content_type: str | None) -> bytes:
    """A JSON body in canonical form (sorted keys, no spaces, NFC untouched); others as sent."""
    if body and (content_type or "").split(";")[0].strip().lower().endswith("json"):
        try:
            value = json.loads(body)
        except ValueError:
            return body
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return body


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One request under a key: the key, its route (``METHOD /path``) and its fingerprint (a
    SHA-256 over route, query and canonical body), and how long the key is kept."""

    key: str
    route: str
    fingerprint: str
    ttl: float = DEFAULT_TTL

    @classmethod
    def of(
        cls,
        key: str,
        *,
        method: str,
        path: str,
        body: bytes,
        query: str = "",
        content_type: str | None = None,
        ttl: float = DEFAULT_TTL,
    ) -> IdempotentRequest:
        route = f"{method.upper()} {path}"[:300]
        digest = hashlib.sha256()
        for part in (route.encode(), b"?", "&".join(sorted(query.split("&"))).encode(), b"\n"):
            digest.update(part)
        digest.update(canonical_body(body, content_type))
        return cls(check_key(key), route, digest.hexdigest(), ttl)

    def for_row(self, n: int) -> IdempotentRequest:
        """The key of row ``n`` of a bulk call (``<key>#<n>``)."""
        fingerprint = hashlib.sha256(f"{self.fingerprint}#{n}".encode()).hexdigest()
        return replace(self, key=f"{self.key}#{n}", fingerprint=fingerprint)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a write answers: HTTP status and JSON body. ``kept`` is what the store keeps for a
    replay when the body carries personal data (default: the body itself); ``replayed`` is true
    for an answer read back from the store."""

    status: int
    body: Any
    kept: Any = field(default=_SAME, repr=False)
    replayed: bool = False

    def stored(self) -> Any:
        return self.body if self.kept is _SAME else self.kept

    def map(self, fn: Callable[[Any], Any]) -> Answer:
        """The same answer with ``fn`` applied to its body (and to what is kept)."""
        kept = _SAME if self.kept is _SAME else fn(self.kept)
        return Answer(self.status, fn(self.body), kept, self.replayed)


def _claim(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert the key's record, or take over an expired one; False if a live one exists."""
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = make(idempotency_key).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_k.party, _k.key],
        set_={
            "route": stmt.excluded.route,
            "fingerprint": stmt.excluded.fingerprint,
            "status": None,
            "response": None,
            "created_at": stmt.excluded.created_at,
            "expires_at": stmt.excluded.expires_at,
        },
        where=_k.expires_at <= stmt.excluded.created_at,
    )
    # RETURNING, not rowcount: psycopg reports -1 for an upsert that did nothing
    return conn.execute(stmt.returning(_k.party)).first() is not None


def _store(conn: Connection, party: str, request: IdempotentRequest, answer: Answer) -> None:
    text = json.dumps(answer.stored(), ensure_ascii=False, separators=(",", ":"))
    done = conn.execute(
        update(idempotency_key)
        .where(_k.party == party, _k.key == request.key)
        .values(status=answer.status, response=text)
    )
    if not done.rowcount:  # the claim was rolled back under us (see the module docstring)
        raise Conflict(
            f"the request under {KEY_HEADER} {request.key[:40]!r} lost its claim; retry it",
            rule=ONE_USE_OF_A_KEY,
            field=KEY_HEADER,
        )


def _replay(conn: Connection, party: str, request: IdempotentRequest) -> Answer | None:
    row = conn.execute(
        select(_k.route, _k.fingerprint, _k.status, _k.response, _k.created_at).where(
            _k.party == party, _k.key == request.key
        )
    ).one_or_none()
    if row is None:
        return None
    if row.route != request.route or row.fingerprint != request.fingerprint:
        other = "another route" if row.route != request.route else "another body"
        raise ValidationError(
            f"{KEY_HEADER} {request.key[:40]!r} was used for another request ({row.route}, "
            f"{other}) at {row.created_at.isoformat()}: a new request needs a new key",
            field=KEY_HEADER,
            valid="the key of the first request with the same body, or a new key",
        )
    if row.status is None:
        raise Conflict(
            f"a request under {KEY_HEADER} {request.key[:40]!r} is still in progress; retry it",
            rule=ONE_USE_OF_A_KEY,
            field=KEY_HEADER,
        )
    return Answer(int(row.status), json.loads(row.response), replayed=True)


def idempotent(
    conn: Connection,
    *,
    party: str,
    request: IdempotentRequest | None,
    at: datetime,
    run: Callable[[], Answer],
) -> Answer:
    """Run ``run`` once per (``party``, key), on ``conn`` — the connection of the caller's unit
    of work, so the key's record commits or rolls back with the effect. Without a key
    (``request`` None) just run it. See the module docstring for what is replayed, refused (422
    another request under the key; 409 unfinished) and kept."""
    if request is None:
        return run()
    row = {
        "party": party,
        "key": request.key,
        "route": request.route,
        "fingerprint": request.fingerprint,
        "status": None,
        "response": None,
        "created_at": at,
        "expires_at": at + timedelta(seconds=request.ttl),
    }
    for _ in range(3):
        if _claim(conn, row):
            answer = run()
            _store(conn, party, request, answer)
            return answer
        found = _replay(conn, party, request)
        if found is not None:
            return found
    raise Conflict(  # deleted and claimed again between our statements, three times over
        f"{KEY_HEADER} {request.key[:40]!r} is contended; retry it",
        rule=ONE_USE_OF_A_KEY,
        field=KEY_HEADER,
    )


class _Party(Protocol):
    @property
    def code(self) -> str: ...


class KeyedCaller(Protocol):
    """What :func:`keyed` needs of the caller (:class:`jointuse.core.http.Caller` has it)."""

    @property
    def at(self) -> datetime: ...

    @property
    def party(self) -> _Party: ...


_C = TypeVar("_C", bound=KeyedCaller)


def keyed(
    request: IdempotentRequest | None, use_case: Callable[[UnitOfWork, _C], Answer]
) -> Callable[[UnitOfWork, _C], Answer]:
    """``use_case`` (of a unit of work and the authenticated caller) made idempotent under
    ``request``: the form the routes hand to their unit of work."""

    def run(uow: UnitOfWork, caller: _C) -> Answer:
        return idempotent(
            uow.connection,
            party=str(caller.party.code),
            request=request,
            at=caller.at,
            run=lambda: use_case(uow, caller),
        )

    return run


def purge_expired(conn: Connection, *, at: datetime) -> int:
    """Delete the keys expired at ``at`` (the delivery worker calls it now and then)."""
    return int(conn.execute(delete(idempotency_key).where(_k.expires_at <= at)).rowcount or 0)
