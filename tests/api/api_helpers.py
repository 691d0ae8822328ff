"""Helpers of the HTTP flow tests: a client on the real app, tokens, row and ledger counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, text

POINT = "0312345678901234567890"  # Tokyo area (03): tso-03
OTHER_POINT = "0612345678901234567890"  # Kansai area (06)
P3 = "P3_supply_point_confirmation"
P4 = "P4_tso_operations"
PROBLEM = "application/problem+json"


@dataclass
class World:
    client: TestClient
    engine: Engine
    tokens: dict[str, str]

    def headers(self, party: str, purpose: str | None = None, **extra: str) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.tokens[party]}", **extra}
        if purpose is not None:
            out["Jointuse-Purpose"] = purpose
        return out

    def counts(self) -> dict[str, int]:
        """Rows of every registry table and of the ledger (to prove a 4xx changed nothing)."""
        tables = ("customer", "supply_point", "retail_contract", "market_flow")
        with self.engine.connect() as conn:
            out = {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
            }
            out["access_ledger"] = int(
                conn.execute(text("SELECT count(*) FROM access_ledger")).scalar_one()
            )
        return out

    def ledger(self) -> list[dict[str, Any]]:
        """Ledger rows, newest first (generated columns of the entry), with the customer and
        supply point IDs behind their pseudonyms revealed through the live subject keys (as
        :func:`jointuse.ledger.service.find_entries` does)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT party, purpose, action, decision,"
                    " coalesce(p.subject_id, l.supply_point_id) AS supply_point_id,"
                    " coalesce(c.subject_id, l.customer_id) AS customer_id,"
                    " rule_id, request_id, items_granted, items_refused"
                    " FROM access_ledger AS l"
                    " LEFT JOIN ledger_subject_key AS p ON p.pseudonym = l.supply_point_id"
                    " LEFT JOIN ledger_subject_key AS c ON c.pseudonym = l.customer_id"
                    " ORDER BY seq DESC"
                )
            ).mappings()
            return [dict(r) for r in rows]


def supply_point_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_menu": "lv_metered_lighting_b",
        "supply_method": "single_phase_3_wire",
        "capacity_determination_method": "ampere_breaker",
        "contract_state": "active",
        "current_limit": 30,
        "contract_capacity": {"value": "30", "unit": "A"},
        "meter_info": {"meter_number": "M0300001", "smart_meter": True, "multiplier": 1},
        "meter_reading_day": 12,
        "lead_in_pole_number": "P-123",
    }
    body.update(overrides)
    return body


def customer_body(**overrides: Any) -> dict[str, Any]:
    """A new customer's basic items (no ``customer_id``: the server generates one)."""
    body: dict[str, Any] = {
        "name": "山田 花子",
        "name_kana": "ヤマダ ハナコ",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "address": "千代田区千代田1-1",
        "phone": "03-1234-5678",
        "membership": "member",
    }
    body.update(overrides)
    return body


def assert_problem(r: Response, status: int, code: str) -> dict[str, Any]:
    """``r`` is an RFC 9457 problem of ``status`` / ``code`` carrying the request ID."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:jointuse:problem:{code}"
    assert body["title"] and body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]
    return dict(body)


def switch_body(**overrides: Any) -> dict[str, Any]:
    """coop-mirai's switch of POINT away from the incumbent r-old (contract OLD-1)."""
    body: dict[str, Any] = {
        "supply_point_id": POINT,
        "customer": customer_body(),
        "new_contract_number": "CM-001",
        "forwarding": {"old_contract_number": "OLD-1"},
    }
    body.update(overrides)
    return body


def file_switch(world: World, retailer: str = "coop-mirai", **overrides: Any) -> dict[str, Any]:
    """File a switch of POINT over HTTP; the response body (``flow``, ``forwarding_id``)."""
    r = world.client.post(
        "/v1/switches", json=switch_body(**overrides), headers=world.headers(retailer)
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["flow"]["state"] == "awaiting_judgement"
    return out


def assert_refusals_recorded(w: World, before: dict[str, int], refusals: int) -> None:
    """Nothing changed in the registry, and exactly ``refusals`` ledger entries were added."""
    after = w.counts()
    assert {k: v for k, v in after.items() if k != "access_ledger"} == {
        k: v for k, v in before.items() if k != "access_ledger"
    }
    assert after["access_ledger"] == before["access_ledger"] + refusals
