"""The TSOs' date data: lead times after matching, closure days, meter-reading schedules.

Reference data like :mod:`jointuse.parties.reference` (whose ten TSOs it must name, each exactly
once), read from two shipped files on first use and cached:

* ``jointuse/data/switching_lead_times.toml`` — per TSO and capacity class, the standard
  processing period after matching, without and with meter work. The shipped figures are ONE
  TSO's published figures (``docs/market-facts.md``) applied to all ten: *unverified* per TSO.
* ``jointuse/data/tso_calendars.toml`` — per TSO, its closure days (12/29–1/3 for all ten: a
  *placeholder*) and its meter-reading rule: which 検針日 codes it uses and how the k-th code
  becomes the (first_working_day + k − 1)-th reading working day of a month. tso-01..tso-04 follow
  a summary by the former utilities (*unverified* against today's published schedules),
  tso-05..tso-10 a generic *placeholder*.

Each entry carries ``verified`` and ``source``, so a screen can say which figures are checked.
A broken file is a :class:`~jointuse.core.errors.ConfigError` naming the file, the line of the
``[[tso]]`` entry and what would be valid. The computations are :mod:`jointuse.flows.dates`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Protocol

from jointuse.core.calendar import BusinessCalendar, Closure
from jointuse.core.errors import ConfigError, ValidationError
from jointuse.core.valuesets import entry_lines
from jointuse.parties.reference import load_reference

LEAD_TIMES_FILE = "switching_lead_times.toml"
CALENDARS_FILE = "tso_calendars.toml"


class CapacityClass(StrEnum):
    """The lead-time classes (the flows' ``capacity_class``)."""

    LOW_VOLTAGE = "low_voltage"  # 低圧
    HIGH_VOLTAGE = "high_voltage"  # 高圧 below 500 kW
    EXTRA_HIGH_VOLTAGE = "extra_high_voltage"  # 高圧 of 500 kW and above, 特別高圧


@dataclass(frozen=True, slots=True)
class LeadTime:
    """``business_days`` business days of the TSO's calendar, then ``calendar_days`` days."""

    business_days: int
    calendar_days: int


@dataclass(frozen=True, slots=True)
class ReadingRule:
    """How a TSO's 検針日 codes become dates (see the module docstring and the data file)."""

    codes: tuple[str, ...]
    first_working_day: int
    calendar: BusinessCalendar  # the reading working days (closures + non_working; Saturdays)
    verified: bool
    source: str
    code_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code_set", frozenset(self.codes))


@dataclass(frozen=True, slots=True)
class TsoDates:
    """One TSO's date data: lead times, business calendar, meter-reading rule, and provenance."""

    tso: str
    lead_times: Mapping[tuple[CapacityClass, bool], LeadTime]  # (class, meter_work) → lead time
    lead_times_verified: bool
    lead_times_source: str
    calendar: BusinessCalendar  # business days: weekdays, not holidays, not closure days
    reading: ReadingRule


# --- loading -----------------------------------------------------------------------------------


def _fail(file: str, text: str, index: int | None, message: str, valid: Any = None) -> ConfigError:
    line = None
    if index is not None:
        lines = entry_lines(text, "tso")
        line = lines[index] if index < len(lines) else None
        message = f"[[tso]] #{index + 1}: {message}"
    return ConfigError(message, file=file, line=line, valid=valid)


def _toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc


def _entries(
    file: str, text: str, raw: dict[str, Any], top: set[str]
) -> dict[str, tuple[int, Any]]:
    """The ``[[tso]]`` entries by code, checked to name each reference TSO exactly once."""
    unknown = sorted(set(raw) - top)
    if unknown:
        raise _fail(file, text, None, f"unknown top-level key(s) {', '.join(unknown)}", sorted(top))
    tsos = sorted(p.code for p in load_reference().parties if p.kind == "tso")
    out: dict[str, tuple[int, Any]] = {}
    for i, entry in enumerate(raw.get("tso", [])):
        code = entry.get("code") if isinstance(entry, dict) else None
        if code not in tsos:
            raise _fail(file, text, i, f"code {code!r} is not a TSO", tsos)
        if code in out:
            raise _fail(file, text, i, f"{code} is listed twice")
        out[code] = (i, entry)
    missing = sorted(set(tsos) - set(out))
    if missing:
        raise _fail(file, text, None, f"no [[tso]] entry for {', '.join(missing)}", tsos)
    return out


_READING_KEYS = frozenset(
    [
        "first",
        "last",
        "unused",
        "first_working_day",
        "saturdays",
        "non_working",
        "verified",
        "source",
    ]
)
_LEAD_KEYS = frozenset(
    ["business_days", "calendar_days", "meter_work_business_days", "meter_work_calendar_days"]
)


class _Fail(Protocol):
    def __call__(self, message: str, valid: Any = None) -> ConfigError: ...


def _count(value: Any, where: str, fail: _Fail) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise fail(f"{where} must be a whole number of days 0–366, got {value!r}")
    return value


def _lead_table(table: Any, where: str, fail: _Fail) -> dict[tuple[CapacityClass, bool], LeadTime]:
    out: dict[tuple[CapacityClass, bool], LeadTime] = {}
    for klass in CapacityClass:
        figures = table.get(klass.value)
        if figures is None:
            continue
        if not isinstance(figures, dict) or set(figures) != _LEAD_KEYS:
            raise fail(f"{where}.{klass.value} must have exactly the keys", sorted(_LEAD_KEYS))
        at = f"{where}.{klass.value}"
        out[(klass, False)] = LeadTime(
            _count(figures["business_days"], f"{at}.business_days", fail),
            _count(figures["calendar_days"], f"{at}.calendar_days", fail),
        )
        out[(klass, True)] = LeadTime(
            _count(figures["meter_work_business_days"], f"{at}.meter_work_business_days", fail),
            _count(figures["meter_work_calendar_days"], f"{at}.meter_work_calendar_days", fail),
        )
    return out


def _closures(value: Any, where: str, fail: _Fail) -> tuple[Closure, ...]:
    if not isinstance(value, list):
        raise fail(f'{where} must be a list of ["MM-DD", "MM-DD"] ranges')
    out: list[Closure] = []
    for pair in value:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise fail(f'{where}: {pair!r} is not a ["MM-DD", "MM-DD"] range')
        try:
            out.append(Closure.parse(pair[0], pair[1]))
        except ValidationError as exc:
            raise fail(f"{where}: {exc.message}", exc.valid) from None
    return tuple(out)


def _reading(table: Any, closures: tuple[Closure, ...], fail: _Fail) -> ReadingRule:
    if not isinstance(table, dict) or set(table) != _READING_KEYS:
        raise fail("[tso.meter_reading] must have exactly the keys", sorted(_READING_KEYS))
    first, last, unused = table["first"], table["last"], table["unused"]
    if not all(isinstance(c, str) and len(c) == 2 and c.isdigit() for c in (first, last)):
        raise fail(f"meter_reading first/last must be two digits, got {first!r}/{last!r}")
    codes = [f"{n:02d}" for n in range(int(first), int(last) + 1)]
    if not isinstance(unused, list) or not set(unused) <= set(codes):
        raise fail(f"meter_reading.unused must list codes of {first}..{last}", codes)
    codes = [c for c in codes if c not in unused]
    start = table["first_working_day"]
    if isinstance(start, bool) or not isinstance(start, int) or start < 1:
        raise fail(f"meter_reading.first_working_day must be 1 or more, got {start!r}")
    if not codes or start - 1 + len(codes) > 28:
        raise fail(
            f"meter_reading: {len(codes)} codes from working day {start} do not fit in a month",
            "first_working_day - 1 + number of codes <= 28",
        )
    if not isinstance(table["saturdays"], bool) or not isinstance(table["verified"], bool):
        raise fail("meter_reading.saturdays and .verified must be true or false")
    if not isinstance(table["source"], str) or not table["source"].strip():
        raise fail("meter_reading.source must say where the schedule comes from")
    closed = closures + _closures(table["non_working"], "meter_reading.non_working", fail)
    return ReadingRule(
        codes=tuple(codes),
        first_working_day=start,
        calendar=BusinessCalendar(closed, saturdays=table["saturdays"]),
        verified=table["verified"],
        source=table["source"],
    )


@cache
def load_tso_dates() -> Mapping[str, TsoDates]:
    """Every TSO's date data from the shipped files, validated (read once, then cached)."""
    data = resources.files("jointuse") / "data"
    lead, cal = data / LEAD_TIMES_FILE, data / CALENDARS_FILE
    return parse_tso_dates(
        lead.read_text(encoding="utf-8"),
        cal.read_text(encoding="utf-8"),
        lead_file=str(lead),
        calendars_file=str(cal),
    )


def parse_tso_dates(
    lead_text: str,
    calendars_text: str,
    *,
    lead_file: str = LEAD_TIMES_FILE,
    calendars_file: str = CALENDARS_FILE,
) -> Mapping[str, TsoDates]:
    """Parse and validate the two data files' texts (the files are named in errors)."""
    lfile, ltext, lead_raw = lead_file, lead_text, _toml(lead_text, lead_file)
    cfile, ctext, cal_raw = calendars_file, calendars_text, _toml(calendars_text, calendars_file)
    default = lead_raw.get("default")
    if not isinstance(default, dict):
        raise ConfigError("no [default] table", file=lfile)

    def lead_fail(message: str, valid: Any = None) -> ConfigError:
        return ConfigError(f"[default]: {message}", file=lfile, valid=valid)

    defaults = _lead_table(default, "default", lead_fail)
    if len(defaults) != 2 * len(CapacityClass):
        raise lead_fail("must give every capacity class", [k.value for k in CapacityClass])
    lead_entries = _entries(lfile, ltext, lead_raw, {"default", "tso"})
    cal_entries = _entries(cfile, ctext, cal_raw, {"tso"})
    out: dict[str, TsoDates] = {}
    for code in sorted(lead_entries):
        li, lentry = lead_entries[code]
        ci, centry = cal_entries[code]
        allowed = {"code", "source", "verified", *(k.value for k in CapacityClass)}
        if set(lentry) - allowed:
            raise _fail(
                lfile, ltext, li, f"unknown key(s) {sorted(set(lentry) - allowed)}", sorted(allowed)
            )

        def lfail(message: str, valid: Any = None, i: int = li) -> ConfigError:
            return _fail(lfile, ltext, i, message, valid)

        def cfail(message: str, valid: Any = None, i: int = ci) -> ConfigError:
            return _fail(cfile, ctext, i, message, valid)

        own = _lead_table(lentry, code, lfail)
        verified = lentry.get("verified", default.get("verified", False) if not own else False)
        source = lentry.get("source", default.get("source"))
        if not isinstance(verified, bool) or not isinstance(source, str) or not source.strip():
            raise lfail("verified must be true or false and source a text", ["verified", "source"])
        if set(centry) != {"code", "closures", "meter_reading"}:
            raise cfail("must have exactly the keys", ["code", "closures", "meter_reading"])
        closures = _closures(centry["closures"], "closures", cfail)
        out[code] = TsoDates(
            tso=code,
            lead_times={**defaults, **own},
            lead_times_verified=verified,
            lead_times_source=source,
            calendar=BusinessCalendar(closures),
            reading=_reading(centry["meter_reading"], closures, cfail),
        )
    return out


def tso_dates(tso: str) -> TsoDates:
    """The date data of ``tso`` (a party code ``tso-01``..``tso-10``)."""
    table = load_tso_dates()
    found = table.get(tso) if isinstance(tso, str) else None
    if found is None:
        raise ValidationError(f"{str(tso)[:40]!r} is not a TSO", field="tso", valid=sorted(table))
    return found


__all__ = [
    "CALENDARS_FILE",
    "LEAD_TIMES_FILE",
    "CapacityClass",
    "LeadTime",
    "ReadingRule",
    "TsoDates",
    "load_tso_dates",
    "parse_tso_dates",
    "tso_dates",
]
