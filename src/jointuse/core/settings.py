"""Settings, read once in the composition root (the CLI or the app factory), never at import time.

Environment variables:

``JOINTUSE_DATABASE_URL``
    SQLAlchemy URL. Default: the SQLite file ``./var/jointuse.db`` (the folder is created when the
    engine is made). PostgreSQL: ``postgresql+psycopg://user@host:5432/dbname`` (a plain
    ``postgresql://`` URL is accepted and mapped to the psycopg 3 driver).
``JOINTUSE_LEDGER_SEAL_INTERVAL``
    Seconds between two runs of the background ledger sealer in the server (default 0.5).
``JOINTUSE_LEDGER_SEAL_BATCH``
    Most ledger entries sealed in one short transaction (default 5000).
``JOINTUSE_FLOW_TICK_INTERVAL``
    Seconds between two runs of the market flows' clock in the server (automatic judgements,
    completions on their date, expiries; default 5).
``JOINTUSE_RIGHTS_PREPARE_INTERVAL``
    Seconds between two runs of the server's preparation of received disclosure requests
    (:class:`jointuse.rights.requests_service.DisclosurePreparer`; default 30).
``JOINTUSE_HEADER_TIMEOUT``
    Seconds a client of the server has to send a complete request head, from connecting (or from
    the previous response on a kept-alive connection); a slower or silent one is disconnected
    (default 5; :mod:`jointuse.core.serving`).
``JOINTUSE_POLICY``
    The operator's policy file (TOML, the format of the shipped ``data/policy.toml``). Default:
    the shipped policy. Checked at start: a policy with errors is refused.
``JOINTUSE_POLICY_EARLIER``
    Earlier versions of the policy still deciding requests of their time (files separated by
    ``os.pathsep``; :mod:`jointuse.policy.versions`): each request is decided by the version in
    force at its moment. Default: none (the one policy decides everything).
``JOINTUSE_AUTH_FAILURE_LIMIT`` / ``JOINTUSE_AUTH_FAILURE_WINDOW``
    Authentication failures (401) from one source address within the window (seconds) after
    which the source is answered 429 until the window has passed (defaults 20 and 60;
    :mod:`jointuse.core.edge`).
``JOINTUSE_LEDGER_KEY_FILE``
    The ledger key (an Ed25519 PEM file from ``jointuse ledger keygen``, kept off the database's
    host and readable by the service only): entry and seal MACs, checkpoint signatures
    (:mod:`jointuse.ledger.keys`). Unset: for the default database only, ``./var/ledger.key``
    if it exists (``jointuse demo`` makes it). ``jointuse serve`` refuses to start without a
    key unless ``JOINTUSE_LEDGER_UNAUTHENTICATED`` is set.
``JOINTUSE_LEDGER_UNAUTHENTICATED``
    ``1``: run the server without a ledger key (entries carry no MAC; a database administrator
    could forge them unnoticed). For development only. Default off.
``JOINTUSE_LEDGER_CHECKPOINT_FILE``
    Where the server's sealer appends a signed checkpoint (JSON lines) now and then: the copy
    kept outside the database (default ``./var/ledger-checkpoints.jsonl``).
``JOINTUSE_LEDGER_CHECKPOINT_INTERVAL``
    Seconds between two such checkpoints while the chain grows (default 60; 0: none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from jointuse.core.errors import ValidationError

DEFAULT_DATABASE_URL = "sqlite:///./var/jointuse.db"


DEFAULT_CHECKPOINT_FILE = "var/ledger-checkpoints.jsonl"
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    ledger_seal_interval: float = 0.5
    ledger_seal_batch: int = 5000
    policy_path: str | None = None
    policy_earlier: tuple[str, ...] = ()
    flow_tick_interval: float = 5.0
    rights_prepare_interval: float = 30.0
    auth_failure_limit: int = 20
    auth_failure_window: float = 60.0
    header_timeout: float = 5.0
    ledger_key_file: str | None = None
    ledger_unauthenticated: bool = False
    ledger_checkpoint_file: str = DEFAULT_CHECKPOINT_FILE
    ledger_checkpoint_interval: float = 60.0


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValidationError(
            f"{name}={raw!r} is not a positive number of seconds",
            field=name,
            valid="a positive number, e.g. 0.5",
        )
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise ValidationError(
            f"{name}={raw!r} is not a positive integer",
            field=name,
            valid="a positive integer, e.g. 5000",
        )
    return value


def _seconds_or_zero(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise ValidationError(
            f"{name}={raw!r} is not a number of seconds (0 or more)",
            field=name,
            valid="0 (off) or a positive number, e.g. 60",
        )
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: ``os.environ``); call once, pass them on."""
    env = os.environ if environ is None else environ
    url = env.get("JOINTUSE_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    return Settings(
        database_url=url,
        ledger_seal_interval=_positive_float(env, "JOINTUSE_LEDGER_SEAL_INTERVAL", 0.5),
        ledger_seal_batch=_positive_int(env, "JOINTUSE_LEDGER_SEAL_BATCH", 5000),
        policy_path=env.get("JOINTUSE_POLICY", "").strip() or None,
        policy_earlier=tuple(
            p.strip() for p in env.get("JOINTUSE_POLICY_EARLIER", "").split(os.pathsep) if p.strip()
        ),
        flow_tick_interval=_positive_float(env, "JOINTUSE_FLOW_TICK_INTERVAL", 5.0),
        rights_prepare_interval=_positive_float(env, "JOINTUSE_RIGHTS_PREPARE_INTERVAL", 30.0),
        auth_failure_limit=_positive_int(env, "JOINTUSE_AUTH_FAILURE_LIMIT", 20),
        auth_failure_window=_positive_float(env, "JOINTUSE_AUTH_FAILURE_WINDOW", 60.0),
        header_timeout=_positive_float(env, "JOINTUSE_HEADER_TIMEOUT", 5.0),
        ledger_key_file=env.get("JOINTUSE_LEDGER_KEY_FILE", "").strip() or None,
        ledger_unauthenticated=(
            env.get("JOINTUSE_LEDGER_UNAUTHENTICATED", "").strip().lower() in _TRUE
        ),
        ledger_checkpoint_file=(
            env.get("JOINTUSE_LEDGER_CHECKPOINT_FILE", "").strip() or DEFAULT_CHECKPOINT_FILE
        ),
        ledger_checkpoint_interval=_seconds_or_zero(
            env, "JOINTUSE_LEDGER_CHECKPOINT_INTERVAL", 60.0
        ),
    )
