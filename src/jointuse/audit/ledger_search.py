"""The ledger for auditors (監査): search, page and stream entries; every reading on the ledger.

``jointuse ledger show`` and ``jointuse ledger export`` filter the access ledger by customer,
supply point, party, acting user (the person within a party, ``acting_user``), purpose, period
and decision. The query is :func:`jointuse.ledger.service.find_entries` — the one place that
looks entries up by customer or supply point — called page after page (keyset paging on
``seq``), so an export of millions of entries streams in constant memory.

Reading the ledger is itself recorded (a use of the customers' data like any other): before
the first entry is read, one entry — party ``operator``, ``acting_user`` the auditor's name,
purpose ``audit:ledger_show`` / ``audit:ledger_export`` / ``audit:incident_scope``, the filters
in ``rule_id`` (``audit {"party": …}``; a customer or point searched for only as "(this
entry's)": they are the entry's own ``customer_id`` / ``supply_point_id``, so they are
pseudonymised and shredded with the rest) — is committed in its own transaction. A reading
that fails half-way is still on record (it may already have shown data); the customer's own
access log shows it, under its purpose.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from sqlalchemy import Engine

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork, connect_read_only
from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.ledger.chain import DECISIONS, LedgerEntry, format_time
from jointuse.ledger.service import LedgerRecord, append, find_entries, seq_bounds

OPERATOR = "operator"
"""The ``party`` of entries recording an operator's reading (not a joint user)."""
AUDIT_PURPOSES = ("audit:ledger_show", "audit:ledger_export", "audit:incident_scope")
DEFAULT_PAGE = 2000
MAX_PAGE = 10000

AuditPurpose = Literal["audit:ledger_show", "audit:ledger_export", "audit:incident_scope"]

CSV_COLUMNS = (
    "seq",
    "chain_pos",
    "recorded_at",
    "party",
    "acting_user",
    "purpose",
    "action",
    "decision",
    "customer_id",
    "supply_point_id",
    "items_granted",
    "items_refused",
    "rule_id",
    "request_id",
    "caller_request_id",
    "data_from",
    "data_to",
    "hash",
)


def _text(value: str | None, field: str) -> str | None:
    """Filter text as typed: NFKC, stripped; empty is refused (a filter on nothing is a typo)."""
    if value is None:
        return None
    norm = unicodedata.normalize("NFKC", value).strip()
    if not norm:
        raise ValidationError(f"{field} is empty", field=field, valid="non-empty text")
    if len(norm) > 500:
        raise ValidationError(
            f"{field} is {len(norm)} characters long", field=field, valid="at most 500 characters"
        )
    return norm


def parse_moment(value: str | None, field: str, *, end: bool = False) -> datetime | None:
    """An ISO date or datetime as an auditor types it. A date is JST midnight (``--to`` a date:
    the end of that JST day, i.e. the next midnight); a datetime without a zone is JST."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(0), tzinfo=JST)
            if end:
                moment = datetime.combine(date.fromordinal(day.toordinal() + 1), time(0), JST)
            return moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field} {value!r} is not a date or date-time",
            field=field,
            valid="YYYY-MM-DD (a JST day) or an ISO 8601 date-time, e.g. 2026-12-01T09:00+09:00",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=JST)


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """What an auditor searches for (all optional; combined with AND). ``until`` is exclusive."""

    customer_id: str | None = None
    supply_point_id: str | None = None
    party: str | None = None
    acting_user: str | None = None
    purpose: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        customer: str | None = None,
        point: str | None = None,
        party: str | None = None,
        user: str | None = None,
        purpose: str | None = None,
        decision: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> LedgerFilter:
        """From typed text: NFKC, a supply point ID as printed (grouped, full-width digits),
        dates as :func:`parse_moment`; a bad value is a :class:`ValidationError` naming it."""
        spid = None if point is None else SupplyPointId.parse(point).value
        dec = _text(decision, "decision")
        if dec is not None and dec not in DECISIONS:
            raise ValidationError(
                f"decision {dec!r} is not known", field="decision", valid=list(DECISIONS)
            )
        start = parse_moment(since, "from")
        stop = parse_moment(until, "to", end=True)
        if start is not None and stop is not None and stop <= start:
            raise ValidationError(
                f"the period is empty: --to {until} is not after --from {since}",
                field="to",
                valid="a moment after --from",
            )
        return cls(
            customer_id=_text(customer, "customer"),
            supply_point_id=spid,
            party=_text(party, "party"),
            acting_user=_text(user, "user"),
            purpose=_text(purpose, "purpose"),
            decision=dec,
            since=start,
            until=stop,
        )

    def describe(self) -> dict[str, str]:
        """The filters given, as text (for the audit entry and the report header)."""
        out: dict[str, str] = {}
        for name in ("customer_id", "supply_point_id", "party", "acting_user", "purpose"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.decision is not None:
            out["decision"] = self.decision
        if self.since is not None:
            out["from"] = format_time(self.since)
        if self.until is not None:
            out["to"] = format_time(self.until)
        return out


def record_reading(
    engine: Engine,
    *,
    auditor: str,
    purpose: AuditPurpose,
    where: LedgerFilter,
    at: datetime | None = None,
    party: str = OPERATOR,
) -> str:
    """Record that ``auditor`` reads the ledger with ``where`` (its own committed transaction,
    before any entry is read); return the request ID the entry carries. ``party``: whose
    auditor reads (the operator's, default; a joint user's auditor in the console)."""
    who = _text(auditor, "auditor")
    assert who is not None
    request_id = f"audit-{uuid.uuid4().hex[:16]}"
    # The customer and point searched for are the entry's own fields (which the ledger may
    # pseudonymise, and erasure may shred): never copied into the text of the rule.
    shown = {
        k: ("(this entry's)" if k in ("customer_id", "supply_point_id") else v)
        for k, v in where.describe().items()
    }
    described = json.dumps(shown, ensure_ascii=False, sort_keys=True)
    rule = f"audit {described}"
    if len(rule) > 500:
        rule = rule[:499] + "…"
    with UnitOfWork(engine) as uow:
        append(
            uow.connection,
            LedgerEntry(
                party=party,
                purpose=purpose,
                action="read",
                decision="allowed",
                customer_id=where.customer_id,
                supply_point_id=where.supply_point_id,
                rule_id=rule,
                request_id=request_id,
                acting_user=who,
            ),
            now=at,
        )
    return request_id


def _page(
    engine: Engine,
    where: LedgerFilter,
    *,
    limit: int,
    after_seq: int | None = None,
    before_seq: int | None = None,
    oldest_first: bool = False,
) -> list[LedgerRecord]:
    with connect_read_only(engine) as conn:
        return find_entries(
            conn,
            customer_id=where.customer_id,
            supply_point_id=where.supply_point_id,
            party=where.party,
            acting_user=where.acting_user,
            purpose=where.purpose,
            decision=where.decision,
            since=where.since,
            until=where.until,
            after_seq=after_seq,
            before_seq=before_seq,
            oldest_first=oldest_first,
            limit=limit,
        )


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE:
        raise ValidationError(
            f"page size {page_size} is out of range",
            field="limit",
            valid=f"1 to {MAX_PAGE}",
        )


def show_page(
    engine: Engine, where: LedgerFilter, *, limit: int = 50, before_seq: int | None = None
) -> tuple[list[LedgerRecord], int | None]:
    """One page newest first; the ``before_seq`` of the next page (None: this was the last)."""
    _check_page_size(limit)
    records = _page(engine, where, limit=limit + 1, before_seq=before_seq)
    more = len(records) > limit
    records = records[:limit]
    return records, (records[-1].seq if more and records else None)


@dataclass(frozen=True, slots=True)
class StreamProgress:
    """Where a stream is: entries yielded so far, and the ``seq`` reached within
    ``[low, high]`` (the ledger's range when the stream started)."""

    yielded: int
    reached: int
    low: int
    high: int


def stream(
    engine: Engine,
    where: LedgerFilter,
    *,
    page_size: int = DEFAULT_PAGE,
    progress: Any = None,
) -> Iterator[LedgerRecord]:
    """Every matching entry, oldest first, in pages of ``page_size`` (each page its own short
    read-only transaction: an export never holds the database). Entries appended after the
    stream started are not included. ``progress`` is called
    with a :class:`StreamProgress` after each page."""
    _check_page_size(page_size)
    with connect_read_only(engine) as conn:
        low, high = seq_bounds(conn)
    after: int | None = None if low == 0 else low - 1
    yielded = 0
    while high:
        page = _page(engine, where, limit=page_size, after_seq=after, oldest_first=True)
        page = [r for r in page if r.seq <= high]
        yield from page
        yielded += len(page)
        reached = page[-1].seq if len(page) == page_size else high
        if progress is not None:
            progress(StreamProgress(yielded, reached, low, high))
        if len(page) < page_size:
            return
        after = page[-1].seq


def record_row(record: LedgerRecord) -> dict[str, Any]:
    """An entry as one flat JSON object (the JSON Lines record; CSV flattens the arrays)."""
    e = record.entry
    return {
        "seq": record.seq,
        "chain_pos": record.chain_pos,
        "recorded_at": format_time(e.recorded_at) if e.recorded_at else None,
        "party": e.party,
        "acting_user": e.acting_user,
        "purpose": e.purpose,
        "action": e.action,
        "decision": e.decision,
        "customer_id": e.customer_id,
        "supply_point_id": e.supply_point_id,
        "items_granted": list(e.items_granted),
        "items_refused": [{"item": r.item, "reason": r.reason} for r in e.items_refused],
        "rule_id": e.rule_id,
        "request_id": e.request_id,
        "caller_request_id": e.caller_request_id,
        "data_from": format_time(e.data_from) if e.data_from else None,
        "data_to": format_time(e.data_to) if e.data_to else None,
        "hash": record.hash,
    }


def csv_row(record: LedgerRecord) -> list[str]:
    """An entry as a CSV row (:data:`CSV_COLUMNS`): arrays joined with ``;``, refused items as
    ``item:reason``; absent values empty."""
    row = record_row(record)
    row["items_granted"] = ";".join(row["items_granted"])
    row["items_refused"] = ";".join(f"{r['item']}:{r['reason']}" for r in row["items_refused"])
    return ["" if row[c] is None else str(row[c]) for c in CSV_COLUMNS]
