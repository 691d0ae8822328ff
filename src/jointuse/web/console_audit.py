"""The auditor's console: the ledger's search, the anomaly report and incident scoping.

Who: a user with the role ``auditor`` reads what concerns their own party (entries whose party
is theirs; the anomaly report of their own people; the credentials of their own party); a party
listed in ``JOINTUSE_WEB_AUDITORS`` (the operator's audit) searches and scopes the whole ledger
(:func:`jointuse.web.console.auditor_scope`). Anyone else is refused (403
``role_not_permitted``), on the ledger.

The same services as the CLI and the API, so every reading is on the ledger too:
:func:`jointuse.audit.ledger_search.record_reading` before the search's first entry is read
(``audit:ledger_show``), :func:`jointuse.ledger.anomalies.auditors_report` (``audit:anomalies``,
as ``GET /v1/audit/anomalies``), :func:`jointuse.audit.incident.scope` (``audit:incident_scope``,
as ``jointuse incident scope``). The search and the scoping are POST forms (CSRF): the customer
IDs and points they name stay out of URLs and server logs.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.audit import incident as incidents
from jointuse.audit import ledger_search as search
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.core.http import run_unit
from jointuse.ledger import anomalies as an
from jointuse.ledger.chain import DECISIONS
from jointuse.policy.engine import Party
from jointuse.web.common import engine_of, error_page, form_of, now, render
from jointuse.web.console import _as_party, _rid, auditor_scope, record_console_refusal
from jointuse.webauth.service import WebSession

router = APIRouter(prefix="/console/audit", include_in_schema=False)
PAGE = 50
SEARCH_FIELDS = ("customer", "point", "party", "user", "purpose", "decision", "since", "until")


def _reader(party: Party) -> str:
    """The name the reading is recorded under: the user, else the party's system client."""
    return party.user or f"{party.code}:client"


async def _auditor(
    request: Request, purpose: str, form: dict[str, str] | None = None
) -> tuple[WebSession, Party, str | None]:
    def check(uow: UnitOfWork, s: WebSession, p: Party) -> tuple[Party, str | None]:
        return p, auditor_scope(request, p)

    session, (party, scope) = await _as_party(request, check, form=form, purpose=purpose)
    return session, party, scope


def _given(form: dict[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _filter(form: dict[str, str], scope: str | None) -> search.LedgerFilter:
    where = search.LedgerFilter.parse(
        customer=_given(form, "customer"),
        point=_given(form, "point"),
        party=_given(form, "party"),
        user=_given(form, "user"),
        purpose=_given(form, "purpose"),
        decision=_given(form, "decision"),
        since=_given(form, "since"),
        until=_given(form, "until"),
    )
    if scope is not None:
        if where.party not in (None, scope):
            raise ValidationError(
                f"party {where.party!r} is not yours: an auditor reads their own party's entries",
                field="party",
                valid=scope,
            )
        where = dataclasses.replace(where, party=scope)
    return where


@router.get("")
async def search_form(request: Request) -> Response:
    """The search form (nothing is read before it is sent)."""
    try:
        session, _party, scope = await _auditor(request, "audit:ledger_show")
    except JointuseError as exc:
        return error_page(request, exc)
    return render(
        request,
        "console_audit_search.html",
        session=session,
        scope=scope,
        given={"party": scope or ""},
        decisions=DECISIONS,
        rows=None,
    )


@router.post("")
async def search_ledger(request: Request) -> Response:
    """One page of matching entries, newest first (``before``: the next page); the reading is
    recorded on the ledger before the first entry is read."""
    form = await form_of(request)
    purpose = "audit:ledger_show"
    try:
        session, party, scope = await _auditor(request, purpose, form=form)
    except JointuseError as exc:
        return error_page(request, exc)
    given = {k: form.get(k, "") for k in SEARCH_FIELDS}
    engine = engine_of(request)
    at = now(request)
    try:
        where = _filter(form, scope)
        before = _before(form.get("before", ""))

        def read() -> tuple[list[dict[str, Any]], int | None]:
            search.record_reading(
                engine,
                auditor=_reader(party),
                purpose="audit:ledger_show",
                where=where,
                at=at,
                party=party.code,
            )
            records, more = search.show_page(engine, where, limit=PAGE, before_seq=before)
            return [search.record_row(r) for r in records], more

        rows, more = await run_unit(engine, read)
    except JointuseError as exc:
        await record_console_refusal(request, exc, purpose=purpose)
        return render(
            request,
            "console_audit_search.html",
            status=exc.status,
            session=session,
            scope=scope,
            given=given,
            decisions=DECISIONS,
            rows=None,
            error=exc.message,
        )
    return render(
        request,
        "console_audit_search.html",
        session=session,
        scope=scope,
        given=given,
        decisions=DECISIONS,
        rows=rows,
        more=more,
    )


def _before(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise ValidationError("before is not a ledger position", field="before", valid="a seq")
    return int(text)


def _period(since: str | None, until: str | None, at: datetime) -> tuple[datetime, datetime]:
    start = search.parse_moment(since, "since") if since else None
    end = search.parse_moment(until, "until", end=True) if until else None
    end = end or at.astimezone(UTC)
    start = start or end - timedelta(days=7)
    if end <= start:
        raise ValidationError("the period is empty", field="until", valid="a day after since")
    return start, end


@router.get("/anomalies")
async def anomalies(
    request: Request, since: str | None = None, until: str | None = None
) -> Response:
    """The anomaly report of the auditor's own party's people (as ``GET /v1/audit/anomalies``):
    period from the form's days (JST), default the last 7 days. Producing it is on the ledger."""
    at = now(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        thresholds = an.thresholds_from(os.environ)  # a bad setting: a 4xx naming it
        start, end = _period(since, until, at)
        report = an.auditors_report(
            uow,
            actor=party,
            since=start,
            until=end,
            thresholds=thresholds,
            request_id=_rid(request),
        )
        return {"report": report, "since": start, "until": end, "thresholds": thresholds}

    try:
        session, data = await _as_party(request, use_case, purpose="audit:anomalies")
    except JointuseError as exc:
        return error_page(request, exc)
    report = data["report"]
    return render(
        request,
        "console_audit_anomalies.html",
        session=session,
        report=report,
        thresholds=data["thresholds"],
        since_day=data["since"].astimezone(JST).date().isoformat(),
        until_day=(data["until"].astimezone(JST) - timedelta(seconds=1)).date().isoformat(),
    )


@router.get("/incident")
async def incident_form(request: Request) -> Response:
    try:
        session, _party, scope = await _auditor(request, "audit:incident_scope")
    except JointuseError as exc:
        return error_page(request, exc)
    return render(
        request,
        "console_audit_incident.html",
        session=session,
        scope=scope,
        given={"party": scope or ""},
        report=None,
    )


@router.post("/incident")
async def incident_scope(request: Request) -> Response:
    """Scope an incident (``jointuse incident scope``): one credential (party, user or token)
    over a window: the figures, the thresholds met, the deadlines and the people to notify."""
    form = await form_of(request)
    purpose = "audit:incident_scope"
    try:
        session, party, scope = await _auditor(request, purpose, form=form)
    except JointuseError as exc:
        return error_page(request, exc)
    fields = ("party", "user", "token", "since", "until", "discovered", "improper_purpose")
    given = {k: form.get(k, "") for k in fields}
    engine = engine_of(request)
    at = now(request)
    try:
        party_given = _given(form, "party")
        if _given(form, "user") or _given(form, "token"):
            party_given = None  # the user or the token is the credential (the hint says so)
        question = incidents.ScopeQuestion.parse(
            party=party_given,
            user=_given(form, "user"),
            token=_given(form, "token"),
            since=form.get("since", ""),
            until=form.get("until", ""),
            improper_purpose=form.get("improper_purpose") == "yes",
            discovered=_given(form, "discovered"),
            now=at,
        )
        report = await run_unit(
            engine,
            lambda: incidents.scope(
                engine,
                question,
                auditor=_reader(party),
                within_party=scope,
                reader_party=party.code,
            ),
        )
    except JointuseError as exc:
        await record_console_refusal(request, exc, purpose=purpose)
        return render(
            request,
            "console_audit_incident.html",
            status=exc.status,
            session=session,
            scope=scope,
            given=given,
            report=None,
            error=exc.message,
        )
    return render(
        request,
        "console_audit_incident.html",
        session=session,
        scope=scope,
        given=given,
        report=report,
    )
