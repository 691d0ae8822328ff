"""Relations derived from market flows, and the loaders of what a 廃止取次 carries.

Nothing here is asserted by the party who benefits: each relation holds because a flow is in a
state that other parties' steps put it in, and ends when the flow (or its 廃止取次) closes.

==========================  =================================================================
relation                    holds (one indexed query of the point's flows, shared)
==========================  =================================================================
``applicant``               for the retailer that filed a switch or a move-in of the point,
                            from filing until the flow completes, is withdrawn, refused or
                            expires (``[filed_at, closed_at)``); only for the point filed and,
                            when the target names a customer or a flow, only for the customer
                            it filed and that flow
``forwarding_addressee``    for the old retailer a 廃止取次 is addressed to, from its forwarding
                            until it is judged or the flow ends; only for that flow when the
                            target names one
``switching_operator``      for OCCTO, while it relays a flow of the point (any kind): from
                            filing until the flow closes — no standing relation to everyone
==========================  =================================================================

Loaders (purpose P2, 廃止取次): the basic items under P2 are what was *forwarded* (the name and
address the new retailer gave, the old contract number it named), not anyone's customer record;
the ``switching_messages`` category is the old retailer's judgement. Both read the 廃止取次 of the
target's flow (the target's ``flow_id``; without one, the latest 廃止取次 of the point that the
allowing relation concerns).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from jointuse.access.gate import GateParts, LoadContext, Loader, LoaderKey
from jointuse.access.relations import RelationContext, RelationProvider, period
from jointuse.core.errors import NotFound
from jointuse.flows import repository as repo
from jointuse.flows.model import APPLICANT_KINDS
from jointuse.flows.repository import FlowFacts
from jointuse.policy.engine import RelationPeriod

P2 = "P2_cancellation_forwarding"
_APPLICANT_KINDS = frozenset(k.value for k in APPLICANT_KINDS)


def _load_facts(ctx: RelationContext) -> list[FlowFacts]:
    t = ctx.target
    return repo.flow_facts(ctx.conn, supply_point_id=t.supply_point_id, customer_id=t.customer_id)


def flow_facts_of(ctx: RelationContext) -> list[FlowFacts]:
    """The target's flows, loaded once per request."""
    return ctx.memo("flows.facts", _load_facts)


def _concerns(ctx: RelationContext, f: FlowFacts) -> bool:
    t = ctx.target
    return t.flow_id is None or t.flow_id == f.flow_id


def _out(found: Iterable[RelationPeriod | None]) -> list[RelationPeriod]:
    return [p for p in found if p is not None]


def applicant(ctx: RelationContext) -> Iterable[RelationPeriod]:
    party = ctx.party
    if party.kind != "retailer":
        return ()
    customer = ctx.target.customer_id
    return _out(
        period("applicant", f.filed_at, f.closed_at)
        for f in flow_facts_of(ctx)
        if f.filed_by == party.code
        and f.kind in _APPLICANT_KINDS
        and (customer is None or f.customer_id == customer)
        and _concerns(ctx, f)
    )


def forwarding_addressee(ctx: RelationContext) -> Iterable[RelationPeriod]:
    party = ctx.party
    if party.kind != "retailer":
        return ()
    return _out(
        period("forwarding_addressee", f.forwarded_at, f.forwarding_closed_at)
        for f in flow_facts_of(ctx)
        if f.addressee == party.code and f.forwarded_at is not None and _concerns(ctx, f)
    )


def switching_operator(ctx: RelationContext) -> Iterable[RelationPeriod]:
    if ctx.party.kind != "occto":
        return ()
    return _out(
        period("switching_operator", f.filed_at, f.closed_at)
        for f in flow_facts_of(ctx)
        if _concerns(ctx, f)
    )


def provided_relations() -> dict[str, RelationProvider]:
    return {
        "applicant": applicant,
        "forwarding_addressee": forwarding_addressee,
        "switching_operator": switching_operator,
    }


# --- loaders ---------------------------------------------------------------------------------


def _held_during(f: FlowFacts, start: datetime | None, end: datetime | None) -> bool:
    """Whether the flow's 廃止取次 overlaps the allowing relation's period."""
    if f.forwarded_at is None:
        return False
    ends = f.forwarding_closed_at if f.forwarding_closed_at is not None else f.closed_at
    return (end is None or f.forwarded_at < end) and (start is None or ends is None or start < ends)


def forwarding_in_scope(ctx: LoadContext) -> repo.Forwarding:
    """The 廃止取次 the read concerns: of the target's flow, else the latest of the point whose
    time overlaps the allowing relation's period (the relation was derived from it)."""
    rc = ctx.relations
    candidates = [
        f
        for f in flow_facts_of(rc)
        if f.forwarding_id is not None
        and _concerns(rc, f)
        and _held_during(f, ctx.decision.valid_from, ctx.decision.valid_to)
    ]
    if not candidates:
        raise NotFound(
            "no cancellation forwarding of this supply point concerns you",
            supply_point_id=rc.target.supply_point_id,
            flow_id=rc.target.flow_id,
        )
    latest = max(candidates, key=lambda f: f.forwarded_at or f.filed_at)
    found = repo.get_forwarding(rc.conn, latest.forwarding_id or "")
    if found is None:  # the row was read in this transaction a moment ago
        raise NotFound("the cancellation forwarding is gone", flow_id=latest.flow_id)
    return found


def load_forwarded_basic(ctx: LoadContext) -> dict[str, object]:
    """P2's basic items: the name, address and old contract number as forwarded."""
    fw = forwarding_in_scope(ctx)
    return {
        "name": {"kanji": fw.name, "kana": fw.name_kana},
        "address": {
            "postal_code": fw.postal_code,
            "prefecture": fw.prefecture,
            "rest": fw.address_rest,
        },
        "contract_number": fw.old_contract_number,
        "phone": None,
    }


def load_judgement(ctx: LoadContext) -> dict[str, object]:
    """``forwarding_judgement``: OK/NG with its reason codes (None while not judged)."""
    fw = forwarding_in_scope(ctx)
    return {
        "forwarding_judgement": {
            "forwarding_id": fw.id,
            "flow_id": fw.flow_id,
            "result": fw.result,
            "reasons": list(fw.reasons),
            "mode": fw.mode,
            "judged_at": fw.judged_at.isoformat() if fw.judged_at else None,
        }
    }


def loaders() -> dict[LoaderKey, Loader]:
    return {(P2, "basic"): load_forwarded_basic, "switching_messages": load_judgement}


def gate_parts() -> GateParts:
    """What this area plugs into the gate (:func:`jointuse.assembly.build_gate`)."""
    return GateParts(relations=provided_relations(), loaders=loaders())
