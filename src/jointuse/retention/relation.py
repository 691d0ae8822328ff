"""The relation ``retention_due``: when a customer's basic information may be erased.

Derived from the contracts alone (never asserted): once **every** retail contract of the
customer has ended and the basic category's retention period
(``JOINTUSE_RETENTION_BASIC_DAYS``, :mod:`jointuse.retention.config`) has run since the last one
ended, the platform operator (party kind ``platform``, not a joint user) holds ``retention_due``
to the customer, from that day on. A customer with an open contract gives nobody the relation;
nor does a target naming a supply point (erasure is of a customer), nor any other party kind.

The policy lets it *write* the basic items (the placeholders of ``jointuse retention run``)
under the purpose ``retention_erasure`` (outside joint use; APPI Art. 22) and read nothing.
No API token can act as the platform: the registry has no such kind of party.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from jointuse.access.gate import GateParts
from jointuse.access.relations import RelationContext, RelationProvider, jst_midnight
from jointuse.customers.model import RetailContract
from jointuse.customers.relations import contracts_of
from jointuse.policy.engine import RelationPeriod
from jointuse.retention.config import RetentionPolicy

RELATION = "retention_due"
PLATFORM_KIND = "platform"


def last_end(contracts: Iterable[RetailContract]) -> RetailContract | None:
    """The customer's last contract if every one has ended (has a ``valid_to``), else None."""
    found = list(contracts)
    if not found or any(c.valid_to is None for c in found):
        return None
    return max(found, key=lambda c: (c.valid_to, c.valid_from))


def retention_due_for(days: int) -> RelationProvider:
    """Provider of ``retention_due`` with the basic category's period of ``days``."""

    def provider(ctx: RelationContext) -> Iterable[RelationPeriod]:
        target = ctx.target
        if ctx.party.kind != PLATFORM_KIND or target.customer_id is None:
            return ()
        if target.supply_point_id is not None:
            return ()
        last = last_end(contracts_of(ctx))
        if last is None or last.valid_to is None:
            return ()
        return (RelationPeriod(RELATION, jst_midnight(last.valid_to + timedelta(days=days))),)

    return provider


def gate_parts(policy: RetentionPolicy) -> GateParts:
    return GateParts(relations={RELATION: retention_due_for(policy.basic)})
