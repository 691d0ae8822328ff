"""More of the web tests' world for the consoles (issue 11), built through the use cases on top
of :mod:`web_world`: users with roles and their tokens; a DR contractor with a confirmed
agreement for point A, meter data, an event and a stored settlement run; ledger entries by a
person at night (an anomaly)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import numpy as np

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.demo.dr import propose_and_confirm
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.negawatt import service as negawatt
from jointuse.negawatt.meterdata import MeterDay
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from web_world import A, Site

DR = Party("dr-web", "dr_contractor")
TSO = Party("tso-03", "tso")
AT = dt.datetime(2024, 7, 10, 12, tzinfo=JST)
FIRST = dt.date(2024, 6, 4)
EVENT_DAY = dt.date(2024, 7, 4)


def user_token(site: Site, party: str, code: str, role: str) -> str:
    """A user of ``party`` with ``role`` (``jointuse user add``) and a token of theirs."""
    parties.add_user(site.engine, party, code=code, name=f"{code} san", role=role)
    return parties.issue_token(site.engine, party, user=code, label="test").secret


@dataclass(frozen=True)
class Settled:
    token: str
    agreement_id: str
    event_id: str
    run_id: str


def settled_dr(site: Site) -> Settled:
    """``dr-web`` proposes a DR agreement for A, the customer confirms it; tso-03 imports 31
    days of meter data; the contractor registers its group and resource, an event on
    4 July 2024 (13:00–17:00, slots 27–34), and settles it (a stored run)."""
    parties.add_party(
        site.engine,
        code=DR.code,
        kind=DR.kind,
        name_ja="ウェブ需要抑制",
        name_en="Web Negawatt",
        contractor_code="DR-WEB",
        at=dt.datetime(2023, 12, 1, tzinfo=dt.UTC),
    )

    def unit() -> UnitOfWork:
        return UnitOfWork(site.engine)

    agreement = propose_and_confirm(
        unit,
        contractor=DR,
        customer_id="c-old",
        supply_point_id=A,
        contract_number="OLD-1",
        postal_code="100-0001",
        agreed_on=dt.date(2024, 5, 1),
        email=f"dr-{uuid.uuid4().hex[:8]}@customer.example",
        request_id="web-dr",
        at=AT,
    )
    rng = np.random.default_rng(11)
    loads = np.round(rng.gamma(2.0, 0.4, size=(31, 48)), 3)
    days = [MeterDay(SupplyPointId(A), FIRST + dt.timedelta(days=d), loads[d]) for d in range(31)]
    with UnitOfWork(site.engine) as u:
        negawatt.import_meter_days(u, days, actor=TSO, file="web", request_id="web-m", at=AT)
    with UnitOfWork(site.engine) as u:
        negawatt.register_group(u, actor=DR, code="BG-WEB", name="Web group")
        negawatt.register_resource(
            u,
            actor=DR,
            agreement_id=agreement.agreement_id,
            group_code="BG-WEB",
            request_id="web-r",
            at=AT,
        )
        event = negawatt.create_event(
            u,
            actor=DR,
            day=EVENT_DAY,
            first_slot=27,
            last_slot=34,
            resources=[A],
            at=AT,
            event_id="web-event",
        )
    result = negawatt.run_settlement(
        site.engine, actor=DR, event_id=event.event_id, request_id="web-s", at=AT
    )
    token = parties.issue_token(site.engine, DR.code, label="console").secret
    return Settled(token, agreement.agreement_id, event.event_id, result.stored.run_id)


def night_reads(site: Site, party: str, user: str, n: int = 2) -> None:
    """``user`` of ``party`` read A's data at 02:00 JST yesterday (an ``unusual_hours``
    finding of the anomaly report)."""
    night = (dt.datetime.now(JST) - dt.timedelta(days=1)).replace(
        hour=2, minute=0, second=0, microsecond=0
    )
    with UnitOfWork(site.engine) as u:
        for k in range(n):
            append(
                u.connection,
                LedgerEntry(
                    party=party,
                    acting_user=user,
                    purpose="P1_wheeling",
                    action="read",
                    decision="allowed",
                    supply_point_id=A,
                    items_granted=("current_limit",),
                    rule_id="P1-retailer",
                    request_id=f"night-{k}",
                    recorded_at=night + dt.timedelta(minutes=k),
                ),
            )
