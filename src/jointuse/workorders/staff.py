"""Staff assignment to work orders (作業指示の担当者): whom of the TSO an order opens contacts to.

An order opens the P4 contact items of its scope to the ``field_staff`` users assigned to it
(:func:`jointuse.workorders.relations.work_order`); a field staff user not assigned is refused
``relation_missing`` by the gate, on the ledger. Assigning and unassigning are on the ledger
(purpose P4, rule ``work_order:assign:<order>:<user>`` / ``work_order:unassign:…``), refusals
too. Only the TSO holding the order assigns (not its field staff), and only its own active
users.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from jointuse.access.gate import commit_alone
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied, JointuseError, NotFound, ValidationError
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append
from jointuse.parties.tables import party_user
from jointuse.policy.engine import Party, PartyStatus
from jointuse.workorders import repository as orders_repo
from jointuse.workorders.tables import work_order_staff

P4 = "P4_tso_operations"


def _entry(
    actor: Party, what: str, order_id: str, user: str, request_id: str, **kw: object
) -> LedgerEntry:
    return LedgerEntry(
        party=actor.code,
        purpose=P4,
        action="write",
        rule_id=f"work_order:{what}:{order_id}:{user}"[:200],
        request_id=request_id,
        recorded_at=datetime.now(UTC),
        acting_user=actor.user,
        **kw,  # type: ignore[arg-type]
    )


def _check(uow: UnitOfWork, actor: Party, order_id: str, user: str, at: datetime) -> None:
    if actor.kind != "tso":
        raise AccessDenied("only a TSO holds work orders", reason="not_a_tso")
    if actor.status is not PartyStatus.ACTIVE:
        raise AccessDenied(f"{actor.code} is {actor.status.value}", reason="party_suspended")
    if actor.role is not None and actor.role != "operator":
        raise AccessDenied(f"a {actor.role} does not assign staff", reason="role_not_permitted")
    order = orders_repo.get_order(uow.connection, order_id) if len(order_id) <= 36 else None
    if order is None or order.tso_code != actor.code:
        raise NotFound(f"no work order {order_id[:36]!r} of yours", field="order_id")
    if order.closed_at is not None or order.ends_at <= at:
        raise ValidationError(
            f"work order {order_id} is closed", field="order_id", valid="an open order"
        )
    u = party_user.c
    row = uow.connection.execute(
        select(u.role, u.deactivated_at).where(u.party_code == actor.code, u.code == user)
    ).first()
    if row is None or row.deactivated_at is not None:
        raise NotFound(f"no active user {user!r} of {actor.code}", field="user")
    if row.role != "field_staff":
        raise ValidationError(
            f"{user} is a {row.role}: orders are assigned to field staff",
            field="user",
            valid="a field_staff user of the TSO",
        )


def _change(
    uow: UnitOfWork,
    *,
    actor: Party,
    order_id: str,
    user: str,
    request_id: str,
    at: datetime,
    assign: bool,
) -> None:
    what = "assign" if assign else "unassign"
    code = user.strip().lower()
    try:
        _check(uow, actor, order_id, code, at)
        s = work_order_staff.c
        conn = uow.connection
        key = (s.order_id == order_id) & (s.party_code == actor.code) & (s.user_code == code)
        held = conn.execute(select(s.unassigned_at).where(key)).first()
        if assign and held is None:
            conn.execute(
                insert(work_order_staff).values(
                    order_id=order_id, party_code=actor.code, user_code=code, assigned_at=at
                )
            )
        elif assign and held is not None and held.unassigned_at is not None:
            conn.execute(
                update(work_order_staff).where(key).values(assigned_at=at, unassigned_at=None)
            )
        elif not assign and (held is None or held.unassigned_at is not None):
            raise ValidationError(
                f"{code} is not assigned to {order_id}", field="user", valid="an assigned user"
            )
        elif not assign:
            conn.execute(update(work_order_staff).where(key).values(unassigned_at=at))
    except JointuseError as exc:
        reason = str(exc.details.get("reason") or exc.code)
        commit_alone(
            uow,
            _entry(
                actor,
                what,
                order_id[:36],
                code[:64],
                request_id,
                decision="denied",
                items_refused=(RefusedItem("*", reason[:64]),),
            ),
        )
        exc.recorded_on_ledger = True
        raise
    append(uow.connection, _entry(actor, what, order_id, code, request_id, decision="allowed"))


def assign(
    uow: UnitOfWork, *, actor: Party, order_id: str, user: str, request_id: str, at: datetime
) -> None:
    """Assign the TSO's field staff user to its open order (again after an unassignment:
    from ``at``)."""
    _change(
        uow, actor=actor, order_id=order_id, user=user, request_id=request_id, at=at, assign=True
    )


def unassign(
    uow: UnitOfWork, *, actor: Party, order_id: str, user: str, request_id: str, at: datetime
) -> None:
    """End the user's assignment to the order from ``at``."""
    _change(
        uow, actor=actor, order_id=order_id, user=user, request_id=request_id, at=at, assign=False
    )


def staff_of(uow: UnitOfWork, *, actor: Party, order_id: str) -> dict[str, object]:
    """The TSO's order's staff: who is or was assigned (``assigned``: user, from, until) and
    the TSO's active field staff users who could be (``candidates``). Not personal data of a
    customer; the order must be the TSO's own (404 otherwise)."""
    if actor.kind != "tso":
        raise AccessDenied("only a TSO holds work orders", reason="not_a_tso")
    order = orders_repo.get_order(uow.connection, order_id) if len(order_id) <= 36 else None
    if order is None or order.tso_code != actor.code:
        raise NotFound(f"no work order {order_id[:36]!r} of yours", field="order_id")
    s = work_order_staff.c
    assigned = [
        {"user": r.user_code, "assigned_at": r.assigned_at, "unassigned_at": r.unassigned_at}
        for r in uow.connection.execute(
            select(s.user_code, s.assigned_at, s.unassigned_at)
            .where(s.order_id == order_id, s.party_code == actor.code)
            .order_by(s.assigned_at)
        )
    ]
    u = party_user.c
    candidates = [
        r.code
        for r in uow.connection.execute(
            select(u.code)
            .where(
                u.party_code == actor.code,
                u.role == "field_staff",
                u.deactivated_at.is_(None),
            )
            .order_by(u.code)
        )
    ]
    return {"assigned": assigned, "candidates": candidates}
