"""What the flows' use cases share: settings, identifiers, dates, the customer a filing names,
and the view of a flow that its parties may see (no personal data in it)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from jointuse.access.relations import jst_midnight
from jointuse.core.calendar import JST, add_business_days
from jointuse.core.errors import ValidationError
from jointuse.customers import repository as customers
from jointuse.customers.model import Customer
from jointuse.flows import dates
from jointuse.flows.model import FlowKind, FlowState, allowed_steps
from jointuse.flows.repository import Flow, Forwarding, Transition

P1 = "P1_wheeling"
P2 = "P2_cancellation_forwarding"
P3 = "P3_supply_point_confirmation"

#: The actor of steps the clock takes (completion on the date, expiry at the deadline).
SCHEDULER = "jointuse-scheduler"


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """Deadlines and limits of the flows (business days follow the Japanese calendar)."""

    #: The old retailer judges a 廃止取次 within this many business days, else the switch expires.
    judgement_business_days: int = 2
    #: After matching, the TSO fixes the switching date within this many business days.
    date_fix_business_days: int = 3
    #: A move-in, move-out or ampere change is dated (or refused) by the TSO within this many.
    dated_flow_business_days: int = 5
    #: An information change routed to the controller is answered within this many.
    controller_business_days: int = 5
    #: A move-in may be back-dated this many calendar days at most (遡及再点), for a point that
    #: was without supply (廃止中) over the whole time.
    retroactive_days: int = 31
    #: The TSOs' year-end closure (12/29–1/3) counts as non-business days.
    year_end_closure: bool = True


DEFAULT_SETTINGS = FlowSettings()


def new_flow_id() -> str:
    return str(uuid.uuid4())


def new_forwarding_id() -> str:
    """A 廃止取次 number: ``HT`` and 12 hex digits."""
    return "HT" + secrets.token_hex(6).upper()


def jst_day(at: datetime) -> date:
    return at.astimezone(JST).date()


def deadline_after(
    at: datetime, business_days: int, settings: FlowSettings, *, tso: str | None = None
) -> datetime:
    """The end of the ``business_days``-th business day after ``at``'s JST day: in ``tso``'s
    calendar (its closure days from data, :func:`jointuse.flows.dates.deadline`), else with the
    year-end closure 12/29–1/3 — in both cases only where ``settings.year_end_closure``."""
    if tso is not None:
        return dates.deadline(tso, at, business_days, closures=settings.year_end_closure)
    day = add_business_days(jst_day(at), business_days, year_end_closure=settings.year_end_closure)
    return jst_midnight(day + timedelta(days=1))


def filer_customer(
    conn: Connection, actor: str, customer: Customer, *, given_id: bool, at: datetime
) -> str:
    """The customer record a filing names: the filer's own existing customer (``given_id``), or a
    new record of the filer. An ID given that is not one of the filer's customers is refused
    with one message whether or not the ID exists (no probing of others' IDs)."""
    if given_id:
        if customers.customer_creator(conn, customer.customer_id) != actor:
            raise ValidationError(
                f"customer_id {customer.customer_id!r} is not one of your customers",
                field="customer.customer_id",
                valid="the ID of a customer you registered, or none to register a new one",
            )
        customers.update_customer(conn, customer)
    else:
        customers.insert_customer(conn, customer, created_by=actor, created_at=at)
    return customer.customer_id


def generated_customer_id() -> str:
    return "C" + uuid.uuid4().hex[:20]


def flow_view(
    flow: Flow,
    forwarding: Forwarding | None = None,
    transitions: list[Transition] | None = None,
) -> dict[str, Any]:
    """What the parties of a flow see of it: kind, state, point, parties, dates, deadline, the
    next steps, the 廃止取次 number and its result — and no personal data (names, addresses and
    contract numbers are read through the gate)."""
    out: dict[str, Any] = {
        "flow_id": flow.id,
        "kind": flow.kind.value,
        "state": flow.state.value,
        "supply_point_id": flow.supply_point_id,
        "filed_by": flow.filed_by,
        "counterpart": flow.counterpart,
        "customer_id": flow.customer_id,
        "wished_date": flow.wished_date.isoformat() if flow.wished_date else None,
        "fixed_date": flow.fixed_date.isoformat() if flow.fixed_date else None,
        "meter_work": flow.meter_work,
        "filed_at": flow.filed_at.isoformat(),
        "updated_at": flow.updated_at.isoformat(),
        "deadline": flow.deadline.isoformat() if flow.deadline else None,
        "closed_at": flow.closed_at.isoformat() if flow.closed_at else None,
        "allowed_steps": allowed_steps(flow.kind, flow.state),
        "details": {k: v for k, v in flow.details.items() if k in PUBLIC_DETAILS},
    }
    if forwarding is not None:
        out["forwarding"] = {
            "forwarding_id": forwarding.id,
            "old_retailer": forwarding.old_retailer,
            "forwarded_at": forwarding.forwarded_at.isoformat(),
            "result": forwarding.result,
            "reasons": list(forwarding.reasons),
            "mode": forwarding.mode,
            "judged_at": forwarding.judged_at.isoformat() if forwarding.judged_at else None,
        }
    if transitions is not None:
        out["transitions"] = [
            {
                "seq": t.seq,
                "step": t.step,
                "from_state": t.from_state,
                "to_state": t.to_state,
                "actor": t.actor,
                "at": t.at.isoformat(),
                "reason": t.reason,
            }
            for t in transitions
        ]
    return out


#: Keys of ``Flow.details`` that are not personal data (the proposed values of an information
#: change are, and are kept out of the flow's view).
PUBLIC_DETAILS = frozenset(
    {
        "current_limit",
        "contract_capacity",
        "meter_removal",
        "retroactive",
        "capacity_class",
        "proposed_date",
        "earliest_date",
    }
)


def parties_of(flow: Flow, forwarding: Forwarding | None = None) -> set[str]:
    """The parties a flow concerns: filer, counterpart, the area's TSO, OCCTO."""
    from jointuse.parties.reference import tso_for_area

    out = {flow.filed_by, "occto"}
    if flow.counterpart:
        out.add(flow.counterpart)
    if forwarding is not None:
        out.add(forwarding.old_retailer)
    tso = tso_for_area(flow.area_code)
    if tso:
        out.add(tso)
    return out


def is_open(flow: Flow) -> bool:
    return flow.state not in (
        FlowState.COMPLETED,
        FlowState.REFUSED,
        FlowState.WITHDRAWN,
        FlowState.EXPIRED,
    )


__all__ = [
    "DEFAULT_SETTINGS",
    "P1",
    "P2",
    "P3",
    "SCHEDULER",
    "FlowKind",
    "FlowSettings",
    "deadline_after",
    "flow_view",
    "generated_customer_id",
    "is_open",
    "jst_day",
    "new_flow_id",
    "new_forwarding_id",
    "parties_of",
]
