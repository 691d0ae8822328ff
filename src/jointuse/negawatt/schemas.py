"""Request and response models of the negawatt API (refuse unknown fields; bounded texts)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from jointuse.core.http import StrictModel
from jointuse.customers.schemas import Text64, Text100, Text250

Slot = Annotated[int, Field(ge=1, le=48, description="1 = 00:00-00:30 JST, 48 = 23:30-24:00")]


class GroupIn(StrictModel):
    code: Text64
    name: Text100


class AgreementIn(StrictModel):
    customer_id: Text64
    supply_point_id: Annotated[str, Field(max_length=64)]
    agreed_on: date
    expires_on: date | None = None
    scope: Text250 = "negawatt"
    agreement_id: Text64 | None = None
    scope_purposes: Annotated[list[Text64], Field(max_length=5)] | None = Field(
        default=None, description="purposes the customer is asked to agree to (default: P3, P5)"
    )
    scope_items: Annotated[list[Text64], Field(max_length=50)] | None = Field(
        default=None, description="items the agreement opens (default: what the rules grant)"
    )
    data_from: date | None = Field(default=None, description="first day of data it opens")
    data_to: date | None = Field(default=None, description="day after the last day of data")


class ResourceIn(StrictModel):
    agreement_id: Text64
    group_code: Text64


class EventIn(StrictModel):
    day: date
    last_day: date | None = None
    first_slot: Slot
    last_slot: Slot
    resources: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10_000)]
    direction: Literal["reduce", "increase"] = "reduce"
    event_id: Text64 | None = None


class EventPatch(StrictModel):
    day: date | None = None
    last_day: date | None = None
    first_slot: Slot | None = None
    last_slot: Slot | None = None
    resources: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10_000)] | None
    ) = None
    direction: Literal["reduce", "increase"] | None = None


class SettlementIn(StrictModel):
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Baseline method and rules, rounding, resolution "
        "(jointuse.negawatt.options; omitted keys: the standard).",
    )


class EventOut(BaseModel):
    event_id: str
    day: date
    last_day: date | None
    first_slot: int
    last_slot: int
    direction: str
    status: str
    resources: list[str]


class RunOut(BaseModel):
    run_id: str
    event_id: str
    created_at: str
    method: str
    params: dict[str, Any]
    inputs_digest: str
    results_digest: str
    summary: dict[str, Any]
    inputs: list[dict[str, Any]] | None = None
    results: list[dict[str, Any]] | None = None


class PointResultsOut(BaseModel):
    supply_point_id: str
    results: list[dict[str, Any]]


__all__ = [
    "AgreementIn",
    "EventIn",
    "EventOut",
    "EventPatch",
    "GroupIn",
    "PointResultsOut",
    "ResourceIn",
    "RunOut",
    "SettlementIn",
]
