"""The clock's steps: automatic judgements, completions on their date, expiries at deadlines.

:func:`tick` moves every due flow on, each in a unit of work of its own (one failing flow does
not hold up the others; its failure is reported and it is tried again at the next tick). It is
idempotent: a flow already moved is not due any more. ``jointuse tick`` runs it once (for cron,
or to let a test or the demo run a month in a second with ``--at``); :class:`FlowScheduler` runs
it in the server every few seconds, with an injectable clock.

Order within one tick: automatic judgements first (a 廃止取次 arriving for a retailer that judges
automatically is answered before its deadline is looked at), then completions (a flow whose date
has come), then expiries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from jointuse.access.gate import Gate
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError
from jointuse.core.periodic import PeriodicWorker
from jointuse.flows import repository as repo
from jointuse.flows.common import DEFAULT_SETTINGS, FlowSettings, jst_day
from jointuse.flows.model import FlowState
from jointuse.flows.steps import complete, expire, judge_forwarding
from jointuse.policy.engine import Party

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TickReport:
    judged: int = 0
    completed: int = 0
    expired: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (flow or forwarding, why)

    @property
    def moved(self) -> int:
        return self.judged + self.completed + self.expired


def tick(
    engine: Engine,
    *,
    gate: Gate,
    at: datetime,
    settings: FlowSettings = DEFAULT_SETTINGS,
    batch: int = 1000,
) -> TickReport:
    """Move every flow due at ``at`` on (see the module docstring)."""
    report = TickReport()
    request_id = f"tick-{at.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}"
    while True:
        with UnitOfWork(engine, read_only=True) as uow:
            pending = repo.open_forwardings_of_auto_parties(uow.connection, batch)
        fresh = [(fw, party) for fw, party in pending if fw not in dict(report.failed)]
        for forwarding_id, party in fresh:
            try:
                with UnitOfWork(engine) as uow:
                    judge_forwarding(
                        uow,
                        gate=gate,
                        actor=Party(party, "retailer"),
                        forwarding_id=forwarding_id,
                        result=None,
                        reasons=[],
                        request_id=request_id,
                        at=at,
                        auto=True,
                        settings=settings,
                    )
                report.judged += 1
            except JointuseError as exc:
                report.failed.append((forwarding_id, exc.message))
        if len(pending) < batch or not fresh:
            break
    today = jst_day(at)
    while True:
        with UnitOfWork(engine, read_only=True) as uow:
            due = repo.due_flow_ids(uow.connection, now=at, today=today, limit=batch)
        fresh_ids = [f for f in due if f not in dict(report.failed)]
        for flow_id in fresh_ids:
            try:
                with UnitOfWork(engine) as uow:
                    flow = repo.get_flow(uow.connection, flow_id)
                    if flow is None or flow.closed_at is not None:
                        continue
                    if (
                        flow.state is FlowState.DATE_FIXED
                        and flow.fixed_date is not None
                        and (flow.fixed_date <= today)
                    ):
                        complete(uow, gate=gate, flow=flow, request_id=request_id, at=at)
                        report.completed += 1
                    elif flow.deadline is not None and flow.deadline <= at:
                        expire(uow, flow=flow, at=at)
                        report.expired += 1
            except JointuseError as exc:
                report.failed.append((flow_id, exc.message))
                log.warning("flow %s could not move on: %s", flow_id, exc.message)
        if len(due) < batch or not fresh_ids:
            break
    return report


class FlowScheduler(PeriodicWorker):
    """Runs :func:`tick` every ``interval`` seconds in the server (``clock`` gives "now")."""

    what = "flow scheduling"
    thread_name = "flow-scheduler"

    def __init__(
        self,
        engine: Engine,
        gate: Gate,
        *,
        interval: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        settings: FlowSettings = DEFAULT_SETTINGS,
    ) -> None:
        super().__init__(interval=interval)
        self.engine = engine
        self.gate = gate
        self.clock = clock or (lambda: datetime.now(UTC))
        self.settings = settings
        self.last_report: TickReport | None = None

    def run_once(self) -> None:
        self.last_report = tick(
            self.engine, gate=self.gate, at=self.clock(), settings=self.settings
        )
