"""Request and response models of the flows API (unknown fields refused; texts bounded)."""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from jointuse.core.http import StrictModel
from jointuse.customers.schemas import CustomerIn, Text16, Text32, Text40, Text64, Text100, Text250

CapacityClass = Literal["low_voltage", "high_voltage", "extra_high_voltage"]


class AddressIn(StrictModel):
    postal_code: Text16
    prefecture: Text16
    address: Text250 = Field(description="The address after the prefecture.")


class ForwardingIn(StrictModel):
    """The 廃止取次: what the old retailer needs to find its contract."""

    old_contract_number: Text40 = Field(description="The current retailer's contract number.")
    name: Text100 | None = Field(
        default=None, description="契約名義, if not the customer's own name."
    )
    name_kana: Text100 | None = None
    address: AddressIn | None = Field(
        default=None, description="需要場所住所, if not the customer's address."
    )


class SwitchIn(StrictModel):
    """``POST /v1/switches``: スイッチング開始 with 廃止取次."""

    supply_point_id: Text64
    customer: CustomerIn
    new_contract_number: Text40
    contract_kind: Text32 = "standard"
    forwarding: ForwardingIn
    wished_date: date | None = None
    meter_work: bool = False
    capacity_class: CapacityClass = "low_voltage"


class MoveInIn(StrictModel):
    """``POST /v1/move-ins``: 再点 (a wished date up to 31 days back: 遡及再点)."""

    supply_point_id: Text64
    customer: CustomerIn
    new_contract_number: Text40
    contract_kind: Text32 = "standard"
    wished_date: date
    meter_work: bool = False
    capacity_class: CapacityClass = "low_voltage"


class MoveOutIn(StrictModel):
    """``POST /v1/move-outs``: 廃止 (with or without meter removal, 撤去)."""

    supply_point_id: Text64
    wished_date: date
    meter_removal: bool = False


class AmpereChangeIn(StrictModel):
    """``POST /v1/ampere-changes``: アンペア変更."""

    supply_point_id: Text64
    current_limit: int = Field(ge=1, le=10_000)
    wished_date: date | None = None


class InfoChangeIn(StrictModel):
    """``POST /v1/info-changes``: 需要者情報変更 (the items given change)."""

    supply_point_id: Text64
    name: Text100 | None = None
    name_kana: Text100 | None = None
    address: AddressIn | None = None
    phone: Text32 | None = None


class JudgementIn(StrictModel):
    """``POST /v1/forwardings/{id}/judgement``: OK, NG with reasons, or automatic."""

    result: Literal["ok", "ng"] | None = None
    reasons: list[Text32] = Field(default_factory=list, max_length=10)
    auto: bool = False


class DateIn(StrictModel):
    """``POST /v1/flows/{id}/date``: the date (omitted: the proposed one)."""

    date: dt.date | None = None


class ReasonIn(StrictModel):
    reason: Text250 | None = None


class SettingsIn(StrictModel):
    auto_judge: bool


class FlowOut(BaseModel):
    """A flow as its parties see it: no personal data (read that through the gate)."""

    flow: dict[str, Any]
    forwarding_id: str | None = None


class RowOut(BaseModel):
    """One row of a bulk filing: the flow filed, or the refusal (code, field, message)."""

    row: int
    status: int
    flow_id: str | None = None
    forwarding_id: str | None = None
    code: str | None = None
    field: str | None = None
    message: str | None = None


class BulkOut(BaseModel):
    filed: int
    refused: int
    rows: list[RowOut]
