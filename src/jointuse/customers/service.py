"""Use cases of the customer / supply-point registry, each through the gate.

The HTTP API and the CLI call these; none touches a table except through
:class:`~jointuse.access.gate.Gate` (which decides, loads or changes, and records on the ledger
in the caller's :class:`~jointuse.core.db.UnitOfWork`). Every use case takes the acting
``actor`` (a :class:`~jointuse.policy.engine.Party`, from ``parties`` authentication), a
``request_id`` and the moment ``at`` (timezone-aware).

Units of work: the use cases take the caller's :class:`~jointuse.core.db.UnitOfWork`, so that
several compose in one transaction. This layer opens them: :func:`as_caller` runs one request
(authenticate on the transaction's connection, then the use case) in a unit of work of its own;
the routes and the CLI never open one themselves (an architecture test holds them to it).

===============================  ==============================  ==================================
use case                         purpose / action / items        relation that allows it
===============================  ==============================  ==================================
:func:`register_customer`        P1 write basic (4 items)        ``contract_holder``, established
                                                                 by the contract being registered
:func:`record_application`       P1 write name, address, phone   ``applicant``, established by the
                                                                 application being recorded
:func:`save_supply_point`        P4 (or P1) write supply_point   ``area_tso`` (the point's TSO)
:func:`supply_point_inquiry`     P3 read supply_point            ``applicant`` (retailer),
                                 (設備情報照会)                  ``switching_operator`` (OCCTO)
:func:`tso_customer_lookup`      P4 read name, address, phone    ``area_tso``
:func:`read_basic`               any purpose, read basic         whatever the policy says
===============================  ==============================  ==================================

Why P1 for a retailer's own registrations: the retailer is the controller (管理責任者) of its
customers' basic items; the policy lets a retailer *write* basic items only under P1, through
``contract_holder`` or ``applicant``. A registration creates exactly that relation, so the
use case asserts it (``Gate.write(establishes=…)``) — only for the acting retailer and only from
the record being written; the decision (rule ``P1-retailer``, relation) is on the ledger.

:func:`bulk_load` is **administrative seeding** for the demo-data command only: it inserts
customers, contracts and supply points with executemany, bypasses the policy (there is no party
request to decide), reads no personal data, and records exactly one ledger entry for the bulk
write by the operator (purpose ``admin:bulk_load``). Nothing else may call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine

from jointuse.access.gate import Gate, GateParts, GateResult, LoadContext, Loader, LoaderKey
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import repository
from jointuse.customers.model import (
    BASIC_ITEM_KEYS,
    SUPPLY_POINT_ITEM_KEYS,
    Customer,
    RetailContract,
    SupplyPoint,
)
from jointuse.customers.relations import (
    RelationContext,
    TargetRef,
    contracts_in_force,
    jst_midnight,
    provided_relations,
    target_facts,
)
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.policy.engine import Party, RelationPeriod

P1 = "P1_wheeling"
P3 = "P3_supply_point_confirmation"
P4 = "P4_tso_operations"
BULK_PURPOSE = "admin:bulk_load"
TSO_LOOKUP_ITEMS = frozenset({"name", "address", "phone"})


# --- loaders (what the gate calls after an allowed read) -------------------------------------


def _contracts_seen(ctx: LoadContext) -> list[RetailContract]:
    """Contracts in force at ``at``; a retailer sees only its own (as contract holder or as
    applicant: "basic of its own customer" — never the contract number of the retailer it is
    taking the point over from). Time slicing: the allowing relation holds at ``at``, so these
    lie in its period."""
    rc = ctx.relations
    own = rc.party.code if rc.party.kind == "retailer" else None
    return contracts_in_force(rc, own)


def load_basic(ctx: LoadContext) -> dict[str, object]:
    """Basic items (基本情報) of the target's customer, with the number of the contract in force."""
    rc = ctx.relations
    contracts = _contracts_seen(ctx)
    contract = contracts[0] if contracts else None
    customer_id = rc.target.customer_id or (contract.customer_id if contract else None)
    if customer_id is None and ctx.decision.relation == "applicant":
        pending = [
            a
            for a in repository.applications_for(
                rc.conn, retailer_code=rc.party.code, supply_point_id=rc.target.supply_point_id
            )
            if a.status == "pending"
        ]
        customer_id = pending[-1].customer_id if pending else None
    customer = repository.get_customer(rc.conn, customer_id) if customer_id else None
    if customer is None:
        raise NotFound(
            f"no customer found for {rc.target.supply_point_id or customer_id} "
            f"at {rc.at.isoformat()}",
            supply_point_id=rc.target.supply_point_id,
            customer_id=rc.target.customer_id,
        )
    if contract is not None and contract.customer_id == customer.customer_id:
        return customer.basic_items(contract.contract_number)
    items = customer.basic_items("-")
    items["contract_number"] = None
    return items


def load_supply_point(ctx: LoadContext) -> dict[str, object]:
    """The sixteen supply-point items of the target's point (or of its customer's contract)."""
    rc = ctx.relations
    point_id = rc.target.supply_point_id
    if point_id is None:
        contracts = _contracts_seen(ctx)
        point_id = contracts[0].supply_point_id.value if contracts else None
    point = repository.get_supply_point(rc.conn, point_id) if point_id else None
    if point is None:
        raise NotFound(
            f"supply point {point_id or '(none in force for the customer)'} is not registered",
            supply_point_id=point_id,
        )
    return point.items()


def default_loaders() -> dict[LoaderKey, Loader]:
    """The loaders of the categories this area holds: ``basic`` and ``supply_point``."""
    return {"basic": load_basic, "supply_point": load_supply_point}


def gate_parts() -> GateParts:
    """What this area plugs into the gate (:func:`jointuse.assembly.build_gate`): the relations
    of :mod:`jointuse.customers.relations`, the loaders of ``basic`` and ``supply_point``, and
    the target facts (the contract in force) controllers need."""
    return GateParts(
        relations=provided_relations(), loaders=default_loaders(), target_facts=target_facts
    )


_Caller = TypeVar("_Caller")
_Result = TypeVar("_Result")


def as_caller(
    engine: Engine,
    authenticate: Callable[[Connection], _Caller],
    use_case: Callable[[UnitOfWork, _Caller], _Result],
) -> _Result:
    """Run one request in one transaction: open a unit of work, establish the caller on its
    connection (``authenticate`` raises to refuse, before anything is read or recorded), run
    ``use_case`` with both, and commit when it returns (roll back when it raises; a policy
    refusal has committed its ledger entry already, see :mod:`jointuse.access.gate`)."""
    with UnitOfWork(engine) as uow:
        return use_case(uow, authenticate(uow.connection))


# --- writes -----------------------------------------------------------------------------------


def register_customer(
    uow: UnitOfWork,
    *,
    actor: Party,
    customer: Customer,
    contract: RetailContract,
    request_id: str,
    at: datetime,
    gate: Gate,
) -> GateResult:
    """A retailer registers its customer and their retail contract (P1 write of basic items).

    Refused (``ValidationError``, nothing written, no ledger entry) when the contract names
    another customer, the supply point is not registered, the customer id belongs to another
    retailer's record, or another contract of the point overlaps (a switch goes through the
    switching flow). A pending application of this retailer for the point is completed.
    """
    if contract.customer_id != customer.customer_id:
        raise ValidationError(
            f"the contract is for customer {contract.customer_id!r}, not {customer.customer_id!r}",
            field="customer_id",
            valid=customer.customer_id,
        )
    establishes: tuple[RelationPeriod, ...] = ()
    if actor.kind == "retailer" and contract.retailer_code == actor.code:
        start = min(at, jst_midnight(contract.valid_from))
        end = jst_midnight(contract.valid_to) if contract.valid_to else None
        if end is None or end > start:
            establishes = (RelationPeriod("contract_holder", start, end),)

    def change(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        point_id = contract.supply_point_id.value
        if repository.get_supply_point(conn, point_id) is None:
            raise NotFound(
                f"supply point {point_id} is not registered; its TSO registers it first",
                supply_point_id=point_id,
            )
        creator = repository.customer_creator(conn, customer.customer_id)
        if creator is None:
            repository.insert_customer(conn, customer, created_by=actor.code, created_at=at)
        elif creator == actor.code:
            repository.update_customer(conn, customer)
        else:
            raise ValidationError(
                f"customer id {customer.customer_id!r} is taken; choose another id",
                field="customer_id",
                valid="an id not yet registered",
            )
        overlapping = repository.overlapping_contracts(conn, contract)
        if overlapping:
            first = overlapping[0]
            raise ValidationError(
                f"supply point {point_id} already has a contract from {first.valid_from} to "
                f"{first.valid_to or 'open'} overlapping {contract.valid_from}–"
                f"{contract.valid_to or 'open'}; a switch goes through the switching flow",
                field="valid_from",
                valid=f"a period not overlapping {first.valid_from}–{first.valid_to or 'open'}",
            )
        repository.insert_contract(conn, contract)
        completed = [
            a.application_id
            for a in repository.applications_for(
                conn, retailer_code=actor.code, supply_point_id=point_id
            )
            if a.status == "pending" and a.customer_id == customer.customer_id
        ]
        for application_id in completed:
            repository.close_application(conn, application_id, "completed", at)
        return {
            **customer.basic_items(contract.contract_number),
            "applications_completed": completed,
        }

    return gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(contract.supply_point_id.value, customer.customer_id),
        items=frozenset(BASIC_ITEM_KEYS),
        request_id=request_id,
        at=at,
        change=change,
        establishes=establishes,
    )


def record_application(
    uow: UnitOfWork,
    *,
    actor: Party,
    customer: Customer,
    supply_point_id: str,
    request_id: str,
    at: datetime,
    application_id: str | None = None,
    gate: Gate,
) -> GateResult:
    """A customer applies to the retailer ``actor`` for a supply point (供給申込).

    The retailer records the customer's details (its own record: a P1 write of name, address,
    phone) and the pending application, which makes it the point's ``applicant`` (opening P3
    for it). ``data`` holds ``application_id``. One pending application per retailer and point.
    """
    target = TargetRef(supply_point_id, customer.customer_id)
    target_point = SupplyPointId.parse(supply_point_id)
    point_id = target_point.value
    app_id = application_id or str(uuid.uuid4())
    establishes: tuple[RelationPeriod, ...] = ()
    if actor.kind == "retailer":
        establishes = (RelationPeriod("applicant", at),)

    def change(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        if repository.get_supply_point(conn, point_id) is None:
            raise NotFound(f"supply point {point_id} is not registered", supply_point_id=point_id)
        pending = [
            a
            for a in repository.applications_for(
                conn, retailer_code=actor.code, supply_point_id=point_id
            )
            if a.status == "pending"
        ]
        if pending:
            raise ValidationError(
                f"an application to {actor.code} for {point_id} is already pending "
                f"({pending[0].application_id})",
                field="supply_point_id",
                valid="a point without a pending application to this retailer",
            )
        creator = repository.customer_creator(conn, customer.customer_id)
        if creator is None:
            repository.insert_customer(conn, customer, created_by=actor.code, created_at=at)
        elif creator == actor.code:
            repository.update_customer(conn, customer)
        else:
            raise ValidationError(
                f"customer id {customer.customer_id!r} is taken; choose another id",
                field="customer_id",
                valid="an id not yet registered",
            )
        repository.insert_application(
            conn,
            repository.SupplyApplication(
                app_id, actor.code, customer.customer_id, target_point, applied_at=at
            ),
        )
        return {"application_id": app_id, "status": "pending"}

    return gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=target,
        items=frozenset({"name", "address", "phone"}),
        request_id=request_id,
        at=at,
        change=change,
        establishes=establishes,
    )


def save_supply_point(
    uow: UnitOfWork,
    *,
    actor: Party,
    point: SupplyPoint,
    request_id: str,
    at: datetime,
    purpose: str = P4,
    gate: Gate,
) -> GateResult:
    """The area's TSO registers or updates a supply point (controller of supply-point items;
    P4 by default, or P1 when it is part of a wheeling contract change). ``data`` has
    ``created``."""

    def change(ctx: RelationContext) -> dict[str, object]:
        created = repository.save_supply_point(
            ctx.conn, point, updated_by=actor.code, updated_at=at
        )
        return {"created": created}

    return gate.write(
        uow,
        actor=actor,
        purpose=purpose,
        target=TargetRef(point.supply_point_id.value),
        items=frozenset(SUPPLY_POINT_ITEM_KEYS),
        request_id=request_id,
        at=at,
        change=change,
    )


# --- reads ------------------------------------------------------------------------------------


def supply_point_inquiry(
    uow: UnitOfWork,
    *,
    actor: Party,
    supply_point_id: str,
    request_id: str,
    at: datetime,
    items: frozenset[str] | None = None,
    gate: Gate,
) -> GateResult:
    """P3 supply point inquiry by ID (設備情報照会): only the items the policy grants the actor
    (all sixteen for the applicant retailer; four for a DR contractor once DR resources exist)."""
    return gate.read(
        uow,
        actor=actor,
        purpose=P3,
        target=TargetRef(supply_point_id),
        items=items,
        request_id=request_id,
        at=at,
    )


def tso_customer_lookup(
    uow: UnitOfWork,
    *,
    actor: Party,
    supply_point_id: str,
    request_id: str,
    at: datetime,
    gate: Gate,
) -> GateResult:
    """P4: the TSO of the area reads name, address and phone of the customer behind a point
    (the customer of the contract in force at ``at``)."""
    return gate.read(
        uow,
        actor=actor,
        purpose=P4,
        target=TargetRef(supply_point_id),
        items=TSO_LOOKUP_ITEMS,
        request_id=request_id,
        at=at,
    )


def read_basic(
    uow: UnitOfWork,
    *,
    actor: Party,
    purpose: str | None,
    request_id: str,
    at: datetime,
    supply_point_id: str | None = None,
    customer_id: str | None = None,
    items: frozenset[str] | None = None,
    gate: Gate,
) -> GateResult:
    """Read a customer's data under ``purpose`` (e.g. a retailer, P1, its own customer)."""
    return gate.read(
        uow,
        actor=actor,
        purpose=purpose,
        target=TargetRef(supply_point_id, customer_id),
        items=items,
        request_id=request_id,
        at=at,
    )


# --- administrative seeding -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkLoadResult:
    customers: int
    contracts: int
    supply_points: int
    ledger_seq: int


def bulk_load(
    engine: Engine,
    customers: Sequence[Customer],
    contracts: Sequence[RetailContract],
    supply_points: Sequence[SupplyPoint],
    *,
    operator: str = "jointuse-operator",
    request_id: str | None = None,
    at: datetime | None = None,
    chunk_size: int = 5000,
) -> BulkLoadResult:
    """Seed the registry in one transaction (demo data only; see the module docstring).

    A customer is recorded as created by the retailer of its first contract (else ``operator``).
    One ledger entry (party ``operator``, purpose ``admin:bulk_load``, action write, allowed,
    the items written) records the whole load.
    """
    moment = at or datetime.now(UTC)
    created_by: dict[str, str] = {}
    for c in contracts:
        created_by.setdefault(c.customer_id, c.retailer_code)
    with UnitOfWork(engine) as uow:
        counts = repository.bulk_insert(
            uow.connection,
            customers=customers,
            contracts=contracts,
            supply_points=supply_points,
            created_by=created_by,
            operator=operator,
            at=moment,
            chunk_size=chunk_size,
        )
        written = (BASIC_ITEM_KEYS if customers else ()) + (
            SUPPLY_POINT_ITEM_KEYS if supply_points else ()
        )
        seq = append(
            uow.session,
            LedgerEntry(
                party=operator,
                purpose=BULK_PURPOSE,
                action="write",
                decision="allowed",
                items_granted=tuple(written),
                rule_id=BULK_PURPOSE,
                request_id=request_id or f"bulk-load-{uuid.uuid4()}",
            ),
        )
    return BulkLoadResult(*counts, ledger_seq=seq)
