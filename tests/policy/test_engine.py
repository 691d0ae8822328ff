"""The decision engine: deny by default, time slicing, party status, purposes, item refusal,
rule id and legal basis reported."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jointuse.core.errors import ValidationError
from jointuse.policy.controllers import ControllerRef
from jointuse.policy.engine import (
    AccessRequest,
    Decision,
    Engine,
    Party,
    PartyStatus,
    Reason,
    RefusedItem,
    RelationPeriod,
    Target,
    decide,
    engine_for,
)
from jointuse.policy.loader import default_policy, load_policy

POLICY = default_policy()
APPI_JA = "個人情報の保護に関する法律 第27条第5項第3号（共同利用）"
SWITCH = datetime(2025, 6, 1)  # the point passes from retailer-a to retailer-b on this date
SPID = "0300111122223333444455"
TARGET = Target(supply_point_id=SPID, customer_id="c-1", retailer_code="retailer-b")


def ask(
    party: Party,
    purpose: str | None,
    at: datetime,
    relations: tuple[RelationPeriod, ...],
    items: frozenset[str] = frozenset(),
    action: str = "read",
    target: Target = TARGET,
) -> Decision:
    return decide(
        POLICY,
        AccessRequest(
            party=party,
            purpose=purpose,
            action=action,
            target=target,
            at=at,
            items=items,
            relations=relations,
        ),
    )


OLD = Party("retailer-a", "retailer")
NEW = Party("retailer-b", "retailer")
OLD_HOLDS = (RelationPeriod("contract_holder", datetime(2020, 1, 1), SWITCH),)
NEW_HOLDS = (RelationPeriod("contract_holder", SWITCH),)


def test_old_retailer_allowed_before_switch_denied_after() -> None:
    before = ask(OLD, "P1_wheeling", SWITCH - timedelta(seconds=1), OLD_HOLDS, frozenset({"name"}))
    assert before.allowed and before.reason is Reason.ALLOWED
    assert before.rule_id == "P1-retailer" and before.relation == "contract_holder"
    assert (before.valid_from, before.valid_to) == (datetime(2020, 1, 1), SWITCH)

    after = ask(OLD, "P1_wheeling", SWITCH, OLD_HOLDS, frozenset({"name"}))
    assert not after.allowed
    assert after.reason is Reason.RELATION_MISSING
    assert "contract_holder" in after.message and "held only contract_holder" in after.message
    assert after.granted == () and [r.item for r in after.refused] == ["name"]
    assert after.refused[0].reason is Reason.RELATION_MISSING


def test_new_retailer_window_starts_at_switch() -> None:
    d = ask(NEW, "P1_wheeling", SWITCH + timedelta(days=30), NEW_HOLDS)
    assert d.allowed
    assert d.valid_from == SWITCH and d.valid_to is None
    assert not ask(NEW, "P1_wheeling", SWITCH - timedelta(days=1), NEW_HOLDS).allowed


def test_applicant_relation_expires() -> None:
    applied = (RelationPeriod("applicant", datetime(2025, 5, 1), datetime(2025, 5, 20)),)
    inside = ask(NEW, "P3_supply_point_confirmation", datetime(2025, 5, 10), applied)
    assert inside.allowed and inside.rule_id == "P3-retailer"
    assert inside.valid_to == datetime(2025, 5, 20)
    expired = ask(NEW, "P3_supply_point_confirmation", datetime(2025, 5, 20), applied)
    assert expired.reason is Reason.RELATION_MISSING
    assert "applicant" in expired.message


def test_overlapping_periods_of_one_relation_report_their_union() -> None:
    periods = (
        RelationPeriod("contract_holder", datetime(2024, 1, 1), datetime(2025, 1, 1)),
        RelationPeriod("contract_holder", datetime(2024, 6, 1), datetime(2025, 3, 1)),
        RelationPeriod("contract_holder", datetime(2026, 1, 1)),  # not holding at ``at``
    )
    d = ask(OLD, "P5_negawatt", datetime(2024, 7, 1), periods)
    assert d.allowed
    assert (d.valid_from, d.valid_to) == (datetime(2024, 1, 1), datetime(2025, 3, 1))


def test_suspended_and_deregistered_parties_are_denied() -> None:
    for status, reason in (
        (PartyStatus.SUSPENDED, Reason.PARTY_SUSPENDED),
        (PartyStatus.DEREGISTERED, Reason.PARTY_DEREGISTERED),
    ):
        party = Party("retailer-b", "retailer", status)
        d = ask(party, "P1_wheeling", SWITCH + timedelta(days=1), NEW_HOLDS, frozenset({"name"}))
        assert not d.allowed and d.reason is reason
        assert d.granted == () and d.refused[0].reason is reason
        assert status.value in d.message


def test_missing_and_unknown_purpose() -> None:
    at = SWITCH + timedelta(days=1)
    for missing in (None, ""):
        d = ask(NEW, missing, at, NEW_HOLDS)
        assert not d.allowed and d.reason is Reason.PURPOSE_MISSING
        assert "P1_wheeling" in d.message
    d = ask(NEW, "marketing", at, NEW_HOLDS)
    assert d.reason is Reason.PURPOSE_UNKNOWN
    assert "'marketing'" in d.message
    assert all(p.key in d.message for p in POLICY.purposes)


def test_unknown_action_and_party_kind() -> None:
    at = SWITCH + timedelta(days=1)
    assert ask(NEW, "P1_wheeling", at, NEW_HOLDS, action="delete").reason is Reason.ACTION_UNKNOWN
    broker = Party("b-1", "broker")
    d = ask(broker, "P1_wheeling", at, NEW_HOLDS)
    assert d.reason is Reason.PARTY_KIND_UNKNOWN and "dr_contractor" in d.message


def test_no_rule_for_purpose_and_kind() -> None:
    dr = Party("dr-a", "dr_contractor")
    res = (RelationPeriod("dr_resource", datetime(2024, 1, 1)),)
    d = ask(dr, "P1_wheeling", SWITCH, res)
    assert d.reason is Reason.NO_RULE and d.rule_id is None
    # a rule exists for P3 × dr_contractor, but only to read
    d = ask(dr, "P3_supply_point_confirmation", SWITCH, res, action="write")
    assert d.reason is Reason.NO_RULE and "write" in d.message


def test_partial_item_refusal() -> None:
    dr = Party("dr-a", "dr_contractor")
    res = (RelationPeriod("dr_resource", datetime(2024, 1, 1)),)
    asked = frozenset({"supply_point_id", "meter_info", "name", "lead_in_pole_number", "bogus"})
    d = ask(dr, "P3_supply_point_confirmation", SWITCH, res, asked)
    assert not d.allowed and d.reason is Reason.ITEMS_REFUSED
    assert d.rule_id == "P3-dr-contractor" and d.relation == "dr_resource"
    assert d.granted == ("supply_point_id", "meter_info")  # policy order
    refused = {r.item: r.reason for r in d.refused}
    assert refused == {
        "name": Reason.ITEM_NOT_PERMITTED,
        "lead_in_pole_number": Reason.ITEM_NOT_PERMITTED,
        "bogus": Reason.ITEM_UNKNOWN,
    }
    assert "P3-dr-contractor" in d.refused[0].message
    # the same request without the refused items is allowed
    ok = ask(dr, "P3_supply_point_confirmation", SWITCH, res, frozenset(d.granted))
    assert ok.allowed and ok.granted == d.granted


def test_empty_items_mean_the_whole_rule() -> None:
    dr = Party("dr-a", "dr_contractor")
    res = (RelationPeriod("dr_resource", datetime(2024, 1, 1)),)
    d = ask(dr, "P3_supply_point_confirmation", SWITCH, res)
    assert d.allowed
    assert d.granted == ("supply_area", "supply_point_id", "meter_info", "contract_state")


def test_legal_basis_rule_category_notice() -> None:
    at = SWITCH + timedelta(days=1)
    # the rule's own legal basis
    d = ask(NEW, "retail_billing", at, NEW_HOLDS, frozenset({"interval_readings"}))
    assert d.allowed and d.rule_id == "retailer-billing-readings"
    assert d.legal_basis_en is not None and "retail supply contract" in d.legal_basis_en
    # the retailer's billing is not the TSO's work: under P4 it reads nothing
    d = ask(NEW, "P4_tso_operations", at, NEW_HOLDS, frozenset({"interval_readings"}))
    assert not d.allowed
    # joint-use category → the notice's law
    d = ask(NEW, "P1_wheeling", at, NEW_HOLDS, frozenset({"name"}))
    assert d.legal_basis_ja == APPI_JA
    assert d.legal_basis_en is not None and "27(5)(iii)" in d.legal_basis_en
    # joint use and a non-joint-use category together: both bases, the category's own for the latter
    tso = Party("tso-03", "tso")
    area = (RelationPeriod("area_tso", datetime(2016, 4, 1)),)
    d = ask(
        tso, "P4_tso_operations", at, area, frozenset({"meter_info", "interval_readings"}), "write"
    )
    assert d.allowed and d.rule_id == "P4-tso"
    assert d.legal_basis_ja is not None and APPI_JA in d.legal_basis_ja
    assert "託送供給等約款" in d.legal_basis_ja
    # a denial has no legal basis
    assert ask(NEW, None, at, NEW_HOLDS).legal_basis_ja is None


def test_p2_new_and_old_retailer_take_different_rules() -> None:
    at = datetime(2025, 5, 10)
    applying = (RelationPeriod("applicant", datetime(2025, 5, 1)),)
    new = ask(NEW, "P2_cancellation_forwarding", at, applying, action="write")
    assert new.rule_id == "P2-new-retailer"
    assert new.granted == ("name", "address", "contract_number", "supply_point_id")
    addressed = (RelationPeriod("forwarding_addressee", datetime(2025, 5, 2)),)
    old = ask(OLD, "P2_cancellation_forwarding", at, addressed, action="write")
    assert old.rule_id == "P2-old-retailer" and old.granted == ("forwarding_judgement",)
    # Holding the contract is not enough: the old retailer reads the 廃止取次 addressed to it.
    holder = ask(OLD, "P2_cancellation_forwarding", at, OLD_HOLDS, frozenset({"name"}))
    assert not holder.allowed and holder.reason is Reason.RELATION_MISSING
    # the new retailer cannot forge the judgement
    forged = ask(
        NEW,
        "P2_cancellation_forwarding",
        at,
        applying,
        frozenset({"forwarding_judgement"}),
        "write",
    )
    # (only the addressee of a 廃止取次 writes a judgement: the relation is what is missing)
    assert not forged.allowed and forged.refused[0].reason is Reason.RELATION_MISSING


def test_decision_names_the_controllers() -> None:
    d = ask(
        NEW,
        "P1_wheeling",
        SWITCH + timedelta(days=1),
        NEW_HOLDS,
        frozenset({"name", "supply_area"}),
    )
    by_cat = {c.category: c for c in d.controllers}
    assert by_cat["basic"].party_code == "retailer-b"
    assert by_cat["supply_point"].party_code == "tso-03"


def test_engine_for_is_cached_per_policy(tmp_path: Path) -> None:
    assert engine_for(POLICY) is engine_for(POLICY)
    copy = tmp_path / "p.toml"
    copy.write_text(Path(POLICY.source).read_text(encoding="utf-8"), encoding="utf-8")
    other = load_policy(copy)
    assert engine_for(other) is not engine_for(POLICY)
    assert isinstance(engine_for(other), Engine)


# -- property: deny by default -----------------------------------------------------------------

ITEM_KEYS = [it.key for it in POLICY.items]
REL_KEYS = [r.key for r in POLICY.relations]
moments = st.datetimes(min_value=datetime(2016, 1, 1), max_value=datetime(2035, 1, 1))


@st.composite
def requests_without_a_holding_relation(draw: st.DrawFn) -> AccessRequest:
    at = draw(moments)
    # relations that exist but do not hold at ``at``: ended before it or starting after it
    periods = []
    for rel in draw(st.lists(st.sampled_from(REL_KEYS), max_size=3)):
        if draw(st.booleans()):
            end = at - timedelta(seconds=draw(st.integers(0, 10**8)))
            periods.append(
                RelationPeriod(rel, end - timedelta(days=draw(st.integers(1, 900))), end)
            )
        else:
            periods.append(RelationPeriod(rel, at + timedelta(seconds=draw(st.integers(1, 10**8)))))
    return AccessRequest(
        party=Party(
            draw(st.text(min_size=1, max_size=8)),
            draw(st.sampled_from([k.key for k in POLICY.party_kinds] + ["x"])),
            draw(st.sampled_from(list(PartyStatus))),
        ),
        purpose=draw(st.sampled_from([p.key for p in POLICY.purposes] + [None, "", "P9"])),
        action=draw(st.sampled_from(["read", "write", "delete"])),
        target=Target(
            supply_point_id=draw(st.sampled_from(["0100000000000000000001", SPID, None])),
            contract_kind=draw(st.sampled_from(["standard", "remote_island", "last_resort", None])),
        ),
        at=at,
        items=frozenset(draw(st.lists(st.sampled_from([*ITEM_KEYS, "zzz"]), max_size=5))),
        relations=tuple(periods),
    )


@settings(max_examples=300, deadline=None)
@given(requests_without_a_holding_relation())
def test_deny_by_default_without_a_relation(request: AccessRequest) -> None:
    d = decide(POLICY, request)
    assert not d.allowed
    assert d.granted == ()
    assert d.reason is not Reason.ALLOWED
    assert {r.item for r in d.refused} == request.items


@settings(max_examples=200, deadline=None)
@given(requests_without_a_holding_relation(), st.sampled_from(REL_KEYS))
def test_granted_items_always_within_the_rule(request: AccessRequest, rel: str) -> None:
    """With a relation that holds, whatever is granted is within the deciding rule's items."""
    holding = AccessRequest(
        party=request.party,
        purpose=request.purpose,
        action=request.action,
        target=request.target,
        at=request.at,
        items=request.items,
        relations=(*request.relations, RelationPeriod(rel, request.at)),
    )
    d = decide(POLICY, holding)
    if d.granted:
        rule = next(r for r in POLICY.rules if r.id == d.rule_id)
        assert set(d.granted) <= rule.items_for(request.action)  # type: ignore[arg-type]
        assert rel in rule.relations and rule.party_kind == request.party.kind
        assert request.party.status is PartyStatus.ACTIVE
    if d.allowed:
        assert d.refused == () and (not request.items or set(d.granted) == request.items)


def test_bad_periods_and_mixed_time_zones_are_clear_errors() -> None:
    with pytest.raises(ValidationError) as info:
        RelationPeriod("applicant", datetime(2025, 5, 2), datetime(2025, 5, 1))
    assert info.value.field == "valid_to"
    aware = (RelationPeriod("contract_holder", datetime(2020, 1, 1, tzinfo=UTC)),)
    with pytest.raises(ValidationError) as info:
        ask(NEW, "P1_wheeling", datetime(2025, 1, 1), aware)
    assert "timezone-aware" in info.value.message
    ok = ask(NEW, "P1_wheeling", datetime(2025, 1, 1, tzinfo=UTC), aware)
    assert ok.allowed


# -- decisions as values: the deferred relation_missing text, construction, caches -------------

AT = datetime(2025, 6, 1)
HELD = (
    RelationPeriod("contract_holder", datetime(2020, 1, 1), SWITCH),
    RelationPeriod("dr_resource", datetime(2024, 1, 1)),  # no P1 rule accepts it: not listed
    RelationPeriod("applicant", datetime(2025, 1, 1), datetime(2025, 2, 1)),
)
MISSING_TEXT = (
    "purpose P1_wheeling lets a retailer read only with relation applicant or contract_holder "
    "to the target valid at 2025-06-01T00:00:00; held only "
    "contract_holder 2020-01-01T00:00:00–2025-06-01T00:00:00, "
    "applicant 2025-01-01T00:00:00–2025-02-01T00:00:00"
)


def missing(
    engine: Engine, at: datetime = AT, status: PartyStatus = PartyStatus.ACTIVE
) -> Decision:
    """A relation_missing denial, freshly decided (its message/refused not yet read)."""
    return engine.decide(
        AccessRequest(
            party=Party("retailer-a", "retailer", status),
            purpose="P1_wheeling",
            action="read",
            target=TARGET,
            at=at,
            items=frozenset({"supply_area", "name", "bogus"}),
            relations=HELD,
        )
    )


def eager(controllers: tuple[ControllerRef, ...]) -> Decision:
    """The relation_missing decision above, built by hand with the constructor."""
    refused = tuple(
        RefusedItem(item, Reason.RELATION_MISSING, MISSING_TEXT)
        for item in ("name", "supply_area", "bogus")  # policy order, unknown items last
    )
    return Decision(
        allowed=False,
        reason=Reason.RELATION_MISSING,
        message=MISSING_TEXT,
        purpose="P1_wheeling",
        action="read",
        party_code="retailer-a",
        rule_id="P1-retailer",
        refused=refused,
        controllers=controllers,
    )


def test_deferred_relation_missing_text_equals_the_eager_decision() -> None:
    engine = Engine(POLICY)
    expected = eager(missing(engine).controllers)
    assert {c.category for c in expected.controllers} == {"basic", "supply_point"}
    # read in either order first, the fields equal what the constructor was given
    first_message = missing(engine)
    assert first_message.message == MISSING_TEXT
    assert first_message.refused == expected.refused
    first_refused = missing(engine)
    assert first_refused.refused == expected.refused
    assert first_refused.message == MISSING_TEXT
    # whole-value comparisons on unread decisions
    assert missing(engine) == expected
    assert hash(missing(engine)) == hash(expected)
    assert repr(missing(engine)) == repr(expected)
    assert "MissingText" not in repr(missing(engine))


def test_deferred_text_survives_asdict_pickle_and_replace() -> None:
    engine = Engine(POLICY)
    expected = eager(missing(engine).controllers)

    as_dict = dataclasses.asdict(missing(engine))
    assert as_dict == dataclasses.asdict(expected)
    assert as_dict["message"] == MISSING_TEXT
    assert as_dict["refused"][0] == {
        "item": "name",
        "reason": Reason.RELATION_MISSING,
        "message": MISSING_TEXT,
    }

    restored = pickle.loads(pickle.dumps(missing(engine)))
    assert type(restored) is Decision
    assert restored == expected and restored.message == MISSING_TEXT

    replaced = dataclasses.replace(missing(engine), rule_id="other")
    assert type(replaced) is Decision
    assert replaced.message == MISSING_TEXT and replaced.refused == expected.refused
    assert replaced == dataclasses.replace(expected, rule_id="other")


def test_every_path_returns_a_plain_frozen_decision() -> None:
    engine = Engine(POLICY)
    at = SWITCH + timedelta(days=1)
    both = (*NEW_HOLDS, RelationPeriod("applicant", SWITCH - timedelta(days=3)))
    asked = frozenset({"name", "interval_readings"})
    decisions = {
        "allowed": engine.decide(AccessRequest(NEW, "P1_wheeling", "read", TARGET, at)),
        "items_refused": engine.decide(
            AccessRequest(NEW, "P1_wheeling", "read", TARGET, at, asked, NEW_HOLDS)
        ),
        "purpose_missing": engine.decide(AccessRequest(NEW, None, "read", TARGET, at)),
        "relation_missing": missing(engine),
        "two_relations_hold": engine.decide(
            AccessRequest(NEW, "P1_wheeling", "read", TARGET, at, relations=both)
        ),
    }
    assert [d.reason for d in decisions.values()] == [
        Reason.RELATION_MISSING,  # no relation given at all
        Reason.ITEMS_REFUSED,
        Reason.PURPOSE_MISSING,
        Reason.RELATION_MISSING,
        Reason.ALLOWED,
    ]
    for name, d in decisions.items():
        assert type(d) is Decision, name
        assert d == dataclasses.replace(d), name  # the constructor gives an equal value
        for field in ("allowed", "message", "refused", "valid_to"):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(d, field, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            del d.message
    assert all(type(r) is RefusedItem for r in decisions["relation_missing"].refused)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decisions["items_refused"].refused[0].message = "x"  # type: ignore[misc]


def test_relation_missing_text_is_per_request_moment() -> None:
    """Same party, purpose, items and periods; only ``at`` differs: each message names its own
    moment (nothing memoised across requests leaks the first one's text)."""
    engine = Engine(POLICY)
    moments = [datetime(2025, 6, 1), datetime(2019, 3, 4, 5, 6, 7), datetime(2025, 6, 1)]
    decisions = [missing(engine, at) for at in moments]
    for at, d in zip(moments, decisions, strict=True):
        assert f"valid at {at.isoformat()};" in d.message
        assert {r.message for r in d.refused} == {d.message}
    assert decisions[0] == decisions[2] and decisions[0] != decisions[1]
    assert "2025-06-01T00:00:00;" not in decisions[1].message


def test_allowed_window_is_per_request_moment() -> None:
    """The memoised outcome is shared, the window is the request's own."""
    engine = Engine(POLICY)
    periods = (
        RelationPeriod("contract_holder", datetime(2020, 1, 1), datetime(2022, 1, 1)),
        RelationPeriod("contract_holder", datetime(2023, 1, 1)),
    )
    items = frozenset({"name"})
    early, late = (
        engine.decide(AccessRequest(OLD, "P1_wheeling", "read", TARGET, at, items, periods))
        for at in (datetime(2021, 1, 1), datetime(2024, 1, 1))
    )
    assert early.allowed and late.allowed and early.message == late.message
    assert (early.valid_from, early.valid_to) == (datetime(2020, 1, 1), datetime(2022, 1, 1))
    assert (late.valid_from, late.valid_to) == (datetime(2023, 1, 1), None)


def test_party_status_is_not_cached_across_requests() -> None:
    engine = Engine(POLICY)
    at = SWITCH + timedelta(days=1)
    items = frozenset({"name"})
    expected = {
        PartyStatus.ACTIVE: Reason.ALLOWED,
        PartyStatus.SUSPENDED: Reason.PARTY_SUSPENDED,
        PartyStatus.DEREGISTERED: Reason.PARTY_DEREGISTERED,
    }
    order = [*PartyStatus, *reversed(PartyStatus), PartyStatus.SUSPENDED, PartyStatus.ACTIVE]
    for status in order:
        party = Party("retailer-b", "retailer", status)
        d = engine.decide(AccessRequest(party, "P1_wheeling", "read", TARGET, at, items, NEW_HOLDS))
        assert d.reason is expected[status], status
        assert d.allowed is (status is PartyStatus.ACTIVE)
        if d.allowed:
            assert d.granted == ("name",) and d.refused == ()
        else:
            assert status.value in d.message and d.granted == ()
            assert [(r.item, r.reason) for r in d.refused] == [("name", expected[status])]
    # a relation_missing denial for an active party, a status denial for the same party suspended
    assert missing(engine).reason is Reason.RELATION_MISSING
    suspended = missing(engine, status=PartyStatus.SUSPENDED)
    assert suspended.reason is Reason.PARTY_SUSPENDED
    assert suspended.message == "party 'retailer-a' is suspended"
    assert missing(engine).message == MISSING_TEXT
