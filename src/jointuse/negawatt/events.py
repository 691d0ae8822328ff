"""DR events (create, amend before settlement, cancel) and their settlement: meter days read
through the gate (P5), the kernel per event day, and the run stored (:mod:`~.runs`)."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from jointuse.access.gate import Gate, PolicyDenied
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.negawatt import repository as repo
from jointuse.negawatt.distributed import SettledRun, settle_partitions, write_partitions
from jointuse.negawatt.kernel import BaselineParams, EventSpec
from jointuse.negawatt.readings import read_meter_days
from jointuse.negawatt.relation import P5, _aware
from jointuse.negawatt.repository import Event, StoredRun
from jointuse.negawatt.settlement import Rounding
from jointuse.policy.engine import Party

#: The longest event (days ``day..last_day``).
MAX_EVENT_DAYS = 7


class EventConflict(JointuseError):
    """The event is cancelled or already settled: the change asked for is refused."""

    code = "event_conflict"
    status = 409


def _checked(
    actor: Party,
    conn: Any,
    *,
    event_id: str,
    day: dt.date,
    last_day: dt.date | None,
    first_slot: int,
    last_slot: int,
    resources: Sequence[str],
    direction: str,
) -> Event:
    if not 1 <= first_slot <= last_slot <= 48:
        raise ValidationError(
            f"slots {first_slot}..{last_slot} invalid",
            field="first_slot",
            valid="1 <= first <= last <= 48 (slot 1 = 00:00-00:30 JST)",
        )
    if direction not in ("reduce", "increase"):
        raise ValidationError(
            f"direction {direction!r}", field="direction", valid=["reduce", "increase"]
        )
    if last_day is not None and not day <= last_day < day + dt.timedelta(days=MAX_EVENT_DAYS):
        raise ValidationError(
            f"last_day {last_day} must be from {day} to {day + dt.timedelta(MAX_EVENT_DAYS - 1)}",
            field="last_day",
            valid=f"a day of the event's first {MAX_EVENT_DAYS}, or none (one day)",
        )
    points = sorted({SupplyPointId.parse(p).value for p in resources})
    known = repo.resources_of(conn, actor.code)
    unknown = [SupplyPointId(p).masked() for p in points if p not in known]
    if not points or unknown:
        raise ValidationError(
            f"not registered DR resources of {actor.code}: {unknown}"
            if unknown
            else "no resources",
            field="resources",
            valid="supply points registered with register_resource",
        )
    kind: Literal["reduce", "increase"] = "increase" if direction == "increase" else "reduce"
    return Event(
        event_id,
        actor.code,
        day,
        first_slot,
        last_slot,
        kind,
        tuple(points),
        None if last_day == day else last_day,
    )


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
    last_day: dt.date | None = None,
) -> Event:
    """A DR event of the contractor over its registered resources (slots 1-based, inclusive;
    the same slots on each day ``day..last_day``). An early-morning event is accepted: its
    adjustment window before midnight is taken from the previous day (see the kernel)."""
    conn = uow.connection
    e = _checked(
        actor,
        conn,
        event_id=event_id or uuid.uuid4().hex,
        day=day,
        last_day=last_day,
        first_slot=first_slot,
        last_slot=last_slot,
        resources=resources,
        direction=direction,
    )
    if repo.get_event(conn, e.event_id) is not None:
        raise EventConflict(f"DR event {e.event_id!r} exists", field="event_id")
    repo.insert_event(conn, e, _aware(at))
    return e


def own_event(conn: Any, actor: Party, event_id: str) -> Event:
    e = repo.get_event(conn, event_id)
    if e is None or e.contractor_code != actor.code:
        raise NotFound(f"no DR event {event_id!r} of {actor.code}", field="event_id")
    return e


def event_runs(uow: UnitOfWork, *, actor: Party, event_id: str) -> tuple[Event, list[StoredRun]]:
    """One of the contractor's events and its stored settlement runs, oldest first (headers
    only: no personal data)."""
    e = own_event(uow.connection, actor, event_id)
    return e, repo.runs_of_event(uow.connection, event_id)


def list_events(uow: UnitOfWork, *, actor: Party) -> list[Event]:
    """The contractor's events, by day."""
    return repo.events_of(uow.connection, actor.code)


def amend_event(
    uow: UnitOfWork,
    *,
    actor: Party,
    event_id: str,
    day: dt.date | None = None,
    last_day: dt.date | None = None,
    first_slot: int | None = None,
    last_slot: int | None = None,
    resources: Sequence[str] | None = None,
    direction: Literal["reduce", "increase"] | None = None,
) -> Event:
    """Change an open event that has not been settled (409 once a run exists or cancelled)."""
    conn = uow.connection
    e = own_event(conn, actor, event_id)
    if e.status != "open":
        raise EventConflict(f"DR event {event_id!r} is cancelled", field="event_id")
    if repo.runs_of_event(conn, event_id):
        raise EventConflict(
            f"DR event {event_id!r} has been settled; it can no longer be amended",
            field="event_id",
            valid="amend before the first settlement run",
        )
    new_day = day or e.day
    amended = _checked(
        actor,
        conn,
        event_id=e.event_id,
        day=new_day,
        last_day=last_day if last_day is not None else (e.last_day if day is None else None),
        first_slot=first_slot or e.first_slot,
        last_slot=last_slot or e.last_slot,
        resources=resources if resources is not None else e.resources,
        direction=direction or e.direction,
    )
    repo.update_event(conn, amended)
    return amended


def cancel_event(uow: UnitOfWork, *, actor: Party, event_id: str, at: dt.datetime) -> Event:
    """Cancel an open, unsettled event: it is no DR event day for later baselines any more."""
    conn = uow.connection
    e = own_event(conn, actor, event_id)
    if e.status != "open":
        raise EventConflict(f"DR event {event_id!r} is already cancelled", field="event_id")
    if repo.runs_of_event(conn, event_id):
        raise EventConflict(
            f"DR event {event_id!r} has been settled; it cannot be cancelled", field="event_id"
        )
    repo.cancel_event(conn, event_id, _aware(at))
    return replace(e, status="cancelled")


@dataclass(frozen=True)
class EventSettlement:
    """A settled event: one :class:`SettledRun` per event day (arrays in ``resource_ids``
    order), the groups, the denied resources and the stored run (:mod:`~.runs`)."""

    event: Event
    days: list[tuple[dt.date, SettledRun]]
    groups: list[str]
    denied: dict[str, str]
    stored: StoredRun
    params: BaselineParams
    rounding: Rounding

    @property
    def run(self) -> SettledRun:
        """The first event day's run (the only one of a one-day event)."""
        return self.days[0][1]

    @property
    def run_id(self) -> str:
        return self.stored.run_id


def _days_before(e: Event, p: BaselineParams) -> int:
    """Days before the first event day that the settlement reads: the lookback, and the days
    a fixed adjustment window reaches before midnight."""
    extra = 0
    if p.adjustment != "none" and p.adjustment_timing == "fixed":
        start = e.first_slot - 1 + p.window_slots(p.adjustment_window_hours[0])
        extra = max(0, math.ceil(-start / p.slots_per_day))
    return p.lookback_days + extra


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
    """Baselines and settlement of one event, stored as a run. Each resource's meter days are
    read through the gate as the contractor under P5 (a denied resource is a failure with its
    reason); each resource's results are written through the gate (P5 write of ``baseline``
    and ``demand_suppressed``). Rounding applies per event day; the event is their sum."""
    from jointuse.negawatt.runs import store_run

    conn = uow.connection
    e = own_event(conn, actor, event_id)
    if e.status != "open":
        raise EventConflict(f"DR event {event_id!r} is cancelled", field="event_id")
    p = params or BaselineParams()
    rnd = rounding or Rounding()
    if p.slots_per_day != 48:
        raise ValidationError("meter data have 48 slots a day", field="slots_per_day", valid=48)
    first = e.day - dt.timedelta(days=_days_before(e, p))
    last = e.days[-1]
    n_days = (last - first).days + 1
    r = len(e.resources)
    loads = np.full((r, n_days, p.slots_per_day), np.nan)
    denied: dict[str, str] = {}
    identities: list[dict[str, Any]] = []
    for i, point in enumerate(e.resources):
        try:
            days = read_meter_days(
                uow,
                actor=actor,
                purpose=P5,
                supply_point_id=point,
                start=first,
                end=last + dt.timedelta(days=1),
                request_id=request_id,
                at=at,
                gate=gate,
                identities=identities,
            )
        except PolicyDenied as exc:
            denied[point] = f"{exc.details.get('reason')}: {exc.message}"
            continue
        for d in days:
            loads[i, (d.date - first).days] = d.consumption
    # A denial ends the unit of work's transaction (the gate commits it): take a fresh connection.
    conn = uow.connection
    pos = {pt: i for i, pt in enumerate(e.resources)}
    event_days = np.zeros((r, n_days), dtype=bool)
    for other in [*repo.events_between(conn, actor.code, first, last), e]:
        for pt in other.resources:
            for day in other.days:
                if pt in pos and first <= day <= last:
                    event_days[pos[pt], (day - first).days] = True
    known = repo.resources_of(conn, actor.code)
    groups = sorted({known[pt].balancing_group_code for pt in e.resources if pt in known})
    gidx = {g: k for k, g in enumerate(groups)}
    bg = np.array([gidx.get(known[pt].balancing_group_code, 0) for pt in e.resources], np.int64)
    settled: list[tuple[dt.date, SettledRun]] = []
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
        for day in e.days:
            spec = EventSpec(
                day=(day - first).days, start_slot=e.first_slot - 1, end_slot=e.last_slot
            )
            run = settle_partitions(
                paths,
                spec,
                p,
                rnd,
                engine=engine,
                client=client,
                scheduler=scheduler,
                progress=progress,
                direction=e.direction,
            )
            settled.append((day, run))
    stored = store_run(
        uow,
        actor=actor,
        event=e,
        days=settled,
        loads=loads,
        first=first,
        groups=groups,
        denied=denied,
        identities=identities,
        params=p,
        rounding=rnd,
        request_id=request_id,
        at=at,
        gate=gate,
    )
    return EventSettlement(e, settled, groups, denied, stored, p, rnd)
