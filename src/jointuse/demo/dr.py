"""The demo's DR scenario (ネガワット): a real building load, settled right after ``make demo``.

Three demo customers' supply points become DR resources of ``dr-negawatt-one``: their meter
data are LBNL building 90's measured load from 1 June to 18 July 2018 (``data/demo``, scaled to
100 %, 60 % and 30 %), imported by each point's area TSO; the contractor registers each
customer's DR agreement (from 1 May 2018), a balancing group and the resources, and a DR event on
18 July 2018 (a DR event day of the building), 13:00–17:00 (slots 27–34). Everything passes the
services and the gate, as any party would. Then::

    jointuse negawatt settle --event demo-b90-2018-07-18 --as dr-negawatt-one
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from importlib import resources

import numpy as np
from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.demo.generate import SyntheticCustomer
from jointuse.negawatt import service
from jointuse.negawatt.meterdata import MeterDay
from jointuse.negawatt.service import Agreement
from jointuse.policy.engine import Party

CONTRACTOR = "dr-negawatt-one"
GROUP = "BG-DEMO"
EVENT_ID = "demo-b90-2018-07-18"
EVENT_DAY = dt.date(2018, 7, 18)
SCALES = (1.0, 0.6, 0.3)
DATA_FILE = "lbnl_b90_halfhourly_2018.csv"


def building_load() -> dict[dt.date, np.ndarray]:
    """The packaged half-hourly load of LBNL building 90 (kWh per slot), per day."""
    text = resources.files("jointuse.data").joinpath("demo").joinpath(DATA_FILE).read_text("utf-8")
    days: dict[dt.date, np.ndarray] = {}
    for row in csv.DictReader(text.splitlines()):
        day = dt.date.fromisoformat(row["date"])
        days.setdefault(day, np.full(48, np.nan))[int(row["slot"]) - 1] = float(
            row["consumption_kwh"]
        )
    return days


def load_dr_scenario(engine: Engine, records: Sequence[SyntheticCustomer], at: dt.datetime) -> str:
    """Register the scenario (module docstring) for ``records``' points; return the event id."""
    load = building_load()
    dr = Party(CONTRACTOR, "dr_contractor")
    service.in_unit(
        engine, lambda u: service.register_group(u, actor=dr, code=GROUP, name="デモ BG")
    )
    points = [
        _resource(engine, dr, k, rec, scale, load, at)
        for k, (rec, scale) in enumerate(zip(records, SCALES, strict=False))
    ]
    event = service.in_unit(
        engine,
        lambda u: service.create_event(
            u,
            actor=dr,
            day=EVENT_DAY,
            first_slot=27,
            last_slot=34,
            resources=points,
            event_id=EVENT_ID,
            at=at,
        ),
    )
    return event.event_id


def _resource(
    engine: Engine,
    dr: Party,
    k: int,
    rec: SyntheticCustomer,
    scale: float,
    load: dict[dt.date, np.ndarray],
    at: dt.datetime,
) -> str:
    """One DR resource: its meter data (by its area TSO), the agreement, the resource."""
    point = SupplyPointId(rec.supply_point_id)
    rows = [MeterDay(point, day, np.round(v * scale, 3)) for day, v in sorted(load.items())]
    tso = Party(point.tso_code, "tso")

    def imported(u: UnitOfWork) -> object:
        return service.import_meter_days(
            u, rows, actor=tso, file=DATA_FILE, request_id=f"demo-dr-import-{k}", at=at
        )

    def agreed(u: UnitOfWork) -> Agreement:
        return service.register_agreement(
            u,
            actor=dr,
            customer_id=rec.customer_id,
            supply_point_id=rec.supply_point_id,
            agreed_on=dt.date(2018, 5, 1),
            request_id=f"demo-dr-agreement-{k}",
            at=at,
        )

    service.in_unit(engine, imported)
    agreement = service.in_unit(engine, agreed)

    def registered(u: UnitOfWork) -> object:
        return service.register_resource(
            u,
            actor=dr,
            agreement_id=agreement.agreement_id,
            group_code=GROUP,
            request_id=f"demo-dr-resource-{k}",
            at=at,
        )

    service.in_unit(engine, registered)
    return point.value
