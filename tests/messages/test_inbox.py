"""Each party's inbox, on SQLite and PostgreSQL: posted with the state change (an outbox that
rolls back with it), no personal data, peek in order, acknowledge one's own only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.messages.service import acknowledge, peek, post_many
from jointuse.parties import service as parties

AT = datetime(2024, 3, 1, 3, tzinfo=UTC)
UowFactory = Callable[..., UnitOfWork]


def _msg(recipient: str, n: int, **body: object) -> dict[str, object]:
    return {
        "recipient": recipient,
        "kind": "flow_filed",
        "subject_ref": {"flow_id": f"f-{n}", "supply_point_id": "03" + "1" * 20},
        "body": {"state": "awaiting_judgement", **body},
    }


def test_post_commits_and_rolls_back_with_the_callers_transaction(uow: UowFactory) -> None:
    with uow() as u:
        assert post_many(u.connection, [_msg("r-a", 1), _msg("r-b", 2)], at=AT) == 2
    with pytest.raises(RuntimeError), uow() as u:
        post_many(u.connection, [_msg("r-a", 3)], at=AT)
        raise RuntimeError("the state change failed")
    with uow() as u:
        assert [m.subject_ref["flow_id"] for m in peek(u.connection, "r-a")] == ["f-1"]
        assert [m.subject_ref["flow_id"] for m in peek(u.connection, "r-b")] == ["f-2"]


def test_a_message_may_not_carry_personal_data(uow: UowFactory) -> None:
    for bad in (_msg("r-a", 1, name="山田"), _msg("r-a", 2, detail={"phone": "0311112222"})):
        with pytest.raises(ValidationError) as caught, uow() as u:
            post_many(u.connection, [bad], at=AT)
        assert caught.value.field == "body"
    with pytest.raises(ValidationError), uow() as u:
        post_many(u.connection, [_msg("r-a", 3, blob="x" * 5000)], at=AT)


def test_peek_in_order_after_a_cursor_and_acknowledge_own_only(uow: UowFactory) -> None:
    with uow() as u:
        post_many(u.connection, [_msg("r-a", n) for n in range(5)] + [_msg("r-b", 9)], at=AT)
    with uow() as u:
        first = peek(u.connection, "r-a", limit=2)
        rest = peek(u.connection, "r-a", after=first[-1].id)
        theirs = peek(u.connection, "r-b")
    assert [m.subject_ref["flow_id"] for m in first + rest] == [f"f-{n}" for n in range(5)]
    with pytest.raises(NotFound), uow() as u:  # another party's message: not found, nothing done
        acknowledge(u.connection, "r-a", [first[0].id, theirs[0].id], at=AT)
    with uow() as u:
        assert acknowledge(u.connection, "r-a", [first[0].id, first[1].id], at=AT) == 2
        assert acknowledge(u.connection, "r-a", [first[0].id], at=AT) == 0  # twice: harmless
    with uow() as u:
        assert len(peek(u.connection, "r-a")) == 3
        assert len(peek(u.connection, "r-a", include_acked=True)) == 5


def test_inbox_over_http(engine: Engine, uow: UowFactory) -> None:
    parties.seed_reference_parties(engine)
    parties.add_party(
        engine, code="r-a", kind="retailer", name_ja="エー", name_en="A", meti_registration="A0011"
    )
    token = parties.issue_token(engine, "r-a").secret
    with uow() as u:
        post_many(u.connection, [_msg("r-a", 1), _msg("tso-03", 2)], at=AT)
    app = create_app(engine=engine, run_sealer=False, environ={})
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        r = client.get("/v1/inbox", headers=headers)
        assert r.status_code == 200, r.text
        (message,) = r.json()["messages"]
        assert message["subject_ref"]["flow_id"] == "f-1"
        assert client.get("/v1/inbox").status_code == 401
        r = client.post("/v1/inbox/ack", json={"ids": [message["id"] + 1]}, headers=headers)
        assert r.status_code == 404  # tso-03's message
        r = client.post("/v1/inbox/ack", json={"ids": [message["id"]]}, headers=headers)
        assert r.json() == {"acknowledged": 1}
        assert client.get("/v1/inbox", headers=headers).json()["messages"] == []
