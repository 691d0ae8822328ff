"""Passkeys (WebAuthn) of the customers: a signed-in customer adds one (or several) and signs
in with it later instead of a one-time code. Options and verification by ``webauthn`` (Duo's
py_webauthn); the ceremonies' state is kept here.

Relying party
    :class:`RelyingParty`: the RP ID (a host name, e.g. ``portal.example.jp``) and the origin
    (``https://portal.example.jp``) the browser must report; from configuration
    (``JOINTUSE_WEBAUTHN_RP_ID``, ``JOINTUSE_WEBAUTHN_ORIGIN``, read by the web edge) or the
    request's own host.

Challenges
    Each ceremony begins with a random challenge stored in ``passkey_challenge``, bound to who
    asked for it — the web session (adding) or the signed-out browser's CSRF token (signing in),
    kept as a hash — valid for :data:`CHALLENGE_TTL` and used at most once: the answer names
    its challenge (in the signed client data) and the challenge is consumed by a conditional
    update before anything else is checked, so a replayed answer finds it used.

Sign-in
    Usernameless (discoverable credentials): the browser offers the customer's passkeys for
    this RP; the answer names its credential, which names the account. Refused (one answer,
    :class:`PasskeyRefused`, 401) when the challenge is unknown, expired, used or bound to
    another browser; the credential unknown (or removed); the account locked; the signature
    not verifying; or the authenticator's signature counter not above the one stored (a cloned
    authenticator). Failures on a known account count towards its lock as wrong codes do
    (:data:`jointuse.rights.identity.LOCK_AFTER`); at most :data:`SIGN_INS_PER_HOUR` sign-in
    ceremonies begin from one source address an hour (429). Every attempt and its outcome is an
    ``identity_event`` (``passkey_sign_in``), as every code sign-in is; the additions and
    removals too (``passkey_add``, ``passkey_remove``).
"""

from __future__ import annotations

import json
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from jointuse.core.conflicts import Conflict
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.rights.identity import (
    Account,
    Session,
    TooManyRequests,
    account_by_id,
    clear_failures,
    count_failure,
    hash_text,
    is_locked,
    new_session,
    record_event,
)
from jointuse.rights.tables import customer_passkey, passkey_challenge

ONE_PASSKEY_RULE = "uq_customer_passkey_credential_id"
CHALLENGE_TTL = timedelta(minutes=5)
SIGN_INS_PER_HOUR = 30
MAX_PASSKEYS = 10
RP_NAME = "jointuse"
ADD = "add"
SIGN_IN = "sign_in"


class PasskeyRefused(JointuseError):
    """A passkey sign-in that does not stand: one answer whatever the reason (401)."""

    code = "passkey_refused"
    status = 401


class PasskeyNotAdded(JointuseError):
    """An answer to an adding ceremony that does not verify (400)."""

    code = "passkey_not_added"
    status = 400


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    origin: str
    name: str = RP_NAME


@dataclass(frozen=True, slots=True)
class Passkey:
    id: str
    label: str
    created_at: datetime
    last_used_at: datetime | None


def _json(options: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(options_to_json(options))
    return found


def _new_challenge(
    conn: Connection,
    *,
    purpose: str,
    binding: str,
    at: datetime,
    source: str | None,
    account_id: str | None = None,
) -> bytes:
    # Challenges past their end for a day are of no use to anyone: each new one sweeps them.
    conn.execute(
        delete(passkey_challenge).where(passkey_challenge.c.expires_at < at - timedelta(days=1))
    )
    challenge = secrets.token_bytes(32)
    conn.execute(
        insert(passkey_challenge),
        {
            "id": secrets.token_hex(8),
            "purpose": purpose,
            "binding_hash": hash_text(binding),
            "account_id": account_id,
            "challenge": bytes_to_base64url(challenge),
            "source": (source or "")[:64] or None,
            "created_at": at,
            "expires_at": at + CHALLENGE_TTL,
            "used_at": None,
        },
    )
    return challenge


def _consume(
    conn: Connection,
    *,
    challenge: bytes,
    purpose: str,
    binding: str,
    at: datetime,
    account_id: str | None = None,
) -> bool:
    """Use the challenge if it is this binding's, for this purpose, unexpired and unused."""
    conditions = [
        passkey_challenge.c.challenge == bytes_to_base64url(challenge),
        passkey_challenge.c.purpose == purpose,
        passkey_challenge.c.binding_hash == hash_text(binding),
        passkey_challenge.c.used_at.is_(None),
        passkey_challenge.c.expires_at > at,
    ]
    if account_id is not None:
        conditions.append(passkey_challenge.c.account_id == account_id)
    done = conn.execute(update(passkey_challenge).where(*conditions).values(used_at=at))
    return done.rowcount == 1


def _label(text: str | None, at: datetime) -> str:
    value = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if not value:
        return f"passkey {at:%Y-%m-%d}"
    if len(value) > 64 or not value.isprintable():
        raise ValidationError(
            "label is not a short name", field="label", valid="up to 64 printable characters"
        )
    return value


def _mine(conn: Connection, account: Account) -> list[Any]:
    return [
        r._mapping
        for r in conn.execute(
            select(customer_passkey)
            .where(customer_passkey.c.account_id == account.id)
            .order_by(customer_passkey.c.created_at)
        )
    ]


def list_passkeys(conn: Connection, account: Account) -> list[Passkey]:
    """The customer's passkeys, oldest first (their labels and dates; never the keys)."""
    return [
        Passkey(r["id"], r["label"], r["created_at"], r["last_used_at"])
        for r in _mine(conn, account)
    ]


def begin_adding(
    uow: UnitOfWork,
    *,
    account: Account,
    binding: str,
    rp: RelyingParty,
    at: datetime,
    source: str | None = None,
) -> dict[str, Any]:
    """The options of ``navigator.credentials.create`` (JSON form) for a signed-in customer:
    a discoverable credential, the passkeys they have excluded (one per authenticator)."""
    conn = uow.connection
    mine = _mine(conn, account)
    if len(mine) >= MAX_PASSKEYS:
        raise ValidationError(
            f"at most {MAX_PASSKEYS} passkeys: remove one first",
            field="passkeys",
            valid=f"{MAX_PASSKEYS} or fewer",
        )
    challenge = _new_challenge(
        conn, purpose=ADD, binding=binding, at=at, source=source, account_id=account.id
    )
    return _json(
        generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_name=account.email,
            user_id=account.id.encode(),
            user_display_name=account.email,
            challenge=challenge,
            timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(r["credential_id"]))
                for r in mine
            ],
        )
    )


def finish_adding(
    uow: UnitOfWork,
    *,
    account: Account,
    binding: str,
    rp: RelyingParty,
    credential: Any,
    label: str | None,
    at: datetime,
    source: str | None = None,
) -> Passkey:
    """Verify the browser's answer to :func:`begin_adding` and keep the passkey. A refusal
    (:class:`PasskeyNotAdded`) is recorded in a transaction of its own."""
    conn = uow.connection
    name = _label(label, at)
    outcome = "ok"
    verified = None
    try:
        parsed = parse_registration_credential_json(credential)
        challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError):
        outcome = "malformed"
    else:
        if not _consume(
            conn, challenge=challenge, purpose=ADD, binding=binding, at=at, account_id=account.id
        ):
            outcome = "bad_challenge"
        else:
            try:
                verified = verify_registration_response(
                    credential=parsed,
                    expected_challenge=challenge,
                    expected_rp_id=rp.id,
                    expected_origin=rp.origin,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError):
                outcome = "invalid"
    taken = verified is not None and (
        conn.execute(
            select(func.count())
            .select_from(customer_passkey)
            .where(customer_passkey.c.credential_id == bytes_to_base64url(verified.credential_id))
        ).scalar_one()
        > 0
    )
    if verified is None or taken:
        outcome = "duplicate" if taken else outcome
        record_event(
            conn,
            email=account.email,
            kind="passkey_add",
            outcome=outcome,
            at=at,
            source=source,
            account_id=account.id,
        )
        uow.session.commit()  # the attempt stays on record although the caller is refused
        if taken:
            raise Conflict(
                "refused by the rule: a passkey is added once",
                rule=ONE_PASSKEY_RULE,
                reason="passkey_duplicate",
            )
        raise PasskeyNotAdded(
            "the passkey could not be added: try again", reason=f"passkey_{outcome}"
        )
    assert verified is not None
    passkey_id = str(uuid.uuid4())
    conn.execute(
        insert(customer_passkey),
        {
            "id": passkey_id,
            "account_id": account.id,
            "credential_id": bytes_to_base64url(verified.credential_id),
            "public_key": verified.credential_public_key,
            "sign_count": verified.sign_count,
            "label": name,
            "created_at": at,
            "last_used_at": None,
        },
    )
    record_event(
        conn,
        email=account.email,
        kind="passkey_add",
        outcome="ok",
        at=at,
        source=source,
        account_id=account.id,
    )
    return Passkey(passkey_id, name, at, None)


def remove(
    uow: UnitOfWork, *, account: Account, passkey_id: str, at: datetime, source: str | None = None
) -> None:
    """Remove one of the customer's passkeys: it signs nobody in any more."""
    conn = uow.connection
    done = conn.execute(
        delete(customer_passkey).where(
            customer_passkey.c.id == passkey_id, customer_passkey.c.account_id == account.id
        )
    )
    if done.rowcount != 1:
        raise NotFound("no such passkey of yours", field="passkey", reason="passkey_not_found")
    record_event(
        conn,
        email=account.email,
        kind="passkey_remove",
        outcome="ok",
        at=at,
        source=source,
        account_id=account.id,
    )


def begin_sign_in(
    uow: UnitOfWork, *, binding: str, rp: RelyingParty, at: datetime, source: str | None = None
) -> dict[str, Any]:
    """The options of ``navigator.credentials.get`` (JSON form) for a signed-out browser: no
    credentials listed (the authenticator offers its passkeys for this RP)."""
    conn = uow.connection
    if source:
        begun = conn.execute(
            select(func.count())
            .select_from(passkey_challenge)
            .where(
                passkey_challenge.c.source == source[:64],
                passkey_challenge.c.purpose == SIGN_IN,
                passkey_challenge.c.created_at > at - timedelta(hours=1),
            )
        ).scalar_one()
        if begun >= SIGN_INS_PER_HOUR:
            raise TooManyRequests(
                f"at most {SIGN_INS_PER_HOUR} passkey sign-ins an hour; try again later",
                retry_after=3600,
            )
    challenge = _new_challenge(conn, purpose=SIGN_IN, binding=binding, at=at, source=source)
    return _json(
        generate_authentication_options(
            rp_id=rp.id,
            challenge=challenge,
            timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
    )


def sign_in(
    uow: UnitOfWork,
    *,
    binding: str,
    rp: RelyingParty,
    credential: Any,
    at: datetime,
    source: str | None = None,
) -> Session:
    """Verify the browser's answer to :func:`begin_sign_in` and open a customer session. Any
    failure is the same :class:`PasskeyRefused`, recorded (and counted towards the account's
    lock) in a transaction of its own, as the refusal is raised."""
    conn = uow.connection
    row = None
    account = None
    outcome = "ok"
    new_count = 0
    try:
        parsed = parse_authentication_credential_json(credential)
        challenge = parse_client_data_json(parsed.response.client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError):
        outcome = "malformed"
    else:
        fresh = _consume(conn, challenge=challenge, purpose=SIGN_IN, binding=binding, at=at)
        found = conn.execute(
            select(customer_passkey).where(customer_passkey.c.credential_id == parsed.id)
        ).first()
        row = found._mapping if found is not None else None
        account = account_by_id(conn, row["account_id"]) if row is not None else None
        handle = parsed.response.user_handle
        if row is None or account is None:
            outcome = "unknown_credential"
        elif is_locked(account, at):
            outcome = "locked"
        elif not fresh:
            outcome = "bad_challenge"
        elif handle is not None and handle != str(account["id"]).encode():
            outcome = "invalid"
        else:
            try:
                verified = verify_authentication_response(
                    credential=parsed,
                    expected_challenge=challenge,
                    expected_rp_id=rp.id,
                    expected_origin=rp.origin,
                    credential_public_key=bytes(row["public_key"]),
                    credential_current_sign_count=0,  # compared below, as its own outcome
                )
            except (WebAuthnException, ValueError, TypeError, KeyError):
                outcome = "invalid"
            else:
                new_count = verified.new_sign_count
                stored = int(row["sign_count"])
                if (new_count > 0 or stored > 0) and new_count <= stored:
                    outcome = "sign_count_regressed"
    if outcome == "ok":
        assert row is not None and account is not None
        # The counter moves only from the value read: a concurrent use of the same assertion
        # (or of a clone) finds it moved and is refused.
        moved = conn.execute(
            update(customer_passkey)
            .where(
                customer_passkey.c.id == row["id"],
                customer_passkey.c.sign_count == row["sign_count"],
            )
            .values(sign_count=new_count, last_used_at=at)
        )
        if moved.rowcount != 1:
            outcome = "sign_count_regressed"
    if outcome != "ok":
        if account is not None and outcome not in ("locked", "unknown_credential"):
            count_failure(conn, account["id"], at)
        record_event(
            conn,
            email=account["email"]
            if account is not None
            else f"passkey:{_credential_id(credential)}",
            kind="passkey_sign_in",
            outcome=outcome,
            at=at,
            source=source,
            account_id=account["id"] if account is not None else None,
        )
        uow.session.commit()  # the attempt stays counted although the caller is refused
        raise PasskeyRefused("the passkey was not accepted", reason="passkey_refused")
    assert account is not None
    clear_failures(conn, account["id"])
    record_event(
        conn,
        email=account["email"],
        kind="passkey_sign_in",
        outcome="ok",
        at=at,
        source=source,
        account_id=account["id"],
    )
    return new_session(conn, Account(account["id"], account["email"]), at)


def _credential_id(credential: Any) -> str:
    """The credential ID an answer claims (for the record of an unknown one), else ``?``."""
    if isinstance(credential, dict) and isinstance(credential.get("id"), str):
        return str(credential["id"])[:200]
    return "?"
