"""The ``work_order`` relation: a TSO to a supply point while an order of its holds the point.

For the points of the target (its supply point; for a customer-only target, the points of the
customer's contracts in the TSO's area), each order of the acting TSO whose scope holds the point
gives the period ``[starts_at, min(ends_at, closed_at))``. When the target names a customer, the
period is cut to the customer's contract at that point: an order on a point never opens its
previous or next occupant's contact data. One indexed query per point (the point's scope rows
and their orders by key), whatever the number of orders open elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from jointuse.access.gate import GateParts
from jointuse.access.relations import RelationContext, jst_midnight, period
from jointuse.customers.relations import contracts_of
from jointuse.policy.engine import RelationPeriod
from jointuse.workorders import repository as repo


def _cut(
    start: datetime, end: datetime | None, lo: datetime, hi: datetime | None
) -> tuple[datetime, datetime | None]:
    s = max(start, lo)
    e = end if hi is None else (hi if end is None else min(end, hi))
    return s, e


def work_order(ctx: RelationContext) -> Iterable[RelationPeriod]:
    party = ctx.party
    if party.kind != "tso":
        return ()
    t = ctx.target
    # (point, the customer's tenure at it) pairs; tenure None = not limited.
    points: list[tuple[str, tuple[datetime, datetime | None] | None]] = []
    if t.customer_id is None and t.supply_point_id is not None:
        points.append((t.supply_point_id, None))
    else:
        for c in contracts_of(ctx):
            if c.supply_point_id.tso_code == party.code:
                end = jst_midnight(c.valid_to) if c.valid_to else None
                points.append((c.supply_point_id.value, (jst_midnight(c.valid_from), end)))
    out: list[RelationPeriod] = []
    # Field staff: only the orders they are assigned to open contacts to them; the TSO's
    # operators and its system clients act for the party (its orders).
    staff = party.user if party.role == "field_staff" else None
    for point, tenure in points:
        found = (
            repo.windows(ctx.conn, point, party.code)
            if staff is None
            else repo.staff_windows(ctx.conn, point, party.code, staff)
        )
        for starts, ends, closed in found:
            end = min(ends, closed) if closed is not None else ends
            lo, hi = (starts, end) if tenure is None else _cut(starts, end, *tenure)
            held = period("work_order", lo, hi)
            if held is not None:
                out.append(held)
    return out


def gate_parts() -> GateParts:
    return GateParts(relations={"work_order": work_order})
