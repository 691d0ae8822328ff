"""Request IDs (issue 12): the ledger's request ID is the server's own; the caller's
``X-Request-ID`` is kept beside it, made safe — over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

from api_helpers import POINT, World, supply_point_body
from sqlalchemy import text

from jointuse.core.http import MAX_CALLER_REQUEST_ID, caller_request_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def _entries(world: World) -> list[dict[str, Any]]:
    """The stored ledger entries (parsed canonical JSON), newest first."""
    with world.engine.connect() as conn:
        rows = conn.execute(text("SELECT entry FROM access_ledger ORDER BY seq DESC")).all()
    return [json.loads(entry) for (entry,) in rows]


def test_two_parties_sending_one_request_id_get_their_own_on_the_ledger(world: World) -> None:
    shared = {"X-Request-ID": "shared-1"}
    allowed = world.client.put(
        f"/v1/supply-points/{POINT}",
        json=supply_point_body(),
        headers=world.headers("tso-03", **shared),
    )
    denied = world.client.put(
        f"/v1/supply-points/{POINT}",
        json=supply_point_body(),
        headers=world.headers("tso-06", **shared),
    )
    assert (allowed.status_code, denied.status_code) == (201, 403)
    ours = [allowed.headers["x-request-id"], denied.headers["x-request-id"]]
    assert all(HEX32.fullmatch(i) for i in ours) and ours[0] != ours[1]
    assert allowed.headers["x-caller-request-id"] == denied.headers["x-caller-request-id"]
    assert denied.json()["request_id"] == ours[1]
    assert denied.json()["caller_request_id"] == "shared-1"
    latest, before = _entries(world)[:2]
    assert (before["party"], before["decision"], before["request_id"]) == (
        "tso-03",
        "allowed",
        ours[0],
    )
    assert (latest["party"], latest["decision"], latest["request_id"]) == (
        "tso-06",
        "denied",
        ours[1],
    )
    assert before["caller_request_id"] == latest["caller_request_id"] == "shared-1"
    assert latest["v"] == 4 and latest["acting_user"] is None


def test_an_unsafe_request_id_is_percent_encoded_and_a_missing_one_is_null(world: World) -> None:
    r = world.client.put(
        f"/v1/supply-points/{POINT}",
        json=supply_point_body(),
        headers={**world.headers("tso-03"), "X-Request-ID": "bad id/ü%".encode()},  # type: ignore[dict-item]
    )
    assert r.status_code == 201, r.text
    assert r.headers["x-caller-request-id"] == "bad%20id%2F%C3%BC%25"
    assert _entries(world)[0]["caller_request_id"] == "bad%20id%2F%C3%BC%25"
    r = world.client.put(
        f"/v1/supply-points/{POINT}", json=supply_point_body(), headers=world.headers("tso-03")
    )
    assert r.status_code == 200 and "x-caller-request-id" not in r.headers
    entry = _entries(world)[0]
    assert entry["caller_request_id"] is None and entry["request_id"] == r.headers["x-request-id"]


def test_the_callers_request_id_is_made_safe() -> None:
    assert caller_request_id(b"abc-123.x:y_z") == "abc-123.x:y_z"
    assert caller_request_id(b"  ") is None
    assert caller_request_id(b"a b\t%") == "a%20b%09%25"
    assert caller_request_id("要求".encode()) == "%E8%A6%81%E6%B1%82"
    long = caller_request_id(b"x" * 127 + b" tail")
    assert long == "x" * 127  # never a %XX cut in two
    assert len(caller_request_id(b"y" * 500) or "") == MAX_CALLER_REQUEST_ID
    assert caller_request_id(b"z" * 129) == "z" * 128
