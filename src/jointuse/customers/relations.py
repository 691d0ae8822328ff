"""Relations between a party and a supply point / customer at a moment (the gate's hot path).

The policy engine decides on *relations the caller asserts* (``policy.engine.RelationPeriod``);
this module derives them from the registry. A :class:`RelationRegistry` maps each relation of
the policy to a **provider**, a function of one :class:`RelationContext` that yields the
relation's periods. Built in (:func:`default_registry`):

========================  ===========================================================  =========
relation                  holds when                                                   queries
========================  ===========================================================  =========
``contract_holder``       the retailer's retail contracts of the point (and/or          1 (shared)
                          customer), each over ``[valid_from, valid_to)`` at JST
                          midnight: time-sliced, so after a switch the old retailer
                          keeps its period and nothing newer
``applicant``             the retailer's applications for the point (and/or customer)  1
                          over ``[applied_at, valid_to)``; ``valid_to`` is set when it
                          is withdrawn or completed, so only a pending one is open
``area_tso``              the party is the TSO of the point's area                     0 (point)
                          (``parties.reference.tso_for_area``); for a customer-only
                          target, over the periods of the customer's contracts in its
                          area
``switching_operator``    the party is OCCTO (kind ``occto``)                          0
========================  ===========================================================  =========

``dr_resource`` (a DR contractor with a registered DR resource at the point) is **not**
provided here: DR resources belong to the negawatt area (a later issue). It plugs in with
``registry.with_provider("dr_resource", provider)``; until then no party holds it, so the P3/P5
rules for DR contractors deny with ``relation_missing`` — honestly, not by a stub.

Providers return nothing (and query nothing) for party kinds the relation does not concern, so
a request costs at most one indexed query per relation kind; the contracts of the target are
loaded once per request (:attr:`RelationContext.contracts`) and shared by ``contract_holder``,
``area_tso``, the engine's target facts (contract kind and retailer, for controllers) and the
gate's loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from types import MappingProxyType

from sqlalchemy import Connection

from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import repository
from jointuse.customers.model import JST, RetailContract
from jointuse.parties.reference import tso_for_area
from jointuse.policy.engine import Party, RelationPeriod, Target

#: Start of relations that have no start of their own (a TSO to a point of its area, OCCTO).
ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)


def jst_midnight(day: date) -> datetime:
    """The first moment of JST ``day`` (contracts run over whole JST days)."""
    return datetime.combine(day, time(0), tzinfo=JST)


@dataclass(frozen=True, slots=True)
class TargetRef:
    """Whose data: a supply point and/or a customer, as the caller names them.

    The supply point ID is parsed (full-width digits, spaces, hyphens accepted; anything else
    refused with the character and position); at least one of the two must be given.
    """

    supply_point_id: str | None = None
    customer_id: str | None = None

    def __post_init__(self) -> None:
        if self.supply_point_id is not None:
            object.__setattr__(
                self, "supply_point_id", SupplyPointId.parse(str(self.supply_point_id)).value
            )
        if self.customer_id is not None and not str(self.customer_id).strip():
            raise ValidationError(
                "customer_id must not be blank", field="customer_id", valid="a customer id"
            )
        if self.supply_point_id is None and self.customer_id is None:
            raise ValidationError(
                "name the supply point and/or the customer whose data is accessed",
                field="target",
                valid="supply_point_id and/or customer_id",
            )

    @property
    def area_code(self) -> str | None:
        return self.supply_point_id[:2] if self.supply_point_id else None


class RelationContext:
    """One request's facts, loaded lazily and at most once: the target's contracts."""

    __slots__ = ("_contracts", "at", "conn", "party", "target")

    def __init__(self, conn: Connection, party: Party, target: TargetRef, at: datetime) -> None:
        self.conn = conn
        self.party = party
        self.target = target
        self.at = at
        self._contracts: list[RetailContract] | None = None

    @property
    def contracts(self) -> list[RetailContract]:
        """Contracts of the target: of the point (one indexed query) — restricted to the
        customer when both are named — or of the customer."""
        if self._contracts is None:
            t = self.target
            if t.supply_point_id is not None:
                found = repository.contracts_for(self.conn, supply_point_id=t.supply_point_id)
                if t.customer_id is not None:
                    found = [c for c in found if c.customer_id == t.customer_id]
            else:
                found = repository.contracts_for(self.conn, customer_id=t.customer_id)
            self._contracts = found
        return self._contracts

    def contracts_in_force(self, retailer_code: str | None = None) -> list[RetailContract]:
        """Contracts in force at ``at`` (JST day), optionally only ``retailer_code``'s."""
        return [
            c
            for c in self.contracts
            if c.covers(self.at) and (retailer_code is None or c.retailer_code == retailer_code)
        ]

    def engine_target(self, *, contract_facts: bool = True) -> Target:
        """The engine's :class:`Target`, with the facts controllers need (the contract in
        force: its kind and retailer).

        ``contract_facts=False`` leaves those two out when the target names a supply point (its
        area comes from the ID), so the contracts are not loaded for them; the gate asks for
        them again when the decision names a controller that depends on them."""
        if not contract_facts and self.target.supply_point_id is not None:
            return Target(
                supply_point_id=self.target.supply_point_id,
                customer_id=self.target.customer_id,
                area_code=self.target.area_code,
            )
        in_force = self.contracts_in_force()
        contract = in_force[0] if in_force else None
        area = self.target.area_code
        if area is None and contract is not None:
            area = contract.supply_point_id.area_code
        return Target(
            supply_point_id=self.target.supply_point_id,
            customer_id=self.target.customer_id,
            area_code=area,
            contract_kind=contract.kind.value if contract else None,
            retailer_code=contract.retailer_code if contract else None,
        )


RelationProvider = Callable[[RelationContext], Iterable[RelationPeriod]]
"""Yields the periods of one relation between ``ctx.party`` and ``ctx.target``."""


def _period(relation: str, start: datetime, end: datetime | None) -> RelationPeriod | None:
    if end is not None and end <= start:
        return None
    return RelationPeriod(relation, start, end)


def contract_holder(ctx: RelationContext) -> Iterable[RelationPeriod]:
    if ctx.party.kind != "retailer":
        return ()
    out = []
    for c in ctx.contracts:
        if c.retailer_code == ctx.party.code:
            end = jst_midnight(c.valid_to) if c.valid_to else None
            out.append(RelationPeriod("contract_holder", jst_midnight(c.valid_from), end))
    return out


def applicant(ctx: RelationContext) -> Iterable[RelationPeriod]:
    if ctx.party.kind != "retailer":
        return ()
    t = ctx.target
    found = repository.application_periods(
        ctx.conn,
        retailer_code=ctx.party.code,
        supply_point_id=t.supply_point_id,
        customer_id=t.customer_id,
    )
    out = []
    for customer_id, applied_at, valid_to in found:
        if t.customer_id is not None and customer_id != t.customer_id:
            continue
        period = _period("applicant", applied_at, valid_to)
        if period is not None:
            out.append(period)
    return out


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
        for c in ctx.contracts
        if c.supply_point_id.tso_code == ctx.party.code
    ]


def switching_operator(ctx: RelationContext) -> Iterable[RelationPeriod]:
    if ctx.party.kind != "occto":
        return ()
    return (RelationPeriod("switching_operator", ALWAYS),)


@dataclass(frozen=True, slots=True)
class RelationRegistry:
    """Relation name → provider. Immutable: :meth:`with_provider` returns a new registry."""

    providers: Mapping[str, RelationProvider] = field(default_factory=dict)

    def with_provider(self, relation: str, provider: RelationProvider) -> RelationRegistry:
        """This registry plus (or with a replaced) ``relation`` provider (e.g. ``dr_resource``
        from the negawatt area)."""
        return RelationRegistry(MappingProxyType({**self.providers, relation: provider}))

    def relations(
        self, ctx: RelationContext, only: Container[str] | None = None
    ) -> tuple[RelationPeriod, ...]:
        """Every period of every provided relation between ``ctx.party`` and ``ctx.target`` —
        or, with ``only``, of those relations alone (the gate passes the relations a rule for the
        request's purpose, party kind and action accepts: no other can allow it, so the others
        are neither queried nor computed)."""
        out: list[RelationPeriod] = []
        for relation, provider in self.providers.items():
            if only is None or relation in only:
                out.extend(provider(ctx))
        return tuple(out)


def default_registry() -> RelationRegistry:
    """The relations the customer registry can compute (see the module docstring)."""
    return RelationRegistry(
        MappingProxyType(
            {
                "contract_holder": contract_holder,
                "applicant": applicant,
                "area_tso": area_tso,
                "switching_operator": switching_operator,
            }
        )
    )


def relations_at(
    conn: Connection,
    party: Party,
    target: TargetRef,
    at: datetime,
    registry: RelationRegistry | None = None,
) -> tuple[RelationPeriod, ...]:
    """The relations between ``party`` and ``target`` (convenience for tools and tests)."""
    return (registry or default_registry()).relations(RelationContext(conn, party, target, at))
