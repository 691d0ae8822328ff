"""Refusals at the HTTP edge, on SQLite and PostgreSQL (issue 12).

* Every refusal of an authenticated caller is on the ledger with its reason: request validation
  (422), body too large (413), malformed path parameters, bad purpose headers (400), too many
  items — before, none of them was.
* Unauthenticated requests get 401 whatever else is wrong with them, record nothing, go to the
  ``jointuse.security`` log (source, time, reason; never the token), and a source that keeps
  failing is answered 429 with ``Retry-After``.
* The purpose header: one at most, UTF-8, NFKC, exact.
* ID patterns are full matches (a trailing newline is not part of an ID).
"""

from __future__ import annotations

import logging
import time

import pytest
from api_helpers import (
    POINT,
    World,
    assert_problem,
    assert_refusals_recorded,
    customer_body,
    supply_point_body,
)
from fastapi.testclient import TestClient

from jointuse.app import create_app
from jointuse.core.settings import Settings

P4 = "P4_tso_operations"


def test_edge_refusals_of_an_authenticated_caller_are_recorded(registered: World) -> None:
    w = registered
    cases: list[tuple[str, str, dict[str, object], int, str, str | None]] = [
        # method, url, request kwargs, status, reason on the ledger, supply point recorded
        ("get", "/v1/supply-points/03-12x", {}, 422, "invalid_supply_point_id", None),
        (
            "put",
            f"/v1/supply-points/{POINT}",
            {"json": supply_point_body(power_factor=101)},
            422,
            "invalid_input",
            POINT,
        ),
        (
            "post",
            "/v1/switches",
            {"json": {"customer": customer_body(address="千" * 40_000), "supply_point_id": POINT}},
            413,
            "request_too_large",
            None,
        ),
        (
            "get",
            f"/v1/supply-points/{POINT}/customer",
            {"params": {"items": ",".join(["name"] * 40)}},
            422,
            "invalid_input",
            POINT,
        ),
    ]
    for method, url, kwargs, status, reason, point in cases:
        before = w.counts()
        headers = w.headers("tso-03", P4)
        r = getattr(w.client, method)(url, headers=headers, **kwargs)
        assert r.status_code == status, (url, r.text)
        assert_refusals_recorded(w, before, 1)
        entry = w.ledger()[0]
        assert (entry["party"], entry["decision"], entry["purpose"]) == ("tso-03", "denied", P4)
        assert f'"{reason}"' in entry["items_refused"], (url, entry)
        assert entry["supply_point_id"] == point
        assert entry["request_id"] == r.headers["x-request-id"]
        assert entry["action"] == ("read" if method == "get" else "write")


def test_unauthenticated_bad_requests_are_401_logged_and_record_nothing(
    registered: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = registered
    before = w.counts()
    forged = w.tokens["tso-03"][:-4] + "AAAA"
    with caplog.at_level(logging.WARNING, logger="jointuse.security"):
        r = w.client.put(f"/v1/supply-points/{POINT}", json={"power_factor": "x"})
        assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_missing"
        r = w.client.put(
            f"/v1/supply-points/{POINT}",
            json={"power_factor": "x"},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_invalid"
        r = w.client.get(
            f"/v1/supply-points/{POINT}/customer",
            headers={"Authorization": f"Bearer {forged}", "Jointuse-Purpose": "P9"},
        )
        assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_invalid"
    assert w.counts() == before
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "jointuse.security"]
    assert len(lines) == 3
    assert all("source=testclient" in line and "time=" in line for line in lines)
    assert "reason=credentials_missing" in lines[0] and "reason=credentials_invalid" in lines[1]
    assert not any(forged in line or forged[3:19] in line for line in lines)


def test_repeated_authentication_failures_are_rate_limited(world: World) -> None:
    settings = Settings(
        database_url=str(world.engine.url), auth_failure_limit=3, auth_failure_window=60.0
    )
    app = create_app(settings, engine=world.engine, run_sealer=False)
    url = f"/v1/supply-points/{POINT}/customer"
    with TestClient(app) as client:
        for _ in range(3):
            r = client.get(url, headers={"Authorization": "Bearer nonsense"})
            assert r.status_code == 401
        r = client.get(url, headers=world.headers("tso-03", P4))  # even a valid token now
        body = assert_problem(r, 429, "too_many_failures")
        assert 1 <= int(r.headers["retry-after"]) <= 60 and body["retry_after"] >= 1
        assert client.get("/healthz").status_code == 200  # probes are never limited
    # Another app (another process) has its own count; the source is not blocked there: the
    # request is authenticated and decided by the policy (no work order: 403, on the ledger).
    with TestClient(create_app(engine=world.engine, run_sealer=False)) as client:
        assert client.get(url, headers=world.headers("tso-03", P4)).status_code == 403


def test_failure_limiter_window_and_bound() -> None:
    from jointuse.core.edge import FailureLimiter

    now = [1000.0]
    limiter = FailureLimiter(2, 10.0, clock=lambda: now[0], max_sources=3)
    limiter.failure("a")
    assert limiter.retry_after("a") is None
    limiter.failure("a")
    assert limiter.retry_after("a") == 10
    now[0] += 9.5
    assert limiter.retry_after("a") == 1
    now[0] += 1
    assert limiter.retry_after("a") is None
    for source in ("b", "c", "d", "e"):
        limiter.failure(source)
    assert len(limiter) <= 3


# --- the purpose header -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (
            [("Jointuse-Purpose", P4), ("Jointuse-Purpose", "P3_supply_point_confirmation")],
            "purpose_ambiguous",
        ),
        ([("Jointuse-Purpose", P4), ("Jointuse-Purpose", P4)], "purpose_ambiguous"),
        ([("Jointuse-Purpose", P4.encode() + b"\xc2\xa0")], "purpose_unknown"),  # trailing NBSP
        ([("Jointuse-Purpose", "p4_tso_operations")], "purpose_unknown"),
        ([("Jointuse-Purpose", "P4" * 3000)], "purpose_unknown"),
    ],
)
def test_bad_purpose_headers_are_400_and_recorded(
    registered: World, headers: list[tuple[str, str | bytes]], reason: str
) -> None:
    w = registered
    before = w.counts()
    all_headers = [("Authorization", f"Bearer {w.tokens['tso-03']}"), *headers]
    r = w.client.get(f"/v1/supply-points/{POINT}/customer", headers=all_headers)
    body = assert_problem(r, 400, reason)
    assert body["field"] == "Jointuse-Purpose"
    assert P4 in body["valid"]
    assert len(r.content) < 2048
    assert_refusals_recorded(w, before, 1)
    entry = w.ledger()[0]
    assert f'"{reason}"' in entry["items_refused"] and entry["party"] == "tso-03"
    assert entry["supply_point_id"] == POINT
    assert len(entry["purpose"]) <= 64


def test_purpose_header_bytes_are_utf8() -> None:
    """Non-UTF-8 bytes (a Latin-1 NBSP) are refused; the test client cannot send them (it
    re-encodes header values), so this one is checked on the ASGI scope."""
    from jointuse.core.edge import PurposeRefused, purpose_of

    purposes = (P4,)

    def scope(*values: bytes) -> dict[str, object]:
        return {"headers": [(b"jointuse-purpose", v) for v in values]}

    with pytest.raises(PurposeRefused) as refused:
        purpose_of(scope(P4.encode() + b"\xa0"), purposes)
    assert refused.value.reason == "purpose_invalid"
    assert purpose_of(scope(b" " + P4.encode() + b"\t"), purposes) == P4  # HTTP white space
    assert purpose_of(scope("Ｐ４_tso_operations".encode()), purposes) == P4
    assert purpose_of(scope(), purposes) is None
    for bad in (P4.encode() + "\u00a0".encode(), P4.encode() + b"\n", P4.lower().encode()):
        with pytest.raises(PurposeRefused):
            purpose_of(scope(bad), purposes)


def test_oversized_row_ids_are_422_not_500(registered: World) -> None:
    """Found by the fuzzer: inbox IDs beyond 64 bits overflowed the driver (500)."""
    w = registered
    huge = 2**64
    r = w.client.post("/v1/inbox/ack", json={"ids": [huge]}, headers=w.headers("tso-03"))
    assert assert_problem(r, 422, "invalid_input")["field"].startswith("ids")
    r = w.client.get("/v1/inbox", params={"after": huge}, headers=w.headers("tso-03"))
    assert assert_problem(r, 422, "invalid_input")["field"] == "after"


def test_full_width_purpose_is_normalised_and_recorded_as_the_purpose(registered: World) -> None:
    w = registered
    full_width = "Ｐ４＿ｔｓｏ＿ｏｐｅｒａｔｉｏｎｓ".encode()
    r = w.client.get(
        f"/v1/supply-points/{POINT}/customer",
        headers=[
            ("Authorization", f"Bearer {w.tokens['tso-03']}"),
            ("Jointuse-Purpose", full_width),
        ],
    )
    assert r.status_code == 200, r.text
    assert w.ledger()[0]["purpose"] == P4


# --- full-match ID patterns ---------------------------------------------------------------------


def test_trailing_newline_is_not_part_of_an_id(registered: World) -> None:
    w = registered
    before = w.counts()
    r = w.client.get("/v1/customers/C0001%0A", headers=w.headers("coop-mirai", "P1_wheeling"))
    assert assert_problem(r, 422, "invalid_input")["field"] == "customer_id"
    assert_refusals_recorded(w, before, 1)
    assert w.ledger()[0]["customer_id"] is None


# --- sizes of responses to bad requests ---------------------------------------------------------


def test_responses_to_bad_requests_are_bounded_by_the_request(registered: World) -> None:
    """A response to a bad request is never larger than the request by more than 4 KiB
    (before: a 60 kB purpose with 150 items gave an 8.9 MiB answer)."""
    from jointuse.core.edge import MAX_PROBLEM_BYTES

    w = registered
    auth = w.headers("tso-03")
    unknown_items = ",".join(f"u{chr(97 + n % 26)}{chr(97 + n // 26)}" for n in range(150))
    requests: list[tuple[str, str, dict[str, object]]] = [
        (
            "get",
            f"/v1/supply-points/{POINT}/customer",
            {"headers": {**auth, "Jointuse-Purpose": "Z" * 60_000}},
        ),
        (
            "get",
            f"/v1/supply-points/{POINT}/customer",
            {"headers": {**auth, "Jointuse-Purpose": "P9"}, "params": {"items": unknown_items}},
        ),
        (
            "get",
            f"/v1/supply-points/{POINT}/customer",
            {
                "headers": {**auth, "Jointuse-Purpose": P4},
                "params": {"items": unknown_items[:1000]},
            },
        ),
        (
            "put",
            f"/v1/supply-points/{POINT}",
            {"headers": auth, "json": {f"field_{n}": "x" * 100 for n in range(400)}},
        ),
        (
            "put",
            f"/v1/supply-points/{POINT}",
            {"headers": auth, "json": supply_point_body(lead_in_pole_number="x" * 30_000)},
        ),
        ("get", "/v1/supply-points/" + "９" * 5000, {"headers": auth}),
        ("get", "/v1/customers/" + "x" * 8000, {"headers": {**auth, "Jointuse-Purpose": P4}}),
    ]
    for method, url, kwargs in requests:
        r = getattr(w.client, method)(url, **kwargs)
        assert 400 <= r.status_code < 500, (url[:60], r.status_code)
        sent = r.request
        request_size = (
            len(str(sent.url))
            + len(sent.content or b"")
            + sum(len(k) + len(v) for k, v in sent.headers.raw)
        )
        response_size = len(r.content) + sum(len(k) + len(v) for k, v in r.headers.raw)
        assert len(r.content) <= MAX_PROBLEM_BYTES, (url[:60], len(r.content))
        assert response_size <= request_size + 4096, (url[:60], response_size, request_size)


def test_unknown_purposes_do_not_grow_the_servers_caches(registered: World) -> None:
    from jointuse.policy.engine import cache_sizes

    w = registered
    engine = w.client.app.state.jointuse.gate.engine  # type: ignore[attr-defined]
    w.client.get(f"/v1/supply-points/{POINT}/customer", headers=w.headers("tso-03", P4))
    before = cache_sizes(engine)
    started = time.monotonic()
    for n in range(400):
        r = w.client.get(
            f"/v1/supply-points/{POINT}/customer",
            headers=w.headers("tso-03", f"P9_{n}_" + "x" * 100),
            params={"items": "name,phone,unknown_thing"},
        )
        assert r.status_code == 400
    assert cache_sizes(engine) == before
    assert time.monotonic() - started < 600  # bounded loop (not a timing assertion)


def test_a_refusal_the_gate_recorded_is_not_recorded_twice(registered: World) -> None:
    """A write the policy allows and the database refuses (409) is on the ledger once: the
    gate's allowed-then-failed entry, not a second one from the edge."""
    from api_helpers import file_switch, switch_body

    w = registered
    file_switch(w)
    before = w.counts()["access_ledger"]
    r = w.client.post(
        "/v1/switches",
        json=switch_body(new_contract_number="CM-002"),
        headers=w.headers("coop-mirai"),
    )
    assert r.status_code == 409, r.text
    assert w.counts()["access_ledger"] == before + 1
    assert '"failed:conflict:' in w.ledger()[0]["items_refused"]


def test_csv_with_a_bare_carriage_return_is_not_a_500(registered: World) -> None:
    """Found by the fuzzer: a bare CR inside an unquoted CSV field made the csv module raise
    (500). Read with ``newline=""`` (as the csv module requires), it is a line break."""
    from jointuse.flows.service import _REQUIRED

    w = registered
    text = ",".join(_REQUIRED) + "\n0312\r345,x\n"
    r = w.client.post(
        "/v1/switches/csv",
        content=text.encode(),
        headers={**w.headers("coop-mirai"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert [row["status"] for row in r.json()["rows"]] == [422, 422]
