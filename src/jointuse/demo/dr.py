"""The demo's DR scenario (ネガワット): a real building load, settled right after ``make demo``.

Three demo customers' supply points become DR resources of ``dr-negawatt-one``: their meter
data are LBNL building 90's measured load from 1 June to 18 July 2018 (``data/demo``, scaled to
100 %, 60 % and 30 %), imported by each point's area TSO; each customer's DR agreement (from
1 May 2018) is proposed by the contractor and confirmed by the customer with the code e-mailed to
them (through a local SMTP sink); the contractor registers a balancing group, the resources and a
DR event on 18 July 2018 (a DR event day of the building), 13:00–17:00 (slots 27–34). Everything
passes the services and the gate, as any party would. Then::

    jointuse negawatt settle --event demo-b90-2018-07-18 --as dr-negawatt-one
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Sequence
from importlib import resources

import numpy as np
from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import MailSink, mail_sink
from jointuse.demo.generate import SyntheticCustomer
from jointuse.negawatt import consent, service
from jointuse.negawatt.consent import code_in
from jointuse.negawatt.meterdata import MeterDay
from jointuse.negawatt.service import Agreement
from jointuse.policy.engine import Party
from jointuse.rights import identity

CONTRACTOR = "dr-negawatt-one"
GROUP = "BG-DEMO"
EVENT_ID = "demo-b90-2018-07-18"
EVENT_DAY = dt.date(2018, 7, 18)
SCALES = (1.0, 0.6, 0.3)
DATA_FILE = "lbnl_b90_halfhourly_2018.csv"
AGREED_ON = dt.date(2018, 5, 1)


def _code(sink: MailSink, email: str) -> str:
    for message in reversed(sink.to(email)):
        code = code_in(message.body) or _six_digits(message.body)
        if code:
            return code
    raise RuntimeError(f"no code reached {email}")


def _six_digits(body: str) -> str | None:
    found = re.search(r"(?:確認コード|code)[^0-9]{0,20}(\d{6})", body)
    return found.group(1) if found else None


def confirm_as_customer(
    unit: Callable[[], UnitOfWork],
    *,
    agreement_id: str,
    supply_point_id: str,
    contract_number: str,
    postal_code: str,
    email: str,
    at: dt.datetime,
) -> Agreement:
    """The customer's side of a DR agreement as it happens: they enrol with the details of
    their bill (an e-mailed code), ask for the proposal's code by e-mail and confirm with it.
    Every message passes a local SMTP sink (:func:`jointuse.core.mail.mail_sink`); nothing is
    written around the services. ``unit`` opens a unit of work."""
    with mail_sink() as (sink, mailer):
        with unit() as u:
            identity.request_enrolment(
                u,
                mailer,
                contract_number=contract_number,
                supply_point_id=supply_point_id,
                postal_code=postal_code,
                email=email,
                at=at,
            )
        with unit() as u:
            session = identity.confirm(
                u, email=email, code=_code(sink, email), purpose="enrol", at=at
            )
        with unit() as u:
            consent.send_code(u, mailer, account=session.account, agreement_id=agreement_id, at=at)
        with unit() as u:
            return consent.confirm(
                u,
                account=session.account,
                agreement_id=agreement_id,
                code=_code(sink, email),
                at=at,
            )


def propose_and_confirm(
    unit: Callable[[], UnitOfWork],
    *,
    contractor: Party,
    customer_id: str,
    supply_point_id: str,
    contract_number: str,
    postal_code: str,
    agreed_on: dt.date,
    email: str,
    request_id: str,
    at: dt.datetime,
    **scope: object,
) -> Agreement:
    """The contractor proposes (``scope``: the proposal's scope arguments), then the customer
    confirms (:func:`confirm_as_customer`)."""
    with unit() as u:
        agreement = service.register_agreement(
            u,
            actor=contractor,
            customer_id=customer_id,
            supply_point_id=supply_point_id,
            agreed_on=agreed_on,
            request_id=request_id,
            at=at,
            **scope,  # type: ignore[arg-type]
        )
    return confirm_as_customer(
        unit,
        agreement_id=agreement.agreement_id,
        supply_point_id=supply_point_id,
        contract_number=contract_number,
        postal_code=postal_code,
        email=email,
        at=at,
    )


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

    service.in_unit(engine, imported)
    agreement = propose_and_confirm(
        service.units(engine),
        contractor=dr,
        customer_id=rec.customer_id,
        supply_point_id=rec.supply_point_id,
        contract_number=rec.contract_number,
        postal_code=rec.postal_code,
        agreed_on=AGREED_ON,
        email=f"dr-demo-{k}@customer.example",
        request_id=f"demo-dr-agreement-{k}",
        at=at,
    )

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
