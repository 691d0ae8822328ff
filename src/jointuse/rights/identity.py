"""The customer's identity: enrolment with what is printed on the bill, one-time codes by e-mail,
sessions; lockout and rate limits against guessing; every attempt recorded.

Enrolment (本人確認)
    The customer gives the contract number (契約番号), the supply point ID (供給地点特定番号) and
    the postal code of the supply address, as printed on their bill or meter-reading slip, and
    an e-mail address. When the three match a retail contract, a six-digit code is sent to the
    address; the answer is the same whether they match or not, so the form tells nobody whether
    a contract exists. Confirming the code creates the account (or adds the contract to the
    account of that address) and signs in. The match is recorded on the ledger (the platform
    read the contract and the customer's postal code to verify: ``subject:enrolment``).

Sign-in
    A code to the address of an existing account (same answer otherwise); confirming it gives a
    session bearer (``jc_<id>.<secret>``, hash stored, :data:`SESSION_TTL`, revocable). In the
    portal a passkey the customer added signs them in too (:mod:`jointuse.rights.passkeys`, the
    same lock and the same record).

Against guessing
    A code expires after :data:`CODE_TTL` and allows :data:`CODE_ATTEMPTS` tries; an account
    locks for :data:`LOCK_FOR` after :data:`LOCK_AFTER` failed confirmations; at most
    :data:`SENDS_PER_HOUR` codes per address an hour (429). Every request and confirmation, and
    its outcome, is an ``identity_event`` (the address kept as a hash unless an account holds it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import Mailer
from jointuse.customers import repository as customers
from jointuse.customers.model import PostalCode, normalise_contract_number
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.rights.tables import (
    account_link,
    customer_account,
    customer_passkey,
    customer_session,
    identity_event,
    one_time_code,
    passkey_challenge,
)

CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
SENDS_PER_HOUR = 5
SESSION_TTL = timedelta(hours=12)
PLATFORM = "jointuse-operator"
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_SESSION = re.compile(r"jc_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")


class CodeRefused(JointuseError):
    """A wrong, expired or used code, or a locked account: one answer for all (401)."""

    code = "code_refused"
    status = 401


class TooManyRequests(JointuseError):
    code = "too_many_requests"
    status = 429


class NotSignedIn(JointuseError):
    code = "unauthenticated"
    status = 401


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str


@dataclass(frozen=True, slots=True)
class Link:
    customer_id: str
    supply_point_id: str
    retailer_code: str
    contract_number: str
    valid_from: Any
    valid_to: Any


@dataclass(frozen=True, slots=True)
class Session:
    account: Account
    bearer: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"Session(account={self.account.id!r}, expires_at={self.expires_at!r})"


def normalise_email(text: str) -> str:
    value = unicodedata.normalize("NFKC", text).strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValidationError(
            "email is not an e-mail address", field="email", valid="name@example.jp"
        )
    local, domain = value.rsplit("@", 1)
    domain = domain.lower()
    if domain == "invalid" or domain.endswith(".invalid"):
        raise ValidationError(
            "email: the domain .invalid is reserved (RFC 2606) and receives no mail",
            field="email",
            valid="an address you can receive mail at, e.g. name@example.jp",
        )
    return f"{local}@{domain}"


ERASED_DOMAIN = "erased.invalid"
"""The domain of an erased account's placeholder address: reserved (RFC 2606), so it receives no
mail, and :func:`normalise_email` refuses it, so nobody can sign in or enrol with it."""


def erased_email(account_id: str) -> str:
    """The placeholder that replaces an erased account's e-mail address (unique, like the
    column)."""
    return f"erased-{account_id}@{ERASED_DOMAIN}"


def account_customers(conn: Connection) -> dict[str, tuple[set[str], bool]]:
    """Each account with links: the customer IDs linked to it, and whether it is erased."""
    rows = conn.execute(
        select(
            account_link.c.account_id, account_link.c.customer_id, customer_account.c.email
        ).join(customer_account, customer_account.c.id == account_link.c.account_id)
    ).all()
    out: dict[str, tuple[set[str], bool]] = {}
    for account_id, customer_id, email in rows:
        customers_of, _ = out.setdefault(account_id, (set(), email == erased_email(account_id)))
        customers_of.add(customer_id)
    return out


def erase_account(conn: Connection, account_id: str) -> bool:
    """Erase what identifies a customer's portal account, in the caller's transaction: the
    e-mail address becomes :func:`erased_email`; its sessions (and so its web sessions),
    passkeys, passkey challenges and the codes sent to the address are deleted; the sign-in
    record (``identity_event``) keeps its events but under the placeholder's hash. The account
    row and its links stay: rights requests and usage consents (records the law asks to keep)
    refer to them. False when there is no such account or it is erased already."""
    row = conn.execute(
        select(customer_account.c.email).where(customer_account.c.id == account_id)
    ).first()
    placeholder = erased_email(account_id)
    if row is None or row.email == placeholder:
        return False
    old = row.email
    conn.execute(
        update(identity_event)
        .where(
            or_(
                identity_event.c.account_id == account_id,
                identity_event.c.email_hash == hash_text(old),
            )
        )
        .values(email_hash=hash_text(placeholder))
    )
    conn.execute(delete(one_time_code).where(one_time_code.c.email == old))
    conn.execute(delete(customer_session).where(customer_session.c.account_id == account_id))
    conn.execute(delete(customer_passkey).where(customer_passkey.c.account_id == account_id))
    conn.execute(delete(passkey_challenge).where(passkey_challenge.c.account_id == account_id))
    conn.execute(
        update(customer_account)
        .where(customer_account.c.id == account_id)
        .values(email=placeholder, failed_attempts=0, locked_until=None)
    )
    return True


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record_event(
    conn: Connection,
    *,
    email: str,
    kind: str,
    outcome: str,
    at: datetime,
    source: str | None,
    account_id: str | None = None,
) -> None:
    conn.execute(
        insert(identity_event),
        {
            "account_id": account_id,
            "email_hash": hash_text(email),
            "kind": kind,
            "outcome": outcome,
            "source": (source or "")[:64] or None,
            "at": at,
        },
    )


def _rate_limit(conn: Connection, email: str, at: datetime) -> None:
    sent = conn.execute(
        select(func.count())
        .select_from(one_time_code)
        .where(
            one_time_code.c.email == email,
            one_time_code.c.created_at > at - timedelta(hours=1),
        )
    ).scalar_one()
    if sent >= SENDS_PER_HOUR:
        raise TooManyRequests(
            f"at most {SENDS_PER_HOUR} codes an hour to one address; try again later",
            retry_after=3600,
        )


def _send_code(
    conn: Connection,
    mailer: Mailer,
    *,
    email: str,
    purpose: str,
    payload: dict[str, Any],
    at: datetime,
) -> None:
    code = f"{secrets.randbelow(10**6):06d}"
    code_id = str(uuid.uuid4())
    conn.execute(
        insert(one_time_code),
        {
            "id": code_id,
            "email": email,
            "purpose": purpose,
            "code_hash": hash_text(f"{code_id}:{code}"),
            "payload": json.dumps(payload, sort_keys=True),
            "created_at": at,
            "expires_at": at + CODE_TTL,
            "attempts": 0,
            "used_at": None,
        },
    )
    what = "ご登録" if purpose == "enrol" else "ログイン"
    mailer.send(
        email,
        f"【jointuse】{what}の確認コード / your {purpose.replace('_', '-')} code",
        f"確認コード: {code}\n（{int(CODE_TTL.total_seconds() // 60)}分間有効です）\n\n"
        f"Your code: {code} (valid for {int(CODE_TTL.total_seconds() // 60)} minutes).\n"
        "If you did not ask for it, ignore this message.\n",
    )


def request_enrolment(
    uow: UnitOfWork,
    mailer: Mailer,
    *,
    contract_number: str,
    supply_point_id: str,
    postal_code: str,
    email: str,
    at: datetime,
    source: str | None = None,
) -> None:
    """Send an enrolment code when the bill's details match a contract (same answer if not)."""
    conn = uow.connection
    address = normalise_email(email)
    number = normalise_contract_number(contract_number)
    point = SupplyPointId.parse(supply_point_id).value
    postal = PostalCode.parse(postal_code).value
    _rate_limit(conn, address, at)
    contract = next(
        (
            c
            for c in customers.contracts_for(conn, supply_point_id=point)
            if c.contract_number == number
        ),
        None,
    )
    customer = customers.get_customer(conn, contract.customer_id) if contract else None
    if contract is None or customer is None or customer.address.postal_code.value != postal:
        record_event(
            conn, email=address, kind="enrol_request", outcome="no_match", at=at, source=source
        )
        return
    append(
        conn,
        LedgerEntry(
            party=PLATFORM,
            purpose="subject:enrolment",
            action="read",
            decision="allowed",
            supply_point_id=point,
            customer_id=customer.customer_id,
            items_granted=("address", "contract_number"),
            rule_id="subject:enrolment",
            request_id=f"enrol-{uuid.uuid4().hex[:12]}",
        ),
    )
    _send_code(
        conn,
        mailer,
        email=address,
        purpose="enrol",
        payload={
            "customer_id": customer.customer_id,
            "supply_point_id": point,
            "retailer_code": contract.retailer_code,
            "contract_number": number,
        },
        at=at,
    )
    record_event(conn, email=address, kind="enrol_request", outcome="sent", at=at, source=source)


def request_sign_in(
    uow: UnitOfWork, mailer: Mailer, *, email: str, at: datetime, source: str | None = None
) -> None:
    """Send a sign-in code to the address of an existing account (same answer if none)."""
    conn = uow.connection
    address = normalise_email(email)
    _rate_limit(conn, address, at)
    account = _account(conn, address)
    if account is None:
        record_event(
            conn, email=address, kind="sign_in_request", outcome="no_account", at=at, source=source
        )
        return
    _send_code(conn, mailer, email=address, purpose="sign_in", payload={}, at=at)
    record_event(
        conn,
        email=address,
        kind="sign_in_request",
        outcome="sent",
        at=at,
        source=source,
        account_id=account["id"],
    )


def _account(conn: Connection, email: str) -> Any:
    row = conn.execute(select(customer_account).where(customer_account.c.email == email)).first()
    return row._mapping if row is not None else None


def is_locked(account: Any, at: datetime) -> bool:
    """Whether an account (a ``customer_account`` row's mapping) is locked at ``at``."""
    return account["locked_until"] is not None and bool(account["locked_until"] > at)


def count_failure(conn: Connection, account_id: str, at: datetime) -> None:
    """One more failed proof of the account (a wrong code, a passkey's assertion that does not
    verify): the :data:`LOCK_AFTER`-th locks it for :data:`LOCK_FOR`."""
    failed = (
        conn.execute(
            select(customer_account.c.failed_attempts).where(customer_account.c.id == account_id)
        ).scalar_one()
        + 1
    )
    conn.execute(
        update(customer_account)
        .where(customer_account.c.id == account_id)
        .values(
            failed_attempts=0 if failed >= LOCK_AFTER else failed,
            locked_until=at + LOCK_FOR if failed >= LOCK_AFTER else None,
        )
    )


def clear_failures(conn: Connection, account_id: str) -> None:
    """A successful sign-in: the failed attempts are forgotten, a lock (past) lifted."""
    conn.execute(
        update(customer_account)
        .where(customer_account.c.id == account_id)
        .values(failed_attempts=0, locked_until=None)
    )


def account_by_id(conn: Connection, account_id: str) -> Any:
    row = conn.execute(select(customer_account).where(customer_account.c.id == account_id)).first()
    return row._mapping if row is not None else None


def confirm(
    uow: UnitOfWork,
    *,
    email: str,
    code: str,
    purpose: str,
    at: datetime,
    source: str | None = None,
) -> Session:
    """Check the latest code sent to ``email`` for ``purpose``; on success (enrolment) create the
    account and its link, and sign in. Any failure is the same :class:`CodeRefused` — recorded
    (with the attempt counted) in a transaction of its own, as the refusal is raised."""
    conn = uow.connection
    address = normalise_email(email)
    kind = f"{purpose}_confirm"
    account = _account(conn, address)
    locked = account is not None and is_locked(account, at)
    row = conn.execute(
        select(one_time_code)
        .where(
            one_time_code.c.email == address,
            one_time_code.c.purpose == purpose,
            one_time_code.c.used_at.is_(None),
        )
        .order_by(one_time_code.c.created_at.desc())
        .limit(1)
    ).first()
    digits = unicodedata.normalize("NFKC", code).strip()
    outcome = "ok"
    if locked:
        outcome = "locked"
    elif row is None or row._mapping["expires_at"] <= at:
        outcome = "expired"
    elif row._mapping["attempts"] >= CODE_ATTEMPTS:
        outcome = "too_many_attempts"
    elif not hmac.compare_digest(
        row._mapping["code_hash"], hash_text(f"{row._mapping['id']}:{digits}")
    ):
        outcome = "wrong_code"
    if outcome != "ok":
        if row is not None:
            conn.execute(
                update(one_time_code)
                .where(one_time_code.c.id == row._mapping["id"])
                .values(attempts=one_time_code.c.attempts + 1)
            )
        if account is not None and outcome == "wrong_code":
            count_failure(conn, account["id"], at)
        record_event(
            conn,
            email=address,
            kind=kind,
            outcome=outcome,
            at=at,
            source=source,
            account_id=account["id"] if account is not None else None,
        )
        uow.session.commit()  # the attempt stays counted although the caller is refused
        raise CodeRefused("the code is not valid: ask for a new one", reason="code_refused")
    assert row is not None
    conn.execute(
        update(one_time_code).where(one_time_code.c.id == row._mapping["id"]).values(used_at=at)
    )
    if account is None:
        account_id = str(uuid.uuid4())
        conn.execute(
            insert(customer_account),
            {
                "id": account_id,
                "email": address,
                "created_at": at,
                "failed_attempts": 0,
                "locked_until": None,
            },
        )
    else:
        account_id = account["id"]
        clear_failures(conn, account_id)
    if purpose == "enrol":
        _link(conn, account_id, json.loads(row._mapping["payload"]), at)
    record_event(
        conn, email=address, kind=kind, outcome="ok", at=at, source=source, account_id=account_id
    )
    return new_session(conn, Account(account_id, address), at)


def _link(conn: Connection, account_id: str, payload: dict[str, str], at: datetime) -> None:
    contract = customers.get_contract(conn, payload["retailer_code"], payload["contract_number"])
    if contract is None:
        raise CodeRefused("the contract is gone: enrol again", reason="code_refused")
    exists = conn.execute(
        select(func.count())
        .select_from(account_link)
        .where(
            account_link.c.account_id == account_id,
            account_link.c.customer_id == contract.customer_id,
            account_link.c.supply_point_id == contract.supply_point_id.value,
        )
    ).scalar_one()
    values = {
        "retailer_code": contract.retailer_code,
        "contract_number": contract.contract_number,
        "valid_from": contract.valid_from,
        "valid_to": contract.valid_to,
    }
    if exists:
        conn.execute(
            update(account_link)
            .where(
                account_link.c.account_id == account_id,
                account_link.c.customer_id == contract.customer_id,
                account_link.c.supply_point_id == contract.supply_point_id.value,
            )
            .values(values)
        )
        return
    conn.execute(
        insert(account_link),
        {
            "account_id": account_id,
            "customer_id": contract.customer_id,
            "supply_point_id": contract.supply_point_id.value,
            "linked_at": at,
            **values,
        },
    )


def new_session(conn: Connection, account: Account, at: datetime) -> Session:
    session_id = secrets.token_hex(8)
    bearer = f"jc_{session_id}.{secrets.token_urlsafe(32)}"
    conn.execute(
        insert(customer_session),
        {
            "id": session_id,
            "token_hash": hash_text(bearer),
            "account_id": account.id,
            "created_at": at,
            "expires_at": at + SESSION_TTL,
            "revoked_at": None,
        },
    )
    return Session(account, bearer, at + SESSION_TTL)


def authenticate(conn: Connection, bearer: str | None, at: datetime) -> Account:
    """The account of a valid session bearer (``Bearer jc_…``), else :class:`NotSignedIn`."""
    text = (bearer or "").removeprefix("Bearer ").strip()
    found = _SESSION.fullmatch(text)
    row = None
    if found is not None:
        row = conn.execute(
            select(customer_session, customer_account.c.email)
            .select_from(
                customer_session.join(
                    customer_account, customer_account.c.id == customer_session.c.account_id
                )
            )
            .where(customer_session.c.id == found.group(1))
        ).first()
    if (
        row is None
        or not hmac.compare_digest(row._mapping["token_hash"], hash_text(text))
        or row._mapping["revoked_at"] is not None
        or row._mapping["expires_at"] <= at
    ):
        raise NotSignedIn("sign in: no valid session", reason="session_invalid")
    return Account(row._mapping["account_id"], row._mapping["email"])


def sign_out(conn: Connection, bearer: str, at: datetime) -> None:
    found = _SESSION.fullmatch(bearer.removeprefix("Bearer ").strip())
    if found is not None:
        conn.execute(
            update(customer_session)
            .where(customer_session.c.id == found.group(1), customer_session.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )


def links(conn: Connection, account: Account) -> list[Link]:
    rows = conn.execute(select(account_link).where(account_link.c.account_id == account.id)).all()
    return [
        Link(
            r._mapping["customer_id"],
            r._mapping["supply_point_id"],
            r._mapping["retailer_code"],
            r._mapping["contract_number"],
            r._mapping["valid_from"],
            r._mapping["valid_to"],
        )
        for r in rows
    ]
