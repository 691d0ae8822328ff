"""Authentication and policy refusals through the real app, on SQLite and PostgreSQL.

Every 4xx is checked to change nothing (registry rows), and to add exactly the ledger entries
the design says: policy refusals (suspended party, missing/unknown purpose, no relation) are
recorded; authentication refusals never reach the gate and record nothing. Input refusals are in
``test_api_input.py``.
"""

from __future__ import annotations

import hashlib

import pytest
from api_helpers import POINT, World, assert_problem, file_switch, supply_point_body
from fastapi.testclient import TestClient
from sqlalchemy import event

from jointuse.app import create_app
from jointuse.parties import service as parties

VALID_PURPOSES = [
    "P1_wheeling",
    "P2_cancellation_forwarding",
    "P3_supply_point_confirmation",
    "P4_tso_operations",
    "P5_negawatt",
    "retail_billing",
    "C1_usage_inquiry",
    "retention_erasure",
]


# --- authentication -----------------------------------------------------------------------------


def test_no_bad_and_revoked_credentials_are_401_and_record_nothing(registered: World) -> None:
    w = registered
    url = f"/v1/supply-points/{POINT}/customer"
    before = w.counts()
    r = w.client.get(url, headers={"Jointuse-Purpose": "P4_tso_operations"})
    body = assert_problem(r, 401, "unauthenticated")
    assert body["reason"] == "credentials_missing"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = w.client.get(url, headers={"Authorization": "Bearer nonsense"})
    assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_malformed"
    forged = w.tokens["tso-03"][:-4] + "AAAA"
    r = w.client.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_invalid"
    token_id = w.tokens["tso-03"][3:19]
    parties.revoke_token(w.engine, token_id)
    r = w.client.get(url, headers=w.headers("tso-03", "P4_tso_operations"))
    assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_invalid"
    assert w.counts() == before


def test_authentication_shares_the_routes_one_transaction(registered: World) -> None:
    """A gate request checks out one connection and runs one transaction: authentication, the
    policy's relations, the read and the ledger append; a bad token's rolls back, recording
    nothing."""
    w = registered
    file_switch(w)
    begins: list[object] = []
    checkouts: list[object] = []

    def on_begin(conn: object) -> None:
        begins.append(conn)

    def on_checkout(*args: object) -> None:
        checkouts.append(args)

    before = w.counts()
    event.listen(w.engine, "begin", on_begin)
    event.listen(w.engine, "checkout", on_checkout)
    try:
        r = w.client.get(f"/v1/supply-points/{POINT}", headers=w.headers("coop-mirai"))
        assert r.status_code == 200, r.text
        assert (len(begins), len(checkouts)) == (1, 1)
        begins.clear()
        checkouts.clear()
        forged = w.tokens["coop-mirai"][:-4] + "AAAA"
        r = w.client.get(
            f"/v1/supply-points/{POINT}", headers={"Authorization": f"Bearer {forged}"}
        )
        assert assert_problem(r, 401, "unauthenticated")["reason"] == "credentials_invalid"
        assert (len(begins), len(checkouts)) == (1, 1)
    finally:
        event.remove(w.engine, "begin", on_begin)
        event.remove(w.engine, "checkout", on_checkout)
    assert w.counts()["access_ledger"] == before["access_ledger"] + 1


def test_suspended_party_is_refused_by_the_gate_and_recorded(registered: World) -> None:
    w = registered
    parties.suspend(w.engine, "tso-03", reason="audit")
    before = w.counts()
    r = w.client.get(
        f"/v1/supply-points/{POINT}/customer", headers=w.headers("tso-03", "P4_tso_operations")
    )
    body = assert_problem(r, 403, "access_denied")
    assert body["reason"] == "party_suspended"
    after = w.counts()
    assert after["access_ledger"] == before["access_ledger"] + 1
    entry = w.ledger()[0]
    assert (entry["party"], entry["decision"]) == ("tso-03", "denied")
    assert entry["request_id"] == r.headers["x-request-id"]
    assert '"party_suspended"' in entry["items_refused"]
    # A suspended TSO cannot write either; nothing changes but the refusal is recorded.
    r = w.client.put(
        f"/v1/supply-points/{POINT}",
        json=supply_point_body(current_limit=60),
        headers=w.headers("tso-03"),
    )
    assert r.status_code == 403
    assert {k: v for k, v in w.counts().items() if k != "access_ledger"} == {
        k: v for k, v in before.items() if k != "access_ledger"
    }


def test_client_certificate_header_is_trusted_only_when_configured(world: World) -> None:
    fingerprint = hashlib.sha256(b"tso-03 certificate").hexdigest()
    parties.register_certificate(world.engine, "tso-03", fingerprint)
    headers = {"X-Client-Cert-Fingerprint": fingerprint, "Jointuse-Purpose": "P4_tso_operations"}
    url = f"/v1/supply-points/{POINT}/customer"
    r = world.client.get(url, headers=headers)
    assert r.status_code == 401  # not trusted by default: a client could set the header itself
    app = create_app(engine=world.engine, run_sealer=False, trust_client_cert_header=True)
    with TestClient(app) as client:
        r = client.get(url, headers=headers)
        assert r.status_code == 403, r.text  # authenticated as tso-03 (no work order: refused)
        assert r.json()["reason"] == "relation_missing"
        r = client.get(url, headers={**headers, "X-Client-Cert-Fingerprint": "ab" * 32})
        assert r.status_code == 401


# --- purpose ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "reason"), [(None, "purpose_missing"), ("P9_marketing", "purpose_unknown")]
)
def test_missing_or_unknown_purpose_is_400_listing_purposes_and_recorded(
    registered: World, purpose: str | None, reason: str
) -> None:
    w = registered
    before = w.counts()
    r = w.client.get(f"/v1/supply-points/{POINT}/customer", headers=w.headers("tso-03", purpose))
    body = assert_problem(r, 400, reason)
    assert body["field"] == "Jointuse-Purpose"
    assert body["valid"] == VALID_PURPOSES
    assert w.counts()["access_ledger"] == before["access_ledger"] + 1
    entry = w.ledger()[0]
    assert entry["decision"] == "denied"
    assert entry["purpose"] == ("(none)" if purpose is None else purpose)
    assert f'"{reason}"' in entry["items_refused"]
