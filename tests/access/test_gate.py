"""The gate's own guarantees, on SQLite and PostgreSQL: a denial is committed to the ledger
although the use case fails, uncommitted changes of a denied unit of work are undone while the
entries of reads already allowed stay, a failing change leaves no entry, and the extension points
(relation providers, loaders) work with real providers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, event, func, select

from jointuse.access.gate import LoadContext, NoLoader, PolicyDenied
from jointuse.assembly import UNLOADED, default_gate
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import InvalidSupplyPointId, ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.customers import repository, service
from jointuse.customers.model import JST, ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.customers.relations import RelationContext, TargetRef, relations_at, target_facts
from jointuse.customers.tables import customer as customer_table
from jointuse.flows.filing import SwitchFiling, file_switch
from jointuse.ledger.service import LedgerRecord, find_entries
from jointuse.policy.engine import AccessRequest, Party, PartyStatus, RelationPeriod
from seeding import open_work_order, seed_contract

GATE = default_gate()

UowFactory = Callable[..., UnitOfWork]

A = "03" + "4" * 20
TSO03 = Party("tso-03", "tso")
RETAILER = Party("r-one", "retailer")
DR = Party("dr-one", "dr_contractor")
AT = datetime(2024, 6, 1, 12, tzinfo=JST)


def _customer(customer_id: str) -> Customer:
    return Customer.create(
        customer_id=customer_id,
        name="田中 三郎",
        name_kana="タナカ サブロウ",
        postal_code="150-0001",
        prefecture="東京都",
        address_rest="渋谷区神宮前1-1",
        phone="03-2222-3333",
        membership="non_member",
    )


def _seed(uow: UowFactory) -> None:
    point = SupplyPoint(
        supply_point_id=SupplyPointId(A),
        supply_area="03",
        service_menu="lv_metered_lighting_b",
        supply_method="single_phase_3_wire",
        capacity_determination_method="ampere_breaker",
        contract_state="active",
    )
    with uow() as u:
        service.save_supply_point(
            u, gate=GATE, actor=TSO03, point=point, request_id="seed-p", at=AT
        )
    with uow() as u:
        seed_contract(
            u,
            _customer("c-1"),
            RetailContract(
                "K-1", ContractKind.STANDARD, "r-one", "c-1", SupplyPointId(A), date(2024, 1, 1)
            ),
            at=datetime(2024, 1, 1, tzinfo=JST),
        )
    # A meter-reading round of tso-03 holding A around AT: it opens A's contact data (P4).
    open_work_order(uow, "tso-03", [A], starts=datetime(2024, 5, 15, tzinfo=JST))


def _switch_by_r_two(uow: UowFactory) -> str:
    """r-two files a switch of A (it becomes A's applicant; OCCTO relays it); the flow's ID."""
    with uow() as u:
        filed = file_switch(
            u,
            gate=GATE,
            actor=Party("r-two", "retailer"),
            filing=SwitchFiling(
                supply_point_id=A,
                customer=_customer("c-9"),
                new_contract_number="R2-9",
                old_contract_number="K-1",
            ),
            request_id="switch",
            at=AT,
        )
    return filed.flow.id


def _entries(uow: UowFactory) -> list[LedgerRecord]:
    with uow() as u:
        return list(reversed(find_entries(u.session)))


@pytest.fixture
def seeded(uow: UowFactory) -> UowFactory:
    _seed(uow)
    return uow


def test_denial_commits_alone_undoing_changes_but_keeping_allowed_reads(
    seeded: UowFactory, engine: Engine
) -> None:
    gate = GATE
    before = len(_entries(seeded))
    with pytest.raises(PolicyDenied), seeded() as u:
        # An allowed read (its entry must survive), an uncommitted change (must not) ...
        gate.read(
            u,
            actor=TSO03,
            purpose="P4_tso_operations",
            target=TargetRef(A),
            items=frozenset({"name"}),
            request_id="r-1",
            at=AT,
        )
        repository.insert_customer(
            u.connection, _customer("c-ghost"), created_by="x", created_at=AT
        )
        # ... then a denial in the same unit of work.
        gate.read(
            u,
            actor=TSO03,
            purpose="P3_supply_point_confirmation",
            target=TargetRef(A),
            items=None,
            request_id="r-2",
            at=AT,
        )
    after = _entries(seeded)[before:]
    assert [(r.entry.request_id, r.entry.decision) for r in after] == [
        ("r-1", "allowed"),
        ("r-2", "denied"),
    ]
    assert after[1].entry.items_refused[0].reason == "no_rule"
    # Each entry carries the moment the gate recorded it: the read's keeps the time of the read.
    read_at, denied_at = after[0].entry.recorded_at, after[1].entry.recorded_at
    assert read_at is not None and denied_at is not None and read_at <= denied_at
    with engine.connect() as conn:
        ghosts = select(func.count()).where(customer_table.c.id == "c-ghost")
        assert conn.execute(ghosts).scalar_one() == 0


def test_caller_may_catch_a_denial_and_carry_on(seeded: UowFactory) -> None:
    gate = GATE
    with seeded() as u:
        with pytest.raises(PolicyDenied):
            gate.read(
                u,
                actor=RETAILER,
                purpose="P9_marketing",
                target=TargetRef(A),
                items=None,
                request_id="bad-purpose",
                at=AT,
            )
        got = gate.read(
            u,
            actor=RETAILER,
            purpose="P1_wheeling",
            target=TargetRef(A),
            items=frozenset({"phone", "contract_number"}),
            request_id="good",
            at=AT,
        )
    assert got.data == {"phone": "0322223333", "contract_number": "K-1"}
    by_id = {r.entry.request_id: r.entry for r in _entries(seeded)}
    assert by_id["bad-purpose"].purpose == "P9_marketing"
    assert by_id["bad-purpose"].items_refused[0].reason == "purpose_unknown"
    assert by_id["good"].items_granted == ("contract_number", "phone")  # canonical: sorted


def test_unknown_purpose_carries_the_valid_purposes(seeded: UowFactory) -> None:
    with pytest.raises(PolicyDenied) as caught, seeded() as u:
        service.read_basic(
            u,
            gate=GATE,
            actor=RETAILER,
            purpose="marketing\x00",
            request_id="x",
            at=AT,
            customer_id="c-1",
        )
    details = caught.value.to_dict()
    assert details["code"] == "access_denied" and details["reason"] == "purpose_unknown"
    assert len(details["valid_purposes"]) == 8  # the five of joint use and three outside it
    (record,) = [r for r in _entries(seeded) if r.entry.request_id == "x"]
    assert record.entry.purpose == "marketing?"


def test_failing_change_leaves_no_entry(seeded: UowFactory) -> None:
    before = len(_entries(seeded))

    def change(ctx: RelationContext) -> dict[str, object]:
        repository.insert_customer(ctx.conn, _customer("c-2"), created_by="r-one", created_at=AT)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"), seeded() as u:
        GATE.write(
            u,
            actor=RETAILER,
            purpose="P1_wheeling",
            target=TargetRef(A, "c-1"),
            items=frozenset({"phone"}),
            request_id="w",
            at=AT,
            change=change,
        )
    assert len(_entries(seeded)) == before


def test_read_only_unit_of_work_is_refused(seeded: UowFactory) -> None:
    with pytest.raises(RuntimeError, match="read-write"), seeded(read_only=True) as u:
        service.tso_customer_lookup(
            u, gate=GATE, actor=TSO03, supply_point_id=A, request_id="ro", at=AT
        )


def test_allowed_category_without_loader_is_refused_on_the_ledger(seeded: UowFactory) -> None:
    """A category the installation holds no data of (assembled ``unloaded``): 501, not 500, and
    the refusal is recorded item by item with reason ``not_available``. (Here: a gate without
    the negawatt area's loader of stored settlement results.)"""
    from jointuse.access.gate import Gate

    loaders = {k: v for k, v in GATE.loaders.items() if k != "negawatt"}
    gate = Gate(
        GATE.policy, relations=GATE.relations, loaders=loaders, target_facts=GATE.target_facts
    )
    before = len(_entries(seeded))
    with pytest.raises(NoLoader, match="negawatt") as caught, seeded() as u:
        gate.read(
            u,
            actor=RETAILER,
            purpose="P5_negawatt",
            target=TargetRef(A),
            items=None,
            request_id="nw",
            at=AT,
        )
    assert caught.value.status == 501
    entries = _entries(seeded)
    assert len(entries) == before + 1
    last = entries[-1].entry
    assert (last.decision, last.rule_id, last.request_id) == ("denied", "P5-retailer", "nw")
    assert {(r.item, r.reason) for r in last.items_refused} == {
        (item, "not_available")
        for item in ("generation_sold", "demand_procured", "demand_suppressed", "baseline")
    }


def test_assembly_refuses_a_policy_the_areas_cannot_serve() -> None:
    from dataclasses import replace

    from jointuse.access.gate import Gate, wiring_gaps
    from jointuse.assembly import area_parts
    from jointuse.core.errors import ConfigError

    parts = [
        replace(p, loaders={k: v for k, v in p.loaders.items() if k != "negawatt"})
        for p in area_parts()
    ]
    with pytest.raises(ConfigError, match="no loader reads category 'negawatt'"):
        Gate.assemble(GATE.policy, parts, unloaded={"switching_messages"})
    assert wiring_gaps(GATE.policy, GATE.relations, GATE.loaders, unloaded=UNLOADED) == []


def dr_resources(ctx: RelationContext) -> Iterable[RelationPeriod]:
    """A real provider of the kind the negawatt area will register (here: one fixed resource)."""
    party, target = ctx.party, ctx.target
    if party.kind == "dr_contractor" and party.code == "dr-one" and target.supply_point_id == A:
        return (RelationPeriod("dr_resource", datetime(2024, 5, 1, tzinfo=UTC)),)
    return ()


def test_dr_resource_plugs_in_as_a_relation_provider(seeded: UowFactory) -> None:
    with pytest.raises(PolicyDenied) as caught, seeded() as u:
        service.supply_point_inquiry(
            u, gate=GATE, actor=DR, supply_point_id=A, request_id="dr-0", at=AT
        )
    assert caught.value.details["reason"] == "relation_missing"
    base = GATE
    gate = base.with_relations(base.relations.with_provider("dr_resource", dr_resources))
    with seeded() as u:
        got = service.supply_point_inquiry(
            u, actor=DR, supply_point_id=A, request_id="dr-1", at=AT, gate=gate
        )
    assert set(got.data) == {"supply_area", "supply_point_id", "meter_info", "contract_state"}
    assert got.decision.rule_id == "P3-dr-contractor"


def test_loader_extension_and_relations_at(seeded: UowFactory) -> None:
    def negawatt(ctx: LoadContext) -> dict[str, object]:
        return {item: f"{item}@{ctx.relations.target.supply_point_id}" for item in ctx.items}

    gate = GATE.with_loader("negawatt", negawatt)
    with seeded() as u:
        rels = relations_at(GATE.relations, u.connection, RETAILER, TargetRef(A), AT)
        got = gate.read(
            u,
            actor=RETAILER,
            purpose="P5_negawatt",
            target=TargetRef(A),
            items=frozenset({"baseline"}),
            request_id="nw-ok",
            at=AT,
        )
    assert [r.relation for r in rels] == ["contract_holder"]
    assert got.data == {"baseline": f"baseline@{A}"}


def test_target_needs_a_point_or_a_customer() -> None:
    with pytest.raises(ValidationError, match="supply point and/or the customer"):
        TargetRef()
    with pytest.raises(InvalidSupplyPointId):
        TargetRef("03-1234")
    assert TargetRef("０３" + "４" * 20).supply_point_id == A


def test_one_gate_read_costs_a_few_indexed_statements(seeded: UowFactory, engine: Engine) -> None:
    """Counted, not timed: relations + load + one ledger insert, no per-item queries."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement.split()[0].upper() + " " + statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with seeded() as u:
            service.tso_customer_lookup(
                u, gate=GATE, actor=TSO03, supply_point_id=A, request_id="n1", at=AT
            )
        tso = list(statements)
        statements.clear()
        with seeded() as u:
            service.read_basic(
                u,
                gate=GATE,
                actor=RETAILER,
                purpose="P1_wheeling",
                request_id="n2",
                at=AT,
                supply_point_id=A,
            )
        retailer = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # TSO: the orders holding the point and the one it holds (by key), the contracts of the
    # point, the customer, the subjects' pseudonym keys (one lookup), the ledger insert.
    assert len(tso) == 6 and sum(s.startswith("INSERT") for s in tso) == 1
    assert "ledger_subject_key" in tso[-2]
    assert "work_order_point" in tso[0] and "work_order" in tso[1]
    # Retailer: contracts, applications, supply point, customer, the subjects' keys, the ledger
    # insert.
    assert len(retailer) == 6 and "access_ledger" in retailer[-1]


def _counting(engine: Engine) -> tuple[list[str], Callable[..., None]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement)

    return statements, record


def test_p3_inquiry_queries_only_what_the_decision_can_use(
    seeded: UowFactory, engine: Engine
) -> None:
    """A retailer's P3 inquiry: the point's flows (``applicant`` is the one relation P3 lets a
    retailer use), the point, the ledger insert — no contracts (neither a P3 relation nor a fact
    the supply-point controller needs). OCCTO's is the same three: it relays the switch."""
    applicant = Party("r-two", "retailer")
    _switch_by_r_two(seeded)
    statements, record = _counting(engine)
    event.listen(engine, "before_cursor_execute", record)
    try:
        with seeded() as u:
            got = service.supply_point_inquiry(
                u, gate=GATE, actor=applicant, supply_point_id=A, request_id="p3", at=AT
            )
        retailer = list(statements)
        statements.clear()
        with seeded() as u:
            service.supply_point_inquiry(
                u,
                gate=GATE,
                actor=Party("occto", "occto"),
                supply_point_id=A,
                request_id="p3o",
                at=AT,
            )
        occto = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert got.decision.relation == "applicant" and got.data["supply_point_id"] == A
    for statements_of in (retailer, occto):
        assert len(statements_of) == 4, statements_of
        assert "market_flow" in statements_of[0] and "supply_point" in statements_of[1]
        assert "ledger_subject_key" in statements_of[2]  # the point's pseudonym key
        assert "access_ledger" in statements_of[3]
        assert not any("retail_contract" in s for s in statements_of)


PURPOSES = (
    None,
    "P1_wheeling",
    "P2_cancellation_forwarding",
    "P3_supply_point_confirmation",
    "P4_tso_operations",
    "P5_negawatt",
    "P9_marketing",
)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_gate_decides_as_the_engine_given_every_relation_and_fact(
    seeded: UowFactory, purpose: str | None
) -> None:
    """Computing only the relations the slot's rules accept, and the contract facts only when a
    controller needs them, changes no decision: each equals the engine's decision on every
    relation and the full target facts (controllers, messages, refusals, windows included)."""
    _switch_by_r_two(seeded)
    gate = GATE
    actors = (
        TSO03,
        Party("tso-04", "tso"),
        RETAILER,
        Party("r-two", "retailer"),
        Party("occto", "occto"),
        DR,
        Party("r-one", "retailer", PartyStatus.SUSPENDED),
    )
    targets = (TargetRef(A), TargetRef(A, "c-1"), TargetRef(customer_id="c-1"))
    asked = (None, frozenset({"name"}), frozenset({"supply_area", "meter_info"}))
    compared = 0
    with seeded() as u:
        for actor in actors:
            for target in targets:
                for items in asked:
                    for action in ("read", "write"):
                        _, got = gate._decide(u, actor, purpose, action, target, items, AT, ())
                        ctx = RelationContext(u.connection, actor, target, AT)
                        full = AccessRequest(
                            party=actor,
                            purpose=purpose,
                            action=action,
                            target=target_facts(ctx),
                            at=AT,
                            items=items or frozenset(),
                            relations=relations_at(GATE.relations, u.connection, actor, target, AT),
                        )
                        expected = gate.engine.decide(full)
                        assert got == expected, (actor, target, items, action)
                        compared += 1
    assert compared == len(actors) * len(targets) * len(asked) * 2
