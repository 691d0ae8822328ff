"""Input refusals through the real app: malformed IDs, unknown fields, bad values, body size,
request IDs, unexpected errors, the bench flag.

These are decided before the access gate (or, for 500s, outside it), so they run on SQLite only
(the ``backend`` fixture is narrowed below); the policy and authentication refusals run on both
backends in ``test_api_refusals.py``, and the recording of edge refusals on both in
``test_api_edge.py``. Every one is checked to change nothing in the registry and to add exactly
one ledger entry per refusal of an authenticated caller, and none may be a 500.
"""

from __future__ import annotations

import pytest
from api_helpers import (
    POINT,
    World,
    assert_problem,
    assert_refusals_recorded,
    customer_body,
    supply_point_body,
    switch_body,
)
from fastapi.testclient import TestClient

from jointuse.app import create_app


@pytest.fixture
def backend() -> str:
    """SQLite only for this module (see the module docstring)."""
    return "sqlite"


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "position"),
    [("03-1234-5678-9O12-3456-7890", 15), ("０３１２３４５６７８９０１２x", 15)],
)
def test_malformed_supply_point_id_is_422_naming_char_and_position(
    world: World, raw: str, position: int
) -> None:
    before = world.counts()
    r = world.client.get(f"/v1/supply-points/{raw}", headers=world.headers("coop-mirai"))
    body = assert_problem(r, 422, "invalid_supply_point_id")
    assert body["field"] == "supply_point_id"
    assert body["position"] == position
    assert f"position {position}" in str(body["detail"])
    assert_refusals_recorded(world, before, 1)
    entry = world.ledger()[0]
    assert (entry["decision"], entry["supply_point_id"]) == ("denied", None)
    assert '"invalid_supply_point_id"' in entry["items_refused"]


def test_wrong_length_and_unknown_area_are_422(world: World) -> None:
    r = world.client.get(
        "/v1/supply-points/0312", headers=world.headers("tso-03", "P4_tso_operations")
    )
    assert assert_problem(r, 422, "invalid_supply_point_id")["digits_found"] == 4
    r = world.client.put(
        "/v1/supply-points/9912345678901234567890",
        json=supply_point_body(),
        headers=world.headers("tso-03"),
    )
    assert assert_problem(r, 422, "invalid_supply_point_id")["area_code"] == "99"


def test_unknown_json_field_is_422_naming_it(registered: World) -> None:
    w = registered
    before = w.counts()
    r = w.client.post(
        "/v1/switches",
        json=switch_body(
            favourite_colour="blue", forwarding={"old_contract_number": "OLD-1", "x": 1}
        ),
        headers=w.headers("coop-mirai"),
    )
    body = assert_problem(r, 422, "invalid_input")
    assert set(body["fields"]) == {"favourite_colour", "forwarding.x"}  # type: ignore[arg-type]
    assert_refusals_recorded(w, before, 1)


BAD_CUSTOMER_FIELDS: list[tuple[dict[str, str], str]] = [
    ({"phone": "12345"}, "phone"),
    ({"postal_code": "10-0001"}, "postal_code"),
    ({"prefecture": "東京"}, "prefecture"),
    ({"name_kana": "Yamada"}, "name_kana"),
    ({"membership": "gold"}, "membership"),
    ({"name": "x" * 101}, "name"),
    ({"name": "山田\u0000花子"}, "name"),
    ({"customer_id": "bad id!"}, "customer_id"),
]

BAD_SUPPLY_POINT_FIELDS: list[tuple[dict[str, object], str]] = [
    ({"service_menu": "platinum"}, "service_menu"),
    ({"supply_area": "06"}, "supply_area"),
    ({"power_factor": 101}, "power_factor"),
    ({"disconnection_method": "line_cut"}, "disconnection_method"),
    ({"contract_capacity": {"value": "-3", "unit": "A"}}, "contract_capacity.value"),
    ({"contract_capacity": {"value": "3", "unit": "MW"}}, "contract_capacity"),
    ({"wheeling_change_date": "2024-02-30"}, "wheeling_change_date"),
    ({"current_limit": "thirty"}, "current_limit"),
    ({"meter_info": {"meter_number": "メーター"}}, "meter_info"),
]


def test_bad_customer_fields_are_422_naming_the_field(registered: World) -> None:
    w = registered
    before = w.counts()
    for override, field in BAD_CUSTOMER_FIELDS:
        r = w.client.post(
            "/v1/switches",
            json=switch_body(customer=customer_body(**override)),
            headers=w.headers("coop-mirai"),
        )
        body = assert_problem(r, 422, "invalid_input")
        assert str(body["field"]).endswith(field), (override, body)
    assert_refusals_recorded(w, before, len(BAD_CUSTOMER_FIELDS))


def test_bad_supply_point_fields_are_422_naming_the_field(world: World) -> None:
    before = world.counts()
    for override, field in BAD_SUPPLY_POINT_FIELDS:
        r = world.client.put(
            f"/v1/supply-points/{POINT}",
            json=supply_point_body(**override),
            headers=world.headers("tso-03"),
        )
        body = assert_problem(r, 422, "invalid_input")
        assert str(body["field"]).startswith(field), (override, body)
    assert_refusals_recorded(world, before, len(BAD_SUPPLY_POINT_FIELDS))


def test_body_that_is_not_json_is_422(world: World) -> None:
    r = world.client.put(
        f"/v1/supply-points/{POINT}",
        content=b"{not json",
        headers={**world.headers("tso-03"), "Content-Type": "application/json"},
    )
    assert assert_problem(r, 422, "invalid_input")["field"] == "body"


def test_oversized_body_is_413_and_changes_nothing(registered: World) -> None:
    w = registered
    before = w.counts()
    big = customer_body(address="千" * 40_000)
    r = w.client.post(
        "/v1/switches", json=switch_body(customer=big), headers=w.headers("coop-mirai")
    )
    body = assert_problem(r, 413, "request_too_large")
    assert body["limit_bytes"] == 64 * 1024

    def chunks() -> object:
        for _ in range(100):
            yield b" " * 1024

    # Streamed (chunked, no Content-Length): refused while it streams in.
    r = w.client.post(
        "/v1/switches",
        content=chunks(),  # type: ignore[arg-type]
        headers={**w.headers("coop-mirai"), "Content-Type": "application/json"},
    )
    assert_problem(r, 413, "request_too_large")
    assert_refusals_recorded(w, before, 2)


# --- plumbing -----------------------------------------------------------------------------------


def test_request_id_is_the_servers_and_the_callers_is_echoed_beside_it(world: World) -> None:
    r = world.client.get("/v1/parties", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] != "abc-123" and len(r.headers["x-request-id"]) == 32
    assert r.headers["x-caller-request-id"] == "abc-123"
    r = world.client.get("/v1/parties", headers={"X-Request-ID": "bad id\twith tab"})
    assert len(r.headers["x-request-id"]) == 32
    assert r.headers["x-caller-request-id"] == "bad%20id%09with%20tab"
    r = world.client.get("/v1/nowhere")
    assert assert_problem(r, 404, "not_found")["instance"] == "/v1/nowhere"
    r = world.client.delete("/v1/parties")
    assert_problem(r, 405, "http_405")


def test_unexpected_error_is_a_500_problem_without_internals(world: World) -> None:
    app = create_app(engine=world.engine, run_sealer=False)

    def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 7")

    app.add_api_route("/v1/_test/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/_test/boom")
    body = assert_problem(r, 500, "internal_error")
    assert "hunter2" not in r.text and "secret" not in r.text and "Traceback" not in r.text
    assert set(body) == {"type", "title", "status", "detail", "code", "instance", "request_id"}


def test_bench_endpoint_is_mounted_only_when_asked(registered: World) -> None:
    w = registered
    assert w.client.get(f"/v1/_bench/bare/supply-points/{POINT}").status_code == 404
    before = w.counts()
    for app in (
        create_app(engine=w.engine, run_sealer=False, bench=True),
        create_app(engine=w.engine, run_sealer=False, environ={"JOINTUSE_BENCH_ENDPOINTS": "1"}),
    ):
        with TestClient(app) as client:
            r = client.get(f"/v1/_bench/bare/supply-points/{POINT}")
            assert r.status_code == 200, r.text
            assert r.json()["items"]["supply_point_id"] == POINT
    assert w.counts() == before  # no ledger entry: that is what it measures


def test_the_app_runs_the_ledger_sealer_for_its_lifetime(world: World) -> None:
    from sqlalchemy import text

    from jointuse.core.settings import Settings

    settings = Settings(database_url=str(world.engine.url), ledger_seal_interval=0.05)
    app = create_app(settings, engine=world.engine, run_sealer=True)
    with TestClient(app) as client:
        r = client.get(f"/v1/supply-points/{POINT}/customer", headers=world.headers("tso-03"))
        assert r.status_code == 400  # purpose missing: a recorded refusal
    # Leaving the app stops the sealer, which seals once more: nothing is left unsealed.
    with world.engine.connect() as conn:
        unsealed = conn.execute(
            text("SELECT count(*) FROM access_ledger_chain WHERE chain_pos IS NULL")
        ).scalar_one()
        sealed = conn.execute(
            text("SELECT count(*) FROM access_ledger_chain WHERE chain_pos IS NOT NULL")
        ).scalar_one()
    assert unsealed == 0 and sealed >= 1
