"""Breach scoping (漏えい等報告, APPI Art. 26; Enforcement Rules 施行規則 Art. 7 and 8).

``jointuse incident scope --party P | --user U | --token T --from … --to …``: from the access
ledger, the people and items one credential reached in the window — **allowed entries only**
(a refused request disclosed nothing; their count is shown as a sign of probing) — checked
against the reporting thresholds, with the deadlines and the list of people to notify.

The credential
    ``--party``: every entry of the party code. ``--user``: every entry whose ``acting_user`` is
    the person. ``--token``: the ledger does not record which token of a party made a request,
    so a token's reach is the reach of its party **while the token was valid** (issued →
    revoked or expired), cut to the window: an upper bound when the party held other tokens at
    the same time (they are listed: the report says so).

People (本人)
    One person per distinct customer ID on the entries. An entry that names a supply point and
    no customer reached that point's data (supply point items are personal data of its
    occupant); such a point counts as one more person unless an entry of the scope names it
    together with a customer (then that customer is the person). The occupant of a point-only
    entry is listed by point and time span, to be resolved through the contract register.

Thresholds (Enforcement Rules Art. 7; any one makes the incident reportable to the PPC and the
people notifiable, Art. 26(1) and (2))
    (i)   要配慮個人情報 (sensitive data): no item of the notice is sensitive — never met here;
    (ii)  data whose improper use could cause **financial harm** (財産的被害): no item of the
          notice is a payment credential; we count the bill's identifying details — the retail
          contract number (契約番号) **together with** the supply point ID (供給地点特定番号) of
          one person — because with them (and the name and address) a third party can file a
          switch and its cancellation forwarding (廃止取次) in the customer's name, moving their
          supply and billing, and enrol as the customer in this system. :data:`FINANCIAL_HARM`;
    (iii) an **improper purpose** (不正の目的), insiders included: a judgement of fact the
          ledger cannot make; the operator flags it (``--improper-purpose``); it applies
          whatever the number of people;
    (iv)  **more than 1,000 people** (1,000 is not reportable on this ground; 1,001 is).

Deadlines (Enforcement Rules Art. 8), counted from when the incident became known
(``--discovered``, default now): the preliminary report 速やかに — the PPC's guidance reads that
as about 3–5 days: both dates are shown; the final report within 30 days, 60 when the cause is
an improper purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from jointuse.audit.ledger_search import (
    OPERATOR,
    LedgerFilter,
    _text,
    parse_moment,
    record_reading,
    stream,
)
from jointuse.core.calendar import JST
from jointuse.core.db import connect_read_only
from jointuse.core.errors import NotFound, ValidationError
from jointuse.parties import repository as parties
from jointuse.parties.tokens import TokenInfo, validate_token_id

PEOPLE_THRESHOLD = 1000
"""Reportable when **more than** this many people are involved (Enforcement Rules Art. 7(iv))."""
FINANCIAL_HARM: tuple[frozenset[str], ...] = (frozenset({"contract_number", "supply_point_id"}),)
"""Item sets whose leak together, for one person, counts as data whose misuse could cause
financial harm (see the module docstring, threshold (ii))."""
SENSITIVE_ITEMS: frozenset[str] = frozenset()
"""要配慮個人情報 among the notice's items: none."""
PRELIMINARY_DAYS = (3, 5)
FINAL_DAYS = 30
FINAL_DAYS_IMPROPER = 60


@dataclass(frozen=True, slots=True)
class ScopeQuestion:
    """Which credential, which window, and what the operator knows (improper purpose, when
    the incident became known)."""

    since: datetime
    until: datetime
    discovered: datetime
    party: str | None = None
    user: str | None = None
    token_id: str | None = None
    improper_purpose: bool = False

    @classmethod
    def parse(
        cls,
        *,
        party: str | None,
        user: str | None,
        token: str | None,
        since: str,
        until: str,
        improper_purpose: bool = False,
        discovered: str | None = None,
        now: datetime | None = None,
    ) -> ScopeQuestion:
        given = [n for n, v in (("--party", party), ("--user", user), ("--token", token)) if v]
        if len(given) != 1:
            raise ValidationError(
                "give exactly one credential"
                + (f" (got {', '.join(given)})" if given else " (got none)"),
                field="credential",
                valid=["--party CODE", "--user NAME", "--token ID"],
            )
        start = parse_moment(since, "from")
        stop = parse_moment(until, "to", end=True)
        assert start is not None and stop is not None
        if stop <= start:
            raise ValidationError(
                f"the window is empty: --to {until} is not after --from {since}",
                field="to",
                valid="a moment after --from",
            )
        known = parse_moment(discovered, "discovered") or now or datetime.now(UTC)
        return cls(
            since=start,
            until=stop,
            discovered=known,
            party=_text(party, "party"),
            user=_text(user, "user"),
            token_id=None if token is None else validate_token_id(token.strip()),
            improper_purpose=improper_purpose,
        )


@dataclass(slots=True)
class _Person:
    key: str
    customer_id: str | None
    points: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    entries: int = 0

    def merge(self, other: _Person) -> None:
        self.items |= other.items
        self.points |= other.points
        self.entries += other.entries
        for at in (other.first, other.last):
            if at is not None:
                self.first = at if self.first is None or at < self.first else self.first
                self.last = at if self.last is None or at > self.last else self.last

    def saw(self, at: datetime | None, items: tuple[str, ...], point: str | None) -> None:
        self.entries += 1
        self.items.update(items)
        if point:
            self.points.add(point)
        if at is not None:
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last


@dataclass(frozen=True, slots=True)
class ScopeReport:
    credential: dict[str, Any]
    window: tuple[datetime, datetime]
    discovered: datetime
    improper_purpose: bool
    people: tuple[dict[str, Any], ...]
    items: dict[str, int]
    by_purpose: dict[str, int]
    by_action: dict[str, int]
    entries_allowed: int
    entries_denied: int
    thresholds: dict[str, dict[str, Any]]
    reportable: bool
    deadlines: dict[str, str]
    notes: tuple[str, ...]
    audit_request_id: str

    @property
    def people_count(self) -> int:
        return len(self.people)

    def to_dict(self) -> dict[str, Any]:
        return {
            "credential": self.credential,
            "window": {"from": self.window[0].isoformat(), "to": self.window[1].isoformat()},
            "discovered": self.discovered.isoformat(),
            "improper_purpose": self.improper_purpose,
            "people_count": self.people_count,
            "items": self.items,
            "by_purpose": self.by_purpose,
            "by_action": self.by_action,
            "entries_allowed": self.entries_allowed,
            "entries_denied": self.entries_denied,
            "thresholds": self.thresholds,
            "reportable": self.reportable,
            "deadlines": self.deadlines,
            "notify": list(self.people),
            "notes": list(self.notes),
            "audit_request_id": self.audit_request_id,
        }


def _token(engine: Engine, token_id: str) -> tuple[TokenInfo, list[TokenInfo]]:
    with connect_read_only(engine) as conn:
        info = parties.load_token(conn, token_id)
        if info is None:
            raise NotFound(f"no token {token_id!r}", field="token")
        return info, parties.load_tokens(conn, info.party_code)


def _end_of(token: TokenInfo) -> datetime:
    if token.revoked_at is not None and token.revoked_at < token.expires_at:
        return token.revoked_at
    return token.expires_at


def _deadlines(discovered: datetime, improper: bool) -> dict[str, str]:
    day = discovered.astimezone(JST).date()
    final = FINAL_DAYS_IMPROPER if improper else FINAL_DAYS
    return {
        "preliminary_from": (day + timedelta(days=PRELIMINARY_DAYS[0])).isoformat(),
        "preliminary_by": (day + timedelta(days=PRELIMINARY_DAYS[1])).isoformat(),
        "final_by": (day + timedelta(days=final)).isoformat(),
        "final_days": str(final),
    }


def scope(
    engine: Engine,
    question: ScopeQuestion,
    *,
    auditor: str,
    page_size: int = 5000,
    within_party: str | None = None,
    reader_party: str | None = None,
) -> ScopeReport:
    """The scope report of ``question`` (the reading recorded on the ledger first).

    ``within_party``: a joint user's auditor (the console) scopes the credentials of their own
    party only — a user is looked for among its people, another party or another party's token
    is not found — and the reading is recorded under that party. ``reader_party``: whose
    auditor reads (default: ``within_party``, else the operator)."""
    notes: list[str] = []
    since, until = question.since, question.until
    party = question.party
    if within_party is not None:
        if party is not None and party != within_party:
            raise NotFound(f"no party {party!r} among yours", field="party")
        party = within_party
    credential: dict[str, str] = {}
    if question.token_id is not None:
        token, tokens = _token(engine, question.token_id)
        if within_party is not None and token.party_code != within_party:
            raise NotFound(f"no token {question.token_id!r}", field="token")
        party = token.party_code
        valid_to = _end_of(token)
        since, until = max(since, token.created_at), min(until, valid_to)
        credential = {
            "token": token.token_id,
            "party": party,
            "valid_from": token.created_at.isoformat(),
            "valid_to": valid_to.isoformat(),
        }
        others = [
            t.token_id
            for t in tokens
            if t.token_id != token.token_id
            and t.created_at < question.until
            and _end_of(t) > question.since
        ]
        notes.append(
            "the ledger does not record which token of a party made a request: the token's "
            "reach is its party's while the token was valid (an upper bound)"
            + (
                f"; other tokens of {party} valid in the window: {', '.join(others)}"
                if others
                else ""
            )
        )
    elif question.user is not None:
        credential = {"user": question.user} | ({"party": party} if party else {})
    else:
        credential = {"party": party or ""}
    base = LedgerFilter(party=party, acting_user=question.user, since=since, until=until)
    request_id = record_reading(
        engine,
        auditor=auditor,
        purpose="audit:incident_scope",
        where=base,
        party=reader_party or within_party or OPERATOR,
    )
    people: dict[str, _Person] = {}
    point_only: dict[str, _Person] = {}
    point_owner: dict[str, str] = {}
    items: dict[str, int] = {}
    by_purpose: dict[str, int] = {}
    by_action: dict[str, int] = {}
    allowed = denied = 0
    if since < until:
        for record in stream(engine, base, page_size=page_size):
            e = record.entry
            if e.decision != "allowed":
                denied += 1
                continue
            allowed += 1
            by_purpose[e.purpose] = by_purpose.get(e.purpose, 0) + 1
            by_action[e.action] = by_action.get(e.action, 0) + 1
            for item in e.items_granted:
                items[item] = items.get(item, 0) + 1
            if e.customer_id is not None:
                person = people.get(e.customer_id)
                if person is None:
                    person = people[e.customer_id] = _Person(e.customer_id, e.customer_id)
                person.saw(e.recorded_at, e.items_granted, e.supply_point_id)
                if e.supply_point_id:
                    point_owner.setdefault(e.supply_point_id, e.customer_id)
            elif e.supply_point_id is not None:
                key = e.supply_point_id
                if key not in point_only:
                    point_only[key] = _Person(f"point:{key}", None)
                point_only[key].saw(e.recorded_at, e.items_granted, key)
    else:
        notes.append("the token was not valid at any moment of the window")
    for spid, person in point_only.items():
        owner = point_owner.get(spid)
        if owner is not None:  # the same point is named with a customer: that person
            people[owner].merge(person)
        else:
            people[person.key] = person
    listed = tuple(
        {
            "customer_id": p.customer_id,
            "supply_points": sorted(p.points),
            "resolve": None
            if p.customer_id
            else "the occupant of the point over the span (contract register)",
            "items": sorted(p.items),
            "first": p.first.isoformat() if p.first else None,
            "last": p.last.isoformat() if p.last else None,
            "entries": p.entries,
        }
        for p in sorted(people.values(), key=lambda p: p.key)
    )
    count = len(listed)
    financial = [p.key for p in people.values() if any(s <= p.items for s in FINANCIAL_HARM)]
    sensitive = sorted({i for i in items if i in SENSITIVE_ITEMS})
    thresholds = {
        "sensitive_data": {
            "met": bool(sensitive),
            "test": "要配慮個人情報 (Enforcement Rules Art. 7(i))",
            "items": sensitive,
        },
        "financial_harm": {
            "met": bool(financial),
            "test": "data whose improper use could cause financial harm (Art. 7(ii)): "
            + " + ".join(sorted(FINANCIAL_HARM[0]))
            + " of one person",
            "people": len(financial),
        },
        "improper_purpose": {
            "met": question.improper_purpose,
            "test": "an improper purpose, insiders included (Art. 7(iii)): the operator's flag",
        },
        "more_than_1000_people": {
            "met": count > PEOPLE_THRESHOLD,
            "test": f"more than {PEOPLE_THRESHOLD:,} people (Art. 7(iv))",
            "people": count,
        },
    }
    reportable = any(t["met"] for t in thresholds.values())
    if denied:
        notes.append(
            f"{denied} refused requests of the credential in the window (nothing disclosed; "
            "consider them when judging an improper purpose)"
        )
    return ScopeReport(
        credential=credential,
        window=(question.since, question.until),
        discovered=question.discovered,
        improper_purpose=question.improper_purpose,
        people=listed,
        items=dict(sorted(items.items())),
        by_purpose=dict(sorted(by_purpose.items())),
        by_action=dict(sorted(by_action.items())),
        entries_allowed=allowed,
        entries_denied=denied,
        thresholds=thresholds,
        reportable=reportable,
        deadlines=_deadlines(question.discovered, question.improper_purpose) if reportable else {},
        notes=tuple(notes),
        audit_request_id=request_id,
    )


def format_report(report: ScopeReport) -> str:
    """The report as text: the figures, the thresholds, the deadlines, the people to notify."""
    out = [
        "incident scope (漏えい等報告, APPI Art. 26)",
        "credential: " + ", ".join(f"{k} {v}" for k, v in report.credential.items()),
        f"window: {report.window[0].isoformat()} – {report.window[1].isoformat()} (end exclusive)",
        f"people reached (本人の数): {report.people_count:,}",
        f"entries: {report.entries_allowed:,} allowed, {report.entries_denied:,} refused",
        "items (項目): " + (", ".join(f"{k} ({v:,})" for k, v in report.items.items()) or "(none)"),
        "by purpose: " + (", ".join(f"{k} {v:,}" for k, v in report.by_purpose.items()) or "-"),
        "thresholds (Enforcement Rules Art. 7):",
    ]
    for name, t in report.thresholds.items():
        out.append(f"  [{'MET' if t['met'] else '   '}] {name}: {t['test']}")
    if report.reportable:
        d = report.deadlines
        out.append(
            "REPORTABLE to the PPC, and the people must be notified (Art. 26(1), (2)): "
            f"preliminary report 速やかに ({d['preliminary_from']} – {d['preliminary_by']}), "
            f"final report by {d['final_by']} ({d['final_days']} days from "
            f"{report.discovered.astimezone(JST).date().isoformat()})"
        )
    else:
        out.append("not reportable on these figures (no threshold met)")
    for note in report.notes:
        out.append(f"note: {note}")
    out.append(f"people to notify ({report.people_count:,}):")
    for p in report.people:
        who = p["customer_id"] or f"occupant of {', '.join(p['supply_points'])}"
        out.append(f"  {who}  items={','.join(p['items'])}  {p['first']} – {p['last']}")
    out.append(f"(this reading is on the ledger: request {report.audit_request_id})")
    return "\n".join(out) + "\n"
