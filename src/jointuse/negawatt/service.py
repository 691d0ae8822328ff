"""Use cases of the negawatt area (ネガワット取引), each through the gate.

===============================  =========================================  =======================
use case                         purpose / action / items                   relation that allows it
===============================  =========================================  =======================
:func:`register_agreement`       P5 write (negawatt), establishing          ``dr_resource`` (the
                                 ``dr_resource`` from the agreement         agreement itself)
:func:`withdraw_agreement`       P5 write                                   ``dr_resource``
:func:`register_resource`        P5 write                                   ``dr_resource``
:func:`import_meter_file`        P4 write ``interval_readings``, one        ``area_tso``
                                 decision per supply point of the file
:func:`read_meter_days`          P4 (TSO), retail_billing (retailer) or     ``area_tso``,
                                 P5 (DR contractor): read                   ``contract_holder``,
                                 ``interval_readings``, days cut to the     ``dr_resource``
                                 allowing relation's period
:func:`create_event`,            no personal data (the contractor's own     —
:func:`amend_event`,             event header and resource list)
:func:`cancel_event`
:func:`settle_event`             P5 read ``interval_readings`` per          ``dr_resource``
                                 resource, the kernel per event day, then
                                 P5 write ``baseline``, ``demand_suppressed``
                                 per resource (the stored run, :mod:`.runs`)
:func:`read_point_results`       P5 read ``baseline``,                      ``dr_resource``,
                                 ``demand_suppressed`` of one point         ``contract_holder``,
                                                                            ``area_tso``,
                                                                            ``switching_operator``
:func:`read_run`                 the contractor's run; each point as above  ``dr_resource``
===============================  =========================================  =======================

The ``dr_resource`` relation comes from :func:`dr_resource_relation` (the contractor's DR
agreements for the point: from ``agreed_on`` JST midnight to the earlier of ``expires_on`` and
the moment of withdrawal), plugged into the gate with
:meth:`~jointuse.customers.relations.RelationRegistry.with_provider` by :func:`negawatt_gate`.

Meter imports are idempotent: a day stored with the same values changes nothing; a day whose
missing slots the new data fills (and that agrees everywhere else) is completed; any other
difference is a conflict that refuses the whole file unless ``replace=True``. The agreement's
``scope`` is recorded as the customer agreed it; the policy decides what it opens.

Units of work: the use cases above take the caller's :class:`~jointuse.core.db.UnitOfWork`
(so that a caller can compose them in one transaction). :func:`import_meter_files`,
:func:`run_settlement` and :func:`in_unit` open their own, for callers at the edge (the CLI, the
demo) that must not.

This module is the area's facade; the use cases live in :mod:`~jointuse.negawatt.relation`
(relation, gate), :mod:`~jointuse.negawatt.agreements` (agreements, groups, resources),
:mod:`~jointuse.negawatt.readings` (meter import and read), :mod:`~jointuse.negawatt.runs`
(stored settlement runs), :mod:`~jointuse.negawatt.events`
(events, settlement) and :mod:`~jointuse.negawatt.export` (plan and results CSV).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.negawatt.agreements import (
    contractor_portfolio,
    register_agreement,
    register_group,
    register_resource,
    withdraw_agreement,
)
from jointuse.negawatt.events import (
    EventConflict,
    EventSettlement,
    amend_event,
    cancel_event,
    create_event,
    event_runs,
    list_events,
    settle_event,
)
from jointuse.negawatt.export import plan_csv, results_csv, slots_csv
from jointuse.negawatt.kernel import BaselineParams
from jointuse.negawatt.readings import (
    ImportReport,
    MeterConflict,
    import_meter_days,
    import_meter_file,
    read_meter_days,
)
from jointuse.negawatt.relation import (
    NEGAWATT_WRITE,
    P4,
    P5,
    READINGS,
    agreement_period,
    dr_resource_relation,
    negawatt_gate,
)
from jointuse.negawatt.repository import Agreement
from jointuse.negawatt.runs import read_point_results, read_run
from jointuse.negawatt.settlement import Rounding
from jointuse.policy.engine import Party

_T = TypeVar("_T")

__all__ = [
    "NEGAWATT_WRITE",
    "P4",
    "P5",
    "READINGS",
    "Agreement",
    "EventConflict",
    "EventSettlement",
    "ImportReport",
    "MeterConflict",
    "agreement_period",
    "amend_event",
    "cancel_event",
    "contractor_portfolio",
    "create_event",
    "dr_resource_relation",
    "event_runs",
    "import_meter_days",
    "import_meter_file",
    "import_meter_files",
    "in_unit",
    "list_events",
    "negawatt_gate",
    "plan_csv",
    "read_meter_days",
    "read_point_results",
    "read_run",
    "register_agreement",
    "register_group",
    "register_resource",
    "results_csv",
    "run_settlement",
    "settle_event",
    "slots_csv",
    "units",
    "withdraw_agreement",
]


def import_meter_files(
    engine: Engine,
    paths: Sequence[Path],
    *,
    actor: Party,
    at: dt.datetime,
    replace: bool = False,
    request_prefix: str = "cli",
    on_file: Callable[[Path, ImportReport], None] | None = None,
) -> list[ImportReport]:
    """Import meter files in order, each in its own unit of work (all or nothing per file: a
    refused file raises, and the files before it stay imported). ``on_file`` is called after
    each file is committed; each file gets its own request id ``<request_prefix>-<uuid>``."""
    reports: list[ImportReport] = []
    for path in paths:
        with UnitOfWork(engine) as uow:
            report = import_meter_file(
                uow,
                path,
                actor=actor,
                request_id=f"{request_prefix}-{uuid.uuid4().hex}",
                at=at,
                replace=replace,
            )
        reports.append(report)
        if on_file is not None:
            on_file(path, report)
    return reports


def run_settlement(
    engine: Engine,
    *,
    actor: Party,
    event_id: str,
    request_id: str,
    at: dt.datetime,
    mode: Literal["local", "dask"] = "local",
    scheduler: str | None = None,
    progress: bool = False,
    params: BaselineParams | None = None,
    rounding: Rounding | None = None,
) -> EventSettlement:
    """:func:`settle_event` in its own unit of work (its meter reads, the stored run and their
    ledger entries commit together)."""
    with UnitOfWork(engine) as uow:
        return settle_event(
            uow,
            actor=actor,
            event_id=event_id,
            request_id=request_id,
            at=at,
            engine=mode,
            scheduler=scheduler,
            progress=progress,
            params=params,
            rounding=rounding,
        )


def units(engine: Engine) -> Callable[[], UnitOfWork]:
    """A factory of units of work on ``engine`` (for edges that run several use cases)."""
    return lambda: UnitOfWork(engine)


def in_unit(engine: Engine, use_case: Callable[[UnitOfWork], _T]) -> _T:
    """Run ``use_case`` in a unit of work of its own (for the CLI, which opens none)."""
    with UnitOfWork(engine) as uow:
        return use_case(uow)
