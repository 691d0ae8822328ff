"""Steps of filed flows, each one unit of work through the gate (:mod:`jointuse.flows.model` has
the transitions each kind allows).

=============================  ======================================  ==========================
step                           gate                                    relation
=============================  ======================================  ==========================
:func:`judge_forwarding`       P2 write ``forwarding_judgement``; an   ``forwarding_addressee``;
                               automatic judgement first reads the     ``contract_holder`` for
                               forwarded items (P2) and the old        its own record
                               retailer's own customer record (P1)
:func:`fix_date`               P1 write ``wheeling_change_date``        ``area_tso``
:func:`refuse`                 P1 write ``contract_state``              ``area_tso``
:func:`withdraw`               P1 write ``contract_number`` (the        ``applicant`` /
                               contract that will not start, or the     ``contract_holder``
                               filer's own)
:func:`complete`               P1 write of the supply-point items the   ``area_tso`` (the TSO's
                               change touches, as the TSO, on the date  change takes effect)
                               it fixed: contracts end and begin
:func:`expire`                 none (no personal data changes): the    —
                               transition is kept, the parties told
=============================  ======================================  ==========================

The switching date (:func:`proposed_date`): the next scheduled meter-reading day (the point's
検針日 code in the area TSO's schedule) on or after the end of the lead time counted from the
matching, or the customer's wished date if later; lead times, closure days and schedules are the
TSO's data, computed by :mod:`jointuse.flows.dates`. Other dated flows take the end of the lead
time (or the wished date if later).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from jointuse.access.gate import Gate
from jointuse.access.relations import RelationContext, TargetRef
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import repository as customers
from jointuse.customers.model import ContractKind, RetailContract
from jointuse.flows import dates
from jointuse.flows import repository as repo
from jointuse.flows.common import (
    DEFAULT_SETTINGS,
    P1,
    P2,
    SCHEDULER,
    FlowSettings,
    deadline_after,
    flow_view,
    jst_day,
)
from jointuse.flows.model import TERMINAL, FlowKind, NgReason, Step, next_state
from jointuse.flows.notices import notify
from jointuse.flows.repository import Flow
from jointuse.parties.reference import area_codes, tso_for_area
from jointuse.policy.engine import Party

JUDGEMENT = frozenset({"forwarding_judgement"})
DATE_ITEM = frozenset({"wheeling_change_date"})
STATE_ITEM = frozenset({"contract_state"})
CONTRACT = frozenset({"contract_number"})


def flow_or_404(conn: Connection, flow_id: str) -> Flow:
    flow = repo.get_flow(conn, flow_id) if 0 < len(flow_id) <= 64 else None
    if flow is None:
        raise NotFound(f"no flow {flow_id[:64]!r}", flow_id=flow_id[:64])
    return flow


def _move(
    conn: Connection,
    flow: Flow,
    step: Step,
    *,
    actor: str,
    at: datetime,
    reason: str | None = None,
    **changes: Any,
) -> Flow:
    to = next_state(flow.kind, flow.state, step, flow_id=flow.id)
    return repo.move(
        conn, flow, step, to, actor=actor, at=at, reason=reason, terminal=to in TERMINAL, **changes
    )


# --- dates -------------------------------------------------------------------------------------


def earliest_date(flow: Flow, matched_on: date, settings: FlowSettings) -> date:
    """The end of the lead time after matching, from the area TSO's data
    (:func:`jointuse.flows.dates.earliest_date`)."""
    return dates.earliest_date(
        _tso(flow),
        matched_on,
        str(flow.details.get("capacity_class", "low_voltage")),
        flow.meter_work,
        closures=settings.year_end_closure,
    )


def _tso(flow: Flow) -> str:
    return tso_for_area(flow.area_code)


def proposed_date(conn: Connection, flow: Flow, today: date, settings: FlowSettings) -> date:
    """The date a TSO fixes unless it chooses a later one (see the module docstring). A wished
    date already past is no longer a wish (it is before the earliest date in any case)."""
    if (
        flow.kind is FlowKind.MOVE_IN
        and flow.wished_date is not None
        and flow.details.get("retroactive")
    ):
        return flow.wished_date
    tso = _tso(flow)
    wished = flow.wished_date if flow.wished_date and flow.wished_date >= today else None
    code: int | None = None
    if flow.kind is FlowKind.SWITCH:
        point = customers.get_supply_point(conn, flow.supply_point_id)
        code = point.meter_reading_day if point else None
    try:
        return dates.switch_date(
            tso,
            today,
            code,
            wished,
            klass=str(flow.details.get("capacity_class", "low_voltage")),
            meter_work=flow.meter_work,
            closures=settings.year_end_closure,
        ).day
    except ValidationError as exc:
        if exc.field != "meter_reading_code":
            raise
        raise ValidationError(
            f"supply point {flow.supply_point_id}: its 検針日 {code} is not in {tso}'s "
            "meter-reading schedule; the TSO corrects the point's meter_reading_day",
            field="meter_reading_day",
            valid=exc.valid,
        ) from None


# --- judging a 廃止取次 ---------------------------------------------------------------------


def judge_forwarding(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    forwarding_id: str,
    result: str | None,
    reasons: list[str],
    request_id: str,
    at: datetime,
    auto: bool = False,
    settings: FlowSettings = DEFAULT_SETTINGS,
) -> dict[str, Any]:
    """The old retailer answers a 廃止取次: OK, or NG with reason codes — by hand, or
    automatically (``auto``: its own contract and customer record matched against what was
    forwarded, field by field; the per-field result and score are kept and returned)."""
    conn = uow.connection
    fw = repo.get_forwarding(conn, forwarding_id) if 0 < len(forwarding_id) <= 20 else None
    if fw is None:
        raise NotFound(f"no cancellation forwarding {forwarding_id[:20]!r}", forwarding=None)
    flow = flow_or_404(conn, fw.flow_id)
    target = TargetRef(flow.supply_point_id, None, flow.id)
    match: dict[str, Any] | None = None
    if auto:
        result, reasons, match = _auto_judgement(uow, gate, actor, fw, flow, request_id, at)
    elif result == "ok":
        reasons = []
    elif result == "ng":
        known = {r.value for r in NgReason}
        bad = [r for r in reasons if r not in known]
        if not reasons or bad:
            raise ValidationError(
                f"an NG judgement needs reason codes; unknown: {', '.join(bad[:5])}"
                if bad
                else "an NG judgement needs at least one reason code",
                field="reasons",
                valid=sorted(known),
            )
    else:
        raise ValidationError(
            f"result {result!r} is not a judgement",
            field="result",
            valid=["ok", "ng", "or auto: true"],
        )
    step = Step.JUDGE_OK if result == "ok" else Step.JUDGE_NG
    mode = "auto" if auto else "manual"
    moved: list[Flow] = []

    def record(ctx: RelationContext) -> dict[str, object]:
        c = ctx.conn
        repo.judge(c, fw.id, result=str(result), reasons=reasons, match=match, mode=mode, at=at)
        changes: dict[str, Any] = {}
        if step is Step.JUDGE_OK:
            changes["deadline"] = deadline_after(
                at, settings.date_fix_business_days, settings, tso=_tso(flow)
            )
        else:
            changes["deadline"] = None
        new = _move(
            c, flow, step, actor=actor.code, at=at, reason=",".join(reasons) or None, **changes
        )
        moved.append(new)
        notify(c, new, "forwarding_judged", at, to=[new.filed_by, "occto", "area_tso"])
        if step is Step.JUDGE_OK:
            notify(c, new, "flow_matched", at, to=[new.filed_by, "area_tso"])
        return {}

    gate.write(
        uow,
        actor=actor,
        purpose=P2,
        target=target,
        items=JUDGEMENT,
        request_id=request_id,
        at=at,
        change=record,
    )
    return {
        "forwarding_id": fw.id,
        "flow_id": flow.id,
        "result": result,
        "reasons": reasons,
        "mode": mode,
        "match": match,
        "state": moved[0].state.value,
    }


def _auto_judgement(
    uow: UnitOfWork,
    gate: Gate,
    actor: Party,
    fw: repo.Forwarding,
    flow: Flow,
    request_id: str,
    at: datetime,
) -> tuple[str, list[str], dict[str, Any]]:
    from jointuse.flows.matching import judge as match_judge

    forwarded = gate.read(
        uow,
        actor=actor,
        purpose=P2,
        target=TargetRef(flow.supply_point_id, None, flow.id),
        items=frozenset({"name", "address", "contract_number", "supply_point_id"}),
        request_id=request_id,
        at=at,
    ).data
    contract = customers.get_contract(uow.connection, actor.code, fw.old_contract_number)
    record: dict[str, object] | None = None
    if contract is not None and contract.supply_point_id.value == flow.supply_point_id:
        record = gate.read(
            uow,
            actor=actor,
            purpose=P1,
            target=TargetRef(flow.supply_point_id, contract.customer_id),
            items=frozenset({"name", "address", "contract_number"}),
            request_id=request_id,
            at=at,
        ).data
    return match_judge(
        forwarded=forwarded,
        record=record,
        contract=contract,
        point=flow.supply_point_id,
        wished_date=fw.wished_date,
    )


# --- the TSO: date, refusal ---------------------------------------------------------------------


def dates_to_fix(
    conn: Connection,
    *,
    actor: Party,
    today: date,
    settings: FlowSettings = DEFAULT_SETTINGS,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The flows of the TSO's areas waiting for it to fix a date, earliest deadline first, each
    as its parties see it (:func:`flow_view`, no personal data) with the date :func:`fix_date`
    would fix (``proposed_date``) — or, where the point's 検針日 is not in the schedule, why not
    (``date_problem``)."""
    if actor.kind != "tso":
        raise ValidationError(
            "only a TSO fixes dates", field="party", valid="the TSO of the point's area"
        )
    areas = sorted(a for a in area_codes() if tso_for_area(a) == actor.code)
    out = []
    for flow, fw in repo.flows_awaiting_date(conn, areas, limit=limit):
        view = flow_view(flow, fw)
        try:
            view["proposed_date"] = proposed_date(conn, flow, today, settings).isoformat()
        except ValidationError as exc:
            view["proposed_date"] = None
            view["date_problem"] = exc.message
        out.append(view)
    return out


def fix_date(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    flow_id: str,
    day: date | None,
    request_id: str,
    at: datetime,
    settings: FlowSettings = DEFAULT_SETTINGS,
) -> Flow:
    """The TSO of the area fixes the date (the proposed one when ``day`` is None; a later one,
    not an earlier one); a date that has come completes the flow at once (a retroactive
    move-in)."""
    conn = uow.connection
    flow = flow_or_404(conn, flow_id)
    today = jst_day(at)
    proposed = proposed_date(conn, flow, today, settings)
    chosen = proposed if day is None else day
    if chosen < proposed:
        raise ValidationError(
            f"{chosen} is before the earliest date {proposed}",
            field="date",
            valid=f"{proposed} or later",
        )
    done: list[Flow] = []

    def record(ctx: RelationContext) -> dict[str, object]:
        new = _move(
            ctx.conn,
            flow,
            Step.FIX_DATE,
            actor=actor.code,
            at=at,
            fixed_date=chosen,
            deadline=None,
        )
        notify(ctx.conn, new, "date_fixed", at, to=[new.filed_by, new.counterpart or "", "occto"])
        done.append(new)
        return {}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(flow.supply_point_id, None, flow.id),
        items=DATE_ITEM,
        request_id=request_id,
        at=at,
        change=record,
    )
    if chosen <= today:
        return complete(uow, gate=gate, flow=done[0], request_id=request_id, at=at)
    return done[0]


def refuse(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    flow_id: str,
    reason: str,
    request_id: str,
    at: datetime,
) -> Flow:
    """The TSO of the area refuses a move-in, move-out or ampere change, with its reason."""
    conn = uow.connection
    flow = flow_or_404(conn, flow_id)
    text = reason.strip()
    if not text or len(text) > 500 or not text.isprintable():
        raise ValidationError(
            "a refusal needs a reason", field="reason", valid="1–500 printable characters"
        )
    done: list[Flow] = []

    def record(ctx: RelationContext) -> dict[str, object]:
        new = _move(ctx.conn, flow, Step.REFUSE, actor=actor.code, at=at, reason=text)
        notify(ctx.conn, new, "flow_refused", at, to=[new.filed_by, "occto"])
        done.append(new)
        return {}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=TargetRef(flow.supply_point_id, None, flow.id),
        items=STATE_ITEM,
        request_id=request_id,
        at=at,
        change=record,
    )
    return done[0]


# --- the filer: withdrawal --------------------------------------------------------------------


def withdraw(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    flow_id: str,
    reason: str | None,
    request_id: str,
    at: datetime,
) -> Flow:
    """The filer withdraws its flow before the date (a switch until its date; the 廃止取次 closes
    with it). Only the filer: another party's attempt is refused as the gate refuses it."""
    conn = uow.connection
    flow = flow_or_404(conn, flow_id)
    if flow.filed_by != actor.code:
        # Not the filer: no relation of the kind the step needs; the gate refuses and records.
        target = TargetRef(flow.supply_point_id, None, flow.id)
    else:
        target = TargetRef(flow.supply_point_id, flow.customer_id, flow.id)
    done: list[Flow] = []

    def record(ctx: RelationContext) -> dict[str, object]:
        if flow.filed_by != actor.code:
            raise NotFound(f"no flow {flow.id} of yours", flow_id=flow.id)
        new = _move(
            ctx.conn, flow, Step.WITHDRAW, actor=actor.code, at=at, reason=reason, deadline=None
        )
        repo.close_forwarding(ctx.conn, flow.id, at)
        notify(ctx.conn, new, "flow_withdrawn", at, to=[new.counterpart or "", "occto", "area_tso"])
        done.append(new)
        return {}

    gate.write(
        uow,
        actor=actor,
        purpose=P1,
        target=target,
        items=CONTRACT,
        request_id=request_id,
        at=at,
        change=record,
    )
    return done[0]


# --- the clock: completion, expiry -------------------------------------------------------------


_COMPLETION_ITEMS: dict[FlowKind, frozenset[str]] = {
    FlowKind.SWITCH: frozenset({"wheeling_change_date", "contract_state"}),
    FlowKind.MOVE_IN: frozenset({"wheeling_change_date", "contract_state", "disconnection_method"}),
    FlowKind.MOVE_OUT: frozenset(
        {"wheeling_change_date", "contract_state", "disconnection_method"}
    ),
    FlowKind.AMPERE_CHANGE: frozenset({"wheeling_change_date", "current_limit"}),
}


def _completion_changes(conn: Connection, flow: Flow, at: datetime) -> None:
    """Apply what the completed flow changes (contracts; the items of
    :data:`_COMPLETION_ITEMS` of the supply point)."""
    day = flow.fixed_date
    assert day is not None  # a flow completes only from date_fixed
    point_id = flow.supply_point_id
    point = customers.get_supply_point(conn, point_id)
    if point is None:
        raise NotFound(f"supply point {point_id} is gone", supply_point_id=point_id)
    changes: dict[str, Any] = {"wheeling_change_date": day}
    if flow.kind is FlowKind.SWITCH:
        old = customers.contract_on(conn, point_id, day - timedelta(days=1))
        if old is not None and old.retailer_code == flow.counterpart:
            customers.end_contract(conn, old.retailer_code, old.contract_number, day)
        _begin_contract(conn, flow, day)
        changes["contract_state"] = "active"
    elif flow.kind is FlowKind.MOVE_IN:
        _begin_contract(conn, flow, day)
        changes["contract_state"] = "active"
        changes["disconnection_method"] = None
    elif flow.kind is FlowKind.MOVE_OUT:
        customers.end_contract(conn, flow.filed_by, flow.contract_number or "", day)
        changes["contract_state"] = "terminated"
        changes["disconnection_method"] = (
            "meter_removal" if flow.details.get("meter_removal") else "supply_stop"
        )
    elif flow.kind is FlowKind.AMPERE_CHANGE:
        changes["current_limit"] = int(flow.details["current_limit"])
    updated_by = tso_for_area(flow.area_code) or SCHEDULER
    customers.save_supply_point(
        conn, replace(point, **changes), updated_by=updated_by, updated_at=at
    )


def _begin_contract(conn: Connection, flow: Flow, day: date) -> None:
    customers.insert_contract(
        conn,
        RetailContract(
            contract_number=flow.contract_number or "",
            kind=ContractKind(flow.contract_kind or "standard"),
            retailer_code=flow.filed_by,
            customer_id=flow.customer_id or "",
            supply_point_id=SupplyPointId(flow.supply_point_id),
            valid_from=day,
        ),
    )


def complete(uow: UnitOfWork, *, gate: Gate, flow: Flow, request_id: str, at: datetime) -> Flow:
    """On the fixed date: the old contract ends and the new one begins (time-sliced), or the
    contract ends (move-out), or the current limit changes — recorded as the area TSO's P1 write
    of the supply-point items it changes. A contract the rules refuse (an overlap) fails the
    completion with the rule's 409; the flow stays ``date_fixed`` for the operator to see."""
    tso = tso_for_area(flow.area_code)
    if tso is None:
        raise ValidationError(f"no TSO for area {flow.area_code}", field="supply_point_id")
    done: list[Flow] = []

    def record(ctx: RelationContext) -> dict[str, object]:
        _completion_changes(ctx.conn, flow, at)
        new = _move(ctx.conn, flow, Step.COMPLETE, actor=SCHEDULER, at=at, deadline=None)
        repo.close_forwarding(ctx.conn, flow.id, at)
        notify(
            ctx.conn,
            new,
            "flow_completed",
            at,
            to=[new.filed_by, new.counterpart or "", "occto", "area_tso"],
        )
        done.append(new)
        return {}

    gate.write(
        uow,
        actor=Party(tso, "tso"),
        purpose=P1,
        target=TargetRef(flow.supply_point_id, None, flow.id),
        items=_COMPLETION_ITEMS[flow.kind],
        request_id=request_id,
        at=at,
        change=record,
    )
    return done[0]


def expire(uow: UnitOfWork, *, flow: Flow, at: datetime) -> Flow:
    """At the deadline: an unanswered 廃止取次, an undated switch, an unanswered filing expire.
    No personal data changes (the transition is kept and the parties told)."""
    conn = uow.connection
    new = _move(
        conn, flow, Step.EXPIRE, actor=SCHEDULER, at=at, reason="deadline passed", deadline=None
    )
    repo.close_forwarding(conn, flow.id, at)
    notify(
        conn, new, "flow_expired", at, to=[new.filed_by, new.counterpart or "", "occto", "area_tso"]
    )
    return new
