"""The ``dr_resource`` relation and the negawatt area's gate; the purposes and items it uses.

:func:`dr_resource_relation` derives the relation from the contractor's DR agreements for the
point (from ``agreed_on`` JST midnight to the earlier of ``expires_on`` and the moment of
withdrawal); :func:`gate_parts` hands it, with the ``interval_data`` loader and the ``negawatt``
loader (stored settlement results, :func:`jointuse.negawatt.runs.load_settlement_results`), to
the composition root (:func:`jointuse.assembly.build_gate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from jointuse.access.gate import Gate, GateParts, LoadContext
from jointuse.access.relations import RelationProvider
from jointuse.core.calendar import JST
from jointuse.core.errors import ValidationError
from jointuse.customers.relations import (
    RelationContext,
    contracts_in_force,
    contracts_of,
    jst_midnight,
)
from jointuse.negawatt import repository as repo
from jointuse.negawatt.repository import Agreement
from jointuse.policy.engine import RelationPeriod, Scope
from jointuse.policy.model import Policy

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


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _earlier(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _periods(
    a: Agreement, tenures: list[tuple[dt.datetime, dt.datetime | None]], after_end: dt.timedelta
) -> list[RelationPeriod]:
    """The ``dr_resource`` periods of one confirmed agreement: its period within each tenure of
    the customer at the point, scoped as the customer agreed; then, after each end, the
    settling window (P5 only, data dated within, ``after_end`` long)."""
    start, end = agreement_period(a)
    purposes = frozenset(a.scope_purposes) if a.scope_purposes is not None else None
    items = frozenset(a.scope_items) if a.scope_items is not None else None
    data_from = jst_midnight(a.data_from) if a.data_from else None
    data_to = jst_midnight(a.data_to) if a.data_to else None
    note = f"DR agreement {a.agreement_id}"
    out: list[RelationPeriod] = []
    for t_from, t_to in tenures:
        lo = max(start, t_from)
        hi = _earlier(end, t_to)
        if hi is not None and hi <= lo:
            continue
        window_from = _later(lo, data_from)
        window_to = _earlier(hi, data_to)
        if window_from is not None and window_to is not None and window_to <= window_from:
            continue
        out.append(
            RelationPeriod(
                "dr_resource", lo, hi, Scope(purposes, items, window_from, window_to, note)
            )
        )
        if hi is not None and after_end > dt.timedelta(0):
            settling = frozenset({P5}) if purposes is None else purposes & {P5}
            if settling:
                out.append(
                    RelationPeriod(
                        "dr_resource",
                        hi,
                        hi + after_end,
                        Scope(
                            settling,
                            items,
                            window_from,
                            window_to,
                            f"{note}, ended {hi.isoformat()}: settling only, data dated within",
                        ),
                    )
                )
    return out


def dr_resource_relation_for(after_end: dt.timedelta) -> RelationProvider:
    """Provider of ``dr_resource``: the acting contractor's agreements for the target that the
    customer **confirmed** (:mod:`jointuse.negawatt.consent`), within the customer's own
    tenure at the point (their retail contracts there), narrowed to the scope they agreed to;
    a proposal, a declined agreement or another occupant's opens nothing."""

    def provider(ctx: RelationContext) -> Iterable[RelationPeriod]:
        if ctx.party.kind != "dr_contractor":
            return ()
        t = ctx.target
        found = repo.agreements_for(
            ctx.conn, ctx.party.code, supply_point_id=t.supply_point_id, customer_id=t.customer_id
        )
        confirmed = [a for a in found if a.confirmed_at is not None]
        if not confirmed:
            return ()
        contracts = contracts_of(ctx)
        out: list[RelationPeriod] = []
        for a in confirmed:
            tenures = [
                (jst_midnight(c.valid_from), jst_midnight(c.valid_to) if c.valid_to else None)
                for c in contracts
                if c.customer_id == a.customer_id and c.supply_point_id.value == a.supply_point_id
            ]
            out.extend(_periods(a, tenures, after_end))
        return out

    return provider


dr_resource_relation = dr_resource_relation_for(dt.timedelta(0))
"""``dr_resource`` without a settling window after the end (see :func:`gate_parts`)."""


#: Days of readings a plain read of ``interval_readings`` returns (ending with the day of the
#: request, cut to the allowing relation's period); use cases with a window of their own
#: (:func:`jointuse.negawatt.readings.read_meter_days`) load theirs.
RECENT_READING_DAYS = 31


def load_recent_readings(ctx: LoadContext) -> dict[str, object]:
    """Loader of ``interval_data``: the point's half-hourly days of the last
    :data:`RECENT_READING_DAYS` days, cut to the allowing relation's period, as JSON-ready
    values (kWh per slot, ``None`` where missing)."""
    from jointuse.negawatt.readings import _mask_outside, _window_days

    point = ctx.relations.target.supply_point_id
    if point is None:
        contracts = contracts_in_force(ctx.relations)
        point = contracts[0].supply_point_id.value if contracts else None
    if point is None:
        return {"interval_readings": []}
    today = ctx.relations.at.astimezone(JST).date()
    lo, hi = _window_days(ctx.decision.valid_from, ctx.decision.valid_to)
    lo = max(lo, today - dt.timedelta(days=RECENT_READING_DAYS - 1))
    hi = min(hi, today + dt.timedelta(days=1))
    days = repo.load_days(ctx.conn, point, lo, hi) if lo < hi else []
    out = []
    for day in days:
        cut = _mask_outside(day, ctx.decision.valid_from, ctx.decision.valid_to)
        out.append(
            {
                "supply_point_id": cut.supply_point_id,
                "date": cut.date.isoformat(),
                "consumption_kwh": [None if v != v else float(v) for v in cut.consumption],
            }
        )
    return {"interval_readings": out}


def gate_parts(policy: Policy | None = None) -> GateParts:
    """What this area plugs into the gate: ``dr_resource``, the ``interval_data`` loader and
    the ``negawatt`` loader (stored settlement results,
    :func:`jointuse.negawatt.runs.load_settlement_results`)."""
    from jointuse.negawatt.runs import load_settlement_results

    days = None
    if policy is not None:
        days = next((r.after_end_days for r in policy.relations if r.key == "dr_resource"), None)
    return GateParts(
        relations={"dr_resource": dr_resource_relation_for(dt.timedelta(days=days or 0))},
        loaders={"interval_data": load_recent_readings, "negawatt": load_settlement_results},
    )


def negawatt_gate(base: Gate | None = None) -> Gate:
    """The assembled gate (:func:`jointuse.assembly.default_gate`), or ``base`` as given."""
    if base is not None:
        return base
    from jointuse.assembly import default_gate

    return default_gate()


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("at must be timezone-aware", field="at", valid="an aware datetime")
    return at
