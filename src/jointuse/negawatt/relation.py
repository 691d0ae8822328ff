"""The ``dr_resource`` relation and the negawatt area's gate; the purposes and items it uses.

:func:`dr_resource_relation` derives the relation from the contractor's DR agreements for the
point (from ``agreed_on`` JST midnight to the earlier of ``expires_on`` and the moment of
withdrawal); :func:`negawatt_gate` plugs it into the customers area's gate with
:meth:`~jointuse.customers.relations.RelationRegistry.with_provider`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from jointuse.access.gate import Gate
from jointuse.core.errors import ValidationError
from jointuse.customers.relations import RelationContext, jst_midnight
from jointuse.negawatt import repository as repo
from jointuse.negawatt.repository import Agreement
from jointuse.policy.engine import RelationPeriod

P4 = "P4_tso_operations"
P5 = "P5_negawatt"
READINGS = frozenset({"interval_readings"})
NEGAWATT_WRITE = frozenset({"baseline", "demand_suppressed"})


def agreement_period(a: Agreement) -> tuple[dt.datetime, dt.datetime | None]:
    """``[agreed_on, min(expires_on, withdrawn_at))`` as moments (JST midnights)."""
    start = jst_midnight(a.agreed_on)
    ends = [jst_midnight(a.expires_on)] if a.expires_on else []
    if a.withdrawn_at is not None:
        ends.append(a.withdrawn_at)
    return start, min(ends) if ends else None


def dr_resource_relation(ctx: RelationContext) -> Iterable[RelationPeriod]:
    """Provider of ``dr_resource``: the acting contractor's agreements for the target."""
    if ctx.party.kind != "dr_contractor":
        return ()
    t = ctx.target
    out = []
    for a in repo.agreements_for(
        ctx.conn, ctx.party.code, supply_point_id=t.supply_point_id, customer_id=t.customer_id
    ):
        start, end = agreement_period(a)
        if end is None or end > start:
            out.append(RelationPeriod("dr_resource", start, end))
    return out


_GATE: list[Gate] = []


def negawatt_gate(base: Gate | None = None) -> Gate:
    """``base`` (default: the customers area's gate) plus the ``dr_resource`` provider."""
    if base is None and _GATE:
        return _GATE[0]
    from jointuse.customers.service import default_gate

    b = base or default_gate()
    gate = b.with_relations(b.relations.with_provider("dr_resource", dr_resource_relation))
    if base is None:
        _GATE.append(gate)
    return gate


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("at must be timezone-aware", field="at", valid="an aware datetime")
    return at
