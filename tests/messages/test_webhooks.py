"""Webhook pushes to a REAL local HTTP receiver, on SQLite and PostgreSQL: signed (verified on the
receiver's side), in order per recipient, retried with backoff after failures, given up after
the last attempt (visible, the message still in the inbox), one delivery per message when two
workers run at once, and the server's worker started in the app's lifespan."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from receiver import always, receiver
from sqlalchemy import Engine

from jointuse.app import create_app
from jointuse.core.db import UnitOfWork
from jointuse.messages import webhooks
from jointuse.messages.delivery import deliver_due, retry_delay
from jointuse.messages.service import acknowledge, peek, post_many
from jointuse.messages.settings import MessagesSettings
from jointuse.messages.signing import verify_signature
from jointuse.parties import service as parties

AT = datetime(2025, 3, 1, 3, tzinfo=UTC)
UowFactory = Callable[..., UnitOfWork]
SETTINGS = MessagesSettings(
    webhook_timeout=0.5,
    webhook_max_attempts=3,
    webhook_backoff=10.0,
    webhook_backoff_max=100.0,
    webhook_allow_http=True,
)


class Wall:
    """The delivery worker's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.moment

    def timestamp(self) -> float:
        return self().timestamp()

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.moment += timedelta(seconds=seconds)


def _party(engine: Engine, code: str) -> None:
    parties.add_party(
        engine,
        code=code,
        kind="retailer",
        name_ja=code,
        name_en=code,
        meti_registration="A" + str(abs(hash(code)) % 10000).zfill(4),
    )


def _register(uow: UowFactory, party: str, url: str, wall: Wall) -> str:
    with uow() as u:
        view, created = webhooks.register(
            u.connection, party=party, url=url, at=AT, allow_http=True, wall=wall()
        )
    assert created
    return str(view["secret"])


def _post(uow: UowFactory, recipient: str, n: int) -> list[int]:
    with uow() as u:
        post_many(
            u.connection,
            [
                {
                    "recipient": recipient,
                    "kind": "date_fixed",
                    "subject_ref": {"flow_id": f"{recipient}-f{i}"},
                    "body": {"state": "date_fixed"},
                }
                for i in range(n)
            ],
            at=AT,
        )
        return [m.id for m in peek(u.connection, recipient, limit=1000)][-n:]


def _status(uow: UowFactory, party: str) -> dict[str, Any]:
    with uow(read_only=True) as u:
        return webhooks.status(u.connection, party=party)


def _deliver(engine: Engine, client: httpx.Client, wall: Wall, **kw: Any) -> Any:
    return deliver_due(
        engine, client=client, settings=SETTINGS, wall=wall, rng=random.Random(7), **kw
    )


def test_pushes_are_signed_ordered_and_leave_the_inbox_as_it_was(
    engine: Engine, uow: UowFactory
) -> None:
    _party(engine, "r-a")
    wall = Wall()
    before = _post(uow, "r-a", 1)  # posted before the registration: in the inbox only
    with receiver() as rec, httpx.Client() as client:
        rec.secret = _register(uow, "r-a", rec.url, wall)
        rec.now = wall.timestamp
        ids = _post(uow, "r-a", 3)
        report = _deliver(engine, client, wall)
        assert report.pushed == 3
        got = rec.received
        assert [r.message_id for r in got] == [str(i) for i in ids]  # in order, the new ones
        assert all(r.verified for r in got), [r.reason for r in got]
        first = got[0].json()
        assert first["id"] == ids[0] and first["recipient"] == "r-a"
        assert first["kind"] == "date_fixed" and first["subject_ref"] == {"flow_id": "r-a-f0"}
        assert _deliver(engine, client, wall).pushed == 0  # nothing is pushed twice
    state = _status(uow, "r-a")["delivery"]
    assert (state["pending"], state["delivered"], state["attempts"]) == (0, 3, 0)
    with uow(read_only=True) as u:  # a push does not acknowledge
        assert [m.id for m in peek(u.connection, "r-a")] == before + ids


def test_a_receiver_failing_twice_then_succeeding_gets_it_after_backoff_in_order(
    engine: Engine, uow: UowFactory
) -> None:
    _party(engine, "r-a")
    wall = Wall()
    with receiver(lambda n, _id: (500 if n <= 2 else 204, 0.0)) as rec, httpx.Client() as c:
        rec.secret = _register(uow, "r-a", rec.url, wall)
        rec.now = wall.timestamp
        first, second = _post(uow, "r-a", 2)

        assert _deliver(engine, c, wall).retried == 1
        state = _status(uow, "r-a")["delivery"]
        assert state["attempts"] == 1 and state["head_message_id"] == first
        assert state["last_status"] == 500 and state["last_error"] == "HTTP 500"
        waited = datetime.fromisoformat(state["next_attempt_at"]) - wall()
        assert timedelta(seconds=5) <= waited <= timedelta(seconds=10)  # [d/2, d], d = 10 s
        assert _deliver(engine, c, wall).claimed == 0  # not before its time
        assert rec.ids() == [str(first)]  # the second waits behind the first: ordered

        wall.advance(10)
        assert _deliver(engine, c, wall).retried == 1
        state = _status(uow, "r-a")["delivery"]
        waited = datetime.fromisoformat(state["next_attempt_at"]) - wall()
        assert state["attempts"] == 2 and timedelta(seconds=10) <= waited <= timedelta(seconds=20)

        wall.advance(20)
        assert _deliver(engine, c, wall).pushed == 2
        assert rec.ids() == [str(first)] * 3 + [str(second)]
        stamps = {r.headers["Jointuse-Timestamp"] for r in rec.received[:3]}
        assert len(stamps) == 3  # each retry signed anew, with the same message ID
        assert all(r.verified for r in rec.received)
    state = _status(uow, "r-a")["delivery"]
    assert state["attempts"] == 0 and state["last_error"] is None and state["delivered"] == 2


def test_a_receiver_that_times_out_is_given_up_visibly_and_the_queue_goes_on(
    engine: Engine, uow: UowFactory
) -> None:
    _party(engine, "r-a")
    wall = Wall()
    slow: set[str] = set()
    with receiver(lambda n, mid: (204, 2.0 if mid in slow else 0.0)) as rec, httpx.Client() as c:
        rec.secret = _register(uow, "r-a", rec.url, wall)
        rec.now = wall.timestamp
        stuck, fine = _post(uow, "r-a", 2)
        slow.add(str(stuck))
        for _ in range(SETTINGS.webhook_max_attempts):
            _deliver(engine, c, wall)
            wall.advance(SETTINGS.webhook_backoff_max)
        assert rec.ids() == [str(stuck)] * 3 + [str(fine)]
    state = _status(uow, "r-a")["delivery"]
    assert state["given_up"] == 1 and state["delivered"] == 1 and state["pending"] == 0
    (failure,) = state["recent_failures"]
    assert failure["message_id"] == stuck and failure["attempts"] == 3
    assert "timeout" in failure["last_error"]
    with uow(read_only=True) as u:  # both still in the inbox, to peek
        assert [m.id for m in peek(u.connection, "r-a")] == [stuck, fine]


def test_a_message_acknowledged_before_its_push_is_not_pushed(
    engine: Engine, uow: UowFactory
) -> None:
    _party(engine, "r-a")
    wall = Wall()
    with receiver() as rec, httpx.Client() as c:
        rec.secret = _register(uow, "r-a", rec.url, wall)
        rec.now = wall.timestamp
        read, unread = _post(uow, "r-a", 2)
        with uow() as u:
            acknowledge(u.connection, "r-a", [read], at=AT)
        report = _deliver(engine, c, wall)
        assert (report.skipped, report.pushed) == (1, 1)
        assert rec.ids() == [str(unread)]


def test_two_workers_at_once_deliver_each_message_once_in_order(
    engine: Engine, uow: UowFactory
) -> None:
    wall = Wall()
    codes = ["r-a", "r-b", "r-c"]
    for code in codes:
        _party(engine, code)
    with receiver(always(204, 0.01)) as rec:
        secrets = {code: _register(uow, code, rec.url, wall) for code in codes}
        rec.secret = list(secrets.values())  # any of three; each checked below by its party
        posted = {code: _post(uow, code, 12) for code in codes}
        errors: list[BaseException] = []

        def worker(name: str) -> None:
            try:
                with httpx.Client() as client:
                    for _ in range(40):
                        _deliver(engine, client, wall, owner=name)
                        if len(rec.ids()) >= 36:
                            return
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        got = rec.received
    ids = [r.message_id for r in got]
    assert sorted(ids) == sorted(str(i) for m in posted.values() for i in m)  # each once
    by_party: dict[str, list[int]] = {}
    for r in got:
        body = r.json()
        by_party.setdefault(body["recipient"], []).append(body["id"])
        verify_signature(secrets[body["recipient"]], body=r.body, headers=r.headers)
    assert by_party == posted  # ordered per recipient


def test_retry_delay_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(1)
    for attempts, ceiling in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = [retry_delay(SETTINGS, attempts, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 40  # jittered, not one value


def test_the_server_pushes_in_the_background_and_the_api_manages_the_webhook(
    engine: Engine, uow: UowFactory
) -> None:
    parties.seed_reference_parties(engine)
    _party(engine, "r-a")
    token = parties.issue_token(engine, "r-a").secret
    auth = {"Authorization": f"Bearer {token}"}
    env = {"JOINTUSE_WEBHOOK_ALLOW_HTTP": "1", "JOINTUSE_WEBHOOK_INTERVAL": "0.05"}
    app = create_app(engine=engine, run_sealer=False, run_webhooks=True, environ=env)
    with receiver() as rec, TestClient(app) as client:
        assert client.get("/v1/webhooks", headers=auth).status_code == 404
        r = client.put("/v1/webhooks", json={"url": rec.url}, headers=auth)
        assert r.status_code == 201, r.text
        rec.secret = r.json()["secret"]
        assert rec.secret.startswith("whsec_")
        (message_id,) = _post(uow, "r-a", 1)
        (push,) = rec.wait_for(1)
        assert push.verified and push.json()["id"] == message_id
        shown = client.get("/v1/webhooks", headers=auth).json()
        assert shown["secret"] is None and shown["url"] == rec.url
        again = client.put("/v1/webhooks", json={"url": rec.url}, headers=auth)
        assert again.status_code == 200 and again.json()["secret"] != rec.secret  # rotated
        assert client.delete("/v1/webhooks", headers=auth).status_code == 204
        assert client.delete("/v1/webhooks", headers=auth).status_code == 404
        assert client.put("/v1/webhooks", json={"url": rec.url}).status_code == 401


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("ftp://example.jp/hook", "scheme"),
        ("https://", "no host"),
        ("https://user:pw@example.jp/hook", "credentials"),
        ("https://example.jp/hook#x", "fragment"),
        ("example.jp/hook", "scheme"),
        ("https://example.jp/" + "a" * 2100, "characters long"),
        ("https://exa mple.jp/", "spaces"),
    ],
)
def test_a_bad_webhook_url_is_a_422_naming_it(engine: Engine, url: str, names: str) -> None:
    _party(engine, "r-a")
    token = parties.issue_token(engine, "r-a").secret
    app = create_app(engine=engine, run_sealer=False, environ={})
    with TestClient(app) as client:
        r = client.put(
            "/v1/webhooks", json={"url": url}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["field"] in ("url", "body.url")
        if len(url) <= 2048:
            assert names in problem["detail"]
        # http:// is refused unless the operator allows it
        r = client.put(
            "/v1/webhooks",
            json={"url": "http://example.jp/hook"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 422 and "scheme 'http'" in r.json()["detail"]


def test_a_claimed_webhook_is_skipped_by_another_worker_until_its_lease_expires(
    engine: Engine, uow: UowFactory, backend: str
) -> None:
    from jointuse.messages.repository import claim_due

    _party(engine, "r-a")
    wall = Wall()
    _register(uow, "r-a", "http://127.0.0.1:9/hook", wall)
    _post(uow, "r-a", 1)
    lease = timedelta(seconds=31)
    if backend == "postgresql":
        # while the first claim's transaction is open, a second worker skips the locked row at
        # once (SKIP LOCKED) instead of waiting for it
        with uow() as first:
            assert [
                c.party
                for c in claim_due(first.connection, now=wall(), owner="w1", lease=lease, limit=5)
            ] == ["r-a"]
            with uow() as second:
                assert (
                    claim_due(second.connection, now=wall(), owner="w2", lease=lease, limit=5) == []
                )
    else:
        with uow() as first:
            claim_due(first.connection, now=wall(), owner="w1", lease=lease, limit=5)
    with uow() as second:  # committed: the lease keeps it w1's
        assert claim_due(second.connection, now=wall(), owner="w2", lease=lease, limit=5) == []
    wall.advance(32)  # w1 died: its lease runs out, w2 takes the party over
    with uow() as second:
        taken = claim_due(second.connection, now=wall(), owner="w2", lease=lease, limit=5)
    assert [c.party for c in taken] == ["r-a"]
