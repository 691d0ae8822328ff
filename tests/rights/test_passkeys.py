"""Passkeys at the service level, on SQLite and PostgreSQL: a customer enrolled by the bill's
details and a code adds a passkey, signs in with it; the refusals (a challenge never issued, one
bound to another browser, a replayed answer, an unknown or removed credential, a counter that
went back, a wrong origin), the lock after repeated failures and the limit on ceremonies begun.

The authenticator is a small software one (``tests/soft_authenticator.py``): it signs what a
real one signs, so py_webauthn verifies it as it verifies a browser's answer."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from jointuse.assembly import default_gate
from jointuse.core.conflicts import Conflict
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import mail_sink
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from jointuse.rights import identity, passkeys
from jointuse.rights.identity import Account, TooManyRequests
from jointuse.rights.passkeys import PasskeyNotAdded, PasskeyRefused, RelyingParty
from jointuse.rights.tables import customer_account, customer_passkey, identity_event
from seeding import seed_contract
from soft_authenticator import SoftAuthenticator, b64

POINT = "0311112222333344445555"
EMAIL = "hanako@example.jp"
RP = RelyingParty(id="portal.example.jp", origin="https://portal.example.jp")
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
SESSION = "web-session-1"  # the adding ceremony's binding (a web session's ID)
BROWSER = "csrf-token-of-the-browser"  # the sign-in ceremony's binding


def _customer() -> Customer:
    return Customer.create(
        customer_id="c-1",
        name="新 花子",
        name_kana="シン ハナコ",
        postal_code="100-0001",
        prefecture="東京都",
        address_rest="千代田区千代田1-1",
        phone="03-1234-5678",
        membership="non_member",
    )


@pytest.fixture
def account(engine: Engine) -> Iterator[Account]:
    """A customer enrolled as the portal enrols them: the bill's details, then the code."""
    parties.seed_reference_parties(engine, datetime(2019, 1, 1, tzinfo=UTC))
    parties.add_party(
        engine,
        code="r-1",
        kind="retailer",
        name_ja="一電力",
        name_en="One Power",
        meti_registration="A0101",
        at=datetime(2019, 1, 1, tzinfo=UTC),
    )
    with UnitOfWork(engine) as u:
        customers.save_supply_point(
            u,
            gate=default_gate(),
            actor=Party("tso-03", "tso"),
            point=SupplyPoint(
                supply_point_id=SupplyPointId(POINT),
                supply_area="03",
                service_menu="lv_metered_lighting_b",
                supply_method="single_phase_3_wire",
                capacity_determination_method="ampere_breaker",
                contract_state="active",
            ),
            request_id="sp",
            at=datetime(2019, 6, 1, tzinfo=UTC),
        )
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            _customer(),
            RetailContract(
                "K-1", ContractKind.STANDARD, "r-1", "c-1", SupplyPointId(POINT), date(2024, 1, 1)
            ),
            at=datetime(2024, 1, 1, tzinfo=UTC),
        )
    with mail_sink() as (sink, mailer):
        with UnitOfWork(engine) as u:
            identity.request_enrolment(
                u,
                mailer,
                contract_number="K-1",
                supply_point_id=POINT,
                postal_code="100-0001",
                email=EMAIL,
                at=T0,
            )
        found = re.search(r"(\d{6})", sink.to(EMAIL)[-1].body)
        assert found is not None
        with UnitOfWork(engine) as u:
            made = identity.confirm(u, email=EMAIL, code=found.group(1), purpose="enrol", at=T0)
        yield made.account


def _add(engine: Engine, account: Account, key: SoftAuthenticator, at: datetime = T0) -> str:
    with UnitOfWork(engine) as u:
        options = passkeys.begin_adding(u, account=account, binding=SESSION, rp=RP, at=at)
    with UnitOfWork(engine) as u:
        added = passkeys.finish_adding(
            u,
            account=account,
            binding=SESSION,
            rp=RP,
            credential=key.create(options),
            label="my phone",
            at=at,
        )
    return added.id


def _options(
    engine: Engine, at: datetime = T0, binding: str = BROWSER, source: str | None = "192.0.2.1"
) -> dict[str, Any]:
    with UnitOfWork(engine) as u:
        return passkeys.begin_sign_in(u, binding=binding, rp=RP, at=at, source=source)


def _sign_in(
    engine: Engine, answer: dict[str, Any], at: datetime = T0, binding: str = BROWSER
) -> identity.Session:
    with UnitOfWork(engine) as u:
        return passkeys.sign_in(u, binding=binding, rp=RP, credential=answer, at=at)


def _outcomes(engine: Engine, kind: str = "passkey_sign_in") -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(identity_event.c.outcome)
                .where(identity_event.c.kind == kind)
                .order_by(identity_event.c.id)
            ).scalars()
        )


def test_a_customer_adds_a_passkey_and_signs_in_with_it(engine: Engine, account: Account) -> None:
    key = SoftAuthenticator(RP.id, RP.origin)
    passkey_id = _add(engine, account, key)
    with engine.connect() as conn:
        listed = passkeys.list_passkeys(conn, account)
    assert [(p.id, p.label, p.last_used_at) for p in listed] == [(passkey_id, "my phone", None)]
    assert _outcomes(engine, "passkey_add") == ["ok"]
    made = _sign_in(engine, key.get(_options(engine)), at=T0 + timedelta(minutes=1))
    assert made.account == account
    with UnitOfWork(engine) as u:  # the session it gives is a customer session like a code's
        assert (
            identity.authenticate(u.connection, made.bearer, T0 + timedelta(minutes=2)) == account
        )
    with engine.connect() as conn:
        row = conn.execute(select(customer_passkey)).one()._mapping
    assert row["sign_count"] == 1 and row["last_used_at"] == T0 + timedelta(minutes=1)
    assert _outcomes(engine) == ["ok"]
    # the options offered to a signed-out browser name nobody
    assert "allowCredentials" not in _options(engine) or _options(engine)["allowCredentials"] == []


def test_an_answer_to_a_challenge_never_issued_or_issued_to_another_browser_is_refused(
    engine: Engine, account: Account
) -> None:
    key = SoftAuthenticator(RP.id, RP.origin)
    _add(engine, account, key)
    with pytest.raises(PasskeyRefused):
        _sign_in(engine, key.get({"challenge": b64(os.urandom(32))}))
    options = _options(engine)
    with pytest.raises(PasskeyRefused):  # a challenge of another browser's ceremony
        _sign_in(engine, key.get(options), binding="csrf-token-of-another-browser")
    with pytest.raises(PasskeyRefused):  # expired
        _sign_in(engine, key.get(_options(engine)), at=T0 + passkeys.CHALLENGE_TTL)
    assert _outcomes(engine) == ["bad_challenge"] * 3


def test_a_replayed_answer_and_a_counter_that_went_back_are_refused(
    engine: Engine, account: Account
) -> None:
    key = SoftAuthenticator(RP.id, RP.origin)
    _add(engine, account, key)
    answer = key.get(_options(engine))
    _sign_in(engine, answer)
    with pytest.raises(PasskeyRefused):  # the same answer again: its challenge is used
        _sign_in(engine, answer)
    with pytest.raises(PasskeyRefused):  # a fresh challenge, but the counter of a clone
        _sign_in(engine, key.get(_options(engine), count=1))
    assert _outcomes(engine) == ["ok", "bad_challenge", "sign_count_regressed"]
    _sign_in(engine, key.get(_options(engine), count=7))  # the real one goes on
    with engine.connect() as conn:
        assert conn.execute(select(customer_passkey.c.sign_count)).scalar_one() == 7


def test_an_unknown_and_a_removed_credential_sign_nobody_in(
    engine: Engine, account: Account
) -> None:
    stranger = SoftAuthenticator(RP.id, RP.origin)
    stranger.user_handle = b64(account.id.encode())
    with pytest.raises(PasskeyRefused):
        _sign_in(engine, stranger.get(_options(engine)))
    key = SoftAuthenticator(RP.id, RP.origin)
    passkey_id = _add(engine, account, key)
    with UnitOfWork(engine) as u, pytest.raises(NotFound):
        passkeys.remove(
            u, account=Account("someone-else", "x@example.jp"), passkey_id=passkey_id, at=T0
        )
    with UnitOfWork(engine) as u:
        passkeys.remove(u, account=account, passkey_id=passkey_id, at=T0)
    with pytest.raises(PasskeyRefused):
        _sign_in(engine, key.get(_options(engine)))
    assert _outcomes(engine) == ["unknown_credential", "unknown_credential"]
    assert _outcomes(engine, "passkey_remove") == ["ok"]
    with engine.connect() as conn:
        assert passkeys.list_passkeys(conn, account) == []
        unknown = (
            conn.execute(
                select(identity_event.c.account_id).where(
                    identity_event.c.kind == "passkey_sign_in"
                )
            )
            .scalars()
            .all()
        )
    assert unknown == [None, None]  # an unknown credential names no account


def test_an_answer_from_another_origin_is_refused_and_failures_lock_the_account(
    engine: Engine, account: Account
) -> None:
    key = SoftAuthenticator(RP.id, RP.origin)
    _add(engine, account, key)
    phishing = SoftAuthenticator(RP.id, "https://portal.example.jp.evil.example")
    phishing.key, phishing.credential_id, phishing.user_handle = (
        key.key,
        key.credential_id,
        key.user_handle,
    )
    for _ in range(identity.LOCK_AFTER):
        with pytest.raises(PasskeyRefused):
            _sign_in(engine, phishing.get(_options(engine)))
    with engine.connect() as conn:
        locked_until = conn.execute(select(customer_account.c.locked_until)).scalar_one()
    assert locked_until == T0 + identity.LOCK_FOR
    with pytest.raises(PasskeyRefused):  # locked: even the right answer is refused
        _sign_in(engine, key.get(_options(engine), count=100))
    assert _outcomes(engine) == ["invalid"] * identity.LOCK_AFTER + ["locked"]
    later = T0 + identity.LOCK_FOR + timedelta(seconds=1)
    _sign_in(engine, key.get(_options(engine, at=later), count=101), at=later)
    with engine.connect() as conn:
        assert conn.execute(select(customer_account.c.failed_attempts)).scalar_one() == 0


def test_adding_refuses_a_foreign_origin_and_a_replay_and_keeps_nothing(
    engine: Engine, account: Account
) -> None:
    wrong = SoftAuthenticator(RP.id, "https://evil.example")
    with UnitOfWork(engine) as u:
        options = passkeys.begin_adding(u, account=account, binding=SESSION, rp=RP, at=T0)
    with UnitOfWork(engine) as u, pytest.raises(PasskeyNotAdded):
        passkeys.finish_adding(
            u,
            account=account,
            binding=SESSION,
            rp=RP,
            credential=wrong.create(options),
            label="",
            at=T0,
        )
    key = SoftAuthenticator(RP.id, RP.origin)
    with UnitOfWork(engine) as u, pytest.raises(PasskeyNotAdded):  # that challenge is used
        passkeys.finish_adding(
            u,
            account=account,
            binding=SESSION,
            rp=RP,
            credential=key.create(options),
            label="",
            at=T0,
        )
    with UnitOfWork(engine) as u, pytest.raises(PasskeyNotAdded):
        passkeys.finish_adding(
            u, account=account, binding=SESSION, rp=RP, credential={"id": 1}, label="", at=T0
        )
    with engine.connect() as conn:
        assert passkeys.list_passkeys(conn, account) == []
    assert _outcomes(engine, "passkey_add") == ["invalid", "bad_challenge", "malformed"]


def test_sign_in_ceremonies_from_one_source_are_limited(engine: Engine, account: Account) -> None:
    for _ in range(passkeys.SIGN_INS_PER_HOUR):
        _options(engine)
    with pytest.raises(TooManyRequests):
        _options(engine)
    _options(engine, source="198.51.100.7")  # another source is not held back
    _options(engine, at=T0 + timedelta(hours=1, seconds=1))  # nor this one an hour later


def test_a_passkey_is_added_once(engine: Engine, account: Account) -> None:
    key = SoftAuthenticator(RP.id, RP.origin)
    _add(engine, account, key)
    with pytest.raises(Conflict) as refused:
        _add(engine, account, key)  # an authenticator that ignores excludeCredentials
    assert refused.value.status == 409 and refused.value.rule == passkeys.ONE_PASSKEY_RULE
    assert _outcomes(engine, "passkey_add") == ["ok", "duplicate"]
    with engine.connect() as conn:
        assert len(passkeys.list_passkeys(conn, account)) == 1
