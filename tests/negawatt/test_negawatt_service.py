"""Negawatt use cases through the gate, on SQLite and PostgreSQL: meter import (idempotent,
all-or-nothing), reads cut to the allowing relation, DR agreements opening and closing the
``dr_resource`` relation, events and settlement equal to the kernel on the same arrays."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from jointuse.access.gate import PolicyDenied
from jointuse.access.relations import TargetRef
from jointuse.assembly import default_gate
from jointuse.core.calendar import JST, baseline_day_types
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.demo.dr import propose_and_confirm
from jointuse.ledger.service import find_entries
from jointuse.negawatt import service
from jointuse.negawatt.kernel import BaselineParams, EventSpec, compute_baseline
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
OCCTO = Party("occto", "occto")
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


def _read(
    uow: UowFactory, actor: Party, purpose: str, point: str = P1, at: dt.datetime = AT
) -> list[MeterDay]:
    with uow() as u:
        return service.read_meter_days(
            u,
            actor=actor,
            purpose=purpose,
            supply_point_id=point,
            start=dt.date(2024, 6, 1),
            end=dt.date(2024, 8, 1),
            request_id="read",
            at=at,
        )


def _import(
    uow: UowFactory, path: Path, *, actor: Party = TSO03, replace: bool = False
) -> service.ImportReport:
    with uow() as u:
        return service.import_meter_file(
            u, path, actor=actor, request_id="imp", at=AT, replace=replace
        )


def _agreement(uow: UowFactory, point: str = P1, customer: str = "c-1", **kw: object) -> str:
    """Proposed by the contractor and confirmed by the customer (enrolled with the bill's
    details, the codes read from a local SMTP sink)."""
    a = propose_and_confirm(
        uow,
        contractor=DR,
        customer_id=customer,
        supply_point_id=point,
        contract_number=f"K-{customer.removeprefix('c-')}",
        postal_code="150-0001",
        agreed_on=kw.pop("agreed_on", dt.date(2024, 7, 2)),  # type: ignore[arg-type]
        email=f"{customer}-{uuid.uuid4().hex[:8]}@customer.example",
        request_id="agr",
        at=AT,
        **kw,
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


def test_readings_of_an_unregistered_point_are_refused_with_file_line_and_point(
    seeded: UowFactory, tmp_path: Path
) -> None:
    unknown = "0311111111111111111111"
    bad = tmp_path / "delivery.csv"
    bad.write_text(
        (DATA / "long.csv").read_text() + f"{unknown},2024-07-03,1,0.500,\n", encoding="utf-8"
    )
    with pytest.raises(MeterDataError) as info:
        _import(seeded, bad)
    err = info.value
    assert (err.file, err.line) == (str(bad), 194)
    assert unknown in err.message and "not registered" in err.reason
    assert _read(seeded, RETAILER, "P4_tso_operations") == []  # nothing of the file written


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
    # After the withdrawal: the data dated within the agreement stays readable for settling
    # (P5) for the policy's after_end_days of dr_resource (60), and nothing else.
    days = _read(seeded, DR, "P5_negawatt")
    assert [d.date for d in days] == [dt.date(2024, 7, 2)]
    with pytest.raises(PolicyDenied) as denied:
        _read(seeded, DR, "P5_negawatt", at=AT + dt.timedelta(days=60))
    assert denied.value.details["reason"] == "relation_missing"


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


def _settled_setup(seeded: UowFactory) -> tuple[np.ndarray, str, str]:
    loads, rows = _history()
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
        service.create_event(
            u,
            actor=DR,
            day=dt.date(2024, 6, 27),
            first_slot=27,
            last_slot=34,
            resources=[P1],
            at=AT,
            event_id="earlier",
        )
        event = service.create_event(
            u, actor=DR, day=EVENT_DAY, first_slot=27, last_slot=34, resources=[P1, P2], at=AT
        )
    return loads, event.event_id, a2


def test_settle_event_equals_the_kernel_is_stored_and_exports_csv(seeded: UowFactory) -> None:
    loads, event_id, _ = _settled_setup(seeded)
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id=event_id, request_id="s", at=AT)
    day_types = baseline_day_types(FIRST + dt.timedelta(days=i) for i in range(31))
    mask = np.zeros((2, 31), dtype=bool)
    mask[0, 23] = True  # 27 June for P1 only
    spec = EventSpec(day=30, start_slot=26, end_slot=34)
    base = compute_baseline(loads, day_types, mask, spec)
    want = settle(base, loads[:, 30], spec)
    assert result.run.resource_ids == [P1, P2]
    np.testing.assert_array_equal(result.run.baseline.baseline, base.baseline)
    np.testing.assert_array_equal(result.run.baseline.used_days, base.used_days)
    np.testing.assert_array_equal(result.run.settlement.settled, want.settled)
    assert result.denied == {} and result.groups == ["BG-A"]
    with seeded() as u:
        run, inputs, rows = service.read_run(
            u, actor=DR, run_id=result.run_id, request_id="rr", at=AT
        )
    # Inputs: every meter day read, as imported (31 days x 2 points), with a digest each.
    assert len(inputs) == 62 and all(len(i["digest"]) == 64 for i in inputs)
    settings = json.loads(run.params)
    assert settings["method"].startswith("High 4 of 5 / High 2 of 3, additive fixed")
    assert settings["options"]["rounding"] == {
        "decimals": 2,
        "mode": "truncate",
        "non_positive_is_zero": True,
        "applies_per": "event_day",
    }
    assert settings["policy_version"]
    assert [r["supply_point_id"] for r in rows] == [P1, P2]
    kept = [c["date"] for c in rows[0]["candidate_days"] if c["fate"] == "kept"]
    assert len(kept) == 4
    assert {c["fate"] for c in rows[0]["candidate_days"]} >= {"kept", "dropped_lowest"}
    assert "2024-06-27" in [
        c["date"] for c in rows[0]["candidate_days"] if c["fate"] == "event_day"
    ]
    assert Decimal(rows[0]["settled_kwh"]) == Decimal(int(want.settled[0])).scaleb(-2)
    assert rows[0]["baseline_kwh"][26] == f"{base.baseline[0, 26]:.6f}"
    out = list(csv.DictReader(io.StringIO(service.results_csv(run, rows))))
    assert [(r["level"], r["supply_point_id"]) for r in out] == [
        ("day", P1),
        ("event", P1),
        ("day", P2),
        ("event", P2),
        ("balancing_group", "*"),
        ("contractor", "*"),
    ]
    total = Decimal(int(want.settled.sum())).scaleb(-2)
    assert Decimal(out[4]["suppressed_kwh"]) == total == Decimal(out[5]["suppressed_kwh"])
    slots = list(csv.DictReader(io.StringIO(service.slots_csv(run, rows))))
    assert len(slots) == 2 * 48
    plan = list(csv.DictReader(io.StringIO(service.plan_csv(run, rows))))
    assert len(plan) == 3 * 8  # two points and the group, 8 slots


def test_settling_again_with_the_same_inputs_gives_the_same_results(seeded: UowFactory) -> None:
    _, event_id, _ = _settled_setup(seeded)
    runs = []
    for n in range(2):
        with seeded() as u:
            runs.append(
                service.settle_event(u, actor=DR, event_id=event_id, request_id=f"s{n}", at=AT)
            )
    a, b = (r.stored for r in runs)
    assert a.run_id != b.run_id
    assert (a.inputs_digest, a.results_digest, a.summary) == (
        b.inputs_digest,
        b.results_digest,
        b.summary,
    )
    with seeded() as u:
        rows_a = service.read_run(u, actor=DR, run_id=a.run_id, request_id="x", at=AT)[2]
        rows_b = service.read_run(u, actor=DR, run_id=b.run_id, request_id="x", at=AT)[2]
    strip = [{k: v for k, v in r.items() if k != "run_id"} for r in rows_a]
    assert strip == [{k: v for k, v in r.items() if k != "run_id"} for r in rows_b]
    # Other options: another method, another result (and it says so).
    p = BaselineParams(adjustment="none")
    with seeded() as u:
        other = service.settle_event(
            u, actor=DR, event_id=event_id, request_id="s3", at=AT, params=p
        )
    assert other.stored.results_digest != a.results_digest
    assert "no same-day adjustment" in json.loads(other.stored.params)["method"]


def test_results_are_read_through_the_gate_by_the_parties_the_policy_allows(
    seeded: UowFactory,
) -> None:
    _, event_id, _ = _settled_setup(seeded)
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id=event_id, request_id="s", at=AT)
    for party in (DR, RETAILER, TSO03):
        with seeded() as u:
            rows = service.read_point_results(
                u, actor=party, supply_point_id=P1, request_id="rd", at=AT, run_id=result.run_id
            )
        assert len(rows) == 1 and rows[0]["settled_kwh"], party
    # OCCTO's switching_operator relation holds only while it relays a flow of the point.
    for party in (OTHER_DR, TSO06, OCCTO):
        with pytest.raises(PolicyDenied), seeded() as u:
            service.read_point_results(u, actor=party, supply_point_id=P1, request_id="x", at=AT)
    with pytest.raises(NotFound), seeded() as u:
        service.read_run(u, actor=OTHER_DR, run_id=result.run_id, request_id="x", at=AT)
    with seeded() as u:
        entries = [r.entry for r in find_entries(u.session, party="r-one")]
    assert any(e.rule_id == "P5-retailer" and e.decision == "allowed" for e in entries)


def test_events_are_amended_before_settlement_and_cancelled(seeded: UowFactory) -> None:
    _, event_id, _ = _settled_setup(seeded)
    with seeded() as u:
        amended = service.amend_event(u, actor=DR, event_id=event_id, first_slot=29)
    assert (amended.first_slot, amended.last_slot) == (29, 34)
    with seeded() as u:
        service.settle_event(u, actor=DR, event_id=event_id, request_id="s", at=AT)
    with pytest.raises(service.EventConflict, match="settled"), seeded() as u:
        service.amend_event(u, actor=DR, event_id=event_id, last_slot=40)
    with pytest.raises(service.EventConflict), seeded() as u:
        service.cancel_event(u, actor=DR, event_id=event_id, at=AT)
    with seeded() as u:
        gone = service.cancel_event(u, actor=DR, event_id="earlier", at=AT)
    assert gone.status == "cancelled"
    with pytest.raises(service.EventConflict, match="cancelled"), seeded() as u:
        service.settle_event(u, actor=DR, event_id="earlier", request_id="s", at=AT)


def test_a_missing_event_value_is_a_failure_with_its_reason(seeded: UowFactory) -> None:
    _loads, rows = _history()
    rows[-1] = MeterDay(rows[-1].supply_point_id, rows[-1].date, rows[-1].consumption.copy())
    rows[-1].consumption[30] = np.nan  # P2's event day, slot 31 (inside 27..34)
    with seeded() as u:
        service.import_meter_days(u, rows, actor=TSO03, file="gen", request_id="g", at=AT)
    a2 = _agreement(seeded, P2, "c-2", agreed_on=dt.date(2024, 5, 1))
    with seeded() as u:
        service.register_group(u, actor=DR, code="BG-A", name="Group A")
        service.register_resource(
            u, actor=DR, agreement_id=a2, group_code="BG-A", request_id="r", at=AT
        )
        event = service.create_event(
            u, actor=DR, day=EVENT_DAY, first_slot=27, last_slot=34, resources=[P2], at=AT
        )
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id=event.event_id, request_id="s", at=AT)
    with seeded() as u:
        run, _, out = service.read_run(u, actor=DR, run_id=result.run_id, request_id="r", at=AT)
    assert out[0]["status"] == "event_data_missing"
    assert "missing on the event day" in out[0]["reason"]
    assert json.loads(run.summary)["balancing_groups"]["BG-A"]["failed"] == 1
    csv_rows = list(csv.DictReader(io.StringIO(service.results_csv(run, out))))
    assert csv_rows[0]["status"] == "event_data_missing" and csv_rows[1]["status"] == "failed"


def test_a_two_day_event_settles_each_day_and_sums_them(seeded: UowFactory) -> None:
    """Rounding per event day, then the event is their sum; the first day is an event day for
    the second day's baseline."""
    _, _, _ = _settled_setup(seeded)
    with seeded() as u:
        event = service.create_event(
            u,
            actor=DR,
            day=dt.date(2024, 7, 3),
            last_day=EVENT_DAY,
            first_slot=27,
            last_slot=34,
            resources=[P1],
            at=AT,
            event_id="two-days",
        )
    assert event.days == [dt.date(2024, 7, 3), EVENT_DAY]
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id="two-days", request_id="s", at=AT)
    with seeded() as u:
        run, _, rows = service.read_run(u, actor=DR, run_id=result.run_id, request_id="r", at=AT)
    assert [r["date"] for r in rows] == ["2024-07-03", "2024-07-04"]
    fates = {c["date"]: c["fate"] for c in rows[1]["candidate_days"]}
    assert fates["2024-07-03"] == "event_day"
    days = [Decimal(r["settled_kwh"]) for r in rows]
    out = list(csv.DictReader(io.StringIO(service.results_csv(run, rows))))
    assert [r["level"] for r in out[:3]] == ["day", "day", "event"]
    assert Decimal(out[2]["suppressed_kwh"]) == sum(days)
    by_day = json.loads(run.summary)["contractor"]["by_day"]
    assert [Decimal(v) for v in by_day.values()] == days


def test_an_early_morning_event_takes_its_window_from_the_previous_day(
    seeded: UowFactory,
) -> None:
    """00:30-02:00 (slots 2-4): the additive window, the 3 h ending 1 h before the start, is
    20:30-23:30 of the previous day; the event is accepted and settles."""
    _settled_setup(seeded)
    with seeded() as u:
        service.create_event(
            u,
            actor=DR,
            day=EVENT_DAY,
            first_slot=2,
            last_slot=4,
            resources=[P1, P2],
            at=AT,
            event_id="night",
        )
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id="night", request_id="s", at=AT)
    assert list(result.run.settlement.status) == [0, 0]
    assert np.isfinite(result.run.baseline.baseline[:, :4]).all()
    assert (result.run.baseline.adjustment[:, 0] != 0).all()  # adjusted, from 3 July's evening


def test_after_withdrawal_an_event_inside_settles_for_a_bounded_time_then_is_denied(
    seeded: UowFactory,
) -> None:
    _, event_id, a2 = _settled_setup(seeded)
    with seeded() as u:
        service.withdraw_agreement(u, actor=DR, agreement_id=a2, request_id="w", at=AT)
    soon = AT + dt.timedelta(hours=1)
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id=event_id, request_id="s", at=soon)
    assert list(result.denied) == []  # within dr_resource's after_end_days (60): settling
    late = AT + dt.timedelta(days=61)
    with seeded() as u:
        result = service.settle_event(u, actor=DR, event_id=event_id, request_id="s2", at=late)
    assert list(result.denied) == [P2]
    assert result.run.settlement.settled[1] == 0
    with seeded() as u:
        _run, _, rows = service.read_run(u, actor=DR, run_id=result.run_id, request_id="r", at=late)
    assert [r["status"] for r in rows] == ["ok", "access_denied"]
    assert "relation_missing" in rows[1]["reason"]


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


def test_a_losing_retailer_reads_its_last_billing_period_for_a_bounded_time(
    uow: UowFactory,
) -> None:
    """After its contract ends, the retailer still reads the readings of its own last billing
    period (the 31 days before the end), for the policy's after_end_days of contract_holder (60),
    under P4 only — nothing dated after the end, nothing else of the customer."""
    point = "0311111111111111111111"
    sp = SupplyPoint(
        supply_point_id=SupplyPointId(point),
        supply_area="03",
        service_menu="lv_metered_lighting_b",
        supply_method="single_phase_3_wire",
        capacity_determination_method="ampere_breaker",
        contract_state="active",
    )
    with uow() as u:
        customers.save_supply_point(u, gate=GATE, actor=TSO03, point=sp, request_id="sp", at=AT)
    with uow() as u:
        seed_contract(
            u,
            _customer("c-9"),
            RetailContract(
                "K-9",
                ContractKind.STANDARD,
                "r-one",
                "c-9",
                SupplyPointId(point),
                dt.date(2024, 1, 1),
                dt.date(2024, 7, 1),  # the switch: the contract ended on 1 July
            ),
            at=dt.datetime(2024, 1, 1, tzinfo=JST),
        )
    days = [dt.date(2024, 5, 20), dt.date(2024, 6, 5), dt.date(2024, 6, 30), dt.date(2024, 7, 2)]
    with uow() as u:
        service.import_meter_days(
            u,
            [MeterDay(SupplyPointId(point), d, np.full(48, 0.5)) for d in days],
            actor=TSO03,
            file="switch.csv",
            request_id="imp",
            at=AT,
        )
    soon = dt.datetime(2024, 7, 10, 12, tzinfo=JST)
    got = _read(uow, RETAILER, "P4_tso_operations", point, at=soon)
    assert [d.date for d in got] == [dt.date(2024, 6, 5), dt.date(2024, 6, 30)]
    # The ledger says how far behind the read its data lies: dated up to the contract's end
    # (1 July, JST), read on 10 July — the window the decision opened, beside the moment.
    with uow() as u:
        (read,) = [
            r.entry
            for r in find_entries(u.session, party=RETAILER.code, supply_point_id=point)
            if r.entry.action == "read" and r.entry.decision == "allowed"
        ]
    assert read.version == 4
    assert read.data_from == dt.datetime(2024, 5, 31, tzinfo=JST)  # 31 days before the end
    assert read.data_to == dt.datetime(2024, 7, 1, tzinfo=JST)
    assert read.recorded_at is not None and read.recorded_at > read.data_to
    # P1 (its customer's data): no longer.
    with pytest.raises(PolicyDenied) as denied, uow() as u:
        GATE.read(
            u,
            actor=RETAILER,
            purpose="P1_wheeling",
            target=TargetRef(point),
            items=frozenset({"supply_area"}),
            request_id="p1",
            at=soon,
        )
    assert denied.value.details["reason"] == "relation_missing"
    with pytest.raises(PolicyDenied) as late:
        _read(uow, RETAILER, "P4_tso_operations", point, at=soon + dt.timedelta(days=60))
    assert late.value.details["reason"] == "relation_missing"
