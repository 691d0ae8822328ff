"""Credentials of joint users: bearer tokens and client-certificate fingerprints (pure, no I/O).

Bearer tokens
    A token reads ``ju_<token id>.<secret>``: the recognisable prefix ``ju_`` (so secret scanners
    and people can tell what leaked), the public token id (16 hex digits, the primary key, shown
    by ``jointuse token list``; ``jointuse token revoke`` takes it, ``ju_<id>`` or the whole
    token: :func:`validate_token_id`), and 32 random bytes from
    :func:`secrets.token_urlsafe`. Only the SHA-256 of the whole token is stored; the token itself
    is shown once, when it is issued. Authentication looks the row up by its id (one primary-key
    lookup) and compares the hashes in constant time (:func:`hmac.compare_digest`).

Client certificates (クライアント証明書)
    Identified by the SHA-256 fingerprint of the DER certificate, normalised to 64 lower-case hex
    digits; ``AB:CD:…`` (as ``openssl x509 -fingerprint -sha256`` prints it), upper or lower case
    and spaces are accepted.

Refusals are :class:`AuthenticationFailed` (``unauthenticated``, HTTP 401). Their messages say
what was wrong with the credentials presented, never whether a given token exists.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jointuse.core.errors import JointuseError, ValidationError

TOKEN_PREFIX = "ju_"
TOKEN_ID_HEX_DIGITS = 16
SECRET_BYTES = 32
DEFAULT_TTL_DAYS = 90
MAX_TTL_DAYS = 3650

_TOKEN = re.compile(r"^ju_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AuthReason(StrEnum):
    """Machine-readable reasons of an authentication refusal."""

    MISSING = "credentials_missing"
    MALFORMED = "credentials_malformed"
    INVALID = "credentials_invalid"
    MISMATCH = "credentials_mismatch"
    NOT_REGISTERED = "party_not_registered"


class AuthenticationFailed(JointuseError):
    """The credentials presented do not identify a joint user (HTTP 401).

    ``reason`` is one of :class:`AuthReason`. An unknown, expired and revoked token give the same
    reason and message, so a caller cannot learn whether a token existed.
    """

    code = "unauthenticated"
    status = 401

    def __init__(self, message: str, *, reason: AuthReason) -> None:
        super().__init__(message, reason=reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly issued token. ``secret`` is the whole bearer token; it is never shown again."""

    token_id: str
    secret: str
    expires_at: datetime

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"IssuedToken(token_id={self.token_id!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known about a token without its secret (for listing and auditing)."""

    token_id: str
    party_code: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_code: str | None = None
    client_name: str | None = "default"

    def state_at(self, at: datetime) -> str:
        """``"revoked"``, ``"expired"`` or ``"valid"`` at ``at``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= at:
            return "expired"
        return "valid"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    fingerprint: str
    party_code: str
    created_at: datetime
    revoked_at: datetime | None


def new_token() -> tuple[str, str]:
    """A new ``(token_id, bearer token)`` pair from the operating system's CSPRNG."""
    token_id = secrets.token_hex(TOKEN_ID_HEX_DIGITS // 2)
    return token_id, f"{TOKEN_PREFIX}{token_id}.{secrets.token_urlsafe(SECRET_BYTES)}"


def token_hash(token: str) -> str:
    """SHA-256 (hex) of the bearer token: what the database stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hashes_match(stored: str, presented: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(stored.encode("ascii"), presented.encode("ascii"))


def parse_bearer(value: str) -> tuple[str, str]:
    """``(token_id, token)`` of a presented bearer token, or :class:`AuthenticationFailed`.

    Accepts the token itself or an ``Authorization`` header value (``Bearer ju_…``).
    """
    token = value.strip()
    scheme, _, rest = token.partition(" ")
    if rest and scheme.lower() == "bearer":
        token = rest.strip()
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise AuthenticationFailed(
            "the bearer token is malformed: expected 'ju_' followed by a 16-hex-digit token id, "
            "a '.' and the 43-character secret, as printed by `jointuse token issue`",
            reason=AuthReason.MALFORMED,
        )
    return match.group(1), token


_TOKEN_ID_FORMS = re.compile(
    r"(?:bearer\s+)?(?:ju_)?([0-9a-f]{16})(?:\.[A-Za-z0-9_-]{43})?", re.IGNORECASE
)


def validate_token_id(token_id: str) -> str:
    """A token id, 16 lower-case hex digits, from any of the forms a person has at hand: the id
    as ``jointuse token issue``/``list`` print it, the token's own beginning ``ju_<id>``, or the
    whole token (``ju_<id>.<secret>``, also as ``Bearer …``: a leaked token is revoked by
    pasting it). Full-width characters and surrounding spaces are accepted (NFKC)."""
    value = unicodedata.normalize("NFKC", token_id).strip()
    match = _TOKEN_ID_FORMS.fullmatch(value)
    if match is None:
        raise ValidationError(
            f"invalid token id {token_id!r}: expected the 16 hex digits of the token id, "
            "'ju_' and those digits, or the whole token",
            field="token_id",
            valid="3f9a0c1b2d4e5f60, ju_3f9a0c1b2d4e5f60 or ju_3f9a0c1b2d4e5f60.<secret>",
        )
    return match.group(1).lower()


def validate_ttl_days(ttl_days: int) -> int:
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int):
        raise ValidationError(
            f"ttl_days must be a whole number of days, got {ttl_days!r}",
            field="ttl_days",
            valid=f"1–{MAX_TTL_DAYS}",
        )
    if not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise ValidationError(
            f"ttl_days={ttl_days} is out of range: a token lives 1 to {MAX_TTL_DAYS} days",
            field="ttl_days",
            valid=f"1–{MAX_TTL_DAYS}",
        )
    return ttl_days


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 certificate fingerprint as 64 lower-case hex digits.

    ``"AB:CD:…"``, ``"ab cd …"``, ``"sha256 Fingerprint=AB:CD:…"`` (openssl's output) and
    full-width characters are accepted.
    """
    value = unicodedata.normalize("NFKC", text).strip()
    if "=" in value:  # "sha256 Fingerprint=AB:CD:..." / "SHA256=..."
        value = value.rsplit("=", 1)[1]
    compact = re.sub(r"[\s:-]", "", value).lower()
    if not _HEX64.fullmatch(compact):
        digits = sum(c in "0123456789abcdef" for c in compact)
        raise ValidationError(
            f"invalid certificate fingerprint {text!r}: expected the SHA-256 fingerprint, "
            f"64 hex digits (optionally grouped with ':'), got {len(compact)} characters of "
            f"which {digits} are hex digits",
            field="fingerprint",
            valid="64 hex digits, e.g. AB:CD:…:EF (openssl x509 -noout -fingerprint -sha256)",
        )
    return compact


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint (64 lower-case hex digits) of a DER-encoded certificate."""
    return hashlib.sha256(der).hexdigest()
