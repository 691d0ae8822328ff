"""The decision engine's private index: one :class:`Grant` per rule × action, one :class:`Slot`
per (purpose, party kind, action), and the memoised :class:`Outcome` of an asked item set.

Internal to :mod:`jointuse.policy.engine`; nothing else should need these.
"""

from __future__ import annotations

from dataclasses import dataclass

from jointuse.policy.model import Rule
from jointuse.policy.requests import Reason, RefusedItem


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule × action precomputed: its items in policy order, categories, legal basis."""

    key: str
    action: str
    rule: Rule
    items: frozenset[str]
    ordered: tuple[str, ...]
    categories: tuple[str, ...]
    basis_ja: str
    basis_en: str


@dataclass(frozen=True, slots=True)
class Slot:
    """The grants of one (purpose, party kind, action) by relation, and its denial texts."""

    grants: dict[str, Grant]
    missing_prefix: str  # the relation_missing message up to the moment
    rule_id: str | None  # the slot's rule when it has exactly one


@dataclass(slots=True)  # never mutated; not frozen: cheaper to build
class Outcome:
    """Result of one asked item set under one grant through one relation: everything of the
    decision except the request's own fields (purpose, action, party, window, controllers)."""

    allowed: bool
    reason: Reason
    message: str
    rule_id: str
    granted: tuple[str, ...]
    refused: tuple[RefusedItem, ...]
    categories: tuple[str, ...]
    basis_ja: str | None
    basis_en: str | None
