"""My supply points and my retail contracts over time (the customer portal's "my points and
contracts"): for each record the customer proved, the point (its supply-point items, read through
the gate's subject door, :meth:`jointuse.access.gate.Gate.subject_read`, purpose
``subject:contracts``: each view on the ledger) and the customer's retail contracts there — the
retailer, the contract's kind and period — **within their own tenure** only: contracts of the
customer's record at the point that overlap the proven period, cut to it. A later or earlier
occupant's contracts at the same point are never shown."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jointuse.access.gate import Gate
from jointuse.access.relations import TargetRef
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.customers import repository as customers
from jointuse.customers.model import RetailContract
from jointuse.rights.identity import Account, Link, links
from jointuse.rights.requests import tenure

PURPOSE = "subject:contracts"


def _overlaps(c: RetailContract, link: Link) -> bool:
    start: date = link.valid_from
    end: date | None = link.valid_to
    return (end is None or c.valid_from < end) and (c.valid_to is None or start < c.valid_to)


def _cut(c: RetailContract, link: Link) -> tuple[date, date | None]:
    """The contract's period within the tenure."""
    start = max(c.valid_from, link.valid_from)
    ends = [d for d in (c.valid_to, link.valid_to) if d is not None]
    return start, min(ends) if ends else None


def my_points(
    uow: UnitOfWork,
    gate: Gate,
    account: Account,
    *,
    party_names: dict[str, tuple[str, str]],
    at: datetime,
    request_id: str,
) -> list[dict[str, Any]]:
    """The customer's supply points (by point ID), each with its items as held now or at the
    tenure's end, and the customer's contracts there within their tenure (oldest first)."""
    conn = uow.connection
    today = at.astimezone(JST).date()
    points: dict[str, dict[str, Any]] = {}
    for link in sorted(links(conn, account), key=lambda k: (k.supply_point_id, k.valid_from)):
        start, end = tenure(link)
        try:
            held: dict[str, Any] | None = gate.subject_read(
                uow,
                subject=f"customer:{account.id}",
                purpose=PURPOSE,
                target=TargetRef(
                    supply_point_id=link.supply_point_id, customer_id=link.customer_id
                ),
                categories=("supply_point",),
                valid_from=start,
                valid_to=end,
                request_id=request_id,
                at=at,
            ).data
        except NotFound:
            held = None
        point = points.setdefault(
            link.supply_point_id,
            {"supply_point_id": link.supply_point_id, "items": {}, "contracts": []},
        )
        if held:
            point["items"] = held
        for c in customers.contracts_for(conn, customer_id=link.customer_id):
            if c.supply_point_id.value != link.supply_point_id or not _overlaps(c, link):
                continue
            key = (c.retailer_code, c.contract_number)
            if any((k["retailer"], k["contract_number"]) == key for k in point["contracts"]):
                continue
            since, until = _cut(c, link)
            ja, en = party_names.get(c.retailer_code, (c.retailer_code, c.retailer_code))
            point["contracts"].append(
                {
                    "retailer": c.retailer_code,
                    "retailer_name_ja": ja,
                    "retailer_name_en": en,
                    "contract_number": c.contract_number,
                    "kind": c.kind.value,
                    "from": since.isoformat(),
                    "to": until.isoformat() if until else None,
                    "current": since <= today and (until is None or today < until),
                }
            )
    for point in points.values():
        point["contracts"].sort(key=lambda k: k["from"])
    return list(points.values())
