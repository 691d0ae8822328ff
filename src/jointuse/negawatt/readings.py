"""Half-hourly meter data: import as the area's TSO (P4 write), read through the gate.

Imports are idempotent: a day stored with the same values changes nothing; a day whose missing
slots the new data fills (and that agrees everywhere else) is completed; any other difference is
a conflict that refuses the whole file unless ``replace=True``. Readings of a supply point the
registry does not know refuse the whole file too, naming the file, the line and the point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointuse.access.gate import Gate, GateResult, LoadContext
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers.relations import RelationContext, TargetRef, jst_midnight
from jointuse.customers.repository import get_supply_point
from jointuse.negawatt import repository as repo
from jointuse.negawatt.meterdata import (
    MeterDataError,
    MeterDay,
    compare_days,
    merge_days,
    parse_meter_file,
)
from jointuse.negawatt.relation import P4, READINGS, _aware, negawatt_gate
from jointuse.policy.engine import Party


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
    # In file order, so that the first unregistered point named is the first one in the file.
    ordered = sorted(by_point.items(), key=lambda kv: (min(d.line or 0 for d in kv[1]), kv[0]))
    for point, days in ordered:

        def change(ctx: RelationContext, point: str = point, days: list[MeterDay] = days) -> None:
            if get_supply_point(ctx.conn, point) is None:
                line = min((d.line for d in days if d.line is not None), default=None)
                raise MeterDataError(
                    f"supply point {point} is not registered; nothing of the file was written",
                    file=file,
                    line=line,
                    record=f"{SupplyPointId(point).masked()} {days[0].date}",
                    field="supply_point_id",
                    valid="readings of supply points registered by their TSO",
                )
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
    identities: list[dict[str, Any]] | None = None,
) -> list[MeterDay]:
    """Half-hourly days in ``[start, end)`` that the actor may see: the gate decides, and the
    days are cut to the allowing relation's period (a retailer's supply period, a contractor's
    agreement). ``identities``, if given, receives each day read as imported: point, day,
    who imported it and when, and a SHA-256 of its stored values (a settlement run keeps
    them)."""

    def loader(ctx: LoadContext) -> dict[str, object]:
        lo, hi = _window_days(ctx.decision.valid_from, ctx.decision.valid_to)
        lo, hi = max(lo, start), min(hi, end)
        if lo >= hi:
            return {"interval_readings": []}
        point = ctx.relations.target.supply_point_id or ""
        days = repo.load_days(ctx.conn, point, lo, hi)
        if identities is not None:
            imported = repo.day_identities(ctx.conn, point, lo, hi)
            for d in days:
                digest = hashlib.sha256(repo.pack(d.consumption))
                if d.generation is not None:
                    digest.update(repo.pack(d.generation))
                when, who = imported[d.date]
                identities.append(
                    {
                        "supply_point_id": point,
                        "day": d.date,
                        "imported_at": when,
                        "imported_by": who,
                        "digest": digest.hexdigest(),
                    }
                )
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
