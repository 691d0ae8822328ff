"""Composition root of the HTTP API: ``create_app(settings) -> FastAPI``.

Builds the database engine once, includes each area's router under ``/v1``, installs the problem
mapping and the request guards (:mod:`jointuse.core.http`), and runs the ledger's background
sealer for the lifetime of the app (started in the lifespan, stopped — with a last seal — on
shutdown); on a SQLite database it made itself, it also checkpoints the write-ahead log in the
background (:class:`~jointuse.core.db.BackgroundCheckpointer`), not in the commits of requests.

The OpenAPI 3.1 document is at ``/openapi.json``, the interactive docs at ``/docs``.

The **bare benchmark endpoint** ``GET /v1/_bench/bare/supply-points/{id}`` (same row, no
authentication, no policy, no ledger) exists only to measure what the gate costs. It is mounted
only with ``create_app(..., bench=True)`` or ``JOINTUSE_BENCH_ENDPOINTS=1`` in the environment —
never in production: it reads personal-data tables without any access control.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import Engine

from jointuse.access.gate import Gate
from jointuse.assembly import gate_for
from jointuse.core.db import BackgroundCheckpointer, make_engine
from jointuse.core.http import (
    DEFAULT_MAX_BODY_BYTES,
    ApiContext,
    install_middleware,
    install_problem_handlers,
)
from jointuse.core.settings import Settings, load_settings

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
    clock: Callable[[], datetime] | None = None,
    environ: Mapping[str, str] | None = None,
    gate: Gate | None = None,
) -> FastAPI:
    """The jointuse HTTP API.

    ``settings`` default to :func:`load_settings`; ``engine`` (for tests) is used as given and not
    disposed, otherwise one is made from ``settings.database_url`` and disposed on shutdown.
    ``bench`` / ``trust_client_cert_header`` default to the environment flags
    ``JOINTUSE_BENCH_ENDPOINTS`` / ``JOINTUSE_TRUST_CLIENT_CERT_HEADER`` (``1``/``true``).
    ``clock`` gives the moment of each request (default: now, UTC), and of the flow scheduler's
    ticks. ``run_scheduler`` (default: as ``run_sealer``) runs the market flows' clock
    (:class:`~jointuse.flows.scheduler.FlowScheduler`: automatic judgements, completions on their
    date, expiries) every ``settings.flow_tick_interval`` seconds. ``gate`` (for tests) is used
    as given; otherwise it is assembled over the operator's policy (``settings.policy_path``,
    ``JOINTUSE_POLICY``; the shipped one by default), which is checked first: a policy with
    errors, or one the installed areas cannot serve, refuses to build the app.
    """
    from jointuse.customers.api import bench_router
    from jointuse.customers.api import router as customers_router
    from jointuse.flows.api import router as flows_router
    from jointuse.flows.scheduler import FlowScheduler
    from jointuse.ledger.service import BackgroundSealer
    from jointuse.messages.api import router as inbox_router
    from jointuse.negawatt.api import router as negawatt_router
    from jointuse.parties.api import router as parties_router
    from jointuse.parties.service import authenticate

    env = os.environ if environ is None else environ
    settings = settings or load_settings(env)
    the_gate = gate if gate is not None else gate_for(settings.policy_path)
    the_clock = clock or (lambda: datetime.now(UTC))
    owns_engine = engine is None
    db = (
        engine
        if engine is not None
        else make_engine(settings.database_url, background_checkpoints=True)
    )
    with_bench = _flag(env, BENCH_ENV) if bench is None else bench
    trust = (
        _flag(env, TRUST_CERT_ENV) if trust_client_cert_header is None else trust_client_cert_header
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sealer = None
        if run_sealer:
            sealer = BackgroundSealer(
                db, interval=settings.ledger_seal_interval, max_batch=settings.ledger_seal_batch
            )
            sealer.start()
        scheduler = None
        if run_sealer if run_scheduler is None else run_scheduler:
            scheduler = FlowScheduler(
                db, the_gate, interval=settings.flow_tick_interval, clock=the_clock
            )
            scheduler.start()
        checkpointer = None
        if owns_engine and db.dialect.name == "sqlite":
            checkpointer = BackgroundCheckpointer(db)
            checkpointer.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            if sealer is not None:
                sealer.stop()
            if checkpointer is not None:
                checkpointer.stop()
            if owns_engine:
                db.dispose()

    app = FastAPI(
        title="jointuse",
        summary="Joint use (共同利用) of electricity customers' personal data",
        description=(
            "Every personal-data route passes the access gate: the policy decides from the "
            "party, the purpose (header `Jointuse-Purpose`) and the party's relation to the "
            "supply point or customer; the decision is recorded on the access ledger. "
            "Errors are RFC 9457 problem details (`application/problem+json`)."
        ),
        version="1",
        lifespan=lifespan,
    )
    app.state.jointuse = ApiContext(
        engine=db,
        authenticate=authenticate,
        gate=the_gate,
        trust_client_cert_header=trust,
        clock=the_clock,
    )
    app.state.bench_endpoints = with_bench
    install_problem_handlers(app)
    install_middleware(app, max_body_bytes=max_body_bytes)
    app.include_router(parties_router)
    app.include_router(customers_router)
    app.include_router(flows_router)
    app.include_router(inbox_router)
    app.include_router(negawatt_router)
    if with_bench:
        app.include_router(bench_router)
    return app
