"""Request and response models of the customers / supply-points API.

Request models refuse unknown fields (:class:`~jointuse.core.http.StrictModel`), bound every
text to the size of its column, and refuse control characters; the domain model then normalises
and validates the values (kana, phone, postal code, value-set codes), naming the field it refuses.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from jointuse.core.http import StrictModel


def _printable(value: str) -> str:
    for position, ch in enumerate(value, start=1):
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\t":
            raise ValueError(f"contains the control character U+{ord(ch):04X} at {position}")
    return value


# Strings of at most N characters without control characters (N = the column's size).
_Printable = AfterValidator(_printable)
Text2 = Annotated[str, Field(max_length=2), _Printable]
Text4 = Annotated[str, Field(max_length=4), _Printable]
Text8 = Annotated[str, Field(max_length=8), _Printable]
Text16 = Annotated[str, Field(max_length=16), _Printable]
Text32 = Annotated[str, Field(max_length=32), _Printable]
Text36 = Annotated[str, Field(max_length=36), _Printable]
Text40 = Annotated[str, Field(max_length=40), _Printable]
Text64 = Annotated[str, Field(max_length=64), _Printable]
Text100 = Annotated[str, Field(max_length=100), _Printable]
Text250 = Annotated[str, Field(max_length=250), _Printable]


class CustomerIn(StrictModel):
    """A customer's basic items (基本情報) as the retailer records them (filing a flow)."""

    customer_id: Text64 | None = Field(
        default=None,
        description="One of the filer's own customers; omitted: a new record (ID generated).",
    )
    name: Text100
    name_kana: Text100
    postal_code: Text16
    prefecture: Text8
    address: Text250 = Field(description="The address after the prefecture.")
    phone: Text32
    membership: Text16 = "non_member"


class CapacityIn(StrictModel):
    value: Decimal = Field(gt=0, max_digits=18, decimal_places=3)
    unit: Text4


class MeterIn(StrictModel):
    meter_number: Text64
    smart_meter: bool = True
    multiplier: int = Field(default=1, ge=1, le=1_000_000)


class SupplyPointIn(StrictModel):
    """``PUT /v1/supply-points/{id}``: the sixteen supply-point items (the ID is in the path)."""

    supply_area: Text2 | None = Field(
        default=None, description="Defaults to the area code of the supply point ID."
    )
    remote_island_tariff: bool = False
    contract_capacity: CapacityIn | None = None
    current_limit: int | None = Field(default=None, ge=1, le=10_000)
    service_menu: Text64
    power_factor: int | None = Field(default=None, ge=1, le=100)
    supply_method: Text64
    capacity_determination_method: Text64
    meter_info: MeterIn | None = None
    lead_in_pole_number: Text64 | None = None
    grid_connected_generation: bool = False
    wheeling_change_date: date | None = None
    meter_reading_day: int | None = Field(default=None, ge=1, le=31)
    contract_state: Text64
    disconnection_method: Text64 | None = None


class RefusedItemOut(BaseModel):
    item: str
    reason: str
    message: str


class AccessOut(BaseModel):
    """What the gate decided for this request (as recorded on the access ledger)."""

    purpose: str | None
    rule: str | None
    relation: str | None
    items_granted: list[str]


class ItemsOut(BaseModel):
    """Personal data as the gate returned it: only the granted items."""

    supply_point_id: str | None = None
    customer_id: str | None = None
    access: AccessOut
    items: dict[str, Any]


class WriteOut(BaseModel):
    """Result of a write through the gate."""

    supply_point_id: str | None = None
    customer_id: str | None = None
    access: AccessOut
    result: dict[str, Any]
