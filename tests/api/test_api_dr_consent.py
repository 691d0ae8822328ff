"""DR agreements are the customer's (issue 9), over HTTP on SQLite and PostgreSQL, with a real
SMTP sink: a contractor's proposal opens nothing; the customer confirms with the code e-mailed
to them, within their own tenure; the scope they agreed to narrows what the gate grants; they
withdraw in one step; every step leaves evidence and ledger entries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import POINT, World
from fastapi.testclient import TestClient
from sqlalchemy import text

from jointuse.app import create_app
from jointuse.core.mail import MailSink, mail_sink
from jointuse.negawatt.consent import WORDING_VERSION, code_in
from jointuse.parties import service as parties

BASE = "/v1/negawatt"
P3 = "P3_supply_point_confirmation"
P5 = "P5_negawatt"
EMAIL = "hanako@customer.example"


class Site:
    def __init__(self, w: World, client: TestClient, sink: MailSink) -> None:
        self.w, self.client, self.sink = w, client, sink

    def dr(self, purpose: str | None = None) -> dict[str, str]:
        return self.w.headers("dr-one", purpose)

    def last_code(self) -> str:
        for message in reversed(self.sink.to(EMAIL)):
            found = code_in(message.body) or _enrol_code(message.body)
            if found:
                return found
        raise AssertionError("no code was mailed")

    def propose(self, **body: Any) -> Any:
        payload = {"customer_id": "C0001", "supply_point_id": POINT, "agreed_on": "2024-05-01"}
        return self.client.post(f"{BASE}/agreements", json={**payload, **body}, headers=self.dr())

    def inquiry(self, *items: str) -> Any:
        return self.client.get(
            f"/v1/supply-points/{POINT}",
            params={"items": ",".join(items)},
            headers=self.dr(P3),
        )


def _enrol_code(body: str) -> str | None:
    found = re.search(r"確認コード: (\d{6})", body)
    return found.group(1) if found else None


@pytest.fixture
def site(registered: World) -> Iterator[tuple[Site, dict[str, str]]]:
    parties.add_party(
        registered.engine,
        code="dr-one",
        kind="dr_contractor",
        name_ja="ネガワット一",
        name_en="Negawatt One",
        contractor_code="DR-ONE",
    )
    registered.tokens["dr-one"] = parties.issue_token(registered.engine, "dr-one").secret
    with mail_sink() as (sink, mailer):
        app = create_app(engine=registered.engine, run_sealer=False, environ={}, mailer=mailer)
        with TestClient(app) as client:
            s = Site(registered, client, sink)
            r = client.post(
                "/v1/me/enrolment",
                json={
                    "contract_number": "OLD-1",
                    "supply_point_id": POINT,
                    "postal_code": "100-0001",
                    "email": EMAIL,
                },
            )
            assert r.status_code == 202, r.text
            r = client.post(
                "/v1/me/enrolment/confirm", json={"email": EMAIL, "code": s.last_code()}
            )
            assert r.status_code == 200, r.text
            yield s, {"Authorization": f"Bearer {r.json()['session']}"}


def test_a_proposal_opens_nothing_until_the_customer_confirms_within_its_scope(
    site: tuple[Site, dict[str, str]],
) -> None:
    s, me = site
    r = s.propose(scope_purposes=[P3], scope_items=["supply_area", "supply_point_id"])
    assert r.status_code == 201 and r.json()["state"] == "proposed", r.text
    agreement = r.json()["agreement_id"]
    mailed = s.sink.to(EMAIL)[-1]
    assert "需要抑制契約" in mailed.subject and agreement in mailed.body
    assert s.inquiry("supply_area").status_code == 403  # the contractor's word alone

    shown = s.client.get("/v1/me/consents", headers=me).json()["consents"]
    assert [c["state"] for c in shown] == ["proposed"]
    assert shown[0]["wording"]["version"] == WORDING_VERSION
    assert (
        "ネガワット一" in shown[0]["wording"]["ja"] and "Negawatt One" in shown[0]["wording"]["en"]
    )

    wrong = s.client.post(
        f"/v1/me/consents/{agreement}/confirm", json={"code": "000000"}, headers=me
    )
    assert wrong.status_code == 409 and wrong.json()["code"] == "consent_refused", wrong.text
    code = s.last_code()
    r = s.client.post(f"/v1/me/consents/{agreement}/confirm", json={"code": code}, headers=me)
    assert r.status_code == 200 and r.json()["state"] == "confirmed", r.text
    again = s.client.post(f"/v1/me/consents/{agreement}/confirm", json={"code": code}, headers=me)
    assert again.status_code == 409  # a used code, a confirmed agreement

    ok = s.inquiry("supply_area", "supply_point_id")
    assert ok.status_code == 200, ok.text
    outside = s.inquiry("supply_area", "contract_state")
    assert outside.status_code == 403, outside.text
    refused = {i["item"]: i["reason"] for i in outside.json()["items_refused"]}
    assert refused == {"contract_state": "outside_scope"}
    p5 = s.client.get(f"{BASE}/supply-points/{POINT}/results", headers=s.dr(P5))
    # A purpose the customer did not agree to: the agreement is no relation for it.
    assert p5.status_code == 403 and p5.json()["reason"] == "relation_missing", p5.text

    r = s.client.post(f"/v1/me/consents/{agreement}/withdraw", headers=me)
    assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
    # P3 only was agreed to: no settling window opens after the withdrawal.
    assert s.inquiry("supply_area").status_code == 403

    with s.w.engine.connect() as conn:
        steps = conn.execute(
            text(
                "SELECT action, by_kind, wording_version FROM dr_consent_evidence"
                " WHERE agreement_id = :a ORDER BY id"
            ),
            {"a": agreement},
        ).all()
        subject = conn.execute(
            text(
                "SELECT rule_id FROM access_ledger WHERE purpose = 'subject:dr_consent'"
                " AND decision = 'allowed' ORDER BY seq"
            )
        ).all()
        refused = conn.execute(
            text(
                "SELECT rule_id FROM access_ledger WHERE purpose = 'subject:dr_consent'"
                " AND decision = 'denied' ORDER BY seq"
            )
        ).all()
    assert [tuple(x) for x in steps] == [
        ("proposed", "contractor", WORDING_VERSION),
        ("confirmed", "customer", WORDING_VERSION),
        ("withdrawn", "customer", WORDING_VERSION),
    ]
    assert [r[0] for r in subject] == [
        "subject:dr_consent:confirmed",
        "subject:dr_consent:withdrawn",
    ]
    # the wrong code and the second confirmation: the customer's refusals are on the ledger too
    assert [r[0] for r in refused] == ["subject:dr_consent:confirmed"] * 2
    log = s.client.get("/v1/me/access-log", headers=me)
    assert log.status_code == 200, log.text


def test_dates_outside_the_customers_tenure_or_in_the_future_are_refused(
    site: tuple[Site, dict[str, str]],
) -> None:
    s, me = site
    future = s.propose(agreed_on="2999-01-01")
    assert future.status_code == 422 and "agreed_on" in future.text, future.text
    # C0001's contract at the point began on 2024-01-01 (the previous occupant's time before).
    early = s.propose(agreed_on="2023-06-01")
    assert early.status_code == 201, early.text
    agreement = early.json()["agreement_id"]
    r = s.client.post(
        f"/v1/me/consents/{agreement}/confirm", json={"code": s.last_code()}, headers=me
    )
    assert r.status_code == 409 and r.json()["reason"] == "agreed_on_before_tenure", r.text
    assert s.inquiry("supply_area").status_code == 403
    # At most one live proposal per contractor, customer and point: a database rule.
    twice = s.propose(agreed_on="2024-02-01")
    assert twice.status_code == 409 and twice.json()["rule"] == "uq_dr_agreement_one_live"
    r = s.client.post(f"/v1/me/consents/{agreement}/decline", headers=me)
    assert r.status_code == 200 and r.json()["state"] == "declined", r.text
    assert s.propose(agreed_on="2024-02-01").status_code == 201


def test_another_customer_cannot_see_or_confirm_the_agreement(
    site: tuple[Site, dict[str, str]],
) -> None:
    s, me = site
    agreement = s.propose().json()["agreement_id"]
    r = s.client.post(f"/v1/me/consents/{agreement}/confirm", json={"code": "1"}, headers={})
    assert r.status_code == 401, r.text
    r = s.client.post(f"/v1/me/consents/{agreement}-x/confirm", json={"code": "123456"}, headers=me)
    assert r.status_code == 404, r.text
