"""The flows' dates through the use cases (SQLite and PostgreSQL): the TSO's proposed date follows
the area TSO's data (jointuse.flows.dates), over the year end; a point whose 検針日 code its TSO
does not use is refused by name, nothing changed; the date-fixing deadline counts the TSO's days."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from flows_world import (
    GATE,
    R_NEW,
    R_OLD,
    TSO03,
    A,
    UowFactory,
    World,
    build,
    jst,
    point,
    switch_filing,
)
from jointuse.core.calendar import JST
from jointuse.core.errors import ValidationError
from jointuse.customers import service as customers
from jointuse.flows import filing, steps
from jointuse.flows.service import read_flow


@pytest.fixture
def world(engine: Engine, uow: UowFactory) -> World:
    return build(engine, uow)


def _code(w: World, code: int, at: datetime) -> None:
    """Tokyo's TSO sets A's 検針日 code (through the gate, as the PUT does)."""
    with w.uow() as u:
        customers.save_supply_point(
            u,
            gate=GATE,
            actor=TSO03,
            point=dataclasses.replace(point(A), meter_reading_day=code),
            request_id=f"code-{code}",
            at=at,
        )


def _matched(w: World, at: datetime) -> str:
    with w.uow() as u:
        filed = filing.file_switch(
            u, gate=GATE, actor=R_NEW, filing=switch_filing(), request_id="file", at=at
        )
    with w.uow() as u:
        steps.judge_forwarding(
            u,
            gate=GATE,
            actor=R_OLD,
            forwarding_id=filed.forwarding_id or "",
            result="ok",
            reasons=[],
            request_id="judge",
            at=at + timedelta(hours=1),
        )
    return filed.flow.id


def _fix(w: World, flow_id: str, at: datetime, day: date | None = None) -> date | None:
    with w.uow() as u:
        return steps.fix_date(
            u, gate=GATE, actor=TSO03, flow_id=flow_id, day=day, request_id="date", at=at
        ).fixed_date


def test_the_proposed_date_over_the_year_end_follows_the_tsos_data(world: World) -> None:
    w = world
    _code(w, 24, jst(2024, 12, 1))
    flow_id = _matched(w, jst(2024, 12, 20, 9))
    # Matched Fri 20 Dec: the TSO must date it within 3 business days of its calendar: 23, 24,
    # 25 Dec → the end of 25 Dec.
    with w.uow() as u:
        view = read_flow(u.connection, actor=R_NEW, flow_id=flow_id)
    assert datetime.fromisoformat(view["deadline"]) == datetime(2024, 12, 26, tzinfo=JST)
    # Lead time: Mon 23 + 2 = Wed 25 Dec; code 24 (Tokyo's 17th code, 18th business day) is
    # read on 25 Dec.
    assert _fix(w, flow_id, jst(2024, 12, 20, 15)) == date(2024, 12, 25)


def test_a_code_the_tso_does_not_use_is_refused_by_name_and_nothing_changes(
    world: World,
) -> None:
    """At registration the TSO's point is refused a code its schedule lacks (on the ledger, as
    allowed-then-failed); the point keeps its code, and the switch is dated with it."""
    w = world
    with pytest.raises(ValidationError) as caught:
        _code(w, 27, jst(2024, 2, 1))  # Tokyo's codes end at 26
    assert caught.value.field == "meter_reading_day"
    assert 26 in caught.value.valid and 27 not in caught.value.valid
    flow_id = _matched(w, jst(2024, 3, 1))
    _code(w, 26, jst(2024, 3, 1, 16))
    # Code 26: the 20th reading day of March 2024, Fri 29 Mar.
    assert _fix(w, flow_id, jst(2024, 3, 1, 17)) == date(2024, 3, 29)


def test_a_wished_date_past_by_the_time_of_dating_is_no_longer_a_wish(world: World) -> None:
    w = world
    with w.uow() as u:
        filed = filing.file_switch(
            u,
            gate=GATE,
            actor=R_NEW,
            filing=switch_filing(wished_date=date(2024, 3, 4)),
            request_id="file",
            at=jst(2024, 3, 1),
        )
    with w.uow() as u:
        steps.judge_forwarding(
            u,
            gate=GATE,
            actor=R_OLD,
            forwarding_id=filed.forwarding_id or "",
            result="ok",
            reasons=[],
            request_id="judge",
            at=jst(2024, 3, 4, 9),
        )
    # Dated on Tue 5 Mar: the wish (4 Mar) has passed; Wed 6 + 2 = Fri 8 Mar, code 10 → 12 Mar.
    assert _fix(w, filed.flow.id, jst(2024, 3, 5)) == date(2024, 3, 12)
