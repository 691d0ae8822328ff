"""Settings of the messages area, read once by the composition root (``create_app``).

======================================  ==================================================  =====
variable                                meaning                                             value
======================================  ==================================================  =====
``JOINTUSE_WEBHOOK_INTERVAL``           seconds between two runs of the delivery worker     1
``JOINTUSE_WEBHOOK_TIMEOUT``            seconds a receiver has to answer one push           5
``JOINTUSE_WEBHOOK_MAX_ATTEMPTS``       attempts per message before it is given up          10
``JOINTUSE_WEBHOOK_BACKOFF``            first retry delay, seconds (doubles each attempt)   2
``JOINTUSE_WEBHOOK_BACKOFF_MAX``        longest retry delay, seconds                        3600
``JOINTUSE_WEBHOOK_ALLOW_HTTP``         ``1``: accept ``http://`` endpoints (tests, demos)  off
``JOINTUSE_IDEMPOTENCY_TTL``            seconds an ``Idempotency-Key`` is kept              86400
======================================  ==================================================  =====
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from jointuse.core.errors import ValidationError

_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class MessagesSettings:
    webhook_interval: float = 1.0
    webhook_timeout: float = 5.0
    webhook_max_attempts: int = 10
    webhook_backoff: float = 2.0
    webhook_backoff_max: float = 3600.0
    webhook_allow_http: bool = False
    idempotency_ttl: float = 86400.0

    def backoff_ceiling(self, attempts: int) -> float:
        """The delay before the retry that follows ``attempts`` failed attempts, before
        jitter: ``backoff × 2^(attempts-1)``, at most ``backoff_max``."""
        if attempts < 1:
            return 0.0
        return float(min(self.webhook_backoff_max, self.webhook_backoff * 2 ** (attempts - 1)))


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValidationError(
            f"{name}={raw!r} is not a positive {'integer' if integer else 'number'}",
            field=name,
            valid="a positive integer, e.g. 10" if integer else "a positive number, e.g. 5",
        )
    return value


def load_messages_settings(environ: Mapping[str, str] | None = None) -> MessagesSettings:
    """Read the settings from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    d = MessagesSettings()
    return MessagesSettings(
        webhook_interval=_number(env, "JOINTUSE_WEBHOOK_INTERVAL", d.webhook_interval),
        webhook_timeout=_number(env, "JOINTUSE_WEBHOOK_TIMEOUT", d.webhook_timeout),
        webhook_max_attempts=int(
            _number(env, "JOINTUSE_WEBHOOK_MAX_ATTEMPTS", d.webhook_max_attempts, integer=True)
        ),
        webhook_backoff=_number(env, "JOINTUSE_WEBHOOK_BACKOFF", d.webhook_backoff),
        webhook_backoff_max=_number(env, "JOINTUSE_WEBHOOK_BACKOFF_MAX", d.webhook_backoff_max),
        webhook_allow_http=env.get("JOINTUSE_WEBHOOK_ALLOW_HTTP", "").strip().lower() in _TRUE,
        idempotency_ttl=_number(env, "JOINTUSE_IDEMPOTENCY_TTL", d.idempotency_ttl),
    )
