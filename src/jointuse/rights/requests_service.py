"""The rights requests' use cases as the edges call them (HTTP routes, the operator's CLI): each
opens its unit of work and, for the customer, authenticates the session on its connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from jointuse.access.gate import Gate
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound
from jointuse.core.mail import Mailer
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.parties import service as parties
from jointuse.rights import requests as rr
from jointuse.rights.identity import Account
from jointuse.rights.service import as_customer


class NotReady(JointuseError):
    """The disclosure is not ready for download (409: its state and when it is due)."""

    code = "disclosure_not_ready"
    status = 409


def party_names(engine: Engine) -> dict[str, tuple[str, str]]:
    return {p.code: (p.name_ja, p.name_en) for p in parties.list_parties(engine)}


def submit(
    engine: Engine,
    bearer: str | None,
    at: datetime,
    gate: Gate,
    kind: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    days = rr.deadline_days()

    def run(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        if kind == "disclosure":
            r = rr.submit_disclosure(uow, account, fmt=fields["format"], at=at, days=days)
        elif kind == "correction":
            r = rr.submit_correction(uow, account, gate.policy, at=at, days=days, **fields)
        else:
            r = rr.submit_stop_use(uow, account, gate.policy, at=at, days=days, **fields)
        return rr.view(uow.connection, r, at)

    return as_customer(engine, bearer, at, run)


def _own(uow: UnitOfWork, account: Account, rights_id: str) -> rr.RightsRequest:
    r = rr.get(uow.connection, rights_id)
    if r is None or r.account_id != account.id:
        raise NotFound(f"no request {rights_id} of yours", rights_request_id=rights_id)
    return r


def my_requests(engine: Engine, bearer: str | None, at: datetime) -> dict[str, Any]:
    def run(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        found = rr.list_requests(uow.connection, at=at, account_id=account.id)
        return {"requests": [rr.view(uow.connection, r, at, steps=False) for r in found]}

    return as_customer(engine, bearer, at, run)


def my_request(engine: Engine, bearer: str | None, at: datetime, rights_id: str) -> dict[str, Any]:
    def run(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        return rr.view(uow.connection, _own(uow, account, rights_id), at)

    return as_customer(engine, bearer, at, run)


def download(
    engine: Engine, bearer: str | None, at: datetime, rights_id: str, request_id: str
) -> tuple[str, bytes]:
    """The prepared document (format, bytes); the download on the ledger."""

    def run(uow: UnitOfWork, account: Account) -> tuple[str, bytes]:
        r = _own(uow, account, rights_id)
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

    return as_customer(engine, bearer, at, run)


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
