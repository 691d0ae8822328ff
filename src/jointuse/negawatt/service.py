"""Use cases of the negawatt area (ネガワット取引), each through the gate.

===============================  =========================================  =======================
use case                         purpose / action / items                   relation that allows it
===============================  =========================================  =======================
:func:`register_agreement`       P5 write (negawatt), establishing          ``dr_resource`` (the
                                 ``dr_resource`` from the agreement         agreement itself)
:func:`withdraw_agreement`       P5 write                                   ``dr_resource``
:func:`register_resource`        P5 write                                   ``dr_resource``
:func:`import_meter_file`        P4 write ``interval_readings``, one        ``area_tso``
                                 decision per supply point of the file
:func:`read_meter_days`          P4 (TSO, retailer) or P5 (DR contractor)   ``area_tso``,
                                 read ``interval_readings``, days cut to    ``contract_holder``,
                                 the allowing relation's period             ``dr_resource``
:func:`settle_event`             P5 read ``interval_readings`` per          ``dr_resource``
                                 resource, then the kernel
===============================  =========================================  =======================

The ``dr_resource`` relation comes from :func:`dr_resource_relation` (the contractor's DR
agreements for the point: from ``agreed_on`` JST midnight to the earlier of ``expires_on`` and
the moment of withdrawal), plugged into the gate with
:meth:`~jointuse.customers.relations.RelationRegistry.with_provider` by :func:`negawatt_gate`.

Meter imports are idempotent: a day stored with the same values changes nothing; a day whose
missing slots the new data fills (and that agrees everywhere else) is completed; any other
difference is a conflict that refuses the whole file unless ``replace=True``. The agreement's
``scope`` is recorded as the customer agreed it; the policy decides what it opens.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from jointuse.access.gate import Gate, GateResult, LoadContext, PolicyDenied
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers.relations import RelationContext, TargetRef, jst_midnight
from jointuse.negawatt import repository as repo
from jointuse.negawatt.distributed import SettledRun, settle_partitions, write_partitions
from jointuse.negawatt.kernel import STATUS_OK, BaselineParams, EventSpec
from jointuse.negawatt.meterdata import MeterDay, compare_days, merge_days, parse_meter_file
from jointuse.negawatt.repository import Agreement, Event
from jointuse.negawatt.settlement import Rounding
from jointuse.policy.engine import Party, RelationPeriod

P4 = "P4_tso_operations"
P5 = "P5_negawatt"
READINGS = frozenset({"interval_readings"})
NEGAWATT_WRITE = frozenset({"baseline", "demand_suppressed"})


# --- the dr_resource relation and the gate --------------------------------------------------


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


# --- agreements and resources -------------------------------------------------------------------


def register_agreement(
    uow: UnitOfWork,
    *,
    actor: Party,
    customer_id: str,
    supply_point_id: str,
    agreed_on: dt.date,
    request_id: str,
    at: dt.datetime,
    scope: str = "negawatt",
    expires_on: dt.date | None = None,
    agreement_id: str | None = None,
    gate: Gate | None = None,
) -> Agreement:
    """A DR contractor registers a customer's DR agreement for a point (the point must be the
    customer's: a retail contract of that customer for it must exist)."""
    point = SupplyPointId.parse(supply_point_id).value
    if expires_on is not None and expires_on <= agreed_on:
        raise ValidationError(
            f"expires_on {expires_on} is not after agreed_on {agreed_on}",
            field="expires_on",
            valid=f"a day after {agreed_on}, or none",
        )
    if not scope.strip():
        raise ValidationError("scope must not be blank", field="scope")
    a = Agreement(
        agreement_id or uuid.uuid4().hex,
        customer_id,
        point,
        actor.code,
        agreed_on,
        scope.strip(),
        expires_on,
    )
    start, end = agreement_period(a)

    def change(ctx: RelationContext) -> dict[str, object]:
        if not any(c.customer_id == customer_id for c in ctx.contracts):
            raise ValidationError(
                f"customer {customer_id!r} has no retail contract for "
                f"{SupplyPointId(point).masked()}",
                field="customer_id",
                valid="the customer supplied at that point",
            )
        repo.insert_agreement(ctx.conn, a, at)
        return {}

    (gate or negawatt_gate()).write(
        uow,
        actor=actor,
        purpose=P5,
        target=TargetRef(point, customer_id),
        items=NEGAWATT_WRITE,
        request_id=request_id,
        at=_aware(at),
        change=change,
        establishes=(RelationPeriod("dr_resource", start, end),),
    )
    return a


def withdraw_agreement(
    uow: UnitOfWork,
    *,
    actor: Party,
    agreement_id: str,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> Agreement:
    """Record the customer's withdrawal: the relation ends at ``at``, from that moment on."""
    a = repo.get_agreement(uow.connection, agreement_id)
    if a is None or a.contractor_code != actor.code:
        raise NotFound(f"no DR agreement {agreement_id!r} of {actor.code}", field="agreement_id")
    if a.withdrawn_at is not None:
        raise ValidationError(
            f"agreement {agreement_id!r} was already withdrawn at {a.withdrawn_at.isoformat()}",
            field="agreement_id",
        )

    def change(ctx: RelationContext) -> dict[str, object]:
        repo.set_withdrawn(ctx.conn, agreement_id, at)
        return {}

    (gate or negawatt_gate()).write(
        uow,
        actor=actor,
        purpose=P5,
        target=TargetRef(a.supply_point_id, a.customer_id),
        items=NEGAWATT_WRITE,
        request_id=request_id,
        at=_aware(at),
        change=change,
    )
    return replace(a, withdrawn_at=at)


def register_group(uow: UnitOfWork, *, actor: Party, code: str, name: str) -> None:
    """A contractor's balancing group (no personal data: no gate decision)."""
    if actor.kind != "dr_contractor":
        raise ValidationError("only a DR contractor has balancing groups", field="actor")
    if not code.strip():
        raise ValidationError("group code must not be blank", field="code")
    if repo.group_exists(uow.connection, actor.code, code):
        raise ValidationError(f"balancing group {code!r} exists", field="code")
    repo.insert_group(uow.connection, actor.code, code, name)


def register_resource(
    uow: UnitOfWork,
    *,
    actor: Party,
    agreement_id: str,
    group_code: str,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> repo.Resource:
    """Register the agreement's point as a DR resource in one of the contractor's groups."""
    conn = uow.connection
    a = repo.get_agreement(conn, agreement_id)
    if a is None or a.contractor_code != actor.code:
        raise NotFound(f"no DR agreement {agreement_id!r} of {actor.code}", field="agreement_id")
    if not repo.group_exists(conn, actor.code, group_code):
        raise NotFound(f"no balancing group {group_code!r} of {actor.code}", field="group_code")
    r = repo.Resource(actor.code, a.supply_point_id, agreement_id, group_code)

    def change(ctx: RelationContext) -> dict[str, object]:
        repo.upsert_resource(ctx.conn, r, at)
        return {}

    (gate or negawatt_gate()).write(
        uow,
        actor=actor,
        purpose=P5,
        target=TargetRef(a.supply_point_id),
        items=NEGAWATT_WRITE,
        request_id=request_id,
        at=_aware(at),
        change=change,
    )
    return r


# --- meter data -------------------------------------------------------------------------------


class MeterConflict(ValidationError):
    """Imported data differs from the stored data of a day (and ``replace`` was not asked)."""

    code = "meter_data_conflict"
    status = 409


@dataclass
class ImportReport:
    """What an import did, per day: inserted, unchanged, completed (gaps filled), replaced."""

    file: str
    points: int = 0
    inserted: int = 0
    unchanged: int = 0
    completed: int = 0
    replaced: int = 0
    decisions: list[str] = field(default_factory=list)


def import_meter_days(
    uow: UnitOfWork,
    rows: Sequence[MeterDay],
    *,
    actor: Party,
    file: str,
    request_id: str,
    at: dt.datetime,
    replace: bool = False,
    gate: Gate | None = None,
) -> ImportReport:
    """Write parsed days as the area's TSO: one P4 decision per supply point; all or nothing."""
    by_point: dict[str, list[MeterDay]] = {}
    for r in rows:
        by_point.setdefault(r.supply_point_id.value, []).append(r)
    report = ImportReport(file, points=len(by_point))
    g = gate or negawatt_gate()
    for point, days in sorted(by_point.items()):

        def change(ctx: RelationContext, point: str = point, days: list[MeterDay] = days) -> None:
            stored = repo.stored_days(ctx.conn, point, [d.date for d in days])
            fresh = []
            for d in days:
                old = stored.get(d.date)
                if old is None:
                    fresh.append(d)
                    continue
                verdict = compare_days(old, d)
                if verdict == "same":
                    report.unchanged += 1
                elif verdict == "completes":
                    repo.replace_day(ctx.conn, merge_days(old, d), actor.code, at)
                    report.completed += 1
                elif replace:
                    repo.replace_day(ctx.conn, d, actor.code, at)
                    report.replaced += 1
                else:
                    raise MeterConflict(
                        f"{file}: {SupplyPointId(point).masked()} {d.date}: the values differ "
                        "from the stored ones; nothing of the file was written "
                        "(import with replace to overwrite)",
                        field="replace",
                        valid="identical data, data filling gaps, or replace=True",
                        file=file,
                        supply_point_id=point,
                        day=d.date.isoformat(),
                    )
            repo.insert_days(ctx.conn, fresh, actor.code, at)
            report.inserted += len(fresh)

        result = g.write(
            uow,
            actor=actor,
            purpose=P4,
            target=TargetRef(point),
            items=READINGS,
            request_id=request_id,
            at=_aware(at),
            change=change,
        )
        report.decisions.append(result.decision.rule_id or "")
    return report


def import_meter_file(
    uow: UnitOfWork,
    path: Path | str,
    *,
    actor: Party,
    request_id: str,
    at: dt.datetime,
    replace: bool = False,
    gate: Gate | None = None,
) -> ImportReport:
    """Parse ``path`` completely (CSV, XML or zip), then write it (:func:`import_meter_days`)."""
    rows = parse_meter_file(path)
    return import_meter_days(
        uow,
        rows,
        actor=actor,
        file=str(path),
        request_id=request_id,
        at=at,
        replace=replace,
        gate=gate,
    )


def _window_days(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.date, dt.date]:
    """The JST days fully or partly inside ``[start, end)``."""
    lo = start.astimezone(JST).date() if start else dt.date.min
    if end is None:
        return lo, dt.date.max
    e = end.astimezone(JST)
    hi = e.date() + (dt.timedelta(days=1) if e.time() != dt.time(0) else dt.timedelta(0))
    return lo, hi


def _mask_outside(day: MeterDay, start: dt.datetime | None, end: dt.datetime | None) -> MeterDay:
    """Slots not wholly inside ``[start, end)`` become missing (a day cut by a withdrawal)."""
    n = day.consumption.shape[0]
    width = dt.timedelta(days=1) / n
    midnight = jst_midnight(day.date)
    if (start is None or start <= midnight) and (end is None or end >= midnight + n * width):
        return day
    begins = [midnight + i * width for i in range(n)]
    hidden = np.array(
        [(start is not None and b < start) or (end is not None and b + width > end) for b in begins]
    )

    def cut(values: Any) -> Any:
        return None if values is None else np.where(hidden, np.nan, values)

    return MeterDay(day.supply_point_id, day.date, cut(day.consumption), cut(day.generation))


def read_meter_days(
    uow: UnitOfWork,
    *,
    actor: Party,
    purpose: str,
    supply_point_id: str,
    start: dt.date,
    end: dt.date,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> list[MeterDay]:
    """Half-hourly days in ``[start, end)`` that the actor may see: the gate decides, and the
    days are cut to the allowing relation's period (a retailer's supply period, a contractor's
    agreement)."""

    def loader(ctx: LoadContext) -> dict[str, object]:
        lo, hi = _window_days(ctx.decision.valid_from, ctx.decision.valid_to)
        lo, hi = max(lo, start), min(hi, end)
        if lo >= hi:
            return {"interval_readings": []}
        days = repo.load_days(ctx.conn, ctx.relations.target.supply_point_id or "", lo, hi)
        return {
            "interval_readings": [
                _mask_outside(d, ctx.decision.valid_from, ctx.decision.valid_to) for d in days
            ]
        }

    g = (gate or negawatt_gate()).with_loader("interval_data", loader)
    result: GateResult = g.read(
        uow,
        actor=actor,
        purpose=purpose,
        target=TargetRef(supply_point_id),
        items=READINGS,
        request_id=request_id,
        at=_aware(at),
    )
    days: list[MeterDay] = result.data.get("interval_readings", [])  # type: ignore[assignment]
    return days


# --- events and settlement ----------------------------------------------------------------------


def create_event(
    uow: UnitOfWork,
    *,
    actor: Party,
    day: dt.date,
    first_slot: int,
    last_slot: int,
    resources: Sequence[str],
    at: dt.datetime,
    direction: Literal["reduce", "increase"] = "reduce",
    event_id: str | None = None,
) -> Event:
    """A DR event of the contractor over its registered resources (slots 1-based, inclusive)."""
    if not 1 <= first_slot <= last_slot <= 48:
        raise ValidationError(
            f"slots {first_slot}..{last_slot} invalid",
            field="first_slot",
            valid="1 <= first <= last <= 48",
        )
    if direction not in ("reduce", "increase"):
        raise ValidationError(
            f"direction {direction!r}", field="direction", valid=["reduce", "increase"]
        )
    points = sorted({SupplyPointId.parse(p).value for p in resources})
    known = repo.resources_of(uow.connection, actor.code)
    unknown = [SupplyPointId(p).masked() for p in points if p not in known]
    if not points or unknown:
        raise ValidationError(
            f"not registered DR resources of {actor.code}: {unknown}"
            if unknown
            else "no resources",
            field="resources",
            valid="supply points registered with register_resource",
        )
    e = Event(
        event_id or uuid.uuid4().hex,
        actor.code,
        day,
        first_slot,
        last_slot,
        direction,
        tuple(points),
    )
    repo.insert_event(uow.connection, e, _aware(at))
    return e


@dataclass(frozen=True)
class EventSettlement:
    """The settled event: the run (arrays in ``resource_ids`` order) and per-resource facts."""

    event: Event
    run: SettledRun
    groups: list[str]
    denied: list[str]


def settle_event(
    uow: UnitOfWork,
    *,
    actor: Party,
    event_id: str,
    request_id: str,
    at: dt.datetime,
    params: BaselineParams | None = None,
    rounding: Rounding | None = None,
    engine: Literal["local", "dask"] = "local",
    scheduler: str | None = None,
    client: Any = None,
    work_dir: Path | None = None,
    rows_per_partition: int = 10_000,
    progress: bool = False,
    gate: Gate | None = None,
) -> EventSettlement:
    """Baselines and settlement of one event; each resource's meter days are read through the
    gate as the contractor under P5 (a denied resource settles as a failure, and is listed)."""
    conn = uow.connection
    e = repo.get_event(conn, event_id)
    if e is None or e.contractor_code != actor.code:
        raise NotFound(f"no DR event {event_id!r} of {actor.code}", field="event_id")
    p = params or BaselineParams()
    first = e.day - dt.timedelta(days=p.lookback_days)
    n_days = p.lookback_days + 1
    index = {first + dt.timedelta(days=i): i for i in range(n_days)}
    r = len(e.resources)
    loads = np.full((r, n_days, p.slots_per_day), np.nan)
    denied: list[str] = []
    for i, point in enumerate(e.resources):
        try:
            days = read_meter_days(
                uow,
                actor=actor,
                purpose=P5,
                supply_point_id=point,
                start=first,
                end=e.day + dt.timedelta(days=1),
                request_id=request_id,
                at=at,
                gate=gate,
            )
        except PolicyDenied:
            denied.append(point)
            continue
        for d in days:
            loads[i, index[d.date]] = d.consumption
    event_days = np.zeros((r, n_days), dtype=bool)
    pos = {pt: i for i, pt in enumerate(e.resources)}
    # A denial ends the unit of work's transaction (the gate commits it): take a fresh connection.
    conn = uow.connection
    for other in repo.events_between(conn, actor.code, first, e.day):
        for pt in other.resources:
            if pt in pos:
                event_days[pos[pt], index[other.day]] = True
    known = repo.resources_of(conn, actor.code)
    groups = sorted({known[pt].balancing_group_code for pt in e.resources if pt in known})
    gidx = {g: k for k, g in enumerate(groups)}
    bg = np.array([gidx.get(known[pt].balancing_group_code, 0) for pt in e.resources], np.int64)
    spec = EventSpec(day=n_days - 1, start_slot=e.first_slot - 1, end_slot=e.last_slot)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        paths = write_partitions(
            Path(tmp),
            list(e.resources),
            loads,
            first_day=first,
            event_days=event_days,
            balancing_group=bg,
            rows_per_partition=rows_per_partition,
        )
        run = settle_partitions(
            paths,
            spec,
            p,
            rounding,
            engine=engine,
            client=client,
            scheduler=scheduler,
            progress=progress,
            direction=e.direction,
        )
    return EventSettlement(e, run, groups, denied)


# --- CSV exports --------------------------------------------------------------------------------


def _num(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.3f}"


def plan_csv(s: EventSettlement) -> str:
    """Demand-suppression plan (需要抑制計画): baseline per point and per balancing group, slot."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["balancing_group", "supply_point_id", "date", "slot", "baseline_kwh"])
    e, run = s.event, s.run
    slots = range(e.first_slot, e.last_slot + 1)
    group_sum = np.zeros((len(s.groups), len(slots)))
    for i, point in enumerate(run.resource_ids):
        g = int(run.balancing_group[i])
        values = run.baseline.baseline[i, e.first_slot - 1 : e.last_slot]
        if run.baseline.status[i] == STATUS_OK:
            group_sum[g] += values
        for k, slot in enumerate(slots):
            w.writerow(
                [s.groups[g] if s.groups else "", point, e.day.isoformat(), slot, _num(values[k])]
            )
    for g, name in enumerate(s.groups):
        for k, slot in enumerate(slots):
            w.writerow([name, "*", e.day.isoformat(), slot, _num(group_sum[g, k])])
    return out.getvalue()


def results_csv(s: EventSettlement) -> str:
    """Settlement results per resource, then per balancing group (``supply_point_id`` = ``*``)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "event_id",
            "balancing_group",
            "supply_point_id",
            "date",
            "first_slot",
            "last_slot",
            "direction",
            "status",
            "days_used",
            "suppressed_raw_kwh",
            "suppressed_kwh",
        ]
    )
    e, run = s.event, s.run
    st = run.settlement
    for i, point in enumerate(run.resource_ids):
        g = int(run.balancing_group[i])
        status = (
            "access_denied"
            if point in s.denied
            else ("ok" if run.baseline.status[i] == STATUS_OK else "failed")
        )
        w.writerow(
            [
                e.event_id,
                s.groups[g] if s.groups else "",
                point,
                e.day.isoformat(),
                e.first_slot,
                e.last_slot,
                e.direction,
                status,
                int(run.baseline.n_used[i].max()),
                _num(st.event_total_raw[i]),
                f"{st.event_total[i]:.2f}",
            ]
        )
    if st.by_balancing_group is not None:
        for g, name in enumerate(s.groups):
            w.writerow(
                [
                    e.event_id,
                    name,
                    "*",
                    e.day.isoformat(),
                    e.first_slot,
                    e.last_slot,
                    e.direction,
                    f"failed={int(st.by_balancing_group.n_failed[g])}",
                    "",
                    "",
                    f"{st.by_balancing_group.suppressed[g]:.2f}",
                ]
            )
    return out.getvalue()
