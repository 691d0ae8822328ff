"""Every query of the market flows (SQLAlchemy Core on the caller's connection).

Nothing here decides anything or writes the ledger: the callers are the flows' use cases
(:mod:`jointuse.flows.service`, after the gate allowed the step), the relation providers and the
loaders (:mod:`jointuse.flows.relations`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, or_, select, update

from jointuse.core.db import HotQuery, HotStatement, hot_insert_statement
from jointuse.flows.model import FlowKind, FlowState, InvalidTransition, Step, allowed_steps
from jointuse.flows.tables import (
    cancellation_forwarding,
    flow_party_setting,
    flow_transition,
    market_flow,
)

_f = market_flow.c
_fw = cancellation_forwarding.c


@dataclass(frozen=True, slots=True)
class Flow:
    """One market flow as stored (see :mod:`jointuse.flows.tables`)."""

    id: str
    kind: FlowKind
    state: FlowState
    supply_point_id: str
    filed_by: str
    filed_at: datetime
    updated_at: datetime
    version: int = 1
    counterpart: str | None = None
    customer_id: str | None = None
    contract_number: str | None = None
    contract_kind: str | None = None
    wished_date: date | None = None
    fixed_date: date | None = None
    meter_work: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    deadline: datetime | None = None
    closed_at: datetime | None = None

    @property
    def area_code(self) -> str:
        return self.supply_point_id[:2]


@dataclass(frozen=True, slots=True)
class Forwarding:
    """A 廃止取次: what the new retailer forwarded to the old one, and the judgement."""

    id: str
    flow_id: str
    old_retailer: str
    old_contract_number: str
    name: str
    name_kana: str | None
    postal_code: str
    prefecture: str
    address_rest: str
    wished_date: date | None
    forwarded_at: datetime
    closed_at: datetime | None = None
    result: str | None = None
    reasons: tuple[str, ...] = ()
    match: dict[str, Any] | None = None
    mode: str | None = None
    judged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    flow_id: str
    seq: int
    step: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    reason: str | None
    details: dict[str, Any]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- flows ------------------------------------------------------------------------------------


def _flow_values(f: Flow) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind.value,
        "state": f.state.value,
        "supply_point_id": f.supply_point_id,
        "filed_by": f.filed_by,
        "counterpart": f.counterpart,
        "customer_id": f.customer_id,
        "contract_number": f.contract_number,
        "contract_kind": f.contract_kind,
        "wished_date": f.wished_date,
        "fixed_date": f.fixed_date,
        "meter_work": f.meter_work,
        "details": _dump(f.details),
        "filed_at": f.filed_at,
        "deadline": f.deadline,
        "updated_at": f.updated_at,
        "closed_at": f.closed_at,
        "version": f.version,
    }


# The keys of _flow_values.
_INSERT_FLOW = hot_insert_statement(
    market_flow,
    (
        "id",
        "kind",
        "state",
        "supply_point_id",
        "filed_by",
        "counterpart",
        "customer_id",
        "contract_number",
        "contract_kind",
        "wished_date",
        "fixed_date",
        "meter_work",
        "details",
        "filed_at",
        "deadline",
        "updated_at",
        "closed_at",
        "version",
    ),
)


def _flow(m: Mapping[str, Any] | RowMapping) -> Flow:
    return Flow(
        id=m["id"],
        kind=FlowKind(m["kind"]),
        state=FlowState(m["state"]),
        supply_point_id=m["supply_point_id"],
        filed_by=m["filed_by"],
        filed_at=m["filed_at"],
        updated_at=m["updated_at"],
        version=m["version"],
        counterpart=m["counterpart"],
        customer_id=m["customer_id"],
        contract_number=m["contract_number"],
        contract_kind=m["contract_kind"],
        wished_date=m["wished_date"],
        fixed_date=m["fixed_date"],
        meter_work=bool(m["meter_work"]),
        details=json.loads(m["details"]),
        deadline=m["deadline"],
        closed_at=m["closed_at"],
    )


def insert_flows(conn: Connection, flows: Sequence[Flow], *, actor: str, reason: str) -> None:
    """Insert new flows and their first transition (``filed``), one statement each."""
    if not flows:
        return
    _INSERT_FLOW.run_many(conn, [_flow_values(f) for f in flows])
    _INSERT_TRANSITION.run_many(
        conn,
        [
            {
                "flow_id": f.id,
                "seq": 1,
                "step": "file",
                "from_state": None,
                "to_state": f.state.value,
                "actor": actor,
                "at": f.filed_at,
                "reason": reason,
                "details": "{}",
            }
            for f in flows
        ],
    )


_FLOW_BY_ID = HotQuery(select(market_flow).where(_f.id == bindparam("flow_id")))
_FORWARDING_BY_ID = HotQuery(
    select(cancellation_forwarding).where(_fw.id == bindparam("forwarding_id"))
)
_FORWARDING_OF_FLOW = HotQuery(
    select(cancellation_forwarding).where(_fw.flow_id == bindparam("flow_id"))
)


def get_flow(conn: Connection, flow_id: str) -> Flow | None:
    rows = _FLOW_BY_ID.mappings(conn, {"flow_id": flow_id})
    return _flow(rows[0]) if rows else None


_INSERT_TRANSITION = hot_insert_statement(
    flow_transition,
    ("flow_id", "seq", "step", "from_state", "to_state", "actor", "at", "reason", "details"),
)
_MOVES: dict[tuple[str, ...], HotStatement] = {}


def _move_statement(keys: tuple[str, ...]) -> HotStatement:
    """``UPDATE market_flow SET <keys> WHERE id = :_id AND version = :_seen``, built once per set
    of changed columns (statements with bound parameters compile once; values baked into a
    statement would be compiled and cache-keyed on every call)."""
    found = _MOVES.get(keys)
    if found is None:
        found = _MOVES[keys] = HotStatement(
            update(market_flow)
            .where(_f.id == bindparam("_id"), _f.version == bindparam("_seen"))
            .values({k: bindparam(k, type_=_f[k].type) for k in keys})
        )
    return found


def move(
    conn: Connection,
    flow: Flow,
    step: Step,
    to_state: FlowState,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    terminal: bool,
    **changes: Any,
) -> Flow:
    """Move ``flow`` to ``to_state`` if nobody moved it since it was read (``version``), and keep
    the transition. A concurrent step that got there first makes this one a 409 naming the state
    the flow is in now."""
    values = {
        "state": to_state.value,
        "updated_at": at,
        "version": flow.version + 1,
        "closed_at": at if terminal else None,
        **changes,
    }
    params = {k: _dump(v) if k == "details" else v for k, v in values.items()}
    changed = _move_statement(tuple(sorted(params))).run(
        conn, {**params, "_id": flow.id, "_seen": flow.version}
    )
    if changed != 1:
        now = get_flow(conn, flow.id)
        state = now.state if now is not None else flow.state
        raise InvalidTransition(
            f"{flow.kind.value} flow {flow.id} changed meanwhile: it is {state.value} now",
            flow_id=flow.id,
            state=state.value,
            step=step.value,
            allowed=allowed_steps(flow.kind, state),
        )
    _INSERT_TRANSITION.run(
        conn,
        {
            "flow_id": flow.id,
            "seq": flow.version + 1,
            "step": step.value,
            "from_state": flow.state.value,
            "to_state": to_state.value,
            "actor": actor,
            "at": at,
            "reason": reason,
            "details": _dump(details or {}),
        },
    )
    kept = {k: v for k, v in changes.items() if k in Flow.__dataclass_fields__}
    return replace(
        flow,
        state=to_state,
        updated_at=at,
        version=flow.version + 1,
        closed_at=at if terminal else None,
        **kept,
    )


def transitions(conn: Connection, flow_id: str) -> list[Transition]:
    rows = conn.execute(
        select(flow_transition)
        .where(flow_transition.c.flow_id == flow_id)
        .order_by(flow_transition.c.seq)
    ).all()
    return [
        Transition(
            flow_id=m["flow_id"],
            seq=m["seq"],
            step=m["step"],
            from_state=m["from_state"],
            to_state=m["to_state"],
            actor=m["actor"],
            at=m["at"],
            reason=m["reason"],
            details=json.loads(m["details"]),
        )
        for m in (r._mapping for r in rows)
    ]


def due_flow_ids(conn: Connection, *, now: datetime, today: date, limit: int) -> list[str]:
    """Open flows whose deadline has passed or whose fixed date has come (oldest first)."""
    rows = conn.execute(
        select(_f.id)
        .where(
            _f.closed_at.is_(None),
            or_(_f.deadline <= now, (_f.state == "date_fixed") & (_f.fixed_date <= today)),
        )
        .order_by(_f.filed_at)
        .limit(limit)
    ).all()
    return [r[0] for r in rows]


# A flow's 廃止取次 read in the flow's own query (outer join), its columns prefixed ``fw_``.
_FW_LABELED = tuple(c.label(f"fw_{c.name}") for c in cancellation_forwarding.c)


def _with_forwardings(conn: Connection, query: Any) -> list[tuple[Flow, Forwarding | None]]:
    """The flows ``query`` selects (``market_flow`` and :data:`_FW_LABELED`), each with its
    廃止取次 if it has one."""
    out = []
    for r in conn.execute(query).all():
        m = r._mapping
        fw = None
        if m["fw_id"] is not None:
            fw = _forwarding({c.name: m[f"fw_{c.name}"] for c in cancellation_forwarding.c})
        out.append((_flow(m), fw))
    return out


def flows_of_party(
    conn: Connection,
    party: str,
    *,
    kind: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    limit: int = 10_000,
) -> list[tuple[Flow, Forwarding | None]]:
    """Flows a party filed or is the counterpart of, with their 廃止取次 (newest first)."""
    query = (
        select(market_flow, *_FW_LABELED)
        .select_from(market_flow.outerjoin(cancellation_forwarding, _fw.flow_id == _f.id))
        .where(or_(_f.filed_by == party, _f.counterpart == party))
    )
    if kind is not None:
        query = query.where(_f.kind == kind)
    if state is not None:
        query = query.where(_f.state == state)
    if since is not None:
        query = query.where(_f.filed_at >= since)
    return _with_forwardings(conn, query.order_by(_f.filed_at.desc()).limit(limit))


def flows_awaiting_date(
    conn: Connection, area_codes: Sequence[str], *, limit: int = 500
) -> list[tuple[Flow, Forwarding | None]]:
    """Open flows of points in ``area_codes`` that wait for the TSO to fix a date (a matched
    switch; a move-in, move-out or ampere change awaiting its date), earliest deadline first."""
    if not area_codes:
        return []
    query = (
        select(market_flow, *_FW_LABELED)
        .select_from(market_flow.outerjoin(cancellation_forwarding, _fw.flow_id == _f.id))
        .where(
            _f.closed_at.is_(None),
            _f.state.in_(("matched", "awaiting_date")),
            # the area is the ID's first two digits: a range of ix_market_flow_supply_point_id
            or_(
                *(
                    (_f.supply_point_id >= a) & (_f.supply_point_id < f"{int(a) + 1:02d}")
                    for a in area_codes
                )
            ),
        )
        .order_by(_f.deadline, _f.filed_at)
        .limit(limit)
    )
    return _with_forwardings(conn, query)


def count_flows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(market_flow)).scalar_one())


# --- cancellation forwarding (廃止取次) --------------------------------------------------------


def _forwarding_values(fw: Forwarding) -> dict[str, Any]:
    return {
        "id": fw.id,
        "flow_id": fw.flow_id,
        "old_retailer": fw.old_retailer,
        "old_contract_number": fw.old_contract_number,
        "name": fw.name,
        "name_kana": fw.name_kana,
        "postal_code": fw.postal_code,
        "prefecture": fw.prefecture,
        "address_rest": fw.address_rest,
        "wished_date": fw.wished_date,
        "forwarded_at": fw.forwarded_at,
        "closed_at": fw.closed_at,
        "result": fw.result,
        "reasons": _dump(list(fw.reasons)),
        "match": _dump(fw.match) if fw.match is not None else None,
        "mode": fw.mode,
        "judged_at": fw.judged_at,
    }


def _forwarding(m: Mapping[str, Any]) -> Forwarding:
    return Forwarding(
        id=m["id"],
        flow_id=m["flow_id"],
        old_retailer=m["old_retailer"],
        old_contract_number=m["old_contract_number"],
        name=m["name"],
        name_kana=m["name_kana"],
        postal_code=m["postal_code"],
        prefecture=m["prefecture"],
        address_rest=m["address_rest"],
        wished_date=m["wished_date"],
        forwarded_at=m["forwarded_at"],
        closed_at=m["closed_at"],
        result=m["result"],
        reasons=tuple(json.loads(m["reasons"])),
        match=json.loads(m["match"]) if m["match"] else None,
        mode=m["mode"],
        judged_at=m["judged_at"],
    )


# The keys of _forwarding_values.
_INSERT_FORWARDING = hot_insert_statement(
    cancellation_forwarding,
    (
        "id",
        "flow_id",
        "old_retailer",
        "old_contract_number",
        "name",
        "name_kana",
        "postal_code",
        "prefecture",
        "address_rest",
        "wished_date",
        "forwarded_at",
        "closed_at",
        "result",
        "reasons",
        "match",
        "mode",
        "judged_at",
    ),
)


def insert_forwardings(conn: Connection, forwardings: Sequence[Forwarding]) -> None:
    _INSERT_FORWARDING.run_many(conn, [_forwarding_values(f) for f in forwardings])


def get_forwarding(conn: Connection, forwarding_id: str) -> Forwarding | None:
    rows = _FORWARDING_BY_ID.mappings(conn, {"forwarding_id": forwarding_id})
    return _forwarding(rows[0]) if rows else None


def forwarding_of(conn: Connection, flow_id: str) -> Forwarding | None:
    rows = _FORWARDING_OF_FLOW.mappings(conn, {"flow_id": flow_id})
    return _forwarding(rows[0]) if rows else None


def _typed(name: str) -> Any:
    """A bound parameter typed as the 廃止取次 column ``name`` (its bind conversion applies)."""
    return bindparam(name, type_=_fw[name].type)


_JUDGE = HotStatement(
    update(cancellation_forwarding)
    .where(_fw.id == bindparam("_id"), _fw.closed_at.is_(None))
    .values(
        {k: _typed(k) for k in ("result", "reasons", "match", "mode", "judged_at", "closed_at")}
    )
)
_CLOSE = HotStatement(
    update(cancellation_forwarding)
    .where(_fw.flow_id == bindparam("_flow"), _fw.closed_at.is_(None))
    .values(closed_at=_typed("closed_at"))
)


def judge(
    conn: Connection,
    forwarding_id: str,
    *,
    result: str,
    reasons: Sequence[str],
    match: dict[str, Any] | None,
    mode: str,
    at: datetime,
) -> None:
    _JUDGE.run(
        conn,
        {
            "_id": forwarding_id,
            "result": result,
            "reasons": _dump(list(reasons)),
            "match": _dump(match) if match is not None else None,
            "mode": mode,
            "judged_at": at,
            "closed_at": at,
        },
    )


def close_forwarding(conn: Connection, flow_id: str, at: datetime) -> None:
    _CLOSE.run(conn, {"_flow": flow_id, "closed_at": at})


# --- the relations' hot path ----------------------------------------------------------------

_RELATION_COLUMNS = (
    _f.id,
    _f.kind,
    _f.filed_by,
    _f.customer_id,
    _f.filed_at,
    _f.closed_at,
    _fw.old_retailer,
    _fw.forwarded_at,
    _fw.closed_at,
    _fw.id,
)
_RELATION_FROM = market_flow.outerjoin(cancellation_forwarding, _fw.flow_id == _f.id)
_BY_POINT = HotQuery(
    select(*_RELATION_COLUMNS)
    .select_from(_RELATION_FROM)
    .where(_f.supply_point_id == bindparam("supply_point_id"))
)
_BY_CUSTOMER = HotQuery(
    select(*_RELATION_COLUMNS)
    .select_from(_RELATION_FROM)
    .where(_f.customer_id == bindparam("customer_id"))
)


@dataclass(frozen=True, slots=True)
class FlowFacts:
    """What the relations need of one flow (and its 廃止取次): one row of one indexed query."""

    flow_id: str
    kind: str
    filed_by: str
    customer_id: str | None
    filed_at: datetime
    closed_at: datetime | None
    addressee: str | None
    forwarded_at: datetime | None
    forwarding_closed_at: datetime | None
    forwarding_id: str | None


def flow_facts(
    conn: Connection, *, supply_point_id: str | None, customer_id: str | None
) -> list[FlowFacts]:
    """The flows of a point (index on the point) or, without one, of a customer."""
    if supply_point_id is not None:
        rows = _BY_POINT.rows(conn, {"supply_point_id": supply_point_id})
    elif customer_id is not None:
        rows = _BY_CUSTOMER.rows(conn, {"customer_id": customer_id})
    else:
        return []
    return [FlowFacts(*r) for r in rows]


# --- party settings, and the scheduler's queries ---------------------------------------------


def set_auto_judge(conn: Connection, party: str, auto: bool, at: datetime) -> None:
    t = flow_party_setting
    done = conn.execute(
        update(t).where(t.c.party == party).values(auto_judge=auto, updated_at=at)
    ).rowcount
    if not done:
        conn.execute(insert(t).values(party=party, auto_judge=auto, updated_at=at))


def auto_judge_of(conn: Connection, party: str) -> bool:
    t = flow_party_setting
    found = conn.execute(select(t.c.auto_judge).where(t.c.party == party)).scalar()
    return bool(found)


def open_forwardings_of_auto_parties(conn: Connection, limit: int) -> list[tuple[str, str]]:
    """(forwarding id, addressee) of open 廃止取次 addressed to parties that judge
    automatically, oldest first."""
    t = flow_party_setting
    rows = conn.execute(
        select(_fw.id, _fw.old_retailer)
        .select_from(cancellation_forwarding.join(t, t.c.party == _fw.old_retailer))
        .where(_fw.closed_at.is_(None), t.c.auto_judge.is_(True))
        .order_by(_fw.forwarded_at)
        .limit(limit)
    ).all()
    return [(r[0], r[1]) for r in rows]
