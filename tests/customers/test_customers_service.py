"""Use cases of the customer registry through the gate, on SQLite and PostgreSQL.

The world of every test: Tokyo's TSO (tso-03) has registered points A and B (area 03), Kansai's
TSO (tso-06) point K (area 06). ``r-old`` supplies customer c-old at A from 2024-01-01 (imported at
go-live); customer c-new asked ``r-new`` to switch, and ``r-new`` filed the switch of A with its
廃止取次 on 2024-03-01. :func:`complete_switch` lets ``r-old`` answer OK, the TSO date it
2024-04-01 and the scheduler complete it: ``r-new`` supplies A from 2024-04-01.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from jointuse.access.gate import PolicyDenied
from jointuse.assembly import default_gate
from jointuse.core.conflicts import Conflict
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied, NotFound
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service
from jointuse.customers.model import (
    BASIC_ITEM_KEYS,
    JST,
    SUPPLY_POINT_ITEM_KEYS,
    ContractCapacity,
    ContractKind,
    Customer,
    MeterInfo,
    RetailContract,
    SupplyPoint,
)
from jointuse.customers.tables import customer as customer_table
from jointuse.customers.tables import retail_contract, supply_point
from jointuse.flows.filing import SwitchFiling, file_move_out, file_switch
from jointuse.flows.scheduler import tick
from jointuse.flows.steps import fix_date, judge_forwarding
from jointuse.ledger.service import LedgerRecord, find_entries
from jointuse.policy.engine import Party, PartyStatus
from seeding import open_work_order, seed_contract

GATE = default_gate()

UowFactory = Callable[..., UnitOfWork]

A = "03" + "1" * 20
B = "03" + "2" * 20
K = "06" + "3" * 20
TSO03 = Party("tso-03", "tso")
TSO06 = Party("tso-06", "tso")
R_OLD = Party("r-old", "retailer")
R_NEW = Party("r-new", "retailer")
R_OTHER = Party("r-other", "retailer")
OCCTO = Party("occto", "occto")


def jst(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=JST)


def make_customer(customer_id: str, name: str, phone: str) -> Customer:
    return Customer.create(
        customer_id=customer_id,
        name=name,
        name_kana="ヤマダ タロウ",
        postal_code="100-0001",
        prefecture="東京都",
        address_rest="千代田区千代田1-1",
        phone=phone,
        membership="member",
    )


def make_point(point_id: str, **overrides: object) -> SupplyPoint:
    spid = SupplyPointId(point_id)
    fields: dict[str, object] = {
        "supply_point_id": spid,
        "supply_area": spid.area_code,
        "service_menu": "lv_metered_lighting_b",
        "supply_method": "single_phase_3_wire",
        "capacity_determination_method": "ampere_breaker",
        "contract_state": "active",
        "contract_capacity": ContractCapacity(Decimal("30"), "A"),
        "current_limit": 30,
        "meter_info": MeterInfo("M-0001", True, 1),
        "meter_reading_day": 12,
        "wheeling_change_date": date(2023, 6, 1),
    }
    fields.update(overrides)
    return SupplyPoint(**fields)  # type: ignore[arg-type]


def contract(
    retailer: str, number: str, customer_id: str, point: str, start: date, end: date | None
) -> RetailContract:
    return RetailContract(
        number, ContractKind.STANDARD, retailer, customer_id, SupplyPointId(point), start, end
    )


@dataclass
class World:
    engine: Engine
    uow: UowFactory
    c_old: Customer
    c_new: Customer
    flow_id: str
    forwarding_id: str

    def entries(self, request_id: str) -> list[LedgerRecord]:
        with self.uow() as u:
            return [r for r in find_entries(u.session) if r.entry.request_id == request_id]


@pytest.fixture
def world(engine: Engine, uow: UowFactory) -> World:
    c_old = make_customer("c-old", "山田 太郎", "03-1111-2222")
    c_new = make_customer("c-new", "佐藤 花子", "03-3333-4444")
    t0 = jst(2023, 12, 1)
    with uow() as u:
        for n, point in enumerate((A, B)):
            service.save_supply_point(
                u, gate=GATE, actor=TSO03, point=make_point(point), request_id=f"sp-{n}", at=t0
            )
        service.save_supply_point(
            u, gate=GATE, actor=TSO06, point=make_point(K), request_id="sp-k", at=t0
        )
    with uow() as u:
        seed_contract(
            u, c_old, contract("r-old", "OLD-1", "c-old", A, date(2024, 1, 1), None), at=t0
        )
    with uow() as u:
        filed = file_switch(
            u,
            gate=GATE,
            actor=R_NEW,
            filing=SwitchFiling(
                supply_point_id=A,
                customer=c_new,
                new_contract_number="NEW-1",
                old_contract_number="OLD-1",
            ),
            request_id="switch-new",
            at=jst(2024, 3, 1),
        )
    # A maintenance round of tso-03 holding A from mid-January: it opens A's contacts (P4).
    open_work_order(uow, "tso-03", [A], starts=jst(2024, 1, 15), days=90, kind="maintenance")
    return World(engine, uow, c_old, c_new, filed.flow.id, filed.forwarding_id or "")


def complete_switch(w: World) -> None:
    """r-old answers OK, tso-03 dates the switch 2024-04-01, the scheduler completes it."""
    with w.uow() as u:
        judge_forwarding(
            u,
            gate=GATE,
            actor=R_OLD,
            forwarding_id=w.forwarding_id,
            result="ok",
            reasons=[],
            request_id="judge",
            at=jst(2024, 3, 2),
        )
    with w.uow() as u:
        fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=w.flow_id,
            day=date(2024, 4, 1),
            request_id="date",
            at=jst(2024, 3, 5),
        )
    report = tick(w.engine, gate=GATE, at=jst(2024, 4, 1, 0, 30))
    assert report.completed == 1, report


def test_p3_applicant_gets_only_supply_point_items(world: World) -> None:
    with world.uow() as u:
        result = service.supply_point_inquiry(
            u, gate=GATE, actor=R_NEW, supply_point_id=A, request_id="p3-ok", at=jst(2024, 3, 10)
        )
    assert result.decision.allowed and result.decision.rule_id == "P3-retailer"
    assert result.decision.relation == "applicant"
    assert set(result.data) == set(SUPPLY_POINT_ITEM_KEYS)
    assert not set(result.data) & set(BASIC_ITEM_KEYS)
    assert result.data["supply_point_id"] == A
    assert result.data["contract_capacity"] == {"value": "30", "unit": "A"}
    assert result.data["meter_info"] == {
        "meter_number": "M-0001",
        "smart_meter": True,
        "multiplier": 1,
    }
    (record,) = world.entries("p3-ok")
    assert record.entry.decision == "allowed" and record.entry.party == "r-new"
    assert record.entry.purpose == service.P3 and record.entry.rule_id == "P3-retailer"
    assert set(record.entry.items_granted) == set(SUPPLY_POINT_ITEM_KEYS)


def test_p3_denied_for_another_retailer_and_on_the_ledger(world: World) -> None:
    with pytest.raises(AccessDenied) as caught, world.uow() as u:
        service.supply_point_inquiry(
            u, gate=GATE, actor=R_OTHER, supply_point_id=A, request_id="p3-no", at=jst(2024, 3, 10)
        )
    err = caught.value
    assert isinstance(err, PolicyDenied) and err.status == 403
    assert err.details["rule_id"] == "P3-retailer"
    assert err.details["reason"] == "relation_missing"
    (record,) = world.entries("p3-no")
    assert record.entry.decision == "denied" and record.entry.party == "r-other"
    assert record.entry.supply_point_id == A
    assert [(r.item, r.reason) for r in record.entry.items_refused] == [("*", "relation_missing")]


def test_refused_item_is_403_with_rule_and_reason_on_the_ledger(world: World) -> None:
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.supply_point_inquiry(
            u,
            gate=GATE,
            actor=R_NEW,
            supply_point_id=A,
            request_id="p3-name",
            at=jst(2024, 3, 10),
            items=frozenset({"supply_point_id", "name"}),
        )
    assert caught.value.details["reason"] == "items_refused"
    assert caught.value.details["rule_id"] == "P3-retailer"
    assert [r["item"] for r in caught.value.details["refused"]] == ["name"]
    (record,) = world.entries("p3-name")
    assert record.entry.decision == "denied" and record.entry.items_granted == ()
    assert [(r.item, r.reason) for r in record.entry.items_refused] == [
        ("name", "item_not_permitted")
    ]


def test_missing_purpose_lists_valid_purposes_and_is_recorded(world: World) -> None:
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.read_basic(
            u,
            gate=GATE,
            actor=R_OLD,
            purpose=None,
            request_id="nop",
            at=jst(2024, 2, 1),
            customer_id="c-old",
        )
    assert caught.value.details["reason"] == "purpose_missing"
    assert "P1_wheeling" in caught.value.details["valid_purposes"]
    (record,) = world.entries("nop")
    assert record.entry.purpose == "(none)" and record.entry.decision == "denied"


def test_p4_area_tso_reads_name_address_phone_other_area_denied(world: World) -> None:
    with world.uow() as u:
        result = service.tso_customer_lookup(
            u, gate=GATE, actor=TSO03, supply_point_id=A, request_id="p4-ok", at=jst(2024, 2, 1)
        )
    assert result.decision.rule_id == "P4-tso-field-work"
    assert set(result.data) == {"name", "address", "phone"}
    assert result.data["name"] == {"kanji": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ"}
    assert result.data["phone"] == "0311112222"
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.tso_customer_lookup(
            u, gate=GATE, actor=TSO06, supply_point_id=A, request_id="p4-no", at=jst(2024, 2, 1)
        )
    assert caught.value.details["reason"] == "relation_missing"
    assert [r.entry.decision for r in world.entries("p4-no")] == ["denied"]
    assert [r.entry.decision for r in world.entries("p4-ok")] == ["allowed"]


def test_time_slicing_across_a_contract_end(world: World) -> None:
    complete_switch(world)
    with world.uow() as u:
        before = service.read_basic(
            u,
            gate=GATE,
            actor=R_OLD,
            purpose=service.P1,
            request_id="slice-1",
            at=jst(2024, 3, 31, 23, 59),
            supply_point_id=A,
        )
    assert before.decision.relation == "contract_holder"
    assert before.data["contract_number"] == "OLD-1"
    assert before.decision.valid_to == datetime(2024, 4, 1, tzinfo=JST)
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.read_basic(
            u,
            gate=GATE,
            actor=R_OLD,
            purpose=service.P1,
            request_id="slice-2",
            at=jst(2024, 4, 1, 0, 0),
            supply_point_id=A,
        )
    assert caught.value.details["reason"] == "relation_missing"
    assert [r.entry.decision for r in world.entries("slice-2")] == ["denied"]
    # The TSO sees the customer of the contract in force: c-old in March, c-new in April.
    names = []
    for n, at in enumerate((jst(2024, 3, 31), jst(2024, 4, 2))):
        with world.uow() as u:
            got = service.tso_customer_lookup(
                u, gate=GATE, actor=TSO03, supply_point_id=A, request_id=f"tso-{n}", at=at
            )
        names.append(got.data["phone"])
    assert names == ["0311112222", "0333334444"]
    # The new retailer reads its own customer with its own contract number from April.
    with world.uow() as u:
        new = service.read_basic(
            u,
            gate=GATE,
            actor=R_NEW,
            purpose=service.P1,
            request_id="slice-3",
            at=jst(2024, 4, 5),
            supply_point_id=A,
        )
    assert new.data["contract_number"] == "NEW-1"


def test_applicant_reads_only_its_own_customer_not_the_old_contract(world: World) -> None:
    with world.uow() as u:
        got = service.read_basic(
            u,
            gate=GATE,
            actor=R_NEW,
            purpose=service.P1,
            request_id="app-basic",
            at=jst(2024, 3, 10),
            supply_point_id=A,
            customer_id="c-new",
            items=frozenset(BASIC_ITEM_KEYS),
        )
    assert got.decision.relation == "applicant"
    assert got.data["phone"] == "0333334444"  # c-new, the applicant's own customer
    assert got.data["contract_number"] is None  # not OLD-1 of the retailer it replaces


def test_completion_ends_the_applicant_relation(world: World) -> None:
    """The switch completed on 2024-04-01: r-new is the contract holder from then on and no
    longer the applicant, so P3 (which only the applicant has) is closed again."""
    with world.uow() as u:
        service.supply_point_inquiry(
            u,
            gate=GATE,
            actor=R_NEW,
            supply_point_id=A,
            request_id="p3-before",
            at=jst(2024, 3, 25),
        )
    complete_switch(world)
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.supply_point_inquiry(
            u, gate=GATE, actor=R_NEW, supply_point_id=A, request_id="p3-after", at=jst(2024, 4, 2)
        )
    assert caught.value.details["reason"] == "relation_missing"
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(
                retail_contract.c.retailer_code,
                retail_contract.c.valid_from,
                retail_contract.c.valid_to,
            ).order_by(retail_contract.c.valid_from)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("r-old", date(2024, 1, 1), date(2024, 4, 1)),
        ("r-new", date(2024, 4, 1), None),
    ]


def test_suspended_party_denied_and_on_the_ledger(world: World) -> None:
    suspended = Party("r-new", "retailer", PartyStatus.SUSPENDED)
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.supply_point_inquiry(
            u, gate=GATE, actor=suspended, supply_point_id=A, request_id="susp", at=jst(2024, 3, 10)
        )
    assert caught.value.details["reason"] == "party_suspended"
    (record,) = world.entries("susp")
    assert record.entry.decision == "denied"
    assert record.entry.items_refused[0].reason == "party_suspended"


def test_a_second_switch_in_flight_fails_on_its_rule_and_is_on_the_ledger(world: World) -> None:
    """The policy allows r-other's filing (it becomes an applicant by filing), the database's
    rule refuses the second switch in flight for A: a 409 naming the rule, the write on the
    ledger as allowed-then-failed, nothing else changed, nothing of r-new's revealed."""
    intruder = make_customer("c-x", "鈴木 一郎", "03-5555-6666")
    with world.engine.connect() as conn:
        customers_before = conn.execute(select(func.count()).select_from(customer_table)).scalar()
    with pytest.raises(Conflict) as caught, world.uow() as u:
        file_switch(
            u,
            gate=GATE,
            actor=R_OTHER,
            filing=SwitchFiling(
                supply_point_id=A,
                customer=intruder,
                new_contract_number="X-1",
                old_contract_number="OLD-1",
            ),
            request_id="second",
            at=jst(2024, 3, 3),
        )
    assert caught.value.status == 409
    assert caught.value.rule == "uq_market_flow_one_in_flight"
    assert "r-new" not in caught.value.message and "NEW-1" not in caught.value.message
    (record,) = world.entries("second")
    assert record.entry.decision == "allowed" and record.entry.rule_id == "P1-retailer"
    assert [(r.item, r.reason) for r in record.entry.items_refused] == [
        ("*", "failed:conflict:uq_market_flow_one_in_flight")
    ]
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customer_table)).scalar() == (
            customers_before
        )


def test_a_retailer_cannot_end_a_contract_it_does_not_hold(world: World) -> None:
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        file_move_out(
            u,
            gate=GATE,
            actor=R_OTHER,
            supply_point_id=A,
            wished_date=date(2024, 5, 1),
            meter_removal=False,
            request_id="foreign",
            at=jst(2024, 3, 1),
        )
    assert caught.value.details["reason"] == "relation_missing"
    assert [(r.entry.action, r.entry.decision) for r in world.entries("foreign")] == [
        ("write", "denied")
    ]


def test_tso_writes_only_points_of_its_area(world: World) -> None:
    with pytest.raises(PolicyDenied), world.uow() as u:
        service.save_supply_point(
            u,
            gate=GATE,
            actor=TSO06,
            point=make_point(B),
            request_id="sp-foreign",
            at=jst(2024, 1, 1),
        )
    with world.uow() as u:
        result = service.save_supply_point(
            u,
            gate=GATE,
            actor=TSO03,
            point=make_point(B, contract_state="suspended", current_limit=40),
            request_id="sp-update",
            at=jst(2024, 1, 1),
        )
    assert result.data == {"created": False}
    with world.engine.connect() as conn:
        stored = conn.execute(
            select(supply_point.c.current_limit, supply_point.c.contract_state).where(
                supply_point.c.id == B
            )
        ).one()
    assert tuple(stored) == (40, "suspended")


def test_unknown_supply_point_is_not_found_and_leaves_no_entry(world: World) -> None:
    missing = "03" + "9" * 20
    # No work order can hold an unregistered point: as the area's TSO alone, tso-03 may not read
    # contact items — they need a work order (refused, recorded; nothing says whether the point
    # exists).
    with pytest.raises(PolicyDenied) as unknown, world.uow() as u:
        service.tso_customer_lookup(
            u, gate=GATE, actor=TSO03, supply_point_id=missing, request_id="nf", at=jst(2024, 2, 2)
        )
    assert unknown.value.details["reason"] == "relation_missing"
    assert "needs relation work_order" in unknown.value.details["refused"][0]["message"]
    assert [r.entry.decision for r in world.entries("nf")] == ["denied"]
    # A registered point whose order holds it, but no contract in force: 404, nothing recorded.
    with world.uow() as u:
        seed_contract(
            u,
            make_customer("c-gone", "去 太郎", "03-1111-0000"),
            contract("r-old", "GONE-1", "c-gone", B, date(2023, 1, 1), date(2023, 6, 1)),
            at=jst(2023, 1, 1),
        )
    open_work_order(world.uow, "tso-03", [B], starts=jst(2024, 2, 1))
    with pytest.raises(NotFound), world.uow() as u:
        service.tso_customer_lookup(
            u, gate=GATE, actor=TSO03, supply_point_id=B, request_id="nf-b", at=jst(2024, 2, 2)
        )
    assert world.entries("nf-b") == []
    # OCCTO relays no flow of the point: it has no relation to it at all (no standing one).
    with pytest.raises(PolicyDenied) as caught, world.uow() as u:
        service.supply_point_inquiry(
            u, gate=GATE, actor=OCCTO, supply_point_id=B, request_id="occ", at=jst(2024, 1, 2)
        )
    assert caught.value.details["reason"] == "relation_missing"


def test_bulk_load_writes_one_ledger_entry(engine: Engine, uow: UowFactory) -> None:
    customers = [make_customer(f"b-{n}", f"顧客 {n}", f"03-1000-{n:04d}") for n in range(7)]
    points = [make_point("03" + f"{n:020d}") for n in range(7)]
    contracts = [
        contract("r-bulk", f"B-{n}", f"b-{n}", p.supply_point_id.value, date(2024, 1, 1), None)
        for n, p in enumerate(points)
    ]
    with uow() as u:
        entries_before = len(find_entries(u.session))
    result = service.bulk_load(
        engine, customers, contracts, points, request_id="bulk", chunk_size=3
    )
    assert (result.customers, result.contracts, result.supply_points) == (7, 7, 7)
    with uow() as u:
        records = [r for r in find_entries(u.session) if r.entry.request_id == "bulk"]
        assert len(records) == 1 and records[0].seq == result.ledger_seq
        assert records[0].entry.purpose == "admin:bulk_load"
        assert len(find_entries(u.session)) == entries_before + 1
        got = service.read_basic(
            u,
            gate=GATE,
            actor=Party("r-bulk", "retailer"),
            purpose=service.P1,
            request_id="after-bulk",
            at=jst(2024, 5, 1),
            customer_id="b-3",
        )
    assert got.data["contract_number"] == "B-3" and got.data["phone"] == "0310000003"
    assert set(got.data) == set(SUPPLY_POINT_ITEM_KEYS) | set(BASIC_ITEM_KEYS)


def test_a_tso_reads_only_the_contract_of_its_area(world: World) -> None:
    """Issue 8: a TSO asking P1 for a customer's contract number got the contract of a point in
    another area. A customer with points in Kansai (older contract) and Tokyo: Tokyo's TSO sees
    the Tokyo contract, Kansai's the Kansai one."""
    two = make_customer("c-two", "二地 太郎", "03-1212-3434")
    with world.uow() as u:
        seed_contract(
            u, two, contract("r-old", "K-1", "c-two", K, date(2023, 1, 1), None), at=jst(2024, 1, 1)
        )
    with world.uow() as u:
        seed_contract(
            u, two, contract("r-old", "B-1", "c-two", B, date(2024, 1, 1), None), at=jst(2024, 1, 1)
        )
    for tso, expected in ((TSO03, "B-1"), (TSO06, "K-1")):
        with world.uow() as u:
            got = service.read_basic(
                u,
                gate=GATE,
                actor=tso,
                purpose=service.P1,
                request_id=f"two-{tso.code}",
                at=jst(2024, 2, 1),
                customer_id="c-two",
                items=frozenset({"contract_number"}),
            )
        assert got.data["contract_number"] == expected, tso
