"""DR events and their settlement: meter days read through the gate (P5), then the kernel."""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from jointuse.access.gate import Gate, PolicyDenied
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.negawatt import repository as repo
from jointuse.negawatt.distributed import SettledRun, settle_partitions, write_partitions
from jointuse.negawatt.kernel import BaselineParams, EventSpec
from jointuse.negawatt.readings import read_meter_days
from jointuse.negawatt.relation import P5, _aware
from jointuse.negawatt.repository import Event
from jointuse.negawatt.settlement import Rounding
from jointuse.policy.engine import Party


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
