from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.errors import InvalidSupplyPointId, ValidationError
from jointuse.negawatt.model import NEGAWATT_ITEM_KEYS, NegawattQuantities, to_kwh

JST = timezone(timedelta(hours=9))
START = datetime(2024, 8, 1, 13, 0, tzinfo=JST)
END = datetime(2024, 8, 1, 16, 0, tzinfo=JST)
SPID = "０３－１２３４－５６７８－９０１２－３４５６－７８９０"


def quantities(**overrides: object) -> NegawattQuantities:
    fields: dict[str, object] = {
        "supply_point_id": SPID,
        "contractor_code": "dr-1",
        "period_start": START,
        "period_end": END,
        "generation_sold": 0,
        "demand_procured": "1.5",
        "demand_suppressed": 0.1,
        "baseline": Decimal("12.34"),
    }
    fields.update(overrides)
    return NegawattQuantities.create(**fields)  # type: ignore[arg-type]


def test_items_match_policy_keys() -> None:
    text = (resources.files("jointuse") / "data" / "policy.toml").read_text("utf-8")
    policy = [i["key"] for i in tomllib.loads(text)["item"] if i["category"] == "negawatt"]
    q = quantities()
    assert list(q.items()) == policy == list(NEGAWATT_ITEM_KEYS)
    assert q.items() == {
        "generation_sold": "0",
        "demand_procured": "1.5",
        "demand_suppressed": "0.1",  # the float's shortest repr, not its binary expansion
        "baseline": "12.34",
    }
    assert q.slots == 6
    assert q.supply_point_id.area_code == "03"


def test_negative_suppression_allowed_other_negatives_refused() -> None:
    assert quantities(demand_suppressed="-2.5").demand_suppressed == Decimal("-2.5")
    for key in ("generation_sold", "demand_procured", "baseline"):
        with pytest.raises(ValidationError) as info:
            quantities(**{key: -1})
        assert info.value.field == key


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"period_end": START}, "period_end"),
        ({"period_start": START + timedelta(minutes=10)}, "period_start"),
        ({"period_start": datetime(2024, 8, 1, 13, 0)}, "period_start"),
        ({"baseline": "twelve"}, "baseline"),
        ({"baseline": float("nan")}, "baseline"),
        ({"baseline": True}, "baseline"),
        ({"contractor_code": "DR 1"}, "code"),
    ],
)
def test_refusals(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        quantities(**overrides)
    assert info.value.field == field


def test_bad_supply_point_id() -> None:
    with pytest.raises(InvalidSupplyPointId):
        quantities(supply_point_id="11" + "0" * 20)


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_floats_round_trip_exactly(x: float) -> None:
    assert float(to_kwh(x, field="baseline")) == x
