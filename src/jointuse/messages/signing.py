"""Signatures of webhook pushes — what a receiver checks (in the style of Stripe's and
GitHub's webhook signatures; no database, no network: receivers may import this module alone).

Every push is an HTTP ``POST`` of one message as JSON (``Content-Type: application/json``) with:

======================  =========================================================================
header                  value
======================  =========================================================================
``Jointuse-Message-Id`` the message's ID (decimal): unique, the same on every retry of one message
``Jointuse-Timestamp``  when this attempt was signed, Unix seconds (each retry is signed anew)
``Jointuse-Signature``  ``v1=<hex>``: HMAC-SHA256, keyed with the party's webhook secret (the whole
                        ``whsec_…`` string, UTF-8), over ``<timestamp>.<message id>.<raw body>``;
                        several comma-separated ``v1=`` values may come, one matching is enough
======================  =========================================================================

A receiver (:func:`verify_signature` does all of it):

1. recomputes the HMAC over the **raw** body bytes as received (not re-serialised JSON) and
   compares in constant time — a wrong secret, a changed body, timestamp or message ID fail;
2. refuses a timestamp more than ``tolerance`` seconds (default 300) from its own clock, so a
   captured push cannot be replayed later;
3. within that window, remembers the message IDs it has processed (:class:`ReplayGuard` in one
   process; a unique key in its own database otherwise) and answers a repeated ID ``2xx``
   without processing it again: delivery is **at least once** — a push whose answer was lost is
   sent again, with the same ID and a new timestamp.

Verification example (any framework; here the standard library only)::

    from jointuse.messages.signing import SignatureError, verify_signature

    def handle(headers, raw_body: bytes) -> int:
        try:
            verified = verify_signature(SECRET, body=raw_body, headers=headers)
        except SignatureError:
            return 400
        if not guard.first_time(verified.message_id):
            return 204  # a retry of a message already handled
        process(json.loads(raw_body))
        return 204
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MESSAGE_ID_HEADER = "Jointuse-Message-Id"
TIMESTAMP_HEADER = "Jointuse-Timestamp"
SIGNATURE_HEADER = "Jointuse-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300


class SignatureError(ValueError):
    """A push that does not verify; ``reason`` says why (``missing_header``, ``malformed``,
    ``timestamp_out_of_tolerance``, ``no_matching_signature``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verified:
    message_id: str
    timestamp: int


def signed_payload(timestamp: int, message_id: str, body: bytes) -> bytes:
    """The bytes the signature covers: ``<timestamp>.<message id>.<body>``."""
    return f"{timestamp}.{message_id}.".encode("ascii") + body


def signature(secret: str, timestamp: int, message_id: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of :func:`signed_payload` under ``secret``."""
    return hmac.new(
        secret.encode("utf-8"), signed_payload(timestamp, message_id, body), hashlib.sha256
    ).hexdigest()


def sign(
    secret: str, message_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a push of ``body`` (what the delivery worker sends)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        MESSAGE_ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, ts, message_id, body)}",
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None or not value.strip():
        raise SignatureError("missing_header", f"the header {name} is missing")
    return value.strip()


def verify_signature(
    secret: str | Sequence[str],
    *,
    body: bytes,
    headers: Mapping[str, str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> Verified:
    """Check a push: signature over the raw ``body`` with ``secret`` (or any of several, while
    rotating), timestamp within ``tolerance`` seconds of ``now`` (default: this clock). Returns
    the message ID and timestamp; raises :class:`SignatureError` otherwise."""
    message_id = _header(headers, MESSAGE_ID_HEADER)
    raw_ts = _header(headers, TIMESTAMP_HEADER)
    if not raw_ts.isdigit() or len(raw_ts) > 12:
        raise SignatureError("malformed", f"{TIMESTAMP_HEADER} {raw_ts[:20]!r} is not Unix seconds")
    timestamp = int(raw_ts)
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance:
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"the push was signed {int(moment - timestamp)} s from now; at most {tolerance} s",
        )
    given = [
        part.split("=", 1)[1].strip()
        for part in _header(headers, SIGNATURE_HEADER).split(",")
        if part.strip().startswith(f"{SCHEME}=")
    ]
    if not given:
        raise SignatureError("malformed", f"{SIGNATURE_HEADER} has no {SCHEME}= signature")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    for key in secrets:
        expected = signature(key, timestamp, message_id, body)
        if any(hmac.compare_digest(expected, g) for g in given):
            return Verified(message_id, timestamp)
    raise SignatureError("no_matching_signature", "no signature matches the body and the secret")


class ReplayGuard:
    """The message IDs one receiving process has handled: a verified push whose ID was seen is a
    retry (or a replay within the tolerance) — answer it 2xx, process it once. Thread-safe; keeps
    an ID ``remember`` seconds (default a day: retries of one message are spread over hours) and
    at most ``max_entries`` IDs (the oldest go first). Several processes, or a restart: keep the
    IDs in the receiver's own database under a unique key instead."""

    def __init__(self, remember: float = 86400.0, max_entries: int = 100_000) -> None:
        self.remember = remember
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, message_id: str, *, now: float | None = None) -> bool:
        """True the first time ``message_id`` is seen (and remembers it), False afterwards."""
        moment = time.time() if now is None else now
        with self._lock:
            horizon = moment - self.remember
            while self._seen and (
                len(self._seen) >= self.max_entries or next(iter(self._seen.values())) < horizon
            ):
                self._seen.popitem(last=False)
            if message_id in self._seen:
                return False
            self._seen[message_id] = moment
            return True
