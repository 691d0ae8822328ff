"""The messages a flow's steps send its parties (a 廃止取次 to judge, a judgement, a matching, a
date fixed, a completion, an expiry), written in the same transaction as the state change.

A message carries references and states only — the flow, its kind and state, the point, the
event — never personal data: the recipient reads what it may see through the gate. Recipients
are party codes; ``"area_tso"`` stands for the TSO of the point's area.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from jointuse.flows.repository import Flow
from jointuse.parties.reference import tso_for_area

EVENTS = frozenset(
    {
        "flow_filed",
        "forwarding_received",
        "forwarding_judged",
        "flow_matched",
        "date_fixed",
        "flow_completed",
        "flow_refused",
        "flow_withdrawn",
        "flow_expired",
        "info_changed",
    }
)


def recipients(flow: Flow, to: Iterable[str]) -> list[str]:
    out: list[str] = []
    for r in to:
        code = tso_for_area(flow.area_code) if r == "area_tso" else r
        if code and code not in out:
            out.append(code)
    return out


def notify(conn: Connection, flow: Flow, event: str, at: datetime, *, to: Iterable[str]) -> None:
    """Post ``event`` of ``flow`` to each of ``to`` (in the caller's transaction)."""
    if event not in EVENTS:
        raise ValueError(f"unknown flow event {event!r}")
    from jointuse.messages.service import post_many

    post_many(
        conn,
        [
            {
                "recipient": code,
                "kind": event,
                "subject_ref": {"flow_id": flow.id, "supply_point_id": flow.supply_point_id},
                "body": {"flow_kind": flow.kind.value, "state": flow.state.value},
            }
            for code in recipients(flow, to)
        ],
        at=at,
    )
