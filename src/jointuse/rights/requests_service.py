"""The rights requests' use cases as the edges call them (HTTP routes, the operator's CLI): each
opens its unit of work and, for the customer, authenticates the session on its connection."""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from jointuse.access.gate import Gate, commit_alone, refusal_entry
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound
from jointuse.core.mail import Mailer
from jointuse.core.periodic import PeriodicWorker
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from jointuse.rights import requests as rr
from jointuse.rights.identity import Account, links
from jointuse.rights.service import as_customer


class NotReady(JointuseError):
    """The disclosure is not ready for download (409: its state and when it is due)."""

    code = "disclosure_not_ready"
    status = 409


def party_names(engine: Engine) -> dict[str, tuple[str, str]]:
    return {p.code: (p.name_ja, p.name_en) for p in parties.list_parties(engine)}


def submit_for(
    uow: UnitOfWork, account: Account, gate: Gate, at: datetime, kind: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """The signed-in customer's new request of ``kind`` (its view): the API's and the portal's
    one use case."""
    days = rr.deadline_days()
    if kind == "disclosure":
        r = rr.submit_disclosure(uow, account, fmt=fields["format"], at=at, days=days)
    elif kind == "correction":
        r = rr.submit_correction(uow, account, gate.policy, at=at, days=days, **fields)
    else:
        r = rr.submit_stop_use(uow, account, gate.policy, at=at, days=days, **fields)
    return rr.view(uow.connection, r, at)


def submit(
    engine: Engine,
    bearer: str | None,
    at: datetime,
    gate: Gate,
    kind: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    return as_customer(
        engine, bearer, at, lambda uow, account: submit_for(uow, account, gate, at, kind, fields)
    )


def _own(
    uow: UnitOfWork, account: Account, rights_id: str, request_id: str | None = None
) -> rr.RightsRequest:
    """The customer's own request; another's (or none) is refused as unknown, on the ledger."""
    r = rr.get(uow.connection, rights_id)
    if r is None or r.account_id != account.id:
        exc = NotFound(f"no request {rights_id[:64]} of yours", rights_request_id=rights_id[:64])
        commit_alone(
            uow,
            refusal_entry(
                actor=Party(f"customer:{account.id}", "data_subject"),
                purpose="subject:request",
                action="read",
                supply_point_id=None,
                customer_id=None,
                reason="rights_request_unknown",
                request_id=request_id or f"rights-{uuid.uuid4().hex[:12]}",
            ),
        )
        exc.recorded_on_ledger = True
        raise exc
    return r


def points_of(uow: UnitOfWork, account: Account) -> list[str]:
    """The supply points of the customer's proven records (what a request can be about)."""
    return sorted({link.supply_point_id for link in links(uow.connection, account)})


def requests_of(uow: UnitOfWork, account: Account, at: datetime) -> dict[str, Any]:
    """The customer's requests (without their steps), by deadline."""
    found = rr.list_requests(uow.connection, at=at, account_id=account.id)
    return {"requests": [rr.view(uow.connection, r, at, steps=False) for r in found]}


def request_of(
    uow: UnitOfWork, account: Account, at: datetime, rights_id: str, request_id: str | None = None
) -> dict[str, Any]:
    """One of the customer's requests, with its steps."""
    return rr.view(uow.connection, _own(uow, account, rights_id, request_id), at)


def my_requests(engine: Engine, bearer: str | None, at: datetime) -> dict[str, Any]:
    return as_customer(engine, bearer, at, lambda uow, account: requests_of(uow, account, at))


def my_request(engine: Engine, bearer: str | None, at: datetime, rights_id: str) -> dict[str, Any]:
    return as_customer(
        engine, bearer, at, lambda uow, account: request_of(uow, account, at, rights_id)
    )


def document_for(
    uow: UnitOfWork, account: Account, rights_id: str, request_id: str
) -> tuple[str, bytes]:
    """The prepared document (format, bytes) of the customer's ready disclosure; the download
    on the ledger."""
    r = _own(uow, account, rights_id, request_id)
    fmt, document = rr.document_of(uow.connection, r.id)
    if r.kind != "disclosure" or r.state != "ready" or fmt is None or document is None:
        raise NotReady(
            f"request {r.id} is {r.state!r}: nothing to download"
            + (f" (due by {r.due_at.isoformat()})" if r.state == "received" else ""),
            state=r.state,
        )
    append(
        uow.connection,
        LedgerEntry(
            party=f"customer:{account.id}",
            purpose="subject:disclosure",
            action="read",
            decision="allowed",
            rule_id="subject:disclosure:download",
            request_id=request_id,
        ),
    )
    return fmt, document


def download(
    engine: Engine, bearer: str | None, at: datetime, rights_id: str, request_id: str
) -> tuple[str, bytes]:
    """The prepared document (format, bytes); the download on the ledger."""
    return as_customer(
        engine,
        bearer,
        at,
        lambda uow, account: document_for(uow, account, rights_id, request_id),
    )


# --- the joint users a request is addressed to (the API's and the console's) ----------------


def addressed(
    uow: UnitOfWork, actor: Party, *, at: datetime, kind: str | None = None
) -> list[dict[str, Any]]:
    """The requests addressed to ``actor`` (its part pending first, then by deadline): what,
    when due and how far — no personal data (reading one is :func:`rr.party_view`, on the
    ledger)."""
    return rr.addressed_to(uow.connection, actor.code, at=at, kind=kind)


# --- the operator (CLI) ---------------------------------------------------------------------------


def operator_list(
    engine: Engine, *, at: datetime, overdue: bool, kind: str | None
) -> list[dict[str, Any]]:
    with UnitOfWork(engine) as uow:
        found = rr.list_requests(uow.connection, at=at, overdue=overdue, kind=kind)
        return [rr.view(uow.connection, r, at, steps=False) for r in found]


def process_disclosures(
    engine: Engine, gate: Gate, mailer: Mailer, *, at: datetime, only: str | None = None
) -> list[str]:
    """Prepare the received disclosures (or ``only`` that one), each in its own transaction."""
    with UnitOfWork(engine) as uow:
        ids = [
            r.id
            for r in rr.list_requests(uow.connection, at=at, kind="disclosure")
            if r.state == "received" and (only is None or r.id == only)
        ]
    if only is not None and not ids:
        raise NotFound(f"no received disclosure request {only}", rights_request_id=only)
    names = party_names(engine)
    for rid in ids:
        with UnitOfWork(engine) as uow:
            rr.prepare_disclosure(uow, gate, mailer, rid, party_names=names, at=at)
    return ids


def refuse_disclosure(
    engine: Engine, mailer: Mailer, rights_id: str, *, ground: str, note: str, at: datetime
) -> dict[str, Any]:
    with UnitOfWork(engine) as uow:
        r = rr.refuse_disclosure(uow, mailer, rights_id, ground=ground, note=note, at=at)
        return rr.view(uow.connection, r, at)


log = logging.getLogger(__name__)


class DisclosurePreparer(PeriodicWorker):
    """The server prepares the received disclosures itself (as ``jointuse requests process``),
    every ``interval`` seconds (``JOINTUSE_RIGHTS_PREPARE_INTERVAL``): each in its own
    transaction, read through the gate, the customer told by e-mail. One that cannot be
    prepared is logged and left for the next run (and the operator); the others go on."""

    what = "disclosure preparation"
    thread_name = "disclosures"

    def __init__(
        self,
        engine: Engine,
        gate: Gate,
        mailer: Mailer,
        *,
        interval: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(interval=interval)
        self.engine = engine
        self.gate = gate
        self.mailer = mailer
        self.clock = clock or (lambda: datetime.now(UTC))
        self.prepared: deque[str] = deque(maxlen=1000)  # the latest (for inspection and tests)
        self.failed: dict[str, str] = {}  # still failing: request → why

    def run_once(self) -> None:
        at = self.clock()
        with UnitOfWork(self.engine) as uow:
            ids = [
                r.id
                for r in rr.list_requests(uow.connection, at=at, kind="disclosure")
                if r.state == "received"
            ]
        for rid in ids:
            try:
                self.prepared.extend(
                    process_disclosures(self.engine, self.gate, self.mailer, at=at, only=rid)
                )
                self.failed.pop(rid, None)
            except JointuseError as exc:
                self.failed[rid] = exc.message
                log.warning("disclosure %s could not be prepared: %s", rid, exc.message)
