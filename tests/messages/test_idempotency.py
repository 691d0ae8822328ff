"""Idempotency keys in the caller's unit of work, on SQLite and PostgreSQL: one effect per key,
the first answer replayed, another request under a key refused (422 naming the header), expiry,
refusals not kept, and the primary key as the rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from jointuse.core.conflicts import Conflict
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.messages.idempotency import (
    KEY_HEADER,
    Answer,
    IdempotentRequest,
    idempotent,
    purge_expired,
)
from jointuse.messages.service import peek, post
from jointuse.messages.tables import idempotency_key

AT = datetime(2025, 3, 1, 3, tzinfo=UTC)
UowFactory = Callable[..., UnitOfWork]


def _request(
    body: bytes = b'{"a": 1, "b": [1, 2]}', *, key: str = "k-1", **kw: object
) -> IdempotentRequest:
    args: dict[str, object] = {
        "method": "POST",
        "path": "/v1/things",
        "body": body,
        "content_type": "application/json",
        "ttl": 3600.0,
    }
    args.update(kw)
    return IdempotentRequest.of(key, **args)  # type: ignore[arg-type]


def _posting(uow: UowFactory, request: IdempotentRequest | None, at: datetime = AT) -> Answer:
    """A use case with an effect (a message posted), under ``request``'s key."""
    with uow() as u:

        def run() -> Answer:
            mid = post(
                u.connection,
                recipient="r-a",
                kind="flow_filed",
                subject_ref={"flow_id": "f-1"},
                body={},
                at=at,
            )
            return Answer(201, {"message_id": mid})

        return idempotent(u.connection, party="r-a", request=request, at=at, run=run)


def _effects(uow: UowFactory) -> int:
    with uow(read_only=True) as u:
        return len(peek(u.connection, "r-a", limit=1000))


def test_the_same_key_and_body_have_one_effect_and_the_first_answer(uow: UowFactory) -> None:
    first = _posting(uow, _request())
    again = _posting(uow, _request(b'{"b":[1,2],"a":1}'))  # the same JSON, other spacing/order
    assert (first.status, first.replayed) == (201, False)
    assert (again.status, again.body, again.replayed) == (201, first.body, True)
    assert _effects(uow) == 1
    _posting(uow, None)  # without a key: runs every time
    _posting(uow, None)
    assert _effects(uow) == 3


@pytest.mark.parametrize(
    "other",
    [
        {"body": b'{"a": 2}'},
        {"path": "/v1/other-things"},
        {"method": "PUT"},
        {"query": "x=1"},
    ],
)
def test_the_same_key_with_another_request_is_a_422_naming_the_header(
    uow: UowFactory, other: dict[str, object]
) -> None:
    _posting(uow, _request())
    with pytest.raises(ValidationError) as caught:
        _posting(uow, _request(**other))  # type: ignore[arg-type]
    assert caught.value.field == KEY_HEADER and "new key" in caught.value.message
    assert _effects(uow) == 1


def test_keys_are_per_party(uow: UowFactory) -> None:
    _posting(uow, _request())
    with uow() as u:
        other = idempotent(
            u.connection,
            party="r-b",
            request=_request(b"{}"),
            at=AT,
            run=lambda: Answer(200, {"party": "r-b"}),
        )
    assert other.replayed is False and other.body == {"party": "r-b"}


def test_an_expired_key_is_used_afresh_and_purged(uow: UowFactory) -> None:
    _posting(uow, _request())
    later = AT + timedelta(seconds=3601)
    fresh = _posting(uow, _request(b'{"a": 2}'), at=later)  # expired: even another body runs
    assert fresh.replayed is False and _effects(uow) == 2
    with uow() as u:
        assert purge_expired(u.connection, at=later) == 0  # the fresh one lives
        assert purge_expired(u.connection, at=later + timedelta(seconds=3601)) == 1
        assert u.connection.execute(select(func.count()).select_from(idempotency_key)).scalar() == 0


def test_a_refused_request_keeps_no_answer_and_runs_again(uow: UowFactory) -> None:
    calls: list[int] = []

    def refused() -> Answer:
        calls.append(1)
        raise NotFound("no such thing")

    for _ in range(2):
        with pytest.raises(NotFound), uow() as u:
            idempotent(u.connection, party="r-a", request=_request(), at=AT, run=refused)
    assert len(calls) == 2  # nothing kept: the retry runs (and may succeed)
    assert _posting(uow, _request()).replayed is False


def test_an_unfinished_record_is_a_409_naming_the_rule_never_a_second_effect(
    uow: UowFactory,
) -> None:
    request = _request()
    with uow() as u:  # a record without an answer (as a use case that swallowed a rollback)
        u.connection.execute(
            idempotency_key.insert().values(
                party="r-a",
                key=request.key,
                route=request.route,
                fingerprint=request.fingerprint,
                created_at=AT,
                expires_at=AT + timedelta(hours=1),
            )
        )
    with pytest.raises(Conflict) as caught:
        _posting(uow, request)
    assert caught.value.rule == "pk_idempotency_key"
    assert _effects(uow) == 0


@pytest.mark.parametrize("key", ["", " ", "ü-key", "a b", "x" * 201, "tab\there"])
def test_a_malformed_key_is_a_422_naming_the_header(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _request(key=key)
    assert caught.value.field == KEY_HEADER


def test_the_key_is_a_database_rule(engine: Engine, uow: UowFactory) -> None:
    from sqlalchemy.exc import IntegrityError

    from jointuse.core.conflicts import conflict_from

    _posting(uow, _request())
    with pytest.raises(IntegrityError) as caught, uow() as u:
        u.connection.execute(
            idempotency_key.insert().values(
                party="r-a",
                key="k-1",
                route="POST /x",
                fingerprint="0" * 64,
                created_at=AT,
                expires_at=AT,
            )
        )
    conflict = conflict_from(caught.value)
    assert conflict is not None and conflict.rule == "pk_idempotency_key"


def test_bulk_rows_have_keys_of_their_own() -> None:
    parent = _request()
    one, two = parent.for_row(1), parent.for_row(2)
    assert (one.key, two.key) == ("k-1#1", "k-1#2")
    assert len({parent.fingerprint, one.fingerprint, two.fingerprint}) == 3
