"""The customer's rights as tracked requests (APPI Arts. 33–35), each with its deadline.

=================  ==========================================  ================================
kind               states (→ steps)                            who moves it
=================  ==========================================  ================================
``disclosure``     ``received`` → ``ready`` (prepare) |        the platform's operator
(開示, Art. 33)    ``refused`` (refuse, an Art. 33(2) ground)  (``jointuse requests process``)
``correction``     ``routed`` → ``accepted`` (accept, applied  the controller (管理責任者) of
(訂正, Art. 34)    through the gate) | ``refused`` (reasons)   the item's category, via the API
``stop_use``       ``propagated`` → ``completed`` when every   each joint user holding the
(利用停止・消去,    holder has confirmed (confirm)              data, via the API
Art. 35)
=================  ==========================================  ================================

Every request gets a deadline at receipt: ``received_at`` + :func:`deadline_days` days (遅滞なく;
``JOINTUSE_RIGHTS_DEADLINE_DAYS``, default 14). A request not in a final state after its deadline
is overdue (``jointuse requests list --overdue``). Every step is a ``rights_request_step`` row and
a ledger entry (purpose ``subject:<kind>``, rule ``subject:<kind>:<step>``) in the same
transaction; the customer is told each outcome by e-mail.

Routing (the controllers of ``policy.toml``)
    basic → the retailer holding the contract of the customer's record, or the area's TSO where
    that contract is remote-island or last-resort supply (the policy's exception); supply_point →
    the TSO of the point's area; negawatt → each DR contractor with an agreement of the customer
    at the point within their tenure.

Stop-use / erasure is propagated to every joint user holding the data: the controllers of the
customer's record and every party the ledger shows used it within the customer's tenure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from jointuse.access.gate import Gate, commit_alone, refusal_entry
from jointuse.access.relations import RelationContext, TargetRef, jst_midnight
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, NotFound, ValidationError
from jointuse.core.mail import Mailer
from jointuse.customers import repository as customers
from jointuse.customers.model import Customer
from jointuse.customers.relations import target_facts
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.parties.reference import tso_for_area
from jointuse.policy.engine import Party
from jointuse.policy.model import Policy
from jointuse.rights.identity import PLATFORM, Account, Link, links
from jointuse.rights.requests_tables import (
    rights_request,
    rights_request_party,
    rights_request_step,
)

DEADLINE_ENV = "JOINTUSE_RIGHTS_DEADLINE_DAYS"
DEFAULT_DEADLINE_DAYS = 14
KINDS = ("disclosure", "correction", "stop_use")
FORMATS = ("json", "csv", "pdf")
CATEGORIES = ("basic", "supply_point", "negawatt")
FINAL = frozenset({"ready", "refused", "accepted", "completed"})

#: kind → state → step → next state (the state machines).
TRANSITIONS: dict[str, dict[str, dict[str, str]]] = {
    "disclosure": {"received": {"prepare": "ready", "refuse": "refused"}},
    "correction": {"routed": {"accept": "accepted", "refuse": "refused"}},
    "stop_use": {"propagated": {"confirm": "propagated", "complete": "completed"}},
}
FIRST = {"disclosure": "received", "correction": "routed", "stop_use": "propagated"}

#: Art. 33(2): the only grounds on which a disclosure may be refused (in whole or part).
DISCLOSURE_REFUSAL_GROUNDS: dict[str, tuple[str, str]] = {
    "art33_2_i": (
        "本人又は第三者の生命、身体、財産その他の権利利益を害するおそれがある場合（第33条第2項第1号）",
        "disclosure would risk harm to the life, body, property or other rights and interests "
        "of the person or a third party (Art. 33(2)(i))",
    ),
    "art33_2_ii": (
        "当該個人情報取扱事業者の業務の適正な実施に著しい支障を及ぼすおそれがある場合（第33条第2項第2号）",
        "disclosure would risk seriously interfering with the proper conduct of the business "
        "(Art. 33(2)(ii))",
    ),
    "art33_2_iii": (
        "他の法令に違反することとなる場合（第33条第2項第3号）",
        "disclosure would violate another law (Art. 33(2)(iii))",
    ),
}

#: Art. 35: the grounds of a stop-use / erasure request (the last three since April 2022).
STOP_USE_GROUNDS: dict[str, tuple[str, str]] = {
    "art35_1_improper_use": (
        "目的外利用又は不適正な利用（第18条・第19条違反）",
        "use beyond the purposes, or improper use (Arts. 18, 19)",
    ),
    "art35_1_improper_acquisition": (
        "偽りその他不正の手段による取得（第20条違反）",
        "acquired by deception or other improper means (Art. 20)",
    ),
    "art35_3_improper_provision": (
        "本人の同意のない第三者提供（第27条第1項・第28条違反）",
        "provided to a third party without consent (Arts. 27(1), 28)",
    ),
    "art35_5_no_longer_needed": (
        "利用する必要がなくなった場合（第35条第5項）",
        "no longer needed for the purposes (Art. 35(5))",
    ),
    "art35_5_breach": (
        "漏えい等の事態が生じた場合（第35条第5項）",
        "a leak or other breach has occurred (Art. 35(5))",
    ),
    "art35_5_rights_harmed": (
        "本人の権利又は正当な利益が害されるおそれがある場合（第35条第5項）",
        "the person's rights or legitimate interests are likely to be harmed (Art. 35(5))",
    ),
}
#: Withdrawing the consent of a DR agreement (同意の撤回) goes the same way, to the contractors.
STOP_USE_GROUNDS["consent_withdrawn"] = (
    "本人の同意の撤回（需要抑制に関する契約）",
    "the customer withdraws their consent (DR agreement)",
)
STOP_USE_ACTIONS = ("stop_use", "erasure", "stop_provision", "withdraw_consent")

#: Supply-point items a correction can carry as one value (the others are structured).
CORRECTABLE_POINT_ITEMS = frozenset(
    {
        "service_menu",
        "supply_method",
        "capacity_determination_method",
        "contract_state",
        "remote_island_tariff",
        "current_limit",
        "power_factor",
        "lead_in_pole_number",
        "grid_connected_generation",
        "meter_reading_day",
        "disconnection_method",
    }
)
CORRECTABLE_BASIC_ITEMS = frozenset({"name", "address", "phone"})
#: The purpose under which a controller applies an accepted correction (its write rule).
APPLY_PURPOSE = {
    ("basic", "retailer"): "P1_wheeling",
    ("basic", "tso"): "P1_wheeling",
    ("supply_point", "tso"): "P4_tso_operations",
    ("negawatt", "dr_contractor"): "P5_negawatt",
}


class StepNotAllowed(JointuseError):
    """The request's state does not allow the step (409, naming state and allowed steps)."""

    code = "rights_request_state"
    status = 409


def deadline_days(env: Mapping[str, str] | None = None) -> int:
    """Days a request may take (遅滞なく): ``JOINTUSE_RIGHTS_DEADLINE_DAYS``, default 14."""
    text = (os.environ if env is None else env).get(DEADLINE_ENV, "").strip()
    if not text:
        return DEFAULT_DEADLINE_DAYS
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= 365:
        raise ValidationError(
            f"{DEADLINE_ENV}={text!r} is not a number of days", field=DEADLINE_ENV, valid="1–365"
        )
    return days


@dataclass(frozen=True, slots=True)
class RightsRequest:
    id: str
    account_id: str
    kind: str
    state: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    detail: dict[str, Any]
    outcome: dict[str, Any] | None
    document_format: str | None

    def overdue(self, at: datetime) -> bool:
        return self.state not in FINAL and self.due_at <= at


def _request(row: Any) -> RightsRequest:
    m = row._mapping
    return RightsRequest(
        id=m["id"],
        account_id=m["account_id"],
        kind=m["kind"],
        state=m["state"],
        received_at=m["received_at"],
        due_at=m["due_at"],
        completed_at=m["completed_at"],
        detail=json.loads(m["detail"]),
        outcome=json.loads(m["outcome"]) if m["outcome"] else None,
        document_format=m["document_format"],
    )


_COLUMNS = [c for c in rights_request.c if c.name != "document"]


def get(conn: Connection, request_id: str) -> RightsRequest | None:
    row = conn.execute(select(*_COLUMNS).where(rights_request.c.id == request_id)).first()
    return _request(row) if row is not None else None


def document_of(conn: Connection, request_id: str) -> tuple[str | None, bytes | None]:
    row = conn.execute(
        select(rights_request.c.document_format, rights_request.c.document).where(
            rights_request.c.id == request_id
        )
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def parties_of(conn: Connection, request_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(rights_request_party)
        .where(rights_request_party.c.request_id == request_id)
        .order_by(rights_request_party.c.party_code)
    ).all()
    return [
        {
            "party": r._mapping["party_code"],
            "role": r._mapping["role"],
            "state": r._mapping["state"],
            "answered_at": r._mapping["answered_at"].isoformat()
            if r._mapping["answered_at"]
            else None,
            "reason": r._mapping["reason"],
        }
        for r in rows
    ]


def steps_of(conn: Connection, request_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(rights_request_step)
        .where(rights_request_step.c.request_id == request_id)
        .order_by(rights_request_step.c.id)
    ).all()
    return [
        {
            "at": r._mapping["at"].isoformat(),
            "actor": r._mapping["actor"],
            "step": r._mapping["step"],
            "from": r._mapping["state_from"],
            "to": r._mapping["state_to"],
            "note": r._mapping["note"],
        }
        for r in rows
    ]


def list_requests(
    conn: Connection,
    *,
    at: datetime,
    overdue: bool = False,
    kind: str | None = None,
    account_id: str | None = None,
) -> list[RightsRequest]:
    q = select(*_COLUMNS).order_by(rights_request.c.due_at, rights_request.c.id)
    if overdue:
        q = q.where(rights_request.c.state.not_in(sorted(FINAL)), rights_request.c.due_at <= at)
    if kind is not None:
        q = q.where(rights_request.c.kind == kind)
    if account_id is not None:
        q = q.where(rights_request.c.account_id == account_id)
    return [_request(r) for r in conn.execute(q)]


def addressed_to(
    conn: Connection, party_code: str, *, at: datetime, kind: str | None = None
) -> list[dict[str, Any]]:
    """The requests routed or propagated to ``party_code`` (of ``kind`` if given): the party's
    pending parts first, then by deadline. Only what a list needs — the request, its kind,
    category and item key, states and deadline; no customer, point or value (those are read one
    request at a time, :func:`party_view`, on the ledger)."""
    q = (
        select(*_COLUMNS, rights_request_party.c.role, rights_request_party.c.state.label("part"))
        .select_from(
            rights_request.join(
                rights_request_party, rights_request_party.c.request_id == rights_request.c.id
            )
        )
        .where(rights_request_party.c.party_code == party_code)
        .order_by(rights_request.c.due_at, rights_request.c.id)
    )
    if kind is not None:
        q = q.where(rights_request.c.kind == kind)
    out = []
    for row in conn.execute(q):
        r = _request(row)
        out.append(
            {
                "id": r.id,
                "kind": r.kind,
                "state": r.state,
                "category": r.detail.get("category"),
                "item": r.detail.get("item"),
                "received_at": r.received_at.isoformat(),
                "due_at": r.due_at.isoformat(),
                "overdue": r.overdue(at),
                "your_role": row._mapping["role"],
                "your_state": row._mapping["part"],
            }
        )
    out.sort(key=lambda v: v["your_state"] != "pending")
    return out


def view(conn: Connection, r: RightsRequest, at: datetime, *, steps: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "kind": r.kind,
        "state": r.state,
        "received_at": r.received_at.isoformat(),
        "due_at": r.due_at.isoformat(),
        "completed_at": r.completed_at.isoformat() if r.completed_at else None,
        "overdue": r.overdue(at),
        "detail": r.detail,
        "outcome": r.outcome,
        "parties": parties_of(conn, r.id),
    }
    if r.kind == "disclosure":
        out["format"] = r.detail.get("format")
        out["download"] = f"/v1/me/requests/{r.id}/download" if r.state == "ready" else None
    if steps:
        out["steps"] = steps_of(conn, r.id)
    return out


# --- steps -------------------------------------------------------------------------------------


def _record_step(
    conn: Connection,
    r: RightsRequest,
    *,
    actor: str,
    step: str,
    state_to: str,
    at: datetime,
    note: str | None = None,
    state_from: str | None = None,
    customer_id: str | None = None,
    supply_point_id: str | None = None,
) -> None:
    conn.execute(
        insert(rights_request_step),
        {
            "request_id": r.id,
            "at": at,
            "actor": actor[:80],
            "step": step,
            "state_from": state_from,
            "state_to": state_to,
            "note": note,
        },
    )
    # One entry per record the request is about (a disclosure covers every proven record).
    about = [
        (
            customer_id or r.detail.get("customer_id"),
            supply_point_id or r.detail.get("supply_point_id"),
        )
    ]
    if about == [(None, None)] and r.detail.get("records"):
        about = [(c, p) for c, p in r.detail["records"]]
    for cid, point in about:
        append(
            conn,
            LedgerEntry(
                party=actor,
                purpose=f"subject:{r.kind}",
                action="write",
                decision="allowed",
                customer_id=cid,
                supply_point_id=point,
                rule_id=f"subject:{r.kind}:{step}",
                request_id=r.id,
                recorded_at=at,
            ),
        )


def _move(
    conn: Connection,
    r: RightsRequest,
    *,
    step: str,
    actor: str,
    at: datetime,
    note: str | None = None,
    outcome: dict[str, Any] | None = None,
    document: tuple[str, bytes] | None = None,
) -> RightsRequest:
    allowed = TRANSITIONS[r.kind].get(r.state, {})
    if step not in allowed:
        raise StepNotAllowed(
            f"a {r.kind} request in state {r.state!r} does not allow {step!r}",
            state=r.state,
            allowed=sorted(allowed),
        )
    to = allowed[step]
    values: dict[str, Any] = {"state": to}
    if to in FINAL:
        values["completed_at"] = at
    if outcome is not None:
        values["outcome"] = json.dumps(outcome, ensure_ascii=False, sort_keys=True)
    if document is not None:
        values["document_format"], values["document"] = document
    done = conn.execute(
        update(rights_request)
        .where(rights_request.c.id == r.id, rights_request.c.state == r.state)
        .values(**values)
    ).rowcount
    if done != 1:  # moved by someone else meanwhile
        raise StepNotAllowed(f"request {r.id} changed meanwhile; read it again", state=r.state)
    _record_step(conn, r, actor=actor, step=step, state_to=to, at=at, note=note, state_from=r.state)
    found = get(conn, r.id)
    assert found is not None
    return found


def _create(
    conn: Connection,
    account: Account,
    kind: str,
    detail: dict[str, Any],
    *,
    at: datetime,
    days: int,
) -> RightsRequest:
    rid = str(uuid.uuid4())
    conn.execute(
        insert(rights_request),
        {
            "id": rid,
            "account_id": account.id,
            "kind": kind,
            "state": FIRST[kind],
            "received_at": at,
            "due_at": at + timedelta(days=days),
            "completed_at": None,
            "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
            "outcome": None,
            "document_format": None,
            "document": None,
        },
    )
    r = get(conn, rid)
    assert r is not None
    _record_step(conn, r, actor=f"customer:{account.id}", step="receive", state_to=r.state, at=at)
    return r


def _link_of(conn: Connection, account: Account, supply_point_id: str | None) -> Link:
    own = links(conn, account)
    if supply_point_id is not None:
        point = TargetRef(supply_point_id=supply_point_id).supply_point_id
        own = [link for link in own if link.supply_point_id == point]
    if len(own) == 1:
        return own[0]
    raise ValidationError(
        "name the record the request is about: supply_point_id"
        if own
        else "no proven contract at that supply point",
        field="supply_point_id",
        valid=sorted({link.supply_point_id for link in links(conn, account)}),
    )


def tenure(link: Link) -> tuple[datetime, datetime | None]:
    return jst_midnight(link.valid_from), jst_midnight(link.valid_to) if link.valid_to else None


def _within_tenure(link: Link, at: datetime) -> datetime:
    _start, end = tenure(link)
    return at if end is None or at < end else end - timedelta(microseconds=1)


# --- controllers and holders --------------------------------------------------------------------


def dr_contractors(conn: Connection, link: Link) -> list[str]:
    """DR contractors with an agreement of the customer at the point within their tenure."""
    from jointuse.negawatt.tables import dr_agreement

    _start, end = tenure(link)
    rows = conn.execute(
        select(dr_agreement.c.contractor_code, dr_agreement.c.agreed_on).where(
            dr_agreement.c.customer_id == link.customer_id,
            dr_agreement.c.supply_point_id == link.supply_point_id,
        )
    ).all()
    return sorted(
        {r[0] for r in rows if end is None or jst_midnight(r[1]) < end},
    )


def open_agreements(conn: Connection, link: Link, contractor: str | None) -> list[tuple[str, str]]:
    """The customer's DR agreements at the point not withdrawn (of ``contractor`` if given),
    as (agreement ID, contractor code)."""
    from jointuse.negawatt.tables import dr_agreement

    q = select(dr_agreement.c.id, dr_agreement.c.contractor_code).where(
        dr_agreement.c.customer_id == link.customer_id,
        dr_agreement.c.supply_point_id == link.supply_point_id,
        dr_agreement.c.withdrawn_at.is_(None),
    )
    if contractor is not None:
        q = q.where(dr_agreement.c.contractor_code == contractor)
    return [(r[0], r[1]) for r in conn.execute(q.order_by(dr_agreement.c.id))]


def controllers(
    conn: Connection, policy: Policy, link: Link, category: str, at: datetime
) -> list[str]:
    """The controller(s) (管理責任者) of ``category`` for the customer's record ``link``, as
    the policy's controllers name them (the contract's facts at a moment of the tenure)."""
    area = link.supply_point_id[:2]
    if category == "negawatt":
        return dr_contractors(conn, link)
    if category == "supply_point":
        code = tso_for_area(area)
        return [code] if code else []
    moment = _within_tenure(link, at)
    ctx = RelationContext(
        conn,
        Party(PLATFORM, "operator"),
        TargetRef(supply_point_id=link.supply_point_id, customer_id=link.customer_id),
        moment,
    )
    facts = target_facts(ctx)
    for c in policy.controllers:
        if c.category != category:
            continue
        for ex in c.exceptions:
            if facts.contract_kind in ex.contract_kinds and ex.party_kind == "tso":
                code = tso_for_area(area)
                return [code] if code else []
    return [facts.retailer_code or link.retailer_code]


def holders(conn: Connection, policy: Policy, link: Link, at: datetime) -> list[str]:
    """Every joint user holding the customer's data: the controllers of each category, and
    every registered party the ledger shows used the record (customer or point) within the
    customer's tenure."""
    from jointuse.parties.tables import party as party_table
    from jointuse.rights.access_log import _entries_of

    found: set[str] = set()
    for category in CATEGORIES:
        found.update(controllers(conn, policy, link, category, at))
    for record in _entries_of(conn, link):
        e = record.entry
        if e.decision == "allowed" and not e.purpose.startswith(("subject:", "admin:")):
            found.add(e.party)
    known = {r[0] for r in conn.execute(select(party_table.c.code))}
    return sorted(c for c in found if c in known and c != PLATFORM)


def _post(conn: Connection, r: RightsRequest, codes: list[str], role: str, at: datetime) -> None:
    from jointuse.messages.service import post_many

    conn.execute(
        insert(rights_request_party),
        [
            {
                "request_id": r.id,
                "party_code": code,
                "role": role,
                "state": "pending",
                "answered_at": None,
                "reason": None,
            }
            for code in codes
        ],
    )
    body: dict[str, Any] = {"request_kind": r.kind, "due_at": r.due_at.isoformat()}
    if r.kind == "correction":
        body["category"] = r.detail["category"]
        body["item_key"] = r.detail["item"]
    if r.kind == "stop_use":
        body["ground"] = r.detail["ground"]
        body["what"] = r.detail["action"]
    post_many(
        conn,
        [
            {
                "recipient": code,
                "kind": f"rights_{r.kind}",
                "subject_ref": {
                    "rights_request_id": r.id,
                    "supply_point_id": str(r.detail.get("supply_point_id")),
                },
                "body": body,
            }
            for code in codes
        ],
        at=at,
    )


# --- the customer's submissions -----------------------------------------------------------------


def submit_disclosure(
    uow: UnitOfWork, account: Account, *, fmt: str, at: datetime, days: int
) -> RightsRequest:
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValidationError(f"format {fmt!r} is not offered", field="format", valid=list(FORMATS))
    own = links(uow.connection, account)
    if not own:
        raise ValidationError("no proven contract to disclose", field="account")
    records = [[link.customer_id, link.supply_point_id] for link in own]
    detail = {"format": fmt, "records": records}
    return _create(uow.connection, account, "disclosure", detail, at=at, days=days)


def _correction_value(category: str, item: str, value: Any) -> Any:
    if category == "basic":
        if item not in CORRECTABLE_BASIC_ITEMS:
            raise ValidationError(
                f"{item!r} cannot be corrected here",
                field="item",
                valid=sorted(CORRECTABLE_BASIC_ITEMS),
            )
        probe: dict[str, Any] = {
            "customer_id": "probe",
            "name": "確認",
            "name_kana": "カクニン",
            "postal_code": "100-0001",
            "prefecture": "東京都",
            "address_rest": "千代田区",
            "phone": "03-1234-5678",
            "membership": "non_member",
        }
        if item == "name":
            v = value if isinstance(value, dict) else {"kanji": value}
            probe["name"] = str(v.get("kanji", ""))
            probe["name_kana"] = str(v.get("kana") or "カクニン")
            made = Customer.create(**probe)
            return (
                {"kanji": made.name, "kana": made.name_kana}
                if "kana" in v
                else {"kanji": made.name}
            )
        if item == "address":
            if not isinstance(value, dict):
                raise ValidationError(
                    "address is an object", field="value", valid="{postal_code, prefecture, rest}"
                )
            probe["postal_code"] = str(value.get("postal_code", ""))
            probe["prefecture"] = str(value.get("prefecture", ""))
            probe["address_rest"] = str(value.get("rest", ""))
            return Customer.create(**probe).address.as_item()
        probe["phone"] = str(value)
        return Customer.create(**probe).phone.national
    if category == "supply_point":
        if item not in CORRECTABLE_POINT_ITEMS:
            raise ValidationError(
                f"{item!r} cannot be corrected by one value",
                field="item",
                valid=sorted(CORRECTABLE_POINT_ITEMS),
            )
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int) and 0 <= value <= 100_000:
            return value
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
        raise ValidationError(
            "the value is a string (1–64 characters), a number 0–100000 or a boolean",
            field="value",
        )
    if category == "negawatt":
        if item not in ("baseline", "demand_suppressed", "generation_sold", "demand_procured"):
            raise ValidationError(f"unknown negawatt item {item!r}", field="item")
        return value
    raise ValidationError(
        f"unknown category {category!r}", field="category", valid=list(CATEGORIES)
    )


def submit_correction(
    uow: UnitOfWork,
    account: Account,
    policy: Policy,
    *,
    supply_point_id: str | None,
    category: str,
    item: str,
    value: Any,
    reason: str,
    at: datetime,
    days: int,
) -> RightsRequest:
    conn = uow.connection
    link = _link_of(conn, account, supply_point_id)
    corrected = _correction_value(category, item, value)
    to = controllers(conn, policy, link, category, at)
    if not to:
        raise ValidationError(
            f"no {category} data is held about you at {link.supply_point_id}",
            field="category",
            valid=[c for c in CATEGORIES if controllers(conn, policy, link, c, at)],
        )
    r = _create(
        conn,
        account,
        "correction",
        {
            "customer_id": link.customer_id,
            "supply_point_id": link.supply_point_id,
            "category": category,
            "item": item,
            "value": corrected,
            "reason": reason,
        },
        at=at,
        days=days,
    )
    _post(conn, r, to, "controller", at)
    return r


def submit_stop_use(
    uow: UnitOfWork,
    account: Account,
    policy: Policy,
    *,
    supply_point_id: str | None,
    ground: str,
    action: str,
    reason: str,
    at: datetime,
    days: int,
) -> RightsRequest:
    if ground not in STOP_USE_GROUNDS:
        raise ValidationError(
            f"unknown ground {ground!r}", field="ground", valid=sorted(STOP_USE_GROUNDS)
        )
    if action not in STOP_USE_ACTIONS:
        raise ValidationError(
            f"unknown action {action!r}", field="action", valid=list(STOP_USE_ACTIONS)
        )
    if (ground == "consent_withdrawn") != (action == "withdraw_consent"):
        raise ValidationError(
            "a withdrawal of consent is action withdraw_consent with ground consent_withdrawn",
            field="ground",
            valid=["consent_withdrawn with withdraw_consent", "an Art. 35 ground otherwise"],
        )
    conn = uow.connection
    link = _link_of(conn, account, supply_point_id)
    if action == "withdraw_consent":
        to = sorted({code for _id, code in open_agreements(conn, link, None)})
        if not to:
            raise ValidationError(
                f"no DR agreement of yours at {link.supply_point_id} is in force", field="action"
            )
    else:
        to = holders(conn, policy, link, at)
    r = _create(
        conn,
        account,
        "stop_use",
        {
            "customer_id": link.customer_id,
            "supply_point_id": link.supply_point_id,
            "ground": ground,
            "ground_ja": STOP_USE_GROUNDS[ground][0],
            "ground_en": STOP_USE_GROUNDS[ground][1],
            "action": action,
            "reason": reason,
        },
        at=at,
        days=days,
    )
    _post(conn, r, to, "holder", at)
    return r


# --- the joint users' answers -------------------------------------------------------------------


def _refuse_party(
    uow: UnitOfWork,
    actor: Party,
    r: RightsRequest | None,
    request_id: str,
    reason: str,
    exc: JointuseError,
) -> None:
    commit_alone(
        uow,
        refusal_entry(
            actor=actor,
            purpose=f"subject:{r.kind}" if r else "subject:request",
            action="write",
            supply_point_id=r.detail.get("supply_point_id") if r else None,
            customer_id=r.detail.get("customer_id") if r else None,
            reason=reason,
            request_id=request_id,
        ),
    )
    exc.recorded_on_ledger = True
    raise exc


def _addressed(
    uow: UnitOfWork, actor: Party, rights_id: str, request_id: str
) -> tuple[RightsRequest, dict[str, Any]]:
    conn = uow.connection
    r = get(conn, rights_id)
    mine = [p for p in parties_of(conn, rights_id) if p["party"] == actor.code] if r else []
    if r is None or not mine:
        _refuse_party(
            uow,
            actor,
            None,
            request_id,
            "rights_request_unknown",
            NotFound(
                f"no rights request {rights_id} addressed to you", rights_request_id=rights_id
            ),
        )
    assert r is not None
    return r, mine[0]


def _correction_items(category: str, item: str) -> frozenset[str]:
    """The items a controller reaches handling a correction of ``item`` (of ``category``): the
    item itself; for negawatt the baseline it settles again."""
    return frozenset({item}) if category != "negawatt" else frozenset({"baseline"})


def party_view(
    uow: UnitOfWork,
    gate: Gate,
    actor: Party,
    rights_id: str,
    *,
    request_id: str,
    at: datetime,
) -> dict[str, Any]:
    """A request as the party it is addressed to sees it (what to correct, or to stop).

    A correction carries the customer's personal data (the item and its corrected value), so
    the controller's reading is a decision of the gate: a read of the item under the purpose of
    the controller's rule for the category (:data:`APPLY_PURPOSE`), allowed only while the
    controller's relation holds; a refusal is on the ledger (:class:`PolicyDenied`). A stop-use
    request names no item: its reading is recorded as the addressee's."""
    r, mine = _addressed(uow, actor, rights_id, request_id)
    d = r.detail
    if r.kind == "correction":
        gate.read(
            uow,
            actor=actor,
            purpose=APPLY_PURPOSE.get((d["category"], actor.kind), "P1_wheeling"),
            target=TargetRef(
                supply_point_id=d.get("supply_point_id"), customer_id=d["customer_id"]
            ),
            items=_correction_items(d["category"], d["item"]),
            request_id=request_id,
            at=at,
        )
    else:
        append(
            uow.connection,
            LedgerEntry(
                party=actor.code,
                purpose=f"subject:{r.kind}",
                action="read",
                decision="allowed",
                customer_id=d.get("customer_id"),
                supply_point_id=d.get("supply_point_id"),
                rule_id=f"subject:{r.kind}:addressee",
                request_id=request_id,
            ),
        )
    out = view(uow.connection, r, at, steps=False)
    out["your_role"] = mine["role"]
    out["your_state"] = mine["state"]
    return out


def _answer(
    conn: Connection, r: RightsRequest, code: str, state: str, at: datetime, reason: str | None
) -> None:
    conn.execute(
        update(rights_request_party)
        .where(rights_request_party.c.request_id == r.id, rights_request_party.c.party_code == code)
        .values(state=state, answered_at=at, reason=reason)
    )


def _guard(
    uow: UnitOfWork,
    actor: Party,
    r: RightsRequest,
    mine: dict[str, Any],
    step: str,
    kind: str,
    request_id: str,
) -> None:
    allowed = TRANSITIONS[r.kind].get(r.state, {})
    if r.kind != kind or step not in allowed or mine["state"] != "pending":
        _refuse_party(
            uow,
            actor,
            r,
            request_id,
            "rights_request_state",
            StepNotAllowed(
                f"this {r.kind} request is {r.state!r} and your part {mine['state']!r}: "
                f"{step!r} is not open",
                state=r.state,
                allowed=sorted(allowed) if mine["state"] == "pending" else [],
            ),
        )


def accept_correction(
    uow: UnitOfWork,
    gate: Gate,
    mailer: Mailer,
    actor: Party,
    rights_id: str,
    *,
    request_id: str,
    at: datetime,
) -> RightsRequest:
    """The controller accepts: the correction is applied through the gate (its write rule for
    the category) in this transaction, the request ``accepted``, the customer told."""
    r, mine = _addressed(uow, actor, rights_id, request_id)
    _guard(uow, actor, r, mine, "accept", "correction", request_id)
    d = r.detail
    category, item, value = d["category"], d["item"], d["value"]
    purpose = APPLY_PURPOSE.get((category, actor.kind), "P1_wheeling")
    target = TargetRef(supply_point_id=d["supply_point_id"], customer_id=d["customer_id"])

    def change(ctx: RelationContext) -> dict[str, object]:
        conn = ctx.conn
        if category == "basic":
            c = customers.get_customer(conn, d["customer_id"])
            if c is None:
                raise NotFound("the customer record is gone", customer_id=d["customer_id"])
            c = _renamed(c, item, value)
            customers.update_customer(conn, c)
        elif category == "supply_point":
            p = customers.get_supply_point(conn, d["supply_point_id"])
            if p is None:
                raise NotFound("the supply point is gone", supply_point_id=d["supply_point_id"])
            try:
                p = dataclasses.replace(p, **{item: value})
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    f"the corrected {item} is not valid: {exc}", field="value"
                ) from None
            customers.save_supply_point(conn, p, updated_by=actor.code, updated_at=at)
        # negawatt: stored settlement runs are not rewritten; the contractor settles again.
        return {"applied": category != "negawatt"}

    gate.write(
        uow,
        actor=actor,
        purpose=purpose,
        target=target,
        items=_correction_items(category, item),
        request_id=request_id,
        at=at,
        change=change,
    )
    conn = uow.connection
    _answer(conn, r, actor.code, "accepted", at, None)
    done = _move(
        conn,
        r,
        step="accept",
        actor=actor.code,
        at=at,
        outcome={"result": "corrected", "controller": actor.code},
    )
    _tell(conn, mailer, done)
    return done


def _renamed(c: Customer, item: str, value: Any) -> Customer:
    fields: dict[str, Any] = {
        "customer_id": c.customer_id,
        "name": c.name,
        "name_kana": c.name_kana,
        "postal_code": str(c.address.as_item()["postal_code"]),
        "prefecture": c.address.prefecture,
        "address_rest": c.address.rest,
        "phone": c.phone.national,
        "membership": c.membership,
    }
    if item == "name":
        fields["name"] = value.get("kanji", c.name)
        fields["name_kana"] = value.get("kana", c.name_kana)
    elif item == "address":
        fields["postal_code"] = value["postal_code"]
        fields["prefecture"] = value["prefecture"]
        fields["address_rest"] = value["rest"]
    elif item == "phone":
        fields["phone"] = value
    return Customer.create(**fields)


def refuse_correction(
    uow: UnitOfWork,
    mailer: Mailer,
    actor: Party,
    rights_id: str,
    *,
    reasons: list[str],
    request_id: str,
    at: datetime,
) -> RightsRequest:
    """The controller refuses, with its reasons (Art. 34(3), 36): the customer is told."""
    r, mine = _addressed(uow, actor, rights_id, request_id)
    _guard(uow, actor, r, mine, "refuse", "correction", request_id)
    conn = uow.connection
    text = "; ".join(reasons)
    _answer(conn, r, actor.code, "refused", at, text)
    done = _move(
        conn,
        r,
        step="refuse",
        actor=actor.code,
        at=at,
        note=text,
        outcome={"result": "not_corrected", "controller": actor.code, "reasons": reasons},
    )
    _tell(conn, mailer, done)
    return done


def confirm_stop_use(
    uow: UnitOfWork,
    mailer: Mailer,
    actor: Party,
    rights_id: str,
    *,
    note: str | None,
    request_id: str,
    at: datetime,
    gate: Gate | None = None,
) -> RightsRequest:
    """A holder confirms it has stopped using (or erased) the data; when every holder has, the
    request is ``completed`` and the customer told. For a withdrawal of DR consent the
    contractor's confirmation withdraws its agreements of the customer at the point, through
    the gate (:func:`jointuse.negawatt.agreements.withdraw_agreement`)."""
    r, mine = _addressed(uow, actor, rights_id, request_id)
    _guard(uow, actor, r, mine, "confirm", "stop_use", request_id)
    conn = uow.connection
    if r.detail["action"] == "withdraw_consent":
        from jointuse.negawatt.agreements import withdraw_agreement

        link = Link(r.detail["customer_id"], r.detail["supply_point_id"], "", "", None, None)
        for agreement_id, _code in open_agreements(conn, link, actor.code):
            withdraw_agreement(
                uow,
                actor=actor,
                agreement_id=agreement_id,
                request_id=request_id,
                at=at,
                gate=gate,
            )
    _answer(conn, r, actor.code, "confirmed", at, note)
    r = _move(conn, r, step="confirm", actor=actor.code, at=at, note=note)
    pending = [p for p in parties_of(conn, r.id) if p["state"] == "pending"]
    if not pending:
        r = _move(
            conn,
            r,
            step="complete",
            actor=PLATFORM,
            at=at,
            outcome={
                "result": r.detail["action"],
                "confirmed_by": [p["party"] for p in parties_of(conn, r.id)],
            },
        )
        _tell(conn, mailer, r)
    return r


# --- the operator's steps of a disclosure -------------------------------------------------------


def refuse_disclosure(
    uow: UnitOfWork, mailer: Mailer, rights_id: str, *, ground: str, note: str, at: datetime
) -> RightsRequest:
    if ground not in DISCLOSURE_REFUSAL_GROUNDS:
        raise ValidationError(
            f"a disclosure is refused only on an Art. 33(2) ground, not {ground!r}",
            field="ground",
            valid=sorted(DISCLOSURE_REFUSAL_GROUNDS),
        )
    conn = uow.connection
    r = get(conn, rights_id)
    if r is None or r.kind != "disclosure":
        raise NotFound(f"no disclosure request {rights_id}", rights_request_id=rights_id)
    ja, en = DISCLOSURE_REFUSAL_GROUNDS[ground]
    done = _move(
        conn,
        r,
        step="refuse",
        actor=PLATFORM,
        at=at,
        note=note,
        outcome={
            "result": "refused",
            "ground": ground,
            "ground_ja": ja,
            "ground_en": en,
            "note": note,
        },
    )
    _tell(conn, mailer, done)
    return done


def prepare_disclosure(
    uow: UnitOfWork,
    gate: Gate,
    mailer: Mailer,
    rights_id: str,
    *,
    party_names: dict[str, tuple[str, str]],
    at: datetime,
) -> RightsRequest:
    """Read the customer's data through the gate's subject door, build the document in the
    format asked, ``ready`` for download; the customer told."""
    from jointuse.rights.disclosure import build, render

    conn = uow.connection
    r = get(conn, rights_id)
    if r is None or r.kind != "disclosure":
        raise NotFound(f"no disclosure request {rights_id}", rights_request_id=rights_id)
    if r.state != "received":
        raise StepNotAllowed(
            f"a disclosure in state {r.state!r} is not prepared again", state=r.state, allowed=[]
        )
    account = _account(conn, r.account_id)
    content = build(uow, gate, account, r, party_names=party_names, at=at)
    fmt = r.detail["format"]
    done = _move(
        conn,
        r,
        step="prepare",
        actor=PLATFORM,
        at=at,
        outcome={"result": "disclosed", "records": len(content["records"])},
        document=(fmt, render(content, fmt)),
    )
    _tell(conn, mailer, done)
    return done


def _account(conn: Connection, account_id: str) -> Account:
    from jointuse.rights.tables import customer_account

    row = conn.execute(
        select(customer_account.c.email).where(customer_account.c.id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return Account(account_id, row[0])


# --- telling the customer -------------------------------------------------------------------------

_SUBJECTS = {
    ("disclosure", "ready"): "開示の準備ができました / Your disclosure is ready",
    ("disclosure", "refused"): "開示請求について / Your disclosure request was refused",
    ("correction", "accepted"): "訂正しました / Your correction was made",
    ("correction", "refused"): "訂正請求について / Your correction was not made",
    ("stop_use", "completed"): "利用停止等を完了しました / Your stop-use request is complete",
}


def _tell(conn: Connection, mailer: Mailer, r: RightsRequest) -> None:
    """E-mail the outcome to the account's address (the mail server refusing rolls the step
    back: 503, try again)."""
    subject = _SUBJECTS.get((r.kind, r.state))
    if subject is None:
        return
    account = _account(conn, r.account_id)
    lines = [f"request {r.id} ({r.kind}): {r.state}", ""]
    outcome = r.outcome or {}
    if r.kind == "disclosure" and r.state == "ready":
        lines.append(f"download: GET /v1/me/requests/{r.id}/download")
    if r.kind == "disclosure" and r.state == "refused":
        lines += [
            "開示しない理由 / ground:",
            str(outcome.get("ground_ja")),
            str(outcome.get("ground_en")),
        ]
    if r.kind == "correction":
        lines.append(f"管理責任者 / controller: {outcome.get('controller')}")
        for reason in outcome.get("reasons", []):
            lines.append(f"理由 / reason: {reason}")
    if r.kind == "stop_use":
        lines.append("confirmed by: " + ", ".join(outcome.get("confirmed_by", [])))
    mailer.send(account.email, subject, "\n".join(lines))
