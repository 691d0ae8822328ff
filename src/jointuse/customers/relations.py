"""Relations the customer registry derives (the gate's hot path).

The policy engine decides on relations (``policy.engine.RelationPeriod``); each area derives the
ones it knows from its own records and hands a provider for each to the gate
(:mod:`jointuse.access.relations`). This area's:

========================  ===========================================================  =========
relation                  holds when                                                   queries
========================  ===========================================================  =========
``contract_holder``       the retailer's retail contracts of the point (and/or          1 (shared)
                          customer), each over ``[valid_from, valid_to)`` at JST
                          midnight: time-sliced, so after a switch the old retailer
                          keeps its period and nothing newer. Contracts are written
                          only by completed flows (:mod:`jointuse.flows`) and the
                          operator's import at go-live — never by the retailer
``area_tso``              the party is the TSO of the point's area                     0 (point)
                          (``parties.reference.tso_for_area``); for a customer-only
                          target, over the periods of the customer's contracts in its
                          area
``basic_controller``      the TSO of the area, over the periods of the target's         1 (shared)
                          remote-island and last-resort contracts (it answers for
                          those customers' basic information)
========================  ===========================================================  =========

``applicant``, ``forwarding_addressee`` and ``switching_operator`` are derived from market flows
(:mod:`jointuse.flows.relations`); ``dr_resource`` from DR agreements
(:mod:`jointuse.negawatt.relation`).

Providers return nothing (and query nothing) for party kinds the relation does not concern, so
a request costs at most one indexed query per relation kind; the contracts of the target are
loaded once per request (:func:`contracts_of`, in the request's memo) and shared by
``contract_holder``, ``area_tso``, the engine's target facts (:func:`target_facts`: contract kind
and retailer, for controllers) and the gate's loaders. The area hands all of it to the gate as
:class:`~jointuse.access.gate.GateParts` (:func:`jointuse.customers.service.gate_parts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from jointuse.access.relations import (
    ALWAYS,
    RelationContext,
    RelationProvider,
    RelationRegistry,
    TargetRef,
    jst_midnight,
)
from jointuse.customers import repository
from jointuse.customers.model import TSO_CONTROLLED_KINDS, RetailContract
from jointuse.parties.reference import tso_for_area
from jointuse.policy.engine import Party, RelationPeriod, Scope, Target
from jointuse.policy.model import Policy

__all__ = [
    "ALWAYS",
    "RelationContext",
    "TargetRef",
    "area_tso",
    "contract_holder",
    "contracts_in_force",
    "contracts_of",
    "jst_midnight",
    "provided_relations",
    "target_facts",
]


def _load_contracts(ctx: RelationContext) -> list[RetailContract]:
    t = ctx.target
    if t.supply_point_id is not None:
        found = repository.contracts_for(ctx.conn, supply_point_id=t.supply_point_id)
        if t.customer_id is not None:
            found = [c for c in found if c.customer_id == t.customer_id]
        return found
    return repository.contracts_for(ctx.conn, customer_id=t.customer_id)


def contracts_of(ctx: RelationContext) -> list[RetailContract]:
    """Contracts of the target: of the point (one indexed query) — restricted to the customer
    when both are named — or of the customer; loaded once per request."""
    return ctx.memo("customers.contracts", _load_contracts)


def contracts_in_force(
    ctx: RelationContext, retailer_code: str | None = None
) -> list[RetailContract]:
    """Contracts of the target in force at ``ctx.at`` (JST day), optionally only
    ``retailer_code``'s."""
    return [
        c
        for c in contracts_of(ctx)
        if c.covers(ctx.at) and (retailer_code is None or c.retailer_code == retailer_code)
    ]


def target_facts(ctx: RelationContext) -> Target:
    """The engine's :class:`Target` with the facts controllers need: the contract in force (its
    kind and retailer) and the area (from the ID, else from that contract's point)."""
    in_force = contracts_in_force(ctx)
    contract = in_force[0] if in_force else None
    t = ctx.target
    area = t.area_code
    if area is None and contract is not None:
        area = contract.supply_point_id.area_code
    return Target(
        supply_point_id=t.supply_point_id,
        customer_id=t.customer_id,
        area_code=area,
        contract_kind=contract.kind.value if contract else None,
        retailer_code=contract.retailer_code if contract else None,
    )


#: The last billing period a losing retailer still reads after its contract ends: the days
#: before the end (one meter-reading cycle).
LAST_BILLING_DAYS = 31
RETAIL_BILLING = "retail_billing"
"""The retailer's own purpose of billing its customer (outside joint use, in the policy)."""


def contract_holder_for(after_end: timedelta) -> RelationProvider:
    """Provider of ``contract_holder``: the retailer's contracts of the target, each over its
    period; and, after an ended one, for ``after_end`` (the policy's ``after_end_days`` of the
    relation), the readings of its own last billing period only (``retail_billing``,
    ``interval_readings``, data
    dated in the :data:`LAST_BILLING_DAYS` before the end) — what arrives after a switch."""

    def provider(ctx: RelationContext) -> Iterable[RelationPeriod]:
        if ctx.party.kind != "retailer":
            return ()
        out = []
        for c in contracts_of(ctx):
            if c.retailer_code == ctx.party.code:
                start = jst_midnight(c.valid_from)
                end = jst_midnight(c.valid_to) if c.valid_to else None
                out.append(RelationPeriod("contract_holder", start, end))
                if end is not None and after_end > timedelta(0):
                    out.append(
                        RelationPeriod(
                            "contract_holder",
                            end,
                            end + after_end,
                            Scope(
                                frozenset({RETAIL_BILLING}),
                                frozenset({"interval_readings"}),
                                max(start, end - timedelta(days=LAST_BILLING_DAYS)),
                                end,
                                f"the last billing period of contract {c.contract_number}",
                            ),
                        )
                    )
        return out

    return provider


contract_holder = contract_holder_for(timedelta(0))
"""``contract_holder`` without the last billing period after the end (see
:func:`provided_relations`)."""


def area_tso(ctx: RelationContext) -> Iterable[RelationPeriod]:
    if ctx.party.kind != "tso":
        return ()
    area = ctx.target.area_code
    if area is not None:
        return (RelationPeriod("area_tso", ALWAYS),) if tso_for_area(area) == ctx.party.code else ()
    return [
        RelationPeriod(
            "area_tso",
            jst_midnight(c.valid_from),
            jst_midnight(c.valid_to) if c.valid_to else None,
        )
        for c in contracts_of(ctx)
        if c.supply_point_id.tso_code == ctx.party.code
    ]


def basic_controller(ctx: RelationContext) -> Iterable[RelationPeriod]:
    """The TSO of the point's area over the periods of contracts on remote-island or last-resort
    supply, for which it answers for the customer's basic information (管理責任者)."""
    if ctx.party.kind != "tso":
        return ()
    return [
        RelationPeriod(
            "basic_controller",
            jst_midnight(c.valid_from),
            jst_midnight(c.valid_to) if c.valid_to else None,
        )
        for c in contracts_of(ctx)
        if c.kind in TSO_CONTROLLED_KINDS and c.supply_point_id.tso_code == ctx.party.code
    ]


def provided_relations(policy: Policy | None = None) -> dict[str, RelationProvider]:
    """The relations this area derives (see the module docstring); ``policy`` gives the
    ``after_end_days`` of ``contract_holder`` (none without it)."""
    days = None
    if policy is not None:
        days = next(
            (r.after_end_days for r in policy.relations if r.key == "contract_holder"), None
        )
    return {
        "contract_holder": contract_holder_for(timedelta(days=days or 0)),
        "area_tso": area_tso,
        "basic_controller": basic_controller,
    }


def relations_at(
    registry: RelationRegistry, conn: Connection, party: Party, target: TargetRef, at: datetime
) -> tuple[RelationPeriod, ...]:
    """The relations between ``party`` and ``target`` (convenience for tools and tests)."""
    return registry.relations(RelationContext(conn, party, target, at))
