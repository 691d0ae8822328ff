"""The ``Idempotency-Key`` of the HTTP API, for the write routes of every area.

A write route takes the dependency :data:`IdempotencyDep` (the header, checked: 422 naming it
when malformed; with the route, query and body it fingerprints) and answers with
:func:`answer`, handing it its use case as a function of the unit of work and the caller that
returns an :class:`~jointuse.messages.idempotency.Answer` (status and JSON body)::

    @router.post("/things", response_model=ThingOut, status_code=201)
    async def make_thing(body: ThingIn, credentials: CredentialsDep, idem: IdempotencyDep):
        def use_case(uow: UnitOfWork, caller: Caller) -> Answer:
            return Answer(201, ThingOut(...))
        return await answer(credentials, idem, use_case)

or, when the use case returns the body and the status is fixed,
``await answer_value(credentials, idem, 201, use_case)``.

:func:`answer` runs the use case in the request's one unit of work
(:func:`jointuse.customers.service.as_caller`: authenticate, then the use case) under the key
(:func:`jointuse.messages.idempotency.idempotent`), and turns the answer into the response — a
replay with the header ``Idempotent-Replayed: true``. Without the header the route runs as
before. The key's lifetime comes from the app (``JOINTUSE_IDEMPOTENCY_TTL``, kept by
``create_app`` on ``app.state.messages``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from jointuse.core.db import UnitOfWork
from jointuse.core.http import Caller, Credentials, run_unit
from jointuse.customers.service import as_caller
from jointuse.messages.idempotency import (
    KEY_HEADER,
    REPLAYED_HEADER,
    Answer,
    IdempotentRequest,
    keyed,
)
from jointuse.messages.settings import MessagesSettings

__all__ = [
    "KEY_HEADER",
    "Answer",
    "IdempotencyDep",
    "answer",
    "answer_value",
    "idempotency_request",
    "messages_settings",
    "respond",
]


def messages_settings(request: Request) -> MessagesSettings:
    """The messages area's settings the app was built with (defaults otherwise)."""
    found = getattr(request.app.state, "messages", None)
    return found if isinstance(found, MessagesSettings) else MessagesSettings()


async def idempotency_request(request: Request) -> IdempotentRequest | None:
    """FastAPI dependency: the request under its ``Idempotency-Key`` (None without one)."""
    raw = request.headers.get(KEY_HEADER)
    if raw is None:
        return None
    return IdempotentRequest.of(
        raw,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        ttl=messages_settings(request).idempotency_ttl,
    )


IdempotencyDep = Annotated[IdempotentRequest | None, Depends(idempotency_request)]


def respond(result: Answer) -> Response:
    """The HTTP response of an answer (``204``: no body)."""
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    if result.status == 204:
        return Response(status_code=204, headers=headers)
    return JSONResponse(result.body, status_code=result.status, headers=headers)


async def answer(
    credentials: Credentials,
    request: IdempotentRequest | None,
    use_case: Callable[[UnitOfWork, Caller], Answer],
) -> Response:
    """Run ``use_case`` in the request's unit of work under its key; the response."""
    result = await run_unit(
        credentials.engine,
        as_caller,
        credentials.engine,
        credentials.authenticate,
        keyed(request, _jsonable(use_case)),
    )
    return respond(result)


async def answer_value(
    credentials: Credentials,
    request: IdempotentRequest | None,
    code: int,
    use_case: Callable[[UnitOfWork, Caller], Any],
    kept: Callable[[Any], Any] | None = None,
) -> Response:
    """:func:`answer` for a use case that returns a body (a model or JSON values), answered
    with ``code``; ``kept`` makes what a replay keeps of a body that carries personal data."""

    def run(uow: UnitOfWork, caller: Caller) -> Answer:
        body = use_case(uow, caller)
        return Answer(code, body) if kept is None else Answer(code, body, kept=kept(body))

    return await answer(credentials, request, run)


def _jsonable(
    use_case: Callable[[UnitOfWork, Caller], Answer],
) -> Callable[[UnitOfWork, Caller], Answer]:
    """The answer's body as JSON values (models dumped as FastAPI would), before it is kept."""

    def run(uow: UnitOfWork, caller: Caller) -> Answer:
        return use_case(uow, caller).map(jsonable_encoder)

    return run
