"""Negawatt items (ネガワット取引に関する情報) shared under joint use, per supply point and period.

The notice names four quantities: generation sold (発電販売量), demand procured (需要調達量),
demand suppressed (需要抑制量) and the baseline (ベースライン). :class:`NegawattQuantities`
holds them for one supply point over one period of whole 30-minute slots.

Units and number type: **kWh as :class:`decimal.Decimal`**, so values that are settled, stored
and disclosed keep their exact digits (the numpy kernel computes in float64; convert with
:meth:`NegawattQuantities.create`, which turns floats into their shortest decimal repr, never
``Decimal(0.1)``'s binary expansion). ``demand_suppressed`` may be negative (consumption above
the baseline); settlement rules such as "a non-positive total counts as 0" are applied by
:mod:`jointuse.negawatt.settlement`, not here. The other three are never negative.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Self

from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId

#: The negawatt items, keyed as in policy.toml.
NEGAWATT_ITEM_KEYS: tuple[str, ...] = (
    "generation_sold",
    "demand_procured",
    "demand_suppressed",
    "baseline",
)
SLOT = timedelta(minutes=30)

Quantity = Decimal | int | float | str


def to_kwh(value: Quantity, *, field: str) -> Decimal:
    """A finite Decimal from an int, float (via its repr), str (NFKC digits allowed) or Decimal."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected a number of kWh, got {value!r}", field=field)
    try:
        if isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, str):
            amount = Decimal(unicodedata.normalize("NFKC", value).strip())
        else:
            amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(
            f"{field}: {value!r} is not a number of kWh", field=field, valid="a number of kWh"
        ) from None
    if not amount.is_finite():
        raise ValidationError(f"{field}: {value!r} is not finite", field=field)
    return amount


def _slot_aligned(moment: datetime, field: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(f"{field} must be timezone-aware, got naive {moment}", field=field)
    utc = moment.astimezone(UTC)  # slots are :00/:30 in JST, i.e. in UTC too
    if utc.second or utc.microsecond or utc.minute % 30:
        raise ValidationError(
            f"{field} {moment.isoformat()} is not on a 30-minute slot boundary (:00 or :30)",
            field=field,
        )


@dataclass(frozen=True, slots=True)
class NegawattQuantities:
    """The four negawatt items of one supply point for ``[period_start, period_end)``.

    ``contractor_code`` is the party code of the demand-suppression contractor (需要抑制契約者)
    who answers for these data.
    """

    supply_point_id: SupplyPointId
    contractor_code: str
    period_start: datetime
    period_end: datetime
    generation_sold: Decimal
    demand_procured: Decimal
    demand_suppressed: Decimal
    baseline: Decimal

    def __post_init__(self) -> None:
        from jointuse.parties.model import validate_party_code

        if not isinstance(self.supply_point_id, SupplyPointId):
            raise ValidationError(
                "supply_point_id must be a SupplyPointId (use SupplyPointId.parse)",
                field="supply_point_id",
            )
        validate_party_code(self.contractor_code)
        _slot_aligned(self.period_start, "period_start")
        _slot_aligned(self.period_end, "period_end")
        if self.period_end <= self.period_start:
            raise ValidationError(
                f"period_end {self.period_end.isoformat()} is not after period_start "
                f"{self.period_start.isoformat()}",
                field="period_end",
            )
        for key in NEGAWATT_ITEM_KEYS:
            value = getattr(self, key)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValidationError(
                    f"{key} must be a finite Decimal (kWh), got {value!r}; use create()",
                    field=key,
                )
            if key != "demand_suppressed" and value < 0:
                raise ValidationError(f"{key} must not be negative, got {value} kWh", field=key)

    @classmethod
    def create(
        cls,
        *,
        supply_point_id: SupplyPointId | str,
        contractor_code: str,
        period_start: datetime,
        period_end: datetime,
        generation_sold: Quantity = 0,
        demand_procured: Quantity = 0,
        demand_suppressed: Quantity = 0,
        baseline: Quantity = 0,
    ) -> Self:
        """Build from typed or computed values (numbers of any kind, point ID as text)."""
        spid = (
            supply_point_id
            if isinstance(supply_point_id, SupplyPointId)
            else SupplyPointId.parse(supply_point_id)
        )
        return cls(
            supply_point_id=spid,
            contractor_code=contractor_code,
            period_start=period_start,
            period_end=period_end,
            generation_sold=to_kwh(generation_sold, field="generation_sold"),
            demand_procured=to_kwh(demand_procured, field="demand_procured"),
            demand_suppressed=to_kwh(demand_suppressed, field="demand_suppressed"),
            baseline=to_kwh(baseline, field="baseline"),
        )

    @property
    def slots(self) -> int:
        """Number of 30-minute slots in the period."""
        return (self.period_end - self.period_start) // SLOT

    def items(self) -> dict[str, object]:
        """The four negawatt items, keyed as in policy.toml; kWh as decimal strings."""
        return {key: str(getattr(self, key)) for key in NEGAWATT_ITEM_KEYS}
