"""Supply points (供給（受電）地点) and their structured items, as pure domain objects.

:class:`SupplyPoint` carries the sixteen supply-point items of the notice; :class:`ContractCapacity`
(託送契約高) and :class:`MeterInfo` (計器情報) are two of them. Like everything in
:mod:`jointuse.customers.model` (which re-exports these names), each object checks itself in
``__post_init__``; refusals are :class:`~jointuse.core.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal, Self

from jointuse.core.errors import ValidationError
from jointuse.core.ids import SupplyPointId
from jointuse.core.valuesets import load_valueset

__all__ = ["CapacityUnit", "ContractCapacity", "MeterInfo", "SupplyPoint"]


def _fail(field: str, message: str, valid: object = None) -> ValidationError:
    # The same helper as model._fail (model imports this module, so it cannot be imported here).
    return ValidationError(f"{field}: {message}", field=field, valid=valid)


CapacityUnit = Literal["A", "kVA", "kW"]


@dataclass(frozen=True, slots=True)
class ContractCapacity:
    """Wheeling contract capacity (託送契約高): a positive amount in A, kVA or kW."""

    value: Decimal
    unit: CapacityUnit

    def __post_init__(self) -> None:
        if self.unit not in ("A", "kVA", "kW"):
            raise _fail("contract_capacity", f"unit {self.unit!r}", ["A", "kVA", "kW"])
        if not isinstance(self.value, Decimal) or not self.value.is_finite() or self.value <= 0:
            raise _fail("contract_capacity", f"{self.value!r} must be a positive Decimal")

    @classmethod
    def parse(cls, value: str | int | Decimal, unit: str) -> Self:
        try:
            amount = Decimal(unicodedata.normalize("NFKC", str(value)).strip())
        except InvalidOperation:
            raise _fail("contract_capacity", f"{value!r} is not a number") from None
        return cls(amount, unit)  # type: ignore[arg-type]  # checked in __post_init__

    def as_item(self) -> dict[str, str]:
        return {"value": str(self.value), "unit": self.unit}


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """Meter information (計器情報): meter number, smart meter or not, multiplier (乗率)."""

    meter_number: str
    smart_meter: bool = True
    multiplier: int = 1

    def __post_init__(self) -> None:
        if not self.meter_number.strip() or not self.meter_number.isascii():
            raise _fail("meter_info", f"meter number {self.meter_number!r} must be ASCII")
        if self.multiplier < 1:
            raise _fail("meter_info", f"multiplier {self.multiplier} must be at least 1")

    def as_item(self) -> dict[str, object]:
        return {
            "meter_number": self.meter_number,
            "smart_meter": self.smart_meter,
            "multiplier": self.multiplier,
        }


@dataclass(frozen=True, slots=True)
class SupplyPoint:
    """A supply (receiving) point (供給（受電）地点) with all sixteen items of the notice.

    Coded fields are checked against the value sets of the same name; ``supply_area`` must be
    the area code of ``supply_point_id``. ``disconnection_method`` is set only for a point whose
    ``contract_state`` is ``terminated``.
    """

    supply_point_id: SupplyPointId
    supply_area: str
    service_menu: str
    supply_method: str
    capacity_determination_method: str
    contract_state: str
    remote_island_tariff: bool = False
    contract_capacity: ContractCapacity | None = None
    current_limit: int | None = None  # amperes
    power_factor: int | None = None  # percent, 1–100
    meter_info: MeterInfo | None = None
    lead_in_pole_number: str | None = None
    grid_connected_generation: bool = False
    wheeling_change_date: date | None = None
    meter_reading_day: int | None = None  # 検針日 code (1–31) of the TSO: jointuse.flows.dates
    disconnection_method: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.supply_point_id, SupplyPointId):
            raise _fail("supply_point_id", "must be a SupplyPointId (use SupplyPointId.parse)")
        load_valueset("area_code").validate(self.supply_area, field="supply_area")
        if self.supply_area != self.supply_point_id.area_code:
            raise _fail(
                "supply_area",
                f"{self.supply_area!r} differs from the area code of the supply point ID "
                f"({self.supply_point_id.area_code!r})",
                [self.supply_point_id.area_code],
            )
        for field in (
            "service_menu",
            "supply_method",
            "capacity_determination_method",
            "contract_state",
        ):
            load_valueset(field).validate(getattr(self, field), field=field)
        if self.disconnection_method is not None:
            load_valueset("disconnection_method").validate(
                self.disconnection_method, field="disconnection_method"
            )
            if self.contract_state != "terminated":
                raise _fail(
                    "disconnection_method",
                    f"is set but contract_state is {self.contract_state!r}, not 'terminated'",
                )
        for field, low, high in (
            ("current_limit", 1, 10_000),
            ("power_factor", 1, 100),
            ("meter_reading_day", 1, 31),
        ):
            value = getattr(self, field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
            ):
                raise _fail(field, f"{value!r} must be an integer from {low} to {high}")
        for field in ("remote_island_tariff", "grid_connected_generation"):
            if not isinstance(getattr(self, field), bool):
                raise _fail(field, f"must be true or false, got {getattr(self, field)!r}")
        if self.lead_in_pole_number is not None and not self.lead_in_pole_number.strip():
            raise _fail("lead_in_pole_number", "must not be blank (use None when unknown)")

    @property
    def tso_code(self) -> str:
        return self.supply_point_id.tso_code

    def items(self) -> dict[str, object]:
        """The sixteen supply-point items, JSON-ready, keyed as in policy.toml."""
        return {
            "supply_area": self.supply_area,
            "remote_island_tariff": self.remote_island_tariff,
            "supply_point_id": self.supply_point_id.value,
            "contract_capacity": (
                self.contract_capacity.as_item() if self.contract_capacity else None
            ),
            "current_limit": self.current_limit,
            "service_menu": self.service_menu,
            "power_factor": self.power_factor,
            "supply_method": self.supply_method,
            "capacity_determination_method": self.capacity_determination_method,
            "meter_info": self.meter_info.as_item() if self.meter_info else None,
            "lead_in_pole_number": self.lead_in_pole_number,
            "grid_connected_generation": self.grid_connected_generation,
            "wheeling_change_date": (
                self.wheeling_change_date.isoformat() if self.wheeling_change_date else None
            ),
            "meter_reading_day": self.meter_reading_day,
            "contract_state": self.contract_state,
            "disconnection_method": self.disconnection_method,
        }
