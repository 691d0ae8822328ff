"""The decision engine: may this party do this, for this purpose, to this target, for these items?

Deny by default. A request is allowed only by a rule of the policy whose purpose, party kind and
action match, through a relation between the party and the target that holds at the moment of the
request (time-sliced: ``valid_from <= at < valid_to``, ``valid_to=None`` is open), and only for the
items that rule lists.

Usage::

    engine = Engine(policy)            # builds the index once (a few dicts)
    decision = engine.decide(request)  # a handful of dict lookups
    decision = decide(policy, request) # same, with the engine of ``policy`` cached

Choices (documented contract):

* ``request.items`` empty means "every item the rule allows for this action": the granted items
  are then the rule's whole list, and the decision is allowed.
* With items asked, the decision is **allowed only if every asked item is granted**. Items outside
  the rule (or unknown to the policy) are refused one by one, each with a reason, and the items
  the rule would grant are still reported in ``granted`` (reason ``items_refused``).
* On a denial before items are considered (no purpose, suspended party, no rule, no relation…),
  every asked item is refused with the decision's reason and nothing is granted.
* Moments are ``datetime``; use timezone-aware ones throughout (mixing aware and naive is a
  :class:`~jointuse.core.errors.ValidationError`, not a crash).
* Relations are facts the caller asserts (the customer registry computes them); the engine
  checks their validity at ``at`` but does not re-derive them.
* ``valid_from``/``valid_to`` of an allowed decision is the period of the relation that allowed it,
  so the caller restricts the data it returns to that period (after a switch the old retailer keeps
  its history but sees nothing newer).
* Legal basis: the rule's own, else per category of the granted items the category's
  (non-joint-use categories), else the notice's law (APPI joint use); distinct bases joined.
* Granted and refused items are listed in policy order (items unknown to the policy last, by
  name).

Performance (``benchmarks/policy_decisions.py``): what depends only on the policy and the shape
of a request is memoised per engine in bounded dicts — keyed only by what the policy knows: a
request with an unknown purpose, action or item (any text a caller sends) is decided without
entering any memo, and its messages quote that text cut to 64 characters (item order and
categories per asked set, outcomes per grant × relation × asked set, early denials per
party × purpose × action, refusal records, controllers per fact set); a :class:`Decision` is
built by
:func:`~jointuse.policy.requests.new_decision` (no per-field ``object.__setattr__``); the one
per-request text (``relation_missing`` names the moment and the held periods) is formatted when
``message`` or ``refused`` is first read, to the same text (:class:`~.requests.MissingText`).
The request and decision types live in :mod:`jointuse.policy.requests` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import filterfalse

from jointuse.policy.controllers import ControllerRef, controllers_for
from jointuse.policy.index import Grant, Outcome, Slot
from jointuse.policy.model import Action, Policy, Rule
from jointuse.policy.requests import (
    AccessRequest,
    Decision,
    Items,
    MissingText,
    Party,
    PartyStatus,
    Reason,
    RefusedItem,
    RelationPeriod,
    Scope,
    Target,
    mixed_times,
    new_decision,
)

__all__ = [
    "ACTIONS",
    "AccessRequest",
    "Decision",
    "Engine",
    "Items",
    "Party",
    "PartyStatus",
    "Reason",
    "RefusedItem",
    "RelationPeriod",
    "Scope",
    "Target",
    "decide",
    "engine_for",
]

ACTIONS: tuple[Action, ...] = ("read", "write")


_CACHE_MAX = 65536


class Engine:
    """Decisions against one policy. Build once (it indexes the policy); decide many times.

    Everything that depends only on the policy and the shape of a request (item order,
    categories, outcomes, refusal records and messages, controllers) is memoised in bounded
    dicts, so a decision costs a few lookups and one :class:`Decision`.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._purposes = frozenset(p.key for p in policy.purposes)
        self._kinds = frozenset(k.key for k in policy.party_kinds)
        self._order = {it.key: n for n, it in enumerate(policy.items)}
        self._item_keys = frozenset(self._order)
        self._cat_order = {c.key: n for n, c in enumerate(policy.categories)}
        # Categories as bits (item → its category's bit; bit set → categories in policy order).
        self._cat_bit = {it.key: 1 << self._cat_order[it.category] for it in policy.items}
        self._mask_cats: dict[int, tuple[str, ...]] = {}
        self._basis = {
            c.key: (
                (c.legal_basis_ja, c.legal_basis_en)
                if c.legal_basis_ja and c.legal_basis_en
                else (policy.notice.law_ja, policy.notice.law_en)
            )
            for c in policy.categories
        }
        self._bases: dict[tuple[str, ...], tuple[str, str]] = {}  # categories → legal basis
        # (purpose, party kind, action) → {relation: grant}; the loader forbids overlaps.
        grants: dict[tuple[str, str, str], dict[str, Grant]] = {}
        for rule in policy.rules:
            for action in ACTIONS:
                items = rule.items_for(action)
                if not items:
                    continue
                grant = self._grant(rule, action, items)
                slot = grants.setdefault((rule.purpose, rule.party_kind, action), {})
                for relation in sorted(rule.relations):
                    slot[relation] = grant
        self._index: dict[tuple[str | None, str, str], Slot] = {}
        for (purpose, kind, act), by_relation in grants.items():
            rules = sorted({g.rule.id for g in by_relation.values()})
            self._index[(purpose, kind, act)] = Slot(
                by_relation,
                f"purpose {purpose} lets a {kind} {act} only with relation "
                f"{' or '.join(sorted(by_relation))} to the target valid at ",
                rules[0] if len(rules) == 1 else None,
            )
        # grant key → items another relation of the same slot grants (→ that relation): an item
        # refused through the relation held but open through another is ``relation_missing``
        # (a TSO reading contacts without a work order), not merely "not permitted".
        self._elsewhere: dict[str, dict[str, str]] = {}
        for by_relation in grants.values():
            for grant in by_relation.values():
                other = self._elsewhere.setdefault(grant.key, {})
                for relation, g in sorted(by_relation.items()):
                    for item in g.items - grant.items:
                        other.setdefault(item, relation)
        self._outcomes: dict[tuple[str, str, frozenset[str]], Outcome] = {}
        self._controller_cache: dict[tuple[object, ...], tuple[ControllerRef, ...]] = {}
        # asked items → (policy order, categories)
        self._asked: dict[frozenset[str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # (active?, status, code, kind, purpose, action) → early denial reason, message, records
        self._early: dict[tuple[object, ...], tuple[Reason, str, dict[str, RefusedItem]]] = {}
        self._item_refusals: dict[tuple[str, str], RefusedItem] = {}  # (grant key, item)
        self._spans: dict[int, tuple[RelationPeriod, str]] = {}  # id(period) → (period, text)

    def _grant(self, rule: Rule, action: str, items: frozenset[str]) -> Grant:
        ordered = tuple(sorted(items, key=self._order.__getitem__))
        ja, en = self._legal_basis(rule, ordered)
        return Grant(
            f"{rule.id}:{action}", action, rule, items, ordered, self._categories(ordered), ja, en
        )

    def _categories(self, items: Iterable[str]) -> tuple[str, ...]:
        """Categories of ``items`` (unknown items ignored), in policy order."""
        bit = self._cat_bit.get
        mask = 0
        for item in items:
            mask |= bit(item, 0)
        found = self._mask_cats.get(mask)
        if found is None:
            keys = [c.key for c in self.policy.categories]
            found = self._mask_cats[mask] = tuple(k for n, k in enumerate(keys) if mask >> n & 1)
        return found

    def _legal_basis(self, rule: Rule, items: tuple[str, ...]) -> tuple[str, str]:
        if rule.legal_basis_ja and rule.legal_basis_en:
            return rule.legal_basis_ja, rule.legal_basis_en
        cats = self._categories(items)
        found = self._bases.get(cats)
        if found is None:
            bases: list[tuple[str, str]] = []
            for cat in cats:
                if self._basis[cat] not in bases:
                    bases.append(self._basis[cat])
            found = self._bases[cats] = (
                "；".join(b[0] for b in bases),
                "; ".join(b[1] for b in bases),
            )
        return found

    def controllers(self, target: Target, categories: tuple[str, ...]) -> tuple[ControllerRef, ...]:
        """Controllers of ``categories`` for ``target`` (memoised per distinct fact set)."""
        if not categories:
            return ()
        key = (
            categories,
            target.area_code,
            target.contract_kind,
            target.retailer_code,
            target.dr_contractor_code,
        )
        found = self._controller_cache.get(key)
        if found is None:
            found = controllers_for(self.policy, target, categories)
            if len(self._controller_cache) > _CACHE_MAX:
                self._controller_cache.clear()
            self._controller_cache[key] = found
        return found

    # -- deciding -------------------------------------------------------------------------------

    def decide(self, request: AccessRequest) -> Decision:
        """Decide ``request``. Refusals are decisions, not exceptions; only malformed input
        raises :class:`~jointuse.core.errors.ValidationError` (an unknown area code in the
        target, naive and aware moments mixed)."""
        party = request.party
        try:
            slot = self._index.get((request.purpose, party.kind, request.action))
        except TypeError:  # an unhashable purpose/action: let the checks below name it
            slot = None
        if slot is None or party.status is not PartyStatus.ACTIVE:
            return self._early_denial(request)
        # A slot exists, so purpose, action and party kind are all known to the policy.
        at = request.at
        grants = slot.grants
        chosen: Grant | None = None
        held: RelationPeriod | None = None
        try:
            for period in request.relations:
                grant = grants.get(period.relation)
                if grant is None:
                    continue
                valid_to = period.valid_to
                if period.valid_from <= at and (valid_to is None or at < valid_to):
                    if chosen is not None:  # several relations hold: score them (rare)
                        return self._choose(request, grants)
                    chosen, held = grant, period
        except TypeError:
            raise mixed_times() from None
        if chosen is None or held is None:
            return self._relation_missing(request, slot)
        # One period holds: it alone is the window of its relation at ``at``.
        return self._items(request, chosen, held.relation, held.valid_from, held.valid_to)

    def _early_denial(self, request: AccessRequest) -> Decision:
        """The denials decided before relations: party status, purpose, action, kind, rule.

        Reason and message depend only on the party and the (purpose, action) asked: memoised
        with the refusal record of each item (reason, message and item are all it holds)."""
        party = request.party
        status = party.status
        active = status is PartyStatus.ACTIVE
        purpose = request.purpose
        key = (active, status, party.code, party.kind, purpose, request.action)
        try:
            found = self._early.get(key)
        except TypeError:  # an unhashable purpose/action: nothing to memoise
            found = (*self._early_reason(request), {})
        if found is None:
            found = (*self._early_reason(request), {})
            # Only what the policy knows is memoised: an unknown purpose (or action) is any
            # text a caller sends, and would grow the memo without bound.
            if (purpose is None or purpose in self._purposes) and request.action in ACTIONS:
                if len(self._early) > _CACHE_MAX:
                    self._early.clear()
                self._early[key] = found
        # Every asked item is refused with the decision's reason; one record per known item.
        reason, message, records = found
        items = request.items
        ordered, cats = self._asked.get(items) or self._asked_info(items)
        refused: list[RefusedItem] = []
        known = self._order
        for item in ordered:
            record = records.get(item)
            if record is None:
                record = RefusedItem(item, reason, message)
                if item in known:
                    records[item] = record
            refused.append(record)
        return self._denial(request, reason, message, tuple(refused), cats, None)

    def _early_reason(self, request: AccessRequest) -> tuple[Reason, str]:
        party = request.party
        if party.status is not PartyStatus.ACTIVE:
            if party.status == PartyStatus.SUSPENDED:
                return (Reason.PARTY_SUSPENDED, f"party {party.code!r} is suspended")
            return (Reason.PARTY_DEREGISTERED, f"party {party.code!r} is deregistered")
        purpose = request.purpose
        purposes = ", ".join(p.key for p in self.policy.purposes)
        if not purpose:
            return (
                Reason.PURPOSE_MISSING,
                "no purpose given; every access names one of: " + purposes,
            )
        if purpose not in self._purposes:
            return (
                Reason.PURPOSE_UNKNOWN,
                f"unknown purpose {_quoted(purpose)}; valid purposes: " + purposes,
            )
        action = request.action
        if action not in ACTIONS:
            return (
                Reason.ACTION_UNKNOWN,
                f"unknown action {_quoted(action)}; valid actions: read, write",
            )
        if party.kind not in self._kinds:
            return (
                Reason.PARTY_KIND_UNKNOWN,
                f"unknown party kind {party.kind!r}; valid kinds: "
                + ", ".join(k.key for k in self.policy.party_kinds),
            )
        return (Reason.NO_RULE, f"no rule lets a {party.kind} {action} for purpose {purpose}")

    def _choose(self, request: AccessRequest, grants: dict[str, Grant]) -> Decision:
        """Several relations hold: the one whose grant covers most asked items (the first on a
        tie); its window is the union of its periods holding at ``at``."""
        at = request.at
        chosen: Grant | None = None
        relation = ""
        best = -1
        try:
            for period in request.relations:
                grant = grants.get(period.relation)
                if grant is None or not period.holds_at(at):
                    continue
                score = len(request.items & grant.items) if request.items else len(grant.items)
                if score > best:
                    chosen, relation, best = grant, period.relation, score
        except TypeError:
            raise mixed_times() from None
        assert chosen is not None  # only called when at least two periods hold
        valid_from: datetime | None = None
        valid_to: datetime | None = None
        open_ended = False
        for p in request.relations:
            if p.relation == relation and p.holds_at(at):
                if valid_from is None or p.valid_from < valid_from:
                    valid_from = p.valid_from
                if p.valid_to is None:
                    open_ended = True
                elif valid_to is None or p.valid_to > valid_to:
                    valid_to = p.valid_to
        return self._items(request, chosen, relation, valid_from, None if open_ended else valid_to)

    def _asked_info(self, items: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Asked items in policy order (unknown ones last, by name) and their categories."""
        found = self._asked.get(items)
        if found is None:
            found = (self._ordered(items), self._categories(items))
            if items <= self._item_keys:  # unknown item names are any text: not memoised
                if len(self._asked) > _CACHE_MAX:
                    self._asked.clear()
                self._asked[items] = found
        return found

    def _denial(
        self,
        request: AccessRequest,
        reason: Reason,
        message: str | MissingText,
        refused: tuple[RefusedItem, ...] | MissingText,
        categories: tuple[str, ...],
        rule_id: str | None,
    ) -> Decision:
        return new_decision(
            False,  # allowed
            reason,
            message,
            request.purpose,
            request.action,
            request.party.code,
            rule_id,
            None,  # relation
            (),  # granted
            refused,
            None,  # legal_basis_ja
            None,  # legal_basis_en
            self.controllers(request.target, categories),
            None,  # valid_from
            None,  # valid_to
        )

    def _span(self, period: RelationPeriod) -> str:
        """``relation from–to`` of a held period (memoised by identity; the entry keeps the
        period alive, so its id cannot be reused)."""
        found = self._spans.get(id(period))
        if found is None or found[0] is not period:
            to = period.valid_to
            text = (
                f"{period.relation} {period.valid_from.isoformat()}–"
                f"{to.isoformat() if to else 'open'}"
            )
            if len(self._spans) > _CACHE_MAX:
                self._spans.clear()
            found = self._spans[id(period)] = (period, text)
        return found[1]

    def _relation_missing(self, request: AccessRequest, slot: Slot) -> Decision:
        items = request.items
        ordered, cats = self._asked.get(items) or self._asked_info(items)
        # The message names the moment: formatted (with the refusal records) on first read.
        text = MissingText(slot.missing_prefix, slot.grants, request, ordered, self._span)
        return self._denial(request, Reason.RELATION_MISSING, text, text, cats, slot.rule_id)

    def _outcome(self, grant: Grant, relation: str, asked: frozenset[str]) -> Outcome:
        """The result of ``asked`` under ``grant`` through ``relation`` (memoised: it depends on
        nothing else, so repeated requests of the same shape cost one dict lookup)."""
        rule = grant.rule
        refused: tuple[RefusedItem, ...] = ()
        ja: str | None
        en: str | None
        if not asked or asked == grant.items:
            granted, cats = grant.ordered, grant.categories
            ja, en = grant.basis_ja, grant.basis_en
        else:
            ordered, cats = self._asked.get(asked) or self._asked_info(asked)
            within = grant.items.__contains__  # filtering keeps the policy order
            granted = tuple(filter(within, ordered))
            refused = tuple(self._item_refusal(grant, i) for i in filterfalse(within, ordered))
            ja, en = self._legal_basis(rule, granted) if granted else (None, None)
        if refused:
            names = ", ".join(r.item for r in refused)
            message = f"rule {rule.id} (relation {relation}) does not cover: {names}"
            reason = Reason.ITEMS_REFUSED
            if not granted and all(r.reason is Reason.RELATION_MISSING for r in refused):
                # Nothing asked is open through the relation held; all of it through another.
                reason = Reason.RELATION_MISSING
                message = refused[0].message
        else:
            reason = Reason.ALLOWED
            message = f"allowed by rule {rule.id} through relation {relation}"
        out = Outcome(not refused, reason, message, rule.id, granted, refused, cats, ja, en)
        if asked <= self._item_keys:  # only item sets of the policy are memoised
            if len(self._outcomes) > _CACHE_MAX:
                self._outcomes.clear()
            self._outcomes[(grant.key, relation, asked)] = out
        return out

    def _items(
        self,
        request: AccessRequest,
        grant: Grant,
        relation: str,
        valid_from: datetime | None,
        valid_to: datetime | None,
    ) -> Decision:
        """The decision once ``grant`` applies through ``relation`` over the given window."""
        items = request.items
        out = self._outcomes.get((grant.key, relation, items)) or self._outcome(
            grant, relation, items
        )
        return new_decision(
            out.allowed,
            out.reason,
            out.message,
            request.purpose,
            request.action,
            request.party.code,
            out.rule_id,
            relation,
            out.granted,
            out.refused,
            out.basis_ja,
            out.basis_en,
            self.controllers(request.target, out.categories),
            valid_from,
            valid_to,
        )

    def _item_refusal(self, grant: Grant, item: str) -> RefusedItem:
        """Why ``grant`` refuses ``item`` (memoised per grant and item)."""
        found = self._item_refusals.get((grant.key, item))
        if found is None:
            rule = grant.rule
            needs = self._elsewhere.get(grant.key, {}).get(item)
            if needs is not None:
                found = RefusedItem(
                    item,
                    Reason.RELATION_MISSING,
                    f"{item!r} for purpose {rule.purpose} needs relation {needs} (not "
                    f"{', '.join(sorted(rule.relations))})",
                )
            elif item in self._order:
                found = RefusedItem(
                    item,
                    Reason.ITEM_NOT_PERMITTED,
                    f"rule {rule.id} does not let a {rule.party_kind} {grant.action} "
                    f"{item!r} for purpose {rule.purpose}",
                )
            else:  # any text a caller sends: not memoised
                return RefusedItem(
                    item, Reason.ITEM_UNKNOWN, f"{_quoted(item)} is not an item of the policy"
                )
            if len(self._item_refusals) > _CACHE_MAX:
                self._item_refusals.clear()
            self._item_refusals[(grant.key, item)] = found
        return found

    def _ordered(self, items: Iterable[str]) -> tuple[str, ...]:
        """``items`` in policy order; unknown items last, by name."""
        try:  # every item known (the usual case): no Python-level key function
            return tuple(sorted(items, key=self._order.__getitem__))
        except KeyError:
            last = len(self._order)
            return tuple(sorted(items, key=lambda i: (self._order.get(i, last), i)))


def _quoted(text: object, limit: int = 64) -> str:
    """``repr`` of caller-supplied text, cut to ``limit`` characters (a message never grows
    with what a caller sends)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def cache_sizes(engine: Engine) -> dict[str, int]:
    """Entries in each of ``engine``'s memo caches (for tests of their bounds)."""
    return {
        name: len(value)
        for name, value in vars(engine).items()
        if name.startswith("_") and isinstance(value, dict) and name not in ("_index", "_order")
    } | {"_early_records": sum(len(r) for _, _, r in engine._early.values())}


_ENGINES: dict[int, tuple[Policy, Engine]] = {}


def engine_for(policy: Policy) -> Engine:
    """The cached :class:`Engine` of ``policy`` (keyed by identity; the policy is immutable)."""
    entry = _ENGINES.get(id(policy))
    if entry is None or entry[0] is not policy:
        if len(_ENGINES) > 32:
            _ENGINES.clear()
        entry = (policy, Engine(policy))
        _ENGINES[id(policy)] = entry
    return entry[1]


def decide(policy: Policy, request: AccessRequest) -> Decision:
    """Decide ``request`` against ``policy`` (the policy's engine is built once and cached)."""
    return engine_for(policy).decide(request)
