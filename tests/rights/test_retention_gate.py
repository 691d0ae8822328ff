"""Erasure at the end of retention goes through the gate: the platform operator (party kind
``platform``, not a joint user) writes the placeholders under ``retention_erasure``, and the gate
derives ``retention_due`` from the contracts and the period itself — not from the run's plan."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from jointuse.access.gate import PolicyDenied
from jointuse.access.relations import RelationContext, TargetRef, jst_midnight
from jointuse.assembly import build_gate, default_gate
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ConfigError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import repository as customers_repo
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.ledger.service import find_entries, verify
from jointuse.policy.check import check_policy
from jointuse.policy.engine import Party
from jointuse.policy.loader import load_policy
from jointuse.policy.render import render_notice
from jointuse.retention import service as retention
from jointuse.retention.config import RetentionPolicy
from seeding import seed_contract

ENDED = "0311112222333344446666"
OPEN = "0311112222333344447777"
POLICY = RetentionPolicy(basic=30, ledger=10_000)
PLATFORM = retention.PLATFORM


def _customer(cid: str) -> Customer:
    return Customer.create(
        customer_id=cid,
        name="保存 太郎",
        name_kana="ホゾンタロウ",
        postal_code="100-0001",
        prefecture="東京都",
        address_rest="千代田区千代田1-1",
        phone="03-1234-5678",
        membership="non_member",
    )


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """c-ended: r-a's contract ended 2024-04-01 (due 30 days later, 2024-05-01);
    c-open: r-a's contract still open."""
    for point in (ENDED, OPEN):
        with UnitOfWork(engine) as u:
            customers.save_supply_point(
                u,
                gate=default_gate(),
                actor=Party("tso-03", "tso"),
                point=SupplyPoint(
                    supply_point_id=SupplyPointId(point),
                    supply_area="03",
                    service_menu="lv_metered_lighting_b",
                    supply_method="single_phase_3_wire",
                    capacity_determination_method="ampere_breaker",
                    contract_state="active",
                ),
                request_id="sp",
                at=datetime(2022, 1, 1, tzinfo=UTC),
            )
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            _customer("c-ended"),
            RetailContract(
                "END-1", ContractKind.STANDARD, "r-a", "c-ended", SupplyPointId(ENDED),
                date(2022, 4, 1), date(2024, 4, 1),
            ),
            at=datetime(2022, 4, 1, tzinfo=UTC),
        )  # fmt: skip
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            _customer("c-open"),
            RetailContract(
                "OPEN-1", ContractKind.STANDARD, "r-a", "c-open", SupplyPointId(OPEN),
                date(2022, 4, 1),
            ),
            at=datetime(2022, 4, 1, tzinfo=UTC),
        )  # fmt: skip
    return engine


def _erase(engine: Engine, actor: Party, target: TargetRef, at: datetime) -> None:
    def change(ctx: RelationContext) -> dict[str, object]:
        raise AssertionError("the gate ran a change it should have refused")

    with UnitOfWork(engine) as u:
        build_gate(retention=POLICY).write(
            u,
            actor=actor,
            purpose=retention.ERASURE_PURPOSE,
            target=target,
            items=frozenset(retention.BASIC_ITEMS),
            request_id="try-erase",
            at=at,
            change=change,
        )


def _name(engine: Engine, cid: str) -> str:
    with UnitOfWork(engine, read_only=True) as u:
        c = customers_repo.get_customer(u.connection, cid)
    assert c is not None
    return c.name


def test_the_gate_itself_refuses_erasure_before_the_period_or_with_an_open_contract(
    seeded: Engine,
) -> None:
    engine = seeded
    cases = [
        (PLATFORM, TargetRef(customer_id="c-ended"), jst_midnight(date(2024, 4, 30))),
        (PLATFORM, TargetRef(customer_id="c-open"), jst_midnight(date(2030, 1, 1))),
        # erasure is of a customer: a target naming the point gives no relation
        (
            PLATFORM,
            TargetRef(supply_point_id=ENDED, customer_id="c-ended"),
            jst_midnight(date(2024, 6, 1)),
        ),
        # the former retailer is a joint user; no rule lets it erase under retention
        (
            Party("r-a", "retailer"),
            TargetRef(customer_id="c-ended"),
            jst_midnight(date(2024, 6, 1)),
        ),
    ]
    for actor, target, at in cases:
        with pytest.raises(PolicyDenied):
            _erase(engine, actor, target, at)
    with UnitOfWork(engine, read_only=True) as u:
        refused = find_entries(u.connection, purpose="retention_erasure", decision="denied")
    assert len(refused) == len(cases)  # every refusal on the ledger
    assert {r.entry.party for r in refused} == {"jointuse-operator", "r-a"}
    assert _name(engine, "c-ended") == _name(engine, "c-open") == "保存\u3000太郎"


def test_the_run_erases_through_the_gate_on_the_day_and_not_before(seeded: Engine) -> None:
    engine = seeded
    assert retention.run(engine, POLICY, today=date(2024, 4, 30)).due == []
    result = retention.run(engine, POLICY, today=date(2024, 5, 1))
    assert result.refused == []
    assert result.done == {"basic": 1, "ledger": 0, "account": 0}
    assert _name(engine, "c-ended") == retention.ERASED_NAME
    assert _name(engine, "c-open") == "保存\u3000太郎"
    with UnitOfWork(engine, read_only=True) as u:
        (entry,) = find_entries(u.connection, purpose="retention_erasure")
    e = entry.entry
    assert (e.party, e.action, e.decision, e.rule_id) == (
        "jointuse-operator", "write", "allowed", "retention-basic",
    )  # fmt: skip
    assert set(e.items_granted) == {"name", "address", "phone"}
    assert retention.run(engine, POLICY, today=date(2024, 5, 2)).due == []
    assert verify(engine).ok


def test_an_operator_policy_without_the_rule_refuses_and_the_run_reports_it(
    seeded: Engine, tmp_path: Path
) -> None:
    """The run does not decide by itself: a policy that grants nothing to the platform leaves
    the data as it is, with the refusal on the ledger and in the result."""
    text = Path(str(load_policy().source)).read_text(encoding="utf-8")
    start = text.index('[[rule]]\nid = "retention-basic"')
    end = text.index("[[rule]]", start + 1)
    path = tmp_path / "policy.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    gate = build_gate(load_policy(path), retention=POLICY)
    result = retention.run(seeded, POLICY, gate=gate, today=date(2024, 5, 1))
    assert result.done["basic"] == 0
    assert [(d.customer_id, d.category) for d, _ in result.refused] == [("c-ended", "basic")]
    assert _name(seeded, "c-ended") == "保存\u3000太郎"
    with UnitOfWork(seeded, read_only=True) as u:
        (entry,) = find_entries(u.connection, purpose="retention_erasure")
    assert entry.entry.decision == "denied"


def test_the_platform_is_no_joint_user_of_the_notice_and_may_not_have_a_joint_purpose(
    tmp_path: Path,
) -> None:
    policy = load_policy()
    for lang in ("ja", "en"):
        notice = render_notice(policy, lang=lang, fmt="txt")
        platform = next(k for k in policy.party_kinds if k.key == "platform")
        assert platform.label(lang) not in notice
    assert not [f for f in check_policy(policy).findings if f.severity == "error"]
    text = Path(str(policy.source)).read_text(encoding="utf-8")
    bad = text.replace(
        'id = "retention-basic"\npurpose = "retention_erasure"',
        'id = "retention-basic"\npurpose = "P1_wheeling"',
    )
    assert bad != text
    path = tmp_path / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    findings = check_policy(load_policy(path)).findings
    assert [f.code for f in findings if f.severity == "error"] == ["outside-party-joint-purpose"]
    # a party kind of joint use still needs its number
    no_number = text.replace('key = "occto"\nnumber = 3\n', 'key = "occto"\n')
    assert no_number != text
    path.write_text(no_number, encoding="utf-8")
    with pytest.raises(ConfigError, match="a party kind of joint use needs its number"):
        load_policy(path)
