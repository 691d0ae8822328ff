"""The world of the web tests (both backends), built through the use cases: Tokyo's TSO
(tso-03) registered point A; r-old supplies 山田 太郎 (c-old) there under OLD-1 since 2024;
r-new files a switch of A, so a 廃止取次 waits for r-old's judgement; the ledger holds some
history of uses of A (for the access record's chart). Tokens for r-old and tso-03; a real
SMTP sink for the customer's codes; a ledger key, sealed and one signed checkpoint; occto as the
auditor; the app as ``jointuse serve`` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.assembly import default_gate
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import MailSink, mail_sink
from jointuse.customers import service as customers
from jointuse.customers.model import Address, ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.flows.filing import SwitchFiling, file_switch
from jointuse.flows.steps import judge_forwarding
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.checkpoint import create_checkpoint
from jointuse.ledger.keys import LedgerKey, bind_key
from jointuse.ledger.service import append, seal_all
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from seeding import seed_contract

A = "0312345678901234567890"
A_PRINTED = "03-1234-5678-9012-3456-7890"
EMAIL = "yamada@example.jp"


@dataclass
class Site:
    app: object
    engine: Engine
    sink: MailSink
    retailer_token: str
    tso_token: str
    auditor_token: str
    forwarding_id: str
    flow_id: str


def _customer(cid: str, name: str, phone: str) -> Customer:
    return Customer.create(
        customer_id=cid,
        name=name,
        name_kana="ヤマダ タロウ",
        postal_code="100-0001",
        prefecture="東京都",
        address_rest="千代田区千代田1-2-3",
        phone=phone,
        membership="non_member",
    )


def build_site(engine: Engine, mailer: object, now: datetime) -> dict[str, str]:
    key = LedgerKey.generate()
    bind_key(engine, key)  # as `jointuse serve` does: every entry MACed, checkpoints signed
    gate = default_gate()
    t0 = datetime(2023, 12, 1, tzinfo=UTC)
    parties.seed_reference_parties(engine, t0)
    for code, meti in (("r-old", "A0101"), ("r-new", "A0102")):
        parties.add_party(
            engine,
            code=code,
            kind="retailer",
            name_ja=f"{'みらい' if code == 'r-old' else 'あたらし'}電力",
            name_en=f"{'Mirai' if code == 'r-old' else 'Atarashi'} Power",
            meti_registration=meti,
            at=t0,
        )
    spid = SupplyPointId(A)
    with UnitOfWork(engine) as u:
        customers.save_supply_point(
            u,
            gate=gate,
            actor=Party("tso-03", "tso"),
            point=SupplyPoint(
                supply_point_id=spid,
                supply_area=spid.area_code,
                service_menu="lv_metered_lighting_b",
                supply_method="single_phase_3_wire",
                capacity_determination_method="ampere_breaker",
                contract_state="active",
                current_limit=30,
                meter_reading_day=10,
            ),
            request_id="sp-a",
            at=t0,
        )
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            _customer("c-old", "山田 太郎", "03-1111-2222"),
            RetailContract(
                "OLD-1", ContractKind.STANDARD, "r-old", "c-old", spid, date(2024, 1, 1)
            ),
            at=t0,
        )
    # Some history of the point (uses by the TSO and the retailer over several months).
    with UnitOfWork(engine) as u:
        for n, (months_ago, party, purpose, items, rule) in enumerate(
            [
                (5, "tso-03", "P4_tso_operations", ("name", "phone"), "P4-tso-field-work"),
                (4, "tso-03", "P4_tso_operations", ("name", "address"), "P4-tso-field-work"),
                (4, "r-old", "P1_wheeling", ("supply_point_id",), "P1-retailer"),
                (2, "r-old", "P1_wheeling", ("current_limit",), "P1-retailer"),
                (1, "tso-03", "P4_tso_operations", ("phone",), "P4-tso-field-work"),
            ]
        ):
            append(
                u.connection,
                LedgerEntry(
                    party=party,
                    purpose=purpose,
                    action="read",
                    decision="allowed",
                    supply_point_id=A,
                    items_granted=items,
                    rule_id=rule,
                    request_id=f"history-{n}",
                    recorded_at=now - timedelta(days=30 * months_ago + 3),
                ),
            )
    # r-new files a switch of A: the 廃止取次 goes to r-old (the forwarded address written
    # another way: the match shows it equivalent).
    with UnitOfWork(engine) as u:
        filed = file_switch(
            u,
            gate=gate,
            actor=Party("r-new", "retailer"),
            filing=SwitchFiling(
                supply_point_id=A_PRINTED,
                customer=_customer("c-new", "山田 太郎", "03-1111-2222"),
                new_contract_number="NEW-1",
                old_contract_number="OLD-1",
                forwarded_name="山田　太郎",
                forwarded_name_kana="ヤマダ タロウ",
                forwarded_address=Address.create(
                    postal_code="100-0001", prefecture="東京都", rest="千代田区千代田一丁目2番3号"
                ),
            ),
            request_id="web-switch",
            at=now,
        )
    seal_all(engine)
    create_checkpoint(engine, key)
    return {
        "auditor_token": parties.issue_token(engine, "occto", at=now).secret,
        "retailer_token": parties.issue_token(engine, "r-old", at=now).secret,
        "tso_token": parties.issue_token(engine, "tso-03", at=now).secret,
        "forwarding_id": filed.forwarding_id or "",
        "flow_id": filed.flow.id,
    }


def matched(site: Site) -> None:
    """r-old answers the 廃止取次 OK: the switch is matched and waits for tso-03's date."""
    with UnitOfWork(site.engine) as u:
        judge_forwarding(
            u,
            gate=default_gate(),
            actor=Party("r-old", "retailer"),
            forwarding_id=site.forwarding_id,
            result="ok",
            reasons=[],
            request_id="t-judge",
            at=datetime.now(UTC),
        )


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    with mail_sink() as (sink, mailer):
        made = build_site(engine, mailer, datetime.now(UTC))
        app = create_app(
            engine=engine,
            run_sealer=False,
            environ={"JOINTUSE_WEB_AUDITORS": "occto"},
            mailer=mailer,
        )
        yield Site(app=app, engine=engine, sink=sink, **made)
