"""Filing a flow: a switch with its 廃止取次, a move-in, a move-out, an ampere change, a customer
information change — each one unit of work through the gate.

===========================  ====================================  =================================
filing                       gate writes                           relation
===========================  ====================================  =================================
:func:`file_switch`          P1 name, address, phone (the filer's  ``applicant``, created by this
                             customer record); P2 name, address,   filing (``establishes``); the
                             contract number, supply point ID      second write finds it derived
                             (the 廃止取次)                          from the flow just filed
:func:`file_move_in`         P1 name, address, phone               ``applicant`` (established)
:func:`file_move_out`        P1 contract number (the contract it   ``contract_holder``
                             ends)
:func:`file_ampere_change`   P1 contract number                    ``contract_holder``
:func:`file_info_change`     P1 name, address, phone               ``contract_holder`` (or the TSO's
                                                                   ``basic_controller``)
===========================  ====================================  =================================

A filing the business refuses (an unknown point or one that cannot be switched, a customer ID
not the filer's, a second flow in flight — the database's rule ``uq_market_flow_one_in_flight``)
is on the ledger as allowed-then-failed (:meth:`jointuse.access.gate.Gate.write`), and its error
says what the filer may know: the rule, not another retailer's data, and not whether an ID exists
(an unknown point and a point that cannot be switched get one answer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from jointuse.access.gate import Gate
from jointuse.access.relations import RelationContext, TargetRef
from jointuse.core import conflicts
from jointuse.core.conflicts import Conflict
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.customers import repository as customers
from jointuse.customers.model import (
    Address,
    ContractKind,
    Customer,
    normalise_contract_number,
    normalise_kana,
    normalise_name,
)
from jointuse.flows import repository as repo
from jointuse.flows.common import (
    DEFAULT_SETTINGS,
    P1,
    P2,
    FlowSettings,
    deadline_after,
    filer_customer,
    generated_customer_id,
    jst_day,
    new_flow_id,
    new_forwarding_id,
)
from jointuse.flows.model import INITIAL, FlowKind
from jointuse.flows.notices import notify
from jointuse.flows.repository import Flow, Forwarding
from jointuse.policy.engine import Party, RelationPeriod

BASIC_WRITE = frozenset({"name", "address", "phone"})
FORWARDED = frozenset({"name", "address", "contract_number", "supply_point_id"})
CONTRACT = frozenset({"contract_number"})


class NotSwitchable(ValidationError):
    """One answer for an unknown point, a point without supply and a point the filer supplies
    already: the filer learns nothing about a point it has no relation to."""

    code = "point_not_switchable"


@dataclass(frozen=True, slots=True)
class Filed:
    """What a filing returns: the flow (and its 廃止取次 number for a switch)."""

    flow: Flow
    forwarding_id: str | None = None


@dataclass(frozen=True, slots=True)
class SwitchFiling:
    """A switch (スイッチング開始) with its 廃止取次, as the new retailer files it.

    ``customer`` is the customer's basic information for the new retailer's own record (a new
    record unless ``customer_id_given``: then it is the filer's existing customer). The 廃止取次
    forwards ``old_contract_number`` and the contract holder's name and the address of the point
    — by default the customer's, or ``forwarded_name``/``forwarded_address`` where they differ
    (the old contract is in another family member's name, say)."""

    supply_point_id: str
    customer: Customer
    new_contract_number: str
    old_contract_number: str
    contract_kind: ContractKind = ContractKind.STANDARD
    wished_date: date | None = None
    meter_work: bool = False
    customer_id_given: bool = False
    forwarded_name: str | None = None
    forwarded_name_kana: str | None = None
    forwarded_address: Address | None = None
    capacity_class: str = "low_voltage"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "new_contract_number", normalise_contract_number(self.new_contract_number)
        )
        object.__setattr__(
            self, "old_contract_number", normalise_contract_number(self.old_contract_number)
        )
        if self.forwarded_name is not None:
            object.__setattr__(
                self, "forwarded_name", normalise_name(self.forwarded_name, field="forwarded_name")
            )
        if self.forwarded_name_kana is not None:
            object.__setattr__(
                self,
                "forwarded_name_kana",
                normalise_kana(self.forwarded_name_kana, field="forwarded_name_kana"),
            )


@dataclass(frozen=True, slots=True)
class MoveInFiling:
    """A move-in (再点) of a point without supply; ``wished_date`` may lie up to the retroactive
    limit in the past (遡及再点)."""

    supply_point_id: str
    customer: Customer
    new_contract_number: str
    wished_date: date
    contract_kind: ContractKind = ContractKind.STANDARD
    meter_work: bool = False
    customer_id_given: bool = False
    capacity_class: str = "low_voltage"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "new_contract_number", normalise_contract_number(self.new_contract_number)
        )


def _check_new_number(conn: Connection, actor: str, number: str) -> None:
    """A contract number the filer uses already is refused at filing, not at completion."""
    if customers.get_contract(conn, actor, number) is not None:
        raise Conflict(
            f"refused by the rule: {conflicts.rules()['pk_retail_contract']} ({number})",
            rule="pk_retail_contract",
        )


def new_customer(customer: Customer | None = None, **basic: Any) -> Customer:
    """A customer record with a generated ID (or ``customer`` as given)."""
    if customer is not None:
        return customer
    return Customer.create(customer_id=generated_customer_id(), **basic)


def _check_wished(wished: date | None, at: datetime, *, back: int = 0) -> None:
    if wished is None:
        return
    today = jst_day(at)
    if wished < today - timedelta(days=back):
        valid = f"{today - timedelta(days=back)} or later"
        raise ValidationError(
            f"wished_date {wished} is in the past", field="wished_date", valid=valid
        )
    if wished > today + timedelta(days=400):
        raise ValidationError(
            f"wished_date {wished} is more than 400 days ahead",
            field="wished_date",
            valid=f"a date up to {today + timedelta(days=400)}",
        )


def file_switch(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    filing: SwitchFiling,
    request_id: str,
    at: datetime,
    settings: FlowSettings = DEFAULT_SETTINGS,
) -> Filed:
    """The new retailer files a switch with its 廃止取次 to the point's current retailer."""
    _check_wished(filing.wished_date, at)
    point = TargetRef(filing.supply_point_id, filing.customer.customer_id).supply_point_id or ""
    flow_id = new_flow_id()
    made: list[Flow] = []

    def file(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        current = customers.contract_on(conn, point, jst_day(at))
        if (
            customers.get_supply_point(conn, point) is None
            or current is None
            or current.retailer_code == actor.code
        ):
            raise NotSwitchable(
                f"supply point {point} cannot be switched to you: check the supply point ID on "
                "the customer's bill; for a point without supply file a move-in",
                field="supply_point_id",
            )
        _check_new_number(conn, actor.code, filing.new_contract_number)
        customer_id = filer_customer(
            conn, actor.code, filing.customer, given_id=filing.customer_id_given, at=at
        )
        flow = Flow(
            id=flow_id,
            kind=FlowKind.SWITCH,
            state=INITIAL[FlowKind.SWITCH],
            supply_point_id=point,
            filed_by=actor.code,
            filed_at=at,
            updated_at=at,
            counterpart=current.retailer_code,
            customer_id=customer_id,
            contract_number=filing.new_contract_number,
            contract_kind=filing.contract_kind.value,
            wished_date=filing.wished_date,
            meter_work=filing.meter_work,
            details={"capacity_class": filing.capacity_class},
            deadline=deadline_after(at, settings.judgement_business_days, settings),
        )
        repo.insert_flows(conn, [flow], actor=actor.code, reason="filed")
        made.append(flow)
        return {"flow_id": flow_id}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(point, filing.customer.customer_id),
        items=BASIC_WRITE,
        request_id=request_id,
        at=at,
        change=file,
        establishes=(RelationPeriod("applicant", at),),
    )
    flow = made[0]
    customer = filing.customer
    address = filing.forwarded_address or customer.address
    forwarding = Forwarding(
        id=new_forwarding_id(),
        flow_id=flow.id,
        old_retailer=flow.counterpart or "",
        old_contract_number=filing.old_contract_number,
        name=filing.forwarded_name or customer.name,
        name_kana=filing.forwarded_name_kana
        if filing.forwarded_name is not None
        else customer.name_kana,
        postal_code=address.postal_code.value,
        prefecture=address.prefecture,
        address_rest=address.rest,
        wished_date=filing.wished_date,
        forwarded_at=at,
    )

    def forward(ctx: RelationContext) -> dict[str, object]:
        repo.insert_forwardings(ctx.conn, [forwarding])
        notify(ctx.conn, flow, "forwarding_received", at, to=[forwarding.old_retailer])
        notify(ctx.conn, flow, "flow_filed", at, to=["occto", "area_tso"])
        return {"forwarding_id": forwarding.id}

    gate.write(
        uow,
        actor=actor,
        purpose=P2,
        target=TargetRef(point, customer.customer_id, flow.id),
        items=FORWARDED,
        request_id=request_id,
        at=at,
        change=forward,
    )
    return Filed(flow, forwarding.id)


def file_move_in(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    filing: MoveInFiling,
    request_id: str,
    at: datetime,
    settings: FlowSettings = DEFAULT_SETTINGS,
) -> Filed:
    """A retailer files a move-in (再点) for a point without supply; a wished date in the past
    (遡及再点) is allowed up to ``settings.retroactive_days`` back, when the point was without
    supply over the whole time since."""
    _check_wished(filing.wished_date, at, back=settings.retroactive_days)
    point = TargetRef(filing.supply_point_id).supply_point_id or ""
    today = jst_day(at)
    start = min(filing.wished_date, today)
    made: list[Flow] = []

    def file(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        busy = [
            c
            for c in customers.contracts_for(conn, supply_point_id=point)
            if c.valid_to is None or c.valid_to > start
        ]
        if customers.get_supply_point(conn, point) is None or busy:
            raise NotSwitchable(
                f"supply point {point} cannot take a move-in from {start}: a move-in is for a "
                "point without supply (for a supplied point file a switch)",
                field="supply_point_id",
            )
        _check_new_number(conn, actor.code, filing.new_contract_number)
        customer_id = filer_customer(
            conn, actor.code, filing.customer, given_id=filing.customer_id_given, at=at
        )
        flow = Flow(
            id=new_flow_id(),
            kind=FlowKind.MOVE_IN,
            state=INITIAL[FlowKind.MOVE_IN],
            supply_point_id=point,
            filed_by=actor.code,
            filed_at=at,
            updated_at=at,
            customer_id=customer_id,
            contract_number=filing.new_contract_number,
            contract_kind=filing.contract_kind.value,
            wished_date=filing.wished_date,
            meter_work=filing.meter_work,
            details={
                "retroactive": filing.wished_date < today,
                "capacity_class": filing.capacity_class,
            },
            deadline=deadline_after(at, settings.dated_flow_business_days, settings),
        )
        repo.insert_flows(conn, [flow], actor=actor.code, reason="filed")
        notify(conn, flow, "flow_filed", at, to=["occto", "area_tso"])
        made.append(flow)
        return {"flow_id": flow.id}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(point, filing.customer.customer_id),
        items=BASIC_WRITE,
        request_id=request_id,
        at=at,
        change=file,
        establishes=(RelationPeriod("applicant", at),),
    )
    return Filed(made[0])


def _holder_filing(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    kind: FlowKind,
    supply_point_id: str,
    wished_date: date | None,
    details: dict[str, Any],
    request_id: str,
    at: datetime,
    settings: FlowSettings,
    meter_work: bool = False,
) -> Filed:
    """A flow the retailer holding the point's contract files (move-out, ampere change)."""
    _check_wished(wished_date, at)
    point = TargetRef(supply_point_id).supply_point_id or ""
    made: list[Flow] = []

    def file(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        # The gate allowed it through contract_holder: the actor's contract is in force.
        own = customers.contract_on(conn, point, jst_day(at))
        if own is None or own.retailer_code != actor.code:
            raise NotSwitchable(f"you hold no contract of {point} today", field="supply_point_id")
        if own.valid_to is not None and kind is FlowKind.MOVE_OUT:
            raise ValidationError(
                f"the contract of {point} ends on {own.valid_to} already",
                field="supply_point_id",
                valid="a point whose contract has no end date",
            )
        flow = Flow(
            id=new_flow_id(),
            kind=kind,
            state=INITIAL[kind],
            supply_point_id=point,
            filed_by=actor.code,
            filed_at=at,
            updated_at=at,
            customer_id=own.customer_id,
            contract_number=own.contract_number,
            contract_kind=own.kind.value,
            wished_date=wished_date,
            meter_work=meter_work,
            details=details,
            deadline=deadline_after(at, settings.dated_flow_business_days, settings),
        )
        repo.insert_flows(conn, [flow], actor=actor.code, reason="filed")
        notify(conn, flow, "flow_filed", at, to=["occto", "area_tso"])
        made.append(flow)
        return {"flow_id": flow.id}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(point),
        items=CONTRACT,
        request_id=request_id,
        at=at,
        change=file,
    )
    return Filed(made[0])


def file_move_out(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    supply_point_id: str,
    wished_date: date,
    meter_removal: bool,
    request_id: str,
    at: datetime,
    settings: FlowSettings = DEFAULT_SETTINGS,
) -> Filed:
    """The retailer holding the point's contract files its end (廃止), with or without meter
    removal (撤去)."""
    return _holder_filing(
        uow,
        gate=gate,
        actor=actor,
        kind=FlowKind.MOVE_OUT,
        supply_point_id=supply_point_id,
        wished_date=wished_date,
        details={"meter_removal": meter_removal},
        request_id=request_id,
        at=at,
        settings=settings,
        meter_work=meter_removal,
    )


def file_ampere_change(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    supply_point_id: str,
    current_limit: int,
    wished_date: date | None,
    request_id: str,
    at: datetime,
    settings: FlowSettings = DEFAULT_SETTINGS,
) -> Filed:
    """The retailer holding the point's contract files a change of the current limit
    (アンペア変更); the TSO changes it on the date it fixes."""
    if isinstance(current_limit, bool) or not 1 <= current_limit <= 10_000:
        raise ValidationError(
            f"current_limit {current_limit!r} is out of range",
            field="current_limit",
            valid="an integer from 1 to 10000 (A)",
        )
    return _holder_filing(
        uow,
        gate=gate,
        actor=actor,
        kind=FlowKind.AMPERE_CHANGE,
        supply_point_id=supply_point_id,
        wished_date=wished_date,
        details={"current_limit": current_limit},
        request_id=request_id,
        at=at,
        settings=settings,
        meter_work=True,
    )


@dataclass(frozen=True, slots=True)
class InfoChange:
    """New basic information of the customer at a point (需要者情報変更): what is given."""

    name: str | None = None
    name_kana: str | None = None
    address: Address | None = None
    phone: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def applied_to(self, customer: Customer) -> Customer:
        from jointuse.customers.model import PhoneNumber, normalise_kana, normalise_name

        changes: dict[str, Any] = {}
        if self.name is not None:
            changes["name"] = normalise_name(self.name)
        if self.name_kana is not None:
            changes["name_kana"] = normalise_kana(self.name_kana)
        if self.address is not None:
            changes["address"] = self.address
        if self.phone is not None:
            changes["phone"] = PhoneNumber.parse(self.phone)
        if not changes:
            raise ValidationError(
                "an information change names at least one item",
                field="name",
                valid="name, name_kana, address and/or phone",
            )
        return dataclasses.replace(customer, **changes)


def file_info_change(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    supply_point_id: str,
    change: InfoChange,
    request_id: str,
    at: datetime,
) -> Filed:
    """需要者情報変更: the customer's new name, address or phone, routed to the controller of
    their basic information — the retailer holding the contract, or the TSO for remote-island
    and last-resort supply. The gate lets only that controller write them (``contract_holder``
    or ``basic_controller``); the controller's filing is accepted at once, and the area's TSO
    and OCCTO are told (they read the new data through the gate when their work needs it)."""
    from jointuse.flows.model import Step, next_state

    point = TargetRef(supply_point_id).supply_point_id or ""
    made: list[Flow] = []

    def apply(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        contract = customers.contract_on(conn, point, jst_day(at))
        customer = customers.get_customer(conn, contract.customer_id) if contract else None
        if contract is None or customer is None:
            raise NotSwitchable(
                f"no contract of {point} is in force today", field="supply_point_id"
            )
        customers.update_customer(conn, change.applied_to(customer))
        flow = Flow(
            id=new_flow_id(),
            kind=FlowKind.INFO_CHANGE,
            state=INITIAL[FlowKind.INFO_CHANGE],
            supply_point_id=point,
            filed_by=actor.code,
            filed_at=at,
            updated_at=at,
            customer_id=customer.customer_id,
            contract_number=contract.contract_number,
            contract_kind=contract.kind.value,
        )
        repo.insert_flows(conn, [flow], actor=actor.code, reason="filed by the controller")
        to = next_state(flow.kind, flow.state, Step.ACCEPT, flow_id=flow.id)
        done = repo.move(conn, flow, Step.ACCEPT, to, actor=actor.code, at=at, terminal=True)
        notify(conn, done, "info_changed", at, to=["area_tso", "occto"])
        made.append(done)
        return {"flow_id": flow.id}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(point),
        items=BASIC_WRITE,
        request_id=request_id,
        at=at,
        change=apply,
    )
    return Filed(made[0])
