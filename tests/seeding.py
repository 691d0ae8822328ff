"""Seeding helpers for tests: contracts come in as the operator's go-live import (no retailer
writes contract periods), switches through the flows' use cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.customers.imports import PLATFORM_OPERATOR, ImportRow, import_contracts
from jointuse.customers.model import Customer, RetailContract


def seed_contract(
    uow: UnitOfWork,
    customer: Customer,
    contract: RetailContract,
    *,
    at: datetime,
    request_id: str = "seed-contract",
) -> None:
    """Import ``contract`` (and its ``customer``) as the platform operator would at go-live."""
    import_contracts(
        uow,
        by=PLATFORM_OPERATOR,
        rows=[ImportRow(customer, contract)],
        request_id=request_id,
        at=at,
    )


def switch(
    uow: Callable[[], UnitOfWork],
    engine: Engine,
    *,
    new: str,
    old: str,
    point: str,
    customer: Customer,
    new_contract: str,
    old_contract: str,
    filed_at: datetime,
    on: date | None = None,
    complete: bool = True,
) -> str:
    """A whole switch of ``point`` from ``old`` to ``new``: filed at ``filed_at``, judged OK by
    the old retailer and dated ``on`` by the area's TSO an hour later each, completed by the
    scheduler on ``on`` (unless ``complete`` is false). Returns the flow's ID."""
    from jointuse.assembly import default_gate
    from jointuse.core.ids import SupplyPointId
    from jointuse.flows.filing import SwitchFiling, file_switch
    from jointuse.flows.scheduler import tick
    from jointuse.flows.steps import fix_date, judge_forwarding
    from jointuse.policy.engine import Party

    gate = default_gate()
    tso = SupplyPointId(point).tso_code
    with uow() as u:
        filed = file_switch(
            u,
            gate=gate,
            actor=Party(new, "retailer"),
            filing=SwitchFiling(
                supply_point_id=point,
                customer=customer,
                new_contract_number=new_contract,
                old_contract_number=old_contract,
            ),
            request_id=f"switch-{new_contract}",
            at=filed_at,
        )
    with uow() as u:
        judge_forwarding(
            u,
            gate=gate,
            actor=Party(old, "retailer"),
            forwarding_id=filed.forwarding_id or "",
            result="ok",
            reasons=[],
            request_id=f"judge-{new_contract}",
            at=filed_at + timedelta(hours=1),
        )
    with uow() as u:
        dated = fix_date(
            u,
            gate=gate,
            actor=Party(tso, "tso"),
            flow_id=filed.flow.id,
            day=on,
            request_id=f"date-{new_contract}",
            at=filed_at + timedelta(hours=2),
        )
    if complete and dated.fixed_date is not None:
        moment = datetime.combine(dated.fixed_date, time(9), tzinfo=filed_at.tzinfo)
        tick(engine, gate=gate, at=moment)
    return filed.flow.id


def open_work_order(
    uow: Callable[[], UnitOfWork],
    tso: str,
    points: list[str],
    *,
    starts: datetime,
    days: int = 30,
    kind: str = "meter_reading",
) -> str:
    """The TSO opens a work order on ``points`` from ``starts`` for ``days`` (its contact
    reads under P4 need one); the order's ID."""
    from jointuse.policy.engine import Party
    from jointuse.workorders.service import open_order

    with uow() as u:
        order = open_order(
            u,
            actor=Party(tso, "tso"),
            kind=kind,
            reason="test round",
            starts_at=starts,
            ends_at=starts + timedelta(days=days),
            points=points,
            request_id=f"order-{tso}",
            at=starts,
        )
    return order.id
