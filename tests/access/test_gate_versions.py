"""The gate with several policy versions, on SQLite and PostgreSQL: one request is decided by the
version in force at its moment (APPI Art. 27(6)), and the refusal is on the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import pytest

from jointuse.access.gate import PolicyDenied
from jointuse.assembly import build_gate, gate_for
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.core.settings import load_settings
from jointuse.customers import service
from jointuse.customers.model import JST, ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.ledger.service import find_entries
from jointuse.policy.engine import Party
from jointuse.policy.loader import parse_policy
from jointuse.policy.versions import PolicyVersions, VersionedEngine
from seeding import seed_contract

A = "03" + "4" * 20
TEXT = (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")
V1 = TEXT.replace("effective_from = 2026-11-26", "effective_from = 2024-01-01").replace(
    "published_on = 2026-11-26", "published_on = 2023-12-01"
)
# v2, in force from 2024-06-01: a retailer no longer reads basic information under P1 (an access
# rule within the published scope: no notice period of its own).
V2 = (
    TEXT.replace('version = "2026-11-26"', 'version = "2024-06-01"')
    .replace("effective_from = 2026-11-26", "effective_from = 2024-06-01")
    .replace("published_on = 2026-11-26", "published_on = 2024-05-01")
    .replace(
        'relations = ["contract_holder", "applicant"]\nread = ["supply_point.*", "basic.*"]',
        'relations = ["contract_holder", "applicant"]\nread = ["supply_point.*"]',
    )
)


def test_each_request_is_decided_by_the_version_in_force(uow: Callable[..., UnitOfWork]) -> None:
    assert V2 != TEXT
    gate = build_gate(versions=PolicyVersions([parse_policy(V1), parse_policy(V2)]))
    point = SupplyPoint(
        supply_point_id=SupplyPointId(A),
        supply_area="03",
        service_menu="lv_metered_lighting_b",
        supply_method="single_phase_3_wire",
        capacity_determination_method="ampere_breaker",
        contract_state="active",
    )
    with uow() as u:
        service.save_supply_point(
            u,
            gate=gate,
            actor=Party("tso-03", "tso"),
            point=point,
            request_id="seed-p",
            at=datetime(2024, 1, 1, tzinfo=JST),
        )
    with uow() as u:
        seed_contract(
            u,
            Customer.create(
                customer_id="c-1",
                name="田中 三郎",
                name_kana="タナカ サブロウ",
                postal_code="150-0001",
                prefecture="東京都",
                address_rest="渋谷区神宮前1-1",
                phone="03-2222-3333",
                membership="non_member",
            ),
            RetailContract(
                "K-1", ContractKind.STANDARD, "r-one", "c-1", SupplyPointId(A), date(2024, 1, 1)
            ),
            at=datetime(2024, 1, 1, tzinfo=JST),
        )

    def read(at: datetime, request_id: str) -> None:
        with uow() as u:
            service.read_basic(
                u,
                gate=gate,
                actor=Party("r-one", "retailer"),
                purpose="P1_wheeling",
                request_id=request_id,
                at=at,
                customer_id="c-1",
                items=frozenset({"name"}),
            )

    read(datetime(2024, 5, 31, 23, 59, tzinfo=JST), "before")  # v1 allows
    with pytest.raises(PolicyDenied):
        read(datetime(2024, 6, 1, 0, 0, tzinfo=JST), "after")  # v2 refuses
    with uow() as u:
        entries = {r.entry.request_id: r.entry for r in find_entries(u.connection)}
    assert entries["before"].decision == "allowed"
    assert entries["after"].decision == "denied"


def test_the_configuration_names_the_earlier_versions(tmp_path: Path) -> None:
    old, new = tmp_path / "v1.toml", tmp_path / "v2.toml"
    old.write_text(V1, encoding="utf-8")
    new.write_text(V2, encoding="utf-8")
    settings = load_settings({"JOINTUSE_POLICY": str(new), "JOINTUSE_POLICY_EARLIER": str(old)})
    assert settings.policy_earlier == (str(old),)
    gate = gate_for(settings.policy_path, settings.policy_earlier)
    assert isinstance(gate.engine, VersionedEngine)
    assert gate.policy.notice.version == "2024-06-01"
    assert gate.versions is not None
    assert [v.policy.notice.version for v in gate.versions.versions] == ["2026-11-26", "2024-06-01"]
    assert gate_for(str(new)).versions is None
