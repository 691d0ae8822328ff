"""Test helper: a sealed chain of simple entries."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.ledger import LedgerEntry, append, seal_all


def sealed_chain(
    engine: Engine, uow: Callable[..., UnitOfWork], count: int, *, batch: int
) -> Engine:
    """``count`` entries (seq and chain position ``n`` for customer ``C-n``), appended in one
    unit of work and sealed in batches of ``batch``; format version 2 (clear IDs), as written
    before pseudonyms — which must keep verifying."""
    with uow() as u:
        for n in range(1, count + 1):
            append(
                u.session,
                LedgerEntry(
                    party="T03", purpose="P1_wheeling", action="read", decision="allowed",
                    customer_id=f"C-{n}", items_granted=("name",),
                    version=2,  # clear IDs, so that the tamper tests can edit them by value
                ),
            )  # fmt: skip
    seal_all(engine, max_batch=batch)
    return engine
