"""Shared pieces of the meter data parsers (:mod:`jointuse.negawatt.meterdata`). Pure.

:class:`MeterDataError` and :class:`MeterDay` (public, re-exported by ``meterdata``), and the
helpers the CSV, XML and zip readers share: where a record is (``_Where``), the per-day slot
collector that refuses a slot given twice (``_Days``) and the field parsers (date, supply point
ID, slot number, kWh). The underscored names are internal to the ``meterdata*`` modules.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import InvalidSupplyPointId, ValidationError
from jointuse.core.ids import SupplyPointId

__all__ = ["F64", "Flow", "MeterDataError", "MeterDay"]

F64 = npt.NDArray[np.float64]
Flow = Literal["consumption", "generation"]


class MeterDataError(ValidationError):
    """A meter data file that is refused; names file, zip member, line, record and reason."""

    code = "invalid_meter_data"

    def __init__(
        self,
        reason: str,
        *,
        file: str,
        member: str | None = None,
        line: int | None = None,
        record: str | None = None,
        field: str | None = None,
        valid: object = None,
    ) -> None:
        where = file + (f"!{member}" if member else "") + (f":{line}" if line else "")
        what = f" ({record})" if record else ""
        super().__init__(
            f"{where}{what}: {reason}",
            field=field,
            valid=valid,
            file=file,
            member=member,
            line=line,
            record=record,
            reason=reason,
        )
        self.file = file
        self.member = member
        self.line = line
        self.record = record
        self.reason = reason


@dataclass(frozen=True, eq=False)
class MeterDay:
    """One supply point's JST day: ``consumption`` (and ``generation`` or None), kWh per slot."""

    supply_point_id: SupplyPointId
    date: dt.date
    consumption: F64
    generation: F64 | None = None
    #: The first line of the file the day came from (CSV), for messages; None otherwise.
    line: int | None = field(default=None, compare=False)

    def same_values(self, other: MeterDay) -> bool:
        """Equal point, day and values (NaN equals NaN)."""

        def eq(a: F64 | None, b: F64 | None) -> bool:
            if a is None or b is None:
                return a is None and b is None
            return bool(np.array_equal(a, b, equal_nan=True))

        return (
            self.supply_point_id == other.supply_point_id
            and self.date == other.date
            and eq(self.consumption, other.consumption)
            and eq(self.generation, other.generation)
        )


@dataclass
class _Where:
    file: str
    member: str | None = None

    def error(
        self,
        reason: str,
        *,
        line: int | None = None,
        record: str | None = None,
        field: str | None = None,
        valid: object = None,
    ) -> MeterDataError:
        return MeterDataError(
            reason,
            file=self.file,
            member=self.member,
            line=line,
            record=record,
            field=field,
            valid=valid,
        )


@dataclass
class _Days:
    """Collects slot values per (point, day, flow); a slot given twice is refused."""

    slots: int
    values: dict[tuple[SupplyPointId, dt.date, Flow], F64] = field(default_factory=dict)
    given: dict[tuple[SupplyPointId, dt.date, Flow], set[int]] = field(default_factory=dict)
    lines: dict[tuple[SupplyPointId, dt.date], int] = field(default_factory=dict)

    def put(
        self,
        where: _Where,
        point: SupplyPointId,
        day: dt.date,
        flow: Flow,
        slot: int,
        value: float,
        *,
        line: int | None,
        record: str,
    ) -> None:
        key = (point, day, flow)
        arr = self.values.get(key)
        if arr is None:
            arr = self.values[key] = np.full(self.slots, np.nan)
        seen = self.given.setdefault(key, set())
        if slot in seen:
            raise where.error(
                f"{flow} of slot {slot} on {day} for {point.masked()} is given twice",
                line=line,
                record=record,
                field="slot",
            )
        seen.add(slot)
        arr[slot - 1] = value
        if line is not None:
            self.lines.setdefault((point, day), line)

    def rows(self) -> list[MeterDay]:
        keys = sorted({(p, d) for p, d, _ in self.values})
        out = []
        for p, d in keys:
            cons = self.values.get((p, d, "consumption"))
            if cons is None:
                cons = np.full(self.slots, np.nan)
            gen = self.values.get((p, d, "generation"))
            if gen is not None and np.isnan(gen).all():
                gen = None  # a generation column left empty all day: no generation data
            out.append(MeterDay(p, d, cons, gen, self.lines.get((p, d))))
        return out


# --- field parsers ------------------------------------------------------------------------------

_DATE_FORMATS = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}/\d{2}/\d{2}$"), "%Y/%m/%d"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
)


def _date(text: str, where: _Where, line: int | None, record: str) -> dt.date:
    t = unicodedata.normalize("NFKC", text).strip()
    for pattern, fmt in _DATE_FORMATS:
        if pattern.fullmatch(t):
            try:
                return dt.datetime.strptime(t, fmt).date()
            except ValueError:
                break
    raise where.error(
        f"date {text!r} is not a calendar date",
        line=line,
        record=record,
        field="date",
        valid="YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD (JST)",
    )


def _point(text: str, where: _Where, line: int | None, record: str) -> SupplyPointId:
    try:
        return SupplyPointId.parse(text)
    except InvalidSupplyPointId as exc:
        raise where.error(
            exc.message, line=line, record=record, field="supply_point_id", valid=exc.valid
        ) from None


def _slot(text: str, slots: int, where: _Where, line: int | None, record: str) -> int:
    t = unicodedata.normalize("NFKC", text).strip()
    if not t.isascii() or not t.isdigit() or not 1 <= int(t) <= slots:
        raise where.error(
            f"slot {text!r} is not a slot number",
            line=line,
            record=record,
            field="slot",
            valid=f"1..{slots} (slot 1 = 00:00-00:30 JST)",
        )
    return int(t)


_NUMBER = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)$")


def _kwh(text: str | None, name: str, where: _Where, line: int | None, record: str) -> float:
    t = unicodedata.normalize("NFKC", text or "").strip()
    if not t:
        return math.nan
    if not _NUMBER.fullmatch(t):
        reason = "is negative" if t.startswith("-") else "is not a number of kWh"
        raise where.error(
            f"{name} {t!r} {reason}",
            line=line,
            record=record,
            field=name,
            valid="a non-negative decimal number of kWh, or empty for a missing slot",
        )
    return float(t)
