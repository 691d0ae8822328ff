"""Use cases of the parties registry (共同利用者の登録簿): register, change status, credentials,
and :func:`authenticate`, the first step of every request.

Transactions: every function takes ``db``, either an :class:`~sqlalchemy.Engine` (the function
runs its own :class:`~jointuse.core.db.UnitOfWork`, committed when it returns) or a
``UnitOfWork`` already open (the function works inside it; the caller commits or rolls back).
:func:`authenticate` takes the request's ``Session`` or ``Connection`` directly: it is on the hot
path of every request and runs inside the request's transaction.

Status changes go through the model's one guarded transition (:meth:`Party.set_status`); an
illegal one is a :class:`~jointuse.core.errors.ValidationError` naming the current status and the
valid next ones. Authentication does **not** refuse a suspended or deregistered party: it returns
the party with its status, so the policy gate refuses it and records the refusal on the ledger.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.parties import repository as repo
from jointuse.parties.model import Party, PartyKind, PartyStatus, reference_parties
from jointuse.parties.repository import PartyRecord
from jointuse.parties.tokens import (
    DEFAULT_TTL_DAYS,
    AuthenticationFailed,
    AuthReason,
    CertificateInfo,
    IssuedToken,
    TokenInfo,
    hashes_match,
    new_token,
    normalise_fingerprint,
    parse_bearer,
    token_hash,
    validate_token_id,
    validate_ttl_days,
)
from jointuse.policy import engine as policy_engine

Db = Engine | UnitOfWork

__all__ = [
    "AuthenticationFailed",
    "Db",
    "DuplicateParty",
    "PartyRecord",
    "add_party",
    "authenticate",
    "deregister",
    "get_party",
    "get_party_record",
    "issue_token",
    "list_certificates",
    "list_parties",
    "list_tokens",
    "public_view",
    "register_certificate",
    "reinstate",
    "reissue_token",
    "revoke_certificate",
    "revoke_token",
    "seed_reference_parties",
    "suspend",
]


class DuplicateParty(ValidationError):
    """A party with this code is already registered (HTTP 409)."""

    code = "party_exists"
    status = 409


@contextmanager
def _unit(db: Db, *, read_only: bool = False) -> Iterator[Connection]:
    if isinstance(db, UnitOfWork):
        yield db.connection
        return
    with UnitOfWork(db, read_only=read_only) as uow:
        yield uow.connection


def _now(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError(
            f"at={at!r} must be a timezone-aware datetime",
            field="at",
            valid="a timezone-aware datetime (e.g. Asia/Tokyo or UTC)",
        )
    return at


def _not_found(code: str) -> NotFound:
    return NotFound(f"no party with code {code!r} is registered", field="code")


def _require(conn: Connection, code: str, *, for_update: bool = False) -> PartyRecord:
    record = repo.load_party(conn, code, for_update=for_update)
    if record is None:
        raise _not_found(code)
    return record


# --- registry -----------------------------------------------------------------------------------


def add_party(
    db: Db,
    *,
    code: str,
    kind: PartyKind | str,
    name_ja: str,
    name_en: str,
    meti_registration: str | None = None,
    contractor_code: str | None = None,
    area_code: str | None = None,
    address: str = "",
    representative: str = "",
    country: str = "JP",
    at: datetime | None = None,
) -> Party:
    """Register a joint user, active from ``at`` (default now). Validated by the model;
    an existing code is :class:`DuplicateParty`. ``country``: ISO 3166-1 alpha-2 of where the
    party is (a joint user abroad falls under APPI Art. 28; ``policy check`` flags it)."""
    moment = _now(at)
    iso = country_code(country)
    new = Party.register(
        code=code,
        kind=kind,
        name_ja=name_ja,
        name_en=name_en,
        at=moment,
        meti_registration=meti_registration or None,
        contractor_code=contractor_code or None,
        area_code=area_code or None,
    )
    with _unit(db) as conn:
        _insert_new(
            conn,
            new,
            address=address.strip(),
            representative=representative.strip(),
            country=iso,
        )
    return new


def country_code(text: str) -> str:
    """An ISO 3166-1 alpha-2 code as typed (NFKC, any case): ``jp`` → ``JP``."""
    code = unicodedata.normalize("NFKC", text).strip().upper()
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise ValidationError(
            f"country {text!r} is not an ISO 3166-1 alpha-2 code",
            field="country",
            valid="two letters, e.g. JP",
        )
    return code


def list_party_records(db: Db) -> list[PartyRecord]:
    """Every registered party with its address, representative and country (for ``policy
    check --database-url``: every controller's details from the registry)."""
    with _unit(db, read_only=True) as conn:
        return repo.load_parties(conn)


def _insert_new(
    conn: Connection, new: Party, *, address: str, representative: str, country: str = "JP"
) -> None:
    if repo.party_exists(conn, new.code):
        raise _duplicate(new.code)
    try:
        with conn.begin_nested():
            repo.insert_party(
                conn,
                new,
                address=address,
                representative=representative,
                created_at=new.registered_at,
                country=country,
            )
    except IntegrityError as exc:  # registered concurrently between the check and the insert
        raise _duplicate(new.code) from exc


def _duplicate(code: str) -> DuplicateParty:
    return DuplicateParty(
        f"a party with code {code!r} is already registered; choose another code",
        field="code",
    )


def seed_reference_parties(db: Db, at: datetime | None = None) -> tuple[Party, ...]:
    """Register the ten TSOs and OCCTO of the shipped reference data; idempotent.

    Returns the parties added by this call (none when they are all registered already).
    """
    moment = _now(at)
    added: list[Party] = []
    with _unit(db) as conn:
        for p in reference_parties(moment):
            if not repo.party_exists(conn, p.code):
                _insert_new(conn, p, address="", representative="")
                added.append(p)
    return tuple(added)


def get_party_record(db: Db, code: str) -> PartyRecord:
    """The party with its address, representative and registration time (NotFound if none)."""
    with _unit(db, read_only=True) as conn:
        return _require(conn, code)


def get_party(db: Db, code: str) -> Party:
    """The party ``code`` with its whole status history (:class:`NotFound` if none)."""
    return get_party_record(db, code).party


def list_parties(
    db: Db, *, kind: PartyKind | str | None = None, at: datetime | None = None
) -> list[Party]:
    """Every registered party, ordered by code; of ``kind`` only if given; with ``at``, only
    those registered at or before that moment."""
    wanted = (
        None if kind is None else (kind if isinstance(kind, PartyKind) else PartyKind.parse(kind))
    )
    moment = None if at is None else _now(at)
    with _unit(db, read_only=True) as conn:
        return [r.party for r in repo.load_parties(conn, kind=wanted, registered_by=moment)]


def _change_status(
    db: Db, code: str, new: PartyStatus, *, reason: str | None, at: datetime | None
) -> Party:
    moment = _now(at)
    with _unit(db) as conn:
        before = _require(conn, code, for_update=True).party
        after = before.set_status(new, at=moment, reason=reason)
        repo.record_status_change(conn, before, after)
    return after


def _reason(reason: str, action: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError(
            f"a reason is required to {action} a party", field="reason", valid="a non-empty text"
        )
    return reason.strip()


def suspend(db: Db, code: str, *, reason: str, at: datetime | None = None) -> Party:
    """Suspend the party from ``at`` (default now): it then sees nothing (停止)."""
    return _change_status(db, code, PartyStatus.SUSPENDED, reason=_reason(reason, "suspend"), at=at)


def reinstate(db: Db, code: str, *, reason: str | None = None, at: datetime | None = None) -> Party:
    """Make a suspended party active again from ``at`` (default now)."""
    text = reason.strip() if reason and reason.strip() else None
    return _change_status(db, code, PartyStatus.ACTIVE, reason=text, at=at)


def deregister(db: Db, code: str, *, reason: str, at: datetime | None = None) -> Party:
    """Deregister the party from ``at`` (登録抹消) — final: no status may follow."""
    return _change_status(
        db, code, PartyStatus.DEREGISTERED, reason=_reason(reason, "deregister"), at=at
    )


def public_view(party: Party, at: datetime | None = None) -> dict[str, Any]:
    """The public registry entry of ``party``: code, kind, names, registration datum and status
    (at ``at``, else the current one). No credentials, no history, no contact details."""
    status = party.status if at is None else party.status_at(_now(at))
    return {
        "code": party.code,
        "kind": party.kind.value,
        "name_ja": party.name_ja,
        "name_en": party.name_en,
        "meti_registration": party.meti_registration,
        "contractor_code": party.contractor_code,
        "area_code": party.area_code,
        "status": status.value,
    }


# --- credentials --------------------------------------------------------------------------------


def _require_not_deregistered(record: PartyRecord, moment: datetime, what: str) -> None:
    p = record.party
    if p.status is PartyStatus.DEREGISTERED and p.history[-1].valid_from <= moment:
        raise ValidationError(
            f"party {p.code!r} is deregistered (final); no {what} can be issued to it",
            field="party_code",
        )


def issue_token(
    db: Db,
    party_code: str,
    *,
    label: str = "",
    ttl_days: int = DEFAULT_TTL_DAYS,
    at: datetime | None = None,
    user: str | None = None,
    client: str | None = None,
) -> IssuedToken:
    """Issue a bearer token to the party, valid ``ttl_days`` from ``at`` (default now), for one
    of its users (``user``: an active user's code) or a named system client (``client``,
    default ``"default"``) — never both.

    The returned ``secret`` is the only copy: only its SHA-256 is stored.
    """
    moment = _now(at)
    days = validate_ttl_days(ttl_days)
    with _unit(db) as conn:
        return _issue(
            conn, party_code, label=label, days=days, moment=moment, user=user, client=client
        )


def _issue(
    conn: Connection,
    party_code: str,
    *,
    label: str,
    days: int,
    moment: datetime,
    user: str | None = None,
    client: str | None = None,
) -> IssuedToken:
    if user is not None and client is not None:
        raise ValidationError(
            "a token belongs to a user or to a system client, not both",
            field="user",
            valid="--user CODE or --client NAME",
        )
    if user is not None:
        found = repo.load_user(conn, party_code, user.strip())
        if found is None or found.deactivated_at is not None:
            raise NotFound(f"no active user {user!r} of {party_code}", field="user")
        user = found.code
    name = None if user is not None else (client or "default").strip()
    if name is not None and not _CLIENT.fullmatch(name):
        raise ValidationError(
            f"client name {name!r} is not a short name",
            field="client",
            valid="1-64 letters, digits, '.', '_' or '-'",
        )
    token_id, secret = new_token()
    info = TokenInfo(
        token_id=token_id,
        party_code=party_code,
        label=label.strip(),
        created_at=moment,
        expires_at=moment + timedelta(days=days),
        revoked_at=None,
        user_code=user,
        client_name=name,
    )
    _require_not_deregistered(_require(conn, party_code), moment, "token")
    repo.insert_token(conn, info, token_hash(secret))
    return IssuedToken(token_id=token_id, secret=secret, expires_at=info.expires_at)


def reissue_token(
    db: Db,
    party_code: str,
    *,
    label: str,
    ttl_days: int = DEFAULT_TTL_DAYS,
    at: datetime | None = None,
) -> tuple[IssuedToken, list[str]]:
    """Revoke the party's unrevoked tokens labelled ``label`` and issue one new token with that
    label, in one transaction: for a job that prints a fresh token each time it runs (the demo)
    without piling up live credentials — a secret is shown once and stored hashed, so a token
    cannot be shown again, only replaced. The revoked tokens are kept with their revocation time.
    Returns the new token and the ids revoked."""
    label = label.strip()
    if not label:
        raise ValidationError(
            "reissuing needs the label of the tokens it replaces", field="label", valid="a label"
        )
    moment = _now(at)
    days = validate_ttl_days(ttl_days)
    with _unit(db) as conn:
        _require(conn, party_code, for_update=True)
        revoked = [
            t.token_id
            for t in repo.load_tokens(conn, party_code)
            if t.label == label and t.revoked_at is None
        ]
        for token_id in revoked:
            repo.mark_token_revoked(conn, token_id, moment)
        issued = _issue(conn, party_code, label=label, days=days, moment=moment)
    return issued, revoked


def revoke_token(db: Db, token_id: str, *, at: datetime | None = None) -> TokenInfo:
    """Revoke the token from ``at`` (default now). Revoking a revoked token changes nothing;
    the returned info carries the original ``revoked_at``."""
    moment = _now(at)
    tid = validate_token_id(token_id)
    with _unit(db) as conn:
        info = repo.load_token(conn, tid)
        if info is None:
            raise NotFound(f"no token with id {tid!r}", field="token_id")
        if info.revoked_at is None:
            repo.mark_token_revoked(conn, tid, moment)
            info = repo.load_token(conn, tid)
            assert info is not None
    return info


def list_tokens(db: Db, party_code: str) -> list[TokenInfo]:
    """The party's tokens (ids, labels, dates; never secrets), oldest first."""
    with _unit(db, read_only=True) as conn:
        _require(conn, party_code)
        return repo.load_tokens(conn, party_code)


def register_certificate(
    db: Db, party_code: str, fingerprint: str, *, at: datetime | None = None
) -> CertificateInfo:
    """Register a TLS client certificate of the party by its SHA-256 fingerprint."""
    moment = _now(at)
    normalised = normalise_fingerprint(fingerprint)
    info = CertificateInfo(normalised, party_code, moment, None)
    with _unit(db) as conn:
        _require_not_deregistered(_require(conn, party_code), moment, "certificate")
        existing = repo.load_certificate(conn, normalised)
        if existing is not None:
            raise ValidationError(
                f"certificate {normalised} is already registered (to party "
                f"{existing.party_code!r}{', revoked' if existing.revoked_at else ''})",
                field="fingerprint",
            )
        repo.insert_certificate(conn, info)
    return info


def revoke_certificate(db: Db, fingerprint: str, *, at: datetime | None = None) -> CertificateInfo:
    """Revoke a client certificate from ``at`` (default now); idempotent like tokens."""
    moment = _now(at)
    normalised = normalise_fingerprint(fingerprint)
    with _unit(db) as conn:
        info = repo.load_certificate(conn, normalised)
        if info is None:
            raise NotFound(f"no certificate with fingerprint {normalised}", field="fingerprint")
        if info.revoked_at is None:
            repo.mark_certificate_revoked(conn, normalised, moment)
            info = repo.load_certificate(conn, normalised)
            assert info is not None
    return info


def list_certificates(db: Db, party_code: str) -> list[CertificateInfo]:
    """The party's client certificates (fingerprints, dates), oldest first."""
    with _unit(db, read_only=True) as conn:
        _require(conn, party_code)
        return repo.load_certificates(conn, party_code)


# --- authentication -----------------------------------------------------------------------------

_INVALID_TOKEN = "the bearer token is not valid (unknown, expired or revoked)"
_INVALID_CERT = "the client certificate is not registered, or has been revoked"


def authenticate(
    target: Session | Connection,
    *,
    bearer: str | None,
    client_cert_fingerprint: str | None,
    at: datetime,
) -> policy_engine.Party:
    """The acting party identified by a bearer token and/or a client certificate, with its kind
    and its status **at** ``at`` (a suspended or deregistered party is returned, not refused).

    ``bearer`` is the token or an ``Authorization`` header value (``Bearer ju_…``). When both
    credentials are presented both must be valid and name the same party. Anything else is
    :class:`AuthenticationFailed` (HTTP 401); an unknown, expired or revoked token all read alike.
    """
    moment = _now(at)
    if not bearer and not client_cert_fingerprint:
        raise AuthenticationFailed(
            "no credentials: present a bearer token (Authorization: Bearer ju_…) or a registered "
            "TLS client certificate",
            reason=AuthReason.MISSING,
        )
    found: list[repo.TokenRow | repo.CertificateRow] = []
    if bearer:
        token_id, token = parse_bearer(bearer)
        presented = token_hash(token)
        token_row = repo.token_credentials(target, token_id, moment)
        # Revoked and expired tokens are filtered out by the query: all three read alike.
        if token_row is None or not hashes_match(token_row.token_hash, presented):
            raise AuthenticationFailed(_INVALID_TOKEN, reason=AuthReason.INVALID)
        found.append(token_row)
    if client_cert_fingerprint:
        try:
            fingerprint = normalise_fingerprint(client_cert_fingerprint)
        except ValidationError as exc:
            raise AuthenticationFailed(exc.message, reason=AuthReason.MALFORMED) from None
        cert_row = repo.certificate_credentials(target, fingerprint, moment)
        if cert_row is None:
            raise AuthenticationFailed(_INVALID_CERT, reason=AuthReason.INVALID)
        found.append(cert_row)
    if len({r.code for r in found}) > 1:
        raise AuthenticationFailed(
            "the bearer token and the client certificate belong to different parties",
            reason=AuthReason.MISMATCH,
        )
    row = found[0]
    if row.status is None:
        raise AuthenticationFailed(
            f"party {row.code!r} was not registered at {moment.isoformat()}",
            reason=AuthReason.NOT_REGISTERED,
        )
    user = role = None
    if isinstance(row, repo.TokenRow) and row.user_code is not None:
        if row.user_deactivated_at is not None:
            raise AuthenticationFailed(_INVALID_TOKEN, reason=AuthReason.INVALID)
        user, role = row.user_code, row.role
    return policy_engine.Party(
        code=row.code,
        kind=row.kind,
        status=policy_engine.PartyStatus(row.status),
        user=user,
        role=role,
    )


# --- users (利用者) -------------------------------------------------------------------------------

_CLIENT = re.compile(r"[A-Za-z0-9._-]{1,64}")
_USER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def add_user(
    db: Db,
    party_code: str,
    *,
    code: str,
    name: str,
    role: str,
    email: str | None = None,
    at: datetime | None = None,
) -> repo.UserInfo:
    """Add a person to the party with one role (:data:`jointuse.parties.tables.ROLES`)."""
    from jointuse.parties.tables import ROLES

    user_code = unicodedata.normalize("NFKC", code).strip().lower()
    if not _USER.fullmatch(user_code):
        raise ValidationError(
            f"user code {code!r} is not valid",
            field="code",
            valid="1-64 lower-case letters, digits, '.', '_' or '-'",
        )
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}", field="role", valid=list(ROLES))
    if not name.strip():
        raise ValidationError("a user needs a name", field="name")
    moment = _now(at)
    user = repo.UserInfo(
        party_code, user_code, name.strip(), (email or "").strip() or None, role, moment, None
    )
    with _unit(db) as conn:
        _require_not_deregistered(_require(conn, party_code), moment, "user")
        try:
            repo.insert_user(conn, user)
        except IntegrityError as exc:  # the code is taken: 409 naming pk_party_user
            from jointuse.core.conflicts import conflict_from

            conflict = conflict_from(exc)
            if conflict is None:
                raise
            raise conflict from None
    return user


def list_users(db: Db, party_code: str) -> list[repo.UserInfo]:
    with _unit(db, read_only=True) as conn:
        _require(conn, party_code)
        return repo.load_users(conn, party_code)


def deactivate_user(
    db: Db, party_code: str, code: str, *, at: datetime | None = None
) -> repo.UserInfo:
    """The user leaves: their tokens stop working at once (authentication checks the user)."""
    moment = _now(at)
    with _unit(db) as conn:
        found = repo.load_user(conn, party_code, code)
        if found is None:
            raise NotFound(f"no user {code!r} of {party_code}", field="code")
        if found.deactivated_at is None:
            repo.mark_user_deactivated(conn, party_code, code, moment)
        return repo.load_user(conn, party_code, code) or found


ADMIN_PURPOSE = "admin:party"
ADMIN_CHANGES = frozenset(
    {
        "user_added",
        "user_deactivated",
        "token_issued",
        "token_revoked",
        "webhook_registered",
        "webhook_removed",
    }
)


def record_administration(
    conn: Connection,
    *,
    actor: policy_engine.Party,
    change: str,
    subject: str,
    request_id: str,
    at: datetime,
) -> None:
    """Put a change a party's administrator made to its own party (a user added or deactivated,
    a token issued or revoked, the webhook registered or removed) on the ledger, in the change's
    own transaction: purpose ``admin:party``, action write, allowed, rule
    ``admin:<change> <subject>`` (a user's code, a token's ID — never a secret), the
    administrator as the acting user; no customer is named."""
    if change not in ADMIN_CHANGES:
        raise ValueError(f"not an administrative change: {change!r}")
    append(
        conn,
        LedgerEntry(
            party=actor.code,
            purpose=ADMIN_PURPOSE,
            action="write",
            decision="allowed",
            rule_id=f"admin:{change} {subject}"[:500],
            request_id=request_id,
            acting_user=actor.user,
        ),
        now=at,
    )
