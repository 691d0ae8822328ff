"""The world of the flows tests (database, both backends), built through the use cases.

Tokyo's TSO (tso-03) registered A (検針日 code 10) and B (no supply); r-old supplies
customer c-old at A (contract OLD-1 since 2024-01-01, imported at go-live). Parties: r-old,
r-new, r-other (retailers), tso-03, tso-06, occto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine

from jointuse.access.gate import Gate
from jointuse.assembly import default_gate
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import (
    JST,
    ContractKind,
    Customer,
    RetailContract,
    SupplyPoint,
)
from jointuse.flows.filing import SwitchFiling
from jointuse.ledger.service import LedgerRecord, find_entries
from jointuse.policy.engine import Party
from seeding import open_work_order, seed_contract

GATE: Gate = default_gate()
A = "03" + "1" * 20
B = "03" + "2" * 20
R_OLD = Party("r-old", "retailer")
R_NEW = Party("r-new", "retailer")
R_OTHER = Party("r-other", "retailer")
TSO03 = Party("tso-03", "tso")
TSO06 = Party("tso-06", "tso")
OCCTO = Party("occto", "occto")

UowFactory = Callable[..., UnitOfWork]


def jst(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=JST)


def person(customer_id: str, name: str = "山田 太郎", phone: str = "03-1111-2222") -> Customer:
    return Customer.create(
        customer_id=customer_id,
        name=name,
        name_kana="ヤマダ タロウ",
        postal_code="100-0001",
        prefecture="東京都",
        address_rest="千代田区千代田1-2-3",
        phone=phone,
        membership="non_member",
    )


def point(point_id: str, state: str = "active") -> SupplyPoint:
    spid = SupplyPointId(point_id)
    return SupplyPoint(
        supply_point_id=spid,
        supply_area=spid.area_code,
        service_menu="lv_metered_lighting_b",
        supply_method="single_phase_3_wire",
        capacity_determination_method="ampere_breaker",
        contract_state=state,
        current_limit=30,
        # 検針日 code 10: in Tokyo's schedule (tso_calendars.toml) the 7th code in use, read on
        # the 8th business day of the month — 12 March 2024.
        meter_reading_day=10,
    )


def switch_filing(**overrides: object) -> SwitchFiling:
    fields: dict[str, object] = {
        "supply_point_id": A,
        "customer": person("c-new", "佐藤 花子", "03-3333-4444"),
        "new_contract_number": "NEW-1",
        "old_contract_number": "OLD-1",
        "forwarded_name": "山田 太郎",
        "forwarded_name_kana": "ヤマダ タロウ",
    }
    fields.update(overrides)
    return SwitchFiling(**fields)  # type: ignore[arg-type]


@dataclass
class World:
    engine: Engine
    uow: UowFactory

    def entries(self, request_id: str) -> list[LedgerRecord]:
        with self.uow() as u:
            return [r for r in find_entries(u.session) if r.entry.request_id == request_id]


def build(engine: Engine, uow: UowFactory) -> World:
    t0 = jst(2023, 12, 1)
    with uow() as u:
        customers.save_supply_point(
            u, gate=GATE, actor=TSO03, point=point(A), request_id="sp-a", at=t0
        )
        customers.save_supply_point(
            u, gate=GATE, actor=TSO03, point=point(B, "terminated"), request_id="sp-b", at=t0
        )
    with uow() as u:
        seed_contract(
            u,
            person("c-old"),
            RetailContract(
                "OLD-1", ContractKind.STANDARD, "r-old", "c-old", SupplyPointId(A), date(2024, 1, 1)
            ),
            at=t0,
        )
    # A maintenance round of tso-03 holding A in late February and March 2024 (P4 contacts).
    open_work_order(uow, "tso-03", [A], starts=jst(2024, 2, 15), days=60, kind="maintenance")
    return World(engine, uow)
