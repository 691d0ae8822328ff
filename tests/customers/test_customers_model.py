from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.core.valuesets import load_valueset
from jointuse.customers.model import (
    BASIC_ITEM_KEYS,
    SUPPLY_POINT_ITEM_KEYS,
    ContractCapacity,
    ContractKind,
    Customer,
    Membership,
    MeterInfo,
    PhoneNumber,
    PostalCode,
    RetailContract,
    SupplyPoint,
    normalise_kana,
)

SPID = SupplyPointId.parse("03 1234 5678 9012 3456 7890")
HYPHENS = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d", "ー", "ｰ"]


def _policy_items(category: str) -> list[str]:
    text = (resources.files("jointuse") / "data" / "policy.toml").read_text("utf-8")
    return [i["key"] for i in tomllib.loads(text)["item"] if i["category"] == category]


def customer(**overrides: str) -> Customer:
    fields = {
        "customer_id": "c-0001",
        "name": " 山田　 太郎 ",
        "name_kana": "やまだ ﾀﾛｳ",
        "postal_code": "〒１００－０００１",
        "prefecture": "東京都",
        "address_rest": "千代田区千代田１－１",
        "phone": "０３ー１２３４ー５６７８",
        "membership": "member",
    }
    fields.update(overrides)
    return Customer.create(**fields)  # type: ignore[arg-type]


def supply_point(**overrides: object) -> SupplyPoint:
    fields: dict[str, object] = {
        "supply_point_id": SPID,
        "supply_area": "03",
        "service_menu": "lv_metered_lighting_b",
        "supply_method": "single_phase_3_wire",
        "capacity_determination_method": "ampere_breaker",
        "contract_state": "active",
        "contract_capacity": ContractCapacity.parse("３０", "A"),
        "current_limit": 30,
        "power_factor": 85,
        "meter_info": MeterInfo("M-0001"),
        "lead_in_pole_number": "P-12",
        "wheeling_change_date": date(2024, 4, 1),
        "meter_reading_day": 15,
    }
    fields.update(overrides)
    return SupplyPoint(**fields)  # type: ignore[arg-type]


def test_customer_normalisation_from_full_width_input() -> None:
    c = customer()
    assert c.name == "山田\u3000太郎"
    assert c.name_kana == "ヤマダ\u3000タロウ"
    assert c.address.postal_code.value == "100-0001"
    assert c.address.rest == "千代田区千代田1-1"
    assert c.phone.national == "0312345678"
    assert c.phone.e164() == "+81312345678"
    assert c.is_member
    assert str(c.address) == "〒100-0001 東京都千代田区千代田1-1"


def test_basic_items_keys_match_policy() -> None:
    items = customer().basic_items("ＣＮ-001")
    assert tuple(items) == BASIC_ITEM_KEYS
    assert list(items) == _policy_items("basic")
    assert items["contract_number"] == "CN-001"
    assert items["name"] == {"kanji": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ"}
    assert items["phone"] == "0312345678"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ヤマダ タロウ", "ヤマダ\u3000タロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ\u3000タロウ"),  # half-width with voiced mark
        ("ｶﾞｯｺｳ", "ガッコウ"),
        ("すずき　はなこ", "スズキ\u3000ハナコ"),
        ("ゔぃーな", "ヴィーナ"),
        ("コーポ・ミライ", "コーポ・ミライ"),
    ],
)
def test_kana_normalisation(text: str, expected: str) -> None:
    assert normalise_kana(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [("山田", "'山' (U+5C71) at position 1"), ("ヤマダ1", "position 4"), ("  ", "empty")],
)
def test_kana_refusals(text: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_kana(text)
    assert info.value.field == "name_kana"
    assert needle in info.value.message


@given(st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x3096), min_size=1))
def test_any_hiragana_becomes_katakana(text: str) -> None:
    reading = normalise_kana(text)
    assert all(0x30A1 <= ord(c) <= 0x30FA for c in reading)
    assert normalise_kana(reading) == reading


@pytest.mark.parametrize(
    "text", ["1000001", "100-0001", "〒100-0001", "１００ー０００１", " 100 0001"]
)
def test_postal_code(text: str) -> None:
    assert PostalCode.parse(text).value == "100-0001"


@pytest.mark.parametrize(
    ("text", "needle"), [("100-001", "6 digits"), ("10O-0001", "position 3"), ("", "0 digits")]
)
def test_postal_code_refusals(text: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        PostalCode.parse(text)
    assert info.value.field == "postal_code"
    assert needle in info.value.message


@pytest.mark.parametrize(
    ("text", "national"),
    [
        ("03-1234-5678", "0312345678"),
        ("03(1234)5678", "0312345678"),
        ("０９０ー１２３４ー５６７８", "09012345678"),
        ("+81 90-1234-5678", "09012345678"),
        ("＋８１(0)3 1234 5678", "0312345678"),
        ("0120\u2212123\u2212456", "0120123456"),
    ],
)
def test_phone(text: str, national: str) -> None:
    assert PhoneNumber.parse(text).national == national


@given(
    st.sampled_from(["03", "090", "0120", "0466"]),
    st.integers(min_value=0, max_value=10**6),
    st.lists(st.sampled_from([*HYPHENS, " ", "\u3000"]), min_size=3, max_size=3),
    st.booleans(),
)
def test_phone_with_any_separators_and_widths(
    head: str, n: int, seps: list[str], wide: bool
) -> None:
    national = (head + f"{n:07d}")[:10].ljust(10, "0")
    typed = seps[0].join([national[:3], national[3:6]]) + seps[1] + national[6:]
    if wide:
        typed = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in typed)
    assert PhoneNumber.parse(typed).national == national


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("03-1234-567", "9 digits"),
        ("+1 212 555 0100", "+81"),
        ("03-1234-5678 内線12", "position 14"),
        ("0012345678", "not a Japanese number"),
    ],
)
def test_phone_refusals(text: str, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        PhoneNumber.parse(text)
    assert info.value.field == "phone"
    assert needle in info.value.message


def test_customer_refusals() -> None:
    with pytest.raises(ValidationError) as info:
        customer(prefecture="東京")
    assert info.value.field == "prefecture"
    with pytest.raises(ValidationError) as info:
        customer(membership="associate")
    assert info.value.valid == ["member", "non_member"]
    assert customer(membership="non_member").membership is Membership.NON_MEMBER
    with pytest.raises(ValidationError) as info:
        customer(name="   ")
    assert info.value.field == "name"


def test_supply_point_items_are_the_sixteen_of_the_policy() -> None:
    sp = supply_point()
    items = sp.items()
    assert len(items) == 16
    assert tuple(items) == SUPPLY_POINT_ITEM_KEYS
    assert list(items) == _policy_items("supply_point")
    assert items["supply_point_id"] == "0312345678901234567890"
    assert items["contract_capacity"] == {"value": "30", "unit": "A"}
    assert items["wheeling_change_date"] == "2024-04-01"
    assert items["meter_info"] == {"meter_number": "M-0001", "smart_meter": True, "multiplier": 1}
    assert sp.tso_code == "tso-03"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"service_menu": "従量電灯Z"}, "service_menu"),
        ({"supply_method": "two_phase"}, "supply_method"),
        ({"capacity_determination_method": "guess"}, "capacity_determination_method"),
        ({"contract_state": "sleeping"}, "contract_state"),
        ({"supply_area": "04"}, "supply_area"),
        ({"supply_area": "99"}, "supply_area"),
        ({"disconnection_method": "meter_removal"}, "disconnection_method"),
        ({"contract_state": "terminated", "disconnection_method": "burn"}, "disconnection_method"),
        ({"power_factor": 120}, "power_factor"),
        ({"meter_reading_day": 0}, "meter_reading_day"),
        ({"current_limit": True}, "current_limit"),
        ({"remote_island_tariff": "yes"}, "remote_island_tariff"),
        ({"supply_point_id": "0312345678901234567890"}, "supply_point_id"),
    ],
)
def test_supply_point_refusals(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        supply_point(**overrides)
    assert info.value.field == field


def test_unknown_service_menu_lists_valid_codes() -> None:
    with pytest.raises(ValidationError) as info:
        supply_point(service_menu="従量電灯Z")
    assert info.value.valid == list(load_valueset("service_menu").codes())
    assert "service_menu" in info.value.message and "lv_power" in info.value.message


def test_terminated_point_with_disconnection_method() -> None:
    sp = supply_point(contract_state="terminated", disconnection_method="meter_removal")
    assert sp.items()["disconnection_method"] == "meter_removal"


def test_contract_capacity() -> None:
    assert ContractCapacity.parse("６", "kVA").value == Decimal(6)
    with pytest.raises(ValidationError):
        ContractCapacity.parse("0", "A")
    with pytest.raises(ValidationError):
        ContractCapacity.parse("abc", "A")
    with pytest.raises(ValidationError):
        ContractCapacity.parse("30", "W")


def test_contract_kinds_match_value_set() -> None:
    assert [k.value for k in ContractKind] == list(load_valueset("contract_kind").codes())


def test_retail_contract() -> None:
    contract = RetailContract(
        contract_number="CN-001",
        kind=ContractKind.STANDARD,
        retailer_code="r-coop",
        customer_id="c-0001",
        supply_point_id=SPID,
        valid_from=date(2024, 4, 1),
        valid_to=date(2025, 4, 1),
    )
    assert contract.basic_controller_kind == "retailer"
    assert replace(contract, kind=ContractKind.REMOTE_ISLAND).basic_controller_kind == "tso"
    assert replace(contract, kind=ContractKind.LAST_RESORT).basic_controller_kind == "tso"
    assert contract.active_on(date(2024, 4, 1))
    assert not contract.active_on(date(2025, 4, 1))
    # 2024-03-31 15:00 UTC is 2024-04-01 00:00 JST
    assert contract.covers(datetime(2024, 3, 31, 15, 0, tzinfo=UTC))
    assert not contract.covers(datetime(2024, 3, 31, 14, 59, tzinfo=UTC))
    with pytest.raises(ValidationError) as info:
        replace(contract, kind="lease")
    assert info.value.field == "kind"
    with pytest.raises(ValidationError) as info:
        replace(contract, valid_to=date(2024, 4, 1))
    assert info.value.field == "valid_to"
    with pytest.raises(ValidationError) as info:
        replace(contract, contract_number=" CN-001")
    assert info.value.field == "contract_number"
