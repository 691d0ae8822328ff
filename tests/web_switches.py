"""A second point for the console's CSV filings (tests/web): B, supplied by r-new, which r-old
can take over; and a CSV of three switches — B (filed), A (already in flight) and a bad phone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from jointuse.assembly import default_gate
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.policy.engine import Party
from seeding import seed_contract
from web_world import A, Site

B = "0398765432109876543210"


def point_b_with_r_new(site: Site) -> None:
    """Point B, supplied by r-new (NEW-B) since 2024: what r-old can take over."""
    spid = SupplyPointId(B)
    at = datetime(2024, 1, 1, tzinfo=UTC)
    with UnitOfWork(site.engine) as u:
        customers.save_supply_point(
            u,
            gate=default_gate(),
            actor=Party("tso-03", "tso"),
            point=SupplyPoint(
                supply_point_id=spid,
                supply_area=spid.area_code,
                service_menu="lv_metered_lighting_b",
                supply_method="single_phase_3_wire",
                capacity_determination_method="ampere_breaker",
                contract_state="active",
                current_limit=30,
            ),
            request_id="sp-b",
            at=at,
        )
    with UnitOfWork(site.engine) as u:
        seed_contract(
            u,
            Customer.create(
                customer_id="c-b",
                name="佐藤 花子",
                name_kana="サトウ ハナコ",
                postal_code="100-0001",
                prefecture="東京都",
                address_rest="千代田区千代田2-2",
                phone="03-2222-3333",
                membership="non_member",
            ),
            RetailContract("NEW-B", ContractKind.STANDARD, "r-new", "c-b", spid, date(2024, 1, 1)),
            at=at,
        )


def switch_csv(encoding: str = "utf-8") -> bytes:
    base = {
        "supply_point_id": B,
        "name": "佐藤 花子",
        "name_kana": "サトウ ハナコ",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "address": "千代田区千代田2-2",
        "phone": "03-2222-3333",
        "new_contract_number": "OLD-B",
        "old_contract_number": "NEW-B",
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(base))
    writer.writeheader()
    writer.writerow(base)
    writer.writerow({**base, "supply_point_id": A, "new_contract_number": "OLD-A2"})
    writer.writerow({**base, "phone": "not a phone", "new_contract_number": "OLD-B3"})
    return out.getvalue().encode(encoding)
