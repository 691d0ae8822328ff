"""The retention run: what is due, and doing it (each action on the ledger).

A customer is due in a category when every one of their retail contracts has ended and the
category's period (:mod:`jointuse.retention.config`) has run since the last one ended:

``basic``
    the customer's basic items are **pseudonymised** in place: name 消去済, kana ショウキョズミ,
    postal code 000-0000, address 消去済 (the prefecture stays), phone 090-0000-0000 (a
    placeholder the model accepts). The row stays, because the contracts (the tenure record,
    kept for the ledger's tenure boundaries and settlement) refer to it. This is a write of
    personal data, so it goes through the gate like any other: the actor is the platform
    operator (:data:`PLATFORM`, party kind ``platform``, not a joint user), the purpose
    ``retention_erasure`` (outside joint use, APPI Art. 22), the relation ``retention_due`` —
    derived by the gate from the contracts and the period (:mod:`jointuse.retention.relation`),
    not from this module's plan — and the entry is the gate's (rule ``retention-basic``). A
    refusal (an operator's policy without the rule, say) is on the ledger and counted; nothing
    changes. The last retailer need not be registered still: its leaving the market does not
    keep its former customers' data.
``ledger``
    the customer's ledger subject key, and the keys of their supply points' months lying wholly
    inside their tenure, are **shredded** (:func:`jointuse.ledger.pseudonyms.shred`): the
    entries about them stay in the chain, verify, and no longer identify anyone. Entries from
    before pseudonyms that name them in clear are hidden from lookups (and counted). No
    personal data is read or written (a key is destroyed), so no joint user's rule decides it:
    the entry is the platform's (party ``system:retention``, purpose ``retention:erasure``, rule
    ``retention:ledger``) and names the customer only by the pseudonym that is being destroyed in
    the same transaction, so the record of the erasure re-identifies nobody.
``account``
    a customer's portal account is **erased** once every customer ID linked to it is past the
    period (:func:`jointuse.rights.identity.erase_account`): the e-mail address is replaced by
    a reserved placeholder, sessions, passkeys and codes are deleted, the sign-in record keeps
    its events under the placeholder's hash. The account row and its links stay (rights
    requests and usage-inquiry consents, records the law asks to keep, refer to them). The
    e-mail address is the customer's own contact with the platform, no joint user's item: the
    entry is the platform's (party ``system:retention``, rule ``retention:account``) and names
    nobody.

Each action is one transaction with its ledger entry. A run is idempotent: what is done is not
due again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, select

from jointuse.access.gate import Gate
from jointuse.access.relations import RelationContext, TargetRef, jst_midnight
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied
from jointuse.customers import repository as customers_repo
from jointuse.customers.imports import PLATFORM_OPERATOR
from jointuse.customers.model import Customer
from jointuse.customers.tables import retail_contract
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.pseudonyms import CUSTOMER, SUPPLY_POINT, pseudonyms_of, shred
from jointuse.ledger.service import append
from jointuse.policy.engine import Party
from jointuse.retention.config import CATEGORIES, RetentionPolicy
from jointuse.retention.relation import PLATFORM_KIND
from jointuse.rights import identity

SYSTEM_PARTY = "system:retention"
PURPOSE = "retention:erasure"
ERASURE_PURPOSE = "retention_erasure"
"""The policy's purpose of erasing basic data at the end of retention (outside joint use)."""
PLATFORM = Party(PLATFORM_OPERATOR, PLATFORM_KIND)
"""The platform operator, who erases basic data at the end of retention (not a joint user)."""
ERASED_NAME = "消去済"
ERASED_KANA = "ショウキョズミ"
ERASED_POSTAL_CODE = "000-0000"
ERASED_PHONE = "090-0000-0000"
BASIC_ITEMS = ("address", "name", "phone")


@dataclass(frozen=True, slots=True)
class Tenure:
    """One contract's point and period ``[valid_from, valid_to)``."""

    supply_point_id: str
    valid_from: date
    valid_to: date


@dataclass(frozen=True, slots=True)
class Due:
    """A customer due in ``category`` since ``since`` (their last contract ended ``ended``);
    for ``account``, the account (``customer_id``: the first of the customers linked to it)."""

    customer_id: str
    category: str
    ended: date
    since: date
    tenures: tuple[Tenure, ...]
    account_id: str | None = None


@dataclass(slots=True)
class RunResult:
    """What a run did (or, dry, would do)."""

    due: list[Due] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    keys_shredded: int = 0
    legacy_entries: int = 0
    dry_run: bool = False
    refused: list[tuple[Due, str]] = field(default_factory=list)
    """Actions the gate refused (on the ledger), with its message; nothing changed for them."""


def _ended_customers(conn: Connection, today: date) -> dict[str, tuple[date, list[Tenure]]]:
    """Customers whose every contract has ended by ``today``: last end, tenures."""
    rc = retail_contract.c
    rows = conn.execute(
        select(rc.customer_id, rc.supply_point_id, rc.valid_from, rc.valid_to).order_by(
            rc.customer_id, rc.valid_from
        )
    ).all()
    open_: set[str] = set()
    found: dict[str, list[Tenure]] = {}
    for customer_id, point, valid_from, valid_to in rows:
        if valid_to is None or valid_to > today:
            open_.add(customer_id)
            continue
        found.setdefault(customer_id, []).append(Tenure(point, valid_from, valid_to))
    return {
        c: (max(t.valid_to for t in tenures), tenures)
        for c, tenures in found.items()
        if c not in open_
    }


def _basic_done(conn: Connection, customer_id: str) -> bool:
    c = customers_repo.get_customer(conn, customer_id)
    return c is None or c.name == ERASED_NAME


def _ledger_work(
    conn: Connection, customer_id: str, tenures: Iterable[Tenure], *, dry_run: bool
) -> tuple[int, int]:
    """Keys shredded and legacy entries hidden (``dry_run``: that would be)."""
    r = shred(conn, CUSTOMER, customer_id, dry_run=dry_run)
    keys, legacy = r.keys, r.legacy_entries
    for t in tenures:
        r = shred(
            conn, SUPPLY_POINT, t.supply_point_id, since=t.valid_from, until=t.valid_to,
            dry_run=dry_run,
        )  # fmt: skip
        keys += r.keys
        legacy += r.legacy_entries
    return keys, legacy


def _accounts_due(
    conn: Connection, ended: dict[str, tuple[date, list[Tenure]]], days: int, today: date
) -> list[Due]:
    """Accounts not erased whose every linked customer has ended, ``days`` since the last."""
    out: list[Due] = []
    for account_id, (linked, erased) in sorted(identity.account_customers(conn).items()):
        if erased or not linked <= ended.keys():
            continue
        last = max(ended[c][0] for c in linked)
        since = last + timedelta(days=days)
        if since <= today:
            out.append(Due(min(linked), "account", last, since, (), account_id=account_id))
    return out


def plan(conn: Connection, policy: RetentionPolicy, today: date) -> list[Due]:
    """What is due on ``today`` and not done yet, by customer then category (accounts last)."""
    out: list[Due] = []
    ended_customers = _ended_customers(conn, today)
    for customer_id, (ended, tenures) in sorted(ended_customers.items()):
        for category in CATEGORIES:
            if category == "account":
                continue
            since = ended + timedelta(days=policy.days(category))
            if since > today:
                continue
            if category == "basic" and _basic_done(conn, customer_id):
                continue
            if category == "ledger" and _ledger_work(conn, customer_id, tenures, dry_run=True) == (
                0,
                0,
            ):
                continue
            out.append(Due(customer_id, category, ended, since, tuple(tenures)))
    out.extend(_accounts_due(conn, ended_customers, policy.days("account"), today))
    return out


def _entry(run_id: str, rule: str, customer: str | None, items: tuple[str, ...]) -> LedgerEntry:
    return LedgerEntry(
        party=SYSTEM_PARTY,
        purpose=PURPOSE,
        action="write",
        decision="allowed",
        customer_id=customer,
        items_granted=items,
        rule_id=f"retention:{rule}",
        request_id=run_id,
    )


def _pseudonymise_basic(uow: UnitOfWork, gate: Gate, due: Due, run_id: str, at: datetime) -> None:
    """Through the gate: the platform writes the placeholders over the basic items."""

    def change(ctx: RelationContext) -> dict[str, object]:
        old = customers_repo.get_customer(ctx.conn, due.customer_id)
        if old is None:
            return {}
        customers_repo.update_customer(
            ctx.conn,
            Customer.create(
                customer_id=due.customer_id,
                name=ERASED_NAME,
                name_kana=ERASED_KANA,
                postal_code=ERASED_POSTAL_CODE,
                prefecture=old.address.prefecture,
                address_rest=ERASED_NAME,
                phone=ERASED_PHONE,
                membership=old.membership,
            ),
        )
        return {}

    gate.write(
        uow,
        actor=PLATFORM,
        purpose=ERASURE_PURPOSE,
        target=TargetRef(customer_id=due.customer_id),
        items=frozenset(BASIC_ITEMS),
        request_id=run_id,
        at=at,
        change=change,
    )


def erase_ledger_subject(
    conn: Connection, customer_id: str, tenures: Iterable[Tenure], run_id: str
) -> tuple[int, int]:
    """Shred the customer's ledger keys and those of their points' months in ``tenures``, in
    the caller's transaction, recording it under the pseudonym being destroyed; return the keys
    shredded and the legacy entries hidden."""
    refs = pseudonyms_of(conn, CUSTOMER, customer_id)
    append(conn, _entry(run_id, "ledger", refs[0] if refs else None, ()))
    return _ledger_work(conn, customer_id, tenures, dry_run=False)


def run(
    engine: Engine,
    policy: RetentionPolicy,
    *,
    gate: Gate | None = None,
    today: date | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Plan, then (unless ``dry_run``) do each due action in its own transaction, calling
    ``progress(done, total)`` after each. ``gate``: the gate to write through (default: the
    shipped policy's, with ``policy``'s periods); ``today``: the day to run as (default: today,
    UTC), the gate deciding at its first moment (JST)."""
    if gate is None:
        from jointuse.assembly import build_gate

        gate = build_gate(retention=policy)
    moment = jst_midnight(today) if today is not None else datetime.now(UTC)
    day = today or moment.date()
    result = RunResult(dry_run=dry_run)
    with UnitOfWork(engine, read_only=True) as u:
        result.due = plan(u.connection, policy, day)
        if dry_run:
            for d in result.due:
                result.done[d.category] += 1
                if d.category == "ledger":
                    keys, legacy = _ledger_work(
                        u.connection, d.customer_id, d.tenures, dry_run=True
                    )
                    result.keys_shredded += keys
                    result.legacy_entries += legacy
    if dry_run:
        return result
    run_id = f"retention-{uuid.uuid4().hex[:12]}"
    total = len(result.due)
    for n, d in enumerate(result.due, start=1):
        try:
            with UnitOfWork(engine) as u:
                if d.category == "basic":
                    _pseudonymise_basic(u, gate, d, run_id, moment)
                elif d.category == "account":
                    assert d.account_id is not None
                    if identity.erase_account(u.connection, d.account_id):
                        append(u.connection, _entry(run_id, "account", None, ("email",)))
                else:
                    keys, legacy = erase_ledger_subject(
                        u.connection, d.customer_id, d.tenures, run_id
                    )
                    result.keys_shredded += keys
                    result.legacy_entries += legacy
            result.done[d.category] += 1
        except AccessDenied as exc:  # recorded on the ledger by the gate; nothing changed
            result.refused.append((d, exc.message))
        if progress is not None:
            progress(n, total)
    return result
