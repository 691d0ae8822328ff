"""DR agreements, balancing groups and DR resources (P5 writes through the gate)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

from jointuse.access.gate import Gate
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import Mailer
from jointuse.customers.relations import RelationContext, TargetRef, contracts_of
from jointuse.negawatt import repository as repo
from jointuse.negawatt.consent import WORDING_VERSION, check_scope, evidence, notify_proposal
from jointuse.negawatt.relation import (
    NEGAWATT_WRITE,
    P5,
    _aware,
    agreement_period,
    negawatt_gate,
)
from jointuse.negawatt.repository import Agreement
from jointuse.policy.engine import Party, RelationPeriod


def register_agreement(
    uow: UnitOfWork,
    *,
    actor: Party,
    customer_id: str,
    supply_point_id: str,
    agreed_on: dt.date,
    request_id: str,
    at: dt.datetime,
    scope: str = "negawatt",
    expires_on: dt.date | None = None,
    agreement_id: str | None = None,
    gate: Gate | None = None,
    scope_purposes: tuple[str, ...] | None = None,
    scope_items: tuple[str, ...] | None = None,
    data_from: dt.date | None = None,
    data_to: dt.date | None = None,
    mailer: Mailer | None = None,
) -> Agreement:
    """A DR contractor **proposes** a customer's DR agreement for a point (the point must be
    the customer's: a retail contract of that customer for it must exist). The proposal opens
    nothing until the customer confirms it (:mod:`jointuse.negawatt.consent`); the customer's
    enrolled addresses get the wording and a code (when ``mailer`` is given).

    The proposal is the contractor's P5 write, decided with the relation it proposes (the
    ledger shows it as such); the stored agreement makes ``dr_resource`` hold only once
    confirmed. ``agreed_on`` may not lie in the future."""
    point = SupplyPointId.parse(supply_point_id).value
    if agreed_on > _aware(at).astimezone(JST).date():
        raise ValidationError(
            f"agreed_on {agreed_on} is in the future",
            field="agreed_on",
            valid=f"a day up to {_aware(at).astimezone(JST).date()}",
        )
    if data_from is not None and data_to is not None and data_to <= data_from:
        raise ValidationError(
            f"data_to {data_to} is not after data_from {data_from}",
            field="data_to",
            valid=f"a day after {data_from}, or none",
        )
    the_gate = gate or negawatt_gate()
    scope_purposes, scope_items = check_scope(
        scope_purposes, scope_items, (i.key for i in the_gate.policy.items)
    )
    if expires_on is not None and expires_on <= agreed_on:
        raise ValidationError(
            f"expires_on {expires_on} is not after agreed_on {agreed_on}",
            field="expires_on",
            valid=f"a day after {agreed_on}, or none",
        )
    if not scope.strip():
        raise ValidationError("scope must not be blank", field="scope")
    a = Agreement(
        agreement_id or uuid.uuid4().hex,
        customer_id,
        point,
        actor.code,
        agreed_on,
        scope.strip(),
        expires_on,
        scope_purposes=scope_purposes,
        scope_items=scope_items,
        data_from=data_from,
        data_to=data_to,
        wording_version=WORDING_VERSION,
    )
    start, end = agreement_period(a)

    def change(ctx: RelationContext) -> dict[str, object]:
        if not any(c.customer_id == customer_id for c in contracts_of(ctx)):
            raise ValidationError(
                f"customer {customer_id!r} has no retail contract for "
                f"{SupplyPointId(point).masked()}",
                field="customer_id",
                valid="the customer supplied at that point",
            )
        repo.insert_agreement(ctx.conn, a, at)
        evidence(ctx.conn, a, action="proposed", at=at, party_code=actor.code)
        notify_proposal(ctx.conn, mailer, a, at)
        return {}

    the_gate.write(
        uow,
        actor=actor,
        purpose=P5,
        target=TargetRef(point, customer_id),
        items=NEGAWATT_WRITE,
        request_id=request_id,
        at=_aware(at),
        change=change,
        establishes=(RelationPeriod("dr_resource", start, end),),
    )
    return a


def withdraw_agreement(
    uow: UnitOfWork,
    *,
    actor: Party,
    agreement_id: str,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> Agreement:
    """Record the customer's withdrawal: the relation ends at ``at``, from that moment on."""
    a = repo.get_agreement(uow.connection, agreement_id)
    if a is None or a.contractor_code != actor.code:
        raise NotFound(f"no DR agreement {agreement_id!r} of {actor.code}", field="agreement_id")
    if a.withdrawn_at is not None:
        raise ValidationError(
            f"agreement {agreement_id!r} was already withdrawn at {a.withdrawn_at.isoformat()}",
            field="agreement_id",
        )

    if a.state not in ("proposed", "confirmed"):
        raise ValidationError(f"agreement {agreement_id!r} is {a.state}", field="agreement_id")

    def change(ctx: RelationContext) -> dict[str, object]:
        if not repo.set_state(
            ctx.conn,
            agreement_id,
            expected=("proposed", "confirmed"),
            state="withdrawn",
            withdrawn_at=at,
        ):
            raise ValidationError(
                f"agreement {agreement_id!r} changed meanwhile", field="agreement_id"
            )
        evidence(ctx.conn, a, action="withdrawn", at=at, party_code=actor.code)
        return {}

    (gate or negawatt_gate()).write(
        uow,
        actor=actor,
        purpose=P5,
        target=TargetRef(a.supply_point_id, a.customer_id),
        items=NEGAWATT_WRITE,
        request_id=request_id,
        at=_aware(at),
        change=change,
    )
    return replace(a, withdrawn_at=at, state="withdrawn")


def register_group(uow: UnitOfWork, *, actor: Party, code: str, name: str) -> None:
    """A contractor's balancing group (no personal data: no gate decision)."""
    if actor.kind != "dr_contractor":
        raise ValidationError("only a DR contractor has balancing groups", field="actor")
    if not code.strip():
        raise ValidationError("group code must not be blank", field="code")
    if repo.group_exists(uow.connection, actor.code, code):
        raise ValidationError(f"balancing group {code!r} exists", field="code")
    repo.insert_group(uow.connection, actor.code, code, name)


def register_resource(
    uow: UnitOfWork,
    *,
    actor: Party,
    agreement_id: str,
    group_code: str,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> repo.Resource:
    """Register the agreement's point as a DR resource in one of the contractor's groups."""
    conn = uow.connection
    a = repo.get_agreement(conn, agreement_id)
    if a is None or a.contractor_code != actor.code:
        raise NotFound(f"no DR agreement {agreement_id!r} of {actor.code}", field="agreement_id")
    if not repo.group_exists(conn, actor.code, group_code):
        raise NotFound(f"no balancing group {group_code!r} of {actor.code}", field="group_code")
    r = repo.Resource(actor.code, a.supply_point_id, agreement_id, group_code)

    def change(ctx: RelationContext) -> dict[str, object]:
        repo.upsert_resource(ctx.conn, r, at)
        return {}

    (gate or negawatt_gate()).write(
        uow,
        actor=actor,
        purpose=P5,
        target=TargetRef(a.supply_point_id),
        items=NEGAWATT_WRITE,
        request_id=request_id,
        at=_aware(at),
        change=change,
    )
    return r


def contractor_portfolio(
    uow: UnitOfWork, *, actor: Party
) -> tuple[list[Agreement], list[repo.Resource]]:
    """The contractor's own DR agreements (each with its state: proposed, confirmed, withdrawn)
    and its resources, as it registered them: its own records (IDs, dates, states, groups),
    none of the customer's data behind them (no gate decision; those are read through the gate
    by the use cases that need them)."""
    if actor.kind != "dr_contractor":
        raise ValidationError("only a DR contractor has DR agreements", field="actor")
    conn = uow.connection
    resources = sorted(
        repo.resources_of(conn, actor.code).values(), key=lambda r: r.supply_point_id
    )
    return repo.agreements_for(conn, actor.code), resources
