"""Refusals decided before the gate, on the ledger: the use case behind
:func:`jointuse.core.http.answer_refusal` (injected by the composition root as
``ApiContext.record_refusal``).

One unit of work: authenticate the caller on its connection (a refusal of the credentials
raises, rolls back and records nothing: the HTTP edge answers 401 and writes the security log),
then append the refusal's ledger entry (:func:`jointuse.access.gate.refusal_entry`: denied, no
rule, item ``"*"`` refused with the reason code) and commit. The target's IDs are recorded where
the request's path named valid ones (a malformed ID is not an ID: null).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from sqlalchemy import Connection, Engine

from jointuse.access.gate import refusal_entry
from jointuse.core.db import UnitOfWork
from jointuse.core.edge import EdgeRefusal
from jointuse.core.errors import ValidationError
from jointuse.core.ids import CUSTOMER_ID_PATTERN, SupplyPointId
from jointuse.ledger.service import append
from jointuse.policy.engine import Party

_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)


def target_ids(path_params: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(supply_point_id, customer_id)`` named by valid path parameters, else None each."""
    point: str | None = None
    raw_point = path_params.get("supply_point_id")
    if isinstance(raw_point, str):
        try:
            point = SupplyPointId.parse(raw_point).value
        except ValidationError:
            point = None
    raw_customer = path_params.get("customer_id")
    customer = (
        raw_customer
        if isinstance(raw_customer, str) and _CUSTOMER_ID.fullmatch(raw_customer)
        else None
    )
    return point, customer


def record_refusal(
    engine: Engine, authenticate: Callable[[Connection], object], refusal: EdgeRefusal
) -> None:
    """Authenticate and record ``refusal`` in one transaction (module docstring)."""
    point, customer = target_ids(refusal.path_params)
    with UnitOfWork(engine) as uow:
        caller = authenticate(uow.connection)
        party = getattr(caller, "party", caller)
        assert isinstance(party, Party)
        append(
            uow.connection,
            refusal_entry(
                actor=party,
                purpose=refusal.purpose,
                action=refusal.action,
                supply_point_id=point,
                customer_id=customer,
                reason=refusal.reason,
                request_id=refusal.request_id,
            ),
        )
