"""A party's webhook: one endpoint where its new messages are pushed (use cases).

``register`` (``PUT /v1/webhooks``) sets the URL and makes a new signing secret, **shown once**
in its answer: the server keeps it to sign pushes (it cannot keep only a hash, as it does for
tokens: signing needs the secret itself), no read shows it again; a new ``PUT`` replaces URL and
secret (the way to rotate it). At most one webhook per party (the table's primary key): a
concurrent first registration by the same party is the 409 of ``pk_party_webhook``.

What is pushed: the messages posted to the party **after** its first registration (earlier
ones are in its inbox), oldest first, each once it is 2xx-answered (see
:mod:`jointuse.messages.delivery` for retries and :mod:`jointuse.messages.signing` for the
signature). ``status`` (``GET /v1/webhooks``) shows the delivery state: messages waiting, the
attempts on the one at the head and when the next comes, the last status and error, the
counts delivered and given up, and the latest messages given up with their last error.

URLs: ``https://`` (``http://`` only where the operator allows it, ``JOINTUSE_WEBHOOK_ALLOW_HTTP``,
for tests and demos), a host, no credentials, no fragment, at most 2,048 characters. The
registration does not call the URL; the first push does.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from jointuse.core.conflicts import conflict_from
from jointuse.core.errors import NotFound, ValidationError
from jointuse.messages import repository as repo
from jointuse.messages.repository import Failure, Webhook

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2048


def check_url(url: str, *, allow_http: bool = False) -> str:
    """``url`` if it is an endpoint pushes may go to; else a 422 naming ``url``."""
    schemes = ("https", "http") if allow_http else ("https",)
    valid = f"an absolute {' or '.join(s + '://' for s in schemes)} URL with a host, ≤ 2048"
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"url: {exc}", field="url", valid=valid) from None
    problem = None
    if len(text) > MAX_URL_LENGTH:
        problem = f"is {len(text)} characters long"
    elif parts.scheme.lower() not in schemes:
        problem = f"has the scheme {parts.scheme or '(none)'!r}"
    elif not parts.hostname:
        problem = "has no host"
    elif parts.username is not None or parts.password is not None:
        problem = "carries credentials (user:password@)"
    elif parts.fragment:
        problem = "has a fragment (#…)"
    elif port == 0:
        problem = "has port 0"
    elif any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        problem = "contains spaces or control characters"
    if problem:
        raise ValidationError(f"url {text[:80]!r} {problem}", field="url", valid=valid)
    return text


def _view(hook: Webhook, pending: int, failures: list[Failure]) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "url": hook.url,
        "created_at": iso(hook.created_at),
        "updated_at": iso(hook.updated_at),
        "delivery": {
            "pending": pending,
            "head_message_id": hook.head_message_id,
            "attempts": hook.attempts,
            "next_attempt_at": iso(hook.next_attempt_at) if hook.attempts else None,
            "last_attempt_at": iso(hook.last_attempt_at),
            "last_success_at": iso(hook.last_success_at),
            "last_status": hook.last_status,
            "last_error": hook.last_error,
            "delivered": hook.delivered,
            "given_up": hook.failed,
            "recent_failures": [
                {
                    "message_id": f.message_id,
                    "attempts": f.attempts,
                    "last_error": f.last_error,
                    "failed_at": f.failed_at.isoformat(),
                }
                for f in failures
            ],
        },
    }


def register(
    conn: Connection,
    *,
    party: str,
    url: str,
    at: datetime,
    allow_http: bool = False,
    wall: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Set ``party``'s webhook to ``url`` with a new secret; returns its view with
    ``secret`` (the one time it is shown) and whether it was created."""
    endpoint = check_url(url, allow_http=allow_http)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = wall or datetime.now(UTC)
    existing = repo.get_webhook(conn, party, for_update=True)
    try:
        if existing is None:
            repo.insert_webhook(
                conn,
                party=party,
                url=endpoint,
                secret=secret,
                from_message_id=repo.last_message_id(conn, party),
                at=at,
                next_at=now,
            )
        else:
            repo.replace_webhook(conn, party=party, url=endpoint, secret=secret, at=at, next_at=now)
    except IntegrityError as exc:
        conflict = conflict_from(exc)
        if conflict is None:
            raise
        raise conflict from None
    view = status(conn, party=party)
    view["secret"] = secret
    return view, existing is None


def status(conn: Connection, *, party: str) -> dict[str, Any]:
    """``party``'s webhook and its delivery state (404 when it has none)."""
    hook = repo.get_webhook(conn, party)
    if hook is None:
        raise NotFound("you have no webhook registered", field="webhook")
    return _view(
        hook,
        repo.pending_count(conn, party, hook.from_message_id),
        repo.recent_failures(conn, party),
    )


def unregister(conn: Connection, *, party: str) -> None:
    """Remove ``party``'s webhook (404 when it has none); its messages stay in its inbox."""
    if not repo.delete_webhook(conn, party):
        raise NotFound("you have no webhook registered", field="webhook")
