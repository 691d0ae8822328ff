"""The engine's memo caches hold only what the policy knows (issue 12, memory limits).

A caller's unknown purpose, action or item names are any text it sends: decided, but never
memoised, and quoted cut short in messages. Before the fix, 400 distinct unknown purposes grew
the early-denial memo by 400 entries (each holding the purpose text in its message and in a
refusal record per asked item).
"""

from __future__ import annotations

from datetime import UTC, datetime

from jointuse.policy.engine import (
    AccessRequest,
    Engine,
    Party,
    Reason,
    RelationPeriod,
    Target,
    cache_sizes,
)
from jointuse.policy.loader import default_policy

AT = datetime(2025, 6, 1, tzinfo=UTC)
TARGET = Target(supply_point_id="0300111122223333444455", customer_id="c-1")
TSO = Party("tso-03", "tso")
AREA = (RelationPeriod("area_tso", datetime(2020, 1, 1, tzinfo=UTC)),)


def request(purpose: str | None, items: frozenset[str], action: str = "read") -> AccessRequest:
    return AccessRequest(
        party=TSO,
        purpose=purpose,
        action=action,  # type: ignore[arg-type]
        target=TARGET,
        at=AT,
        items=items,
        relations=AREA,
    )


def warmed_engine() -> Engine:
    """An engine that has decided the known shapes once (its caches hold what they will)."""
    engine = Engine(default_policy())
    for purpose in (None, "P4_tso_operations", "P1_wheeling"):
        for items in (frozenset(), frozenset({"name", "phone"})):
            engine.decide(request(purpose, items))
    return engine


def test_unknown_purposes_reach_no_cache() -> None:
    engine = warmed_engine()
    before = cache_sizes(engine)
    long_items = frozenset({"name", "phone"} | {f"unknown_{n}" for n in range(150)})
    for n in range(400):
        purpose = f"P9_marketing_{n}_" + "x" * 6000
        decision = engine.decide(request(purpose, long_items))
        assert decision.reason is Reason.PURPOSE_UNKNOWN
        assert len(decision.message) < 1000  # the purpose is quoted cut short
        assert all(len(r.message) < 1000 for r in decision.refused)
    assert cache_sizes(engine) == before


def test_unknown_items_and_actions_reach_no_cache() -> None:
    engine = warmed_engine()
    before = cache_sizes(engine)
    for n in range(400):
        unknown = frozenset({"name", f"unknown_item_{n}"})
        decision = engine.decide(request("P4_tso_operations", unknown))
        assert not decision.allowed
        assert Reason.ITEM_UNKNOWN in {r.reason for r in decision.refused}
        decision = engine.decide(request("P4_tso_operations", unknown, action=f"erase_{n}"))
        assert decision.reason is Reason.ACTION_UNKNOWN
    assert cache_sizes(engine) == before


def test_known_shapes_are_still_memoised() -> None:
    """The fix keeps the memo for the policy's own purposes and items (the benchmark's path)."""
    engine = Engine(default_policy())
    engine.decide(request("P4_tso_operations", frozenset({"name", "phone"})))
    sizes = cache_sizes(engine)
    assert sizes["_asked"] >= 1 and sizes["_outcomes"] >= 1
    engine.decide(request("P9_unknown", frozenset({"name"})))
    engine.decide(request(None, frozenset({"name"})))
    assert cache_sizes(engine)["_early"] == sizes["_early"] + 1  # the missing purpose only
