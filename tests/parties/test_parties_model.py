from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.errors import ValidationError
from jointuse.parties.model import (
    ALLOWED_TRANSITIONS,
    Party,
    PartyKind,
    PartyStatus,
    StatusPeriod,
    reference_parties,
)

JST = timezone(timedelta(hours=9))
T0 = datetime(2024, 4, 1, tzinfo=JST)


def retailer(at: datetime = T0) -> Party:
    return Party.register(
        code="r-coop",
        kind="retailer",
        name_ja="生活協同組合コープみらい",
        name_en="Coop Mirai",
        meti_registration="Ａ０１２３",
        at=at,
    )


def test_register_normalises_and_starts_active() -> None:
    party = retailer()
    assert party.kind is PartyKind.RETAILER
    assert party.meti_registration == "A0123"
    assert party.registration == "A0123"
    assert party.status is PartyStatus.ACTIVE
    assert party.status_at(T0) is PartyStatus.ACTIVE


@pytest.mark.parametrize(
    ("kind", "extra", "field"),
    [
        ("retailer", {}, "meti_registration"),
        ("dr_contractor", {}, "contractor_code"),
        ("tso", {}, "area_code"),
        ("occto", {"area_code": "03"}, "area_code"),
        ("retailer", {"meti_registration": "A0001", "contractor_code": "X1"}, "contractor_code"),
        ("retailer", {"meti_registration": "B0001"}, "meti_registration"),
        ("retailer", {"meti_registration": "A001"}, "meti_registration"),
        ("tso", {"area_code": "11"}, "area_code"),
        ("dr_contractor", {"contractor_code": "須要"}, "contractor_code"),
        ("bank", {}, "kind"),
    ],
)
def test_registration_rules(kind: str, extra: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Party.register(code="p1", kind=kind, name_ja="名", name_en="Name", at=T0, **extra)
    assert info.value.field == field


def test_valid_kinds() -> None:
    tso = Party.register(
        code="tso-x", kind="tso", name_ja="送配電", name_en="T", at=T0, area_code="０３"
    )
    assert tso.area_code == "03"
    dr = Party.register(
        code="dr-1",
        kind=PartyKind.DR_CONTRACTOR,
        name_ja="需要抑制",
        name_en="DR",
        at=T0,
        contractor_code=" DR-0001 ",
    )
    assert dr.contractor_code == "DR-0001"
    occto = Party.register(code="occto", kind="occto", name_ja="広域機関", name_en="O", at=T0)
    assert occto.registration is None


@pytest.mark.parametrize("code", ["", "Tso-03", "tso 03", "-x", "x" * 65, "組合"])
def test_party_code_is_validated(code: str) -> None:
    with pytest.raises(ValidationError) as info:
        Party.register(code=code, kind="occto", name_ja="a", name_en="b", at=T0)
    assert info.value.field == "code"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        retailer(at=datetime(2024, 4, 1))
    with pytest.raises(ValidationError, match="timezone-aware"):
        retailer().status_at(datetime(2024, 4, 1))


def test_transitions_and_status_at() -> None:
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (10, 20, 30))
    party = (
        retailer()
        .set_status(PartyStatus.SUSPENDED, at=t1, reason="licence review")
        .set_status(PartyStatus.ACTIVE, at=t2)
        .set_status(PartyStatus.DEREGISTERED, at=t3, reason="business ended")
    )
    assert party.status_at(T0) is PartyStatus.ACTIVE
    assert party.status_at(t1 - timedelta(microseconds=1)) is PartyStatus.ACTIVE
    assert party.status_at(t1) is PartyStatus.SUSPENDED
    assert party.status_at(t2) is PartyStatus.ACTIVE
    assert party.status_at(t3 + timedelta(days=999)) is PartyStatus.DEREGISTERED
    assert party.history[1].reason == "licence review"
    assert not party.is_active_at(t1)
    assert party.is_active_at(t2)
    # the same instant in another time zone gives the same answer
    assert party.status_at(t1.astimezone(UTC)) is PartyStatus.SUSPENDED
    with pytest.raises(ValidationError, match="not registered"):
        party.status_at(T0 - timedelta(seconds=1))
    assert not party.is_active_at(T0 - timedelta(seconds=1))


def test_deregistered_is_final_and_history_is_not_rewritten() -> None:
    gone = retailer().set_status(PartyStatus.DEREGISTERED, at=T0 + timedelta(days=1))
    for status in PartyStatus:
        with pytest.raises(ValidationError, match="final"):
            gone.set_status(status, at=T0 + timedelta(days=2))
    with pytest.raises(ValidationError) as info:
        retailer().set_status(PartyStatus.ACTIVE, at=T0 + timedelta(days=1))
    assert info.value.valid == ["deregistered", "suspended"]
    with pytest.raises(ValidationError, match="after the current period"):
        retailer().set_status(PartyStatus.SUSPENDED, at=T0)


@given(st.lists(st.sampled_from(list(PartyStatus)), max_size=8))
def test_transition_table_is_the_guard(steps: list[PartyStatus]) -> None:
    party = retailer()
    for day, new in enumerate(steps, start=1):
        at = T0 + timedelta(days=day)
        before = party.status
        if new in ALLOWED_TRANSITIONS[before]:
            party = party.set_status(new, at=at)
            assert party.status is new
            assert party.status_at(at) is new
            assert party.status_at(at - timedelta(microseconds=1)) is before
        else:
            with pytest.raises(ValidationError):
                party.set_status(new, at=at)
    # every recorded step is allowed and periods are contiguous
    for a, b in zip(party.history, party.history[1:], strict=False):
        assert b.status in ALLOWED_TRANSITIONS[a.status]
        assert a.valid_to == b.valid_from


def test_constructor_refuses_bad_history() -> None:
    t1 = T0 + timedelta(days=1)
    with pytest.raises(ValidationError, match="contiguous"):
        Party(
            code="occto",
            kind=PartyKind.OCCTO,
            name_ja="a",
            name_en="b",
            history=(
                StatusPeriod(PartyStatus.ACTIVE, T0, t1),
                StatusPeriod(PartyStatus.SUSPENDED, t1 + timedelta(hours=1)),
            ),
        )
    with pytest.raises(ValidationError, match="forbidden transition"):
        Party(
            code="occto",
            kind=PartyKind.OCCTO,
            name_ja="a",
            name_en="b",
            history=(
                StatusPeriod(PartyStatus.DEREGISTERED, T0, t1),
                StatusPeriod(PartyStatus.ACTIVE, t1),
            ),
        )
    with pytest.raises(ValidationError, match="before or when"):
        StatusPeriod(PartyStatus.ACTIVE, t1, T0)
    with pytest.raises(ValidationError, match="needs a status history"):
        Party(code="occto", kind=PartyKind.OCCTO, name_ja="a", name_en="b", history=())


def test_reference_parties() -> None:
    parties = reference_parties(T0)
    tsos = [p for p in parties if p.kind is PartyKind.TSO]
    assert len(tsos) == 10
    assert {p.area_code for p in tsos} == {f"{n:02d}" for n in range(1, 11)}
    assert next(p for p in tsos if p.code == "tso-04").area_code == "04"
    assert [p.code for p in parties if p.kind is PartyKind.OCCTO] == ["occto"]
