"""The access matrix, exhaustively: every party kind × relation (and none) × purpose × action ×
item is decided by the engine against the shipped policy and compared with a table written here,
independently, from the default access matrix in ``docs/access-matrix.md`` (not read from
policy.toml).

Interpretations of that matrix made in this table:
* "basic of its own customer" (P1 retailer): a retailer holding or applying for the point — the
  customer has a contract or an application with it.
* OCCTO "what the flow it relays carries": P1 switching flows carry name, address, the contract
  number and the supply point's information; P2 the forwarded items and the judgement; P3 the
  supply point inquiry; P5 the DR plans with point IDs and negawatt quantities.
* P2 (廃止取次, as the market flows do it): the new retailer (applicant) writes exactly what is
  forwarded — the old retailer's contract number, the contract holder's name, the address, the
  supply point ID — and reads the judgement; the old retailer reads those items only as the
  addressee of the 廃止取次 (``forwarding_addressee``, not as contract holder) and writes its
  judgement; the area's TSO reads the judgement (the matching result it needs to fix the date).
* P4 (need-to-know, the work-orders issue): the TSO reads a customer's name, address and phone
  only through a work order whose scope holds the point (``work_order``), not as the area's TSO;
  as the area's TSO it writes the supply-point items and the readings and reads them (it is the
  controller of the supply-point items: a correction request routed to it names one).
* The TSO answers for the basic information of remote-island and last-resort customers
  (``basic_controller``): it reads and writes their name, address and phone under P1.
* Interval meter data (30-minute readings) reach the retailer supplying the point under the
  wheeling contract (filed under P4, the TSO's meter reading) and the DR contractor under P5;
  the TSO writes them under P4 and reads back the readings it took (meter reading is its work).
"""

from __future__ import annotations

from datetime import datetime

from jointuse.policy.engine import AccessRequest, Engine, Party, RelationPeriod, Target
from jointuse.policy.loader import default_policy

BASIC = frozenset({"name", "address", "phone", "contract_number"})
SUPPLY_POINT = frozenset(
    {
        "supply_area",
        "remote_island_tariff",
        "supply_point_id",
        "contract_capacity",
        "current_limit",
        "service_menu",
        "power_factor",
        "supply_method",
        "capacity_determination_method",
        "meter_info",
        "lead_in_pole_number",
        "grid_connected_generation",
        "wheeling_change_date",
        "meter_reading_day",
        "contract_state",
        "disconnection_method",
    }
)
NEGAWATT = frozenset({"generation_sold", "demand_procured", "demand_suppressed", "baseline"})
READINGS = frozenset({"interval_readings"})
FORWARDED = frozenset({"name", "address", "contract_number", "supply_point_id"})
JUDGEMENT = frozenset({"forwarding_judgement"})
ALL_ITEMS = BASIC | SUPPLY_POINT | NEGAWATT | READINGS | JUDGEMENT

KINDS = ("retailer", "tso", "occto", "dr_contractor", "platform")
RELATIONS = (
    "contract_holder",
    "applicant",
    "area_tso",
    "dr_resource",
    "switching_operator",
    "forwarding_addressee",
    "basic_controller",
    "work_order",
    "usage_inquiry_consent",
    "retention_due",
    None,
)
PURPOSES = (
    "P1_wheeling",
    "P2_cancellation_forwarding",
    "P3_supply_point_confirmation",
    "P4_tso_operations",
    "P5_negawatt",
    "retail_billing",
    "C1_usage_inquiry",
    "retention_erasure",
)
ACTIONS = ("read", "write")
NONE: frozenset[str] = frozenset()

# (purpose, party kind, relation) → (may read, may write). Anything absent: nothing.
EXPECTED: dict[tuple[str, str, str], tuple[frozenset[str], frozenset[str]]] = {
    # P1 — wheeling contracts
    ("P1_wheeling", "retailer", "contract_holder"): (SUPPLY_POINT | BASIC, BASIC),
    ("P1_wheeling", "retailer", "applicant"): (SUPPLY_POINT | BASIC, BASIC),
    ("P1_wheeling", "tso", "area_tso"): (BASIC, SUPPLY_POINT),
    ("P1_wheeling", "tso", "basic_controller"): (BASIC, frozenset({"name", "address", "phone"})),
    ("P1_wheeling", "occto", "switching_operator"): (
        frozenset({"name", "address", "contract_number"}) | SUPPLY_POINT,
        NONE,
    ),
    # P2 — cancellation forwarding
    ("P2_cancellation_forwarding", "retailer", "applicant"): (JUDGEMENT, FORWARDED),
    ("P2_cancellation_forwarding", "retailer", "forwarding_addressee"): (FORWARDED, JUDGEMENT),
    ("P2_cancellation_forwarding", "tso", "area_tso"): (JUDGEMENT, NONE),
    ("P2_cancellation_forwarding", "occto", "switching_operator"): (FORWARDED | JUDGEMENT, NONE),
    # P3 — supply point confirmation
    ("P3_supply_point_confirmation", "retailer", "applicant"): (SUPPLY_POINT, NONE),
    ("P3_supply_point_confirmation", "dr_contractor", "dr_resource"): (
        frozenset({"supply_area", "supply_point_id", "meter_info", "contract_state"}),
        NONE,
    ),
    ("P3_supply_point_confirmation", "occto", "switching_operator"): (SUPPLY_POINT, NONE),
    # P4 — TSO operations
    ("P4_tso_operations", "tso", "area_tso"): (SUPPLY_POINT | READINGS, SUPPLY_POINT | READINGS),
    ("P4_tso_operations", "tso", "work_order"): (frozenset({"name", "address", "phone"}), NONE),
    # Outside joint use: the retailer bills its own customer (retail_billing, not P4)
    ("retail_billing", "retailer", "contract_holder"): (READINGS, NONE),
    # Outside joint use: provision by the customer's consent (usage inquiry)
    ("C1_usage_inquiry", "retailer", "usage_inquiry_consent"): (READINGS, NONE),
    # Outside joint use: the platform operator (no joint user) erases basic data after retention
    ("retention_erasure", "platform", "retention_due"): (
        NONE,
        frozenset({"name", "address", "phone"}),
    ),
    # P5 — negawatt
    ("P5_negawatt", "dr_contractor", "dr_resource"): (
        NEGAWATT | {"supply_point_id"} | READINGS,
        NEGAWATT,
    ),
    ("P5_negawatt", "retailer", "contract_holder"): (NEGAWATT, NONE),
    ("P5_negawatt", "tso", "area_tso"): (NEGAWATT, NONE),
    ("P5_negawatt", "occto", "switching_operator"): (
        frozenset({"supply_point_id"}) | NEGAWATT,
        NONE,
    ),
}

AT = datetime(2025, 4, 1, 12, 0)
TARGET = Target(
    supply_point_id="0300111122223333444455",
    customer_id="c-1",
    contract_kind="standard",
    retailer_code="retailer-a",
    dr_contractor_code="dr-a",
)


def expected(purpose: str, kind: str, relation: str | None, action: str) -> frozenset[str]:
    if relation is None:
        return NONE
    read, write = EXPECTED.get((purpose, kind, relation), (NONE, NONE))
    return read if action == "read" else write


def request(
    kind: str, relation: str | None, purpose: str, action: str, items: frozenset[str]
) -> AccessRequest:
    relations = () if relation is None else (RelationPeriod(relation, datetime(2024, 1, 1)),)
    return AccessRequest(
        party=Party(f"{kind}-x", kind),
        purpose=purpose,
        action=action,
        target=TARGET,
        at=AT,
        items=items,
        relations=relations,
    )


def test_item_set_matches_the_notice() -> None:
    assert frozenset(it.key for it in default_policy().items) == ALL_ITEMS
    assert len(BASIC | SUPPLY_POINT | NEGAWATT) == 24


def test_matrix_item_by_item() -> None:
    engine = Engine(default_policy())
    mismatches: list[str] = []
    checked = 0
    for kind in KINDS:
        for relation in RELATIONS:
            for purpose in PURPOSES:
                for action in ACTIONS:
                    may = expected(purpose, kind, relation, action)
                    for item in sorted(ALL_ITEMS):
                        d = engine.decide(
                            request(kind, relation, purpose, action, frozenset({item}))
                        )
                        checked += 1
                        want = item in may
                        if d.allowed != want:
                            mismatches.append(
                                f"{purpose} {kind} {relation} {action} {item}: "
                                f"expected {'allow' if want else 'deny'}, got {d.reason}"
                            )
                        elif want and (d.granted != (item,) or d.relation != relation):
                            mismatches.append(f"{purpose} {kind} {relation} {action} {item}: {d}")
                        elif want and d.rule_id is None:
                            mismatches.append(f"{purpose} {kind} {relation} {action}: no rule id")
                        elif not want and d.granted:
                            mismatches.append(
                                f"{purpose} {kind} {relation} {action} {item}: granted"
                            )
    assert checked == len(KINDS) * len(RELATIONS) * len(PURPOSES) * len(ACTIONS) * len(ALL_ITEMS)
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:50])


def test_matrix_whole_rows() -> None:
    """Asking for no items in particular grants exactly the row of the table (or is denied)."""
    engine = Engine(default_policy())
    mismatches: list[str] = []
    for kind in KINDS:
        for relation in RELATIONS:
            for purpose in PURPOSES:
                for action in ACTIONS:
                    may = expected(purpose, kind, relation, action)
                    d = engine.decide(request(kind, relation, purpose, action, NONE))
                    if d.allowed != bool(may) or frozenset(d.granted) != may:
                        mismatches.append(
                            f"{purpose} {kind} {relation} {action}: expected {sorted(may)}, "
                            f"got {d.reason} {sorted(d.granted)}"
                        )
    assert not mismatches, "\n".join(mismatches)


def test_every_expected_row_is_reachable() -> None:
    """Guard against a table that silently allows nothing: each row grants something."""
    assert all(read or write for read, write in EXPECTED.values())
    assert len(EXPECTED) == 21
