"""Queries of the negawatt area (the only module touching :mod:`jointuse.negawatt.tables`).

Called by :mod:`jointuse.negawatt.service` inside the gate's decisions (or, for data that is
not personal — balancing groups, event headers — directly by the service).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from jointuse.core.ids import SupplyPointId
from jointuse.negawatt.meterdata import MeterDay
from jointuse.negawatt.tables import (
    balancing_group,
    dr_agreement,
    dr_consent_evidence,
    dr_event,
    dr_event_resource,
    dr_resource,
    meter_day,
    settlement_input,
    settlement_result,
    settlement_run,
)

F64 = npt.NDArray[np.float64]
Direction = Literal["reduce", "increase"]


@dataclass(frozen=True, slots=True)
class Agreement:
    """A customer's DR agreement for one point with one contractor (需要抑制に関する契約)."""

    agreement_id: str
    customer_id: str
    supply_point_id: str
    contractor_code: str
    agreed_on: dt.date
    scope: str
    expires_on: dt.date | None = None
    withdrawn_at: dt.datetime | None = None
    state: str = "proposed"
    confirmed_at: dt.datetime | None = None
    scope_purposes: tuple[str, ...] | None = None
    scope_items: tuple[str, ...] | None = None
    data_from: dt.date | None = None
    data_to: dt.date | None = None
    wording_version: str | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    contractor_code: str
    supply_point_id: str
    agreement_id: str
    balancing_group_code: str


@dataclass(frozen=True, slots=True)
class Event:
    """A DR event: slots ``first_slot..last_slot`` (1-based, inclusive) of each JST day
    ``day..last_day``; ``status`` ``open`` or ``cancelled``."""

    event_id: str
    contractor_code: str
    day: dt.date
    first_slot: int
    last_slot: int
    direction: Direction
    resources: tuple[str, ...]
    last_day: dt.date | None = None
    status: str = "open"

    @property
    def days(self) -> list[dt.date]:
        """The event's days, in order."""
        n = ((self.last_day or self.day) - self.day).days + 1
        return [self.day + dt.timedelta(days=i) for i in range(n)]


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A stored settlement run's header (JSON fields as text)."""

    run_id: str
    event_id: str
    contractor_code: str
    created_at: dt.datetime
    request_id: str
    params: str
    inputs_digest: str
    results_digest: str
    summary: str


# --- agreements, groups, resources --------------------------------------------------------------


def _agreement(row: Any) -> Agreement:
    return Agreement(
        row.id,
        row.customer_id,
        row.supply_point_id,
        row.contractor_code,
        row.agreed_on,
        row.scope,
        row.expires_on,
        row.withdrawn_at,
        row.state,
        row.confirmed_at,
        _split(row.scope_purposes),
        _split(row.scope_items),
        row.data_from,
        row.data_to,
        row.wording_version,
    )


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(t for t in text.split(",") if t)


def _join(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else ",".join(values)


def insert_agreement(conn: Connection, a: Agreement, created_at: dt.datetime) -> None:
    conn.execute(
        insert(dr_agreement).values(
            id=a.agreement_id,
            customer_id=a.customer_id,
            supply_point_id=a.supply_point_id,
            contractor_code=a.contractor_code,
            agreed_on=a.agreed_on,
            scope=a.scope,
            expires_on=a.expires_on,
            withdrawn_at=a.withdrawn_at,
            created_at=created_at,
            state=a.state,
            confirmed_at=a.confirmed_at,
            scope_purposes=_join(a.scope_purposes),
            scope_items=_join(a.scope_items),
            data_from=a.data_from,
            data_to=a.data_to,
            wording_version=a.wording_version,
        )
    )


def set_state(
    conn: Connection, agreement_id: str, *, expected: Sequence[str], **values: Any
) -> bool:
    """Move an agreement's consent state (``state``, ``confirmed_at``, ``withdrawn_at``) only
    from one of the ``expected`` states, in one statement; False when it was not in one (a
    concurrent step got there first)."""
    done = conn.execute(
        update(dr_agreement)
        .where(dr_agreement.c.id == agreement_id, dr_agreement.c.state.in_(expected))
        .values(**values)
    )
    return done.rowcount == 1


def agreements_of_customer(
    conn: Connection, customer_id: str, supply_point_id: str
) -> list[Agreement]:
    """Every contractor's agreements for one customer at one point (one indexed query)."""
    q = select(dr_agreement).where(
        dr_agreement.c.customer_id == customer_id,
        dr_agreement.c.supply_point_id == supply_point_id,
    )
    return [_agreement(r) for r in conn.execute(q.order_by(dr_agreement.c.created_at))]


def insert_evidence(conn: Connection, **values: Any) -> None:
    conn.execute(insert(dr_consent_evidence).values(**values))


def evidence_of(conn: Connection, agreement_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(dr_consent_evidence)
        .where(dr_consent_evidence.c.agreement_id == agreement_id)
        .order_by(dr_consent_evidence.c.id)
    )
    return [dict(r._mapping) for r in rows]


def get_agreement(conn: Connection, agreement_id: str) -> Agreement | None:
    row = conn.execute(select(dr_agreement).where(dr_agreement.c.id == agreement_id)).first()
    return _agreement(row) if row is not None else None


def agreements_for(
    conn: Connection,
    contractor_code: str,
    *,
    supply_point_id: str | None = None,
    customer_id: str | None = None,
) -> list[Agreement]:
    """One contractor's agreements for a point and/or a customer (one indexed query)."""
    q = select(dr_agreement).where(dr_agreement.c.contractor_code == contractor_code)
    if supply_point_id is not None:
        q = q.where(dr_agreement.c.supply_point_id == supply_point_id)
    if customer_id is not None:
        q = q.where(dr_agreement.c.customer_id == customer_id)
    return [_agreement(r) for r in conn.execute(q.order_by(dr_agreement.c.agreed_on))]


def insert_group(conn: Connection, contractor_code: str, code: str, name: str) -> None:
    conn.execute(
        insert(balancing_group).values(contractor_code=contractor_code, code=code, name=name)
    )


def group_exists(conn: Connection, contractor_code: str, code: str) -> bool:
    q = select(balancing_group.c.code).where(
        balancing_group.c.contractor_code == contractor_code, balancing_group.c.code == code
    )
    return conn.execute(q).first() is not None


def upsert_resource(conn: Connection, r: Resource, registered_at: dt.datetime) -> None:
    key = and_(
        dr_resource.c.contractor_code == r.contractor_code,
        dr_resource.c.supply_point_id == r.supply_point_id,
    )
    values = {"agreement_id": r.agreement_id, "balancing_group_code": r.balancing_group_code}
    if conn.execute(select(dr_resource.c.supply_point_id).where(key)).first() is None:
        conn.execute(
            insert(dr_resource).values(
                contractor_code=r.contractor_code,
                supply_point_id=r.supply_point_id,
                registered_at=registered_at,
                **values,
            )
        )
    else:
        conn.execute(update(dr_resource).where(key).values(**values))


def resources_of(conn: Connection, contractor_code: str) -> dict[str, Resource]:
    q = select(dr_resource).where(dr_resource.c.contractor_code == contractor_code)
    return {
        r.supply_point_id: Resource(
            r.contractor_code, r.supply_point_id, r.agreement_id, r.balancing_group_code
        )
        for r in conn.execute(q)
    }


# --- meter days ---------------------------------------------------------------------------------


def pack(values: F64) -> bytes:
    return np.asarray(values, dtype="<f8").tobytes()


def unpack(blob: bytes) -> F64:
    return np.frombuffer(blob, dtype="<f8").astype(np.float64)


def stored_days(
    conn: Connection, supply_point_id: str, days: Iterable[dt.date]
) -> dict[dt.date, MeterDay]:
    """The stored rows of one point for ``days`` (one query)."""
    q = select(meter_day).where(
        meter_day.c.supply_point_id == supply_point_id, meter_day.c.day.in_(list(days))
    )
    return {r.day: _meter_day(r) for r in conn.execute(q)}


def _meter_day(r: Any) -> MeterDay:
    return MeterDay(
        SupplyPointId(r.supply_point_id),
        r.day,
        unpack(r.consumption),
        unpack(r.generation) if r.generation is not None else None,
    )


def insert_days(
    conn: Connection, rows: Sequence[MeterDay], imported_by: str, at: dt.datetime
) -> None:
    if rows:
        conn.execute(insert(meter_day), [_day_values(r, imported_by, at) for r in rows])


def replace_day(conn: Connection, row: MeterDay, imported_by: str, at: dt.datetime) -> None:
    values = _day_values(row, imported_by, at)
    conn.execute(
        update(meter_day)
        .where(
            meter_day.c.supply_point_id == values.pop("supply_point_id"),
            meter_day.c.day == values.pop("day"),
        )
        .values(**values)
    )


def _day_values(r: MeterDay, imported_by: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "supply_point_id": r.supply_point_id.value,
        "day": r.date,
        "slots": int(r.consumption.shape[0]),
        "consumption": pack(r.consumption),
        "generation": pack(r.generation) if r.generation is not None else None,
        "imported_by": imported_by,
        "imported_at": at,
    }


def load_days(
    conn: Connection, supply_point_id: str, start: dt.date, end: dt.date
) -> list[MeterDay]:
    """Stored days of one point in ``[start, end)``, in date order."""
    q = (
        select(meter_day)
        .where(
            meter_day.c.supply_point_id == supply_point_id,
            meter_day.c.day >= start,
            meter_day.c.day < end,
        )
        .order_by(meter_day.c.day)
    )
    return [_meter_day(r) for r in conn.execute(q)]


# --- events -------------------------------------------------------------------------------------


def insert_event(conn: Connection, e: Event, created_at: dt.datetime) -> None:
    conn.execute(
        insert(dr_event).values(
            id=e.event_id,
            contractor_code=e.contractor_code,
            day=e.day,
            last_day=e.last_day,
            first_slot=e.first_slot,
            last_slot=e.last_slot,
            direction=e.direction,
            created_at=created_at,
            status=e.status,
        )
    )
    conn.execute(
        insert(dr_event_resource),
        [{"event_id": e.event_id, "supply_point_id": p} for p in e.resources],
    )


def update_event(conn: Connection, e: Event) -> None:
    """Amend an event's days, slots, direction and resources (before any settlement)."""
    conn.execute(
        update(dr_event)
        .where(dr_event.c.id == e.event_id)
        .values(
            day=e.day,
            last_day=e.last_day,
            first_slot=e.first_slot,
            last_slot=e.last_slot,
            direction=e.direction,
        )
    )
    conn.execute(delete(dr_event_resource).where(dr_event_resource.c.event_id == e.event_id))
    conn.execute(
        insert(dr_event_resource),
        [{"event_id": e.event_id, "supply_point_id": p} for p in e.resources],
    )


def cancel_event(conn: Connection, event_id: str, at: dt.datetime) -> None:
    conn.execute(
        update(dr_event)
        .where(dr_event.c.id == event_id)
        .values(status="cancelled", cancelled_at=at)
    )


def _events(conn: Connection, where: Any) -> list[Event]:
    rows = list(conn.execute(select(dr_event).where(where).order_by(dr_event.c.day)))
    if not rows:
        return []
    members: dict[str, list[str]] = {}
    q = select(dr_event_resource).where(dr_event_resource.c.event_id.in_([r.id for r in rows]))
    for m in conn.execute(q.order_by(dr_event_resource.c.supply_point_id)):
        members.setdefault(m.event_id, []).append(m.supply_point_id)
    return [
        Event(
            r.id,
            r.contractor_code,
            r.day,
            r.first_slot,
            r.last_slot,
            r.direction,
            tuple(members.get(r.id, ())),
            r.last_day,
            r.status,
        )
        for r in rows
    ]


def get_event(conn: Connection, event_id: str) -> Event | None:
    found = _events(conn, dr_event.c.id == event_id)
    return found[0] if found else None


def events_between(
    conn: Connection, contractor_code: str, start: dt.date, end: dt.date
) -> list[Event]:
    """The contractor's open (not cancelled) events with a day in ``[start, end)``."""
    last = func.coalesce(dr_event.c.last_day, dr_event.c.day)
    return _events(
        conn,
        and_(
            dr_event.c.contractor_code == contractor_code,
            dr_event.c.status == "open",
            dr_event.c.day < end,
            last >= start,
        ),
    )


def events_of(conn: Connection, contractor_code: str) -> list[Event]:
    return _events(conn, dr_event.c.contractor_code == contractor_code)


# --- settlement runs ----------------------------------------------------------------------------


def day_identities(
    conn: Connection, supply_point_id: str, start: dt.date, end: dt.date
) -> dict[dt.date, tuple[dt.datetime, str]]:
    """(imported_at, imported_by) of the point's stored days in ``[start, end)``."""
    q = select(meter_day.c.day, meter_day.c.imported_at, meter_day.c.imported_by).where(
        meter_day.c.supply_point_id == supply_point_id,
        meter_day.c.day >= start,
        meter_day.c.day < end,
    )
    return {r.day: (r.imported_at, r.imported_by) for r in conn.execute(q)}


def insert_run(conn: Connection, run: StoredRun) -> None:
    """A run's header (its rows follow, point by point, with :func:`insert_run_rows`)."""
    conn.execute(
        insert(settlement_run).values(
            id=run.run_id,
            event_id=run.event_id,
            contractor_code=run.contractor_code,
            created_at=run.created_at,
            request_id=run.request_id,
            params=run.params,
            inputs_digest=run.inputs_digest,
            results_digest=run.results_digest,
            summary=run.summary,
        )
    )


def insert_run_rows(
    conn: Connection,
    run_id: str,
    inputs: Sequence[dict[str, Any]],
    results: Sequence[dict[str, Any]],
) -> None:
    if inputs:
        conn.execute(insert(settlement_input), [{"run_id": run_id, **i} for i in inputs])
    if results:
        conn.execute(insert(settlement_result), [{"run_id": run_id, **r} for r in results])


def _run(r: Any) -> StoredRun:
    return StoredRun(
        r.id,
        r.event_id,
        r.contractor_code,
        r.created_at,
        r.request_id,
        r.params,
        r.inputs_digest,
        r.results_digest,
        r.summary,
    )


def get_run(conn: Connection, run_id: str) -> StoredRun | None:
    row = conn.execute(select(settlement_run).where(settlement_run.c.id == run_id)).first()
    return _run(row) if row is not None else None


def runs_of_event(conn: Connection, event_id: str) -> list[StoredRun]:
    q = select(settlement_run).where(settlement_run.c.event_id == event_id)
    return [_run(r) for r in conn.execute(q.order_by(settlement_run.c.created_at))]


def run_results(
    conn: Connection, run_id: str, supply_point_id: str | None = None
) -> list[dict[str, Any]]:
    """A run's result rows (all, or one point's), by point and day."""
    q = select(settlement_result).where(settlement_result.c.run_id == run_id)
    if supply_point_id is not None:
        q = q.where(settlement_result.c.supply_point_id == supply_point_id)
    q = q.order_by(settlement_result.c.supply_point_id, settlement_result.c.day)
    return [dict(r._mapping) for r in conn.execute(q)]


def run_inputs(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    q = select(settlement_input).where(settlement_input.c.run_id == run_id)
    q = q.order_by(settlement_input.c.supply_point_id, settlement_input.c.day)
    return [dict(r._mapping) for r in conn.execute(q)]


def point_results(
    conn: Connection, supply_point_id: str, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """Every stored result row of one point for event days in ``[start, end)``, with the run's
    event id, oldest run first."""
    q = (
        select(settlement_result, settlement_run.c.event_id, settlement_run.c.created_at)
        .join(settlement_run, settlement_run.c.id == settlement_result.c.run_id)
        .where(
            settlement_result.c.supply_point_id == supply_point_id,
            settlement_result.c.day >= start,
            settlement_result.c.day < end,
        )
        .order_by(settlement_run.c.created_at, settlement_result.c.day)
    )
    return [dict(r._mapping) for r in conn.execute(q)]
