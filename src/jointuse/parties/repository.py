"""Every query of the parties registry (SQLAlchemy Core), on the caller's connection.

Functions take the :class:`~sqlalchemy.Connection` (or ORM ``Session``) of a unit of work and
never commit: :mod:`jointuse.parties.service` owns the transactions.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    DateTime,
    Row,
    String,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from jointuse.core.db import HotQuery
from jointuse.core.errors import ValidationError
from jointuse.parties.model import Party, PartyKind, StatusPeriod
from jointuse.parties.tables import (
    api_token,
    client_certificate,
    party,
    party_status,
    party_user,
)
from jointuse.parties.tokens import CertificateInfo, TokenInfo

Target = Session | Connection


def connection_of(target: Target) -> Connection:
    """The Core connection of a session or connection (same transaction)."""
    return target.connection() if isinstance(target, Session) else target


@dataclass(frozen=True, slots=True)
class PartyRecord:
    """A stored party with the registry fields the domain object does not carry."""

    party: Party
    address: str
    representative: str
    created_at: datetime
    country: str = "JP"


# --- parties ------------------------------------------------------------------------------------


def insert_party(
    target: Target,
    p: Party,
    *,
    address: str,
    representative: str,
    created_at: datetime,
    country: str = "JP",
) -> None:
    conn = connection_of(target)
    conn.execute(
        insert(party).values(
            code=p.code,
            kind=p.kind.value,
            name_ja=p.name_ja,
            name_en=p.name_en,
            meti_registration=p.meti_registration,
            contractor_code=p.contractor_code,
            area_code=p.area_code,
            address=address,
            representative=representative,
            created_at=created_at,
            country=country,
        )
    )
    conn.execute(
        insert(party_status),
        [
            {
                "party_code": p.code,
                "status": period.status.value,
                "valid_from": period.valid_from,
                "valid_to": period.valid_to,
                "reason": period.reason,
            }
            for period in p.history
        ],
    )


def party_exists(target: Target, code: str) -> bool:
    row = connection_of(target).execute(select(party.c.code).where(party.c.code == code)).first()
    return row is not None


def _periods(rows: Sequence[Row[Any]]) -> tuple[StatusPeriod, ...]:
    return tuple(
        StatusPeriod(r.status, r.valid_from, r.valid_to, r.reason)
        for r in sorted(rows, key=lambda r: r.valid_from)
    )


def _record(row: Row[Any], history: tuple[StatusPeriod, ...]) -> PartyRecord:
    return PartyRecord(
        party=Party(
            code=row.code,
            kind=PartyKind(row.kind),
            name_ja=row.name_ja,
            name_en=row.name_en,
            history=history,
            meti_registration=row.meti_registration,
            contractor_code=row.contractor_code,
            area_code=row.area_code,
        ),
        address=row.address,
        representative=row.representative,
        created_at=row.created_at,
        country=row.country,
    )


def load_party(target: Target, code: str, *, for_update: bool = False) -> PartyRecord | None:
    """The party ``code`` with its whole status history, or None.

    ``for_update`` locks the party row (PostgreSQL ``FOR UPDATE``; on SQLite the write lock of
    ``BEGIN IMMEDIATE`` already serialises writers) so status changes do not interleave.
    """
    conn = connection_of(target)
    query = select(party).where(party.c.code == code)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    periods = conn.execute(select(party_status).where(party_status.c.party_code == code)).all()
    return _record(row, _periods(periods))


def load_parties(
    target: Target, *, kind: PartyKind | None = None, registered_by: datetime | None = None
) -> list[PartyRecord]:
    """Every party (of ``kind``), ordered by code; with ``registered_by``, only those whose
    first status period starts at or before that moment."""
    conn = connection_of(target)
    query = select(party).order_by(party.c.code)
    status_query = select(party_status)
    if kind is not None:
        query = query.where(party.c.kind == kind.value)
        status_query = status_query.join(party, party.c.code == party_status.c.party_code).where(
            party.c.kind == kind.value
        )
    by_party: dict[str, list[Row[Any]]] = defaultdict(list)
    for r in conn.execute(status_query):
        by_party[r.party_code].append(r)
    records = [_record(row, _periods(by_party[row.code])) for row in conn.execute(query)]
    if registered_by is not None:
        records = [r for r in records if r.party.registered_at <= registered_by]
    return records


def record_status_change(target: Target, before: Party, after: Party) -> None:
    """Store ``after``'s history, which is ``before``'s with its open period closed and one new
    period opened (as :meth:`Party.set_status` makes it)."""
    conn = connection_of(target)
    closed, opened = after.history[-2], after.history[-1]
    current = before.history[-1]
    result = conn.execute(
        update(party_status)
        .where(
            party_status.c.party_code == before.code,
            party_status.c.valid_from == current.valid_from,
            party_status.c.valid_to.is_(None),
        )
        .values(valid_to=closed.valid_to)
    )
    if result.rowcount != 1:
        raise RuntimeError(
            f"status history of party {before.code!r} changed concurrently "
            f"(expected one open period from {current.valid_from.isoformat()})"
        )
    conn.execute(
        insert(party_status).values(
            party_code=after.code,
            status=opened.status.value,
            valid_from=opened.valid_from,
            valid_to=None,
            reason=opened.reason,
        )
    )


# --- tokens -------------------------------------------------------------------------------------


def insert_token(target: Target, info: TokenInfo, token_hash: str) -> None:
    connection_of(target).execute(
        insert(api_token).values(
            id=info.token_id,
            party_code=info.party_code,
            token_hash=token_hash,
            label=info.label,
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            user_code=info.user_code,
            client_name=info.client_name if info.user_code is None else None,
        )
    )


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(
        token_id=row.id,
        party_code=row.party_code,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        user_code=row.user_code,
        client_name=row.client_name,
    )


_TOKEN_COLUMNS = (
    api_token.c.id,
    api_token.c.party_code,
    api_token.c.label,
    api_token.c.created_at,
    api_token.c.expires_at,
    api_token.c.revoked_at,
    api_token.c.user_code,
    api_token.c.client_name,
)


def load_token(target: Target, token_id: str) -> TokenInfo | None:
    row = (
        connection_of(target)
        .execute(select(*_TOKEN_COLUMNS).where(api_token.c.id == token_id))
        .first()
    )
    return None if row is None else _token_info(row)


def load_tokens(target: Target, party_code: str) -> list[TokenInfo]:
    rows = connection_of(target).execute(
        select(*_TOKEN_COLUMNS)
        .where(api_token.c.party_code == party_code)
        .order_by(api_token.c.created_at, api_token.c.id)
    )
    return [_token_info(r) for r in rows]


def mark_token_revoked(target: Target, token_id: str, at: datetime) -> None:
    connection_of(target).execute(
        update(api_token)
        .where(api_token.c.id == token_id, api_token.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


# --- certificates -------------------------------------------------------------------------------


def _certificate_info(row: Any) -> CertificateInfo:
    return CertificateInfo(
        fingerprint=row.fingerprint,
        party_code=row.party_code,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def load_certificate(target: Target, fingerprint: str) -> CertificateInfo | None:
    row = (
        connection_of(target)
        .execute(select(client_certificate).where(client_certificate.c.fingerprint == fingerprint))
        .first()
    )
    return None if row is None else _certificate_info(row)


def load_certificates(target: Target, party_code: str) -> list[CertificateInfo]:
    rows = connection_of(target).execute(
        select(client_certificate)
        .where(client_certificate.c.party_code == party_code)
        .order_by(client_certificate.c.created_at)
    )
    return [_certificate_info(r) for r in rows]


def insert_certificate(target: Target, info: CertificateInfo) -> None:
    connection_of(target).execute(
        insert(client_certificate).values(
            fingerprint=info.fingerprint,
            party_code=info.party_code,
            created_at=info.created_at,
            revoked_at=info.revoked_at,
        )
    )


def mark_certificate_revoked(target: Target, fingerprint: str, at: datetime) -> None:
    connection_of(target).execute(
        update(client_certificate)
        .where(
            client_certificate.c.fingerprint == fingerprint,
            client_certificate.c.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )


# --- authentication (hot path) ------------------------------------------------------------------


def _status_at(at: Any) -> Any:
    return and_(
        party_status.c.party_code == party.c.code,
        party_status.c.valid_from <= at,
        or_(party_status.c.valid_to.is_(None), party_status.c.valid_to > at),
    )


def _moment_value(dialect: str, at: datetime) -> str | datetime:
    """``at`` as the database stores a :class:`UtcDateTime` — converted once per query rather
    than once per occurrence of the parameter (SQLite: UTC text; PostgreSQL: aware UTC)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError(f"moment {at} must be timezone-aware", field="at")
    utc = at.astimezone(UTC)
    if dialect != "sqlite":
        return utc
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}"
    )


def _moment_param(dialect: str) -> Any:
    return bindparam("at", type_=String() if dialect == "sqlite" else DateTime(timezone=True))


class TokenRow(NamedTuple):
    """What authentication needs of a token: its hash, its party, the party's status, and the
    user it belongs to (None for a system client) with their role and whether they are active."""

    token_hash: str
    code: str
    kind: str
    status: str | None
    user_code: str | None = None
    role: str | None = None
    user_deactivated_at: object | None = None  # raw from the hot query: only its presence counts


class CertificateRow(NamedTuple):
    """What authentication needs of a client certificate: its party and the party's status."""

    code: str
    kind: str
    status: str | None


@functools.cache
def _token_query(dialect: str) -> HotQuery:
    at = _moment_param(dialect)
    return HotQuery(
        select(
            api_token.c.token_hash,
            party.c.code,
            party.c.kind,
            party_status.c.status,
            api_token.c.user_code,
            party_user.c.role,
            party_user.c.deactivated_at,
        )
        .select_from(
            api_token.join(party, party.c.code == api_token.c.party_code)
            .outerjoin(party_status, _status_at(at))
            .outerjoin(
                party_user,
                (party_user.c.party_code == api_token.c.party_code)
                & (party_user.c.code == api_token.c.user_code),
            )
        )
        .where(
            api_token.c.id == bindparam("token_id"),
            api_token.c.revoked_at.is_(None),
            api_token.c.expires_at > at,
        )
    )


@functools.cache
def _certificate_query(dialect: str) -> HotQuery:
    at = _moment_param(dialect)
    return HotQuery(
        select(party.c.code, party.c.kind, party_status.c.status)
        .select_from(
            client_certificate.join(
                party, party.c.code == client_certificate.c.party_code
            ).outerjoin(party_status, _status_at(at))
        )
        .where(
            client_certificate.c.fingerprint == bindparam("fingerprint"),
            client_certificate.c.revoked_at.is_(None),
        )
    )


def token_credentials(target: Target, token_id: str, at: datetime) -> TokenRow | None:
    """One indexed lookup: the token by primary key if it is neither revoked nor expired at
    ``at``, joined with its party and the party's status period holding at ``at`` (``status``
    None when the party was not registered yet); None when there is no such token.

    The statement is built once and returns no moments to convert; it is on the hot path of
    every request, so it runs as a :class:`~jointuse.core.db.HotQuery`.
    """
    conn = connection_of(target)
    dialect = conn.dialect.name
    params = {"token_id": token_id, "at": _moment_value(dialect, at)}
    row = _token_query(dialect).first(conn, params)
    return None if row is None else TokenRow(*row)


def certificate_credentials(
    target: Target, fingerprint: str, at: datetime
) -> CertificateRow | None:
    """Like :func:`token_credentials`, by certificate fingerprint (not revoked)."""
    conn = connection_of(target)
    dialect = conn.dialect.name
    params = {"fingerprint": fingerprint, "at": _moment_value(dialect, at)}
    row = _certificate_query(dialect).first(conn, params)
    return None if row is None else CertificateRow(*row)


# --- users --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A person within a party (利用者), with one role."""

    party_code: str
    code: str
    name: str
    email: str | None
    role: str
    created_at: datetime
    deactivated_at: datetime | None


def insert_user(target: Target, user: UserInfo) -> None:
    connection_of(target).execute(
        insert(party_user).values(
            party_code=user.party_code,
            code=user.code,
            name=user.name,
            email=user.email,
            role=user.role,
            created_at=user.created_at,
            deactivated_at=user.deactivated_at,
        )
    )


def _user(row: Any) -> UserInfo:
    return UserInfo(
        row.party_code, row.code, row.name, row.email, row.role, row.created_at, row.deactivated_at
    )


def load_user(target: Target, party_code: str, code: str) -> UserInfo | None:
    row = (
        connection_of(target)
        .execute(
            select(party_user).where(
                party_user.c.party_code == party_code, party_user.c.code == code
            )
        )
        .first()
    )
    return None if row is None else _user(row)


def load_users(target: Target, party_code: str) -> list[UserInfo]:
    rows = connection_of(target).execute(
        select(party_user).where(party_user.c.party_code == party_code).order_by(party_user.c.code)
    )
    return [_user(r) for r in rows]


def mark_user_deactivated(target: Target, party_code: str, code: str, at: datetime) -> None:
    connection_of(target).execute(
        update(party_user)
        .where(party_user.c.party_code == party_code, party_user.c.code == code)
        .values(deactivated_at=at)
    )
