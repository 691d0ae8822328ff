"""People inside parties (issue 9), over HTTP on SQLite and PostgreSQL: users with roles,
tokens of a user or a named system client, the role applied by the gate, the person on the
ledger, a deactivated user's tokens refused at once; and the anomaly report on known answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import POINT, World
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.ledger import anomalies as an
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append
from jointuse.parties import service as parties
from jointuse.parties.tables import api_token

P1 = "P1_wheeling"
P4 = "P4_tso_operations"


def _latest(w: World) -> dict[str, object]:
    with w.engine.connect() as conn:
        (entry,) = conn.execute(
            text("SELECT entry FROM access_ledger ORDER BY seq DESC LIMIT 1")
        ).one()
    return dict(json.loads(entry))


@pytest.fixture
def staff(registered: World) -> World:
    for code, role in (("sato", "operator"), ("kato", "field_staff"), ("ito", "auditor")):
        parties.add_user(registered.engine, "tso-03", code=code, name=code.title(), role=role)
        registered.tokens[code] = parties.issue_token(registered.engine, "tso-03", user=code).secret
    return registered


def test_the_gate_applies_the_role_and_the_ledger_names_the_person(staff: World) -> None:
    w = staff
    contacts = f"/v1/supply-points/{POINT}/customer"
    r = w.client.get(contacts, headers=w.headers("kato", P4))
    assert r.status_code == 403 and r.json()["reason"] == "relation_missing", r.text
    assert _latest(w)["acting_user"] == "kato"  # field staff: not assigned to the open order
    orders = w.client.get("/v1/work-orders?open=true", headers=w.headers("sato")).json()
    order = next(o["order_id"] for o in orders["orders"])
    staff = f"/v1/work-orders/{order}/staff"
    r = w.client.post(staff, json={"user": "kato"}, headers=w.headers("kato"))
    assert r.status_code == 403, "field staff do not assign themselves"
    r = w.client.post(staff, json={"user": "ito"}, headers=w.headers("sato"))
    assert r.status_code == 422, "orders are assigned to field staff"
    r = w.client.post(staff, json={"user": "Kato"}, headers=w.headers("sato"))
    assert r.status_code == 200 and r.json()["state"] == "assigned", r.text
    assert _latest(w)["rule_id"] == f"work_order:assign:{order}:kato"
    r = w.client.get(contacts, headers=w.headers("kato", P4))
    assert r.status_code == 200, r.text  # field staff, P4, assigned to the open order
    assert _latest(w)["acting_user"] == "kato"
    r = w.client.delete(f"{staff}/kato", headers=w.headers("sato"))
    assert r.status_code == 200 and r.json()["state"] == "unassigned", r.text
    assert w.client.get(contacts, headers=w.headers("kato", P4)).status_code == 403
    r = w.client.get(contacts, headers=w.headers("sato", P4))
    assert r.status_code == 200 and _latest(w)["acting_user"] == "sato"
    r = w.client.get(contacts, headers=w.headers("ito", P4))
    assert r.status_code == 403 and r.json()["reason"] == "role_not_permitted", r.text
    refused = _latest(w)
    assert refused["acting_user"] == "ito" and refused["decision"] == "denied"
    r = w.client.get("/v1/customers/C0001", headers=w.headers("kato", P1))
    assert r.status_code == 403 and r.json()["reason"] == "role_not_permitted", r.text
    r = w.client.get(contacts, headers=w.headers("tso-03", P4))  # the party's system client
    assert r.status_code == 200 and _latest(w).get("acting_user") is None


def test_a_deactivated_users_tokens_stop_at_once(staff: World) -> None:
    w = staff
    contacts = f"/v1/supply-points/{POINT}/customer"
    assert w.client.get(contacts, headers=w.headers("sato", P4)).status_code == 200
    parties.deactivate_user(w.engine, "tso-03", "sato")
    assert w.client.get(contacts, headers=w.headers("sato", P4)).status_code == 401
    assert [u.code for u in parties.list_users(w.engine, "tso-03") if u.deactivated_at] == ["sato"]


def test_a_token_belongs_to_a_user_or_a_client_and_the_database_says_so(staff: World) -> None:
    w = staff
    with pytest.raises(ValidationError, match="not both"):
        parties.issue_token(w.engine, "tso-03", user="sato", client="batch")
    with pytest.raises(NotFound):
        parties.issue_token(w.engine, "tso-03", user="nobody")
    with pytest.raises(ValidationError, match="role"):
        parties.add_user(w.engine, "tso-03", code="x", name="X", role="superuser")
    issued = parties.issue_token(w.engine, "tso-03", client="meter-batch")
    info = parties.list_tokens(w.engine, "tso-03")
    assert {(t.user_code, t.client_name) for t in info if t.token_id == issued.token_id} == {
        (None, "meter-batch")
    }
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError), w.engine.begin() as conn:
        conn.execute(
            insert(api_token).values(
                id="f" * 16,
                party_code="tso-03",
                token_hash="0" * 64,
                label="",
                created_at=now,
                expires_at=now + timedelta(days=1),
                user_code=None,
                client_name=None,
            )
        )


def _entry(
    user: str, at: datetime, *, denied: bool = False, items: tuple[str, ...] = ("name",)
) -> LedgerEntry:
    return LedgerEntry(
        party="tso-03",
        purpose=P4,
        action="read",
        decision="denied" if denied else "allowed",
        supply_point_id=POINT,
        items_granted=() if denied else items,
        items_refused=tuple(RefusedItem(i, "relation_missing") for i in items) if denied else (),
        rule_id="P4-tso-field-work",
        request_id=f"r-{user}",
        recorded_at=at,
        acting_user=user,
    )


def test_the_anomaly_report_finds_what_was_seeded(registered: World) -> None:
    # Noon JST on 2026-11-10 onwards: a week of ordinary work by four people, and one of them
    # (yamada) reading at night, far more than the others, and probing beyond the orders.
    noon = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)
    with UnitOfWork(registered.engine) as u:
        for i, user in enumerate(("abe", "baba", "chiba")):
            for k in range(10):
                append(u.connection, _entry(user, noon + timedelta(minutes=10 * k + i)))
        for k in range(60):
            append(u.connection, _entry("yamada", noon + timedelta(minutes=k)))
        for k in range(6):  # 02:00 JST, refused: no order opened these
            append(
                u.connection, _entry("yamada", noon + timedelta(hours=14, minutes=k), denied=True)
            )
        append(u.connection, _entry("yamada", noon + timedelta(hours=14, minutes=30)))
    report = an.run_report(
        registered.engine,
        since=noon - timedelta(days=1),
        until=noon + timedelta(days=1),
        thresholds=an.Thresholds(),
    )
    kinds = {(f.user, f.kind) for f in report.findings}
    assert kinds == {
        ("yamada", "contact_outside_orders"),
        ("yamada", "refusal_run"),
        ("yamada", "unusual_hours"),
        ("yamada", "volume_vs_peers"),
    }
    by_kind = {f.kind: f.value for f in report.findings}
    assert by_kind["contact_outside_orders"] == 6 and by_kind["refusal_run"] == 6
    assert by_kind["unusual_hours"] == 1 and by_kind["volume_vs_peers"] == 61
    assert report.users == 4
    with registered.engine.connect() as conn:
        recorded = conn.execute(
            text("SELECT count(*) FROM access_ledger WHERE purpose = 'audit:anomalies'")
        ).scalar_one()
    assert recorded == 1
    with pytest.raises(ValidationError):
        an.thresholds_from({"JOINTUSE_ANOMALY_NIGHT_HOURS": "late"})


def test_auditors_read_their_partys_anomalies_over_http_and_others_are_refused(
    staff: World,
) -> None:
    w = staff
    # Probing beyond the orders: six refused contact reads by a field staff user not assigned.
    for _ in range(6):
        r = w.client.get(f"/v1/supply-points/{POINT}/customer", headers=w.headers("kato", P4))
        assert r.status_code == 403
    r = w.client.get("/v1/audit/anomalies", headers=w.headers("ito"))
    assert r.status_code == 200, r.text
    found = {(f["user"], f["kind"]): f["value"] for f in r.json()["findings"]}
    assert found[("kato", "contact_outside_orders")] == 6
    assert found[("kato", "refusal_run")] == 6
    assert {f["party"] for f in r.json()["findings"]} == {"tso-03"}
    assert _latest(w)["rule_id"] == "audit:anomalies" and _latest(w)["acting_user"] == "ito"
    r = w.client.get("/v1/audit/anomalies", headers=w.headers("sato"))
    assert r.status_code == 403 and r.json()["reason"] == "role_not_permitted", r.text
    refused = _latest(w)
    assert refused["decision"] == "denied" and refused["acting_user"] == "sato"
    before = w.counts()["access_ledger"]
    r = w.client.get("/v1/audit/anomalies?since=2026-12-01T00:00", headers=w.headers("ito"))
    assert r.status_code == 422 and "since" in r.text, r.text
    assert w.counts()["access_ledger"] == before + 1  # the refusal, on the ledger
