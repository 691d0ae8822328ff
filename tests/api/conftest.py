"""Fixtures for the HTTP flow tests: the real app on this test's database, parties, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from api_helpers import POINT, World, customer_body, supply_point_body
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.customers.model import ContractKind, Customer, RetailContract
from jointuse.parties import service as parties
from seeding import open_work_order, seed_contract


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    parties.seed_reference_parties(engine)
    parties.add_party(
        engine,
        code="coop-mirai",
        kind="retailer",
        name_ja="生活協同組合コープみらい",
        name_en="Coop Mirai",
        meti_registration="A0001",
    )
    parties.add_party(
        engine,
        code="r-other",
        kind="retailer",
        name_ja="他社電力",
        name_en="Other Power",
        meti_registration="A0002",
    )
    parties.add_party(
        engine,
        code="r-old",
        kind="retailer",
        name_ja="旧来電力",
        name_en="Incumbent Power",
        meti_registration="A0003",
    )
    tokens = {
        code: parties.issue_token(engine, code).secret
        for code in ("coop-mirai", "r-other", "r-old", "tso-03", "tso-06", "occto")
    }
    app = create_app(engine=engine, run_sealer=False, bench=False, environ={})
    with TestClient(app, raise_server_exceptions=True) as client:
        yield World(client, engine, tokens)


@pytest.fixture
def registered(world: World) -> World:
    """The Tokyo point registered by its TSO, supplied by r-old to customer C0001 (山田 花子,
    contract OLD-1 since 2024-01-01), imported at go-live by the platform operator; a work order
    of tso-03 holds the point now."""
    r = world.client.put(
        f"/v1/supply-points/{POINT}", json=supply_point_body(), headers=world.headers("tso-03")
    )
    assert r.status_code == 201, r.text
    c = customer_body()
    customer = Customer.create(
        customer_id="C0001",
        name=c["name"],
        name_kana=c["name_kana"],
        postal_code=c["postal_code"],
        prefecture=c["prefecture"],
        address_rest=c["address"],
        phone=c["phone"],
        membership=c["membership"],
    )
    contract = RetailContract(
        "OLD-1", ContractKind.STANDARD, "r-old", "C0001", SupplyPointId(POINT), date(2024, 1, 1)
    )
    with UnitOfWork(world.engine) as u:
        seed_contract(u, customer, contract, at=datetime(2024, 1, 1, tzinfo=UTC))
    # tso-03's meter-reading round holds the point now: its contact data are open to it (P4).
    open_work_order(
        lambda: UnitOfWork(world.engine),
        "tso-03",
        [POINT],
        starts=datetime.now(UTC) - timedelta(hours=1),
    )
    return world
