"""DR agreements are the customer's (需要抑制に関する契約への本人の同意): proposal → confirmation.

A DR contractor's registration of an agreement is a **proposal**: it opens nothing. The
``dr_resource`` relation (:func:`jointuse.negawatt.relation.dr_resource_relation`) holds only
for an agreement the customer **confirmed**, a step the contractor cannot take:

1. The contractor proposes (:func:`jointuse.negawatt.agreements.register_agreement`): the point,
   the customer, ``agreed_on``, and the scope — which purposes (P3, P5), which items, which data
   period. The customer's enrolled e-mail addresses (accounts linked to that customer at that
   point, :mod:`jointuse.rights.identity`) receive the wording and a one-time code over SMTP.
2. The customer, signed in (``/v1/me``), confirms with that code (:func:`confirm`), or declines
   (:func:`decline`); a new code can be asked for (:func:`send_code`).
3. Either side withdraws at any moment (:func:`withdraw`, no code needed: withdrawing is no
   harder than confirming). After the end, the data dated within the agreement stays readable
   for settling (P5) for the policy's ``after_end_days`` of ``dr_resource``, and nothing newer.

Evidence of each step (``dr_consent_evidence``): who (account or contractor), when, the wording
shown in Japanese and English, its version (:data:`WORDING_VERSION`), the scope. Each of the
customer's steps is also on the ledger (``subject:dr_consent``).

Bounds: ``agreed_on`` is never in the future (checked at the proposal), nor before the
confirming customer's own tenure at the point (checked at confirmation against the contract
the customer proved at enrolment — the contractor is not told the tenure).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from jointuse.access.gate import commit_alone
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import Mailer
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append
from jointuse.negawatt import repository as repo
from jointuse.negawatt.repository import Agreement
from jointuse.parties.repository import load_party
from jointuse.rights.identity import Account, Link, TooManyRequests, links
from jointuse.rights.tables import account_link, customer_account, one_time_code

WORDING_VERSION = "dr-2026-12"
CODE_PURPOSE = "dr_consent"
CODE_TTL = dt.timedelta(days=7)
CODE_ATTEMPTS = 5
SENDS_PER_DAY = 5
DR_PURPOSES = ("P3_supply_point_confirmation", "P5_negawatt")
CODE_LINE = "確認コード / code: "
"""The line of the e-mail that carries the code (what :func:`code_in` reads)."""


def code_in(body: str) -> str | None:
    """The confirmation code in an e-mail's text, if any."""
    for line in body.splitlines():
        if line.startswith(CODE_LINE):
            return line.removeprefix(CODE_LINE).strip()
    return None


class ConsentRefused(JointuseError):
    """A confirmation the customer cannot give (wrong or expired code, a state that does not
    allow it, an ``agreed_on`` before their tenure): 409 with the reason."""

    code = "consent_refused"
    status = 409


@dataclass(frozen=True, slots=True)
class Wording:
    version: str
    ja: str
    en: str


def scope_of(a: Agreement) -> dict[str, Any]:
    """The agreement's scope as shown and stored (JSON-ready)."""
    return {
        "purposes": list(a.scope_purposes) if a.scope_purposes is not None else list(DR_PURPOSES),
        "items": list(a.scope_items) if a.scope_items is not None else None,
        "data_from": a.data_from.isoformat() if a.data_from else None,
        "data_to": a.data_to.isoformat() if a.data_to else None,
        "agreed_on": a.agreed_on.isoformat(),
        "expires_on": a.expires_on.isoformat() if a.expires_on else None,
    }


def _labels() -> dict[str, tuple[str, str]]:
    """Purpose and item key → (ja, en) label, from the policy the gate decides with."""
    from jointuse.assembly import default_gate

    policy = default_gate().policy
    out = {p.key: (p.label_ja, p.label_en) for p in policy.purposes}
    out.update({i.key: (i.label_ja, i.label_en) for i in policy.items})
    return out


def wording(a: Agreement, conn: Connection | None = None) -> Wording:
    """What the customer is shown and agrees to (version :data:`WORDING_VERSION`): the
    contractor by its registered name, the purposes and items by the notice's labels."""
    who_ja = who_en = a.contractor_code
    if conn is not None:
        record = load_party(conn, a.contractor_code)
        if record is not None:
            who_ja, who_en = record.party.name_ja, record.party.name_en
    labels = _labels()

    def ja(key: str) -> str:
        return labels.get(key, (key, key))[0]

    def en(key: str) -> str:
        return labels.get(key, (key, key))[1]

    point = SupplyPointId(a.supply_point_id).masked()
    s = scope_of(a)
    items_ja = "、".join(map(ja, s["items"])) if s["items"] is not None else "目的に必要な項目"
    items_en = "; ".join(map(en, s["items"])) if s["items"] is not None else "what they need"
    period_ja = f"{s['data_from'] or s['agreed_on']}〜{s['data_to'] or '契約終了まで'}"
    until_en = s["data_to"] or "the end of the agreement"
    period_en = f"{s['data_from'] or s['agreed_on']} to {until_en}"
    text_ja = (
        f"需要抑制契約者「{who_ja}」との需要抑制に関する契約（供給地点 {point}、"
        f"{s['agreed_on']}締結）に基づき、同社が次の目的でお客さまの情報を利用することに同意します。"
        f"目的: {'／'.join(map(ja, s['purposes']))}。項目: {items_ja}。対象期間: {period_ja}。"
        "この同意はいつでも撤回できます。撤回後は、契約期間内の精算のために限り、"
        "契約期間中のデータが一定期間参照されます。"
    )
    text_en = (
        f"I agree that the DR contractor {who_en}, under my demand-response agreement for "
        f"supply point {point} made on {s['agreed_on']}, uses my data "
        f"{' / '.join(map(en, s['purposes']))}; items: {items_en}; data period: {period_en}. "
        "I can withdraw at any time; after withdrawal the data dated within the agreement "
        "stays readable for a limited time, only to settle events inside it."
    )
    return Wording(WORDING_VERSION, text_ja, text_en)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(JST).date()


def evidence(
    conn: Connection,
    a: Agreement,
    *,
    action: str,
    at: dt.datetime,
    account_id: str | None = None,
    party_code: str | None = None,
) -> None:
    w = wording(a, conn)
    repo.insert_evidence(
        conn,
        agreement_id=a.agreement_id,
        action=action,
        by_kind="customer" if account_id is not None else "contractor",
        account_id=account_id,
        party_code=party_code,
        at=at,
        wording_version=w.version,
        wording_ja=w.ja,
        wording_en=w.en,
        scope=json.dumps(scope_of(a), sort_keys=True),
    )


def _linked_accounts(conn: Connection, a: Agreement, day: dt.date) -> list[tuple[str, str]]:
    """(account ID, e-mail) of the accounts that proved this customer at this point, whose
    proved tenure covers ``day``."""
    rows = conn.execute(
        select(customer_account.c.id, customer_account.c.email, account_link)
        .select_from(
            account_link.join(customer_account, customer_account.c.id == account_link.c.account_id)
        )
        .where(
            account_link.c.customer_id == a.customer_id,
            account_link.c.supply_point_id == a.supply_point_id,
        )
    ).all()
    return [
        (r.id, r.email)
        for r in rows
        if r.valid_from <= day and (r.valid_to is None or day < r.valid_to)
    ]


def _mail_code(
    conn: Connection, mailer: Mailer, a: Agreement, *, email: str, at: dt.datetime
) -> None:
    sent = conn.execute(
        select(func.count())
        .select_from(one_time_code)
        .where(
            one_time_code.c.email == email,
            one_time_code.c.purpose == CODE_PURPOSE,
            one_time_code.c.created_at > at - dt.timedelta(days=1),
        )
    ).scalar_one()
    if sent >= SENDS_PER_DAY:
        raise TooManyRequests(
            f"at most {SENDS_PER_DAY} consent codes a day to one address; try again tomorrow",
            retry_after=86400,
        )
    code = f"{secrets.randbelow(10**6):06d}"
    code_id = str(uuid.uuid4())
    conn.execute(
        insert(one_time_code),
        {
            "id": code_id,
            "email": email,
            "purpose": CODE_PURPOSE,
            "code_hash": _hash(f"{code_id}:{code}"),
            "payload": json.dumps({"agreement_id": a.agreement_id}, sort_keys=True),
            "created_at": at,
            "expires_at": at + CODE_TTL,
            "attempts": 0,
            "used_at": None,
        },
    )
    w = wording(a, conn)
    mailer.send(
        email,
        "【jointuse】需要抑制契約への同意のお願い / please confirm a DR agreement",
        f"{w.ja}\n\n同意される場合は、マイページで確認コードを入力してください"
        f"（{CODE_TTL.days}日間有効。心当たりがない場合は何もしないでください）。\n\n"
        f"{w.en}\n\nTo agree, enter the code in your customer page (valid for "
        f"{CODE_TTL.days} days). If you do not know this contractor, do nothing.\n\n"
        f"{CODE_LINE}{code}\n(wording {w.version}, agreement {a.agreement_id})\n",
    )


def notify_proposal(conn: Connection, mailer: Mailer | None, a: Agreement, at: dt.datetime) -> int:
    """E-mail the wording and a code to the customer's enrolled addresses; how many."""
    if mailer is None:
        return 0
    accounts = _linked_accounts(conn, a, _day(at))
    for _, email in accounts:
        _mail_code(conn, mailer, a, email=email, at=at)
    return len(accounts)


def _own(conn: Connection, account: Account, agreement_id: str) -> tuple[Agreement, Link]:
    """The agreement, if it concerns one of the account's proven records; else 404 (the same
    answer whether it exists or not)."""
    a = repo.get_agreement(conn, agreement_id)
    if a is not None:
        for link in links(conn, account):
            if link.customer_id == a.customer_id and link.supply_point_id == a.supply_point_id:
                return a, link
    raise NotFound(f"no DR agreement {agreement_id!r} of yours", field="agreement_id")


def _subject_entry(
    conn: Connection, account: Account, a: Agreement, step: str, request_id: str | None
) -> None:
    append(
        conn,
        LedgerEntry(
            party=f"customer:{account.id}",
            purpose="subject:dr_consent",
            action="write",
            decision="allowed",
            supply_point_id=a.supply_point_id,
            customer_id=a.customer_id,
            rule_id=f"subject:dr_consent:{step}",
            request_id=request_id or f"dr-consent-{uuid.uuid4().hex[:12]}",
        ),
    )


def send_code(
    uow: UnitOfWork, mailer: Mailer, *, account: Account, agreement_id: str, at: dt.datetime
) -> None:
    """A new confirmation code for a proposal of the customer's, to the account's address."""
    conn = uow.connection
    a, _ = _own(conn, account, agreement_id)
    if a.state != "proposed":
        raise ConsentRefused(
            f"agreement {agreement_id} is {a.state}: only a proposal is confirmed",
            reason="not_proposed",
        )
    _mail_code(conn, mailer, a, email=account.email, at=at)


def _check_code(
    uow: UnitOfWork, account: Account, agreement_id: str, code: str, at: dt.datetime
) -> None:
    conn = uow.connection
    rows = conn.execute(
        select(one_time_code)
        .where(
            one_time_code.c.email == account.email,
            one_time_code.c.purpose == CODE_PURPOSE,
            one_time_code.c.used_at.is_(None),
            one_time_code.c.expires_at > at,
        )
        .order_by(one_time_code.c.created_at.desc())
    ).all()
    row = next((r for r in rows if json.loads(r.payload).get("agreement_id") == agreement_id), None)
    digits = unicodedata.normalize("NFKC", code).strip()
    if row is None or row.attempts >= CODE_ATTEMPTS:
        raise ConsentRefused("no valid code: ask for a new one", reason="code_refused")
    if not hmac.compare_digest(row.code_hash, _hash(f"{row.id}:{digits}")):
        conn.execute(
            update(one_time_code)
            .where(one_time_code.c.id == row.id)
            .values(attempts=one_time_code.c.attempts + 1)
        )
        uow.session.commit()  # the attempt stays counted although the caller is refused
        raise ConsentRefused("the code is not valid: ask for a new one", reason="code_refused")
    conn.execute(update(one_time_code).where(one_time_code.c.id == row.id).values(used_at=at))


def _step(
    uow: UnitOfWork,
    *,
    account: Account,
    agreement_id: str,
    at: dt.datetime,
    request_id: str | None,
    action: str,
    expected: tuple[str, ...],
    values: dict[str, Any],
    check: Callable[[Agreement, Link], None] | None = None,
) -> Agreement:
    """One step of the customer on one of their agreements: it must be in an ``expected``
    state (checked again by the update itself, so two concurrent steps cannot both pass), then
    ``check``, then the new state, its evidence and the ledger entry. A refusal (not theirs, a
    state that does not allow it, a wrong code, a date outside their tenure) is on the ledger
    too, as the customer's denied step."""
    conn = uow.connection
    a: Agreement | None = None
    try:
        a, link = _own(conn, account, agreement_id)
        if a.state not in expected:
            raise ConsentRefused(
                f"agreement {agreement_id} is {a.state}: it cannot be {action} now",
                reason="not_proposed" if expected == ("proposed",) else "not_in_force",
            )
        if check is not None:
            check(a, link)
        if not repo.set_state(conn, agreement_id, expected=expected, **values):
            raise ConsentRefused(
                f"agreement {agreement_id} changed meanwhile: reload it", reason="changed"
            )
    except (ConsentRefused, NotFound) as exc:
        reason = str(exc.details.get("reason") or exc.code)
        commit_alone(
            uow,
            LedgerEntry(
                party=f"customer:{account.id}",
                purpose="subject:dr_consent",
                action="write",
                decision="denied",
                supply_point_id=a.supply_point_id if a is not None else None,
                customer_id=a.customer_id if a is not None else None,
                items_refused=(RefusedItem("*", reason[:64]),),
                rule_id=f"subject:dr_consent:{action}",
                request_id=request_id or f"dr-consent-{uuid.uuid4().hex[:12]}",
            ),
        )
        exc.recorded_on_ledger = True
        raise
    evidence(conn, a, action=action, at=at, account_id=account.id)
    _subject_entry(conn, account, a, action, request_id)
    return repo.get_agreement(conn, agreement_id) or a


def confirm(
    uow: UnitOfWork,
    *,
    account: Account,
    agreement_id: str,
    code: str,
    at: dt.datetime,
    request_id: str | None = None,
) -> Agreement:
    """The customer confirms a proposal with the code mailed to them: from now on (and over
    ``agreed_on`` … its end, within their tenure) the agreement opens its scope."""

    def check(a: Agreement, link: Link) -> None:
        if a.agreed_on < link.valid_from:
            raise ConsentRefused(
                f"the agreement is dated {a.agreed_on}, before your own contract at this point "
                f"began ({link.valid_from}): decline it and ask the contractor for a correct date",
                reason="agreed_on_before_tenure",
                field="agreed_on",
            )
        if link.valid_to is not None and a.agreed_on >= link.valid_to:
            raise ConsentRefused(
                f"the agreement is dated {a.agreed_on}, after your contract at this point ended",
                reason="agreed_on_after_tenure",
                field="agreed_on",
            )
        _check_code(uow, account, agreement_id, code, at)

    return _step(
        uow,
        account=account,
        agreement_id=agreement_id,
        at=at,
        request_id=request_id,
        action="confirmed",
        expected=("proposed",),
        values={"state": "confirmed", "confirmed_at": at},
        check=check,
    )


def decline(
    uow: UnitOfWork,
    *,
    account: Account,
    agreement_id: str,
    at: dt.datetime,
    request_id: str | None = None,
) -> Agreement:
    """The customer declines a proposal: it never opens anything."""
    return _step(
        uow,
        account=account,
        agreement_id=agreement_id,
        at=at,
        request_id=request_id,
        action="declined",
        expected=("proposed",),
        values={"state": "declined"},
    )


def withdraw(
    uow: UnitOfWork,
    *,
    account: Account,
    agreement_id: str,
    at: dt.datetime,
    request_id: str | None = None,
) -> Agreement:
    """The customer withdraws (a proposal or a confirmed agreement), in one step, no code."""
    return _step(
        uow,
        account=account,
        agreement_id=agreement_id,
        at=at,
        request_id=request_id,
        action="withdrawn",
        expected=("proposed", "confirmed"),
        values={"state": "withdrawn", "withdrawn_at": at},
    )


def my_consents(conn: Connection, account: Account) -> list[dict[str, Any]]:
    """The DR agreements concerning the account's proven records, within its tenure: what each
    says, its state and its evidence (no other occupant's agreements)."""
    out: list[dict[str, Any]] = []
    for link in links(conn, account):
        for a in repo.agreements_of_customer(conn, link.customer_id, link.supply_point_id):
            w = wording(a, conn)
            out.append(
                {
                    "agreement_id": a.agreement_id,
                    "contractor": a.contractor_code,
                    "supply_point_id": a.supply_point_id,
                    "state": a.state,
                    "scope": scope_of(a),
                    "confirmed_at": a.confirmed_at.isoformat() if a.confirmed_at else None,
                    "withdrawn_at": a.withdrawn_at.isoformat() if a.withdrawn_at else None,
                    "wording": {"version": w.version, "ja": w.ja, "en": w.en},
                    "evidence": [
                        {
                            "action": e["action"],
                            "by": e["by_kind"],
                            "at": e["at"].isoformat(),
                            "wording_version": e["wording_version"],
                        }
                        for e in repo.evidence_of(conn, a.agreement_id)
                    ],
                }
            )
    return out


def check_scope(
    purposes: Iterable[str] | None, items: Iterable[str] | None, known_items: Iterable[str]
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Validate a proposed scope: purposes among :data:`DR_PURPOSES`, items known to the
    policy; None = unrestricted."""
    ps = None if purposes is None else tuple(dict.fromkeys(p.strip() for p in purposes))
    if ps is not None:
        bad = [p for p in ps if p not in DR_PURPOSES]
        if bad or not ps:
            raise ValidationError(
                f"scope purposes {bad or '(none)'} are not DR purposes",
                field="scope_purposes",
                valid=list(DR_PURPOSES),
            )
    known = set(known_items)
    its = None if items is None else tuple(dict.fromkeys(i.strip() for i in items))
    if its is not None:
        bad = [i for i in its if i not in known]
        if bad or not its:
            raise ValidationError(
                f"scope items {bad or '(none)'} are not items of the policy",
                field="scope_items",
                valid=sorted(known),
            )
    return ps, its
