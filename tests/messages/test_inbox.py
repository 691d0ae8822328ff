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


def test_post_returns_the_message_id_in_the_callers_transaction(uow: UowFactory) -> None:
    from jointuse.messages.service import post

    with uow() as u:
        mid = post(
            u.connection,
            recipient="r-a",
            kind="date_fixed",
            subject_ref={"flow_id": "f-1"},
            body={"state": "date_fixed"},
            at=AT,
        )
        assert [m.id for m in peek(u.connection, "r-a")] == [mid]


@pytest.mark.parametrize(
    "key",
    [
        "name",
        "forwarded_name",
        "name_kana",
        "address_rest",
        "postal_code",
        "Phone",
        "old_contract_number",
        "contract_number",
    ],
)
def test_keys_made_of_a_basic_item_of_the_policy_are_refused(uow: UowFactory, key: str) -> None:
    from jointuse.messages.service import basic_items

    assert basic_items() == {"name", "address", "phone", "contract_number"}  # from the policy
    with pytest.raises(ValidationError) as caught, uow() as u:
        post_many(u.connection, [_msg("r-a", 1, detail={key: "x"})], at=AT)
    assert key in caught.value.message and "contract_number" in str(caught.value.valid)
    with uow() as u:  # references and states are fine
        post_many(u.connection, [_msg("r-a", 2, flow_kind="switch", reasons=["E01"])], at=AT)


def test_inbox_cli_lists_and_acknowledges_as_a_party(database_url: str, engine: Engine) -> None:
    import json

    from typer.testing import CliRunner

    from jointuse.cli import app

    parties.add_party(
        engine, code="r-a", kind="retailer", name_ja="エー", name_en="A", meti_registration="A0011"
    )
    with UnitOfWork(engine) as u:
        post_many(u.connection, [_msg("r-a", 1), _msg("r-a", 2), _msg("r-b", 3)], at=AT)
    run = CliRunner()
    db = ["--database-url", database_url]
    listed = run.invoke(app, ["inbox", "list", "--as", "r-a", "--json", *db])
    assert listed.exit_code == 0, listed.output
    ids = [m["id"] for m in json.loads(listed.stdout)["messages"]]
    assert len(ids) == 2
    acked = run.invoke(app, ["inbox", "ack", "--as", "r-a", str(ids[0]), *db])
    assert acked.exit_code == 0 and "acknowledged 1" in acked.output
    lines = run.invoke(app, ["inbox", "list", "--as", "r-a", *db]).stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(ids[1])]
    assert "flow_id=f-2" in lines[0]
    theirs = run.invoke(app, ["inbox", "ack", "--as", "r-a", str(ids[1] + 1), *db])
    assert theirs.exit_code == 2 and "no message" in theirs.output  # r-b's: not found
    unknown = run.invoke(app, ["inbox", "list", "--as", "nobody", *db])
    assert unknown.exit_code == 2 and "no party" in unknown.output
