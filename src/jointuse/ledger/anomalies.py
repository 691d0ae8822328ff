"""Anomalies per person (不審なアクセスの検知): what an auditor should look at, from the ledger.

The incidents that made the news in Japan in 2022–23 were staff of utilities' retail arms
viewing other retailers' customers in the TSOs' systems. The ledger records the person within
the party who acted (``acting_user``, from the user the token belongs to); this report reads the
entries of a period and, per user, flags:

``contact_outside_orders``
    reads of contact data (name, address, phone) under P4 refused because no work order the
    user's party held opened them (``relation_missing``): looking beyond the orders;
``refusal_run``
    a run of at least ``refusal_run`` consecutive refusals (probing);
``unusual_hours``
    allowed reads at night (JST, ``night_hours``, default 22:00–06:00);
``volume_vs_peers``
    allowed reads above ``volume_factor`` × the median of the other users of the same party
    (at least ``min_reads``);
``volume_vs_history``
    allowed reads above ``volume_factor`` × the user's own reads in the period of the same length
    just before (at least ``min_reads``).

Thresholds come from the configuration (the anomaly variables of the README,
:func:`thresholds_from`).
Producing the report is itself on the ledger (``audit:anomalies``). Entries written by a system
client, the CLI or a batch job carry no user and are not judged here.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.ledger.chain import LedgerEntry, parse_entry
from jointuse.ledger.service import append
from jointuse.ledger.tables import access_ledger

CONTACT_ITEMS = frozenset({"name", "address", "phone"})
P4 = "P4_tso_operations"
OPERATOR = "jointuse-operator"


@dataclass(frozen=True, slots=True)
class Thresholds:
    refusal_run: int = 5
    night_from: int = 22
    night_to: int = 6
    volume_factor: float = 5.0
    min_reads: int = 20


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ValidationError(
            f"{name}={raw!r} is not valid", field=name, valid=f"an integer {lo}–{hi}"
        )
    return value


def thresholds_from(env: Mapping[str, str]) -> Thresholds:
    """``JOINTUSE_ANOMALY_REFUSAL_RUN`` (5), ``JOINTUSE_ANOMALY_NIGHT_HOURS`` (``22-6``, JST),
    ``JOINTUSE_ANOMALY_VOLUME_FACTOR`` (5), ``JOINTUSE_ANOMALY_MIN_READS`` (20)."""
    night = env.get("JOINTUSE_ANOMALY_NIGHT_HOURS", "").strip() or "22-6"
    try:
        start, end = (int(x) for x in night.split("-"))
        if not (0 <= start <= 23 and 0 <= end <= 23):
            raise ValueError
    except ValueError:
        raise ValidationError(
            f"JOINTUSE_ANOMALY_NIGHT_HOURS={night!r} is not valid",
            field="JOINTUSE_ANOMALY_NIGHT_HOURS",
            valid="FROM-TO, hours 0–23 in JST, e.g. 22-6",
        ) from None
    return Thresholds(
        refusal_run=_int(env, "JOINTUSE_ANOMALY_REFUSAL_RUN", 5, 2, 10_000),
        night_from=start,
        night_to=end,
        volume_factor=float(_int(env, "JOINTUSE_ANOMALY_VOLUME_FACTOR", 5, 2, 1000)),
        min_reads=_int(env, "JOINTUSE_ANOMALY_MIN_READS", 20, 1, 10_000_000),
    )


@dataclass(frozen=True, slots=True)
class Finding:
    party: str
    user: str
    kind: str
    value: float
    threshold: float
    detail: str


@dataclass
class Report:
    since: datetime
    until: datetime
    users: int
    entries: int
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "users": self.users,
            "entries": self.entries,
            "findings": [asdict(f) for f in self.findings],
        }


def _entries(conn: Connection, since: datetime, until: datetime) -> Iterable[LedgerEntry]:
    t = access_ledger.c
    # recorded_at is stored as UTC text (…Z): a prefilter a second wider, exact check below.
    lo = (since - timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    hi = (until + timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    rows = conn.execute(
        select(t.entry).where(t.recorded_at >= lo, t.recorded_at < hi).order_by(t.seq)
    )
    for (text,) in rows:
        entry = parse_entry(text)
        recorded = entry.recorded_at
        if recorded is not None and since <= recorded < until:
            yield entry


def _night(at: datetime, th: Thresholds) -> bool:
    hour = at.astimezone(JST).hour
    if th.night_from <= th.night_to:
        return th.night_from <= hour < th.night_to
    return hour >= th.night_from or hour < th.night_to


def anomalies(
    conn: Connection,
    *,
    since: datetime,
    until: datetime,
    thresholds: Thresholds,
    party: str | None = None,
) -> Report:
    """The report for ``[since, until)`` (aware moments), of one party's people when ``party``
    is given; see the module docstring."""
    if until <= since:
        raise ValidationError("the period is empty", field="until", valid="a moment after since")
    th = thresholds
    reads: dict[tuple[str, str], int] = defaultdict(int)
    night: dict[tuple[str, str], int] = defaultdict(int)
    outside: dict[tuple[str, str], int] = defaultdict(int)
    run: dict[tuple[str, str], int] = defaultdict(int)
    longest: dict[tuple[str, str], int] = defaultdict(int)
    count = 0
    for e in _entries(conn, since, until):
        if not e.acting_user or (party is not None and e.party != party):
            continue
        count += 1
        who = (e.party, e.acting_user)
        if e.decision == "denied":
            run[who] += 1
            longest[who] = max(longest[who], run[who])
            asked = {r.item for r in e.items_refused}
            if (
                e.purpose == P4
                and asked & CONTACT_ITEMS
                and any(r.reason == "relation_missing" for r in e.items_refused)
            ):
                outside[who] += 1
            continue
        run[who] = 0
        if e.action == "read":
            reads[who] += 1
            if e.recorded_at is not None and _night(e.recorded_at, th):
                night[who] += 1
    before: dict[tuple[str, str], int] = defaultdict(int)
    for e in _entries(conn, since - (until - since), since):
        if party is not None and e.party != party:
            continue
        if e.acting_user and e.decision == "allowed" and e.action == "read":
            before[(e.party, e.acting_user)] += 1
    users = set(reads) | set(longest) | set(outside)
    report = Report(since, until, len(users), count)
    by_party: dict[str, list[int]] = defaultdict(list)
    for (party, _user), n in reads.items():
        by_party[party].append(n)
    for who in sorted(users):
        party, user = who
        found = report.findings
        if outside[who]:
            found.append(
                Finding(
                    party,
                    user,
                    "contact_outside_orders",
                    outside[who],
                    1,
                    "P4 contact reads refused: no work order of the party opened them",
                )
            )
        if longest[who] >= th.refusal_run:
            found.append(
                Finding(
                    party,
                    user,
                    "refusal_run",
                    longest[who],
                    th.refusal_run,
                    "consecutive refusals",
                )
            )
        if night[who]:
            found.append(
                Finding(
                    party,
                    user,
                    "unusual_hours",
                    night[who],
                    1,
                    f"allowed reads between {th.night_from:02d}:00 and {th.night_to:02d}:00 JST",
                )
            )
        n = reads[who]
        peers = [m for (p, u), m in reads.items() if p == party and u != user]
        if peers and n >= th.min_reads:
            median = statistics.median(peers)
            if n > th.volume_factor * median:
                found.append(
                    Finding(
                        party,
                        user,
                        "volume_vs_peers",
                        n,
                        th.volume_factor * median,
                        f"{n} reads; the median of {len(peers)} peers is {median:g}",
                    )
                )
        if before[who] and n >= th.min_reads and n > th.volume_factor * before[who]:
            found.append(
                Finding(
                    party,
                    user,
                    "volume_vs_history",
                    n,
                    th.volume_factor * before[who],
                    f"{n} reads; {before[who]} in the period before",
                )
            )
    return report


def record_report(
    conn: Connection, report: Report, *, by: str = OPERATOR, user: str | None = None
) -> None:
    """Producing the report is on the ledger (no personal data: counts per user)."""
    append(
        conn,
        LedgerEntry(
            party=by,
            acting_user=user,
            purpose="audit:anomalies",
            action="read",
            decision="allowed",
            rule_id="audit:anomalies",
            request_id=f"anomalies-{uuid.uuid4().hex[:12]}",
        ),
    )


def text_report(report: Report) -> str:
    lines = [
        f"anomalies {report.since.astimezone(JST):%Y-%m-%d %H:%M} – "
        f"{report.until.astimezone(JST):%Y-%m-%d %H:%M} JST: {report.entries} entries by "
        f"{report.users} users, {len(report.findings)} findings"
    ]
    for f in report.findings:
        lines.append(
            f"  {f.party}/{f.user}\t{f.kind}\t{f.value:g} (threshold {f.threshold:g})\t{f.detail}"
        )
    return "\n".join(lines)


def json_report(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)


def default_period(now: datetime, days: int = 7) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now


def run_report(
    engine: Engine, *, since: datetime, until: datetime, thresholds: Thresholds, by: str = OPERATOR
) -> Report:
    """The report, and its production on the ledger, in one transaction."""
    with UnitOfWork(engine) as uow:
        report = anomalies(uow.connection, since=since, until=until, thresholds=thresholds)
        record_report(uow.connection, report, by=by)
        return report


def auditors_report(
    uow: UnitOfWork,
    *,
    actor: Any,
    since: datetime,
    until: datetime,
    thresholds: Thresholds,
    request_id: str,
) -> Report:
    """The report of the auditor's own party (``GET /v1/audit/anomalies``): only a user with the
    role ``auditor`` gets it; anyone else is refused, on the ledger."""
    from jointuse.access.gate import commit_alone, refusal_entry
    from jointuse.core.errors import AccessDenied

    if getattr(actor, "role", None) != "auditor":
        commit_alone(
            uow,
            refusal_entry(
                actor=actor,
                purpose="audit:anomalies",
                action="read",
                supply_point_id=None,
                customer_id=None,
                reason="role_not_permitted",
                request_id=request_id,
            ),
        )
        exc = AccessDenied(
            "the anomaly report is for a party's auditors (a user with the role auditor)",
            reason="role_not_permitted",
        )
        exc.recorded_on_ledger = True
        raise exc
    report = anomalies(
        uow.connection, since=since, until=until, thresholds=thresholds, party=actor.code
    )
    record_report(uow.connection, report, by=actor.code, user=actor.user)
    return report
