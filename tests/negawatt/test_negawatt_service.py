"""Negawatt use cases through the gate, on SQLite and PostgreSQL: meter import (idempotent,
all-or-nothing), reads cut to the allowing relation, DR agreements opening and closing the
``dr_resource`` relation, events and settlement equal to the kernel on the same arrays."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jointuse.access.gate import PolicyDenied
from jointuse.assembly import default_gate
from jointuse.core.calendar import JST, baseline_day_types
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.ledger.service import find_entries
from jointuse.negawatt import service
from jointuse.negawatt.kernel import EventSpec, compute_baseline
from jointuse.negawatt.meterdata import MeterDataError, MeterDay
from jointuse.negawatt.settlement import settle
from jointuse.policy.engine import Party
from seeding import seed_contract

GATE = default_gate()

UowFactory = Callable[..., UnitOfWork]
DATA = Path(__file__).parent / "data"
P1 = "0312345678901234567890"
P2 = "0398765432109876543210"
TSO03 = Party("tso-03", "tso")
TSO06 = Party("tso-06", "tso")
RETAILER = Party("r-one", "retailer")
DR = Party("dr-one", "dr_contractor")
OTHER_DR = Party("dr-two", "dr_contractor")
AT = dt.datetime(2024, 7, 10, 12, tzinfo=JST)


def _customer(customer_id: str) -> Customer:
    return Customer.create(
        customer_id=customer_id,
        name="田中 三郎",
        name_kana="タナカ サブロウ",
        postal_code="150-0001",
        prefecture="東京都",
        address_rest="渋谷区神宮前1-1",
        phone="03-2222-3333",
        membership="non_member",
    )


@pytest.fixture
def seeded(uow: UowFactory) -> UowFactory:
    for n, point in enumerate((P1, P2), start=1):
        sp = SupplyPoint(
            supply_point_id=SupplyPointId(point),
            supply_area="03",
            service_menu="lv_metered_lighting_b",
            supply_method="single_phase_3_wire",
            capacity_determination_method="ampere_breaker",
            contract_state="active",
        )
        with uow() as u:
            customers.save_supply_point(
                u, gate=GATE, actor=TSO03, point=sp, request_id=f"sp{n}", at=AT
            )
        with uow() as u:
            seed_contract(
                u,
                _customer(f"c-{n}"),
                RetailContract(
                    f"K-{n}",
                    ContractKind.STANDARD,
                    "r-one",
                    f"c-{n}",
                    SupplyPointId(point),
                    dt.date(2024, 1, 1),
                ),
                at=dt.datetime(2024, 1, 1, tzinfo=JST),
            )
    return uow


def _read(uow: UowFactory, actor: Party, purpose: str, point: str = P1) -> list[MeterDay]:
    with uow() as u:
        return service.read_meter_days(
            u,
            actor=actor,
            purpose=purpose,
            supply_point_id=point,
            start=dt.date(2024, 6, 1),
            end=dt.date(2024, 8, 1),
            request_id="read",
            at=AT,
        )


def _import(
    uow: UowFactory, path: Path, *, actor: Party = TSO03, replace: bool = False
) -> service.ImportReport:
    with uow() as u:
        return service.import_meter_file(
            u, path, actor=actor, request_id="imp", at=AT, replace=replace
        )


def _agreement(uow: UowFactory, point: str = P1, customer: str = "c-1", **kw: object) -> str:
    with uow() as u:
        a = service.register_agreement(
            u,
            actor=DR,
            customer_id=customer,
            supply_point_id=point,
            agreed_on=kw.pop("agreed_on", dt.date(2024, 7, 2)),  # type: ignore[arg-type]
            request_id="agr",
            at=AT,
            **kw,  # type: ignore[arg-type]
        )
    return a.agreement_id


# --- import ---------------------------------------------------------------------------------


def test_import_is_idempotent_and_one_decision_per_point(seeded: UowFactory) -> None:
    first = _import(seeded, DATA / "long.csv")
    assert (first.points, first.inserted, first.unchanged) == (2, 4, 0)
    assert first.decisions == ["P4-tso", "P4-tso"]
    again = _import(seeded, DATA / "long.csv")
    assert (again.inserted, again.unchanged, again.completed, again.replaced) == (0, 4, 0, 0)
    days = _read(seeded, RETAILER, "P4_tso_operations")
    assert [d.date for d in days] == [dt.date(2024, 7, 1), dt.date(2024, 7, 2)]
    np.testing.assert_allclose(days[0].consumption, 0.2 + 0.01 * np.arange(1, 49))
    with seeded() as u:
        entries = [r.entry for r in find_entries(u.session, party="tso-03")]
    imports = [e for e in entries if e.action == "write" and "interval_readings" in e.items_granted]
    assert len(imports) == 4  # two files, one decision per supply point each
    assert {e.supply_point_id for e in imports} == {P1, P2}


def test_conflicting_data_is_refused_whole_and_replace_overwrites(
    seeded: UowFactory, tmp_path: Path
) -> None:
    _import(seeded, DATA / "long.csv")
    text = (DATA / "long.csv").read_text()
    # P2 comes second in the file: the refusal must also undo P1's new day.
    changed = text.replace(f"{P2},2024-07-02,5,0.750", f"{P2},2024-07-02,5,9.999")
    changed += f"{P1},2024-07-05,1,1.000,\n"
    bad = tmp_path / "changed.csv"
    bad.write_text(changed)
    with pytest.raises(service.MeterConflict, match="values differ"):
        _import(seeded, bad)
    assert [d.date.day for d in _read(seeded, RETAILER, "P4_tso_operations")] == [1, 2]
    report = _import(seeded, bad, replace=True)
    assert (report.replaced, report.inserted, report.unchanged) == (1, 1, 3)
    p2 = _read(seeded, RETAILER, "P4_tso_operations", P2)
    assert p2[1].consumption[4] == 9.999


def test_new_data_filling_gaps_completes_a_day(seeded: UowFactory, tmp_path: Path) -> None:
    head = "supply_point_id,date,slot,consumption_kwh\n"
    part = tmp_path / "part.csv"
    part.write_text(head + f"{P1},2024-07-03,1,0.5\n")
    full = tmp_path / "full.csv"
    full.write_text(head + f"{P1},2024-07-03,1,0.5\n{P1},2024-07-03,2,0.6\n")
    assert _import(seeded, part).inserted == 1
    assert _import(seeded, full).completed == 1
    (day,) = _read(seeded, RETAILER, "P4_tso_operations")
    assert day.consumption[:2].tolist() == [0.5, 0.6]


def test_wrong_area_tso_and_bad_files_write_nothing(seeded: UowFactory, tmp_path: Path) -> None:
    with pytest.raises(PolicyDenied):
        _import(seeded, DATA / "long.csv", actor=TSO06)
    bad = tmp_path / "bad.csv"
    bad.write_text((DATA / "long.csv").read_text() + f"{P1},2024-07-09,49,1,\n")
    with pytest.raises(MeterDataError) as info:
        _import(seeded, bad)
    assert info.value.line == 194 and "slot" in info.value.reason
    assert _read(seeded, RETAILER, "P4_tso_operations") == []


def test_area_tso_reads_meter_data(seeded: UowFactory) -> None:
    _import(seeded, DATA / "long.csv")
    assert len(_read(seeded, TSO03, "P4_tso_operations")) == 2


# --- DR agreements and the dr_resource relation -------------------------------------------


def test_dr_contractor_reads_only_within_its_agreement_until_withdrawal(seeded: UowFactory) -> None:
    _import(seeded, DATA / "long.csv")
    with pytest.raises(PolicyDenied) as denied:
        _read(seeded, DR, "P5_negawatt")
    assert denied.value.details["reason"] == "relation_missing"
    agreement = _agreement(seeded)
    days = _read(seeded, DR, "P5_negawatt")
    assert [d.date for d in days] == [dt.date(2024, 7, 2)]  # the agreement starts on 2 July
    with pytest.raises(PolicyDenied):
        _read(seeded, OTHER_DR, "P5_negawatt")  # another contractor: no relation
    with pytest.raises(PolicyDenied):
        _read(seeded, DR, "P5_negawatt", P2)  # another point of the same contractor
    with seeded() as u:
        gone = service.withdraw_agreement(
            u, actor=DR, agreement_id=agreement, request_id="wd", at=AT - dt.timedelta(hours=1)
        )
    assert gone.withdrawn_at == AT - dt.timedelta(hours=1)
    with pytest.raises(PolicyDenied):
        _read(seeded, DR, "P5_negawatt")


def test_agreement_needs_the_customers_point(seeded: UowFactory) -> None:
    from jointuse.core.errors import ValidationError

    with pytest.raises(ValidationError, match="no retail contract"):
        _agreement(seeded, P1, "c-2")
    with pytest.raises(ValidationError, match="expires_on"):
        _agreement(seeded, expires_on=dt.date(2024, 7, 1))


# --- events and settlement ----------------------------------------------------------------

FIRST = dt.date(2024, 6, 4)
EVENT_DAY = dt.date(2024, 7, 4)  # a Thursday; 30 days of lookback from 4 June


def _history() -> tuple[np.ndarray, list[MeterDay]]:
    rng = np.random.default_rng(7)
    loads = np.round(rng.gamma(2.0, 0.4, size=(2, 31, 48)), 3)  # meter data: Wh
    loads[1, 20, 3] = np.nan  # a missing slot on a candidate day
    rows = [
        MeterDay(SupplyPointId(p), FIRST + dt.timedelta(days=d), loads[i, d])
        for i, p in enumerate((P1, P2))
        for d in range(31)
    ]
    return loads, rows


def test_settle_event_equals_the_kernel_and_exports_csv(seeded: UowFactory) -> None:
    loads, rows = _history()
    with seeded() as u:
        service.import_meter_days(u, rows, actor=TSO03, file="gen", request_id="g", at=AT)
    a1 = _agreement(seeded, P1, "c-1", agreed_on=dt.date(2024, 5, 1))
    a2 = _agreement(seeded, P2, "c-2", agreed_on=dt.date(2024, 5, 1))
    with seeded() as u:
        service.register_group(u, actor=DR, code="BG-A", name="Group A")
        service.register_resource(
            u, actor=DR, agreement_id=a1, group_code="BG-A", request_id="r", at=AT
        )
        service.register_resource(
            u, actor=DR, agreement_id=a2, group_code="BG-A", request_id="r", at=AT
        )
        earlier = service.create_event(
            u,
            actor=DR,
            day=dt.date(2024, 6, 27),
            first_slot=27,
            last_slot=34,
            resources=[P1],
            at=AT,
        )
        event = service.create_event(
            u, actor=DR, day=EVENT_DAY, first_slot=27, last_slot=34, resources=[P1, P2], at=AT
        )
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id=event.event_id, request_id="s", at=AT)
    assert earlier.day == dt.date(2024, 6, 27)
    day_types = baseline_day_types(FIRST + dt.timedelta(days=i) for i in range(31))
    mask = np.zeros((2, 31), dtype=bool)
    mask[0, 23] = True  # 27 June for P1 only
    spec = EventSpec(day=30, start_slot=26, end_slot=34)
    base = compute_baseline(loads, day_types, mask, spec)
    want = settle(base, loads[:, 30], spec)
    assert result.run.resource_ids == [P1, P2]
    np.testing.assert_array_equal(result.run.baseline.baseline, base.baseline)
    np.testing.assert_array_equal(result.run.baseline.used_days, base.used_days)
    np.testing.assert_array_equal(result.run.settlement.event_total, want.event_total)
    assert result.denied == [] and result.groups == ["BG-A"]
    rows_out = list(csv.DictReader(io.StringIO(service.results_csv(result))))
    assert [r["supply_point_id"] for r in rows_out] == [P1, P2, "*"]
    assert float(rows_out[0]["suppressed_kwh"]) == pytest.approx(want.event_total[0])
    assert float(rows_out[2]["suppressed_kwh"]) == pytest.approx(want.event_total.sum())
    plan = list(csv.DictReader(io.StringIO(service.plan_csv(result))))
    assert len(plan) == 3 * 8  # two points and the group, 8 slots
    assert float(plan[0]["baseline_kwh"]) == pytest.approx(base.baseline[0, 26], abs=5e-4)


def test_settlement_after_withdrawal_lists_the_resource_as_denied(seeded: UowFactory) -> None:
    _, rows = _history()
    with seeded() as u:
        service.import_meter_days(u, rows, actor=TSO03, file="gen", request_id="g", at=AT)
    a1 = _agreement(seeded, P1, "c-1", agreed_on=dt.date(2024, 5, 1))
    a2 = _agreement(seeded, P2, "c-2", agreed_on=dt.date(2024, 5, 1))
    with seeded() as u:
        service.register_group(u, actor=DR, code="BG-A", name="Group A")
        for a in (a1, a2):
            service.register_resource(
                u, actor=DR, agreement_id=a, group_code="BG-A", request_id="r", at=AT
            )
        event = service.create_event(
            u, actor=DR, day=EVENT_DAY, first_slot=27, last_slot=34, resources=[P1, P2], at=AT
        )
    with seeded() as u:
        service.withdraw_agreement(u, actor=DR, agreement_id=a2, request_id="w", at=AT)
    with seeded() as u:
        result = service.settle_event(
            u, actor=DR, event_id=event.event_id, request_id="s", at=AT + dt.timedelta(hours=1)
        )
    assert result.denied == [P2]
    assert result.run.baseline.status[1] != 0 and result.run.settlement.event_total[1] == 0
    assert result.run.baseline.status[0] == 0
    statuses = [r["status"] for r in csv.DictReader(io.StringIO(service.results_csv(result)))]
    assert statuses[:2] == ["ok", "access_denied"]


def test_a_day_cut_by_withdrawal_shows_only_the_slots_before_it(seeded: UowFactory) -> None:
    _import(seeded, DATA / "long.csv")
    agreement = _agreement(seeded)  # from 2 July
    noon = dt.datetime(2024, 7, 2, 12, tzinfo=JST)
    with seeded() as u:
        service.withdraw_agreement(u, actor=DR, agreement_id=agreement, request_id="w", at=noon)
    with seeded() as u:
        (day,) = service.read_meter_days(
            u,
            actor=DR,
            purpose="P5_negawatt",
            supply_point_id=P1,
            start=dt.date(2024, 7, 1),
            end=dt.date(2024, 7, 3),
            request_id="r",
            at=noon - dt.timedelta(hours=6),
        )
    assert day.date == dt.date(2024, 7, 2)
    assert np.isfinite(day.consumption[:24]).all()  # slots 1-24: 00:00-12:00
    assert np.isnan(day.consumption[24:]).all()
    assert day.generation is not None and np.isnan(day.generation[24:]).all()
