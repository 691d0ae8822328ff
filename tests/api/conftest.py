"""Fixtures for the HTTP flow tests: the real app on this test's database, parties, tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import POINT, World, supply_point_body
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.parties import service as parties


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
    tokens = {
        code: parties.issue_token(engine, code).secret
        for code in ("coop-mirai", "r-other", "tso-03", "tso-06", "occto")
    }
    app = create_app(engine=engine, run_sealer=False, bench=False, environ={})
    with TestClient(app, raise_server_exceptions=True) as client:
        yield World(client, engine, tokens)


@pytest.fixture
def registered(world: World) -> World:
    """The Tokyo point registered by its TSO, a customer applied to coop-mirai and contracted."""
    r = world.client.put(
        f"/v1/supply-points/{POINT}", json=supply_point_body(), headers=world.headers("tso-03")
    )
    assert r.status_code == 201, r.text
    return world
