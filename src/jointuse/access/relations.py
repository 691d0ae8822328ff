"""The gate's extension points: targets, the per-request relation context, relation providers.

The policy engine decides on *relations* between the acting party and the target
(``policy.engine.RelationPeriod``); it does not derive them. Each business area derives the
relations it knows from its own records and **registers** a provider for each with the gate
(:class:`RelationRegistry`); the composition root (:mod:`jointuse.assembly`) builds one gate
with every area's providers and loaders, so a relation added by one area can never be missing
from another entry point. This module knows no business area.

* :class:`TargetRef` — whose data: a supply point and/or a customer, and optionally the flow
  record (a switch, a move-in …) through which they are reached;
* :class:`RelationContext` — one request's facts (connection, party, target, moment), with a
  per-request memo so that facts several providers need (e.g. the target's contracts) are loaded
  once (:meth:`RelationContext.memo`);
* :data:`RelationProvider` — yields the periods of one relation between ``ctx.party`` and
  ``ctx.target``; providers return nothing (and query nothing) for party kinds the relation does
  not concern, so a request costs at most one indexed query per relation kind;
* :data:`TargetFacts` — the engine's :class:`~jointuse.policy.engine.Target` with the facts
  controllers need (the contract in force: its kind and retailer), from the area that holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import Connection

from jointuse.core.calendar import JST
from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.policy.engine import Party, RelationPeriod, Target

__all__ = [
    "ALWAYS",
    "RelationContext",
    "RelationProvider",
    "RelationRegistry",
    "TargetFacts",
    "TargetRef",
    "jst_midnight",
]

#: Start of relations that have no start of their own (a TSO to a point of its area).
ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)

_FLOW_ID_MAX = 64


def jst_midnight(day: date) -> datetime:
    """The first moment of JST ``day`` (contracts and agreements run over whole JST days)."""
    return datetime.combine(day, time(0), tzinfo=JST)


@dataclass(frozen=True, slots=True)
class TargetRef:
    """Whose data: a supply point and/or a customer, as the caller names them, and — for data
    reached through a market flow (a 廃止取次 forwarded to the old retailer, say) — the flow.

    The supply point ID is parsed (full-width digits, spaces, hyphens accepted; anything else
    refused with the character and position); a supply point or a customer must be given.
    """

    supply_point_id: str | None = None
    customer_id: str | None = None
    flow_id: str | None = None

    def __post_init__(self) -> None:
        if self.supply_point_id is not None:
            object.__setattr__(
                self, "supply_point_id", SupplyPointId.parse(str(self.supply_point_id)).value
            )
        if self.customer_id is not None and not str(self.customer_id).strip():
            raise ValidationError(
                "customer_id must not be blank", field="customer_id", valid="a customer id"
            )
        if self.flow_id is not None and not (0 < len(self.flow_id) <= _FLOW_ID_MAX):
            raise ValidationError(
                "flow_id must be 1 to 64 characters",
                field="flow_id",
                valid="a flow id as returned when the flow was filed",
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


_T = TypeVar("_T")


class RelationContext:
    """One request's facts: connection, acting party, target, moment — and a memo of what was
    loaded for them (at most once per request, whichever provider or loader asks first)."""

    __slots__ = ("_memo", "at", "conn", "party", "target")

    def __init__(self, conn: Connection, party: Party, target: TargetRef, at: datetime) -> None:
        self.conn = conn
        self.party = party
        self.target = target
        self.at = at
        self._memo: dict[str, Any] | None = None

    def memo(self, key: str, compute: Callable[[RelationContext], _T]) -> _T:
        """``compute(self)``, computed once per request under ``key``."""
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        elif key in memo:
            found: _T = memo[key]
            return found
        value = memo[key] = compute(self)
        return value

    def light_target(self) -> Target:
        """The engine's target from the reference alone (no query): the area from the ID."""
        t = self.target
        return Target(
            supply_point_id=t.supply_point_id, customer_id=t.customer_id, area_code=t.area_code
        )


RelationProvider = Callable[[RelationContext], Iterable[RelationPeriod]]
"""Yields the periods of one relation between ``ctx.party`` and ``ctx.target``."""

TargetFacts = Callable[[RelationContext], Target]
"""The engine's target with the controller facts (contract in force: kind, retailer, area)."""


def period(relation: str, start: datetime, end: datetime | None) -> RelationPeriod | None:
    """``RelationPeriod(relation, start, end)``, or None for an empty period."""
    if end is not None and end <= start:
        return None
    return RelationPeriod(relation, start, end)


@dataclass(frozen=True, slots=True)
class RelationRegistry:
    """Relation name → provider. Immutable: :meth:`with_provider` returns a new registry."""

    providers: Mapping[str, RelationProvider] = field(default_factory=dict)

    def with_provider(self, relation: str, provider: RelationProvider) -> RelationRegistry:
        """This registry plus (or with a replaced) ``relation`` provider."""
        return RelationRegistry(MappingProxyType({**self.providers, relation: provider}))

    def merged(self, providers: Mapping[str, RelationProvider]) -> RelationRegistry:
        """This registry plus ``providers``; a relation provided twice is a wiring error."""
        both = sorted(set(self.providers) & set(providers))
        if both:
            raise ValueError(f"relations provided twice: {', '.join(both)}")
        return RelationRegistry(MappingProxyType({**self.providers, **providers}))

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
