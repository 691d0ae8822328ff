""" "Who used my data, and why" (利用履歴): the access record a signed-in customer sees.

Every ledger entry about the customer's own records and points **within their own tenure**:
entries naming a customer record the customer proved (their customer ID at a retailer), and
entries naming a point they proved over the contract's period only — a new occupant never sees
the previous occupant's history, nor the other way round. Each entry is shown with the party's
name from the registry, the purpose in Japanese and English, the items granted or refused, the
time, and whether it was allowed. Reading it is itself on the ledger (``subject:access_log``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from jointuse.access.relations import jst_midnight
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import LedgerRecord, append, find_entries
from jointuse.policy.model import Policy
from jointuse.rights.identity import Account, Link, links

MAX_ENTRIES = 5000


@dataclass(frozen=True, slots=True)
class Filter:
    purpose: str | None = None
    party: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _within(moment: datetime, start: date, end: date | None) -> bool:
    return jst_midnight(start) <= moment and (end is None or moment < jst_midnight(end))


def _entries_of(conn: Connection, link: Link) -> list[LedgerRecord]:
    mine = find_entries(conn, customer_id=link.customer_id, limit=MAX_ENTRIES)
    at_point = [
        r
        for r in find_entries(conn, supply_point_id=link.supply_point_id, limit=MAX_ENTRIES)
        if r.entry.customer_id in (None, link.customer_id)
        and r.entry.recorded_at is not None
        and _within(r.entry.recorded_at, link.valid_from, link.valid_to)
    ]
    return mine + at_point


def access_log(
    conn: Connection,
    *,
    account: Account,
    policy: Policy,
    party_names: dict[str, tuple[str, str]],
    at: datetime,
    where: Filter = Filter(),
    request_id: str | None = None,
) -> dict[str, Any]:
    """The customer's access record, grouped by purpose (newest first in each); the reading is
    recorded on the ledger, one entry per proved record."""
    own = links(conn, account)
    seen: dict[int, LedgerRecord] = {}
    for link in own:
        for record in _entries_of(conn, link):
            seen.setdefault(record.seq, record)
    purposes = {p.key: (p.label_ja, p.label_en) for p in policy.purposes}
    items = {i.key: (i.label_ja, i.label_en) for i in policy.items}
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(seen.values(), key=lambda r: r.seq, reverse=True):
        e = record.entry
        if e.party.startswith("customer:") or e.purpose.startswith("subject:"):
            continue  # the customer's own use of their rights
        if where.purpose and e.purpose != where.purpose:
            continue
        if where.party and e.party != where.party:
            continue
        moment = e.recorded_at
        if moment is None or (where.since and moment < where.since):
            continue
        if where.until and moment >= where.until:
            continue
        ja, en = party_names.get(e.party, (e.party, e.party))
        pja, pen = purposes.get(e.purpose, (e.purpose, e.purpose))
        groups.setdefault(e.purpose, []).append(
            {
                "at": moment.isoformat(),
                "party": e.party,
                "party_name_ja": ja,
                "party_name_en": en,
                "purpose": e.purpose,
                "purpose_ja": pja,
                "purpose_en": pen,
                "action": e.action,
                "decision": e.decision,
                "items": [
                    {
                        "item": i,
                        "label_ja": items.get(i, (i, i))[0],
                        "label_en": items.get(i, (i, i))[1],
                    }
                    for i in e.items_granted
                ],
                "refused": [{"item": r.item, "reason": r.reason} for r in e.items_refused],
                "supply_point_id": e.supply_point_id,
                "rule": e.rule_id,
                # The dates of the data the use opened (ledger format 4; None: not recorded, or
                # no bound on that side), beside the moment of the use ("at").
                "data_from": e.data_from.isoformat() if e.data_from else None,
                "data_to": e.data_to.isoformat() if e.data_to else None,
            }
        )
    rid = request_id or f"access-log-{uuid.uuid4().hex[:12]}"
    for link in own:
        append(
            conn,
            LedgerEntry(
                party=f"customer:{account.id}",
                purpose="subject:access_log",
                action="read",
                decision="allowed",
                customer_id=link.customer_id,
                supply_point_id=link.supply_point_id,
                rule_id="subject:access_log",
                request_id=rid,
            ),
        )
    return {
        "records": [
            {
                "customer_id": link.customer_id,
                "supply_point_id": link.supply_point_id,
                "retailer": link.retailer_code,
                "from": link.valid_from.isoformat(),
                "to": link.valid_to.isoformat() if link.valid_to else None,
            }
            for link in own
        ],
        "by_purpose": groups,
        "total": sum(len(v) for v in groups.values()),
    }
