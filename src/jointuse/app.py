"""Composition root of the HTTP API: ``create_app(settings) -> FastAPI``.

Builds the database engine once, includes each area's router under ``/v1``, installs the problem
mapping and the request guards (:mod:`jointuse.core.http`), and runs the ledger's background
sealer for the lifetime of the app (started in the lifespan, stopped — with a last seal — on
shutdown); on a SQLite database it made itself, it also checkpoints the write-ahead log in the
background (:class:`~jointuse.core.db.BackgroundCheckpointer`), not in the commits of requests.

The OpenAPI 3.1 document is at ``/openapi.json`` (shaped by :mod:`jointuse.core.openapi`), the
interactive docs at ``/docs`` and ``/redoc`` (assets served from the package, no CDN); liveness
and readiness at ``/healthz`` and ``/readyz`` (:mod:`jointuse.core.health`). Refusals at the
edge are recorded through :func:`jointuse.access.refusals.record_refusal`, authentication
failures counted by a :class:`~jointuse.core.edge.FailureLimiter` (settings
``auth_failure_limit`` / ``auth_failure_window``).

The ledger key (:mod:`jointuse.ledger.keys`): an app that makes its own engine (``jointuse
serve``, ``uvicorn --factory``) loads the configured key and binds it to the engine, and
**refuses to be built without one** (:class:`~jointuse.ledger.keys.LedgerKeyMissing`) unless
``JOINTUSE_LEDGER_UNAUTHENTICATED=1`` says to run without it. An app given an ``engine`` (tests,
embedding) uses the key bound to that engine by its owner (:func:`~jointuse.ledger.bind_key`),
or the one ``JOINTUSE_LEDGER_KEY_FILE`` names; with neither, its entries carry no MAC. The
sealer signs a checkpoint into ``JOINTUSE_LEDGER_CHECKPOINT_FILE`` every
``JOINTUSE_LEDGER_CHECKPOINT_INTERVAL`` seconds while the chain grows (with a key).

The **bare benchmark endpoint** ``GET /v1/_bench/bare/supply-points/{id}`` (same row, no
authentication, no policy, no ledger) exists only to measure what the gate costs. It is mounted
only with ``create_app(..., bench=True)`` or ``JOINTUSE_BENCH_ENDPOINTS=1`` in the environment —
never in production: it reads personal-data tables without any access control.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine

from jointuse.access.gate import Gate
from jointuse.assembly import gate_for
from jointuse.core.db import BackgroundCheckpointer
from jointuse.core.edge import FailureLimiter
from jointuse.core.health import health_router
from jointuse.core.http import (
    DEFAULT_MAX_BODY_BYTES,
    ApiContext,
    install_middleware,
    install_problem_handlers,
)
from jointuse.core.mail import Mailer, mailer_from
from jointuse.core.openapi import STATIC_DOCS_PATH, install_openapi
from jointuse.core.opening import open_database
from jointuse.core.periodic import PeriodicWorker
from jointuse.core.settings import Settings, load_settings

log = logging.getLogger(__name__)

BENCH_ENV = "JOINTUSE_BENCH_ENDPOINTS"
TRUST_CERT_ENV = "JOINTUSE_TRUST_CLIENT_CERT_HEADER"
_TRUE = frozenset({"1", "true", "yes", "on"})


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in _TRUE


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    bench: bool | None = None,
    trust_client_cert_header: bool | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    run_sealer: bool = True,
    run_scheduler: bool | None = None,
    run_webhooks: bool | None = None,
    clock: Callable[[], datetime] | None = None,
    environ: Mapping[str, str] | None = None,
    gate: Gate | None = None,
    mailer: Mailer | None = None,
) -> FastAPI:
    """The jointuse HTTP API.

    ``settings`` default to :func:`load_settings`; ``engine`` (for tests) is used as given and not
    disposed, otherwise one is opened on ``settings.database_url`` — which must exist and be
    migrated to the head revision, else :class:`~jointuse.core.opening.DatabaseNotReady` (the
    server refuses to start instead of answering 500) — and disposed on shutdown.
    ``bench`` / ``trust_client_cert_header`` default to the environment flags
    ``JOINTUSE_BENCH_ENDPOINTS`` / ``JOINTUSE_TRUST_CLIENT_CERT_HEADER`` (``1``/``true``).
    ``mailer`` (for tests and the demo: a local SMTP sink) sends the customers' one-time codes;
    by default SMTP as configured (``JOINTUSE_SMTP_HOST`` …, :mod:`jointuse.core.mail`).
    ``clock`` gives the moment of each request (default: now, UTC), and of the flow scheduler's
    ticks. ``run_scheduler`` (default: as ``run_sealer``) runs the market flows' clock
    (:class:`~jointuse.flows.scheduler.FlowScheduler`: automatic judgements, completions on their
    date, expiries) every ``settings.flow_tick_interval`` seconds, and with it the preparation of
    received disclosure requests
    (:class:`~jointuse.rights.requests_service.DisclosurePreparer`, every
    ``settings.rights_prepare_interval`` seconds). ``run_webhooks`` (default: as
    ``run_sealer``) runs the webhook delivery worker
    (:class:`~jointuse.messages.delivery.WebhookDeliverer`; the webhook variables). ``gate``
    (for tests) is used as given; otherwise it is assembled over the operator's policy
    (``settings.policy_path``, ``JOINTUSE_POLICY``; the shipped one by default), which is checked
    first: a policy with errors, or one the installed areas cannot serve, refuses to build the
    app.
    """
    from jointuse.access.refusals import record_refusal
    from jointuse.customers.api import bench_router
    from jointuse.customers.api import router as customers_router
    from jointuse.flows.api import router as flows_router
    from jointuse.flows.scheduler import FlowScheduler
    from jointuse.ledger.api import router as audit_router
    from jointuse.ledger.keys import LedgerKey, bind_key, bound_key, require_key
    from jointuse.ledger.service import BackgroundSealer
    from jointuse.messages.api import router as inbox_router
    from jointuse.messages.delivery import WebhookDeliverer
    from jointuse.messages.settings import load_messages_settings
    from jointuse.negawatt.api import router as negawatt_router
    from jointuse.parties.api import router as parties_router
    from jointuse.parties.service import authenticate
    from jointuse.rights.api import router as me_router
    from jointuse.rights.requests_api import me_router as me_requests_router
    from jointuse.rights.requests_api import party_router as rights_requests_router
    from jointuse.rights.requests_service import DisclosurePreparer
    from jointuse.usage.api import router as usage_router
    from jointuse.workorders.api import router as work_orders_router

    env = os.environ if environ is None else environ
    settings = settings or load_settings(env)
    messages_settings = load_messages_settings(env)
    the_gate = gate if gate is not None else gate_for(settings.policy_path, settings.policy_earlier)
    the_clock = clock or (lambda: datetime.now(UTC))
    the_mailer = mailer if mailer is not None else mailer_from(env)
    owns_engine = engine is None
    key: LedgerKey | None
    if engine is None:
        # The database first: an unmigrated one is refused with its own reason (DatabaseNotReady)
        # before the key is asked for; then the key, before anything is served.
        db = open_database(settings.database_url, background_checkpoints=True)
        try:
            key = require_key(settings)
        except BaseException:
            db.dispose()
            raise
        if key is None:
            log.warning("running WITHOUT a ledger key: ledger entries carry no MAC")
    else:
        db = engine
        if settings.ledger_key_file:
            key = LedgerKey.from_file(Path(settings.ledger_key_file))
        else:
            key = bound_key(engine)
    if key is not None:
        bind_key(db, key)
    with_bench = _flag(env, BENCH_ENV) if bench is None else bench
    trust = (
        _flag(env, TRUST_CERT_ENV) if trust_client_cert_header is None else trust_client_cert_header
    )

    running: list[PeriodicWorker] = []  # the sealer, for /readyz

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sealer = None
        if run_sealer:
            sealer = BackgroundSealer(
                db,
                interval=settings.ledger_seal_interval,
                max_batch=settings.ledger_seal_batch,
                key=key,
                export=(
                    Path(settings.ledger_checkpoint_file)
                    if settings.ledger_checkpoint_interval > 0
                    else None
                ),
                export_interval=settings.ledger_checkpoint_interval,
            )
            sealer.start()
            running.append(sealer)
        scheduling = run_sealer if run_scheduler is None else run_scheduler
        scheduler = None
        if scheduling:
            scheduler = FlowScheduler(
                db, the_gate, interval=settings.flow_tick_interval, clock=the_clock
            )
            scheduler.start()
        preparer = None
        if scheduling:
            preparer = DisclosurePreparer(
                db,
                the_gate,
                the_mailer,
                interval=settings.rights_prepare_interval,
                clock=the_clock,
            )
            preparer.start()
        app.state.disclosure_preparer = preparer
        deliverer = None
        if run_sealer if run_webhooks is None else run_webhooks:
            deliverer = WebhookDeliverer(db, messages_settings, clock=the_clock)
            deliverer.start()
        app.state.ledger_sealer = sealer  # its `problem` says whether sealing is stopped
        checkpointer = None
        if owns_engine and db.dialect.name == "sqlite":
            checkpointer = BackgroundCheckpointer(db)
            checkpointer.start()
        try:
            yield
        finally:
            if deliverer is not None:
                deliverer.stop()
            if scheduler is not None:
                scheduler.stop()
            if preparer is not None:
                preparer.stop()
            if sealer is not None:
                running.remove(sealer)
                sealer.stop()
            if checkpointer is not None:
                checkpointer.stop()
            if owns_engine:
                db.dispose()

    app = FastAPIOffline(  # /docs and /redoc from packaged assets (jointuse.core.openapi)
        static_url=STATIC_DOCS_PATH,
        # No call to the public validator service; keep the token across reloads.
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        title="jointuse",
        summary="Joint use (共同利用) of electricity customers' personal data",
        description=(
            "Every personal-data route passes the access gate: the policy decides from the "
            "party, the purpose (header `Jointuse-Purpose`) and the party's relation to the "
            "supply point or customer; the decision is recorded on the access ledger. "
            "Errors are RFC 9457 problem details (`application/problem+json`). Every refusal "
            "of an authenticated caller is on the ledger."
        ),
        version="1",
        lifespan=lifespan,
    )
    limiter = FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window)
    app.state.jointuse = ApiContext(
        engine=db,
        authenticate=authenticate,
        gate=the_gate,
        trust_client_cert_header=trust,
        clock=the_clock,
        purposes=tuple(p.key for p in the_gate.policy.purposes),
        record_refusal=record_refusal,
        limiter=limiter,
    )
    app.state.bench_endpoints = with_bench
    app.state.mailer = the_mailer
    app.state.messages = messages_settings
    install_problem_handlers(app)
    install_middleware(app, max_body_bytes=max_body_bytes, limiter=limiter)
    install_openapi(app)
    app.include_router(health_router(db, lambda: running[0] if running else None))
    app.include_router(parties_router)
    app.include_router(customers_router)
    app.include_router(flows_router)
    app.include_router(inbox_router)
    app.include_router(work_orders_router)
    app.include_router(audit_router)
    app.include_router(me_router)
    app.include_router(me_requests_router)
    app.include_router(rights_requests_router)
    app.include_router(negawatt_router)
    app.include_router(usage_router)
    if with_bench:
        app.include_router(bench_router)
    from jointuse.web import install_web

    install_web(app, env)  # the pages: customer portal and consoles (jointuse.web)
    return app
