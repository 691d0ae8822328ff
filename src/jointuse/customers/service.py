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
:func:`save_supply_point`        P4 (or P1) write supply_point   ``area_tso`` (the point's TSO)
:func:`supply_point_inquiry`     P3 read supply_point            ``applicant`` (retailer),
                                 (設備情報照会)                  ``switching_operator`` (OCCTO)
:func:`tso_customer_lookup`      P4 read name, address, phone    ``area_tso``
:func:`read_basic`               any purpose, read basic         whatever the policy says
===============================  ==============================  ==================================

No retailer writes contract periods: contracts begin and end only through completed market
flows (:mod:`jointuse.flows`: switch, move-in, move-out), and the contracts existing at go-live
come in through :mod:`jointuse.customers.imports`, run by the area's TSO or the platform
operator (the CLI's ``jointuse contracts import``), one ledger entry per contract.

:func:`bulk_load` is **administrative seeding** for the demo-data command only: it inserts
customers, contracts and supply points with executemany, bypasses the policy (there is no party
request to decide), reads no personal data, and records exactly one ledger entry for the bulk
write by the operator (purpose ``admin:bulk_load``). Nothing else may call it.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
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
    provided_relations,
    target_facts,
)
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.policy.engine import Party
from jointuse.policy.model import Policy

P1 = "P1_wheeling"
P3 = "P3_supply_point_confirmation"
P4 = "P4_tso_operations"
BULK_PURPOSE = "admin:bulk_load"
TSO_LOOKUP_ITEMS = frozenset({"name", "address", "phone"})


# --- loaders (what the gate calls after an allowed read) -------------------------------------


def _contracts_seen(ctx: LoadContext) -> list[RetailContract]:
    """Contracts in force at ``at`` that the allowing relation covers: a retailer sees only its
    own (as contract holder or as applicant: "basic of its own customer" — never the contract
    number of the retailer it is taking the point over from); a TSO only those of points in its
    area (a customer with points in two areas: the other TSO's contract is not its business).
    Time slicing: the allowing relation holds at ``at``, so these lie in its period."""
    rc = ctx.relations
    party = rc.party
    if party.kind == "retailer":
        return contracts_in_force(rc, party.code)
    found = contracts_in_force(rc)
    if party.kind == "tso":
        found = [c for c in found if c.supply_point_id.tso_code == party.code]
    return found


def load_basic(ctx: LoadContext) -> dict[str, object]:
    """Basic items (基本情報) of the target's customer, with the number of the contract in force."""
    rc = ctx.relations
    contracts = _contracts_seen(ctx)
    contract = contracts[0] if contracts else None
    t = rc.target
    customer_id = t.customer_id or (contract.customer_id if contract else None)
    if (
        contract is None
        and t.supply_point_id is not None
        and ctx.decision.relation != "applicant"  # the filed flow names its customer
    ):
        # Point and customer named, no contract of theirs in force that the relation covers:
        # the customer is not this point's (a TSO of the area must not read any customer by
        # pairing them with one of its points).
        customer_id = None
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


def gate_parts(policy: Policy | None = None) -> GateParts:
    """What this area plugs into the gate (:func:`jointuse.assembly.build_gate`): the relations
    of :mod:`jointuse.customers.relations` (with ``policy``'s parameters), the loaders of
    ``basic`` and ``supply_point``, and the target facts (the contract in force) controllers
    need."""
    return GateParts(
        relations=provided_relations(policy), loaders=default_loaders(), target_facts=target_facts
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
    ``created``. The point's ``meter_reading_day`` is a 検針日 code of its TSO's schedule
    (:mod:`jointuse.flows.dates`): a code the TSO does not use is refused, naming the valid ones
    (refused after the decision, so the refusal is on the ledger)."""

    def change(ctx: RelationContext) -> dict[str, object]:
        _check_reading_day(point)
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


def _check_reading_day(point: SupplyPoint) -> None:
    """A point's ``meter_reading_day`` must be a 検針日 code of its TSO's schedule."""
    if point.meter_reading_day is None:
        return
    from jointuse.flows.dates import reading_codes

    codes = reading_codes(point.supply_point_id.tso_code)
    if f"{point.meter_reading_day:02d}" not in codes:
        raise ValidationError(
            f"meter_reading_day {point.meter_reading_day} is not a 検針日 code of "
            f"{point.supply_point_id.tso_code}'s schedule",
            field="meter_reading_day",
            valid=[int(c) for c in codes],
        )


EDITABLE_POINT_ITEMS = ("current_limit", "meter_reading_day", "contract_state")
"""The items the TSO's console changes on a point (:func:`change_supply_point_items`)."""


def _form_int(field: str, text: str) -> int | None:
    value = unicodedata.normalize("NFKC", text).strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValidationError(
            f"{field}: {text[:20]!r} is not a whole number", field=field, valid="digits, or empty"
        )
    return int(value)


def change_supply_point_items(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    supply_point_id: str,
    changes: Mapping[str, str],
    request_id: str,
    at: datetime,
    purpose: str = P4,
) -> GateResult:
    """The area's TSO changes some items of a registered point (the console's form: text,
    NFKC-normalised; an empty number is "none"): only :data:`EDITABLE_POINT_ITEMS`, each checked
    as a whole point is (:class:`SupplyPoint`, the 検針日 schedule). Through the gate as a write
    of exactly the items given; an unknown point is refused after the decision (on the ledger,
    without saying whether the ID exists elsewhere). ``data``: ``changed``, the items whose
    value differs."""
    unknown = sorted(set(changes) - set(EDITABLE_POINT_ITEMS))
    if unknown or not changes:
        raise ValidationError(
            f"items {unknown} cannot be changed here" if unknown else "no item to change",
            field=unknown[0] if unknown else "items",
            valid=list(EDITABLE_POINT_ITEMS),
        )
    point_id = SupplyPointId.parse(supply_point_id)
    parsed: dict[str, object] = {}
    for key, text in changes.items():
        if key == "contract_state":
            parsed[key] = unicodedata.normalize("NFKC", text).strip()
        else:
            parsed[key] = _form_int(key, text)

    def change(ctx: RelationContext) -> dict[str, object]:
        current = repository.get_supply_point(ctx.conn, point_id.value)
        if current is None:
            raise NotFound(f"no supply point {point_id.value} of yours", field="supply_point_id")
        updated = replace(current, **parsed)  # type: ignore[arg-type]  # checked by the point
        _check_reading_day(updated)
        repository.save_supply_point(ctx.conn, updated, updated_by=actor.code, updated_at=at)
        return {"changed": sorted(k for k in parsed if getattr(current, k) != parsed[k])}

    return gate.write(
        uow,
        actor=actor,
        purpose=purpose,
        target=TargetRef(point_id.value),
        items=frozenset(parsed),
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
