"""Work orders open a customer's contact data to the TSO (P4) — only for the points in their
scope, during their window, and never another occupant's; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, event

from flows_world import GATE, R_OLD, TSO03, TSO06, A, B, UowFactory, World, build, jst, person
from jointuse.access.gate import PolicyDenied
from jointuse.core.errors import AccessDenied, NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, RetailContract
from jointuse.workorders import service as orders
from seeding import seed_contract

START = jst(2024, 5, 1, 9)


@pytest.fixture
def world(engine: Engine, uow: UowFactory) -> World:
    return build(engine, uow)


def _lookup(w: World, at: object, request_id: str = "p4", point: str = A) -> object:
    with w.uow() as u:
        return customers.tso_customer_lookup(
            u, gate=GATE, actor=TSO03, supply_point_id=point, request_id=request_id, at=at
        )


def _open(w: World, points: list[str], **kw: object) -> orders.Order:
    with w.uow() as u:
        return orders.open_order(
            u,
            actor=kw.pop("actor", TSO03),  # type: ignore[arg-type]
            kind=str(kw.pop("kind", "meter_reading")),
            reason="monthly round",
            starts_at=kw.pop("starts_at", START),  # type: ignore[arg-type]
            ends_at=kw.pop("ends_at", START + timedelta(days=3)),  # type: ignore[arg-type]
            points=points,
            feeder=kw.pop("feeder", None),  # type: ignore[arg-type]
            request_id=str(kw.pop("request_id", "open")),
            at=START,
        )


def test_an_order_opens_contacts_in_its_window_and_closing_ends_it(world: World) -> None:
    w = world
    with pytest.raises(PolicyDenied) as before:
        _lookup(w, START + timedelta(hours=1), "before")
    assert before.value.details["reason"] == "relation_missing"
    assert [e.entry.decision for e in w.entries("before")] == ["denied"]
    order = _open(w, [A])
    assert order.points == 1
    (opened,) = w.entries("open")
    assert opened.entry.rule_id == f"work_order:open:{order.id}"
    got = _lookup(w, START + timedelta(hours=1), "during")
    assert got.decision.relation == "work_order"  # type: ignore[attr-defined]
    with pytest.raises(PolicyDenied):  # B is not in the scope
        _lookup(w, START + timedelta(hours=1), "b", point=B)
    with pytest.raises(PolicyDenied):  # after the window
        _lookup(w, START + timedelta(days=3, seconds=1), "after")
    with w.uow() as u:
        orders.close(
            u, actor=TSO03, order_id=order.id, request_id="close", at=START + timedelta(hours=2)
        )
    with pytest.raises(PolicyDenied):  # closed
        _lookup(w, START + timedelta(hours=3), "closed")
    with pytest.raises(ValidationError), w.uow() as u:  # closing twice: it is closed
        orders.close(
            u, actor=TSO03, order_id=order.id, request_id="close-2", at=START + timedelta(hours=4)
        )
    assert [e.entry.decision for e in w.entries("close-2")] == ["denied"]


def test_refusals_of_an_order_are_on_the_ledger(world: World) -> None:
    w = world
    k_point = "06" + "3" * 20
    cases = [
        ({"actor": R_OLD}, AccessDenied, "not_a_tso"),
        ({"actor": TSO06}, ValidationError, "points_outside_area"),
        ({"ends_at": START + timedelta(days=200)}, ValidationError, "invalid_input"),
        ({"kind": "picnic"}, ValidationError, "invalid_input"),
    ]
    for n, (kw, error, reason) in enumerate(cases):
        with pytest.raises(error):
            _open(w, [A], request_id=f"bad-{n}", **kw)
        (entry,) = w.entries(f"bad-{n}")
        assert (entry.entry.decision, entry.entry.items_refused[0].reason) == ("denied", reason)
    with pytest.raises(ValidationError) as unknown:
        _open(w, ["03" + "7" * 20], request_id="unknown")
    assert "not registered" in unknown.value.message
    with pytest.raises(ValidationError):
        _open(w, [k_point], request_id="other-area")


def test_an_order_never_opens_another_occupants_data(world: World) -> None:
    """A former customer of A, named by their customer ID: the order on A covers A now, not
    the person who lived there before."""
    w = world
    with w.uow() as u:
        seed_contract(
            u,
            person("c-before"),
            RetailContract(
                "PRE-1",
                ContractKind.STANDARD,
                "r-old",
                "c-before",
                SupplyPointId(B),
                date(2020, 1, 1),
                date(2023, 1, 1),
            ),
            at=jst(2020, 1, 1),
        )
    _open(w, [B])
    with pytest.raises(PolicyDenied), w.uow() as u:
        customers.read_basic(
            u,
            gate=GATE,
            actor=TSO03,
            purpose="P4_tso_operations",
            request_id="old",
            at=START + timedelta(hours=1),
            customer_id="c-before",
            items=frozenset({"name"}),
        )


def test_an_outage_of_10000_points_opens_in_one_call_and_one_transaction(
    world: World, engine: Engine
) -> None:
    from jointuse.customers.model import SupplyPoint

    w = world
    points = [f"03{n:020d}" for n in range(10_000)]
    built = [
        SupplyPoint(
            supply_point_id=SupplyPointId(p),
            supply_area="03",
            service_menu="lv_metered_lighting_b",
            supply_method="single_phase_3_wire",
            capacity_determination_method="ampere_breaker",
            contract_state="active",
        )
        for p in points
    ]
    customers.bulk_load(engine, [], [], built)
    for lo in range(0, len(points), orders.MAX_POINTS_PER_CALL):
        with w.uow() as u:
            orders.set_feeder(
                u,
                actor=TSO03,
                feeder="F-0042",
                request_id="topology",
                points=points[lo : lo + orders.MAX_POINTS_PER_CALL],
            )
    begins: list[object] = []

    def on_begin(conn: object) -> None:
        begins.append(conn)

    event.listen(engine, "begin", on_begin)
    try:
        order = _open(w, [], feeder="F-0042", kind="outage", request_id="outage")
    finally:
        event.remove(engine, "begin", on_begin)
    assert order.points == 10_000 and len(begins) == 1
    # The order holds the point: the policy allows (no customer at this bare point: a 404,
    # not the 403 of a refusal).
    with pytest.raises(NotFound):
        _lookup(w, START + timedelta(hours=1), "outage-read", point=points[1234])
    with w.uow() as u:
        widened = orders.widen(
            u,
            actor=TSO03,
            order_id=order.id,
            points=[A],
            request_id="widen",
            at=START + timedelta(hours=2),
        )
    assert widened.points == 10_001
    assert w.entries("widen")[0].entry.rule_id == f"work_order:widen:{order.id}"
