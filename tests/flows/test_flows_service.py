"""The market flows through their use cases, on SQLite and PostgreSQL: every step through the
gate and on the ledger, relations earned from flow state, dates, deadlines, the clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from flows_world import (
    GATE,
    OCCTO,
    R_NEW,
    R_OLD,
    R_OTHER,
    TSO03,
    TSO06,
    A,
    B,
    UowFactory,
    World,
    build,
    jst,
    person,
    switch_filing,
)
from jointuse.access.gate import PolicyDenied
from jointuse.access.relations import RelationContext, TargetRef
from jointuse.core.conflicts import Conflict
from jointuse.core.errors import ValidationError
from jointuse.customers import service as customers
from jointuse.customers.tables import retail_contract, supply_point
from jointuse.flows import filing, steps
from jointuse.flows.filing import InfoChange, MoveInFiling, NotSwitchable
from jointuse.flows.model import InvalidTransition
from jointuse.flows.scheduler import tick
from jointuse.flows.service import read_flow, read_forwarding

P2 = "P2_cancellation_forwarding"
FILED = jst(2024, 3, 1)  # a Friday


@pytest.fixture
def world(engine: Engine, uow: UowFactory) -> World:
    return build(engine, uow)


def _file(w: World, **overrides: Any) -> filing.Filed:
    with w.uow() as u:
        return filing.file_switch(
            u,
            gate=GATE,
            actor=R_NEW,
            filing=switch_filing(**overrides),
            request_id="file",
            at=FILED,
        )


def _judge(
    w: World,
    forwarding_id: str,
    result: str = "ok",
    reasons: list[str] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    with w.uow() as u:
        return steps.judge_forwarding(
            u,
            gate=GATE,
            actor=R_OLD,
            forwarding_id=forwarding_id,
            result=result,
            reasons=reasons or [],
            request_id="judge",
            at=at or FILED + timedelta(hours=1),
        )


def _contracts(w: World) -> list[tuple[str, date, date | None]]:
    with w.engine.connect() as conn:
        rows = conn.execute(
            select(
                retail_contract.c.retailer_code,
                retail_contract.c.valid_from,
                retail_contract.c.valid_to,
            ).order_by(retail_contract.c.valid_from)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _p3(w: World, party: Any, at: datetime, request_id: str = "p3") -> Any:
    with w.uow() as u:
        return customers.supply_point_inquiry(
            u, gate=GATE, actor=party, supply_point_id=A, request_id=request_id, at=at
        )


def test_a_switch_from_filing_to_completion(world: World) -> None:
    w = world
    # Before filing: r-new has no relation to A (P3 refused), OCCTO neither.
    for party in (R_NEW, OCCTO):
        with pytest.raises(PolicyDenied):
            _p3(w, party, FILED - timedelta(minutes=1), request_id=f"before-{party.code}")
    filed = _file(w)
    flow = filed.flow
    assert flow.state.value == "awaiting_judgement" and flow.counterpart == "r-old"
    assert flow.deadline == jst(2024, 3, 6, 0, 0)  # 2 business days after Friday: end of Tue
    # Filing is two gate writes: P1 (the customer record) and P2 (the 廃止取次).
    assert [(e.entry.purpose, e.entry.rule_id) for e in reversed(w.entries("file"))] == [
        ("P1_wheeling", "P1-retailer"),
        (P2, "P2-new-retailer"),
    ]
    # The applicant relation opens P3 for r-new; OCCTO relays the flow, so it reads P3 too.
    assert _p3(w, R_NEW, FILED + timedelta(minutes=5)).decision.relation == "applicant"
    assert _p3(w, OCCTO, FILED + timedelta(minutes=5)).decision.relation == "switching_operator"

    # The old retailer reads what was forwarded to it (not the new retailer's own record).
    with w.uow() as u:
        fw, seen = read_forwarding(
            u,
            gate=GATE,
            actor=R_OLD,
            forwarding_id=filed.forwarding_id or "",
            items=None,
            request_id="fw-old",
            at=FILED + timedelta(minutes=30),
        )
    assert seen.decision.rule_id == "P2-old-retailer"
    assert seen.data["name"] == {"kanji": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ"}
    assert seen.data["contract_number"] == "OLD-1" and seen.data["supply_point_id"] == A
    # The new retailer reads only the judgement (not yet given); another retailer nothing.
    with w.uow() as u:
        _, mine = read_forwarding(
            u,
            gate=GATE,
            actor=R_NEW,
            forwarding_id=fw.id,
            items=None,
            request_id="fw-new",
            at=FILED + timedelta(minutes=30),
        )
    assert set(mine.data) == {"forwarding_judgement"}
    assert mine.data["forwarding_judgement"]["result"] is None  # type: ignore[index]
    with pytest.raises(PolicyDenied), w.uow() as u:
        read_forwarding(
            u,
            gate=GATE,
            actor=R_OTHER,
            forwarding_id=fw.id,
            items=None,
            request_id="fw-x",
            at=FILED + timedelta(minutes=30),
        )
    assert [e.entry.decision for e in w.entries("fw-x")] == ["denied"]

    judged = _judge(w, fw.id)
    assert judged["state"] == "matched" and judged["mode"] == "manual"
    # Judged: the 廃止取次 is closed, so the old retailer's view of it ends.
    with pytest.raises(PolicyDenied), w.uow() as u:
        read_forwarding(
            u,
            gate=GATE,
            actor=R_OLD,
            forwarding_id=fw.id,
            items=None,
            request_id="fw-late",
            at=FILED + timedelta(hours=2),
        )
    # The TSO sees the matching result it needs to fix the date.
    with w.uow() as u:
        _, tso_view = read_forwarding(
            u,
            gate=GATE,
            actor=TSO03,
            forwarding_id=fw.id,
            items=None,
            request_id="fw-tso",
            at=FILED + timedelta(hours=2),
        )
    assert set(tso_view.data) == {"forwarding_judgement"}
    assert tso_view.data["forwarding_judgement"]["result"] == "ok"  # type: ignore[index]

    # The TSO fixes the proposed date: matched Fri 1 Mar → 1 business day (Mon 4) + 2 calendar
    # days = Wed 6 Mar → the next scheduled meter-reading day (検針日 code 10 in Tokyo's schedule:
    # the 8th business day of March) = Tue 12 Mar.
    with w.uow() as u:
        dated = steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=flow.id,
            day=None,
            request_id="date",
            at=FILED + timedelta(hours=3),
        )
    assert dated.fixed_date == date(2024, 3, 12) and dated.state.value == "date_fixed"
    # Not yet the date: the clock moves nothing.
    assert tick(w.engine, gate=GATE, at=jst(2024, 3, 11, 23, 59)).moved == 0
    report = tick(w.engine, gate=GATE, at=jst(2024, 3, 12, 0, 1))
    assert report.completed == 1 and not report.failed
    assert _contracts(w) == [
        ("r-old", date(2024, 1, 1), date(2024, 3, 12)),
        ("r-new", date(2024, 3, 12), None),
    ]
    # Completed: r-new is the contract holder now, not the applicant; OCCTO relays nothing.
    with pytest.raises(PolicyDenied):
        _p3(w, R_NEW, jst(2024, 3, 13), request_id="p3-after")
    with pytest.raises(PolicyDenied):
        _p3(w, OCCTO, jst(2024, 3, 13), request_id="occto-after")
    with w.uow() as u:
        mine_now = customers.read_basic(
            u,
            gate=GATE,
            actor=R_NEW,
            purpose="P1_wheeling",
            request_id="basic",
            at=jst(2024, 3, 13),
            supply_point_id=A,
        )
    assert mine_now.decision.relation == "contract_holder"
    assert mine_now.data["contract_number"] == "NEW-1" and mine_now.data["phone"] == "0333334444"
    # Every transition kept, with who and when, readable by the flow's parties only.
    with w.uow() as u:
        view = read_flow(u.connection, actor=R_OLD, flow_id=flow.id)
    assert [(t["step"], t["actor"]) for t in view["transitions"]] == [
        ("file", "r-new"),
        ("judge_ok", "r-old"),
        ("fix_date", "tso-03"),
        ("complete", "jointuse-scheduler"),
    ]
    assert "name" not in str(view) or "山田" not in str(view)  # no personal data in the view
    with pytest.raises(Exception, match="no flow"), w.uow() as u:
        read_flow(u.connection, actor=R_OTHER, flow_id=flow.id)


def test_ng_refuses_the_switch_and_needs_known_reasons(world: World) -> None:
    w = world
    filed = _file(w)
    fid = filed.forwarding_id or ""
    for reasons in ([], ["no_idea"]):
        with pytest.raises(ValidationError) as caught:
            _judge(w, fid, "ng", reasons)
        assert caught.value.field == "reasons"
    judged = _judge(w, fid, "ng", ["name_mismatch"])
    assert judged["state"] == "refused"
    with pytest.raises(PolicyDenied):  # refused: the applicant relation is over
        _p3(w, R_NEW, FILED + timedelta(hours=2), request_id="p3-refused")
    # The NG and its reason codes reach the new retailer in the flow's view (no personal data);
    # the P2 read of the judgement was the applicant's, and the refusal ended that relation.
    with w.uow() as u:
        view = read_flow(u.connection, actor=R_NEW, flow_id=filed.flow.id)
    assert view["state"] == "refused"
    assert (view["forwarding"]["result"], view["forwarding"]["reasons"]) == (
        "ng",
        ["name_mismatch"],
    )
    with pytest.raises(PolicyDenied), w.uow() as u:
        read_forwarding(
            u,
            gate=GATE,
            actor=R_NEW,
            forwarding_id=fid,
            items=None,
            request_id="fw-new",
            at=FILED + timedelta(minutes=90),
        )
    # A second judgement of a closed 廃止取次: the addressee relation is over (refused, recorded).
    with pytest.raises(PolicyDenied):
        _judge(w, fid, "ok", at=FILED + timedelta(hours=3))
    assert _contracts(w) == [("r-old", date(2024, 1, 1), None)]


def test_an_unanswered_forwarding_expires_at_its_deadline(world: World) -> None:
    w = world
    filed = _file(w)
    assert tick(w.engine, gate=GATE, at=jst(2024, 3, 5, 23, 59)).moved == 0
    report = tick(w.engine, gate=GATE, at=jst(2024, 3, 6, 0, 0))
    assert report.expired == 1
    with w.uow() as u:
        view = read_flow(u.connection, actor=R_NEW, flow_id=filed.flow.id)
    assert view["state"] == "expired" and view["allowed_steps"] == []
    # Expired: a late judgement is refused by the gate (the 廃止取次 closed) and recorded.
    with pytest.raises(PolicyDenied):
        _judge(w, filed.forwarding_id or "", at=jst(2024, 3, 6, 9))
    # And the point is free for the next switch.
    _file(w, new_contract_number="NEW-2", customer=person("c-new-2"))


def test_withdrawal_by_the_filer_only_and_no_step_after_the_end(world: World) -> None:
    w = world
    filed = _file(w)
    with pytest.raises(PolicyDenied), w.uow() as u:  # not the filer: no applicant relation
        steps.withdraw(
            u,
            gate=GATE,
            actor=R_OTHER,
            flow_id=filed.flow.id,
            reason=None,
            request_id="w-x",
            at=FILED + timedelta(hours=1),
        )
    assert [e.entry.decision for e in w.entries("w-x")] == ["denied"]
    with w.uow() as u:
        gone = steps.withdraw(
            u,
            gate=GATE,
            actor=R_NEW,
            flow_id=filed.flow.id,
            reason="customer changed mind",
            request_id="w",
            at=FILED + timedelta(hours=1),
        )
    assert gone.state.value == "withdrawn"
    with pytest.raises(InvalidTransition) as caught, w.uow() as u:
        steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=None,
            request_id="late",
            at=FILED + timedelta(hours=2),
        )
    assert caught.value.status == 409
    assert caught.value.details["state"] == "withdrawn" and caught.value.details["allowed"] == []
    # The refused step is on the ledger: allowed by the policy, failed on the flow's state.
    (entry,) = w.entries("late")
    assert entry.entry.items_refused[0].reason == "failed:invalid_transition"


def test_a_step_the_state_does_not_allow_is_409_with_the_allowed_steps(world: World) -> None:
    w = world
    filed = _file(w)
    with pytest.raises(InvalidTransition) as caught, w.uow() as u:
        steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=None,
            request_id="early",
            at=FILED + timedelta(hours=1),
        )
    assert caught.value.details["state"] == "awaiting_judgement"
    assert caught.value.details["allowed"] == ["judge_ok", "judge_ng", "withdraw", "expire"]
    # The TSO of another area is not even allowed to try (no area_tso relation).
    _judge(w, filed.forwarding_id or "")
    with pytest.raises(PolicyDenied), w.uow() as u:
        steps.fix_date(
            u,
            gate=GATE,
            actor=TSO06,
            flow_id=filed.flow.id,
            day=None,
            request_id="t6",
            at=FILED + timedelta(hours=2),
        )
    # A date before the earliest is refused, naming it.
    with pytest.raises(ValidationError) as too_early, w.uow() as u:
        steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=date(2024, 3, 4),
            request_id="d",
            at=FILED + timedelta(hours=2),
        )
    assert too_early.value.field == "date" and "2024-03-12" in str(too_early.value.valid)


def test_a_switch_cannot_target_a_point_without_supply_or_its_own(world: World) -> None:
    w = world
    for point_id, party in ((B, R_NEW), ("03" + "7" * 20, R_NEW)):
        with pytest.raises(NotSwitchable) as caught, w.uow() as u:
            filing.file_switch(
                u,
                gate=GATE,
                actor=party,
                filing=switch_filing(supply_point_id=point_id),
                request_id=f"ns-{point_id}",
                at=FILED,
            )
        # One answer for a point without supply and an unknown point: nothing about either.
        assert caught.value.code == "point_not_switchable"
        assert "r-old" not in caught.value.message
        (entry,) = w.entries(f"ns-{point_id}")
        assert entry.entry.items_refused[0].reason == "failed:point_not_switchable"
    with pytest.raises(NotSwitchable), w.uow() as u:
        filing.file_switch(
            u, gate=GATE, actor=R_OLD, filing=switch_filing(), request_id="own", at=FILED
        )


def test_move_in_retroactive_within_the_limit_completes_when_dated(world: World) -> None:
    w = world
    now = jst(2024, 3, 20)
    for wished, expect in ((date(2024, 2, 10), "wished_date"), (date(2024, 2, 20), None)):
        f = MoveInFiling(
            supply_point_id=B,
            customer=person(f"c-in-{wished.day}"),
            new_contract_number="IN-1",
            wished_date=wished,
        )
        if expect:
            with pytest.raises(ValidationError) as caught, w.uow() as u:
                filing.file_move_in(
                    u, gate=GATE, actor=R_NEW, filing=f, request_id="in-old", at=now
                )
            assert caught.value.field == "wished_date"  # 39 days back: beyond 31
            continue
        with w.uow() as u:
            filed = filing.file_move_in(
                u, gate=GATE, actor=R_NEW, filing=f, request_id="in", at=now
            )
    assert filed.flow.details["retroactive"] is True
    with w.uow() as u:
        done = steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=None,
            request_id="in-date",
            at=now + timedelta(hours=1),
        )
    assert done.state.value == "completed"
    assert ("r-new", date(2024, 2, 20), None) in _contracts(w)
    with w.engine.connect() as conn:
        state = conn.execute(
            select(supply_point.c.contract_state).where(supply_point.c.id == B)
        ).scalar()
    assert state == "active"
    # A move-in of a supplied point is refused (a switch is the way).
    with pytest.raises(NotSwitchable), w.uow() as u:
        filing.file_move_in(
            u,
            gate=GATE,
            actor=R_OTHER,
            request_id="in-a",
            at=now,
            filing=MoveInFiling(
                supply_point_id=A,
                customer=person("c-z"),
                new_contract_number="Z-1",
                wished_date=date(2024, 3, 25),
            ),
        )


def test_move_out_with_meter_removal_ends_the_contract(world: World) -> None:
    w = world
    with w.uow() as u:
        filed = filing.file_move_out(
            u,
            gate=GATE,
            actor=R_OLD,
            supply_point_id=A,
            wished_date=date(2024, 3, 25),
            meter_removal=True,
            request_id="out",
            at=FILED,
        )
    with w.uow() as u:
        dated = steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=None,
            request_id="out-d",
            at=FILED + timedelta(hours=1),
        )
    assert dated.fixed_date == date(2024, 3, 25)  # wished, later than the lead time
    assert tick(w.engine, gate=GATE, at=jst(2024, 3, 25, 1)).completed == 1
    assert _contracts(w) == [("r-old", date(2024, 1, 1), date(2024, 3, 25))]
    with w.engine.connect() as conn:
        row = conn.execute(
            select(supply_point.c.contract_state, supply_point.c.disconnection_method).where(
                supply_point.c.id == A
            )
        ).one()
    assert tuple(row) == ("terminated", "meter_removal")


def test_ampere_change_and_info_change_by_the_controller(world: World) -> None:
    w = world
    with w.uow() as u:
        filed = filing.file_ampere_change(
            u,
            gate=GATE,
            actor=R_OLD,
            supply_point_id=A,
            current_limit=40,
            wished_date=None,
            request_id="amp",
            at=FILED,
        )
    with pytest.raises(Conflict) as caught, w.uow() as u:  # one ampere change at a time
        filing.file_ampere_change(
            u,
            gate=GATE,
            actor=R_OLD,
            supply_point_id=A,
            current_limit=50,
            wished_date=None,
            request_id="amp-2",
            at=FILED,
        )
    assert caught.value.rule == "uq_market_flow_one_ampere_change"
    with w.uow() as u:
        dated = steps.fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=None,
            request_id="amp-d",
            at=FILED + timedelta(hours=1),
        )
    assert dated.fixed_date == date(2024, 3, 15)  # meter work: 8 business days (13th) + 2
    tick(w.engine, gate=GATE, at=jst(2024, 3, 15, 1))
    with w.engine.connect() as conn:
        limit = conn.execute(
            select(supply_point.c.current_limit).where(supply_point.c.id == A)
        ).scalar()
    assert limit == 40
    # Information change: the controller (r-old, holding the contract) changes the phone.
    with w.uow() as u:
        changed = filing.file_info_change(
            u,
            gate=GATE,
            actor=R_OLD,
            supply_point_id=A,
            change=InfoChange(phone="03-9999-0000"),
            request_id="info",
            at=FILED,
        )
    assert changed.flow.state.value == "completed"
    with w.uow() as u:
        seen = customers.tso_customer_lookup(
            u, gate=GATE, actor=TSO03, supply_point_id=A, request_id="p4", at=FILED
        )
    assert seen.data["phone"] == "0399990000"
    with pytest.raises(PolicyDenied), w.uow() as u:  # not the controller of c-old's data
        filing.file_info_change(
            u,
            gate=GATE,
            actor=R_OTHER,
            supply_point_id=A,
            change=InfoChange(phone="0300000000"),
            request_id="info-x",
            at=FILED,
        )


@pytest.fixture
def racing(backend: str) -> Iterator[None]:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: the race needs concurrent transactions")
    yield


def test_two_retailers_filing_at_once_get_one_acceptance(
    world: World, engine: Engine, racing: None
) -> None:
    """The rule is the database's: two transactions each see no flow in flight, both insert,
    and the partial unique index lets exactly one commit."""
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def file_as(party: Any, number: str) -> None:
        customer = person(f"c-{number}")
        try:
            with world.uow() as u:
                barrier.wait(timeout=10)
                results[party.code] = filing.file_switch(
                    u,
                    gate=GATE,
                    actor=party,
                    request_id=f"race-{party.code}",
                    at=FILED,
                    filing=switch_filing(customer=customer, new_contract_number=number),
                )
        except Exception as exc:
            results[party.code] = exc

    for trial in range(5):
        results.clear()
        threads = [
            threading.Thread(target=file_as, args=(p, f"{p.code}-{trial}"))
            for p in (R_NEW, R_OTHER)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        won = [v for v in results.values() if isinstance(v, filing.Filed)]
        lost = [v for v in results.values() if isinstance(v, Conflict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert lost[0].rule == "uq_market_flow_one_in_flight"
        with world.uow() as u:  # free the point for the next trial
            steps.withdraw(
                u,
                gate=GATE,
                actor=R_NEW if results["r-new"] is won[0] else R_OTHER,
                flow_id=won[0].flow.id,
                reason=None,
                request_id=f"free-{trial}",
                at=FILED,
            )


def test_applicant_holds_only_for_the_point_and_customer_filed(world: World) -> None:
    w = world
    filed = _file(w)
    at = FILED + timedelta(minutes=1)
    with w.uow() as u:
        rels = GATE.relations.relations(
            RelationContext(u.connection, R_NEW, TargetRef(A, "c-old"), at)
        )
    assert [r.relation for r in rels] == []  # c-old is not the customer r-new filed
    with w.uow() as u:
        got = customers.read_basic(
            u,
            gate=GATE,
            actor=R_NEW,
            purpose="P1_wheeling",
            request_id="mine",
            at=at,
            supply_point_id=A,
            customer_id=filed.flow.customer_id,
        )
    assert got.decision.relation == "applicant" and got.data["phone"] == "0333334444"


def test_a_new_contract_number_is_refused_at_filing_when_in_use(world: World) -> None:
    w = world

    def move_in(party: Any, number: str, request_id: str) -> None:
        with w.uow() as u:
            filing.file_move_in(
                u,
                gate=GATE,
                actor=party,
                request_id=request_id,
                at=FILED,
                filing=MoveInFiling(
                    supply_point_id=B,
                    customer=person(f"c-{request_id}"),
                    new_contract_number=number,
                    wished_date=date(2024, 3, 20),
                ),
            )

    # r-old holds OLD-1 (at A): a new contract cannot take its number.
    with pytest.raises(Conflict) as in_use:
        move_in(R_OLD, "OLD-1", "in-old")
    assert in_use.value.rule == "pk_retail_contract"
    (entry,) = w.entries("in-old")
    assert entry.entry.items_refused[0].reason == "failed:conflict:pk_retail_contract"
    # An open filing names NEW-1: another open filing of r-new's cannot name it too.
    move_in(R_NEW, "NEW-1", "in")
    with pytest.raises(Conflict) as open_twice:
        _file(w)
    assert open_twice.value.rule == "uq_market_flow_open_contract_number"


def test_two_registrations_of_one_new_point_at_once_both_succeed(
    world: World, racing: None
) -> None:
    from flows_world import point

    new_point = point("03" + "8" * 20)
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def register(n: int) -> None:
        try:
            with world.uow() as u:
                barrier.wait(timeout=10)
                answers.append(
                    customers.save_supply_point(
                        u,
                        gate=GATE,
                        actor=TSO03,
                        point=new_point,
                        request_id=f"put-{n}",
                        at=FILED,
                    ).data["created"]
                )
        except Exception as exc:
            answers.append(exc)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers, key=str) == [False, True], answers
