"""Pushing messages to the parties' webhooks: the background delivery worker.

:class:`WebhookDeliverer` (started by the server in the app's lifespan, like the ledger's sealer)
runs :func:`deliver_due` every ``JOINTUSE_WEBHOOK_INTERVAL`` seconds:

1. **claim** the webhooks that are due and owed a message, under a lease, in one short
   transaction (:func:`jointuse.messages.repository.claim_due`: ``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, the write lock on SQLite) — two server processes never push to one party at once;
2. for each claimed party (several parties in parallel, one party's messages one after the
   other, oldest first): read its messages still to push, and ``POST`` each, signed
   (:mod:`jointuse.messages.signing`), with ``JOINTUSE_WEBHOOK_TIMEOUT`` to answer; no
   transaction is open while the receiver answers, and its answer body is not read;
3. record each outcome in a short transaction of its own:

   * **2xx**: the message is ``pushed``; the next one follows;
   * anything else (another status, a timeout, a refused connection; redirects are not
     followed): the attempt is counted on the webhook, and the party's queue waits — **ordered
     per recipient**: a later message is not pushed before an earlier one — until the next
     attempt, after an exponential backoff with jitter: ``d = min(BACKOFF × 2^(n-1),
     BACKOFF_MAX)`` after the *n*-th failure, the wait drawn uniformly in ``[d/2, d]`` so that
     many webhooks failing together do not retry together;
   * the ``JOINTUSE_WEBHOOK_MAX_ATTEMPTS``-th failure gives the message up: it is marked
     ``failed``, listed with its last error in ``GET /v1/webhooks``, stays in the inbox (peek
     still shows it), and the queue goes on with the next message.

   A message acknowledged before its push is not pushed (``skipped``).

Delivery is **at least once**: a push whose 2xx answer is lost (or whose worker dies before
recording it) is sent again, with the same message ID; receivers deduplicate on it
(:class:`jointuse.messages.signing.ReplayGuard`). Times here are the wall clock (signatures are
checked against receivers' clocks), not the app's business clock.

The worker also deletes expired idempotency keys (:func:`jointuse.messages.idempotency.
purge_expired`), once a minute.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.core.periodic import PeriodicWorker
from jointuse.messages import repository as repo
from jointuse.messages.idempotency import purge_expired
from jointuse.messages.repository import Claimed, Pending
from jointuse.messages.settings import MessagesSettings
from jointuse.messages.signing import sign

log = logging.getLogger(__name__)

USER_AGENT = "jointuse-webhooks/1"
BATCH = 50  # messages of one party per claim
PARTIES = 32  # parties claimed per run
PURGE_EVERY = 60.0  # seconds between purges of expired idempotency keys

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class DeliveryReport:
    claimed: int = 0
    pushed: int = 0
    retried: int = 0
    given_up: int = 0
    skipped: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.pushed += other.pushed
        self.retried += other.retried
        self.given_up += other.given_up
        self.skipped += other.skipped


def retry_delay(settings: MessagesSettings, attempts: int, rng: random.Random) -> float:
    """Seconds to wait after ``attempts`` failures: uniform in ``[d/2, d]`` (see above)."""
    ceiling = settings.backoff_ceiling(attempts)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def push(
    client: httpx.Client, url: str, secret: str, message: Pending, *, timeout: float, at: datetime
) -> tuple[int | None, str | None]:
    """POST one message, signed; (status, None) on 2xx, else (status or None, error)."""
    body = message.payload()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **sign(secret, str(message.id), body, timestamp=int(at.timestamp())),
    }
    try:
        with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as r:
            status = r.status_code
    except httpx.TimeoutException:
        return None, f"no answer within {timeout:g} s (timeout)"
    except Exception as exc:  # refused connection, bad host, TLS failure …: an attempt failed
        return None, f"{type(exc).__name__}: {exc}"[:300]
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"


def _deliver_party(
    engine: Engine,
    hook: Claimed,
    *,
    client: httpx.Client,
    settings: MessagesSettings,
    owner: str,
    wall: Clock,
    rng: random.Random,
    lease: timedelta,
) -> DeliveryReport:
    report = DeliveryReport(claimed=1)
    with UnitOfWork(engine, read_only=True) as uow:
        messages = repo.pending_messages(uow.connection, hook.party, hook.from_message_id, BATCH)
    attempts = hook.attempts
    for message in messages:
        if message.acked:
            with UnitOfWork(engine) as uow:
                repo.mark_messages(uow.connection, [message.id], "skipped", wall())
            report.skipped += 1
            continue
        tries = attempts if hook.head_message_id == message.id else 0
        status, error = push(
            client, hook.url, hook.secret, message, timeout=settings.webhook_timeout, at=wall()
        )
        at = wall()
        if error is None:
            with UnitOfWork(engine) as uow:
                repo.mark_messages(uow.connection, [message.id], "pushed", at)
                owned = repo.record_pushed(
                    uow.connection,
                    party=hook.party,
                    owner=owner,
                    status=status or 200,
                    at=at,
                    lease=lease,
                )
            report.pushed += 1
            attempts = 0
            if not owned:
                return report
            continue
        tries += 1
        if tries >= settings.webhook_max_attempts:
            with UnitOfWork(engine) as uow:
                owned = repo.record_given_up(
                    uow.connection,
                    party=hook.party,
                    owner=owner,
                    message_id=message.id,
                    attempts=tries,
                    status=status,
                    error=error,
                    at=at,
                    lease=lease,
                )
            log.warning(
                "webhook of %s: message %s given up after %s attempts (%s)",
                hook.party,
                message.id,
                tries,
                error,
            )
            report.given_up += 1
            attempts = 0
            if not owned:
                return report
            continue
        next_at = at + timedelta(seconds=retry_delay(settings, tries, rng))
        with UnitOfWork(engine) as uow:
            repo.record_retry(
                uow.connection,
                party=hook.party,
                owner=owner,
                message_id=message.id,
                attempts=tries,
                status=status,
                error=error,
                at=at,
                next_at=next_at,
            )
        report.retried += 1
        return report
    with UnitOfWork(engine) as uow:
        repo.release(uow.connection, party=hook.party, owner=owner)
    return report


def deliver_due(
    engine: Engine,
    *,
    client: httpx.Client,
    settings: MessagesSettings,
    owner: str | None = None,
    wall: Clock = _now,
    rng: random.Random | None = None,
    pool: ThreadPoolExecutor | None = None,
) -> DeliveryReport:
    """One round of deliveries (see the module docstring); ``pool`` pushes to several parties
    at once (without one, they are served one after the other)."""
    me = owner or uuid.uuid4().hex
    lease = timedelta(seconds=2 * settings.webhook_timeout + 30)
    with UnitOfWork(engine) as uow:
        claimed = repo.claim_due(uow.connection, now=wall(), owner=me, lease=lease, limit=PARTIES)
    report = DeliveryReport()
    if not claimed:
        return report
    chance = rng or random.Random()

    def one(hook: Claimed) -> DeliveryReport:
        try:
            return _deliver_party(
                engine,
                hook,
                client=client,
                settings=settings,
                owner=me,
                wall=wall,
                rng=chance,
                lease=lease,
            )
        except Exception:
            log.exception("webhook delivery to %s failed; its lease will expire", hook.party)
            return DeliveryReport(claimed=1)

    results = list(pool.map(one, claimed)) if pool is not None else [one(h) for h in claimed]
    for r in results:
        report.add(r)
    return report


class WebhookDeliverer(PeriodicWorker):
    """Runs :func:`deliver_due` every ``settings.webhook_interval`` seconds in a daemon thread
    (pushes to up to ``parallel`` parties at once), and purges expired idempotency keys by the
    app's ``clock`` once a minute. ``totals`` adds up the rounds' reports."""

    what = "webhook delivery"
    thread_name = "webhook-delivery"

    def __init__(
        self,
        engine: Engine,
        settings: MessagesSettings,
        *,
        clock: Clock = _now,
        wall: Clock = _now,
        rng: random.Random | None = None,
        parallel: int = 8,
    ) -> None:
        super().__init__(interval=settings.webhook_interval)
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.wall = wall
        self.owner = uuid.uuid4().hex
        self.totals = DeliveryReport()
        self._rng = rng or random.Random()
        self._client = httpx.Client(follow_redirects=False, timeout=settings.webhook_timeout)
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="webhook-push")
        self._last_purge = float("-inf")
        self._stopping = False

    def run_once(self) -> None:
        if self._stopping:  # no new pushes while the server shuts down
            return
        self.totals.add(
            deliver_due(
                self.engine,
                client=self._client,
                settings=self.settings,
                owner=self.owner,
                wall=self.wall,
                rng=self._rng,
                pool=self._pool,
            )
        )
        if time.monotonic() - self._last_purge >= PURGE_EVERY:
            with UnitOfWork(self.engine) as uow:
                purge_expired(uow.connection, at=self.clock())
            self._last_purge = time.monotonic()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        super().stop(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
