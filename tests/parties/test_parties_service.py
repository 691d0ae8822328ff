"""Parties registry service on SQLite and PostgreSQL: register, list, status changes, seeding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound, ValidationError
from jointuse.parties import service
from jointuse.parties.model import Party, PartyKind, PartyStatus
from jointuse.parties.reference import load_reference
from jointuse.parties.tables import party, party_status

T0 = datetime(2024, 4, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def add_retailer(
    db: service.Db, code: str = "r-coop", *, address: str = "", representative: str = ""
) -> None:
    service.add_party(
        db,
        code=code,
        kind="retailer",
        name_ja="コープみらい",
        name_en="Coop Mirai",
        meti_registration="Ａ０１２３",
        address=address,
        representative=representative,
        at=T0,
    )


def test_add_and_get_party_round_trips_all_fields(engine: Engine) -> None:
    added = service.add_party(
        engine,
        code="r-coop",
        kind="retailer",
        name_ja="コープみらい",
        name_en="Coop Mirai",
        meti_registration="Ａ０１２３",
        address=" 東京都中野区中央5-6-2 ",
        representative="理事長 山田太郎",
        at=T0,
    )
    assert added.meti_registration == "A0123"
    record = service.get_party_record(engine, "r-coop")
    assert record.party == added
    assert record.address == "東京都中野区中央5-6-2"
    assert record.representative == "理事長 山田太郎"
    assert record.created_at == T0
    assert record.party.registered_at == T0
    assert record.party.status is PartyStatus.ACTIVE


def test_add_party_validates_through_the_model(engine: Engine) -> None:
    with pytest.raises(ValidationError) as err:
        service.add_party(
            engine, code="r-x", kind="retailer", name_ja="x", name_en="x", at=T0
        )  # a retailer without its METI registration
    assert err.value.field == "meti_registration"
    with pytest.raises(ValidationError) as err:
        service.add_party(engine, code="x", kind="generator", name_ja="x", name_en="x", at=T0)
    assert err.value.field == "kind"
    assert "retailer" in err.value.valid
    with pytest.raises(ValidationError, match="timezone-aware"):
        service.add_party(
            engine,
            code="occ",
            kind="occto",
            name_ja="x",
            name_en="x",
            at=datetime(2024, 1, 1),  # naive
        )
    assert service.list_parties(engine) == []


def test_duplicate_code_is_a_clear_error_and_leaves_the_first(engine: Engine) -> None:
    add_retailer(engine)
    with pytest.raises(service.DuplicateParty) as err:
        service.add_party(
            engine,
            code="r-coop",
            kind="dr_contractor",
            name_ja="別",
            name_en="Other",
            contractor_code="DR1",
            at=T0,
        )
    assert err.value.code == "party_exists"
    assert err.value.status == 409
    assert "r-coop" in err.value.message
    assert service.get_party(engine, "r-coop").kind is PartyKind.RETAILER


def test_duplicate_inside_a_callers_unit_of_work_keeps_it_usable(engine: Engine) -> None:
    add_retailer(engine)
    with UnitOfWork(engine) as uow:
        with pytest.raises(service.DuplicateParty):
            add_retailer(uow, "r-coop")
        service.add_party(
            uow, code="occto", kind="occto", name_ja="広域機関", name_en="OCCTO", at=T0
        )
    assert [p.code for p in service.list_parties(engine)] == ["occto", "r-coop"]


def test_unit_of_work_passed_in_is_rolled_back_with_the_caller(engine: Engine) -> None:
    with pytest.raises(RuntimeError), UnitOfWork(engine) as uow:
        add_retailer(uow)
        assert service.get_party(uow, "r-coop").code == "r-coop"  # visible inside
        raise RuntimeError("caller fails after registering")
    with pytest.raises(NotFound):
        service.get_party(engine, "r-coop")


def test_list_filters_by_kind_and_registration_moment(engine: Engine) -> None:
    add_retailer(engine)
    service.add_party(
        engine,
        code="dr-1",
        kind=PartyKind.DR_CONTRACTOR,
        name_ja="需要抑制1",
        name_en="DR One",
        contractor_code="ＤＲ-001",
        at=day(10),
    )
    service.seed_reference_parties(engine, at=day(20))
    assert len(service.list_parties(engine)) == 13
    assert [p.code for p in service.list_parties(engine, kind="dr_contractor")] == ["dr-1"]
    assert service.list_parties(engine, kind="dr_contractor")[0].contractor_code == "DR-001"
    assert len(service.list_parties(engine, kind=PartyKind.TSO)) == 10
    assert [p.code for p in service.list_parties(engine, at=day(15))] == ["dr-1", "r-coop"]
    assert service.list_parties(engine, at=day(-1)) == []
    with pytest.raises(ValidationError) as err:
        service.list_parties(engine, kind="tsos")
    assert err.value.field == "kind"


def test_get_unknown_party_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="'nobody'"):
        service.get_party(engine, "nobody")
    with pytest.raises(NotFound):
        service.suspend(engine, "nobody", reason="x", at=T0)


def test_seeding_reference_parties_is_idempotent(engine: Engine) -> None:
    first = service.seed_reference_parties(engine, at=T0)
    ref = load_reference()
    assert {p.code for p in first} == {p.code for p in ref.parties}
    assert len(first) == 11
    assert service.seed_reference_parties(engine, at=day(1)) == ()
    stored = service.list_parties(engine)
    assert len(stored) == 11
    tso03 = service.get_party(engine, "tso-03")
    assert tso03.kind is PartyKind.TSO and tso03.area_code == "03"
    assert tso03.registered_at == T0  # the second seeding changed nothing
    occto = [p for p in stored if p.kind is PartyKind.OCCTO]
    assert len(occto) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(party)).scalar_one() == 11
        assert conn.execute(select(func.count()).select_from(party_status)).scalar_one() == 11


def test_seeding_completes_a_partial_registry(engine: Engine) -> None:
    service.add_party(
        engine, code="tso-01", kind="tso", name_ja="北海道", name_en="Hokkaido", area_code="01"
    )
    added = service.seed_reference_parties(engine, at=T0)
    assert len(added) == 10
    assert "tso-01" not in {p.code for p in added}
    assert service.get_party(engine, "tso-01").name_en == "Hokkaido"


def test_suspend_reinstate_deregister_history(engine: Engine) -> None:
    add_retailer(engine)
    suspended = service.suspend(engine, "r-coop", reason="late audit report", at=day(3))
    assert suspended.status is PartyStatus.SUSPENDED
    service.reinstate(engine, "r-coop", at=day(5))
    final = service.deregister(engine, "r-coop", reason="business closed", at=day(9))
    stored = service.get_party(engine, "r-coop")
    assert stored == final
    assert [(p.status, p.valid_from, p.valid_to, p.reason) for p in stored.history] == [
        (PartyStatus.ACTIVE, T0, day(3), None),
        (PartyStatus.SUSPENDED, day(3), day(5), "late audit report"),
        (PartyStatus.ACTIVE, day(5), day(9), None),
        (PartyStatus.DEREGISTERED, day(9), None, "business closed"),
    ]
    assert stored.status_at(day(4)) is PartyStatus.SUSPENDED
    assert stored.status_at(day(6)) is PartyStatus.ACTIVE
    assert stored.status_at(day(100)) is PartyStatus.DEREGISTERED


def test_illegal_transitions_name_current_status_and_valid_next(engine: Engine) -> None:
    add_retailer(engine)
    with pytest.raises(ValidationError) as err:
        service.reinstate(engine, "r-coop", at=day(1))
    assert "from active to active" in err.value.message
    assert err.value.valid == ["deregistered", "suspended"]
    service.deregister(engine, "r-coop", reason="closed", at=day(2))
    changes: list[Callable[[], Party]] = [
        lambda: service.reinstate(engine, "r-coop", at=day(3)),
        lambda: service.suspend(engine, "r-coop", reason="x", at=day(3)),
        lambda: service.deregister(engine, "r-coop", reason="again", at=day(3)),
    ]
    for change in changes:
        with pytest.raises(ValidationError) as err:
            change()
        assert "from deregistered" in err.value.message
        assert "none (final)" in err.value.message
    assert len(service.get_party(engine, "r-coop").history) == 2


def test_status_change_must_follow_the_current_period(engine: Engine) -> None:
    add_retailer(engine)
    service.suspend(engine, "r-coop", reason="x", at=day(5))
    with pytest.raises(ValidationError) as err:
        service.reinstate(engine, "r-coop", at=day(4))
    assert err.value.field == "at"
    assert service.get_party(engine, "r-coop").status is PartyStatus.SUSPENDED


@pytest.mark.parametrize("reason", ["", "   "])
def test_suspend_and_deregister_need_a_reason(engine: Engine, reason: str) -> None:
    add_retailer(engine)
    with pytest.raises(ValidationError) as err:
        service.suspend(engine, "r-coop", reason=reason, at=day(1))
    assert err.value.field == "reason"
    with pytest.raises(ValidationError):
        service.deregister(engine, "r-coop", reason=reason, at=day(1))
    assert service.get_party(engine, "r-coop").status is PartyStatus.ACTIVE


def test_default_moment_is_now(engine: Engine) -> None:
    before = datetime.now(UTC)
    service.add_party(engine, code="occto", kind="occto", name_ja="広域機関", name_en="OCCTO")
    after = datetime.now(UTC)
    registered = service.get_party(engine, "occto").registered_at
    assert before <= registered <= after


def test_public_view_has_public_fields_only(engine: Engine) -> None:
    add_retailer(engine, address="東京都", representative="山田")
    service.issue_token(engine, "r-coop", at=T0)
    service.suspend(engine, "r-coop", reason="x", at=day(2))
    p = service.get_party(engine, "r-coop")
    view = service.public_view(p)
    assert view == {
        "code": "r-coop",
        "kind": "retailer",
        "name_ja": "コープみらい",
        "name_en": "Coop Mirai",
        "meti_registration": "A0123",
        "contractor_code": None,
        "area_code": None,
        "status": "suspended",
    }
    assert service.public_view(p, at=day(1))["status"] == "active"


MY_TABLES = {"party", "party_status", "api_token", "client_certificate"}


def _table_names(url: str) -> set[str]:
    from sqlalchemy import inspect

    from jointuse.core.db import make_engine

    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        eng.dispose()


def test_migration_0002_up_and_down(empty_database_url: str) -> None:
    from jointuse.core.db import current_revisions, make_engine, upgrade

    eng = make_engine(empty_database_url)
    try:
        upgrade(eng, "0002_parties")
        assert current_revisions(eng) == ("0002_parties",)
        assert _table_names(empty_database_url) >= MY_TABLES
        from alembic import command

        from jointuse.core.db import alembic_config

        with eng.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0001_ledger")
        assert current_revisions(eng) == ("0001_ledger",)
        assert not MY_TABLES & _table_names(empty_database_url)
    finally:
        eng.dispose()


def test_tables_module_matches_the_migration(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import jointuse.parties.tables  # noqa: F401  (registers the tables on the metadata)
    from jointuse.core.db import metadata

    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )

    def table_of(change: Any) -> str:
        if isinstance(change, list):  # modify_* changes of one column come grouped
            change = change[0]
        op, obj = change[0], change[1]
        if op in ("add_table", "remove_table"):
            return str(obj.name)
        if op.endswith(("_index", "_constraint", "_fk")):
            return str(obj.table.name)
        return str(change[2])  # add_column / remove_column / modify_*: (op, schema, table, …)

    assert [d for d in diff if table_of(d) in MY_TABLES] == []
