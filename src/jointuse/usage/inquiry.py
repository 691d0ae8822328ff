"""Usage inquiry by consent (使用量情報照会): a retailer the customer is considering reads up to
13 months of the customer's half-hourly usage, with a password the customer gave it.

This is provision to a third party with the customer's consent (第三者提供, APPI Art. 27(1)),
not joint use: the purpose ``C1_usage_inquiry`` of the policy is outside the notice
(``joint_use = false``), and every provision is recorded as Art. 29 asks (``usage_provision``:
the recipient and the person acting for it, the items, the data period, the consent relied on,
the moment), disclosable to the customer (:func:`provisions_of`, in the disclosure document).

1. The customer, signed in (``/v1/me``), **issues** a consent (:func:`issue`): the retailer (its
   party code), the point (one of their proven records, their tenure in force) and a validity of
   1, 7 or 31 days. A random password is generated, shown once and e-mailed to the account's
   address; only its salted hash is stored. The retailer alone cannot create one. At most one
   consent is live per customer, point and retailer (``uq_usage_consent_live_key``: 409).
2. The retailer **queries** (:func:`inquire`) with the point and the password, within the
   validity. The password checked, the gate decides the read under ``C1_usage_inquiry`` with
   the relation ``usage_inquiry_consent`` bound to that consent alone (the relation provided to
   the gate otherwise is empty: nothing but a verified password opens it), scoped to the
   readings, dated within the 13 months before the query and within the consenting customer's
   own tenure at the point (a previous occupant's usage is withheld). The provision record and
   the ledger entry (same request ID) are written in the same transaction.
3. Refusals — no consent for this retailer and point, an expired, withdrawn or locked one, a
   wrong password — are on the ledger. After :data:`MAX_ATTEMPTS` wrong passwords the consent is
   locked; the customer issues a new one.
4. The customer lists their consents with their provisions (:func:`my_consents`) and withdraws
   one in one step (:func:`withdraw`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from jointuse.access.gate import Gate, GateParts, GateResult, LoadContext, commit_alone
from jointuse.access.relations import RelationContext, TargetRef, jst_midnight
from jointuse.core.calendar import JST
from jointuse.core.conflicts import conflict_from
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import Mailer
from jointuse.customers.relations import contracts_of
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append
from jointuse.negawatt import repository as meter_repo
from jointuse.negawatt.readings import _mask_outside, _window_days
from jointuse.parties.repository import load_party
from jointuse.policy.engine import Party, RelationPeriod, Scope
from jointuse.rights.identity import Account, Link, links
from jointuse.usage.tables import usage_consent, usage_provision

PURPOSE = "C1_usage_inquiry"
RELATION = "usage_inquiry_consent"
ITEMS = frozenset({"interval_readings"})
VALID_DAYS = (1, 7, 31)
MONTHS_BACK = 13
MAX_ATTEMPTS = 5
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
PASSWORD_LINE = "パスワード / password: "
"""The line of the e-mail that carries the password (what :func:`password_in` reads)."""


def password_in(body: str) -> str | None:
    """The password in an e-mail's text, if any."""
    for line in body.splitlines():
        if line.startswith(PASSWORD_LINE):
            return line.removeprefix(PASSWORD_LINE).strip()
    return None


class UsageInquiryRefused(JointuseError):
    """A usage inquiry the consent does not allow (none, expired, withdrawn, locked, wrong
    password): 403 with the reason."""

    code = "usage_inquiry_refused"
    status = 403


class ConsentState(JointuseError):
    """A step the consent's state does not allow (withdrawing one withdrawn already): 409."""

    code = "consent_state"
    status = 409


@dataclass(frozen=True, slots=True)
class Consent:
    id: str
    customer_id: str
    supply_point_id: str
    retailer_code: str
    account_id: str
    valid_days: int
    created_at: dt.datetime
    expires_at: dt.datetime
    withdrawn_at: dt.datetime | None
    failed_attempts: int
    locked_at: dt.datetime | None

    def state(self, at: dt.datetime) -> str:
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.locked_at is not None:
            return "locked"
        if at >= self.expires_at:
            return "expired"
        return "valid"


def _consent(row: Any) -> Consent:
    m = row._mapping
    return Consent(
        m["id"],
        m["customer_id"],
        m["supply_point_id"],
        m["retailer_code"],
        m["account_id"],
        m["valid_days"],
        m["created_at"],
        m["expires_at"],
        m["withdrawn_at"],
        m["failed_attempts"],
        m["locked_at"],
    )


def _hash(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password).strip().upper().replace(" ", "")


def new_password() -> str:
    """12 characters of :data:`PASSWORD_ALPHABET` (60 bits) in groups of four."""
    raw = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def _live_key(customer_id: str, point: str, retailer: str) -> str:
    return f"{customer_id}|{point}|{retailer}"


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(JST).date()


def months_back(day: dt.date, months: int) -> dt.date:
    """``day`` ``months`` months earlier (the last day of that month if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, d))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _subject_entry(
    account: Account,
    c: Consent | None,
    step: str,
    request_id: str | None,
    refused: str | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        party=f"customer:{account.id}",
        purpose="subject:usage_consent",
        action="write",
        decision="denied" if refused else "allowed",
        supply_point_id=c.supply_point_id if c is not None else None,
        customer_id=c.customer_id if c is not None else None,
        items_refused=(RefusedItem("*", refused[:64]),) if refused else (),
        rule_id=f"subject:usage_consent:{step}",
        request_id=request_id or f"usage-consent-{uuid.uuid4().hex[:12]}",
    )


# -- the customer's steps ----------------------------------------------------------------------


def _tenure_link(conn: Connection, account: Account, point: str, at: dt.datetime) -> Link:
    day = _day(at)
    for link in links(conn, account):
        if (
            link.supply_point_id == point
            and link.valid_from <= day
            and (link.valid_to is None or day < link.valid_to)
        ):
            return link
    raise NotFound(
        f"no contract of yours in force at supply point {SupplyPointId(point).masked()}",
        field="supply_point_id",
    )


def issue(
    uow: UnitOfWork,
    mailer: Mailer | None,
    *,
    account: Account,
    supply_point_id: str,
    retailer_code: str,
    valid_days: int,
    at: dt.datetime,
    request_id: str | None = None,
) -> tuple[Consent, str]:
    """The customer consents that ``retailer_code`` reads their usage at the point for
    ``valid_days``: the consent and its password (shown once; e-mailed to the account)."""
    conn = uow.connection
    link: Link | None = None
    try:
        if valid_days not in VALID_DAYS:
            raise ValidationError(
                f"valid_days must be one of {VALID_DAYS}",
                field="valid_days",
                valid=list(VALID_DAYS),
            )
        point = SupplyPointId.parse(supply_point_id).value
        link = _tenure_link(conn, account, point, at)
        record = load_party(conn, retailer_code)
        if record is None or record.party.kind != "retailer":
            raise ValidationError(
                f"{retailer_code!r} is no registered retail electricity supplier",
                field="retailer",
                valid="the party code of a registered retailer",
            )
        # Consents that can no longer be used (expired, locked) leave the live key free.
        key = _live_key(link.customer_id, point, retailer_code)
        conn.execute(
            update(usage_consent)
            .where(
                usage_consent.c.live_key == key,
                or_(usage_consent.c.expires_at <= at, usage_consent.c.locked_at.is_not(None)),
            )
            .values(live_key=None)
        )
        password = new_password()
        salt = secrets.token_hex(16)
        consent_id = str(uuid.uuid4())
        row = {
            "id": consent_id,
            "customer_id": link.customer_id,
            "supply_point_id": point,
            "retailer_code": retailer_code,
            "account_id": account.id,
            "valid_days": valid_days,
            "created_at": at,
            "expires_at": at + dt.timedelta(days=valid_days),
            "withdrawn_at": None,
            "password_salt": salt,
            "password_hash": _hash(salt, password),
            "failed_attempts": 0,
            "locked_at": None,
            "live_key": key,
        }
        with conn.begin_nested():
            conn.execute(insert(usage_consent), row)
    except IntegrityError as exc:
        conflict = conflict_from(exc)
        if conflict is None:
            raise
        commit_alone(uow, _subject_entry(account, None, "issued", request_id, conflict.rule))
        conflict.recorded_on_ledger = True
        raise conflict from None
    except (ValidationError, NotFound) as exc:
        commit_alone(uow, _subject_entry(account, None, "issued", request_id, exc.code))
        exc.recorded_on_ledger = True
        raise
    consent = _consent_by_id(conn, consent_id)
    append(conn, _subject_entry(account, consent, "issued", request_id))
    if mailer is not None:
        who = f"{record.party.name_ja} / {record.party.name_en}"
        mailer.send(
            account.email,
            "【jointuse】使用量情報照会のパスワード / your usage-inquiry password",
            f"{who} があなたの使用量（30分電力量、最大13か月分、あなたのご契約期間内）を"
            f"照会することに同意されました（供給地点 {SupplyPointId(point).masked()}）。\n"
            f"有効期限: {consent.expires_at.astimezone(JST).isoformat()}。"
            "このパスワードを同社にお伝えください。マイページからいつでも撤回できます。\n\n"
            f"You consented that {who} reads your half-hourly usage (up to 13 months, within "
            f"your own contract) at supply point {SupplyPointId(point).masked()}, until "
            f"{consent.expires_at.isoformat()}. Give them this password; withdraw any time "
            "from your customer page.\n\n"
            f"{PASSWORD_LINE}{password}\n(consent {consent.id})\n",
        )
    return consent, password


def _consent_by_id(conn: Connection, consent_id: str) -> Consent:
    row = conn.execute(select(usage_consent).where(usage_consent.c.id == consent_id)).one()
    return _consent(row)


def _own(conn: Connection, account: Account, consent_id: str) -> Consent:
    row = conn.execute(select(usage_consent).where(usage_consent.c.id == consent_id)).first()
    if row is not None:
        c = _consent(row)
        for link in links(conn, account):
            if link.customer_id == c.customer_id and link.supply_point_id == c.supply_point_id:
                return c
    raise NotFound(f"no usage-inquiry consent {consent_id!r} of yours", field="consent_id")


def withdraw(
    uow: UnitOfWork,
    *,
    account: Account,
    consent_id: str,
    at: dt.datetime,
    request_id: str | None = None,
) -> Consent:
    """The customer withdraws a consent, in one step: no query passes after it."""
    conn = uow.connection
    c: Consent | None = None
    try:
        c = _own(conn, account, consent_id)
        done = conn.execute(
            update(usage_consent)
            .where(usage_consent.c.id == consent_id, usage_consent.c.withdrawn_at.is_(None))
            .values(withdrawn_at=at, live_key=None)
        ).rowcount
        if not done:
            raise ConsentState(f"consent {consent_id} is withdrawn already", reason="withdrawn")
    except (ConsentState, NotFound) as exc:
        reason = str(exc.details.get("reason") or exc.code)
        commit_alone(uow, _subject_entry(account, c, "withdrawn", request_id, reason))
        exc.recorded_on_ledger = True
        raise
    append(conn, _subject_entry(account, c, "withdrawn", request_id))
    return _consent_by_id(conn, consent_id)


def _provision_json(r: Any) -> dict[str, Any]:
    m = r._mapping
    return {
        "provision_id": m["id"],
        "consent_id": m["consent_id"],
        "recipient": m["recipient"],
        "acting_user": m["acting_user"],
        "items": m["items"].split(","),
        "data_from": m["data_from"].isoformat() if m["data_from"] else None,
        "data_to": m["data_to"].isoformat() if m["data_to"] else None,
        "days": m["days"],
        "provided_at": m["provided_at"].isoformat(),
        "request_id": m["request_id"],
    }


def provisions_of(
    conn: Connection,
    customer_id: str,
    supply_point_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The provisions made on the customer's consents (Art. 29 records), oldest first; of one
    point and over ``[since, until)`` when given (a disclosure cuts them to the tenure)."""
    where = [usage_provision.c.customer_id == customer_id]
    if supply_point_id is not None:
        where.append(usage_provision.c.supply_point_id == supply_point_id)
    if since is not None:
        where.append(usage_provision.c.provided_at >= since)
    if until is not None:
        where.append(usage_provision.c.provided_at < until)
    rows = conn.execute(
        select(usage_provision).where(and_(*where)).order_by(usage_provision.c.provided_at)
    ).all()
    return [_provision_json(r) for r in rows]


def consent_json(c: Consent, at: dt.datetime) -> dict[str, Any]:
    return {
        "consent_id": c.id,
        "supply_point_id": c.supply_point_id,
        "retailer": c.retailer_code,
        "valid_days": c.valid_days,
        "created_at": c.created_at.isoformat(),
        "expires_at": c.expires_at.isoformat(),
        "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
        "state": c.state(at),
    }


def my_consents(conn: Connection, account: Account, at: dt.datetime) -> list[dict[str, Any]]:
    """The usage-inquiry consents concerning the account's proven records (their own, not a
    previous occupant's), newest first, each with the provisions made on it."""
    out: list[dict[str, Any]] = []
    for link in links(conn, account):
        rows = conn.execute(
            select(usage_consent)
            .where(
                usage_consent.c.customer_id == link.customer_id,
                usage_consent.c.supply_point_id == link.supply_point_id,
            )
            .order_by(usage_consent.c.created_at.desc())
        ).all()
        for r in rows:
            c = _consent(r)
            provided = conn.execute(
                select(usage_provision)
                .where(usage_provision.c.consent_id == c.id)
                .order_by(usage_provision.c.provided_at)
            ).all()
            out.append(
                {**consent_json(c, at), "provisions": [_provision_json(p) for p in provided]}
            )
    return out


# -- the retailer's inquiry --------------------------------------------------------------------


def no_relation(ctx: RelationContext) -> Iterable[RelationPeriod]:
    """The ``usage_inquiry_consent`` provider registered with the gate: nothing. Only
    :func:`inquire`, with a verified password, binds the relation to that consent."""
    return ()


def _tenure(
    ctx: RelationContext, customer_id: str, day: dt.date
) -> tuple[dt.datetime, dt.datetime | None] | None:
    """The customer's tenure at the point around ``day``: their contracts there (one after the
    other, retailers may change) joined while contiguous."""
    spans = sorted(
        (c.valid_from, c.valid_to)
        for c in contracts_of(ctx)
        if c.customer_id == customer_id and c.supply_point_id.value == ctx.target.supply_point_id
    )
    merged: list[tuple[dt.date, dt.date | None]] = []
    for lo, hi in spans:
        last = merged[-1] if merged else None
        if last is not None and last[1] is not None and lo <= last[1]:
            merged[-1] = (last[0], None if hi is None else max(hi, last[1]))
        else:
            merged.append((lo, hi))
    for lo, hi in merged:
        if lo <= day and (hi is None or day < hi):
            return jst_midnight(lo), jst_midnight(hi) if hi is not None else None
    return None


def _bound_relation(c: Consent) -> Any:
    def provider(ctx: RelationContext) -> Iterable[RelationPeriod]:
        if ctx.party.code != c.retailer_code or ctx.target.supply_point_id != c.supply_point_id:
            return ()
        if c.withdrawn_at is not None or c.locked_at is not None:
            return ()
        tenure = _tenure(ctx, c.customer_id, _day(c.created_at))
        if tenure is None:
            return ()
        today = _day(ctx.at)
        lo = max(jst_midnight(months_back(today, MONTHS_BACK)), tenure[0])
        hi = ctx.at if tenure[1] is None else min(ctx.at, tenure[1])
        if hi <= lo:
            return ()
        scope = Scope(frozenset({PURPOSE}), ITEMS, lo, hi, f"usage-inquiry consent {c.id}")
        return (RelationPeriod(RELATION, c.created_at, c.expires_at, scope),)

    return provider


def _refuse(
    uow: UnitOfWork,
    actor: Party,
    point: str,
    c: Consent | None,
    reason: str,
    message: str,
    request_id: str,
) -> UsageInquiryRefused:
    commit_alone(
        uow,
        LedgerEntry(
            party=actor.code,
            purpose=PURPOSE,
            action="read",
            decision="denied",
            supply_point_id=point,
            customer_id=c.customer_id if c is not None else None,
            items_refused=(RefusedItem("*", reason),),
            rule_id="usage_inquiry" if c is None else f"usage_inquiry consent:{c.id}",
            request_id=request_id,
            acting_user=actor.user,
        ),
    )
    exc = UsageInquiryRefused(message, reason=reason)
    exc.recorded_on_ledger = True
    return exc


def inquire(
    uow: UnitOfWork,
    gate: Gate,
    *,
    actor: Party,
    supply_point_id: str,
    password: str,
    request_id: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """The retailer's usage inquiry: the consent the password belongs to, the readings it opens
    (JSON-ready), the provision record's ID. Raises :class:`UsageInquiryRefused` (on the
    ledger) or the gate's refusal."""
    conn = uow.connection
    point = SupplyPointId.parse(supply_point_id).value
    if actor.kind != "retailer":
        raise _refuse(
            uow, actor, point, None, "not_a_retailer",
            "usage inquiries are made by retail electricity suppliers", request_id,
        )  # fmt: skip
    rows = conn.execute(
        select(usage_consent).where(
            usage_consent.c.supply_point_id == point,
            usage_consent.c.retailer_code == actor.code,
        )
    ).all()
    consents = [_consent(r) for r in rows]
    valid = [c for c in consents if c.state(at) == "valid"]
    given = _normalise(password)
    match = next(
        (
            _consent(r)
            for r in rows
            if hmac.compare_digest(
                _hash(r._mapping["password_salt"], given), r._mapping["password_hash"]
            )
        ),
        None,
    )
    if match is not None and match.state(at) != "valid":
        state = match.state(at)
        raise _refuse(
            uow, actor, point, match, f"consent_{state}",
            f"the customer's consent is {state}: ask them for a new password", request_id,
        )  # fmt: skip
    if match is None:
        if not valid:
            raise _refuse(
                uow, actor, point, None, "no_consent",
                "no valid consent of a customer at this point for you", request_id,
            )  # fmt: skip
        for c in valid:  # a wrong password counts against every consent it could be for
            conn.execute(
                update(usage_consent)
                .where(usage_consent.c.id == c.id)
                .values(failed_attempts=usage_consent.c.failed_attempts + 1)
            )
            conn.execute(
                update(usage_consent)
                .where(
                    usage_consent.c.id == c.id,
                    usage_consent.c.failed_attempts >= MAX_ATTEMPTS,
                )
                .values(locked_at=at, live_key=None)
            )
        uow.session.commit()  # the attempts stay counted although the caller is refused
        raise _refuse(
            uow, actor, point, None, "wrong_password",
            f"the password is not valid (after {MAX_ATTEMPTS} wrong ones the consent is locked)",
            request_id,
        )  # fmt: skip
    consent = match

    def loader(ctx: LoadContext) -> dict[str, object]:
        lo, hi = _window_days(ctx.decision.valid_from, ctx.decision.valid_to)
        days = meter_repo.load_days(ctx.conn, point, lo, hi) if lo < hi else []
        out = []
        for day in days:
            cut = _mask_outside(day, ctx.decision.valid_from, ctx.decision.valid_to)
            out.append(
                {
                    "date": cut.date.isoformat(),
                    "consumption_kwh": [None if v != v else float(v) for v in cut.consumption],
                }
            )
        return {"interval_readings": out}

    bound = gate.with_relations(
        gate.relations.with_provider(RELATION, _bound_relation(consent))
    ).with_loader((PURPOSE, "interval_data"), loader)
    result: GateResult = bound.read(
        uow,
        actor=actor,
        purpose=PURPOSE,
        target=TargetRef(supply_point_id=point, customer_id=consent.customer_id),
        items=ITEMS,
        request_id=request_id,
        at=at,
        basis=f"consent:{consent.id}",
    )
    readings: list[dict[str, Any]] = result.data.get("interval_readings", [])  # type: ignore[assignment]
    provision_id = str(uuid.uuid4())
    conn.execute(
        insert(usage_provision),
        {
            "id": provision_id,
            "consent_id": consent.id,
            "customer_id": consent.customer_id,
            "supply_point_id": point,
            "recipient": actor.code,
            "acting_user": actor.user,
            "items": ",".join(result.decision.granted),
            "data_from": result.decision.valid_from,
            "data_to": result.decision.valid_to,
            "days": len(readings),
            "provided_at": at,
            "request_id": request_id[:200],
        },
    )
    return {
        "consent_id": consent.id,
        "provision_id": provision_id,
        "supply_point_id": point,
        "data_from": result.decision.valid_from.isoformat() if result.decision.valid_from else None,
        "data_to": result.decision.valid_to.isoformat() if result.decision.valid_to else None,
        "interval_readings": readings,
    }


def gate_parts() -> GateParts:
    """What this area plugs into the gate: ``usage_inquiry_consent``, empty unless bound to a
    consent whose password was verified (:func:`inquire`)."""
    return GateParts(relations={RELATION: no_relation})


# -- the operator's view of the records ----------------------------------------------------------


def operator_records(
    engine: Engine,
    *,
    auditor: str,
    customer_id: str,
    supply_point_id: str | None = None,
    at: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The provision records of a customer (of one point when given), for the operator answering
    the customer or a supervisor (APPI Art. 29/30): the reading is on the ledger first (party
    ``operator``, purpose ``audit:usage_provisions``, the auditor as the user), in the same
    transaction."""
    who = auditor.strip()
    if not who or len(who) > 64 or not who.isprintable():
        raise ValidationError(
            "name the auditor (1 to 64 printable characters)", field="auditor", valid="a name"
        )
    customer = customer_id.strip()
    if not customer or len(customer) > 64:
        raise ValidationError("name the customer", field="customer", valid="a customer ID")
    point = SupplyPointId.parse(supply_point_id).value if supply_point_id is not None else None
    with UnitOfWork(engine) as uow:
        append(
            uow.connection,
            LedgerEntry(
                party="operator",
                purpose="audit:usage_provisions",
                action="read",
                decision="allowed",
                customer_id=customer,
                supply_point_id=point,
                rule_id="audit:usage_provisions",
                request_id=f"audit-{uuid.uuid4().hex[:16]}",
                acting_user=who,
            ),
            now=at,
        )
        return provisions_of(uow.connection, customer, point)


def consentable_points(conn: Connection, account: Account, at: dt.datetime) -> list[str]:
    """The points the account may give a usage-inquiry consent for: its proven contracts in
    force at ``at``."""
    day = _day(at)
    return sorted(
        {
            link.supply_point_id
            for link in links(conn, account)
            if link.valid_from <= day and (link.valid_to is None or day < link.valid_to)
        }
    )
