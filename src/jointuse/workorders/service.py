"""Use cases of the work orders: a TSO opens, widens and closes its orders and maintains its
feeders. Each is one unit of work and one ledger entry (purpose P4, rule
``work_order:<open|widen|close>:<order id>``); a refusal of the caller (not a TSO, a suspended
one, points outside its area or not registered, another TSO's order) is on the ledger too
(:func:`jointuse.access.gate.commit_alone`) and says only what the caller may know.

An order names its kind, the reason, its time window and its scope — points, and/or a feeder
(配電線) whose points the TSO registered; an outage of 10,000 points on a feeder opens in one
call and one ``INSERT … SELECT``. The order's window is bounded (:data:`MAX_WINDOW`): a
standing order would be the standing access the orders exist to end.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from jointuse.access.gate import commit_alone
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied, JointuseError, NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append
from jointuse.policy.engine import Party, PartyStatus
from jointuse.workorders import repository as repo
from jointuse.workorders.repository import Order
from jointuse.workorders.tables import ORDER_KINDS

P4 = "P4_tso_operations"
MAX_WINDOW = timedelta(days=92)
MAX_POINTS_PER_CALL = 2000


def _entry(actor: Party, what: str, order_id: str, request_id: str, **kw: Any) -> LedgerEntry:
    return LedgerEntry(
        party=actor.code,
        purpose=P4,
        action="write",
        rule_id=f"work_order:{what}:{order_id}",
        request_id=request_id,
        recorded_at=datetime.now(UTC),
        **kw,
    )


def _refuse(
    uow: UnitOfWork, actor: Party, what: str, order_id: str, request_id: str, exc: JointuseError
) -> JointuseError:
    reason = str(exc.details.get("reason") or exc.code)
    commit_alone(
        uow,
        _entry(
            actor,
            what,
            order_id,
            request_id,
            decision="denied",
            items_refused=(RefusedItem("*", reason),),
        ),
    )
    exc.recorded_on_ledger = True  # the HTTP edge records it no second time
    return exc


def _require_tso(actor: Party) -> None:
    if actor.kind != "tso":
        raise AccessDenied("only a TSO holds work orders", reason="not_a_tso")
    if actor.status is not PartyStatus.ACTIVE:
        raise AccessDenied(f"{actor.code} is {actor.status.value}", reason="party_suspended")


def _points(actor: Party, points: Sequence[str]) -> list[str]:
    if len(points) > MAX_POINTS_PER_CALL:
        raise ValidationError(
            f"{len(points)} points in one call; scope a large order by feeder",
            field="points",
            valid=f"at most {MAX_POINTS_PER_CALL} points, or a feeder",
        )
    out = []
    for n, text in enumerate(points):
        try:
            point = SupplyPointId.parse(text)
        except ValidationError as exc:
            raise ValidationError(
                f"points[{n}]: {exc.message}", field=f"points[{n}]", valid=exc.valid
            ) from None
        if point.tso_code != actor.code:
            raise ValidationError(
                f"points[{n}] {point.value} is not in {actor.code}'s area",
                field=f"points[{n}]",
                valid=f"points of {actor.code}'s area",
                reason="points_outside_area",
            )
        out.append(point.value)
    return out


def _scope(
    uow: UnitOfWork, actor: Party, order_id: str, points: list[str], feeder: str | None
) -> int:
    conn = uow.connection
    missing = repo.missing_points(conn, points)
    if missing:
        raise ValidationError(
            f"{len(missing)} point(s) not registered, e.g. {missing[0]}",
            field="points",
            valid="registered supply points of your area",
            reason="points_unknown",
        )
    added = repo.add_points(conn, order_id, points)
    if feeder is not None:
        added += repo.add_feeder(conn, order_id, actor.code, feeder)
    return added


def open_order(
    uow: UnitOfWork,
    *,
    actor: Party,
    kind: str,
    reason: str,
    starts_at: datetime,
    ends_at: datetime,
    points: Sequence[str] = (),
    feeder: str | None = None,
    request_id: str,
    at: datetime,
) -> Order:
    """Open an order; its scope's points' contact data open to the TSO during the window."""
    order_id = str(uuid.uuid4())
    try:
        _require_tso(actor)
        if kind not in ORDER_KINDS:
            raise ValidationError(f"unknown kind {kind!r}", field="kind", valid=list(ORDER_KINDS))
        text = reason.strip()
        if not text or len(text) > 500:
            raise ValidationError(
                "give the order's reason", field="reason", valid="1–500 characters"
            )
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            raise ValidationError("give the window with a time zone", field="starts_at")
        if not starts_at < ends_at <= starts_at + MAX_WINDOW:
            raise ValidationError(
                f"window {starts_at.isoformat()} – {ends_at.isoformat()} is empty or too long",
                field="ends_at",
                valid=f"after starts_at, at most {MAX_WINDOW.days} days later",
            )
        if not points and feeder is None:
            raise ValidationError(
                "an order needs a scope", field="points", valid="points and/or a feeder"
            )
        wanted = _points(actor, points)
        repo.insert_order(
            uow.connection,
            Order(order_id, actor.code, kind, text, starts_at, ends_at, at, None),
        )
        added = _scope(uow, actor, order_id, wanted, feeder)
        if added == 0:
            raise ValidationError(
                f"the scope holds no point (feeder {feeder!r} has none registered)",
                field="feeder",
                valid="a feeder you registered points of",
                reason="scope_empty",
            )
    except JointuseError as exc:
        raise _refuse(uow, actor, "open", order_id, request_id, exc) from None
    append(uow.connection, _entry(actor, "open", order_id, request_id, decision="allowed"))
    found = repo.get_order(uow.connection, order_id)
    assert found is not None
    return found


def _own_open_order(uow: UnitOfWork, actor: Party, order_id: str, at: datetime) -> Order:
    _require_tso(actor)
    order = repo.get_order(uow.connection, order_id) if len(order_id) <= 36 else None
    if order is None or order.tso_code != actor.code:
        raise NotFound(f"no work order {order_id[:36]!r} of yours", reason="not_found")
    if order.closed_at is not None or order.ends_at <= at:
        raise ValidationError(
            f"work order {order_id} is closed",
            field="order_id",
            valid="an open order",
            reason="order_closed",
        )
    return order


def widen(
    uow: UnitOfWork,
    *,
    actor: Party,
    order_id: str,
    points: Sequence[str] = (),
    feeder: str | None = None,
    request_id: str,
    at: datetime,
) -> Order:
    """Add points (or a feeder's) to an open order of the TSO's."""
    try:
        _own_open_order(uow, actor, order_id, at)
        _scope(uow, actor, order_id, _points(actor, points), feeder)
    except JointuseError as exc:
        raise _refuse(uow, actor, "widen", order_id[:36], request_id, exc) from None
    append(uow.connection, _entry(actor, "widen", order_id, request_id, decision="allowed"))
    found = repo.get_order(uow.connection, order_id)
    assert found is not None
    return found


def close(uow: UnitOfWork, *, actor: Party, order_id: str, request_id: str, at: datetime) -> Order:
    """Close an open order now: its points' contact data close to the TSO."""
    try:
        _own_open_order(uow, actor, order_id, at)
        repo.close_order(uow.connection, order_id, at)
    except JointuseError as exc:
        raise _refuse(uow, actor, "close", order_id[:36], request_id, exc) from None
    append(uow.connection, _entry(actor, "close", order_id, request_id, decision="allowed"))
    found = repo.get_order(uow.connection, order_id)
    assert found is not None
    return found


def set_feeder(
    uow: UnitOfWork, *, actor: Party, feeder: str, points: Sequence[str], request_id: str
) -> int:
    """The TSO's topology: ``points`` are served by ``feeder`` (not personal data)."""
    name = feeder.strip()
    if not name or len(name) > 32 or not name.isprintable():
        raise ValidationError("feeder: 1–32 printable characters", field="feeder")
    _require_tso(actor)
    wanted = _points(actor, points)
    missing = repo.missing_points(uow.connection, wanted)
    if missing:
        raise ValidationError(
            f"{len(missing)} point(s) not registered, e.g. {missing[0]}", field="points"
        )
    return repo.set_feeder(uow.connection, actor.code, name, wanted)


def orders(uow: UnitOfWork, *, actor: Party, at: datetime, open_only: bool) -> list[Order]:
    _require_tso(actor)
    return repo.orders_of(uow.connection, actor.code, open_at=at if open_only else None)


def view(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "tso": order.tso_code,
        "kind": order.kind,
        "reason": order.reason,
        "starts_at": order.starts_at.isoformat(),
        "ends_at": order.ends_at.isoformat(),
        "closed_at": order.closed_at.isoformat() if order.closed_at else None,
        "points": order.points,
    }
