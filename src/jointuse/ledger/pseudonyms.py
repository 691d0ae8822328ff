"""Keyed pseudonyms of the ledger's subjects (仮名化), and crypto-shredding (暗号学的消去).

Why
    The ledger is append-only and hash-chained: an entry cannot be changed or removed without
    breaking verification. So, from format version 3 on (:mod:`jointuse.ledger.chain`), an entry
    does not carry the customer ID or supply point ID it is about, but a **keyed pseudonym**::

        pseudonym = "ps:" + hex(HMAC-SHA256(subject_key, f"{kind}\\n{subject_id}\\n{epoch}"))[:32]

    ``subject_key`` is 32 random bytes of that subject alone, in the table
    ``ledger_subject_key`` (migration ``0120_pseudonyms``), made on first use by
    :func:`jointuse.ledger.service.append` inside the transaction of the entry. Destroying the
    key (deleting its row: :func:`shred`) erases the subject from the ledger without touching
    the chain: the entries stay, still verify, and their pseudonym can no longer be computed
    from an ID, nor revealed by the table — nothing in them identifies anyone any more.

Subjects and epochs
    ``customer``: one key per customer ID (``epoch`` is ``""``). ``supply_point``: one key per
    point **and month** (``epoch`` ``YYYY-MM`` of the entry's time in JST): a point outlives its
    occupants, so erasing one occupant shreds the point's months that lie wholly inside that
    occupant's tenure, and a successor's months stay readable. A month shared by two tenures
    stays until the other tenure's data may go too (see ``## Retention and erasure`` in the
    README).

Lookups
    :func:`pseudonyms_of` computes the pseudonyms of a subject from its keys (none once they are
    destroyed, so nothing matches). The table also holds each key's pseudonym, indexed, so that
    :func:`jointuse.ledger.service.find_entries` can show the ID of an entry's subject while its
    key lives (a join; after shredding there is nothing to join).

Entries from before version 3
    They name their subjects in clear, in their hashed text: they are never rewritten (their
    hash and MAC must keep verifying). Erasing such a subject records it in
    ``ledger_legacy_erasure`` (the ID is already in clear in those entries, so the record adds
    nothing), and lookups stop returning those entries; the rows themselves remain.

Backups: a deleted key survives in database backups and the PostgreSQL WAL until they expire;
keep their retention shorter than the shortest retention period.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache

from sqlalchemy import ColumnElement, Connection, and_, delete, false, func, insert, or_, select

from jointuse.core.db import hot_scalar
from jointuse.ledger.chain import PSEUDONYM_PREFIX, LedgerEntry, format_time, is_pseudonym
from jointuse.ledger.tables import (
    SUBJECT_KINDS,
    access_ledger,
    ledger_legacy_erasure,
    ledger_subject_key,
)

JST = timezone(timedelta(hours=9))
CUSTOMER = "customer"
SUPPLY_POINT = "supply_point"

_SELECT_KEY = (
    "SELECT key FROM ledger_subject_key"
    " WHERE kind = :kind AND subject_id = :subject_id AND epoch = :epoch"
)
_INSERT_KEY = (
    "INSERT INTO ledger_subject_key (kind, subject_id, epoch, key, pseudonym, created_at)"
    " VALUES (:kind, :subject_id, :epoch, :key, :pseudonym, :created_at)"
    " ON CONFLICT DO NOTHING RETURNING key"
)


@cache
def pg_sql(sql: str) -> str:
    """``sql`` with psycopg's named parameters (``%(name)s``) instead of ``:name``."""
    return re.sub(r":([a-z_]+)", r"%(\1)s", sql)


def epoch_of(kind: str, moment: datetime) -> str:
    """The key epoch of an entry about a ``kind`` subject recorded at ``moment``."""
    if kind == CUSTOMER:
        return ""
    local = moment.astimezone(JST)
    return f"{local.year:04d}-{local.month:02d}"


def derive(key_hex: str, kind: str, subject_id: str, epoch: str) -> str:
    """The pseudonym of ``subject_id`` under its key (module docstring)."""
    message = f"{kind}\n{subject_id}\n{epoch}".encode()
    digest = hmac.digest(bytes.fromhex(key_hex), message, hashlib.sha256)
    return PSEUDONYM_PREFIX + digest.hex()[:32]


def _scalar(conn: Connection, sql: str, params: dict[str, str]) -> str | None:
    if conn.dialect.name == "postgresql":
        value = conn.exec_driver_sql(pg_sql(sql), params).scalar()
    else:
        value = hot_scalar(conn, sql, params)
    return None if value is None else str(value)


def _pseudonym(conn: Connection, kind: str, subject_id: str, moment: datetime) -> str:
    """The subject's pseudonym for an entry at ``moment``; its key is made now if it has none
    (in the caller's transaction: a rollback takes it back)."""
    epoch = epoch_of(kind, moment)
    params = {"kind": kind, "subject_id": subject_id, "epoch": epoch}
    key = _scalar(conn, _SELECT_KEY, params)
    if key is None:
        new = os.urandom(32).hex()
        row = {
            **params,
            "key": new,
            "pseudonym": derive(new, kind, subject_id, epoch),
            "created_at": format_time(datetime.now(UTC)),
        }
        # RETURNING gives our key; no row when a concurrent writer made one first: read it.
        key = _scalar(conn, _INSERT_KEY, row) or _scalar(conn, _SELECT_KEY, params)
        assert key is not None
    return derive(key, kind, subject_id, epoch)


_BOTH_KEYS = (
    "coalesce((SELECT key FROM ledger_subject_key WHERE kind = 'customer'"
    " AND subject_id = :ps_customer AND epoch = ''), '') || ',' ||"
    " coalesce((SELECT key FROM ledger_subject_key WHERE kind = 'supply_point'"
    " AND subject_id = :ps_point AND epoch = :ps_epoch), '')"
)
"""Both subject keys of an entry as one text ``customer_key,point_key`` (each may be empty)."""


def key_lookup(entry: LedgerEntry) -> tuple[str, dict[str, str]] | None:
    """The SQL expression (SQLite parameter style) and parameters that read the keys of the
    entry's subjects in one go, or None when it names no subject in clear. The ledger's append
    runs it alone, or on PostgreSQL in the statement that draws the ``seq``."""
    moment = entry.recorded_at
    assert moment is not None, "stamp the entry first"
    customer, point = entry.customer_id, entry.supply_point_id
    want_customer = customer is not None and not is_pseudonym(customer)
    want_point = point is not None and not is_pseudonym(point)
    if not (want_customer or want_point):
        return None
    return _BOTH_KEYS, {
        "ps_customer": customer if want_customer and customer else "",
        "ps_point": point if want_point and point else "",
        "ps_epoch": epoch_of(SUPPLY_POINT, moment),
    }


def pseudonymise(conn: Connection, entry: LedgerEntry, *, found: str | None = None) -> LedgerEntry:
    """``entry`` (stamped, version 3) with its customer and supply point IDs replaced by their
    pseudonyms; a value that is already a pseudonym is kept.

    The hot path is one statement, :func:`key_lookup` (``found``: its result, when the caller
    ran it already); a subject's key row is made, and read back, only on its first use."""
    lookup = key_lookup(entry)
    if lookup is None:
        return entry
    sql, params = lookup
    if found is None:
        found = _scalar(conn, "SELECT " + sql, params)
    customer_key, point_key = (found or ",").split(",")
    moment = entry.recorded_at
    assert moment is not None
    customer, point = entry.customer_id, entry.supply_point_id
    if params["ps_customer"] and customer is not None:
        customer = (
            derive(customer_key, CUSTOMER, customer, "")
            if customer_key
            else _pseudonym(conn, CUSTOMER, customer, moment)
        )
    if params["ps_point"] and point is not None:
        point = (
            derive(point_key, SUPPLY_POINT, point, params["ps_epoch"])
            if point_key
            else _pseudonym(conn, SUPPLY_POINT, point, moment)
        )
    return entry.with_subjects(customer, point)


def _check_kind(kind: str) -> None:
    if kind not in SUBJECT_KINDS:
        raise ValueError(f"subject kind {kind!r} is not one of {SUBJECT_KINDS}")


def pseudonyms_of(conn: Connection, kind: str, subject_id: str) -> list[str]:
    """Every pseudonym of the subject that its live keys give (all epochs); ``[]`` when it has
    no key (never named since version 3, or shredded). Computed from the keys, never stored
    values."""
    _check_kind(kind)
    k = ledger_subject_key.c
    rows = conn.execute(
        select(k.epoch, k.key).where(k.kind == kind, k.subject_id == subject_id)
    ).all()
    return [derive(key, kind, subject_id, epoch) for epoch, key in rows]


def legacy_erased_ranges(
    conn: Connection, kind: str, subject_id: str
) -> list[tuple[str | None, str | None]]:
    """The ``[since, until)`` ranges (``recorded_at`` text, None: open) over which entries from
    before version 3 that name the subject in clear are no longer returned by lookups."""
    e = ledger_legacy_erasure.c
    rows = conn.execute(
        select(e.since, e.until).where(e.kind == kind, e.subject_id == subject_id)
    ).all()
    return [(since, until) for since, until in rows]


def _month_start(epoch: str) -> datetime:
    year, month = (int(x) for x in epoch.split("-"))
    return datetime(year, month, 1, tzinfo=JST)


def _next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month)


def jst_start(day: date) -> datetime:
    """Midnight JST at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=JST)


@dataclass(frozen=True, slots=True)
class ShredResult:
    """What :func:`shred` did: ``keys``: subject keys destroyed; ``legacy_entries``: entries
    from before pseudonyms that name the subject in clear (in the range), now hidden from
    lookups but still stored."""

    keys: int
    legacy_entries: int


def shred(
    conn: Connection,
    kind: str,
    subject_id: str,
    *,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ShredResult:
    """Destroy the subject's keys (crypto-shredding), in the caller's transaction.

    A customer: every key. A supply point: the keys of the months (JST) lying wholly inside
    ``[since, until)`` (days, JST; None: open) — a point's other occupants keep theirs.
    Entries from before pseudonyms naming the subject in clear over that range are counted and
    recorded in ``ledger_legacy_erasure`` (module docstring). ``dry_run``: count only."""
    _check_kind(kind)
    k = ledger_subject_key.c
    lower = jst_start(since) if since is not None else None
    upper = jst_start(until) if until is not None else None
    epochs: list[str] = []
    for (epoch,) in conn.execute(
        select(k.epoch).where(k.kind == kind, k.subject_id == subject_id)
    ).all():
        if kind == SUPPLY_POINT:
            start = _month_start(epoch)
            if (lower is not None and start < lower) or (
                upper is not None and _next_month(start) > upper
            ):
                continue
        epochs.append(epoch)
    t = access_ledger.c
    column = t.customer_id if kind == CUSTOMER else t.supply_point_id
    low_text = format_time(lower) if lower is not None else None
    high_text = format_time(upper) if upper is not None else None
    legacy_q = select(func.count()).select_from(access_ledger).where(column == subject_id)
    if low_text is not None:
        legacy_q = legacy_q.where(t.recorded_at >= low_text)
    if high_text is not None:
        legacy_q = legacy_q.where(t.recorded_at < high_text)
    legacy = int(conn.execute(legacy_q).scalar_one())
    if legacy and (low_text, high_text) in legacy_erased_ranges(conn, kind, subject_id):
        legacy = 0  # recorded already
    if dry_run:
        return ShredResult(len(epochs), legacy)
    if epochs:
        conn.execute(
            delete(ledger_subject_key).where(
                k.kind == kind, k.subject_id == subject_id, k.epoch.in_(epochs)
            )
        )
    if legacy:
        conn.execute(
            insert(ledger_legacy_erasure).values(
                kind=kind,
                subject_id=subject_id,
                since=low_text,
                until=high_text,
                erased_at=format_time(now or datetime.now(UTC)),
            )
        )
    return ShredResult(len(epochs), legacy)


def subject_filter(conn: Connection, kind: str, subject_id: str) -> ColumnElement[bool]:
    """The ``WHERE`` clause matching the entries about the subject: its pseudonyms under its
    live keys, and its clear ID in entries from before version 3 outside erased ranges."""
    _check_kind(kind)
    t = access_ledger.c
    column = t.customer_id if kind == CUSTOMER else t.supply_point_id
    matches: list[ColumnElement[bool]] = []
    ranges = legacy_erased_ranges(conn, kind, subject_id)
    if (None, None) not in ranges:
        outside = [
            ~and_(
                *([t.recorded_at >= since] if since is not None else []),
                *([t.recorded_at < until] if until is not None else []),
            )
            for since, until in ranges
        ]
        matches.append(and_(column == subject_id, *outside))
    names = pseudonyms_of(conn, kind, subject_id)
    if names:
        matches.append(column.in_(names))
    return or_(*matches) if matches else false()


def subjects(
    conn: Connection, pseudonyms: Iterable[str]
) -> dict[str, tuple[str, str]]:  # pseudonym → (kind, subject_id)
    """The subjects behind ``pseudonyms`` whose keys live (the others stay unknown)."""
    wanted: Sequence[str] = sorted({p for p in pseudonyms if p})
    if not wanted:
        return {}
    k = ledger_subject_key.c
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(k.pseudonym, k.kind, k.subject_id, k.epoch, k.key).where(
                k.pseudonym.in_(wanted[start : start + 500])
            )
        ).all()
        for pseudonym, kind, subject_id, epoch, key in rows:
            if derive(key, kind, subject_id, epoch) == pseudonym:  # computed, not trusted
                found[pseudonym] = (kind, subject_id)
    return found
