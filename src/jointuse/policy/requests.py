"""What goes into the decision engine and what comes out: requests, parties, targets, relation
periods, decisions and refused items (all frozen dataclasses), and the two construction helpers
the engine's hot path uses (:func:`new_decision` and the deferred ``relation_missing`` text).

Every name here is also importable from :mod:`jointuse.policy.engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, fields, make_dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from jointuse.core.errors import ValidationError
from jointuse.policy.controllers import ControllerRef

Items = tuple[str, ...]


class PartyStatus(StrEnum):
    """Status of a joint user at the moment of the request."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEREGISTERED = "deregistered"


class Reason(StrEnum):
    """Stable machine-readable reason codes of decisions and refused items."""

    ALLOWED = "allowed"
    ITEMS_REFUSED = "items_refused"
    PURPOSE_MISSING = "purpose_missing"
    PURPOSE_UNKNOWN = "purpose_unknown"
    ACTION_UNKNOWN = "action_unknown"
    PARTY_KIND_UNKNOWN = "party_kind_unknown"
    PARTY_SUSPENDED = "party_suspended"
    PARTY_DEREGISTERED = "party_deregistered"
    NO_RULE = "no_rule"
    RELATION_MISSING = "relation_missing"
    ITEM_NOT_PERMITTED = "item_not_permitted"
    ITEM_UNKNOWN = "item_unknown"
    OUTSIDE_SCOPE = "outside_scope"
    ROLE_NOT_PERMITTED = "role_not_permitted"


@dataclass(frozen=True, slots=True)
class Party:
    """The acting joint user: its code, its kind (a policy party kind) and status now; and,
    when a person of the party acts (a user's token), that user's code and role (None for a
    named system client, the CLI and batch jobs). The engine decides on the party; the gate
    applies the role (:data:`jointuse.access.gate.ROLE_PURPOSES`) and records the user."""

    code: str
    kind: str
    status: PartyStatus = PartyStatus.ACTIVE
    user: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What is accessed: a supply point and/or a customer, with the facts controllers need.

    ``area_code`` defaults to the first two digits of ``supply_point_id``. ``contract_kind`` is the
    customer's retail contract kind (e.g. ``"standard"``, ``"remote_island"``, ``"last_resort"``);
    ``retailer_code`` the retailer holding the contract; ``dr_contractor_code`` the DR contractor
    with the point registered as a resource.
    """

    supply_point_id: str | None = None
    customer_id: str | None = None
    area_code: str | None = None
    contract_kind: str | None = None
    retailer_code: str | None = None
    dr_contractor_code: str | None = None

    def __post_init__(self) -> None:
        if self.area_code is None and self.supply_point_id and len(self.supply_point_id) >= 2:
            object.__setattr__(self, "area_code", self.supply_point_id[:2])


def mixed_times() -> ValidationError:
    """The error for a request that mixes timezone-aware and naive moments."""
    return ValidationError(
        "cannot compare a timezone-aware and a naive datetime; give every moment of a request "
        "(at, valid_from, valid_to) with a time zone",
        field="at",
        valid="timezone-aware datetimes throughout (or naive throughout)",
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """What a consent-based relation opens, narrower than the rule (the customer's choice).

    ``purposes``/``items``: None = whatever the rule grants; else only these. ``data_from``/
    ``data_to``: the data window ``[data_from, data_to)`` the loaders cut to (None = the
    relation's own period) — it may end before the relation does (after a DR agreement is
    withdrawn its data stays readable for a bounded time, but nothing dated after the
    withdrawal). Applied by the gate after the engine's decision
    (:func:`jointuse.access.gate.narrow`)."""

    purposes: frozenset[str] | None = None
    items: frozenset[str] | None = None
    data_from: datetime | None = None
    data_to: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class RelationPeriod:
    """A relation between the party and the target over ``[valid_from, valid_to)``; ``scope``
    narrows what it opens (None: the rule's whole grant, over the period)."""

    relation: str
    valid_from: datetime
    valid_to: datetime | None = None
    scope: Scope | None = None

    def __post_init__(self) -> None:
        if self.valid_to is None:
            return
        try:
            empty = self.valid_to <= self.valid_from
        except TypeError:
            raise mixed_times() from None
        if empty:
            raise ValidationError(
                f"relation {self.relation!r}: valid_to {self.valid_to.isoformat()} is not after "
                f"valid_from {self.valid_from.isoformat()}",
                field="valid_to",
                valid="a moment after valid_from, or None (open-ended)",
            )

    def holds_at(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One request to the gate. ``items`` empty = every item the rule allows (see the engine)."""

    party: Party
    purpose: str | None
    action: str
    target: Target
    at: datetime
    items: frozenset[str] = frozenset()
    relations: tuple[RelationPeriod, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.items, frozenset):
            object.__setattr__(self, "items", frozenset(self.items))
        if not isinstance(self.relations, tuple):
            object.__setattr__(self, "relations", tuple(self.relations))


@dataclass(frozen=True, slots=True)
class RefusedItem:
    item: str
    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer; every field is recorded on the access ledger."""

    allowed: bool
    reason: Reason
    message: str
    purpose: str | None
    action: str
    party_code: str
    rule_id: str | None = None
    relation: str | None = None
    granted: tuple[str, ...] = ()
    refused: tuple[RefusedItem, ...] = ()
    legal_basis_ja: str | None = None
    legal_basis_en: str | None = None
    controllers: tuple[ControllerRef, ...] = ()
    valid_from: datetime | None = None
    valid_to: datetime | None = None


# -- the deferred relation_missing text --------------------------------------------------------


class MissingText:
    """The message and refusal records of a ``relation_missing`` denial, built on first read.

    The message names the request's moment and the periods it held, so unlike every other
    text it cannot be memoised; the engine stores this object in the decision's ``message`` and
    ``refused`` slots, and :class:`Decision` replaces it by the text (and the records) the first
    time either field is read. Everything it reads is immutable, so the result is exactly what
    eager formatting would have given.
    """

    __slots__ = ("_ordered", "_prefix", "_relations", "_request", "_span", "_text")

    def __init__(
        self,
        prefix: str,
        relations: Container[str],
        request: AccessRequest,
        ordered: Items,
        span: Callable[[RelationPeriod], str],
    ) -> None:
        """``prefix`` is the message up to the moment; ``relations`` the relations the slot's
        rules accept (the request's periods of these are listed as "held only");
        ``ordered`` the asked items in policy order; ``span`` formats one held period."""
        self._prefix, self._relations, self._request = prefix, relations, request
        self._ordered, self._span = ordered, span
        self._text: str | None = None

    def message(self) -> str:
        if self._text is None:
            request = self._request
            text = self._prefix + request.at.isoformat()
            held = [self._span(p) for p in request.relations if p.relation in self._relations]
            if held:
                text += "; held only " + ", ".join(held)
            self._text = text
        return self._text

    def refused(self) -> tuple[RefusedItem, ...]:
        message = self.message()
        return tuple(RefusedItem(i, Reason.RELATION_MISSING, message) for i in self._ordered)


def _deferring(slot: Any, build: Callable[[MissingText], object]) -> property:
    """A property over the slot ``slot`` of :class:`Decision` that replaces a stored
    :class:`MissingText` by ``build(it)`` on first read (writes go straight to the slot)."""

    def read(self: Decision) -> object:
        value = slot.__get__(self, Decision)
        if value.__class__ is MissingText:
            value = build(value)
            slot.__set__(self, value)
        return value

    return property(read, slot.__set__, doc=slot.__doc__)


# ``fields(Decision)``, ``asdict``, ``replace``, pickling, ``==``, ``hash`` and ``repr`` all read
# through these properties, so none of them ever sees a MissingText.
for _name, _build in (("message", MissingText.message), ("refused", MissingText.refused)):
    setattr(Decision, _name, _deferring(Decision.__dict__[_name], _build))


# -- building a Decision without the frozen __init__ ---------------------------------------------

# A frozen dataclass ``__init__`` stores each of the 15 fields through ``object.__setattr__``,
# several times the cost of a plain slot store; at one Decision per request that was about a
# third of a decision's cost in ``benchmarks/policy_decisions.py``. The engine therefore fills
# a mutable class with the same slots (in the same order) and re-labels the instance as a
# Decision (``__class__`` assignment between layout-compatible classes, supported by CPython).
# The result is an ordinary Decision: ``type(d) is Decision``, equal to ``Decision(...)``,
# frozen from then on.
_DecisionSlots = make_dataclass(
    "_DecisionSlots", [f.name for f in fields(Decision)], slots=True, eq=False, repr=False
)


def new_decision(
    allowed: bool,
    reason: Reason,
    message: str | MissingText,
    purpose: str | None,
    action: str,
    party_code: str,
    rule_id: str | None,
    relation: str | None,
    granted: tuple[str, ...],
    refused: tuple[RefusedItem, ...] | MissingText,
    legal_basis_ja: str | None,
    legal_basis_en: str | None,
    controllers: tuple[ControllerRef, ...],
    valid_from: datetime | None,
    valid_to: datetime | None,
) -> Decision:
    """``Decision(...)`` with every field given, at a fraction of the constructor's cost.

    ``message`` and ``refused`` may be one :class:`MissingText` (formatted on first read)."""
    decision = _DecisionSlots(
        allowed,
        reason,
        message,
        purpose,
        action,
        party_code,
        rule_id,
        relation,
        granted,
        refused,
        legal_basis_ja,
        legal_basis_en,
        controllers,
        valid_from,
        valid_to,
    )
    object.__setattr__(decision, "__class__", Decision)
    return decision  # type: ignore[no-any-return]
