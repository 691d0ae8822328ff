"""The retention run: what is due, and doing it (each action on the ledger).

A customer is due in a category when every one of their retail contracts has ended and the
category's period (:mod:`jointuse.retention.config`) has run since the last one ended:

``basic``
    the customer's basic items are **pseudonymised** in place: name 消去済, kana ショウキョズミ,
    postal code 000-0000, address 消去済 (the prefecture stays), phone 090-0000-0000 (a
    placeholder the model accepts). The row stays, because the contracts (the tenure record,
    kept for the ledger's tenure boundaries and settlement) refer to it.
``ledger``
    the customer's ledger subject key, and the keys of their supply points' months lying wholly
    inside their tenure, are **shredded** (:func:`jointuse.ledger.pseudonyms.shred`): the
    entries about them stay in the chain, verify, and no longer identify anyone. Entries from
    before pseudonyms that name them in clear are hidden from lookups (and counted).

Each action is one transaction with its ledger entry (party ``system:retention``, purpose
``retention:erasure``, rule ``retention:<category>``). The ``ledger`` action's entry names the
customer only by the pseudonym that is being destroyed in the same transaction, so the record
of the erasure re-identifies nobody. A run is idempotent: what is done is not due again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, select

from jointuse.core.db import UnitOfWork
from jointuse.customers import repository as customers_repo
from jointuse.customers.model import Customer
from jointuse.customers.tables import retail_contract
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.pseudonyms import CUSTOMER, SUPPLY_POINT, pseudonyms_of, shred
from jointuse.ledger.service import append
from jointuse.retention.config import CATEGORIES, RetentionPolicy

SYSTEM_PARTY = "system:retention"
PURPOSE = "retention:erasure"
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
    """A customer due in ``category`` since ``since`` (their last contract ended ``ended``)."""

    customer_id: str
    category: str
    ended: date
    since: date
    tenures: tuple[Tenure, ...]


@dataclass(slots=True)
class RunResult:
    """What a run did (or, dry, would do)."""

    due: list[Due] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    keys_shredded: int = 0
    legacy_entries: int = 0
    dry_run: bool = False


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


def plan(conn: Connection, policy: RetentionPolicy, today: date) -> list[Due]:
    """What is due on ``today`` and not done yet, by customer then category."""
    out: list[Due] = []
    for customer_id, (ended, tenures) in sorted(_ended_customers(conn, today).items()):
        for category in CATEGORIES:
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


def _pseudonymise_basic(conn: Connection, customer_id: str, run_id: str) -> None:
    old = customers_repo.get_customer(conn, customer_id)
    if old is None:
        return
    customers_repo.update_customer(
        conn,
        Customer.create(
            customer_id=customer_id,
            name=ERASED_NAME,
            name_kana=ERASED_KANA,
            postal_code=ERASED_POSTAL_CODE,
            prefecture=old.address.prefecture,
            address_rest=ERASED_NAME,
            phone=ERASED_PHONE,
            membership=old.membership,
        ),
    )
    append(conn, _entry(run_id, "basic", customer_id, BASIC_ITEMS))


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
    today: date | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Plan, then (unless ``dry_run``) do each due action in its own transaction, calling
    ``progress(done, total)`` after each."""
    day = today or datetime.now(UTC).date()
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
        with UnitOfWork(engine) as u:
            conn = u.connection
            if d.category == "basic":
                _pseudonymise_basic(conn, d.customer_id, run_id)
            else:
                keys, legacy = erase_ledger_subject(conn, d.customer_id, d.tenures, run_id)
                result.keys_shredded += keys
                result.legacy_entries += legacy
        result.done[d.category] += 1
        if progress is not None:
            progress(n, total)
    return result
