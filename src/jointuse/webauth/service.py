"""Web sessions: open (customer by one-time code or passkey, joint user by an API token),
resolve on every request inside the request's unit of work, end. See the package docstring.

Expiry: a session ends :data:`IDLE` after its last request and :data:`ABSOLUTE` after it was
opened (and with the customer session or API token it stands on, whichever comes first). The
cookie value is ``<id>.<secret>``; only the SHA-256 of the whole value is stored. Each session
has its own CSRF token (random, compared in constant time on every form post).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection, Engine, delete, insert, select, update

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError
from jointuse.parties import repository as parties_repo
from jointuse.parties import service as parties
from jointuse.parties.tokens import parse_bearer
from jointuse.policy.engine import Party, PartyStatus
from jointuse.rights import identity, passkeys
from jointuse.rights.identity import Account
from jointuse.rights.tables import customer_account, customer_session
from jointuse.webauth.tables import web_session

IDLE = timedelta(minutes=15)
ABSOLUTE = timedelta(hours=8)
_COOKIE = re.compile(r"([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
_T = TypeVar("_T")


class SessionEnded(JointuseError):
    """No valid web session: never had one, signed out, idle too long, or past its end."""

    code = "session_ended"
    status = 401


@dataclass(frozen=True, slots=True)
class Opened:
    """A new session: the cookie value (give it to the browser once) and its CSRF token."""

    cookie: str
    csrf_token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"Opened(expires_at={self.expires_at!r})"


@dataclass(frozen=True, slots=True)
class WebSession:
    """The session of one request: a customer (``account``) or a joint user (``party``)."""

    id: str
    kind: str
    csrf_token: str
    expires_at: datetime
    account: Account | None = None
    party: Party | None = None

    def csrf_matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token, str(presented))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _open(conn: Connection, at: datetime, ends: datetime, **who: str | None) -> Opened:
    session_id = secrets.token_hex(8)
    cookie = f"{session_id}.{secrets.token_urlsafe(32)}"
    csrf = secrets.token_urlsafe(32)
    expires = min(ends, at + ABSOLUTE)
    # Sessions ended a day ago are of no use to anyone: each sign-in sweeps them (indexed).
    conn.execute(delete(web_session).where(web_session.c.expires_at < at - timedelta(days=1)))
    conn.execute(
        insert(web_session),
        {
            "id": session_id,
            "secret_hash": _hash(cookie),
            "csrf_token": csrf,
            "created_at": at,
            "last_seen_at": at,
            "expires_at": expires,
            "revoked_at": None,
            "account_id": None,
            "customer_session_id": None,
            "party_code": None,
            "token_id": None,
            **who,
        },
    )
    return Opened(cookie, csrf, expires)


def open_customer(
    engine: Engine, *, email: str, code: str, purpose: str, at: datetime, source: str | None
) -> Opened:
    """Confirm a sign-in (or enrolment: ``purpose``) code
    (:func:`jointuse.rights.identity.confirm`, with its lockout and events) and open a web
    session on the customer session it makes — one transaction."""
    with UnitOfWork(engine) as uow:
        made = identity.confirm(uow, email=email, code=code, purpose=purpose, at=at, source=source)
        session_id = made.bearer.removeprefix("jc_").split(".", 1)[0]
        return _open(
            uow.connection,
            at,
            made.expires_at,
            kind="customer",
            account_id=made.account.id,
            customer_session_id=session_id,
        )


def open_customer_by_passkey(
    engine: Engine,
    *,
    binding: str,
    rp: passkeys.RelyingParty,
    credential: object,
    at: datetime,
    source: str | None,
) -> Opened:
    """Verify a passkey sign-in (:func:`jointuse.rights.passkeys.sign_in`, with its lockout and
    events) and open a web session on the customer session it makes — one transaction."""
    with UnitOfWork(engine) as uow:
        made = passkeys.sign_in(
            uow, binding=binding, rp=rp, credential=credential, at=at, source=source
        )
        session_id = made.bearer.removeprefix("jc_").split(".", 1)[0]
        return _open(
            uow.connection,
            at,
            made.expires_at,
            kind="customer",
            account_id=made.account.id,
            customer_session_id=session_id,
        )


def open_party(engine: Engine, *, token: str, at: datetime) -> Opened:
    """Exchange a party's API token (``ju_…``) for a console session: the token is checked as
    the API checks it (:func:`jointuse.parties.service.authenticate`, 401 if not valid); the
    session keeps the token's ID and checks it again on every request."""
    with UnitOfWork(engine) as uow:
        party = parties.authenticate(
            uow.connection, bearer=token, client_cert_fingerprint=None, at=at
        )
        token_id, _secret = parse_bearer(token)
        return _open(
            uow.connection,
            at,
            at + ABSOLUTE,
            kind="party",
            party_code=party.code,
            token_id=token_id,
        )


def resolve(conn: Connection, cookie: str | None, at: datetime) -> WebSession:
    """The session a cookie value names, checked and touched (idle clock restarts), else
    :class:`SessionEnded`."""
    found = _COOKIE.fullmatch(cookie or "")
    row = None
    if found is not None:
        row = conn.execute(select(web_session).where(web_session.c.id == found.group(1))).first()
    ended = SessionEnded("sign in again: the session has ended", reason="session_ended")
    if row is None or cookie is None:
        raise ended
    m = row._mapping
    if (
        not hmac.compare_digest(m["secret_hash"], _hash(cookie))
        or m["revoked_at"] is not None
        or m["expires_at"] <= at
        or m["last_seen_at"] + IDLE <= at
    ):
        raise ended
    account: Account | None = None
    party: Party | None = None
    if m["kind"] == "customer":
        cs = conn.execute(
            select(customer_session.c.revoked_at, customer_session.c.expires_at).where(
                customer_session.c.id == m["customer_session_id"]
            )
        ).first()
        if cs is None or cs.revoked_at is not None or cs.expires_at <= at:
            raise ended
        email = conn.execute(
            select(customer_account.c.email).where(customer_account.c.id == m["account_id"])
        ).scalar_one_or_none()
        if email is None:
            raise ended
        account = Account(m["account_id"], email)
    else:
        token = parties_repo.token_credentials(conn, m["token_id"], at)
        if (
            token is None
            or token.code != m["party_code"]
            or token.status is None
            or token.user_deactivated_at is not None
        ):
            raise ended
        party = Party(
            code=token.code,
            kind=token.kind,
            status=PartyStatus(token.status),
            user=token.user_code,
            role=token.role,
        )
    conn.execute(update(web_session).where(web_session.c.id == m["id"]).values(last_seen_at=at))
    return WebSession(
        id=m["id"],
        kind=m["kind"],
        csrf_token=m["csrf_token"],
        expires_at=m["expires_at"],
        account=account,
        party=party,
    )


def within(
    engine: Engine,
    cookie: str | None,
    at: datetime,
    use_case: Callable[[UnitOfWork, WebSession], _T],
) -> _T:
    """Run one page's use case in one unit of work, after resolving its session on it."""
    with UnitOfWork(engine) as uow:
        return use_case(uow, resolve(uow.connection, cookie, at))


def party_of(cookie: str | None, at: datetime) -> Callable[[Connection], Party]:
    """An authenticator for :func:`jointuse.access.refusals.record_refusal`: the console
    session's party, resolved on the refusal's own transaction."""

    def authenticate(conn: Connection) -> Party:
        session = resolve(conn, cookie, at)
        if session.party is None:
            raise SessionEnded("not a joint user's session", reason="session_ended")
        return session.party

    return authenticate


def close(engine: Engine, cookie: str | None, at: datetime) -> None:
    """Sign out: the web session, and the customer session it stands on, are revoked."""
    found = _COOKIE.fullmatch(cookie or "")
    if found is None:
        return
    with UnitOfWork(engine) as uow:
        conn = uow.connection
        row = conn.execute(select(web_session).where(web_session.c.id == found.group(1))).first()
        if row is None or not hmac.compare_digest(row._mapping["secret_hash"], _hash(cookie or "")):
            return
        conn.execute(
            update(web_session)
            .where(web_session.c.id == row._mapping["id"], web_session.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        if row._mapping["customer_session_id"]:
            conn.execute(
                update(customer_session)
                .where(
                    customer_session.c.id == row._mapping["customer_session_id"],
                    customer_session.c.revoked_at.is_(None),
                )
                .values(revoked_at=at)
            )
