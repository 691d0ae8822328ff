"""The points in a work order's scope, for the TSO that owns the order (its console lists them
to read the contacts the order opened, each read through the gate). The scope is the TSO's own
instruction to its staff — which of its points to visit — not a customer's data: no names,
addresses or phones are read here."""

from __future__ import annotations

from sqlalchemy import select

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.policy.engine import Party
from jointuse.workorders import repository as repo
from jointuse.workorders.tables import work_order_point


def points_of(
    uow: UnitOfWork, *, actor: Party, order_id: str, after: str = "", limit: int = 100
) -> list[str]:
    """Up to ``limit`` points of ``actor``'s order ``order_id`` (sorted, after ``after``)."""
    order = repo.get_order(uow.connection, order_id) if 0 < len(order_id) <= 36 else None
    if order is None or order.tso_code != actor.code:
        raise NotFound(f"no work order {order_id[:36]!r} of yours")
    p = work_order_point.c
    return list(
        uow.connection.execute(
            select(p.supply_point_id)
            .where(p.order_id == order_id, p.supply_point_id > after)
            .order_by(p.supply_point_id)
            .limit(limit)
        ).scalars()
    )
