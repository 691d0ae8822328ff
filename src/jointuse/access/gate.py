"""The one gate for personal data (個人データへの唯一の入口).

Every read or write of personal data — API, pages, CLI, batch — goes through :class:`Gate`:

1. compute the relations between the acting party and the target at ``at``
   (:mod:`jointuse.customers.relations`; one indexed query per relation kind at most) — only
   those a rule for the request's (purpose, party kind, action) accepts: no other could allow it
   (a retailer's P3 inquiry computes ``applicant`` alone; a TSO's P4 read ``area_tso``, no query);
2. ask the policy engine (:meth:`jointuse.policy.engine.Engine.decide`). The target's contract
   facts (kind and retailer of the contract in force) serve only controller resolution; for a
   target with a supply point they are loaded (one query) only when the decision names a
   controller that depends on them (:func:`contract_categories`), and the engine decides again
   with them — the decision is the one the full facts give;
3. on allow: **read** — load the data of the granted items' categories through the registered
   loaders and project it down to the granted items (and, for the contract-bound basic items,
   to the contract in force within the allowing relation's period); **write** — run the use
   case's change;
4. append the decision, allowed **or** denied, to the access ledger
   (:func:`jointuse.ledger.service.append`) on the unit of work's connection: the same
   transaction as the change. A change that fails after the decision rolls back with its entry:
   a rolled-back change leaves no entry.

Denials (the design)
    A denial raises :class:`PolicyDenied` (an :class:`~jointuse.core.errors.AccessDenied`, HTTP
    403) carrying the decision: rule, reason code, refused items with reasons, and for
    ``purpose_missing``/``purpose_unknown`` the valid purposes. The denial must reach the ledger
    although the use case fails, so **the gate ends the unit of work itself**: it rolls back the
    unit of work's uncommitted changes (the use case is failing; they must not half-happen),
    appends again the ledger entries of the reads this unit of work was already allowed (their
    data may have left), appends the denial, and **commits**; then it raises. The enclosing
    :class:`~jointuse.core.db.UnitOfWork` sees the exception and rolls back an empty transaction
    (a no-op). A caller that catches :class:`PolicyDenied` and carries on gets a fresh
    transaction on the same unit of work. The gate therefore refuses a read-only unit of work
    (its end would roll back the reads' entries).

Ledger fields
    party, purpose (``"(none)"`` when missing; unprintable text made printable), action, decision,
    supply point and customer of the target, items granted (allowed) or refused with their reason
    codes, rule id, request id (the server's own, :mod:`jointuse.core.http`), the caller's own
    request ID when it gave one (``caller_request_id``; by default the one of the request being
    served, :mod:`jointuse.core.request_ids`), the acting user within the party
    (``acting_user``: None until parties have users; the seam is :func:`ledger_entry`'s and the
    two doors' ``acting_user``), and the time the gate records it (set when the entry is built,
    just before its append; a read's entry appended again with a later denial keeps the time of
    the read). A denial of a request that named no items
    (``items=None``: "every item the rule allows") records one refused item ``"*"`` with the
    decision's reason, so every denial's reason is on the ledger.

The subject door
    :meth:`Gate.subject_read` is the data subject's own read (開示請求, APPI Art. 33): no joint
    user uses the data, so no rule decides it; the relation is the customer's proven tenure, the
    loaders are the same, the data cut to the tenure, the read recorded on the ledger (party
    ``customer:<account>``, purpose ``subject:disclosure``) in the same transaction.

Extension points
    :class:`~jointuse.customers.relations.RelationRegistry` (e.g. ``dr_resource`` from the
    negawatt area) and :attr:`Gate.loaders`, one :data:`Loader` per item category (``basic`` and
    ``supply_point`` built in; negawatt, forwarding and readings add theirs with
    :meth:`Gate.with_loader`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from jointuse.access.relations import (
    RelationContext,
    RelationProvider,
    RelationRegistry,
    TargetFacts,
    TargetRef,
)
from jointuse.core.conflicts import conflict_from
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied, ConfigError, JointuseError
from jointuse.core.request_ids import current_caller_request_id
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.chain import RefusedItem as LedgerRefused
from jointuse.ledger.service import append
from jointuse.policy.engine import (
    ACTIONS,
    AccessRequest,
    Decision,
    Engine,
    Party,
    PartyStatus,
    Reason,
    RefusedItem,
    RelationPeriod,
    Target,
    engine_for,
)
from jointuse.policy.model import Policy
from jointuse.policy.versions import PolicyVersions, VersionedEngine

_READS_KEY = "jointuse.gate.allowed_reads"
NO_PURPOSE = "(none)"
WHOLE_REQUEST = "*"
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class GateResult:
    """The decision, and the data: for a read, the granted items' values (item key → value);
    for a write, what the change returned."""

    decision: Decision
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What a loader needs: the request's relation context and the allowing decision."""

    relations: RelationContext
    decision: Decision
    items: tuple[str, ...]

    @property
    def conn(self) -> Connection:
        return self.relations.conn


Loader = Callable[[LoadContext], dict[str, object]]
"""Loads the values of ``ctx.items`` (all of one category) for the target."""

Change = Callable[[RelationContext], dict[str, object] | None]
"""A write's change, run on allow inside the transaction (raise to roll back)."""


class PolicyDenied(AccessDenied):
    """The policy refused; ``decision`` is the engine's decision (already on the ledger)."""

    recorded_on_ledger = True

    def __init__(self, decision: Decision, *, request_id: str, valid_purposes: list[str]) -> None:
        details: dict[str, Any] = {
            "reason": decision.reason.value,
            "rule_id": decision.rule_id,
            "purpose": decision.purpose,
            "action": decision.action,
            "request_id": request_id,
            "refused": [
                {"item": r.item, "reason": r.reason.value, "message": r.message}
                for r in decision.refused
            ],
        }
        if decision.reason in (Reason.PURPOSE_MISSING, Reason.PURPOSE_UNKNOWN):
            details["valid_purposes"] = valid_purposes
        super().__init__(decision.message, **details)
        self.decision = decision


class NoLoader(JointuseError):
    """The policy allows the read, but this installation holds no data of a granted category
    (a category the composition root left ``unloaded``): 501, recorded on the ledger as a
    refusal with reason ``not_available`` for each of its items — never a 500."""

    code = "not_available"
    status = 501
    recorded_on_ledger = True


def _printable(text: str, limit: int = 200) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in text).strip()
    return (clean or "?")[:limit]


def ledger_entry(
    *,
    actor: Party,
    purpose: str | None,
    action: Literal["read", "write"],
    target: TargetRef,
    decision: Decision,
    request_id: str,
    caller_request_id: str | None = None,
    acting_user: str | None = None,
) -> LedgerEntry:
    """The ledger entry recording ``decision`` (see the module docstring for the fields).

    ``request_id`` is the server's ID of the request; ``caller_request_id`` the caller's own
    (already made safe by the HTTP layer; default: the one of the request being served,
    :func:`~jointuse.core.request_ids.current_caller_request_id`); ``acting_user`` the person
    within ``actor`` who acted (default: the user the actor's token belongs to, ``actor.user``;
    None for a system client, the CLI and batch jobs). An allowed read records the window of
    the data's own dates it opened (``data_from``/``data_to``: the decision's
    ``valid_from``/``valid_to``, which the loaders cut to) beside the moment of access."""
    refused = tuple(LedgerRefused(_printable(r.item), r.reason.value) for r in decision.refused)
    if not decision.allowed and not refused:
        refused = (LedgerRefused(WHOLE_REQUEST, decision.reason.value),)
    if caller_request_id is None:
        caller_request_id = current_caller_request_id()
    if acting_user is None:
        acting_user = actor.user
    # The window of the data's dates an allowed read opened (the relation's period, or the
    # consent's data window): recorded beside the moment of access (ledger format 4).
    opened = decision.allowed and action == "read"
    return LedgerEntry(
        party=actor.code,
        purpose=_printable(purpose) if purpose else NO_PURPOSE,
        action=action,
        decision="allowed" if decision.allowed else "denied",
        supply_point_id=target.supply_point_id,
        customer_id=target.customer_id,
        items_granted=decision.granted if decision.allowed else (),
        items_refused=refused,
        rule_id=decision.rule_id,
        request_id=_printable(request_id),
        # Stamped here, so the ledger's append takes the entry as it is (no second build).
        recorded_at=datetime.now(UTC),
        caller_request_id=_printable(caller_request_id) if caller_request_id else None,
        acting_user=_printable(acting_user) if acting_user else None,
        data_from=decision.valid_from if opened else None,
        data_to=decision.valid_to if opened else None,
    )


@dataclass(frozen=True, slots=True)
class _Ids:
    """Who and which request, as recorded on the ledger (see :func:`ledger_entry`)."""

    request_id: str
    caller_request_id: str | None = None
    acting_user: str | None = None
    basis: str | None = None


def _with_basis(entry: LedgerEntry, basis: str | None) -> LedgerEntry:
    """``entry`` naming the record the decision relied on beside its rule (a customer's consent
    of a consent-based provision: ``C1-retailer-usage-inquiry consent:<id>``)."""
    if basis is None:
        return entry
    return dataclasses.replace(entry, rule_id=f"{entry.rule_id or ''} {_printable(basis, 100)}")


def commit_alone(uow: UnitOfWork, entry: LedgerEntry) -> None:
    """End ``uow`` with ``entry`` on the ledger although its use case fails: undo the unit of
    work's changes (they must not half-happen), append again the entries of the reads it was
    already allowed (their data may have left), append ``entry``, commit. The caller then raises
    its refusal; the enclosing unit of work rolls back an empty transaction. Every refusal of an
    authenticated caller goes through here — the gate's and those of use cases that refuse
    before any decision is possible (an order for points outside the TSO's area, say)."""
    kept: list[LedgerEntry] = uow.info.pop(_READS_KEY, [])
    session = uow.session
    session.rollback()
    for done in kept:
        append(session, done)
    append(session, entry)
    session.commit()


def refusal_entry(
    *,
    actor: Party,
    purpose: str | None,
    action: Literal["read", "write"],
    supply_point_id: str | None,
    customer_id: str | None,
    reason: str,
    request_id: str,
) -> LedgerEntry:
    """The ledger entry of a refusal decided before the policy (at the HTTP edge: bad input,
    body too large, a bad purpose header …): denied, no rule, the whole request (item ``"*"``)
    refused with ``reason``; the target's IDs where the request named valid ones, else null."""
    return LedgerEntry(
        party=actor.code,
        purpose=_printable(purpose) if purpose else NO_PURPOSE,
        action=action,
        decision="denied",
        supply_point_id=supply_point_id,
        customer_id=customer_id,
        items_granted=(),
        items_refused=(LedgerRefused(WHOLE_REQUEST, _printable(reason, 64)),),
        rule_id=None,
        request_id=_printable(request_id),
        recorded_at=datetime.now(UTC),
        caller_request_id=_caller(),
        acting_user=_printable(actor.user) if actor.user else None,
    )


def _caller() -> str | None:
    found = current_caller_request_id()
    return _printable(found) if found else None


def wanted_relations(policy: Policy) -> dict[tuple[str | None, str, str], frozenset[str]]:
    """(purpose, party kind, action) → the relations the policy's rules for it accept.

    No other relation can allow such a request, so the gate computes only these (and none for a
    combination no rule covers: the engine refuses it before looking at relations)."""
    out: dict[tuple[str | None, str, str], frozenset[str]] = {}
    for rule in policy.rules:
        for action in ACTIONS:
            if rule.items_for(action):
                key = (rule.purpose, rule.party_kind, action)
                out[key] = out.get(key, _NONE) | rule.relations
    return out


def contract_categories(policy: Policy) -> frozenset[str]:
    """Categories whose controller depends on the contract in force: through
    ``contract_holder`` (its retailer) or with contract-kind exceptions (its kind)."""
    return frozenset(
        c.category for c in policy.controllers if c.relation == "contract_holder" or c.exceptions
    )


LoaderKey = str | tuple[str, str]
"""A loader is registered for a category (``"basic"``), or for one purpose's reads of a category
(``("P2_cancellation_forwarding", "basic")``: what was forwarded, not the customer record);
the purpose-specific one wins."""


ROLE_PURPOSES: dict[str, frozenset[str] | None] = {
    "operator": None,
    "field_staff": frozenset({"P4_tso_operations"}),
    "auditor": frozenset(),
    "administrator": frozenset(),
}
"""What a person of each role may reach through the gate (None: whatever the party may).
``field_staff`` work under P4 only (meter reading, maintenance, outages — and the contact data
only through the work orders that open it); ``auditor`` and ``administrator`` read the ledger and
manage users and tokens, never personal data. A named system client acts as the party
(users and tokens: :func:`jointuse.parties.service.add_user`, ``issue_token``)."""


def _role_refusal(decision: Decision, actor: Party, asked: frozenset[str]) -> Decision:
    message = (
        f"user {actor.user!r} of {actor.code} has the role {actor.role}, which may not act "
        f"under {decision.purpose}"
    )
    return dataclasses.replace(
        decision,
        allowed=False,
        reason=Reason.ROLE_NOT_PERMITTED,
        message=message,
        granted=(),
        refused=tuple(
            RefusedItem(i, Reason.ROLE_NOT_PERMITTED, message)
            for i in sorted(asked or decision.granted)
        ),
    )


def _union(values: list[frozenset[str] | None]) -> frozenset[str] | None:
    if any(v is None for v in values):
        return None
    return frozenset().union(*(v for v in values if v is not None))


def narrow(
    decision: Decision, relations: tuple[RelationPeriod, ...], at: datetime, asked: frozenset[str]
) -> Decision:
    """The engine's allowed ``decision`` narrowed by the scopes of the periods of its relation
    holding at ``at`` (a customer's consent: :class:`~jointuse.policy.requests.Scope`).

    Several scoped periods of the relation (two agreements, say) open the union of their
    scopes. A purpose outside the scope refuses everything (``outside_scope``; the gate drops such
    periods before deciding, so this is a guard); items outside it
    are dropped from what is granted and, when asked for, refused one by one (``outside_scope``)
    — the decision then refused as any request with an item refused is. The data window
    (``valid_from``/``valid_to``, which the loaders cut to) becomes the scope's."""
    held = [r for r in relations if r.relation == decision.relation and r.holds_at(at)]
    scopes = [r.scope for r in held]
    if not held or any(s is None for s in scopes):
        return decision  # an unscoped period of the relation holds: the rule's whole grant
    real = [s for s in scopes if s is not None]
    purposes = _union([s.purposes for s in real])
    items = _union([s.items for s in real])
    note = "; ".join(dict.fromkeys(s.note for s in real if s.note)) or "the customer's consent"
    if purposes is not None and decision.purpose not in purposes:
        message = (
            f"purpose {decision.purpose} is outside the scope of {note} "
            f"(which covers: {', '.join(sorted(purposes)) or 'nothing'})"
        )
        refused = tuple(
            RefusedItem(i, Reason.OUTSIDE_SCOPE, message) for i in sorted(asked or decision.granted)
        )
        return dataclasses.replace(
            decision,
            allowed=False,
            reason=Reason.OUTSIDE_SCOPE,
            message=message,
            granted=(),
            refused=refused,
        )
    froms = [s.data_from for s in real]
    tos = [s.data_to for s in real]
    data_from = None if any(f is None for f in froms) else min(f for f in froms if f is not None)
    data_to = None if any(t is None for t in tos) else max(t for t in tos if t is not None)
    # The scope's data window replaces the relation's period as what the loaders cut to: a
    # settling window after the end holds later than the data it opens.
    valid_from = data_from if data_from is not None else decision.valid_from
    valid_to = data_to if data_to is not None else decision.valid_to
    granted = decision.granted
    refused_now: tuple[RefusedItem, ...] = ()
    if items is not None:
        kept = tuple(i for i in granted if i in items)
        cut = [i for i in granted if i not in items]
        if cut:
            message = f"outside the scope of {note}: {', '.join(cut)}"
            refused_now = tuple(
                RefusedItem(i, Reason.OUTSIDE_SCOPE, message) for i in cut if i in asked
            )
        granted = kept
    if not granted:
        message = f"nothing asked is within the scope of {note}"
        return dataclasses.replace(
            decision,
            allowed=False,
            reason=Reason.OUTSIDE_SCOPE,
            message=message,
            granted=(),
            refused=tuple(RefusedItem(i, Reason.OUTSIDE_SCOPE, message) for i in sorted(asked))
            or decision.refused,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    if refused_now:
        return dataclasses.replace(
            decision,
            allowed=False,
            reason=Reason.ITEMS_REFUSED,
            message=refused_now[0].message,
            granted=granted,
            refused=decision.refused + refused_now,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    return dataclasses.replace(decision, granted=granted, valid_from=valid_from, valid_to=valid_to)


@dataclass(frozen=True, slots=True)
class GateParts:
    """What one business area plugs into the gate: its relation providers, its loaders and, for
    the area holding contracts, the target facts controllers need."""

    relations: Mapping[str, RelationProvider] = field(default_factory=dict)
    loaders: Mapping[LoaderKey, Loader] = field(default_factory=dict)
    target_facts: TargetFacts | None = None


def wiring_gaps(
    policy: Policy,
    relations: RelationRegistry,
    loaders: Mapping[LoaderKey, Loader],
    *,
    unloaded: Iterable[str] = (),
) -> list[str]:
    """What the policy needs that no area provides: a relation some rule accepts with no
    provider (the rule could never apply), a category some rule grants for reading with no
    loader (an allowed read would have no data). Empty when the gate is complete."""
    gaps: list[str] = []
    skip = frozenset(unloaded)
    category = {it.key: it.category for it in policy.items}
    for rule in policy.rules:
        for relation in sorted(rule.relations - set(relations.providers)):
            gaps.append(f"rule {rule.id}: no area provides the relation {relation!r}")
        for cat in sorted({category[i] for i in rule.items_for("read")}):
            if cat not in loaders and (rule.purpose, cat) not in loaders and cat not in skip:
                gaps.append(f"rule {rule.id}: no loader reads category {cat!r}")
    return gaps


class Gate:
    """Policy decision + data access + ledger record, in one transaction (module docstring).

    Build it once per policy in a composition root (:func:`jointuse.assembly.build_gate`) from
    every area's :class:`GateParts`; every entry point (API, CLI, batch, pages) uses that one.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        relations: RelationRegistry,
        loaders: Mapping[LoaderKey, Loader],
        target_facts: TargetFacts | None = None,
        versions: PolicyVersions | None = None,
    ) -> None:
        self.policy = policy
        # Several versions (Art. 27(6)): each request decided by the one in force at its time.
        self.versions = versions
        self.engine: Engine | VersionedEngine = (
            engine_for(self.policy) if versions is None else VersionedEngine(versions)
        )
        self.relations = relations
        self.loaders: Mapping[LoaderKey, Loader] = MappingProxyType(dict(loaders))
        self.target_facts = target_facts
        every = (policy,) if versions is None else tuple(v.policy for v in versions.versions)
        self._category = {it.key: it.category for p in every for it in p.items}
        self._purposes = [p.key for p in self.policy.purposes]
        self._wanted: dict[tuple[str | None, str, str], frozenset[str]] = {}
        for version in every:
            for slot, wanted in wanted_relations(version).items():
                self._wanted[slot] = self._wanted.get(slot, frozenset()) | wanted
        self._contract_categories = frozenset().union(*(contract_categories(p) for p in every))
        self._unloaded_memo: dict[tuple[str | None, tuple[str, ...]], dict[str, list[str]]] = {}

    @classmethod
    def assemble(
        cls,
        policy: Policy,
        parts: Iterable[GateParts],
        *,
        unloaded: Iterable[str] = (),
        versions: PolicyVersions | None = None,
    ) -> Gate:
        """One gate from the areas' parts. It refuses to build with :func:`wiring_gaps` (a
        :class:`~jointuse.core.errors.ConfigError` listing them), so that no allowed decision can
        end without data — but for the categories named in ``unloaded``, whose reads are then
        refused by :class:`NoLoader`. Two areas providing one relation, loader or the target
        facts is a wiring error too."""
        registry = RelationRegistry()
        loaders: dict[LoaderKey, Loader] = {}
        facts: TargetFacts | None = None
        for part in parts:
            registry = registry.merged(part.relations)
            twice = sorted(str(k) for k in set(loaders) & set(part.loaders))
            if twice:
                raise ValueError(f"loaders registered twice: {', '.join(twice)}")
            loaders.update(part.loaders)
            if part.target_facts is not None:
                if facts is not None:
                    raise ValueError("two areas provide the target facts")
                facts = part.target_facts
        unloaded = tuple(unloaded)
        every = [policy] if versions is None else [v.policy for v in versions.versions]
        gaps = [g for p in every for g in wiring_gaps(p, registry, loaders, unloaded=unloaded)]
        if gaps:
            raise ConfigError(
                "the gate cannot serve this policy: " + "; ".join(gaps),
                file=policy.source or "(policy)",
                valid="a policy whose relations and categories the installed areas provide",
            )
        return cls(
            policy, relations=registry, loaders=loaders, target_facts=facts, versions=versions
        )

    def with_loader(self, key: LoaderKey, loader: Loader) -> Gate:
        """A gate like this one with ``loader`` for ``key`` (a category, or purpose and
        category) — for a use case that loads one category its own way (e.g. a window of
        meter days)."""
        return Gate(
            self.policy,
            relations=self.relations,
            loaders={**self.loaders, key: loader},
            target_facts=self.target_facts,
            versions=self.versions,
        )

    def with_relations(self, registry: RelationRegistry) -> Gate:
        return Gate(
            self.policy,
            relations=registry,
            loaders=self.loaders,
            target_facts=self.target_facts,
            versions=self.versions,
        )

    def _facts(self, ctx: RelationContext) -> Target:
        return self.target_facts(ctx) if self.target_facts is not None else ctx.light_target()

    # -- the two doors -------------------------------------------------------------------------

    def read(
        self,
        uow: UnitOfWork,
        *,
        actor: Party,
        purpose: str | None,
        target: TargetRef,
        items: frozenset[str] | None,
        request_id: str,
        at: datetime,
        caller_request_id: str | None = None,
        acting_user: str | None = None,
        basis: str | None = None,
    ) -> GateResult:
        """Read personal data: decide, load and project, record. Raises :class:`PolicyDenied`.

        ``request_id``: the server's ID of the request; ``caller_request_id``: the caller's own
        (made safe), if any; ``acting_user``: the person within the party (None for now);
        ``basis``: the record the use case relies on (``consent:<id>`` for a provision by the
        customer's consent), named on the entry after the rule, allowed or denied."""
        ids = _Ids(request_id, caller_request_id, acting_user, basis)
        ctx, decision = self._decide(uow, actor, purpose, "read", target, items, at, ())
        if not decision.allowed:
            self._deny(uow, ctx, decision, purpose, "read", ids)
        missing = self._unloaded(decision)
        if missing:
            self._unavailable(uow, ctx, decision, purpose, ids, missing)
        data = self._load(ctx, decision)
        entry = ledger_entry(
            actor=actor,
            purpose=purpose,
            action="read",
            target=target,
            decision=decision,
            request_id=request_id,
            caller_request_id=caller_request_id,
            acting_user=acting_user,
        )
        entry = _with_basis(entry, basis)
        append(uow.connection, entry)
        uow.info.setdefault(_READS_KEY, []).append(entry)
        return GateResult(decision, data)

    def write(
        self,
        uow: UnitOfWork,
        *,
        actor: Party,
        purpose: str | None,
        target: TargetRef,
        items: frozenset[str] | None,
        request_id: str,
        at: datetime,
        change: Change,
        establishes: tuple[RelationPeriod, ...] = (),
        caller_request_id: str | None = None,
        acting_user: str | None = None,
    ) -> GateResult:
        """Write personal data: decide, run ``change``, record — one transaction.

        ``establishes`` are relations the write itself creates (a retailer registering its own
        contract becomes its ``contract_holder``; recording a customer's application makes it
        the ``applicant``): the engine decides with them added. The use case asserts them only
        for the acting party, from the record it is writing; they are on the ledger as the
        decision's relation, so such writes stay auditable.
        """
        ids = _Ids(request_id, caller_request_id, acting_user)
        ctx, decision = self._decide(uow, actor, purpose, "write", target, items, at, establishes)
        if not decision.allowed:
            self._deny(uow, ctx, decision, purpose, "write", ids)
        try:
            data = change(ctx) or {}
        except (AccessDenied, NoLoader):
            raise  # a nested gate call refused: it has recorded and committed its refusal
        except JointuseError as exc:
            rule = exc.details.get("rule")
            code = f"{exc.code}:{rule}" if isinstance(rule, str) else exc.code
            self._failed(uow, ctx, decision, purpose, ids, code)
            exc.recorded_on_ledger = True  # the HTTP edge records it no second time
            raise
        except IntegrityError as exc:
            conflict = conflict_from(exc)
            if conflict is None:  # a constraint no rule names: a bug, not a refusal
                raise
            self._failed(uow, ctx, decision, purpose, ids, f"conflict:{conflict.rule}")
            conflict.recorded_on_ledger = True
            raise conflict from None
        append(
            uow.connection,
            ledger_entry(
                actor=actor,
                purpose=purpose,
                action="write",
                target=target,
                decision=decision,
                request_id=request_id,
                caller_request_id=caller_request_id,
                acting_user=acting_user,
            ),
        )
        return GateResult(decision, data)

    def subject_read(
        self,
        uow: UnitOfWork,
        *,
        subject: str,
        purpose: str,
        target: TargetRef,
        categories: Iterable[str],
        valid_from: datetime,
        valid_to: datetime | None,
        request_id: str,
        at: datetime,
    ) -> GateResult:
        """The data subject's own read (本人の開示請求, APPI Art. 33): the third door.

        No joint user uses the data, so no rule of the policy decides it: the relation is the
        subject's proven tenure (``valid_from`` … ``valid_to``, relation ``data_subject``), the
        items every item of ``categories``. The data are loaded by the same loaders as any read,
        at a moment within the tenure (``at``, or the tenure's last moment for a past one) and
        cut to it; the read is recorded on the ledger in the same transaction (party ``subject``,
        e.g. ``customer:<account>``; ``purpose`` a ``subject:…`` purpose, which is its rule)."""
        if not purpose.startswith("subject:") or not subject.startswith("customer:"):
            raise ValueError("a subject read is a customer's (customer:…) for a subject: purpose")
        if uow.read_only:
            raise RuntimeError(
                "the gate records every access on the ledger: use a read-write UnitOfWork"
            )
        moment = at
        if valid_to is not None and moment >= valid_to:
            moment = valid_to - timedelta(microseconds=1)
        wanted = frozenset(categories)
        granted = tuple(it.key for it in self.policy.items if it.category in wanted)
        actor = Party(subject, "data_subject")
        decision = Decision(
            allowed=True,
            reason=Reason.ALLOWED,
            message="the data subject's own data (APPI Art. 33), within their tenure",
            purpose=purpose,
            action="read",
            party_code=subject,
            rule_id=purpose,
            relation="data_subject",
            granted=granted,
            valid_from=valid_from,
            valid_to=valid_to,
        )
        ctx = RelationContext(uow.connection, actor, target, moment)
        data = self._load(ctx, decision)
        entry = ledger_entry(
            actor=actor,
            purpose=purpose,
            action="read",
            target=target,
            decision=decision,
            request_id=request_id,
        )
        append(uow.connection, entry)
        uow.info.setdefault(_READS_KEY, []).append(entry)
        return GateResult(decision, data)

    # -- steps ---------------------------------------------------------------------------------

    def _decide(
        self,
        uow: UnitOfWork,
        actor: Party,
        purpose: str | None,
        action: Literal["read", "write"],
        target: TargetRef,
        items: frozenset[str] | None,
        at: datetime,
        establishes: tuple[RelationPeriod, ...],
    ) -> tuple[RelationContext, Decision]:
        if uow.read_only:
            raise RuntimeError(
                "the gate records every access on the ledger: use a read-write UnitOfWork"
            )
        ctx = RelationContext(uow.connection, actor, target, at)
        if actor.role is not None and actor.role not in ROLE_PURPOSES:
            raise ValueError(f"unknown role {actor.role!r}")
        allowed_purposes = ROLE_PURPOSES.get(actor.role) if actor.role is not None else None
        role_blocks = allowed_purposes is not None and purpose not in allowed_purposes
        # Only relations a rule of (purpose, party kind, action) accepts can allow the request;
        # an inactive party is refused before relations are looked at.
        wanted = (
            self._wanted.get((purpose, actor.kind, action), _NONE)
            if actor.status is PartyStatus.ACTIVE
            else _NONE
        )
        relations = self.relations.relations(ctx, wanted) + tuple(establishes)
        if any(r.scope is not None for r in relations):
            # A period scoped to other purposes (a consent, a settling window) is no relation
            # for this one: the engine then decides as if it were not held.
            relations = tuple(
                r
                for r in relations
                if r.scope is None or r.scope.purposes is None or purpose in r.scope.purposes
            )
        light = target.supply_point_id is not None
        request = AccessRequest(
            party=actor,
            purpose=purpose,
            action=action,
            target=ctx.light_target() if light else self._facts(ctx),
            at=at,
            items=items or frozenset(),
            relations=relations,
        )
        decision = self.engine.decide(request)
        if decision.allowed and any(r.scope is not None for r in relations):
            decision = narrow(decision, relations, at, request.items)
        if decision.allowed and role_blocks:
            return ctx, _role_refusal(decision, actor, request.items)
        if light and any(c.category in self._contract_categories for c in decision.controllers):
            # A controller of the decision depends on the contract in force: decide with it.
            request = AccessRequest(
                party=actor,
                purpose=purpose,
                action=action,
                target=self._facts(ctx),
                at=at,
                items=request.items,
                relations=relations,
            )
            decision = self.engine.decide(request)
            if decision.allowed and any(r.scope is not None for r in relations):
                decision = narrow(decision, relations, at, request.items)
            if (
                decision.allowed
                and allowed_purposes is not None
                and purpose not in allowed_purposes
            ):
                decision = _role_refusal(decision, actor, request.items)
        return ctx, decision

    def _failed(
        self,
        uow: UnitOfWork,
        ctx: RelationContext,
        decision: Decision,
        purpose: str | None,
        ids: _Ids,
        code: str,
    ) -> None:
        """The policy allowed a write, the business refused it (the change raised a refusal,
        or the database a named rule): undo the unit of work's changes, keep the entries of
        reads already allowed, record the write as allowed then failed — its granted items,
        and the refused item ``*`` with reason ``failed:<code>`` — and commit. The caller
        re-raises the refusal."""
        failed = ledger_entry(
            actor=ctx.party,
            purpose=purpose,
            action="write",
            target=ctx.target,
            decision=decision,
            request_id=ids.request_id,
            caller_request_id=ids.caller_request_id,
            acting_user=ids.acting_user,
        )
        commit_alone(
            uow,
            dataclasses.replace(
                failed, items_refused=(LedgerRefused(WHOLE_REQUEST, f"failed:{code}"[:200]),)
            ),
        )

    def _deny(
        self,
        uow: UnitOfWork,
        ctx: RelationContext,
        decision: Decision,
        purpose: str | None,
        action: Literal["read", "write"],
        ids: _Ids,
    ) -> None:
        commit_alone(
            uow,
            _with_basis(
                ledger_entry(
                    actor=ctx.party,
                    purpose=purpose,
                    action=action,
                    target=ctx.target,
                    decision=decision,
                    request_id=ids.request_id,
                    caller_request_id=ids.caller_request_id,
                    acting_user=ids.acting_user,
                ),
                ids.basis,
            ),
        )
        raise PolicyDenied(decision, request_id=ids.request_id, valid_purposes=self._purposes)

    def _loader(self, purpose: str | None, category: str) -> Loader | None:
        loader = self.loaders.get((purpose, category)) if purpose else None
        return loader if loader is not None else self.loaders.get(category)

    def _unloaded(self, decision: Decision) -> dict[str, list[str]]:
        """Granted items by category, of the categories no loader reads (normally none;
        memoised per purpose and granted items, a shape the policy bounds)."""
        key = (decision.purpose, decision.granted)
        found = self._unloaded_memo.get(key)
        if found is None:
            found = {}
            for item in decision.granted:
                category = self._category[item]
                if self._loader(decision.purpose, category) is None:
                    found.setdefault(category, []).append(item)
            self._unloaded_memo[key] = found
        return found

    def _unavailable(
        self,
        uow: UnitOfWork,
        ctx: RelationContext,
        decision: Decision,
        purpose: str | None,
        ids: _Ids,
        missing: dict[str, list[str]],
    ) -> None:
        """Record the read as refused (``not_available`` per unavailable item), commit, raise."""
        items = [item for keys in missing.values() for item in keys]
        caller_id = ids.caller_request_id or current_caller_request_id()
        commit_alone(
            uow,
            LedgerEntry(
                party=ctx.party.code,
                purpose=_printable(purpose) if purpose else NO_PURPOSE,
                action="read",
                decision="denied",
                supply_point_id=ctx.target.supply_point_id,
                customer_id=ctx.target.customer_id,
                items_refused=tuple(LedgerRefused(i, NoLoader.code) for i in items),
                rule_id=decision.rule_id,
                request_id=_printable(ids.request_id),
                recorded_at=datetime.now(UTC),
                caller_request_id=_printable(caller_id) if caller_id else None,
                acting_user=_printable(ids.acting_user) if ids.acting_user else None,
            ),
        )
        raise NoLoader(
            f"the policy allows reading {', '.join(items)}, but this installation holds no "
            f"{', '.join(sorted(missing))} data; ask for other items",
            items=items,
            rule=decision.rule_id,
        )

    def _load(self, ctx: RelationContext, decision: Decision) -> dict[str, object]:
        by_category: dict[str, list[str]] = {}
        for item in decision.granted:
            by_category.setdefault(self._category[item], []).append(item)
        data: dict[str, object] = {}
        for category, keys in by_category.items():
            loader = self._loader(decision.purpose, category)
            if loader is None:  # _unloaded() found none before the read was recorded
                raise RuntimeError(f"no loader for {category!r}")
            values = loader(LoadContext(ctx, decision, tuple(keys)))
            data.update({k: values[k] for k in keys if k in values})
        return data
