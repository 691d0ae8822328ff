"""Every query of the work orders (SQLAlchemy Core on the caller's connection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, select, update

from jointuse.core.db import HotQuery
from jointuse.customers.tables import supply_point
from jointuse.workorders.tables import feeder_point, work_order, work_order_point

_o, _p, _fp = work_order.c, work_order_point.c, feeder_point.c


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    tso_code: str
    kind: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    closed_at: datetime | None
    points: int = 0

    @property
    def open_until(self) -> datetime:
        return min(self.ends_at, self.closed_at) if self.closed_at else self.ends_at


def insert_order(conn: Connection, order: Order) -> None:
    conn.execute(
        insert(work_order),
        {
            "id": order.id,
            "tso_code": order.tso_code,
            "kind": order.kind,
            "reason": order.reason,
            "starts_at": order.starts_at,
            "ends_at": order.ends_at,
            "created_at": order.created_at,
            "closed_at": None,
        },
    )


def get_order(conn: Connection, order_id: str) -> Order | None:
    row = conn.execute(select(work_order).where(_o.id == order_id)).first()
    if row is None:
        return None
    m = row._mapping
    n = conn.execute(
        select(func.count()).select_from(work_order_point).where(_p.order_id == order_id)
    ).scalar_one()
    return Order(
        m["id"],
        m["tso_code"],
        m["kind"],
        m["reason"],
        m["starts_at"],
        m["ends_at"],
        m["created_at"],
        m["closed_at"],
        int(n),
    )


def orders_of(conn: Connection, tso_code: str, *, open_at: datetime | None) -> list[Order]:
    q = select(work_order).where(_o.tso_code == tso_code)
    if open_at is not None:
        q = q.where(_o.closed_at.is_(None), _o.ends_at > open_at)
    rows = conn.execute(q.order_by(_o.created_at.desc()).limit(1000)).all()
    return [get_order(conn, r._mapping["id"]) or _never() for r in rows]


def _never() -> Order:
    raise RuntimeError("an order listed a moment ago is gone")


def close_order(conn: Connection, order_id: str, at: datetime) -> bool:
    result = conn.execute(
        update(work_order).where(_o.id == order_id, _o.closed_at.is_(None)).values(closed_at=at)
    )
    return bool(result.rowcount)


def missing_points(conn: Connection, points: Sequence[str]) -> list[str]:
    """Of ``points``, those not registered."""
    found: set[str] = set()
    for lo in range(0, len(points), 1000):
        chunk = list(points[lo : lo + 1000])
        found |= set(
            conn.execute(select(supply_point.c.id).where(supply_point.c.id.in_(chunk))).scalars()
        )
    return [p for p in points if p not in found]


def add_points(conn: Connection, order_id: str, points: Sequence[str]) -> int:
    """Add ``points`` (registered, of the order's TSO) not in the scope yet; how many added."""
    already = set(conn.execute(select(_p.supply_point_id).where(_p.order_id == order_id)).scalars())
    new = [
        {"order_id": order_id, "supply_point_id": p}
        for p in dict.fromkeys(points)
        if p not in already
    ]
    if new:
        conn.execute(insert(work_order_point), new)
    return len(new)


def add_feeder(conn: Connection, order_id: str, tso_code: str, feeder: str) -> int:
    """Add the points of ``feeder`` (one ``INSERT … SELECT``); how many added."""
    in_scope = exists().where(
        and_(_p.order_id == order_id, _p.supply_point_id == _fp.supply_point_id)
    )
    statement = insert(work_order_point).from_select(
        ["order_id", "supply_point_id"],
        select(bindparam("order_id", order_id), _fp.supply_point_id).where(
            _fp.tso_code == tso_code, _fp.feeder == feeder, ~in_scope
        ),
    )
    return int(conn.execute(statement).rowcount or 0)


def set_feeder(conn: Connection, tso_code: str, feeder: str, points: Sequence[str]) -> int:
    """``points`` belong to ``feeder`` from now on (moved from any other feeder)."""
    unique = list(dict.fromkeys(points))
    for lo in range(0, len(unique), 1000):
        chunk = unique[lo : lo + 1000]
        conn.execute(feeder_point.delete().where(_fp.supply_point_id.in_(chunk)))
    conn.execute(
        insert(feeder_point),
        [{"supply_point_id": p, "feeder": feeder, "tso_code": tso_code} for p in unique],
    )
    return len(unique)


# Two statements, each of which can only use its index, whatever the planner's statistics say:
# the orders holding the point (the scope's index), then those orders by key. A join let
# PostgreSQL, with statistics not yet gathered on a fresh table, scan every order instead
# (7x slower at 10,000 open orders in benchmarks/work_orders.py).
_ORDERS_OF_POINT = HotQuery(select(_p.order_id).where(_p.supply_point_id == bindparam("point")))
_ORDER_WINDOW = HotQuery(
    select(_o.starts_at, _o.ends_at, _o.closed_at, _o.tso_code).where(_o.id == bindparam("id"))
)


def windows(
    conn: Connection, point: str, tso_code: str
) -> list[tuple[datetime, datetime, datetime | None]]:
    """(starts, ends, closed) of the TSO's orders whose scope holds ``point``: one indexed
    query for a point no order holds (the usual case), one more by key per order holding it —
    the orders open elsewhere are never read."""
    out = []
    for (order_id,) in _ORDERS_OF_POINT.rows(conn, {"point": point}):
        row = _ORDER_WINDOW.first(conn, {"id": order_id})
        if row is not None and row[3] == tso_code:
            out.append((row[0], row[1], row[2]))
    return out


def staff_windows(
    conn: Connection, point: str, tso_code: str, user_code: str
) -> list[tuple[datetime, datetime, datetime | None]]:
    """Like :func:`windows`, for one field staff user of the TSO: each order's window cut to
    the user's assignment to it (``work_order_staff``); orders they were never assigned to give
    nothing."""
    from jointuse.workorders.tables import work_order_staff

    s = work_order_staff.c
    out = []
    for (order_id,) in _ORDERS_OF_POINT.rows(conn, {"point": point}):
        row = _ORDER_WINDOW.first(conn, {"id": order_id})
        if row is None or row[3] != tso_code:
            continue
        held = conn.execute(
            select(s.assigned_at, s.unassigned_at).where(
                s.order_id == order_id, s.party_code == tso_code, s.user_code == user_code
            )
        ).first()
        if held is None:
            continue
        starts = max(row[0], held.assigned_at)
        ends = row[1] if held.unassigned_at is None else min(row[1], held.unassigned_at)
        if starts < ends:
            out.append((starts, ends, row[2]))
    return out
