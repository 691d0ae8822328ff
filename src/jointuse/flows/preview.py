"""What the automatic judgement of a 廃止取次 would answer, shown to the old retailer before it
judges (the console's judging page): the same reads through the gate as the automatic judgement
(the forwarded items under P2, its own record under P1 — each on the ledger) and the same
field-by-field match (:func:`jointuse.flows.matching.judge`); nothing is changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jointuse.access.gate import Gate
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.flows import repository as repo
from jointuse.flows.steps import _auto_judgement
from jointuse.policy.engine import Party


def preview_judgement(
    uow: UnitOfWork,
    *,
    gate: Gate,
    actor: Party,
    forwarding_id: str,
    request_id: str,
    at: datetime,
) -> dict[str, Any]:
    """``{"result", "reasons", "match"}`` as the automatic judgement would give them now."""
    conn = uow.connection
    fw = repo.get_forwarding(conn, forwarding_id) if 0 < len(forwarding_id) <= 20 else None
    flow = repo.get_flow(conn, fw.flow_id) if fw is not None else None
    if fw is None or flow is None:
        raise NotFound(f"no cancellation forwarding {forwarding_id[:20]!r}")
    result, reasons, match = _auto_judgement(uow, gate, actor, fw, flow, request_id, at)
    return {"result": result, "reasons": reasons, "match": match}
